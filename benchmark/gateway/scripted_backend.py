"""The offline backend: the scripted model answers each trial's calls from its registered task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from benchmark.gateway.backend import Call, JsonReply, StreamReply
from benchmark.gateway.completions import (
    SSE_DONE,
    ToolCallOut,
    Usage,
    completion_body,
    completion_chunks,
    sse,
)
from benchmark.gateway.errors import GatewayError
from benchmark.gateway.tokens import completion_tokens, prompt_tokens
from benchmark.scripted import reply
from benchmark.spec import SystemSpec

SCRIPTED_MODEL = "afbench-scripted"


class ScriptedBackend:
    kind = "scripted"

    def __init__(self, spec: SystemSpec | None = None) -> None:
        self.spec = spec

    def _answer(self, call: Call) -> tuple[str | None, list[ToolCallOut], str, Usage]:
        assert call.task is not None
        answer = reply(call.task, call.request.body, self.spec)
        calls = [ToolCallOut(c.id, c.name, c.arguments) for c in answer.tool_calls]
        usage = Usage(
            prompt_tokens(call.request.messages, call.request.tools), completion_tokens(answer.content, calls)
        )
        return answer.content, calls, answer.finish_reason, usage

    async def respond(self, call: Call) -> JsonReply | StreamReply:
        if call.task is None:
            raise GatewayError(
                404,
                "the scripted backend answers only trial calls: use /t/<trial-id>/v1/... for a registered trial",
                code="trial_required",
            )
        # Counting tokens of long histories is CPU work: keep it off the loop serving other trials.
        content, calls, finish_reason, usage = await asyncio.to_thread(self._answer, call)
        call.record.set_reply(content, calls, finish_reason)
        call.record.set_tokens(usage.prompt_tokens, usage.completion_tokens, "counted")
        model = call.request.model
        if not call.request.stream:
            return JsonReply(200, completion_body(model, content, calls, finish_reason, usage))
        chunks = completion_chunks(model, content, calls, finish_reason, usage, call.request.include_usage)

        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield sse(chunk)
            yield SSE_DONE

        return StreamReply(stream())

    async def aclose(self) -> None:
        return None
