"""The runner's one link to the model gateway (:mod:`benchmark.gateway`): start it for a profile, register
trials, hand builds their endpoint, and turn the gateway's call records into the trial's model calls.

The gateway is served from a thread of the runner's own process, so its records are read in memory.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from types import TracebackType

from benchmark.contract import ModelEndpoint
from benchmark.gateway import CallRecord, Gateway, GatewayServer, ScriptedBackend, UpstreamBackend
from benchmark.gateway.backend import Backend
from benchmark.profiles import ModelProfile
from benchmark.records import ModelCall
from benchmark.tasks.models import Task

SETTLE_MAX_S = 2.0


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
        return self.server.model_endpoint(trial_id, self.profile.model)

    def register(self, trial_id: str, task: Task) -> None:
        self.gateway.register_trial(trial_id, task)

    def forget(self, trial_id: str) -> None:
        self.gateway.forget_trial(trial_id)

    async def collect(self, trial_id: str) -> list[CallRecord]:
        """The trial's records once none is still open.

        Called after the build's conversation ended, so every call it made has reached the gateway; one may
        still be open for a moment (a stream's record is sealed just after its last byte, an abandoned
        stream when the relay notices)."""
        await asyncio.to_thread(self.gateway.wait_sealed, trial_id, SETTLE_MAX_S)
        return self.gateway.calls(trial_id)


def is_infra_failure(record: CallRecord) -> bool:
    """The gateway or the upstream failed (after retries) or refused the harness's key: not the framework's doing."""
    return record.infrastructure_error or record.status >= 500 or record.status in (401, 403)


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
                input_tokens=record.input_tokens,
                output_tokens=record.output_tokens,
                tokens_source=record.tokens_source,
                tool_calls=[call.name for call in record.tool_calls],
                status=record.status,
                error=record.error.message if record.error else None,
                infra_error=is_infra_failure(record),
                retries=sum(1 for event in record.infrastructure if event.kind == "retry"),
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
