"""Framework builds are plugins loaded by path; the ``agents`` import name stays the OpenAI Agents SDK's.

Each real build is loaded (in its own worker process, as some builds set process-wide state at import) by
``test_builds.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import plugins
from benchmark.contract import started
from benchmark.plugins import PluginError, load_build

REPO = Path(__file__).resolve().parents[2]


def test_import_agents_from_the_repository_root_is_the_sdk() -> None:
    command = "import agents, sys; print(agents.__file__); print(hasattr(agents, 'Runner'))"
    done = subprocess.run([sys.executable, "-c", command], cwd=REPO, capture_output=True, text=True, check=True)
    path, has_runner = done.stdout.split()
    assert "site-packages" in path and has_runner == "True"
    assert not (REPO / "agents" / "__init__.py").exists()


def test_plugin_errors_say_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugins, "AGENTS_DIR", tmp_path)
    with pytest.raises(PluginError, match="unknown framework 'haystack'; known: vanilla"):
        load_build("haystack")
    with pytest.raises(PluginError, match="no build for 'crewai'"):
        load_build("crewai")
    (tmp_path / "autogen.py").write_text("import autogen_that_is_not_installed\n", encoding="utf-8")
    with pytest.raises(PluginError, match=r"install its extra: pip install -e '\.\[autogen\]'"):
        load_build("autogen")
    (tmp_path / "langgraph.py").write_text("BUILD = 42\n", encoding="utf-8")
    with pytest.raises(PluginError, match="must define BUILD"):
        load_build("langgraph")
    vanilla = (REPO / "agents" / "vanilla.py").read_text(encoding="utf-8")
    (tmp_path / "pydantic_ai.py").write_text(vanilla, encoding="utf-8")
    with pytest.raises(PluginError, match=r"BUILD\.framework is 'vanilla', expected 'pydantic_ai'"):
        load_build("pydantic_ai")


async def test_started_closes_a_conversation_whose_start_failed() -> None:
    class Conversation:
        def __init__(self, fail: bool) -> None:
            self.fail, self.closed = fail, False

        async def start(self) -> None:
            if self.fail:
                raise ConnectionError("MCP server unreachable")

        async def aclose(self) -> None:
            self.closed = True

    good = await started(Conversation(fail=False))
    assert not good.closed
    bad = Conversation(fail=True)
    with pytest.raises(ConnectionError, match="unreachable"):
        await started(bad)
    assert bad.closed
