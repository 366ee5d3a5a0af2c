"""``summary.json``: the run's metadata, per-framework metrics (with per-category success, and resilience when
a task injected a fault), the leaderboard (ranks, the rule that made them, the banner when every build ties),
the failures with their reasons and the tool calls they sent, the infrastructure errors apart, and the
resilience block (outcome of every faulted trial, fault kind × framework matrix; null without faults)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmark.records import RunInfo, TrialRecord
from benchmark.report.leaderboard import banner, rule
from benchmark.report.resilience import resilience_summary
from benchmark.scoring.aggregate import by_framework, framework_stats, rank_frameworks

SCHEMA = "afbench.summary/1"


def build_summary(info: RunInfo, trials: Sequence[TrialRecord]) -> dict[str, Any]:
    groups = by_framework(trials, info.frameworks)
    for name in info.frameworks:
        groups.setdefault(name, [])
    stats = {name: framework_stats(group, info.repeats, info.loc.get(name)) for name, group in groups.items()}
    ranking = rank_frameworks(stats)
    completed = [t for t in trials if t.status == "completed"]
    failures = [
        {
            "trial_id": t.trial_id,
            "framework": t.framework,
            "task_id": t.task_id,
            "category": t.category,
            "reason": t.score.reason if t.score else None,
            "tool_calls": [
                {"turn": c.turn + 1, "tool": c.tool, "arguments": c.arguments, "outcome": c.outcome}
                | ({"error_code": c.error_code} if c.error_code else {})
                for c in t.tool_calls
            ],
            "model_tool_calls": [
                {"turn": call.turn + 1, "tool": name, "arguments": arguments}
                for call in t.model_calls
                for name, arguments in zip(
                    call.tool_calls, call.tool_arguments or [None] * len(call.tool_calls), strict=False
                )
            ],
        }
        for t in sorted(completed, key=lambda t: t.trial_id)
        if not t.passed
    ]
    infra = [
        {"trial_id": t.trial_id, "framework": t.framework, "task_id": t.task_id, "reason": t.infra_error}
        for t in sorted(trials, key=lambda t: t.trial_id)
        if t.status == "infra_error"
    ]
    costs = [t.cost_usd for t in completed if t.cost_usd is not None]
    return {
        "schema": SCHEMA,
        "run": {
            "run_id": info.run_id,
            "created_at": info.created_at,
            "suite": info.suite,
            "tasks": len({t.task_id for t in trials}),
            "frameworks": list(groups),
            "model": info.model.model_dump(mode="json", exclude={"api_key_env", "key_required"}),
            "repeats": info.repeats,
            "concurrency": info.concurrency,
            "timeout_s": info.timeout_s,
            "versions": info.versions,
            "setup": info.setup,
            "machine": info.machine,
            "max_tokens": info.max_tokens,
            "max_cost_usd": info.max_cost_usd,
            "stopped": info.stopped,
        },
        "leaderboard": {
            "rule": rule(ranking.tie_break),
            "tie_break": ranking.tie_break,
            "banner": banner(ranking, scripted=info.model.backend == "scripted"),
            "standings": [s.model_dump(mode="json") for s in ranking.standings],
        },
        "frameworks": {name: s.model_dump(mode="json") for name, s in stats.items()},
        "categories": sorted({t.category for t in trials}),
        "totals": {
            "trials": len(trials),
            "completed": len(completed),
            "passed": sum(t.passed for t in completed),
            "infra_errors": len(infra),
            "tokens_in": sum(t.tokens_in for t in completed),
            "tokens_out": sum(t.tokens_out for t in completed),
            "cost_usd": round(sum(costs), 6) if costs else None,
        },
        "failures": failures,
        "infra_errors": infra,
        "resilience": resilience_summary(groups),
    }


def leaderboard_order(summary: dict[str, Any]) -> list[str]:
    """Frameworks best first, as ranked in the summary's leaderboard."""
    return [s["framework"] for s in summary["leaderboard"]["standings"]]
