"""The runner's one link to the model gateway (:mod:`benchmark.gateway`): check a profile's endpoint, start
the gateway for it, register trials, hand builds their endpoint, end trials, and turn the gateway's call
records into the trial's model calls.

The gateway is served from a thread of the runner's own process, so its records are read in memory.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType

from benchmark.contract import ModelEndpoint
from benchmark.gateway import CallRecord, Gateway, GatewayServer, ScriptedBackend, UpstreamBackend, check_upstream
from benchmark.gateway.backend import Backend
from benchmark.gateway.upstream import DEFAULT_UPSTREAM_POLICY
from benchmark.profiles import ModelProfile
from benchmark.records import ModelCall
from benchmark.tasks.models import Task

SETTLE_MAX_S = 2.0
# The builds' model-client timeout (contract.ModelEndpoint.timeout_s). The scripted model answers in
# milliseconds, so 10 s without a byte is a stall. An upstream model may generate for minutes: the client waits
# past the gateway's own upstream timeout, whose 504 (marked not to be retried) then arrives first, so a slow
# generation is never re-sent by the client.
SCRIPTED_CLIENT_TIMEOUT_S = 10.0
UPSTREAM_CLIENT_MARGIN_S = 10.0


def check_endpoint(profile: ModelProfile) -> str | None:
    """What stops the profile's model from being used, in one line naming its URL, or None when it answers.

    One cheap request (``GET {base_url}/models`` with the key, 5 s, no retries; see
    :func:`benchmark.gateway.upstream.check_upstream` for how a 404 is told apart from a wrong base URL). The
    scripted model is always there. Blocks for up to a few seconds: from async code, run it in a thread.
    Raises ProfileError when the profile needs a key that is not set.
    """
    if profile.backend == "scripted":
        return None
    assert profile.base_url is not None  # the profile model requires it for upstream
    return check_upstream(profile.base_url, profile.api_key())


class ModelGateway:
    """``with ModelGateway(profile) as gateway:`` serves the profile's model at ``gateway.base_url``."""

    def __init__(self, profile: ModelProfile) -> None:
        self.profile = profile
        backend: Backend
        if profile.backend == "scripted":
            backend = ScriptedBackend()
        else:
            assert profile.base_url is not None  # the profile model requires it for upstream
            backend = UpstreamBackend(profile.base_url, profile.api_key())
        self.gateway = Gateway(backend, models=[profile.model])
        self.server = GatewayServer(self.gateway)
        self.client_timeout_s = (
            SCRIPTED_CLIENT_TIMEOUT_S
            if profile.backend == "scripted"
            else DEFAULT_UPSTREAM_POLICY.timeout_s + UPSTREAM_CLIENT_MARGIN_S
        )

    def start(self) -> ModelGateway:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> ModelGateway:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def endpoint(self, trial_id: str) -> ModelEndpoint:
        return replace(self.server.model_endpoint(trial_id, self.profile.model), timeout_s=self.client_timeout_s)

    def register(self, trial_id: str, task: Task) -> None:
        self.gateway.register_trial(trial_id, task)

    def forget(self, trial_id: str) -> None:
        self.gateway.forget_trial(trial_id)

    async def end_trial(self, trial_id: str, *, grace_s: float = SETTLE_MAX_S) -> list[CallRecord]:
        """End the trial at the gateway and return all its records, in order.

        Call it once the build's conversation is over (the worker answered, timed out or crashed), before
        the next trial on the worker starts. A call may still be open for a moment (a stream's record is
        sealed just after its last byte): up to ``grace_s`` is given to finish. After that, every call still
        open is cancelled upstream (its connection closed, so the model server stops generating and the
        next trial does not queue behind it) and recorded as partial: ``cut_off == "trial_end"``, status 499,
        the content and tokens received so far, the latency so far. After a timeout or a crash nothing more
        will finish, so ``grace_s=0``."""
        return await asyncio.to_thread(self.gateway.end_trial, trial_id, grace_s)


def is_infra_failure(record: CallRecord) -> bool:
    """The gateway or the upstream failed (after retries) or refused the harness's key: not the framework's doing.

    A model still answering when the gateway's upstream timeout or the trial's end came is not: the upstream
    had taken the request and was generating (typically a build that never caps its output). Nor is a failure
    the gateway injected on purpose (the task's fault): how the build copes with it is what the trial measures."""
    if record.cut_off in ("upstream_timeout", "trial_end") or record.fault is not None:
        return False
    return record.infrastructure_error or record.status >= 500 or record.status in (401, 403)


def answering_at_end(records: Sequence[CallRecord]) -> CallRecord | None:
    """The call the model was still answering when the trial was cut short (timed out, worker crashed), or None.

    That is a call still open when the runner ended the trial (``cut_off == "trial_end"``), or else a last
    call whose stream its client left midway (``"client_closed"``): a killed worker's streams close with it,
    before the runner gets to end the trial. Ask it about a trial that was cut short: in one that finished,
    a last stream left midway is the framework's own doing."""
    cut = next((record for record in records if record.cut_off == "trial_end"), None)
    if cut is not None or not records:
        return cut
    last = max(records, key=lambda record: record.sequence)
    return last if last.cut_off == "client_closed" else None


def cut_off_message(record: CallRecord) -> str:
    """One line for a trial that ended inside a model call: which call, how long, how much had arrived."""
    received = f"{record.output_tokens} output tokens so far" if record.tokens_source != "none" else "no reply yet"
    return (
        f"the trial ended while the model was answering call {record.sequence} "
        f"({record.latency_s:.1f} s into it, {received})"
    )


def model_calls(records: Sequence[CallRecord], turn_starts: Sequence[float]) -> list[ModelCall]:
    """The trial's calls, each assigned to the turn that was running when it arrived."""
    calls = []
    for record in records:
        turn = max(0, bisect.bisect_right(list(turn_starts), record.started_at) - 1)
        calls.append(
            ModelCall(
                sequence=record.sequence,
                turn=turn,
                started_at=record.started_at,
                latency_s=round(record.latency_s, 6),
                retry_wait_s=round(record.retry_wait_s, 6),
                input_tokens=record.input_tokens,
                output_tokens=record.output_tokens,
                tokens_source=record.tokens_source,
                tool_calls=[call.name for call in record.tool_calls],
                tool_arguments=[call.arguments for call in record.tool_calls],
                status=record.status,
                error=record.error.message if record.error else None,
                infra_error=is_infra_failure(record),
                retries=sum(1 for event in record.infrastructure if event.kind == "retry"),
                cut_off=record.cut_off,
                tools_offered=list(record.tools_offered),
                temperature=record.temperature,
                max_tokens=record.max_tokens,
                max_completion_tokens=record.max_completion_tokens,
                parallel_tool_calls=record.parallel_tool_calls,
                fault=record.fault,
            )
        )
    return calls


def infra_message(records: Sequence[CallRecord]) -> str | None:
    """What the first infrastructure failure among the calls was, or None."""
    for record in records:
        if is_infra_failure(record):
            events = [e.message for e in record.infrastructure if e.kind == "error"]
            detail = events[0] if events else record.error.message if record.error else f"HTTP {record.status}"
            return f"model gateway call {record.sequence} failed (HTTP {record.status}): {detail}"
    return None
