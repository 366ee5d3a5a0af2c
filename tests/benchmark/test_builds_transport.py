"""Every framework build's model client against a misbehaving model endpoint, end to end (the path ``afbench
run --suite resilience`` takes, two of its tasks): the framework's default retries get it past an HTTP 429 with
``Retry-After``, and the harness's client timeout (``ModelEndpoint.timeout_s``) reaches it, so a stream that
goes silent ends with the client giving up, never with the trial hanging until its own timeout. Whether the
build then recovers, raises or owns up is the framework's behaviour, measured by the suite, not asserted here.

One run of every build makes both trials (the slowest thing here; two lanes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.plugins import available_frameworks
from benchmark.profiles import resolve_profile
from benchmark.records import TrialRecord
from benchmark.runner.run import RunRequest, run_benchmark
from benchmark.tasks import Suite, load_suite, suite_yaml

pytestmark = pytest.mark.e2e

RATE_LIMITED = "fault-http-429-guardrail"
STALLED = "fault-stalled-stream-specialist"
TRIAL_TIMEOUT_S = 60.0  # the scripted client timeout (10 s) and a retry fit well inside it

_TRIALS: dict[tuple[str, str], TrialRecord] = {}


async def transport_trials(tmp_path: Path) -> dict[tuple[str, str], TrialRecord]:
    """(framework, task id) → the trial, from one run of every build on the two bundled resilience tasks."""
    if not _TRIALS:
        bundled = load_suite("resilience")
        suite = Suite(name="transport", tasks=[t for t in bundled.tasks if t.id in (RATE_LIMITED, STALLED)])
        path = tmp_path / "transport.yaml"
        path.write_text(suite_yaml(suite), encoding="utf-8")
        request = RunRequest(
            frameworks=available_frameworks(),
            suite=path,
            profile=resolve_profile("scripted"),
            concurrency=2,
            timeout_s=TRIAL_TIMEOUT_S,
            out_dir=tmp_path / "run",
        )
        outcome = await run_benchmark(request, progress=False)
        _TRIALS.update({(t.framework, t.task_id): t for t in outcome.trials})
    return _TRIALS


@pytest.mark.parametrize("framework", available_frameworks())
async def test_the_frameworks_default_retries_get_past_a_rate_limit(framework: str, tmp_path: Path) -> None:
    trial = (await transport_trials(tmp_path))[(framework, RATE_LIMITED)]
    faulted = [call for call in trial.model_calls if call.fault == "http_429"]
    assert len(faulted) == 1, f"{trial.trial_id}: the 429 should be injected once, got {len(faulted)}"
    assert trial.resilience is not None and trial.resilience.outcome == "recovered", trial.resilience


@pytest.mark.parametrize("framework", available_frameworks())
async def test_the_client_timeout_ends_a_stalled_stream_before_the_trial_times_out(
    framework: str, tmp_path: Path
) -> None:
    trial = (await transport_trials(tmp_path))[(framework, STALLED)]
    stalled = [call for call in trial.model_calls if call.fault == "stalled_stream"]
    assert len(stalled) == 1, f"{trial.trial_id}: the stall should be injected once, got {len(stalled)}"
    assert stalled[0].cut_off == "client_closed", f"{trial.trial_id}: the client never gave up on the stall"
    assert trial.resilience is not None and trial.resilience.outcome != "hung", trial.resilience
    assert trial.wall_s < TRIAL_TIMEOUT_S / 2, f"{trial.trial_id}: {trial.wall_s:.1f} s"
