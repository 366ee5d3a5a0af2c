"""``afbench compare RUN_A RUN_B``: per framework, which tasks flipped between two runs, and how success
and tokens moved. A task's outcome in a run is "pass" when every completed repeat of it passed; tasks are
paired by id, and a task with only infrastructure errors in either run is left out of the flips. Where either
run injected faults (resilience suite), the resilience rates, unsafe counts and the tasks whose outcome class
changed are compared too."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from benchmark.records import RESULTS_FILE, TrialRecord, read_run_info, read_trials
from benchmark.report.formatting import num, pct
from benchmark.scoring.aggregate import by_framework
from benchmark.scoring.resilience import resilience_stats
from benchmark.scoring.stats import mean


class FrameworkDiff(BaseModel):
    framework: str
    paired_tasks: int
    success_a: float | None
    success_b: float | None
    success_delta: float | None
    tokens_in_a: float | None
    tokens_in_b: float | None
    tokens_in_delta: float | None
    tokens_out_delta: float | None
    pass_to_fail: list[str]
    fail_to_pass: list[str]
    only_in_a: list[str]
    only_in_b: list[str]
    resilience_a: float | None = None
    resilience_b: float | None = None
    unsafe_a: int | None = None
    unsafe_b: int | None = None
    outcome_changes: list[str] = Field(default_factory=list, description="'task: crashed → recovered', by task.")


class Comparison(BaseModel):
    run_a: str
    run_b: str
    suite_a: str
    suite_b: str
    model_a: str
    model_b: str
    frameworks: list[FrameworkDiff]
    only_in_a: list[str]
    only_in_b: list[str]


def task_outcomes(trials: Sequence[TrialRecord]) -> dict[str, bool]:
    runs: dict[str, list[bool]] = defaultdict(list)
    for trial in trials:
        if trial.status == "completed":
            runs[trial.task_id].append(trial.passed)
    return {task: all(results) for task, results in runs.items()}


def task_classes(trials: Sequence[TrialRecord]) -> dict[str, str]:
    """A faulted task's outcome class in a run: its repeats' classes, joined when they differ."""
    classes: dict[str, list[str]] = defaultdict(list)
    for trial in trials:
        if trial.resilience is not None and trial.resilience.outcome is not None:
            classes[trial.task_id].append(trial.resilience.outcome)
    return {task: "/".join(sorted(set(found))) for task, found in classes.items()}


def _rate(trials: Sequence[TrialRecord]) -> float | None:
    done = [t for t in trials if t.status == "completed"]
    return sum(t.passed for t in done) / len(done) if done else None


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 6)


def _tokens(trials: Sequence[TrialRecord], attribute: str) -> float | None:
    return mean([float(getattr(t, attribute)) for t in trials if t.status == "completed"])


def compare_runs(run_a: Path, run_b: Path) -> Comparison:
    info_a, info_b = read_run_info(run_a), read_run_info(run_b)
    groups_a = by_framework(read_trials(run_a / RESULTS_FILE), info_a.frameworks)
    groups_b = by_framework(read_trials(run_b / RESULTS_FILE), info_b.frameworks)
    diffs = []
    for name in [n for n in groups_a if n in groups_b]:
        a, b = groups_a[name], groups_b[name]
        outcome_a, outcome_b = task_outcomes(a), task_outcomes(b)
        paired = sorted(set(outcome_a) & set(outcome_b))
        rate_a, rate_b = _rate(a), _rate(b)
        tokens_a, tokens_b = _tokens(a, "tokens_in"), _tokens(b, "tokens_in")
        faults_a, faults_b = resilience_stats(a), resilience_stats(b)
        classes_a, classes_b = task_classes(a), task_classes(b)
        diffs.append(
            FrameworkDiff(
                framework=name,
                paired_tasks=len(paired),
                success_a=rate_a,
                success_b=rate_b,
                success_delta=_delta(rate_a, rate_b),
                tokens_in_a=tokens_a,
                tokens_in_b=tokens_b,
                tokens_in_delta=_delta(tokens_a, tokens_b),
                tokens_out_delta=_delta(_tokens(a, "tokens_out"), _tokens(b, "tokens_out")),
                pass_to_fail=[t for t in paired if outcome_a[t] and not outcome_b[t]],
                fail_to_pass=[t for t in paired if not outcome_a[t] and outcome_b[t]],
                only_in_a=sorted(set(outcome_a) - set(outcome_b)),
                only_in_b=sorted(set(outcome_b) - set(outcome_a)),
                resilience_a=faults_a.rate if faults_a else None,
                resilience_b=faults_b.rate if faults_b else None,
                unsafe_a=faults_a.unsafe if faults_a else None,
                unsafe_b=faults_b.unsafe if faults_b else None,
                outcome_changes=[
                    f"{task}: {classes_a[task]} → {classes_b[task]}"
                    for task in sorted(set(classes_a) & set(classes_b))
                    if classes_a[task] != classes_b[task]
                ],
            )
        )
    return Comparison(
        run_a=str(run_a),
        run_b=str(run_b),
        suite_a=info_a.suite,
        suite_b=info_b.suite,
        model_a=f"{info_a.model.name} ({info_a.model.model})",
        model_b=f"{info_b.model.name} ({info_b.model.model})",
        frameworks=diffs,
        only_in_a=[n for n in groups_a if n not in groups_b],
        only_in_b=[n for n in groups_b if n not in groups_a],
    )


def _signed(value: float | None, digits: int = 1, percent: bool = False) -> str:
    if value is None:
        return "–"
    if percent:
        return f"{value * 100:+.{digits}f} pp"
    return f"{value:+,.{digits}f}"


def _count(value: int | None) -> str:
    return "–" if value is None else str(value)


def render_comparison(comparison: Comparison) -> str:
    lines = [
        f"A: {comparison.run_a}  (suite {comparison.suite_a}, model {comparison.model_a})",
        f"B: {comparison.run_b}  (suite {comparison.suite_b}, model {comparison.model_b})",
        "",
    ]
    for diff in comparison.frameworks:
        lines.append(
            f"{diff.framework}: success {pct(diff.success_a)} → {pct(diff.success_b)}"
            f" ({_signed(diff.success_delta, percent=True)}); input tokens/trial {num(diff.tokens_in_a, 0)} →"
            f" {num(diff.tokens_in_b, 0)} ({_signed(diff.tokens_in_delta, 0)}), output"
            f" {_signed(diff.tokens_out_delta, 0)}; {diff.paired_tasks} paired tasks"
        )
        lines.append(f"  pass → fail ({len(diff.pass_to_fail)}): {', '.join(diff.pass_to_fail) or 'none'}")
        lines.append(f"  fail → pass ({len(diff.fail_to_pass)}): {', '.join(diff.fail_to_pass) or 'none'}")
        if diff.unsafe_a is not None or diff.unsafe_b is not None:
            unsafe = f"{_count(diff.unsafe_a)} → {_count(diff.unsafe_b)}"
            lines.append(
                f"  resilience {pct(diff.resilience_a)} → {pct(diff.resilience_b)}"
                f" ({_signed(_delta(diff.resilience_a, diff.resilience_b), percent=True)}); unsafe {unsafe}"
            )
            lines.append(
                f"  outcome changes ({len(diff.outcome_changes)}): {', '.join(diff.outcome_changes) or 'none'}"
            )
        if diff.only_in_a or diff.only_in_b:
            lines.append(f"  only in A: {len(diff.only_in_a)} tasks; only in B: {len(diff.only_in_b)} tasks")
    for label, names in (("only in A", comparison.only_in_a), ("only in B", comparison.only_in_b)):
        if names:
            lines.append(f"frameworks {label}: {', '.join(names)}")
    if not comparison.frameworks:
        lines.append("no framework appears in both runs")
    return "\n".join(lines) + "\n"


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    return comparison.model_dump(mode="json")
