"""Every framework build in ``agents/`` on the ``smoke`` suite, end to end: the real MCP server process, the real
gateway with the scripted model, the build in its own worker process — the path ``afbench run`` takes.

Besides passing, each build must reach tools only through the MCP server: every MCP tool call the model asked
for shows up in the server's log for that trial (a build that ran a tool locally, or dropped a call, would
leave the two lists different). Each build's run is made once per session (``smoke_run``); other modules check
what it recorded too (``test_generation_settings``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmark.plugins import available_frameworks
from benchmark.profiles import resolve_profile
from benchmark.records import TrialRecord
from benchmark.runner.run import RunOutcome, RunRequest, run_benchmark
from benchmark.scoring.tool_calls import mcp_tool_named
from benchmark.scoring.usage_accounting import usage_accounting
from benchmark.tasks.loader import load_suite
from mcp_server.catalog import build_tools
from mcp_server.config import ServerConfig

pytestmark = pytest.mark.e2e

MCP_TOOLS = [spec.name for spec in build_tools(ServerConfig())]


def requested_tools(trial: TrialRecord) -> Counter[str]:
    names = (mcp_tool_named(name, MCP_TOOLS) for call in trial.model_calls for name in call.tool_calls)
    return Counter(name for name in names if name is not None)


_SMOKE_RUNS: dict[str, RunOutcome] = {}


async def smoke_run(framework: str, tmp_path: Path) -> RunOutcome:
    """The build's smoke run with the scripted model, made once per test session: several test modules check
    what it recorded, and a run of every build is the slowest thing in the suite."""
    if framework not in _SMOKE_RUNS:
        request = RunRequest(
            frameworks=[framework],
            suite="smoke",
            profile=resolve_profile("scripted"),
            timeout_s=120,
            out_dir=tmp_path / "run",
        )
        _SMOKE_RUNS[framework] = await run_benchmark(request, progress=False)
    return _SMOKE_RUNS[framework]


@pytest.mark.parametrize("framework", available_frameworks())
async def test_build_passes_smoke_with_every_tool_call_through_the_mcp_server(framework: str, tmp_path: Path) -> None:
    suite = load_suite("smoke")
    outcome = await smoke_run(framework, tmp_path)
    trials = {t.task_id: t for t in outcome.trials}
    assert set(trials) == {task.id for task in suite.tasks}
    failures = {
        t.task_id: t.infra_error or t.build_error or (t.score.reason if t.score else None)
        for t in trials.values()
        if not t.passed
    }
    assert failures == {}, f"{framework} failed smoke tasks (log: {outcome.run_dir / 'logs'})"
    for trial in trials.values():
        assert trial.model_calls, f"{trial.trial_id}: no model call reached the gateway"
        logged = Counter(call.tool for call in trial.tool_calls)
        assert logged == requested_tools(trial), f"{trial.trial_id}: the server log differs from the model's calls"
        refused = all(turn.agent == "guardrail" for turn in trial.turns)
        assert refused == (not logged), f"{trial.trial_id}: a refused turn must call no tool, others must"


@pytest.mark.parametrize("framework", available_frameworks())
async def test_build_code_team_reviews_revises_and_tests_its_code_in_the_sandbox(
    framework: str, tmp_path: Path
) -> None:
    """The nested team end to end (the smoke suite's code task): the first draft forgets the century rule, the
    reviewer sends it back, the coder revises, and the tester runs the revised draft with ``run_python`` (the
    server's log proves it); the answer's code passes the task's hidden tests, which the first draft fails."""
    outcome = await smoke_run(framework, tmp_path)
    (trial,) = [t for t in outcome.trials if t.category == "code"]
    reason = trial.infra_error or trial.build_error or (trial.score.reason if trial.score else None)
    assert trial.passed, f"{framework}: {reason} (log: {outcome.run_dir / 'logs'})"
    (run,) = trial.tool_calls
    assert run.tool == "run_python" and run.outcome == "ok"
    assert "year % 400 == 0" in run.arguments["code"], "the tester ran a draft the reviewer had not approved"
    assert "year % 400 == 0" in trial.turns[0].text
    assert len(trial.model_calls) >= 8  # guardrail, orchestrator, operational agent, coder ×2, reviewer ×2, tester


async def test_the_vanilla_builds_own_usage_accounting_matches_the_gateway(tmp_path: Path) -> None:
    """The hand-written loop sums each completion's ``usage``: exactly what the gateway counted, call for call."""
    accounting = usage_accounting((await smoke_run("vanilla", tmp_path)).trials)
    assert accounting is not None and accounting.reported_turns == accounting.turns > 0
    assert accounting.verdict == "exact" and accounting.calls_reported == accounting.calls_measured
