"""The gateway's upstream backend against a fake OpenAI-compatible server on a real socket: passthrough,
streaming, usage, retries honouring Retry-After (recorded, never really waited), and errors passed through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from benchmark.gateway import Gateway, GatewayServer, UpstreamBackend
from benchmark.tasks.models import Task
from tests.benchmark.fake_upstream import FakeUpstream
from tests.loopback import free_port, serve_in_thread
from tools._http import RetryPolicy

TASK = Task.model_validate({"id": "any", "category": "test", "turns": [{"user": "hi", "expect": {"route": "refused"}}]})
REQUEST = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello."}]}


class Waits:
    """The policy's sleep: records how long it was asked to wait, waits for nothing."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


@pytest.fixture
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    with serve_in_thread(fake.app) as url:
        yield fake, f"{url}/v1"


def _served(base_url: str, waits: Waits, attempts: int = 4, **kwargs: Any) -> tuple[Gateway, GatewayServer]:
    policy = RetryPolicy(attempts=attempts, backoff_s=0.5, max_backoff_s=20.0, timeout_s=5.0, sleep=waits)
    gateway = Gateway(UpstreamBackend(base_url, "upstream-key", policy=policy, **kwargs), models=["gpt-test"])
    gateway.register_trial("up-1", TASK)
    return gateway, GatewayServer(gateway).start()


def _post(server: GatewayServer, body: dict[str, Any], trial: str | None = "up-1") -> httpx.Response:
    base = server.trial_base_url(trial) if trial else f"{server.base_url}/v1"
    return httpx.post(f"{base}/chat/completions", json=body, headers={"Authorization": "Bearer client-key"}, timeout=10)


def test_passthrough_with_upstream_usage_and_our_key(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    gateway, server = _served(url, Waits())
    try:
        response = _post(server, {**REQUEST, "temperature": 0.2})
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "Hello from upstream."
        [received] = fake.requests
        assert received["body"] == {**REQUEST, "temperature": 0.2}
        assert received["headers"]["authorization"] == "Bearer upstream-key"
        [record] = gateway.calls("up-1")
        assert record.backend == "upstream" and record.tokens_source == "upstream"
        assert (record.input_tokens, record.output_tokens) == (11, 7)
        assert record.content == "Hello from upstream." and record.infrastructure == [] and record.error is None
        assert httpx.get(f"{server.base_url}/v1/models", timeout=10).json()["data"][0]["id"] == "gpt-test"
        # The plain /v1 route works for upstream calls, attributed to no trial.
        assert _post(server, REQUEST, trial=None).status_code == 200 and len(gateway.calls(None)) == 1
    finally:
        server.stop()


def test_missing_usage_is_counted_and_model_override_applies(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    fake.report_usage = False
    fake.tool_call = ("weather", {"location": "Oslo"})
    gateway, server = _served(url, Waits(), model="real-model")
    try:
        body = _post(server, REQUEST).json()
        assert body["choices"][0]["finish_reason"] == "tool_calls"
        assert fake.requests[0]["body"]["model"] == "real-model"
        [record] = gateway.calls("up-1")
        assert record.tokens_source == "counted" and record.input_tokens > 0 and record.output_tokens > 0
        assert [(c.name, c.arguments) for c in record.tool_calls] == [("weather", {"location": "Oslo"})]
        assert record.model == "gpt-test"  # what the framework asked for
    finally:
        server.stop()


@pytest.mark.parametrize("report_usage", [True, False])
def test_streaming_passthrough(upstream: tuple[FakeUpstream, str], report_usage: bool) -> None:
    fake, url = upstream
    fake.report_usage = report_usage
    fake.tool_call = ("calculator", {"expression": "2 + 2 * 10"})
    gateway, server = _served(url, Waits())
    try:
        body = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
        response = _post(server, body)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        arguments = "".join(
            part["function"].get("arguments", "")
            for event in events[:-1]
            for choice in json.loads(event)["choices"]
            for part in choice["delta"].get("tool_calls", [])
        )
        assert json.loads(arguments) == {"expression": "2 + 2 * 10"}
        [record] = gateway.calls("up-1")
        assert record.stream and record.finish_reason == "tool_calls"
        assert record.tool_calls[0].arguments == {"expression": "2 + 2 * 10"}
        assert record.tokens_source == ("upstream" if report_usage else "counted")
        if report_usage:
            assert (record.input_tokens, record.output_tokens) == (11, 7)
    finally:
        server.stop()


def test_retries_on_429_and_503_honour_retry_after_without_waiting(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    fake.fail_next(1, 429, retry_after="7")
    fake.fail_next(1, 503)
    fake.fail_next(1, 429, retry_after_ms="1500")
    waits = Waits()
    gateway, server = _served(url, waits)
    try:
        response = _post(server, REQUEST)
        assert response.status_code == 200
        assert len(fake.requests) == 4
        # Retry-After 7 s, then our own backoff (0.5 * 2), then retry-after-ms 1.5 s.
        assert waits.asked == [7.0, 1.0, 1.5]
        [record] = gateway.calls("up-1")
        assert [(e.kind, e.status, e.wait_s) for e in record.infrastructure] == [
            ("retry", 429, 7.0),
            ("retry", 503, 1.0),
            ("retry", 429, 1.5),
        ]
        assert record.error is None and record.status == 200 and not record.infrastructure_error
        assert "429" in record.infrastructure[0].message
    finally:
        server.stop()


def test_retry_after_is_capped_by_the_policy(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    fake.fail_next(1, 429, retry_after="3600")
    waits = Waits()
    _, server = _served(url, waits)
    try:
        assert _post(server, REQUEST).status_code == 200
        assert waits.asked == [20.0]
    finally:
        server.stop()


def test_persistent_500_is_passed_through_and_recorded(upstream: tuple[FakeUpstream, str]) -> None:
    from tests.benchmark.fake_upstream import Failure

    fake, url = upstream
    error = {"error": {"message": "the model is overloaded", "type": "server_error", "param": None, "code": "busy"}}
    fake.always = Failure(500, body=error)
    waits = Waits()
    gateway, server = _served(url, waits, attempts=3)
    try:
        response = _post(server, REQUEST)
        assert response.status_code == 500 and response.json() == error
        assert len(fake.requests) == 3 and waits.asked == [0.5, 1.0]
        [record] = gateway.calls("up-1")
        assert record.status == 500 and record.error is not None
        assert "overloaded" in record.error.message
        assert [e.kind for e in record.infrastructure] == ["retry", "retry", "error"]
        assert record.infrastructure_error
    finally:
        server.stop()


def test_client_errors_are_not_retried(upstream: tuple[FakeUpstream, str]) -> None:
    from tests.benchmark.fake_upstream import Failure

    fake, url = upstream
    fake.always = Failure(400, body="plain text, not JSON")
    waits = Waits()
    gateway, server = _served(url, waits)
    try:
        response = _post(server, REQUEST)
        assert response.status_code == 400 and waits.asked == [] and len(fake.requests) == 1
        assert "plain text, not JSON" in response.json()["error"]["message"]
        [record] = gateway.calls("up-1")
        assert record.error is not None and record.infrastructure == []
    finally:
        server.stop()


def test_unreachable_upstream_is_a_502_after_retries() -> None:
    waits = Waits()
    gateway, server = _served(f"http://127.0.0.1:{free_port()}/v1", waits, attempts=2)
    try:
        response = _post(server, REQUEST)
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_unreachable"
        [record] = gateway.calls("up-1")
        assert [(e.kind, e.status) for e in record.infrastructure] == [("retry", None), ("error", None)]
        assert record.error is not None and record.error.status == 502 and waits.asked == [0.5]
    finally:
        server.stop()


def test_a_stream_cut_midway_ends_with_an_error_event(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    fake.break_stream_after = 2
    waits = Waits()
    gateway, server = _served(url, waits)
    try:
        response = _post(server, {**REQUEST, "stream": True})
        events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        assert "[DONE]" not in events and len(events) == 3
        assert json.loads(events[-1])["error"]["code"] == "upstream_stream_broken"
        assert waits.asked == []  # bytes had reached the framework: no replay
        [record] = gateway.calls("up-1")
        assert record.error is not None and record.error.status == 502
        assert [e.kind for e in record.infrastructure] == ["error"] and record.content == "Hello "
    finally:
        server.stop()


def test_a_client_abandoning_a_stream_is_recorded(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    fake.reply_text = " ".join(["word"] * 300)
    fake.event_delay_s = 0.01  # the whole stream would take 3 s; the client leaves after 3 events
    gateway, server = _served(url, Waits())
    try:
        url_ = f"{server.trial_base_url('up-1')}/chat/completions"
        with httpx.stream("POST", url_, json={**REQUEST, "stream": True}, timeout=10) as response:
            for number, _ in enumerate(response.iter_lines()):
                if number == 3:
                    # Checked mid-stream: once the loop is left, the line iterator is closed and may take the
                    # connection down with it, and the gateway may record the abandoned call at once.
                    assert gateway.pending("up-1") == 1 and gateway.calls("up-1") == []
                    break
        assert gateway.wait_sealed("up-1", timeout_s=5)  # what the runner waits on before scoring the trial
        assert gateway.pending("up-1") == 0
        [record] = gateway.calls("up-1")
        assert record.error is not None and record.error.status == 499 and record.stream
    finally:
        server.stop()
