"""Run budgets: ``--max-tokens`` and ``--max-cost`` stop a run cleanly between trials, say so in ``run.json``,
the report and the exit status, and ``--resume`` with a larger budget finishes the plan; a cost limit without
prices is refused before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.profiles import resolve_profile
from benchmark.records import RESULTS_FILE, read_run_info, read_trials
from benchmark.runner.budget import Budget, BudgetError
from tests.benchmark.suites import CALCULATOR_TASK, WEATHER_TWO_TURNS, suite_text

pytestmark = pytest.mark.e2e


def test_a_cost_budget_needs_prices_and_limits_must_be_positive() -> None:
    scripted = resolve_profile("scripted")
    with pytest.raises(BudgetError, match="has no price_input_per_1m"):
        Budget.for_run(scripted, None, 1.0, [])
    with pytest.raises(BudgetError, match="at least 1"):
        Budget.for_run(scripted, 0, None, [])
    budget = Budget(max_tokens=100)
    assert budget.reached() is None
    budget.tokens = 100
    assert budget.reached() == "the token budget is spent (100 of --max-tokens 100)"


def test_a_run_stops_at_its_token_budget_and_a_resume_with_more_finishes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "two.yaml"
    suite.write_text(suite_text("two", CALCULATOR_TASK, WEATHER_TWO_TURNS), encoding="utf-8")
    run = tmp_path / "run"
    common = ["--frameworks", "vanilla", "--no-progress"]
    assert main(["run", *common, "--suite", str(suite), "--max-tokens", "1", "--out", str(run)]) == 3
    err = capsys.readouterr().err
    assert "stopped: the token budget is spent" in err and "1 of 2 trials not run" in err
    (first,) = read_trials(run / RESULTS_FILE)  # the lane started one trial, then found the budget spent
    info = read_run_info(run)
    assert info.max_tokens == 1 and info.stopped is not None and "--resume" in info.stopped
    assert "**Stopped early**" in (run / "report.md").read_text(encoding="utf-8")
    assert json.loads((run / "summary.json").read_text(encoding="utf-8"))["run"]["stopped"] == info.stopped

    assert main(["run", "--resume", str(run), "--no-progress"]) == 3  # the same budget: still spent, nothing run
    assert len(read_trials(run / RESULTS_FILE)) == 1
    capsys.readouterr()
    assert main(["run", "--resume", str(run), "--no-progress", "--max-tokens", "1000000"]) == 0
    trials = read_trials(run / RESULTS_FILE)
    assert {t.trial_id for t in trials} > {first.trial_id} and len(trials) == 2 and all(t.passed for t in trials)
    assert read_run_info(run).stopped is None
    assert "Stopped early" not in (run / "report.md").read_text(encoding="utf-8")


def test_a_cost_budget_on_a_model_without_prices_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    assert main(["run", "--max-cost", "0.50", "--out", str(out), "--no-progress"]) == 2
    assert "--max-cost needs prices" in capsys.readouterr().err
    assert not out.exists()
