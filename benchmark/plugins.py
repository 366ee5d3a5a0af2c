"""Find and load framework builds from the ``agents/`` plugin folder, by path.

``agents/`` has no ``__init__.py`` on purpose: the OpenAI Agents SDK owns the import name ``agents``. Each
``agents/<framework>.py`` is loaded under the private name ``afbench_agents.<framework>`` and must expose
``BUILD``, an :class:`benchmark.contract.AgentBuild`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from benchmark.contract import AgentBuild

AGENTS_DIR = Path(__file__).resolve().parents[1] / "agents"
FRAMEWORKS = (
    "vanilla",
    "langgraph",
    "openai_agents",
    "llamaindex",
    "pydantic_ai",
    "crewai",
    "autogen",
    "semantic_kernel",
    "agent_framework",
    "google_adk",
    "strands",
)


class PluginError(RuntimeError):
    pass


def available_frameworks() -> list[str]:
    """Frameworks with a build module present, in the canonical order."""
    return [name for name in FRAMEWORKS if (AGENTS_DIR / f"{name}.py").is_file()]


def build_path(framework: str) -> Path:
    return AGENTS_DIR / f"{framework}.py"


def load_build(framework: str) -> AgentBuild:
    if framework not in FRAMEWORKS:
        raise PluginError(f"unknown framework '{framework}'; known: {', '.join(FRAMEWORKS)}")
    path = build_path(framework)
    if not path.is_file():
        raise PluginError(f"no build for '{framework}': {path} does not exist")
    module_name = f"afbench_agents.{framework}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        del sys.modules[module_name]
        raise PluginError(
            f"the {framework} build cannot be imported ({exc}): its environment lacks it; add the package to "
            f"envs/{framework}/requirements.in, then `make lock envs`"
        ) from exc
    build = getattr(module, "BUILD", None)
    if not isinstance(build, AgentBuild):
        raise PluginError(f"{path} must define BUILD, an instance of benchmark.contract.AgentBuild")
    if build.framework != framework:
        raise PluginError(f"{path}: BUILD.framework is '{build.framework}', expected '{framework}'")
    return build
