"""Transport faults: one model call's HTTP exchange broken the way hosted APIs and local servers break it.

- ``http_429``: status 429 with ``Retry-After: 1`` and OpenAI's rate-limit error body (the openai package
  and most clients wait that long and retry);
- ``http_500`` / ``http_503``: OpenAI's server-error and overloaded bodies (clients retry these too);
- ``connection_reset``: the connection closed with a TCP reset before any byte of an answer (the client sees
  ``ECONNRESET`` / "server disconnected"); the record's status is 499, as for any call left unanswered;
- ``stalled_stream``: a streamed reply that sends its first two events (the assistant role, the first piece
  of text or the call's name) and then nothing, never ending; a non-streamed request gets no answer at all.
  Either waits until the client gives up (recorded ``client_closed``) or the trial ends (``trial_end``).

None of them reaches the backend except the stalled stream, which needs the first events of the real reply.
The messages say the fault was injected, so a build that shows the error text shows where it came from.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from benchmark.gateway.backend import JsonReply, StreamReply
from benchmark.gateway.completions import Observed, sse_data
from benchmark.gateway.errors import error_body
from benchmark.gateway.flights import close_stream
from benchmark.gateway.records import CLIENT_CLOSED, Recorder
from benchmark.gateway.tokens import completion_tokens

RETRY_AFTER_S = 1
STALL_AFTER_EVENTS = 2
RESET_MESSAGE = "injected fault connection_reset: the gateway closed the connection without an answer"
STALL_MESSAGE = "injected fault stalled_stream: the gateway never answered; the client gave up"

_HTTP_ERRORS: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "http_429": (
        429,
        error_body(
            f"Rate limit reached for requests (injected fault http_429). Please try again in {RETRY_AFTER_S}s.",
            "requests",
            code="rate_limit_exceeded",
        ),
        {"Retry-After": str(RETRY_AFTER_S)},
    ),
    "http_500": (
        500,
        error_body("The server had an error while processing your request (injected fault http_500).", "server_error"),
        {},
    ),
    "http_503": (
        503,
        error_body(
            "The engine is currently overloaded, please try again later (injected fault http_503).",
            "server_error",
            code="overloaded",
        ),
        {},
    ),
}


def http_error(kind: str) -> JsonReply:
    status, body, headers = _HTTP_ERRORS[kind]
    return JsonReply(status, body, headers)


class ResetUnavailable(RuntimeError):
    """The ASGI server does not expose its connection, so it cannot be reset."""


async def reset_connection(request: Request) -> None:
    """Close the request's connection with a TCP reset, answering nothing.

    ASGI has no way to drop a connection unanswered (a server answers 500 to an app that sends nothing), so
    this reaches for the transport behind the request's ``receive`` channel, which uvicorn (the server the
    gateway runs on) keeps on its request cycle. A linger time of 0 makes the close a reset, as when a
    server process dies or a proxy drops the connection."""
    owner = getattr(request.receive, "__self__", None)
    transport: Any = getattr(owner, "transport", None)
    if (
        transport is None
        or not callable(getattr(transport, "abort", None))
        or not callable(getattr(transport, "get_extra_info", None))
    ):
        raise ResetUnavailable("connection_reset needs the uvicorn server, whose request cycle holds the transport")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await asyncio.sleep(0)  # let the server see the connection lost, so it sends nothing after


async def no_answer(request: Request, record: Recorder) -> JsonReply:
    """A non-streamed stall: wait until the client leaves (the trial's end cancels this instead)."""
    while (await request.receive()).get("type") != "http.disconnect":
        pass
    record.cut("client_closed", CLIENT_CLOSED, STALL_MESSAGE)
    return JsonReply(CLIENT_CLOSED, error_body(STALL_MESSAGE, "stalled"))


def stalled(answer: JsonReply | StreamReply, record: Recorder) -> JsonReply | StreamReply:
    """The backend's stream cut to its first events, then silence until the client or the trial ends it."""
    if isinstance(answer, JsonReply):
        return answer  # an error answer: nothing to stall

    async def chunks() -> AsyncIterator[bytes]:
        observed, events = Observed(), 0
        try:
            async for chunk in answer.chunks:
                if events >= STALL_AFTER_EVENTS:
                    break
                for line in chunk.decode("utf-8", errors="replace").splitlines():
                    data = sse_data(line)
                    if data is not None:
                        observed.feed_chunk(data)
                        events += 1
                yield chunk
            await asyncio.Event().wait()  # never set: the stream stalls
        finally:
            await close_stream(answer.chunks)
            # What was sent, not the whole reply the backend made.
            content, calls = observed.content or None, observed.calls()
            record.set_reply(content, calls, observed.finish_reason)
            if record.tokens_source != "none":
                record.set_tokens(record.input_tokens, completion_tokens(content, calls), record.tokens_source)

    return StreamReply(chunks())
