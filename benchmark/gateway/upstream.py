"""The upstream backend: forward calls to any OpenAI-compatible server (hosted API, vLLM, Ollama, llama.cpp).

Requests go through as sent (``model`` replaced only when an override is configured), streams are relayed
line by line as they arrive. A request is retried, with exponential backoff honouring
``Retry-After``/``retry-after-ms`` up to the policy's ceiling, only when the upstream did not take it on:
a connection that failed before the request was accepted, a 429 or a 5xx. Each retry is an infrastructure
event in the call's record, and its back-off is kept out of the model's latency. A request the upstream
accepted and then took longer than the timeout over (a model generating without end) is never re-sent: at
temperature 0 it would run as long again; the caller gets a 504 (``upstream_timeout``) and the record keeps
what had arrived. When retries run out, the caller gets the upstream's own status and error body (or a 502
naming the connection failure), and the record says it was the infrastructure that failed. Nothing is
retried once the first byte reaches the framework: a stream cut midway ends with an ``error`` event, never
a silent replay. Errors after the gateway's own retries carry ``x-should-retry: false`` so that the
framework's client (the openai package obeys it) does not multiply them.

:func:`check_upstream` is the cheap preflight: is the endpoint there, and does it take the key?
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from benchmark.gateway.backend import Call, JsonReply, StreamReply
from benchmark.gateway.completions import Observed, Usage, sse_data
from benchmark.gateway.errors import NO_RETRY, error_body
from benchmark.gateway.tokens import completion_tokens, prompt_tokens
from tools._http import RETRY_STATUSES, RetryPolicy, retry_after, user_agent

DEFAULT_UPSTREAM_POLICY = RetryPolicy(attempts=4, backoff_s=1.0, max_backoff_s=30.0, timeout_s=120.0)
UPSTREAM_TIMEOUT = 504
PREFLIGHT_TIMEOUT_S = 5.0


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
            record.begin_attempt()
            try:
                request = self._http().build_request("POST", self.url, json=body)
                response = await self._http().send(request, stream=True)
            except httpx.ReadTimeout:
                # The request went out and the upstream is working on it (a non-streamed reply's headers
                # come when the generation ends): sending it again would only queue a second copy.
                return self._timed_out(call, "sent no answer")
            except httpx.HTTPError as exc:
                problem = f"upstream connection failed: {exc.__class__.__name__}: {exc}"
                if last:
                    message = f"{problem} (after {attempt} attempts)"
                    record.infra("error", None, message)
                    record.fail(502, message)
                    unreachable = error_body(message, "upstream_error", code="upstream_unreachable")
                    return JsonReply(502, unreachable, NO_RETRY)
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
            headers: dict[str, str] = {}
            if response.status_code in RETRY_STATUSES:
                record.infra("error", response.status_code, f"{message} (after {attempt} attempts)")
                headers = NO_RETRY
            record.fail(response.status_code, message)
            return JsonReply(response.status_code, _error_body(response), headers)
        raise AssertionError("unreachable: the last attempt always returns")

    def _timed_out(self, call: Call, what: str) -> JsonReply:
        message = (
            f"the upstream {what} within {self.policy.timeout_s:g} s of taking the request (the model was still "
            "generating); not re-sent, since it would run as long again"
        )
        call.record.cut("upstream_timeout", UPSTREAM_TIMEOUT, message)
        return JsonReply(UPSTREAM_TIMEOUT, error_body(message, "upstream_error", code="upstream_timeout"), NO_RETRY)

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
            raw = await response.aread()
        except httpx.ReadTimeout:
            return self._timed_out(call, "did not finish its answer")
        except httpx.HTTPError as exc:
            message = f"upstream broke off its answer: {exc.__class__.__name__}: {exc}"
            call.record.infra("error", response.status_code, message)
            call.record.cut("stream_broken", 502, message)
            return JsonReply(502, error_body(message, "upstream_error", code="upstream_broken"), NO_RETRY)
        finally:
            await response.aclose()
        try:
            payload = json.loads(raw)
        except ValueError:
            return self._bad_response(call, response, "upstream returned a body that is not JSON")
        if not isinstance(payload, dict):
            kind = type(payload).__name__
            return self._bad_response(call, response, f"upstream returned JSON that is not an object: {kind}")
        observed = Observed()
        observed.feed_body(payload)
        call.record.set_reply(observed.content or None, observed.calls(), observed.finish_reason)
        self._count(call, observed)
        return JsonReply(response.status_code, payload)

    def _bad_response(self, call: Call, response: httpx.Response, message: str) -> JsonReply:
        call.record.infra("error", response.status_code, message)
        call.record.fail(502, message)
        return JsonReply(502, error_body(message, "upstream_error", code="upstream_bad_response"), NO_RETRY)

    async def _relay(self, call: Call, response: httpx.Response) -> AsyncIterator[bytes]:
        observed = Observed()
        events = 0
        try:
            async for line in response.aiter_lines():
                chunk = sse_data(line)
                if chunk is not None:
                    events += 1
                    observed.feed_chunk(chunk)
                yield (line + "\n").encode()
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.ReadTimeout):
                message = (
                    f"the upstream stream stalled: nothing for {self.policy.timeout_s:g} s after {events} events "
                    "(the model was still generating); not re-sent, since it would run as long again"
                )
                call.record.cut("upstream_timeout", UPSTREAM_TIMEOUT, message)
                code = "upstream_timeout"
            else:
                message = f"upstream stream broke off: {exc.__class__.__name__}: {exc}"
                call.record.infra("error", None, message)
                call.record.cut("stream_broken", 502, message)
                code = "upstream_stream_broken"
            payload = error_body(message, "upstream_error", code=code)
            yield f"\ndata: {json.dumps(payload)}\n\n".encode()
        finally:
            # Closing a response that was not read to the end closes its connection: the upstream sees the
            # client leave and stops generating (this is how ending a trial frees a one-slot server).
            await response.aclose()
            call.record.set_reply(observed.content or None, observed.calls(), observed.finish_reason)
            self._count(call, observed)


def check_upstream(base_url: str, api_key: str, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> str | None:
    """What is wrong with an OpenAI-compatible endpoint, in one line naming its URL, or None when it answers.

    One ``GET {base_url}/models`` with the key, a short timeout, no retries: a connection failure, a refused
    key (401/403) or a failing server (5xx) is a problem. A 404 there is not a verdict: some OpenAI-compatible
    servers have no models route (llama.cpp, vLLM, Ollama and OpenAI do), while a base URL missing its ``/v1``
    gets 404 for everything. So a 404 asks once more, with an empty ``POST /chat/completions`` that any server
    rejects before it reaches the model: a 404 there too means there is no chat-completions API at that URL;
    401/403 still means the key is refused; any other answer (a 400, or a 500 from a server that fails on a
    malformed body) means the API is there.
    """
    base = base_url.rstrip("/")
    headers = {"User-Agent": user_agent(), **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
    models, chat = f"{base}/models", f"{base}/chat/completions"
    asked = f"GET {models}"
    try:
        with httpx.Client(timeout=timeout_s, headers=headers) as client:
            response = client.get(models)
            if response.status_code == 404:
                asked = f"POST {chat}"
                response = client.post(chat, json={})
                if response.status_code == 404:
                    return (
                        f"the model endpoint {base} has no chat-completions API: GET {models} and POST {chat} "
                        "both answered HTTP 404 (does the base URL need /v1?)"
                    )
    except httpx.TimeoutException:
        return f"the model endpoint {base} did not answer {asked} within {timeout_s:g} s"
    except httpx.HTTPError as exc:
        return f"cannot reach the model endpoint {base} ({asked}): {exc.__class__.__name__}: {exc}"
    answered = f"{asked} answered HTTP {response.status_code}: {_error_message(response)}"
    if response.status_code in (401, 403):
        return f"the model endpoint {base} refused the API key: {answered}"
    if response.status_code >= 500 and asked.endswith("/models"):
        return f"the model endpoint {base} is failing: {answered}"
    return None
