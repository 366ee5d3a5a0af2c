"""What a run records about where it ran: Python and package versions, the machine, the builds' size."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from benchmark.scoring.loc import count_loc

# The distributions each build stands on (its framework and its MCP adapter), for the report's versions.
FRAMEWORK_PACKAGES: dict[str, tuple[str, ...]] = {
    "vanilla": ("openai",),
    "langgraph": ("langgraph", "langchain-openai", "langchain-mcp-adapters"),
    "openai_agents": ("openai-agents",),
    "llamaindex": ("llama-index-core", "llama-index-llms-openai", "llama-index-tools-mcp"),
    "pydantic_ai": ("pydantic-ai", "pydantic-ai-slim"),
    "crewai": ("crewai", "crewai-tools"),
    "autogen": ("autogen-agentchat", "autogen-ext"),
    "semantic_kernel": ("semantic-kernel",),
}


def version_of(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def versions(frameworks: list[str]) -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "afbench": version_of("afbench"),
        "mcp": version_of("mcp"),
        "openai": version_of("openai"),
        "pydantic": version_of("pydantic"),
        "frameworks": {
            name: {package: version_of(package) for package in FRAMEWORK_PACKAGES.get(name, ())} for name in frameworks
        },
    }


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
