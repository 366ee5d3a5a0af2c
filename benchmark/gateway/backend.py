"""The one interface behind the gateway: a backend answers a validated call, filling in its record.

A backend returns either a whole JSON body with a status, or a stream of SSE bytes (which it must finish
recording by the time the stream ends or is closed). The gateway does the routing, validation, trial
bookkeeping, cancelling when a trial ends, and sealing of records; backends only answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from benchmark.gateway.chat_request import ChatRequest
from benchmark.gateway.records import Recorder
from benchmark.tasks.models import Task


@dataclass(frozen=True)
class Call:
    request: ChatRequest
    trial_id: str | None
    task: Task | None  # what the runner registered for the trial; None on the plain /v1 routes
    record: Recorder


@dataclass(frozen=True)
class JsonReply:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamReply:
    chunks: AsyncIterator[bytes]  # SSE lines, ``data: [DONE]`` included


class Backend(Protocol):
    kind: str

    async def respond(self, call: Call) -> JsonReply | StreamReply:
        """Answer ``call``; raise GatewayError for a request this backend cannot take.

        The gateway may cancel the answer (the trial ended): a backend closes what it opened on the way out
        and records what it had received by then."""
        ...

    async def aclose(self) -> None:
        """Release connections; called when the gateway's server stops."""
        ...
