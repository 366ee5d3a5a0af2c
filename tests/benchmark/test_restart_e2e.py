"""Conversations that survive a restart of the build's process, through the real runner: before a turn marked
``restart: true`` the harness closes the conversation, kills the worker, starts a fresh one and reopens the
conversation by its id. A build that keeps its memory in the harness's store directory remembers (a different
process answers: another PID); one that keeps it in process forgets; the vanilla build, through the real MCP
server and the scripted model, still knows the first city after the restart."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from benchmark.profiles import resolve_profile
from benchmark.records import TrialRecord
from benchmark.runner.run import MEMORY_DIR, RunRequest, run_benchmark
from tests.benchmark.suites import WEATHER_TWO_TURNS, suite_text

pytestmark = pytest.mark.e2e

CODE_WORD = """
  - id: code-word-across-a-restart
    category: memory
    turns:
      - user: Remember the code word heron.
        expect:
          route: operational_agent
          answer:
            - contains: noted
        script:
          answer: Noted.
      - user: What was the code word?
        restart: true
        expect:
          route: operational_agent
          answer:
            - contains: heron
        script:
          answer: heron
      - user: And again, what was it?
        restart: true
        expect:
          route: operational_agent
          answer:
            - contains: heron
        script:
          answer: heron
"""

NOTEBOOK = '''
"""A test build that never calls the model: it notes a code word and says it back, from {where}."""
import json
import os
from pathlib import Path

from benchmark.contract import AgentBuild, TurnResult


class Notebook:
    def __init__(self, memory):
        self.path = Path(memory.directory) / f"{{memory.conversation_id}}.json"
        self.notes = json.loads(self.path.read_text()) if PERSIST and self.path.exists() else {{}}

    async def send(self, message):
        if message.startswith("Remember"):
            self.notes["word"] = message.rsplit(" ", 1)[-1].rstrip(".")
            if PERSIST:
                self.path.write_text(json.dumps(self.notes))
            return TurnResult("Noted.", "operational_agent")
        return TurnResult(f"{{self.notes.get('word', 'I do not know')}} (pid {{os.getpid()}})", "operational_agent")

    async def aclose(self):
        return None


class NotebookBuild(AgentBuild):
    framework = "vanilla"

    async def open(self, spec, model, mcp, memory):
        return Notebook(memory)


PERSIST = {persist}
BUILD = NotebookBuild()
'''

# suites' two-turn weather task, restarted before its follow-up
LONDON_THEN_PARIS = WEATHER_TWO_TURNS.replace(
    "id: weather-london-then-paris", "id: weather-london-then-paris-after-a-restart"
).replace("      - user: And in Paris?\n", "      - user: And in Paris?\n        restart: true\n")


async def run(tmp_path: Path, suite_yaml: str, agents: Path | None = None) -> list[TrialRecord]:
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite_yaml, encoding="utf-8")
    request = RunRequest(
        frameworks=["vanilla"],
        suite=suite,
        profile=resolve_profile("scripted"),
        timeout_s=60,
        out_dir=tmp_path / "run",
        agents_dir=agents,
    )
    return (await run_benchmark(request, progress=False)).trials


def notebook(tmp_path: Path, persist: bool) -> Path:
    agents = tmp_path / "agents"
    agents.mkdir()
    where = "a file in the harness's store" if persist else "process memory only"
    source = NOTEBOOK.format(where=where, persist=persist)
    (agents / "vanilla.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return agents


async def test_memory_kept_in_the_store_survives_each_restart_in_a_new_process(tmp_path: Path) -> None:
    (trial,) = await run(tmp_path, suite_text("restarts", CODE_WORD), notebook(tmp_path, persist=True))
    assert trial.passed, trial.score.reason if trial.score else trial.build_error
    assert len(trial.worker_pids) == 3 and len(set(trial.worker_pids)) == 3, trial.worker_pids
    # each answer after a restart came from the process the harness started for it
    assert all(f"(pid {pid})" in turn.text for turn, pid in zip(trial.turns[1:], trial.worker_pids[1:], strict=True))
    assert [t.index for t in trial.turns] == [0, 1, 2]
    assert (tmp_path / "run" / MEMORY_DIR / trial.trial_id / f"{trial.trial_id}.json").exists()


async def test_memory_kept_in_process_is_lost_at_the_restart(tmp_path: Path) -> None:
    (trial,) = await run(tmp_path, suite_text("restarts", CODE_WORD), notebook(tmp_path, persist=False))
    assert not trial.passed and trial.build_error is None
    assert trial.turns[1].text.startswith("I do not know") and len(set(trial.worker_pids)) == 3
    assert trial.score is not None and "turn 2" in (trial.score.reason or "")


async def test_the_vanilla_build_resumes_its_conversation_from_sqlite_after_a_restart(tmp_path: Path) -> None:
    (trial,) = await run(tmp_path, suite_text("restarts", LONDON_THEN_PARIS))
    assert trial.passed, trial.score.reason if trial.score else trial.build_error
    assert len(set(trial.worker_pids)) == 2
    assert [(c.turn, c.tool) for c in trial.tool_calls] == [(0, "weather"), (1, "weather")]
    # the fresh process sent the first exchange again: the scripted model found London in turn 2's requests
    assert all("scripted-model" not in t.text for t in trial.turns)
