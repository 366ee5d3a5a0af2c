"""What a run records about where it ran: Python and package versions (the harness's and each build's
environment's), the machine, the builds' size and setup cost."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from benchmark.build_envs import direct_requirements, has_env, installed_versions, read_setup_cost
from benchmark.scoring.loc import count_loc


def version_of(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def build_versions(framework: str) -> dict[str, str | None]:
    """The packages a build stands on (its ``requirements.in``) as installed in its environment; a build
    without an environment (another plugin folder) runs in the harness's, whose versions are none of these."""
    if not has_env(framework):
        return {}
    installed = installed_versions(framework)
    return {name: installed.get(name) for name in direct_requirements(framework)}


def versions(frameworks: list[str]) -> dict[str, object]:
    """The harness's own versions (its environment runs the server and the gateway), then each build's."""
    return {
        "python": platform.python_version(),
        "afbench": version_of("afbench"),
        "mcp": version_of("mcp"),
        "pydantic": version_of("pydantic"),
        "frameworks": {name: build_versions(name) for name in frameworks},
    }


def setup_costs(frameworks: list[str]) -> dict[str, dict[str, object]]:
    """Each build's measured setup cost (distributions, size on disk, warm-cache install time), when synced."""
    costs: dict[str, dict[str, object]] = {}
    for name in frameworks:
        cost = read_setup_cost(name) if has_env(name) else None
        if cost is not None:
            costs[name] = {"distributions": cost.distributions, "size_mb": cost.size_mb, "install_s": cost.install_s}
    return costs


def machine() -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
    }


def build_loc(paths: dict[str, Path]) -> dict[str, int]:
    """Lines of code of each build module that exists and parses."""
    counted = {}
    for name, path in paths.items():
        try:
            counted[name] = count_loc(path)
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
    return counted
