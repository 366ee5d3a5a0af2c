"""Turning what a trial produced (the worker's report, the gateway's records, the server's usage rows) into
its scored line of ``results.jsonl``, with the outcome class of a faulted trial (resilience suite)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from typing import Any

from benchmark.gateway import CallRecord
from benchmark.profiles import ModelProfile
from benchmark.records import ModelCall, ToolCall, TrialRecord, TurnOutcome, WorkerInfo
from benchmark.runner.model_gateway import answering_at_end, cut_off_message, infra_message, model_calls
from benchmark.runner.plan import PlannedTrial
from benchmark.runner.protocol import TrialReport
from benchmark.scoring.aggregate import combine_sources
from benchmark.scoring.resilience import resilience_of
from benchmark.scoring.trial import score_trial


def tool_calls(rows: Sequence[dict[str, Any]], turns: Sequence[TurnOutcome]) -> list[ToolCall]:
    """The server's rows, each assigned to the turn that was running when the call reached the server (as
    model calls are): the last turn started at or before the row's ``started_at``."""
    starts = [t.started_at for t in turns]
    calls = []
    for row in rows:
        position = max(0, bisect.bisect_right(starts, float(row.get("started_at") or 0.0)) - 1)
        turn = turns[position].index if turns else 0
        calls.append(
            ToolCall(
                turn=turn,
                tool=str(row["tool"]),
                arguments=row.get("arguments"),
                outcome=str(row.get("outcome", "")),
                error_code=row.get("error_code"),
                latency_ms=row.get("latency_ms"),
                fault=row.get("fault"),
                started_at=row.get("started_at"),
            )
        )
    return calls


def busy_seconds(calls: Sequence[ModelCall]) -> float:
    """Time with at least one model call in flight (overlapping calls count once)."""
    spans = sorted((c.started_at, c.started_at + c.latency_s) for c in calls)
    total, current_start, current_end = 0.0, None, None
    for start, end in spans:
        if current_end is None or start > current_end:
            if current_start is not None and current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None and current_end is not None:
        total += current_end - current_start
    return total


def cut_short_verdict(
    why: str, calls: Sequence[CallRecord], usage_rows: Sequence[dict[str, Any]], timed_out: bool
) -> tuple[str | None, str | None]:
    """(build failure, infrastructure error) of a trial whose worker gave no report (``why``: timed out or
    crashed): exactly one of them is set.

    Infrastructure errors are only what the harness or the upstream did wrong. A trial cut short while the
    model was answering (typically a build that never caps its output) is the build's failure, recorded with
    the partial call; so is a build that hung or died with nothing in flight. A timeout while the MCP server
    was still running one of the trial's tool calls is the server's, so the infrastructure's."""
    answering = answering_at_end(calls)
    if answering is not None:
        return f"{why}: {cut_off_message(answering)}", None
    running = next((row for row in usage_rows if row.get("outcome") == "running"), None)
    if timed_out and running is not None:
        return None, f"{why}: the MCP server was still running the tool call {running.get('tool')}"
    return f"{why}, with no model or tool call in flight", None


def trial_record(
    planned: PlannedTrial,
    *,
    started_at: float,
    report: TrialReport | None,
    calls: Sequence[CallRecord],
    usage_rows: Sequence[dict[str, Any]],
    profile: ModelProfile,
    worker: WorkerInfo | None,
    infra_error: str | None = None,
    cut_short: str | None = None,
    timed_out: bool = False,
) -> TrialRecord:
    """The scored record. ``report`` is None when the worker crashed or timed out (``cut_short`` says how;
    :func:`cut_short_verdict` decides whose failure it was) or never ran the trial (``infra_error``)."""
    turns = report.turns if report is not None else []
    model = model_calls(calls, [t.started_at for t in turns])
    tools = tool_calls(usage_rows, turns)
    cut_failure = None
    if cut_short is not None and infra_error is None:
        cut_failure, infra_error = cut_short_verdict(cut_short, calls, usage_rows, timed_out)
    infra_error = infra_error or infra_message(calls)
    tokens_in = sum(c.input_tokens for c in model)
    tokens_out = sum(c.output_tokens for c in model)
    model_time = busy_seconds(model)
    retry_wait = sum(c.retry_wait_s for c in model)  # the gateway's back-off: neither model nor framework time
    tool_time = sum((c.latency_ms or 0.0) for c in tools) / 1000
    wall = report.wall_s if report is not None else time.time() - started_at
    build_error = cut_failure
    if report is not None:  # all of the trial, or the segments before a restarted worker crashed or hung
        errors = [report.start_error and f"start: {report.start_error}"]
        errors += [f"turn {t.index + 1}: {t.error}" for t in turns if t.error]
        errors += [report.close_error and f"close: {report.close_error}", cut_failure]
        build_error = "; ".join(e for e in errors if e) or None
    score = None
    if report is not None:
        score = score_trial(planned.task, turns, tools, report.start_error)
        if cut_failure is not None and not score.passed:
            score = score.model_copy(update={"reason": cut_failure})
    elif cut_failure is not None:
        score = score_trial(planned.task, [], tools).model_copy(update={"reason": cut_failure})
    record = TrialRecord(
        trial_id=planned.trial_id,
        framework=planned.framework,
        task_id=planned.task.id,
        category=planned.task.category,
        repeat=planned.repeat,
        status="infra_error" if infra_error else "completed",
        infra_error=infra_error,
        build_error=build_error,
        started_at=started_at,
        wall_s=round(wall, 6),
        turns=list(turns),
        model_calls=model,
        tool_calls=tools,
        score=score,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        tokens_source=combine_sources(c.tokens_source for c in model),
        model_time_s=round(model_time, 6),
        tool_time_s=round(tool_time, 6),
        overhead_s=round(wall - model_time - tool_time - retry_wait, 6),
        cost_usd=profile.cost(tokens_in, tokens_out),
        worker=worker if worker is None else worker.model_copy(update={"peak_rss_mb": _peak(worker, report)}),
    )
    if planned.task.fault is None:
        return record
    return record.model_copy(update={"resilience": resilience_of(planned.task, record, timed_out=timed_out)})


def merged_report(trial_id: str, reports: Sequence[TrialReport]) -> TrialReport | None:
    """One report for a trial run in segments (a worker per segment, restarted between them): the turns in
    order, the first start error, every close error, the walls added, the highest peak memory. None when no
    segment reported (the first worker crashed or hung)."""
    if not reports:
        return None
    start_errors = [r.start_error for r in reports if r.start_error]
    close_errors = [r.close_error for r in reports if r.close_error]
    return TrialReport(
        trial_id=trial_id,
        turns=[turn for r in reports for turn in r.turns],
        start_error=start_errors[0] if start_errors else None,
        close_error="; ".join(close_errors) or None,
        wall_s=round(sum(r.wall_s for r in reports), 6),
        peak_rss_mb=max(r.peak_rss_mb for r in reports),
    )


def _peak(worker: WorkerInfo, report: TrialReport | None) -> float:
    return max(worker.peak_rss_mb, report.peak_rss_mb if report is not None else 0.0)
