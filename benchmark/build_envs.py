"""Each build's own environment: what it requires, its lock, its virtualenv, and what setting it up cost.

Layout (one folder per build that has an environment)::

    envs/<framework>/requirements.in     what the build stands on: its framework, unpinned (the newest release
                                         wins when locking), and pydantic, the contract's one dependency
    envs/<framework>/requirements.lock   ``uv pip compile --generate-hashes`` of that: every distribution pinned,
                                         with hashes (``make lock`` rewrites them all)
    .venvs/<framework>/                  the virtualenv, synced from the lock (``make envs``; not committed)
    .venvs/<framework>/afbench-env.json  what the last sync measured (see :class:`SetupCost`)

The harness and the MCP server keep their own environment (``.venv``). A worker runs the build's interpreter
with this checkout on ``PYTHONPATH``, so the build-facing contract it imports is the runner's own code: one
source of truth, installed nowhere. A plugin folder without an ``envs/`` entry (the tests' fake builds) runs in
the harness's interpreter.

This module only reads the layout; :mod:`benchmark.env_setup` creates, locks and measures environments.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ENVS_DIR = REPO_ROOT / "envs"
VENVS_DIR = REPO_ROOT / ".venvs"
REQUIREMENTS = "requirements.in"
LOCK = "requirements.lock"
STAMP = "afbench-env.json"
CONTRACT_REQUIREMENTS = ("pydantic",)  # what the worker side imports besides the standard library

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class BuildEnvMissing(RuntimeError):
    """A build has an environment definition but its virtualenv has not been created."""


@dataclass(frozen=True)
class SetupCost:
    """What installing a build's environment takes, measured by ``afbench envs sync``.

    ``install_s`` is the time ``uv pip sync`` took to install the lock into an empty virtualenv with every
    package already in uv's cache (a warm cache: the cost of setting the build up again, not of downloading);
    ``size_mb`` is the size of the installed files (the virtualenv's folder, apparent size); ``distributions``
    the number of installed distributions, the build's whole dependency tree.
    """

    distributions: int
    size_mb: float
    install_s: float
    lock_sha256: str


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_dir(framework: str) -> Path:
    return ENVS_DIR / framework


def venv_dir(framework: str) -> Path:
    return VENVS_DIR / framework


def has_env(framework: str) -> bool:
    return (env_dir(framework) / REQUIREMENTS).is_file()


def frameworks_with_envs() -> list[str]:
    """Builds with an environment definition, in the order of :data:`benchmark.plugins.FRAMEWORKS`."""
    from benchmark.plugins import FRAMEWORKS

    if not ENVS_DIR.is_dir():
        return []
    found = {p.name for p in ENVS_DIR.iterdir() if (p / REQUIREMENTS).is_file()}
    return [name for name in FRAMEWORKS if name in found] + sorted(found - set(FRAMEWORKS))


def venv_python(framework: str) -> Path:
    return venv_dir(framework) / "bin" / "python"


def worker_python(framework: str, agents_dir: Path | None = None) -> str:
    """The interpreter a worker for ``framework`` runs: its build's environment, or the harness's for a build
    without one and for builds from another plugin folder (``--agents-dir``: the environments are the
    repository's builds')."""
    foreign = agents_dir is not None and agents_dir.resolve() != (REPO_ROOT / "agents").resolve()
    if foreign or not has_env(framework):
        return sys.executable
    python = venv_python(framework)
    if not python.exists():
        raise BuildEnvMissing(
            f"the {framework} build's environment {venv_dir(framework)} does not exist: run `make envs` "
            f"(or `afbench envs sync {framework}`)"
        )
    return str(python)


def direct_requirements(framework: str) -> list[str]:
    """The distribution names ``requirements.in`` asks for (normalised), in file order, the contract's own
    dependencies left out: the packages a build stands on, for the report's versions line."""
    names = []
    for line in (env_dir(framework) / REQUIREMENTS).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0]
        match = _NAME.match(line)
        if match and not line.lstrip().startswith("-"):
            name = normalise(match.group(1).split("[", 1)[0])
            if name not in CONTRACT_REQUIREMENTS:
                names.append(name)
    return names


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def read_pins(path: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line of a pip requirements file (uv's lock output)."""
    if not path.is_file():
        return {}
    return {
        normalise(match.group(1)): match.group(2)
        for line in path.read_text(encoding="utf-8").splitlines()
        if (match := _PIN.match(line))
    }


def locked_versions(framework: str) -> dict[str, str]:
    """``name -> version`` of every distribution the build's lock pins."""
    return read_pins(env_dir(framework) / LOCK)


def site_packages(framework: str) -> list[Path]:
    return sorted(venv_dir(framework).glob("lib/python*/site-packages"))


def installed_versions(framework: str) -> dict[str, str]:
    """``name -> version`` of every distribution installed in the build's virtualenv (empty when absent)."""
    paths = [str(p) for p in site_packages(framework)]
    if not paths:
        return {}
    return {normalise(d.metadata["Name"]): d.version for d in metadata.distributions(path=paths)}


def read_setup_cost(framework: str) -> SetupCost | None:
    path = venv_dir(framework) / STAMP
    try:
        return SetupCost(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def write_setup_cost(framework: str, cost: SetupCost) -> None:
    (venv_dir(framework) / STAMP).write_text(json.dumps(asdict(cost), indent=2) + "\n", encoding="utf-8")
