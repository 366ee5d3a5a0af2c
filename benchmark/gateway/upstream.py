"""The upstream backend: forward calls to any OpenAI-compatible server (hosted API, vLLM, Ollama, llama.cpp).

Requests go through as sent (``model`` replaced only when an override is configured), streams are relayed
line by line as they arrive. Connection errors, timeouts, 429 and 5xx are retried with exponential backoff,
honouring ``Retry-After``/``retry-after-ms`` up to the policy's ceiling; each retry is an infrastructure
event in the call's record. When retries run out, the caller gets the upstream's own status and error body
(or a 502 naming the connection failure), and the record says it was the infrastructure that failed.
Retries happen only before the first byte reaches the framework: a stream cut midway ends with an
``error`` event, never a silent replay.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from benchmark.gateway.backend import Call, JsonReply, StreamReply
from benchmark.gateway.completions import Observed, Usage
from benchmark.gateway.errors import error_body
from benchmark.gateway.tokens import completion_tokens, prompt_tokens
from tools._http import RETRY_STATUSES, RetryPolicy, retry_after, user_agent

DEFAULT_UPSTREAM_POLICY = RetryPolicy(attempts=4, backoff_s=1.0, max_backoff_s=30.0, timeout_s=120.0)


def _wait_hint(response: httpx.Response) -> float | None:
    millis = response.headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return retry_after(response)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason_phrase)[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
    return json.dumps(body)[:300]


def _error_body(response: httpx.Response) -> dict[str, Any]:
    """The upstream's error body when it is OpenAI-shaped, else one in that shape carrying its message."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body
    return error_body(f"upstream answered HTTP {response.status_code}: {_error_message(response)}", "upstream_error")


class UpstreamBackend:
    kind = "upstream"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        model: str | None = None,
        policy: RetryPolicy = DEFAULT_UPSTREAM_POLICY,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.policy = policy
        self._headers = {"User-Agent": user_agent(), **(headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # Created on first use so it belongs to the event loop that serves the gateway.
        if self._client is None:
            timeout = httpx.Timeout(self.policy.timeout_s, connect=min(10.0, self.policy.timeout_s))
            self._client = httpx.AsyncClient(timeout=timeout, headers=self._headers)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def respond(self, call: Call) -> JsonReply | StreamReply:
        body = dict(call.request.body)
        if self.model:
            body["model"] = self.model
        policy, record = self.policy, call.record
        for attempt in range(1, policy.attempts + 1):
            delay = min(policy.max_backoff_s, policy.backoff_s * 2 ** (attempt - 1))
            last = attempt == policy.attempts
            try:
                request = self._http().build_request("POST", self.url, json=body)
                response = await self._http().send(request, stream=True)
            except httpx.HTTPError as exc:
                problem = f"upstream connection failed: {exc.__class__.__name__}: {exc}"
                if last:
                    message = f"{problem} (after {attempt} attempts)"
                    record.infra("error", None, message)
                    record.fail(502, message)
                    return JsonReply(502, error_body(message, "upstream_error", code="upstream_unreachable"))
                record.infra("retry", None, problem, delay)
                await policy.sleep(delay)
                continue
            if response.status_code < 400:
                return await self._success(call, response)
            await response.aread()
            await response.aclose()
            message = f"upstream answered HTTP {response.status_code}: {_error_message(response)}"
            if response.status_code in RETRY_STATUSES and not last:
                delay = min(policy.max_backoff_s, _wait_hint(response) or delay)
                record.infra("retry", response.status_code, message, delay)
                await policy.sleep(delay)
                continue
            if response.status_code in RETRY_STATUSES:
                record.infra("error", response.status_code, f"{message} (after {attempt} attempts)")
            record.fail(response.status_code, message)
            return JsonReply(response.status_code, _error_body(response))
        raise AssertionError("unreachable: the last attempt always returns")

    def _count(self, call: Call, observed: Observed) -> None:
        reported = observed.reported_usage()
        if reported is not None:
            call.record.set_tokens(reported.prompt_tokens, reported.completion_tokens, "upstream")
            return
        counted = Usage(
            prompt_tokens(call.request.messages, call.request.tools),
            completion_tokens(observed.content or None, observed.calls()),
        )
        call.record.set_tokens(counted.prompt_tokens, counted.completion_tokens, "counted")

    async def _success(self, call: Call, response: httpx.Response) -> JsonReply | StreamReply:
        if call.request.stream and response.headers.get("content-type", "").startswith("text/event-stream"):
            return StreamReply(self._relay(call, response))
        try:
            payload = json.loads(await response.aread())
        except ValueError:
            message = "upstream returned a body that is not JSON"
            call.record.infra("error", response.status_code, message)
            call.record.fail(502, message)
            return JsonReply(502, error_body(message, "upstream_error", code="upstream_bad_response"))
        finally:
            await response.aclose()
        if not isinstance(payload, dict):
            message = f"upstream returned JSON that is not an object: {type(payload).__name__}"
            call.record.infra("error", response.status_code, message)
            call.record.fail(502, message)
            return JsonReply(502, error_body(message, "upstream_error", code="upstream_bad_response"))
        observed = Observed()
        observed.feed_body(payload)
        call.record.set_reply(observed.content or None, observed.calls(), observed.finish_reason)
        self._count(call, observed)
        return JsonReply(response.status_code, payload)

    async def _relay(self, call: Call, response: httpx.Response) -> AsyncIterator[bytes]:
        observed = Observed()
        try:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data = line[5:].strip()
                    if data and data != "[DONE]":
                        try:
                            chunk = json.loads(data)
                        except ValueError:
                            chunk = None
                        if isinstance(chunk, dict):
                            observed.feed_chunk(chunk)
                yield (line + "\n").encode()
        except httpx.HTTPError as exc:
            message = f"upstream stream broke off: {exc.__class__.__name__}: {exc}"
            call.record.infra("error", None, message)
            call.record.fail(502, message)
            payload = error_body(message, "upstream_error", code="upstream_stream_broken")
            yield f"\ndata: {json.dumps(payload)}\n\n".encode()
        finally:
            await response.aclose()
            call.record.set_reply(observed.content or None, observed.calls(), observed.finish_reason)
            self._count(call, observed)
