"""Each framework's own token accounting checked against the model gateway's.

A build returns, per turn, the usage its framework reports (``contract.Usage``: its run result's usage, a
callback, a handler). The gateway saw every model call of the turn and counted its tokens from the upstream's
``usage`` (or, with the scripted model, with tiktoken cl100k, the very counts the scripted replies carry in
their ``usage``, so both sides use one tokenizer). Over the turns a framework reported, this compares the two:
input and output tokens, their ratios, and the model calls each side saw. A framework whose reported tokens
are off by more than :data:`TOLERANCE` is named as under- or over-counting; one that never reports is
"no usage reported" (its framework offers no accounting, or the build does not read it; the module docstring
of the build says which).

Only completed trials count, and only turns that ran to an answer (a turn that raised reports nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from benchmark.records import TrialRecord

TOLERANCE = 0.01  # reported vs measured tokens: within 1 % is exact enough to build a budget on

Verdict = Literal["exact", "within 1%", "under-counts", "over-counts", "no usage reported"]


class UsageAccounting(BaseModel):
    turns: int = Field(description="Turns that ran to an answer, in completed trials.")
    reported_turns: int = Field(description="Of them, turns the framework reported usage for.")
    sources: list[str] = Field(description="The framework APIs the build read the usage from.")
    input_reported: int
    input_measured: int = Field(description="The gateway's input tokens over the reported turns.")
    input_ratio: float | None = Field(description="Reported over measured; None: nothing measured.")
    output_reported: int
    output_measured: int
    output_ratio: float | None
    calls_reported: int | None = Field(description="Model calls the framework says it made; None: it never says.")
    calls_measured: int = Field(description="Model calls the gateway answered (HTTP 200) in the reported turns.")
    verdict: Verdict


def _ratio(reported: int, measured: int) -> float | None:
    return round(reported / measured, 4) if measured else None


def _verdict(pairs: Sequence[tuple[int, int]]) -> Verdict:
    if all(reported == measured for reported, measured in pairs):
        return "exact"
    ratios = [reported / measured for reported, measured in pairs if measured]
    if ratios and all(abs(r - 1) <= TOLERANCE for r in ratios):
        return "within 1%"
    worst = max(ratios or [0.0], key=lambda r: abs(r - 1))
    return "under-counts" if worst < 1 else "over-counts"


def usage_accounting(trials: Sequence[TrialRecord]) -> UsageAccounting | None:
    """The framework's reported usage against the gateway's, over its completed trials; None without any."""
    done = [t for t in trials if t.status == "completed"]
    if not done:
        return None
    turns = 0
    reported_turns = 0
    sources: set[str] = set()
    input_reported = input_measured = output_reported = output_measured = calls_measured = 0
    calls_reported: int | None = None
    for trial in done:
        for turn in trial.turns:
            if turn.error is not None:
                continue
            turns += 1
            usage = turn.reported_usage
            if usage is None:
                continue
            reported_turns += 1
            if usage.source:
                sources.add(usage.source)
            calls = [m for m in trial.model_calls if m.turn == turn.index]
            input_reported += usage.input_tokens
            output_reported += usage.output_tokens
            input_measured += sum(m.input_tokens for m in calls)
            output_measured += sum(m.output_tokens for m in calls)
            calls_measured += sum(1 for m in calls if m.status == 200)
            if usage.calls is not None:
                calls_reported = (calls_reported or 0) + usage.calls
    verdict: Verdict = (
        _verdict([(input_reported, input_measured), (output_reported, output_measured)])
        if reported_turns
        else "no usage reported"
    )
    return UsageAccounting(
        turns=turns,
        reported_turns=reported_turns,
        sources=sorted(sources),
        input_reported=input_reported,
        input_measured=input_measured,
        input_ratio=_ratio(input_reported, input_measured),
        output_reported=output_reported,
        output_measured=output_measured,
        output_ratio=_ratio(output_reported, output_measured),
        calls_reported=calls_reported,
        calls_measured=calls_measured,
        verdict=verdict,
    )
