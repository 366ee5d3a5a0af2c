"""``summary.json``: the run's metadata, per-framework metrics (with per-category success), the failures
with their reasons, and the infrastructure errors apart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmark.records import RunInfo, TrialRecord
from benchmark.scoring.aggregate import by_framework, framework_stats

SCHEMA = "afbench.summary/1"


def build_summary(info: RunInfo, trials: Sequence[TrialRecord]) -> dict[str, Any]:
    groups = by_framework(trials, info.frameworks)
    for name in info.frameworks:
        groups.setdefault(name, [])
    frameworks = {
        name: framework_stats(group, info.repeats, info.loc.get(name)).model_dump(mode="json")
        for name, group in groups.items()
    }
    completed = [t for t in trials if t.status == "completed"]
    failures = [
        {
            "trial_id": t.trial_id,
            "framework": t.framework,
            "task_id": t.task_id,
            "category": t.category,
            "reason": t.score.reason if t.score else None,
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
            "machine": info.machine,
        },
        "frameworks": frameworks,
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
    }


def leaderboard_order(summary: dict[str, Any]) -> list[str]:
    """Frameworks best first: success rate, then fewer input tokens, then name."""
    frameworks: dict[str, Any] = summary["frameworks"]

    def key(name: str) -> tuple[float, float, str]:
        stats = frameworks[name]
        rate = stats["success_rate"] if stats["success_rate"] is not None else -1.0
        tokens = stats["tokens_in_mean"] if stats["tokens_in_mean"] is not None else float("inf")
        return (-rate, tokens, name)

    return sorted(frameworks, key=key)
