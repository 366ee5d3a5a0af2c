"""Each framework's own token accounting against the gateway's: the comparison from handmade records (exact,
within the tolerance, under- and over-counting, never reported, turns that raised left out), the reports'
section naming a miscounting framework, and the worker keeping a build's turn when its usage is malformed."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from benchmark.records import ReportedUsage, TrialRecord, TurnOutcome
from benchmark.report import write_reports
from benchmark.runner.worker import _reported_usage
from benchmark.scoring.usage_accounting import usage_accounting
from tests.benchmark.test_report import make_run, trial

# trial() records two answered model calls on turn 0: 500 + 500 input tokens, 10 + 10 output tokens.
MEASURED_IN, MEASURED_OUT, MEASURED_CALLS = 1000, 20, 2


def reported(framework: str, task_id: str, usage: ReportedUsage | None, error: str | None = None) -> TrialRecord:
    turn = TurnOutcome(
        index=0, user="q", text="a", agent="operational_agent", started_at=0, ended_at=1, wall_s=1,
        error=error, reported_usage=usage,
    )  # fmt: skip
    return trial(framework, task_id, "calculator", True, turns=[turn])


def usage(tokens_in: int, tokens_out: int, calls: int | None = 2) -> ReportedUsage:
    return ReportedUsage(input_tokens=tokens_in, output_tokens=tokens_out, calls=calls, source="RunResult.usage")


@pytest.mark.parametrize(
    ("tokens_in", "tokens_out", "verdict"),
    [
        (MEASURED_IN, MEASURED_OUT, "exact"),
        (MEASURED_IN + 5, MEASURED_OUT, "within 1%"),
        (MEASURED_IN // 2, MEASURED_OUT, "under-counts"),  # e.g. only the last call of a turn counted
        (MEASURED_IN, MEASURED_OUT * 2, "over-counts"),
    ],
)
def test_reported_tokens_are_judged_against_the_gateways(tokens_in: int, tokens_out: int, verdict: str) -> None:
    result = usage_accounting([reported("x", "t1", usage(tokens_in, tokens_out))])
    assert result is not None and result.verdict == verdict
    assert (result.input_measured, result.output_measured, result.calls_measured) == (
        MEASURED_IN,
        MEASURED_OUT,
        MEASURED_CALLS,
    )
    assert result.input_ratio == round(tokens_in / MEASURED_IN, 4) and result.sources == ["RunResult.usage"]


def test_a_framework_that_never_reports_is_said_to_report_nothing() -> None:
    result = usage_accounting([reported("x", "t1", None), reported("x", "t2", None)])
    assert result is not None and result.verdict == "no usage reported"
    assert (result.turns, result.reported_turns, result.calls_reported, result.input_measured) == (2, 0, None, 0)


def test_only_reported_turns_that_answered_are_compared() -> None:
    trials = [
        reported("x", "t1", usage(MEASURED_IN, MEASURED_OUT, calls=None)),
        reported("x", "t2", None),  # not reported: its calls are not measured against anything
        reported("x", "t3", usage(1, 1), error="RuntimeError: boom"),  # raised: nothing to compare
        trial("x", "t4", "calculator", False, status="infra_error"),
    ]
    result = usage_accounting(trials)
    assert result is not None
    assert (result.turns, result.reported_turns, result.input_reported, result.input_measured) == (2, 1, 1000, 1000)
    assert result.verdict == "exact" and result.calls_reported is None


def test_reports_name_the_framework_that_miscounts(tmp_path: Path) -> None:
    trials = [reported("vanilla", "t1", usage(MEASURED_IN, MEASURED_OUT)), reported("langgraph", "t1", usage(500, 10))]
    paths = write_reports(make_run(tmp_path / "run", trials, ["vanilla", "langgraph"]))
    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    assert summary["frameworks"]["langgraph"]["usage_accounting"]["verdict"] == "under-counts"
    assert summary["frameworks"]["vanilla"]["usage_accounting"]["input_ratio"] == 1.0
    markdown = paths.markdown.read_text(encoding="utf-8")
    section = markdown.split("## Usage accounting")[1].split("## Versions")[0]
    assert "**Miscounting: langgraph.**" in section and "one tokenizer (tiktoken cl100k)" in section
    row = "| langgraph | under-counts | 1/1 | 500 | 1,000 | 0.500 | 10 | 20 | 0.500 | 2 | 2 | RunResult.usage |"
    assert row in section
    html = paths.html.read_text(encoding="utf-8")
    assert "<h2>Usage accounting</h2>" in html and "<b>Miscounting: langgraph.</b>" in html


def test_without_any_reported_usage_the_section_says_so_per_framework(tmp_path: Path) -> None:
    paths = write_reports(make_run(tmp_path / "run", [reported("vanilla", "t1", None)], ["vanilla"]))
    section = paths.markdown.read_text(encoding="utf-8").split("## Usage accounting")[1]
    assert "**No framework miscounts its tokens.**" in section and "| vanilla | no usage reported | 0/1 |" in section


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (SimpleNamespace(input_tokens=3, output_tokens=4, calls=1, source="x"), usage(3, 4, calls=1)),
        (SimpleNamespace(input_tokens=3, output_tokens=4), ReportedUsage(input_tokens=3, output_tokens=4)),
        ("twelve tokens", None),  # not a Usage: logged and dropped, the turn keeps its answer
        (SimpleNamespace(input_tokens="many", output_tokens=4), None),
    ],
)
def test_the_worker_records_a_builds_usage_or_drops_what_is_not_one(value: Any, expected: Any) -> None:
    found = _reported_usage(value)
    if expected is not None and expected.source == "RunResult.usage":
        expected = expected.model_copy(update={"source": "x"})
    assert found == expected
