"""Scoring one trial: each turn's route, answer checks and expected tool calls, against the server's log.

A trial passes when every turn ran without the build raising, was routed as expected (a guardrail refusal
is the route ``refused``), passes every answer check, and made every expected tool call (recall 1.0). Extra
calls lower precision but do not fail the trial; calls to a turn's ``allowed_calls`` tools count neither
way. The reason of a failure is the first failing check, in the order: the build's error, the route, the
tool calls, the answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmark.records import ToolCall, TrialScore, TurnOutcome, TurnScore
from benchmark.scoring.answers import check_answer
from benchmark.scoring.tool_calls import LoggedCall, describe_expected, match_calls
from benchmark.spec import GUARDRAIL, REFUSED
from benchmark.tasks.models import Task, Turn


def route_of(agent: str) -> str:
    """The route a TurnResult.agent stands for: the guardrail's refusals are the route ``refused``."""
    return REFUSED if agent == GUARDRAIL else agent


def _score_turn(index: int, turn: Turn, outcome: TurnOutcome | None, calls: Sequence[ToolCall]) -> TurnScore:
    logged = [LoggedCall(c.tool, c.arguments) for c in calls]
    match = match_calls(turn.expect.tool_calls, logged, turn.expect.ordered)
    matched_logged = {a for _, a in match.pairs}
    missing = [describe_expected(turn.expect.tool_calls[i]) for i in match.missing()]
    allowed = set(turn.expect.allowed_calls)
    extra = [logged[i].tool for i in range(len(logged)) if i not in matched_logged and logged[i].tool not in allowed]
    counted = match.matched + len(extra)  # the calls precision is over: allowed extra calls are left out
    answered = outcome is not None and outcome.error is None
    route = route_of(outcome.agent) if outcome is not None and answered else None
    route_ok = route == turn.expect.route
    checks = [check_answer(check, outcome.text) for check in turn.expect.answer] if outcome and answered else []
    return TurnScore(
        index=index,
        route_expected=turn.expect.route,
        route_actual=route,
        route_ok=route_ok,
        answer_checks=checks,
        calls_expected=match.expected,
        calls_actual=counted,
        calls_matched=match.matched,
        missing_calls=missing,
        extra_calls=extra,
        ran=outcome is not None,
        passed=answered and route_ok and all(c.ok for c in checks) and not missing,
    )


def _reason(task: Task, turns: Sequence[TurnScore], outcomes: Sequence[TurnOutcome], start_error: str | None) -> str:
    if start_error is not None:
        return f"the build failed to start: {start_error}"
    for score in turns:
        where = f"turn {score.index + 1}"
        if not score.ran:
            return f"{where}: not run"
        outcome = outcomes[score.index]
        if outcome.error is not None:
            return f"{where}: the build raised {outcome.error}"
        if not score.route_ok:
            return f"{where}: routed to {score.route_actual or 'nothing'}, expected {score.route_expected}"
        if score.missing_calls:
            made = f" (made: {', '.join(score.extra_calls)})" if score.extra_calls else " (no other tool calls)"
            return f"{where}: missing tool call {score.missing_calls[0]}{made}"
        for check in score.answer_checks:
            if not check.ok:
                detail = f" ({check.detail})" if check.detail else ""
                return f"{where}: answer check {check.kind} {check.expected!r} failed{detail}"
    return f"task {task.id}: failed"


def score_trial(
    task: Task, outcomes: Sequence[TurnOutcome], tool_calls: Sequence[ToolCall], start_error: str | None = None
) -> TrialScore:
    """Score the turns a build ran (fewer than the task's when it raised, none when it failed to start)."""
    turns = [
        _score_turn(
            index,
            turn,
            outcomes[index] if index < len(outcomes) else None,
            [c for c in tool_calls if c.turn == index],
        )
        for index, turn in enumerate(task.turns)
    ]
    passed = all(t.passed for t in turns) and start_error is None
    reason = None if passed else _reason(task, turns, outcomes, start_error)
    return TrialScore(passed=passed, reason=reason, turns=turns)
