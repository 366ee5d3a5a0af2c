"""Load a suite by name (``smoke``, ``core``) or path, with errors that name the file, the task and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from benchmark.tasks.models import Suite

TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"


class SuiteError(ValueError):
    """A suite file that cannot be used; the message says where and why."""


def _known() -> str:
    return ", ".join(sorted(p.stem for p in TASKS_DIR.glob("*.yaml")))


def suite_path(name_or_path: str | Path) -> Path:
    """A suite name (``core`` is ``tasks/core.yaml``) or a YAML file; ``core.yaml`` not found where it is given
    is looked for in ``tasks/`` too. A folder, or a name with another suffix, is a SuiteError."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        raise SuiteError(f"{candidate} is a folder; give a suite name ({_known()}) or a suite's YAML file")
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.exists() and candidate.parent == Path(".") and (TASKS_DIR / candidate.name).is_file():
            return TASKS_DIR / candidate.name
        return candidate
    if candidate.suffix or len(candidate.parts) > 1:
        raise SuiteError(f"{candidate}: not a suite name ({_known()}) nor a .yaml file")
    return TASKS_DIR / f"{name_or_path}.yaml"


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """'task calc-percent, turns[0].expect.route' from a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
        tasks = raw.get("tasks") if isinstance(raw, dict) else None
        task = tasks[loc[1]] if isinstance(tasks, list) and loc[1] < len(tasks) else None
        task_id = task.get("id") if isinstance(task, dict) else None
        label = f"task {task_id!r}" if task_id else f"tasks[{loc[1]}]"
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[2:]).lstrip(".")
        return f"{label}, field {field or '(task)'}"
    return "field " + ".".join(str(p) for p in loc)


def load_suite(name_or_path: str | Path) -> Suite:
    path = suite_path(name_or_path)
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file (suites in tasks/: {_known()})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(raw, dict):
        raw.setdefault("name", path.stem)
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_where(raw, tuple(e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)[:10]]
        raise SuiteError(f"{path}: " + "; ".join(problems)) from None
    seen: set[str] = set()
    for task in suite.tasks:
        if task.id in seen:
            raise SuiteError(f"{path}: task {task.id!r} appears twice")
        seen.add(task.id)
    return suite
