"""Load a suite by name (``smoke``, ``core``) or path, with errors that name the file, the task and the field.

A suite may reuse another suite's tasks: an entry ``{id, base, fault}`` (:class:`TaskFromBase`) is the task
``base`` of the suite's ``base_suite`` (default ``core``) with that fault, so a resilience task runs exactly the
turns, checks and script of the task it names. The loader expands such entries; the runner copies the expanded
suite into the run directory, so a resumed run does not depend on the base suite staying as it was.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from benchmark.system import default_spec
from benchmark.tasks.models import Suite, Task, TaskFromBase

TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"


class SuiteError(ValueError):
    """A suite file that cannot be used; the message says where and why."""


def bundled_suites() -> list[str]:
    """The suite names ``tasks/`` holds (``core`` is ``tasks/core.yaml``)."""
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


def _known() -> str:
    return ", ".join(bundled_suites())


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


def _problems(raw: Any, exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> str:
    return "; ".join(f"{_where(raw, prefix + tuple(e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)[:10])


def _base_suite_path(path: Path, name: Any) -> Path:
    """``base_suite``: a suite name (``core``) or a .yaml path relative to the suite file."""
    if not isinstance(name, str) or not name.strip():
        raise SuiteError(f"{path}: field base_suite: a suite name or a .yaml path, got {name!r}")
    if Path(name).suffix in (".yaml", ".yml"):
        return (path.parent / name).resolve()
    try:
        return suite_path(name).resolve()
    except SuiteError as exc:
        raise SuiteError(f"{path}: field base_suite: {exc}") from None


def _expand_bases(path: Path, raw: dict[str, Any], loading: tuple[Path, ...]) -> None:
    """Replace each ``base:`` entry of ``raw["tasks"]`` by the base task with the entry's fault, in place."""
    base_name = raw.pop("base_suite", "core")
    tasks = raw.get("tasks")
    if not isinstance(tasks, list) or not any(isinstance(t, dict) and "base" in t for t in tasks):
        return
    base_path = _base_suite_path(path, base_name)
    if base_path in loading:
        chain = " -> ".join(str(p) for p in (*loading, base_path))
        raise SuiteError(f"{path}: field base_suite: the suites name each other as base ({chain})")
    base = {task.id: task for task in _load(base_path, (*loading, base_path)).tasks}
    for index, entry in enumerate(tasks):
        if not isinstance(entry, dict) or "base" not in entry:
            continue
        try:
            spec = TaskFromBase.model_validate(entry)
        except ValidationError as exc:
            raise SuiteError(f"{path}: " + _problems(raw, exc, ("tasks", index))) from None
        found = base.get(spec.base)
        if found is None:
            close = difflib.get_close_matches(spec.base, base, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SuiteError(f"{path}: task {spec.id!r}, field base: no task {spec.base!r} in {base_path}{hint}")
        if found.fault is not None:
            raise SuiteError(f"{path}: task {spec.id!r}, field base: {spec.base!r} already injects a fault")
        tasks[index] = found.model_copy(
            update={
                "id": spec.id,
                "category": spec.category or found.category,
                "description": spec.description or found.description,
                "fault": spec.fault,
            }
        )


def check_fault(task: Task) -> str | None:
    """Why a task's fault could never be injected as written, or None. A model fault needs a call of its role
    (the specialists are only reached on a turn that is not refused); ``disallowed_tool`` names a real MCP tool
    outside the allow-list of every agent the task's turns route to; a tool fault on a named tool needs a turn
    whose script calls it."""
    if task.fault is None:
        return None
    routes = {turn.expect.route for turn in task.turns} - {"refused"}
    model, tool = task.fault.model, task.fault.tool
    if model is not None:
        if model.role != "guardrail" and not routes:
            return f"fault.model.role: every turn is refused, so the {model.role} is never called"
        if model.kind == "disallowed_tool":
            spec = default_spec()
            every = sorted({name for agent in spec.specialists for name in agent.tools})
            if model.tool is None:
                return "fault.model.tool: disallowed_tool needs the MCP tool the model calls"
            if model.tool not in every:
                return f"fault.model.tool: {model.tool!r} is not an MCP tool ({', '.join(every)})"
            allowed = [route for route in routes if model.tool in spec.agent(route).tools]
            if allowed:
                return f"fault.model.tool: {model.tool!r} is on the allow-list of {', '.join(sorted(allowed))}"
        elif model.tool is not None:
            return f"fault.model.tool: only disallowed_tool takes a tool, not {model.kind}"
    if tool is not None and tool.tool is not None:
        called = {step.call for turn in task.turns if turn.script for step in turn.script.steps}
        if tool.tool not in called:
            return f"fault.tool.tool: no turn's script calls {tool.tool!r} (it calls {', '.join(sorted(called))})"
    return None


def load_suite(name_or_path: str | Path) -> Suite:
    path = suite_path(name_or_path)
    return _load(path, (path.resolve(),))


def _load(path: Path, loading: tuple[Path, ...]) -> Suite:
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file (suites in tasks/: {_known()})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(raw, dict):
        raw.setdefault("name", path.stem)
        _expand_bases(path, raw, loading)
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        raise SuiteError(f"{path}: " + _problems(raw, exc)) from None
    seen: set[str] = set()
    for task in suite.tasks:
        if task.id in seen:
            raise SuiteError(f"{path}: task {task.id!r} appears twice")
        seen.add(task.id)
        problem = check_fault(task)
        if problem is not None:
            raise SuiteError(f"{path}: task {task.id!r}, field {problem}")
    return suite


def suite_yaml(suite: Suite) -> str:
    """The suite written out in full (no ``base:`` entries), as the runner copies it into a run directory;
    :func:`load_suite` reads it back to the same suite."""
    data = suite.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
