"""Every build sends the spec's generation settings on every model call, as the gateway recorded the requests.

Checked from the outside, on each build's smoke run (shared with ``test_builds``): whatever the framework does
inside, each request that reached the gateway carried the spec's temperature, its output cap (``max_tokens`` or
``max_completion_tokens``, whichever the framework sends) and, on requests that offer tools, its
``parallel_tool_calls``; a request without tools carries no ``parallel_tool_calls``, which OpenAI rejects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmark.plugins import available_frameworks
from benchmark.records import ModelCall
from benchmark.spec import GenerationSettings
from benchmark.system import default_spec
from tests.benchmark.test_builds import smoke_run

pytestmark = pytest.mark.e2e


def departures(call: ModelCall, generation: GenerationSettings) -> dict[str, Any]:
    """What this request sent that the spec does not ask for (or did not send that it does), by setting."""
    wrong: dict[str, Any] = {}
    if call.temperature != generation.temperature:
        wrong["temperature"] = call.temperature
    caps = {"max_tokens": call.max_tokens, "max_completion_tokens": call.max_completion_tokens}
    sent = {name: cap for name, cap in caps.items() if cap is not None}
    if not sent or set(sent.values()) != {generation.max_output_tokens}:
        wrong["output cap"] = sent or None
    expected = generation.parallel_tool_calls if call.tools_offered else None
    if call.parallel_tool_calls != expected:
        wrong["parallel_tool_calls"] = call.parallel_tool_calls
    return wrong


@pytest.mark.parametrize("framework", available_frameworks())
async def test_every_model_call_sends_the_spec_generation_settings(framework: str, tmp_path: Path) -> None:
    generation = default_spec().generation
    outcome = await smoke_run(framework, tmp_path)
    calls = [(trial.trial_id, call) for trial in outcome.trials for call in trial.model_calls]
    assert calls, f"{framework}: no model call reached the gateway"
    assert any(call.tools_offered for _, call in calls), "the smoke suite offers tools; none were recorded"
    wrong = {
        f"{trial_id} call {call.sequence}": found for trial_id, call in calls if (found := departures(call, generation))
    }
    assert wrong == {}, f"{framework}: requests that did not carry the spec's {generation}"
