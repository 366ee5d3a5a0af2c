"""Framework builds are plugins loaded by path; the ``agents`` import name stays the OpenAI Agents SDK's.

Each real build is loaded (in its own worker process, as some builds set process-wide state at import) by
``test_builds.py``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmark import plugins
from benchmark.build_envs import worker_python
from benchmark.contract import started
from benchmark.plugins import PluginError, load_build
from benchmark.runner.children import child_env

REPO = Path(__file__).resolve().parents[2]


def test_import_agents_from_the_repository_root_is_the_sdk() -> None:
    # In the OpenAI Agents build's own environment, from the repository root, with the checkout on the path as
    # a worker has it: our agents/ folder (no __init__.py) must not shadow the SDK.
    command = "import agents, sys; print(agents.__file__); print(hasattr(agents, 'Runner'))"
    done = subprocess.run(
        [worker_python("openai_agents"), "-c", command],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
    )
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
    with pytest.raises(
        PluginError, match=r"its environment lacks it; add the package to envs/autogen/requirements\.in"
    ):
        load_build("autogen")
    (tmp_path / "langgraph.py").write_text("BUILD = 42\n", encoding="utf-8")
    with pytest.raises(PluginError, match="must define BUILD"):
        load_build("langgraph")
    # A build whose BUILD names another framework (a stub: a real build imports only in its own environment).
    misnamed = (
        "from benchmark.contract import AgentBuild\n\n\nclass Build(AgentBuild):\n    framework = 'vanilla'\n\n"
        "    async def open(self, spec, model, mcp, memory):\n        raise NotImplementedError\n\n\nBUILD = Build()\n"
    )
    (tmp_path / "pydantic_ai.py").write_text(misnamed, encoding="utf-8")
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
