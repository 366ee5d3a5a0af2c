"""Creating, locking and measuring the builds' environments with ``uv`` (``afbench envs ...``, ``make envs``).

* ``lock``: ``uv pip compile --upgrade --generate-hashes`` of each ``requirements.in``: the newest release of
  every requirement that resolves together, every distribution pinned with its hashes.
* ``sync``: a virtualenv per build from its lock (``uv pip sync --require-hashes``: exactly the lock, nothing
  else), then the setup cost measured on a second, throw-away install from the now-warm cache. A build whose
  lock has not changed since its last sync is left alone, so ``make envs`` is cheap when nothing moved.
* ``outdated``: re-resolves each ``requirements.in`` without writing anything and names every requirement
  with a newer release than its lock pins.

The layout is :mod:`benchmark.build_envs`'. Every build environment uses the harness's own interpreter, so the
worker and the contract run on the Python version the harness was tested on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmark.build_envs import (
    LOCK,
    REQUIREMENTS,
    SetupCost,
    direct_requirements,
    env_dir,
    frameworks_with_envs,
    installed_versions,
    locked_versions,
    read_pins,
    read_setup_cost,
    venv_dir,
    venv_python,
    write_setup_cost,
)

PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


class EnvSetupError(RuntimeError):
    """uv is missing, or one of its commands failed (the message carries uv's own last lines)."""


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        raise EnvSetupError("uv is not installed: run `make install` (it installs uv into .venv)")
    return found


def _uv(args: Sequence[str], *, quiet: bool = False) -> str:
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    result = subprocess.run([uv(), *args], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise EnvSetupError(f"uv {' '.join(args[:2])} failed (exit {result.returncode}):\n{tail}")
    if not quiet and result.stderr.strip():
        print(result.stderr.strip(), file=sys.stderr)
    return result.stdout


def resolve(framework: str, output: Path, *, hashes: bool) -> None:
    """Resolve ``requirements.in`` afresh (newest releases) into ``output``."""
    args = ["pip", "compile", str(env_dir(framework) / REQUIREMENTS), "-o", str(output), "--upgrade"]
    args += ["--python-version", PYTHON_VERSION, "--custom-compile-command", "make lock", "--quiet"]
    if hashes:
        args.append("--generate-hashes")
    _uv(args, quiet=True)


def lock(framework: str) -> dict[str, str]:
    """Re-lock one build; returns the direct requirements' new pins."""
    resolve(framework, env_dir(framework) / LOCK, hashes=True)
    pins = locked_versions(framework)
    return {name: pins.get(name, "?") for name in direct_requirements(framework)}


@dataclass(frozen=True)
class Outdated:
    framework: str
    package: str
    locked: str | None
    newest: str


def outdated(framework: str) -> list[Outdated]:
    with tempfile.TemporaryDirectory(prefix="afbench-outdated-") as tmp:
        newest_path = Path(tmp) / LOCK
        resolve(framework, newest_path, hashes=False)
        newest = read_pins(newest_path)
    locked = locked_versions(framework)
    return [
        Outdated(framework, name, locked.get(name), newest[name])
        for name in direct_requirements(framework)
        if name in newest and locked.get(name) != newest[name]
    ]


def lock_digest(framework: str) -> str:
    return hashlib.sha256((env_dir(framework) / LOCK).read_bytes()).hexdigest()


def _install(target: Path, lock_file: Path) -> float:
    """A fresh virtualenv at ``target`` with exactly the lock installed; returns the install's seconds."""
    shutil.rmtree(target, ignore_errors=True)
    _uv(["venv", "--python", sys.executable, "--quiet", str(target)], quiet=True)
    started = time.perf_counter()
    _uv(["pip", "sync", "--python", str(target / "bin" / "python"), "--require-hashes", "--quiet", str(lock_file)])
    return time.perf_counter() - started


def _size_mb(root: Path) -> float:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return round(total / 2**20, 1)


def up_to_date(framework: str) -> bool:
    cost = read_setup_cost(framework)
    return cost is not None and venv_python(framework).exists() and cost.lock_sha256 == lock_digest(framework)


def sync(framework: str, *, force: bool = False) -> tuple[SetupCost, bool]:
    """Make ``.venvs/<framework>`` match its lock; returns its setup cost and whether anything was done."""
    lock_file = env_dir(framework) / LOCK
    if not lock_file.is_file():
        raise EnvSetupError(f"{lock_file} does not exist: run `make lock`")
    if not force and up_to_date(framework):
        cost = read_setup_cost(framework)
        assert cost is not None
        return cost, False
    target = venv_dir(framework)
    _install(target, lock_file)  # fills uv's cache when it was cold
    # The measurement: the same install again, into a throw-away folder beside it, from the warm cache.
    with tempfile.TemporaryDirectory(prefix=f".{framework}-measure-", dir=target.parent) as tmp:
        install_s = _install(Path(tmp) / "venv", lock_file)
    cost = SetupCost(
        distributions=len(installed_versions(framework)),
        size_mb=_size_mb(target),
        install_s=round(install_s, 2),
        lock_sha256=lock_digest(framework),
    )
    write_setup_cost(framework, cost)
    return cost, True


def chosen(names: Sequence[str]) -> list[str]:
    """The frameworks a command acts on: those named (each must have an environment), else all."""
    known = frameworks_with_envs()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise EnvSetupError(f"no environment for {', '.join(unknown)}; known: {', '.join(known) or 'none'}")
    return list(names) or known


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def command(action: str, names: Sequence[str], *, force: bool = False) -> int:
    """``afbench envs ACTION [FRAMEWORK ...]``: prints what it did; 0, or 1 when ``outdated`` found any."""
    frameworks = chosen(names)
    if action == "lock":
        for framework in frameworks:
            pins = lock(framework)
            print(f"{framework}: " + ", ".join(f"{name} {version}" for name, version in pins.items()), flush=True)
        return 0
    if action == "sync":
        for framework in frameworks:
            cost, changed = sync(framework, force=force)
            state = "installed" if changed else "up to date"
            print(
                f"{framework}: {state} ({cost.distributions} distributions, {cost.size_mb:,.0f} MB, "
                f"{cost.install_s:.1f} s from a warm cache)",
                flush=True,
            )
        return 0
    if action == "outdated":
        found = [item for framework in frameworks for item in outdated(framework)]
        if not found:
            print(f"every lock pins the newest release of what it requires ({len(frameworks)} builds)")
            return 0
        rows = [["build", "package", "locked", "newest"]]
        rows += [[o.framework, o.package, o.locked or "-", o.newest] for o in found]
        print(_table(rows) + "\n\nrun `make lock` to move the locks, then `make envs`")
        return 1
    rows = [["build", "requires (locked)", "environment", "distributions", "size", "install"]]
    for framework in frameworks:
        pins = locked_versions(framework)
        stamp = read_setup_cost(framework)
        state = "up to date" if up_to_date(framework) else ("stale" if venv_python(framework).exists() else "missing")
        rows.append(
            [
                framework,
                ", ".join(f"{name} {pins.get(name, '?')}" for name in direct_requirements(framework)),
                state,
                str(stamp.distributions) if stamp else "-",
                f"{stamp.size_mb:,.0f} MB" if stamp else "-",
                f"{stamp.install_s:.1f} s" if stamp else "-",
            ]
        )
    print(_table(rows))
    return 0
