"""Per-framework (and per-category) metrics over a run's trials, and the leaderboard's ranking of them.

Trials that hit an infrastructure error (gateway failure after retries, worker crash, timeout) are counted
apart and left out of every other metric: they say nothing about the framework.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from benchmark.records import TokensSource, TrialRecord
from benchmark.scoring.resilience import ResilienceStats, resilience_stats
from benchmark.scoring.stats import interval_ranks, mean, median, pass_hat_k, percentile, wilson_interval
from benchmark.scoring.usage_accounting import UsageAccounting, usage_accounting


class CategoryStats(BaseModel):
    trials: int
    passed: int
    success_rate: float | None
    success_ci95: tuple[float, float]


class PassK(BaseModel):
    k: int
    value: float | None = Field(description="Mean over tasks of pass^k; None when no task has k completed repeats.")
    tasks: int = Field(description="Tasks with k completed repeats, the ones counted.")


class FrameworkStats(BaseModel):
    trials: int = Field(description="Completed trials, the ones scored (infrastructure errors excluded).")
    trials_total: int = Field(description="Every trial run, infrastructure errors included.")
    passed: int
    success_rate: float | None
    success_ci95: tuple[float, float]
    infra_errors: int
    pass_k: PassK | None = None
    route_accuracy: float | None
    tool_precision: float | None
    tool_recall: float | None
    model_calls_mean: float | None
    tokens_in_mean: float | None
    tokens_out_mean: float | None
    tokens_source: TokensSource
    wall_mean_s: float | None
    wall_p50_s: float | None
    wall_p95_s: float | None
    model_time_mean_s: float | None
    tool_time_mean_s: float | None
    overhead_mean_s: float | None
    overhead_p50_s: float | None
    import_s: float | None = Field(description="Median cold import time of the build module over its workers.")
    peak_rss_mb: float | None
    cost_mean_usd: float | None
    cost_total_usd: float | None
    loc: int | None
    categories: dict[str, CategoryStats]
    resilience: ResilienceStats | None = Field(default=None, description="Only when some trial injected a fault.")
    usage_accounting: UsageAccounting | None = Field(
        default=None, description="The framework's own token accounting against the gateway's; None: no trial."
    )


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def combine_sources(sources: Iterable[str]) -> TokensSource:
    """One label for many trials' token sources: all counted, all upstream-reported, mixed, or none."""
    found = {s for s in sources if s != "none"}
    if not found:
        return "none"
    if found == {"upstream"}:
        return "upstream"
    if found == {"counted"}:
        return "counted"
    return "mixed"


def category_stats(trials: Sequence[TrialRecord]) -> dict[str, CategoryStats]:
    by_category: dict[str, list[TrialRecord]] = defaultdict(list)
    for trial in trials:
        if trial.status == "completed":
            by_category[trial.category].append(trial)
    stats = {}
    for name, group in sorted(by_category.items()):
        passed = sum(t.passed for t in group)
        low, high = wilson_interval(passed, len(group))
        stats[name] = CategoryStats(
            trials=len(group),
            passed=passed,
            success_rate=_rounded(_ratio(passed, len(group))),
            success_ci95=(round(low, 4), round(high, 4)),
        )
    return stats


def pass_k_of(trials: Sequence[TrialRecord], k: int) -> PassK:
    """pass^k over tasks; a task counts when it has at least k completed repeats."""
    by_task: dict[str, list[bool]] = defaultdict(list)
    for trial in trials:
        if trial.status == "completed":
            by_task[trial.task_id].append(trial.passed)
    values = [pass_hat_k(len(runs), sum(runs), k) for runs in by_task.values() if len(runs) >= k]
    return PassK(k=k, value=_rounded(mean(values)), tasks=len(values))


def framework_stats(trials: Sequence[TrialRecord], repeats: int, loc: int | None) -> FrameworkStats:
    done = [t for t in trials if t.status == "completed"]
    passed = sum(t.passed for t in done)
    turns = [turn for t in done if t.score is not None for turn in t.score.turns]
    expected = sum(t.score.calls_expected for t in done if t.score is not None)
    logged = sum(t.score.calls_actual for t in done if t.score is not None)
    matched = sum(t.score.calls_matched for t in done if t.score is not None)
    walls = [t.wall_s for t in done]
    overheads = [t.overhead_s for t in done]
    workers = {t.worker.pid: t.worker for t in trials if t.worker is not None}
    costs = [t.cost_usd for t in done if t.cost_usd is not None]
    low, high = wilson_interval(passed, len(done))
    return FrameworkStats(
        trials=len(done),
        trials_total=len(trials),
        passed=passed,
        success_rate=_rounded(_ratio(passed, len(done))),
        success_ci95=(round(low, 4), round(high, 4)),
        infra_errors=sum(1 for t in trials if t.status == "infra_error"),
        pass_k=pass_k_of(trials, repeats) if repeats > 1 else None,
        route_accuracy=_rounded(_ratio(sum(turn.route_ok for turn in turns), len(turns))),
        tool_precision=_rounded(_ratio(matched, logged)),
        tool_recall=_rounded(_ratio(matched, expected)),
        model_calls_mean=_rounded(mean([len(t.model_calls) for t in done]), 2),
        tokens_in_mean=_rounded(mean([t.tokens_in for t in done]), 1),
        tokens_out_mean=_rounded(mean([t.tokens_out for t in done]), 1),
        tokens_source=combine_sources(t.tokens_source for t in done),
        wall_mean_s=_rounded(mean(walls)),
        wall_p50_s=_rounded(percentile(walls, 50)),
        wall_p95_s=_rounded(percentile(walls, 95)),
        model_time_mean_s=_rounded(mean([t.model_time_s for t in done])),
        tool_time_mean_s=_rounded(mean([t.tool_time_s for t in done])),
        overhead_mean_s=_rounded(mean(overheads)),
        overhead_p50_s=_rounded(percentile(overheads, 50)),
        import_s=_rounded(median([w.import_s for w in workers.values()])),
        peak_rss_mb=_rounded(max((w.peak_rss_mb for w in workers.values()), default=None), 1),
        cost_mean_usd=_rounded(mean(costs), 6) if costs else None,
        cost_total_usd=_rounded(sum(costs), 6) if costs else None,
        loc=loc,
        categories=category_stats(trials),
        resilience=resilience_stats(trials),
        usage_accounting=usage_accounting(trials),
    )


def by_framework(trials: Iterable[TrialRecord], order: Sequence[str] = ()) -> dict[str, list[TrialRecord]]:
    """Trials grouped per framework, in ``order`` first, then any others by name; each group by trial id."""
    groups: dict[str, list[TrialRecord]] = defaultdict(list)
    for trial in trials:
        groups[trial.framework].append(trial)
    names = [n for n in order if n in groups] + sorted(n for n in groups if n not in order)
    return {name: sorted(groups[name], key=lambda t: t.trial_id) for name in names}


CostKey = Literal["cost_mean_usd", "tokens_in_mean", "wall_p50_s"]


class Standing(BaseModel):
    framework: str
    rank: int | None = Field(description="None: no completed trial, nothing measured; such builds come last.")
    tied: bool = Field(description="Another build has the same rank.")


class Ranking(BaseModel):
    standings: list[Standing] = Field(description="Best first.")
    tie_break: list[CostKey] = Field(description="The cost order within a rank, after success rate.")
    all_tied: bool = Field(description="At least two builds are ranked and every one of them has rank 1.")
    all_equal: bool = Field(description="Every ranked build passed as many trials out of as many.")
    any_passed: bool = Field(description="Some ranked build passed a trial.")


def rank_frameworks(stats: Mapping[str, FrameworkStats]) -> Ranking:
    """Rank by success: a build ranks below another only when its whole 95 % interval lies below the other's.

    Within a rank, higher success comes first, then the cost order: cost per trial when every build that
    passed something has a price, else input tokens per trial; then wall time p50; then the name. Builds
    that passed nothing are ordered by name alone, since a build that fails at once is the cheapest. A build
    with no completed trial (every trial an infrastructure error) has no rank and comes last.
    """
    measured = [name for name, s in stats.items() if s.trials > 0]
    ranks = dict(zip(measured, interval_ranks([stats[n].success_ci95 for n in measured]), strict=True))
    passing = [stats[n] for n in measured if stats[n].passed > 0]
    priced = bool(passing) and all(s.cost_mean_usd is not None for s in passing)
    tie_break: list[CostKey] = ["cost_mean_usd" if priced else "tokens_in_mean", "wall_p50_s"]

    def key(name: str) -> tuple[int, float, tuple[float, ...], str]:
        s = stats[name]
        if name not in ranks:
            return (len(stats) + 1, 0.0, (), name)
        costs = tuple(_or_inf(getattr(s, field)) for field in tie_break) if s.passed else ()
        return (ranks[name], -(s.success_rate or 0.0), costs, name)

    order = sorted(stats, key=key)
    counts = [ranks[n] for n in measured]
    standings = [
        Standing(framework=n, rank=ranks.get(n), tied=n in ranks and counts.count(ranks[n]) > 1) for n in order
    ]
    return Ranking(
        standings=standings,
        tie_break=tie_break,
        all_tied=len(measured) >= 2 and all(r == 1 for r in counts),
        all_equal=len({(stats[n].passed, stats[n].trials) for n in measured}) <= 1,
        any_passed=bool(passing),
    )


def _or_inf(value: float | None) -> float:
    return float("inf") if value is None else value
