"""The gateway's upstream backend against a fake OpenAI-compatible server on a real socket: passthrough,
streaming, usage, retries honouring Retry-After (recorded, never really waited), errors passed through, what
a real local model server does (a generation that outlasts the timeout, one slot that queues, a client that
stops reading after the usage chunk), ending a trial mid-call, and the endpoint preflight."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from benchmark.gateway import Gateway, GatewayServer, UpstreamBackend
from benchmark.profiles import ModelProfile
from benchmark.runner.model_gateway import (
    ModelGateway,
    answering_at_end,
    check_endpoint,
    cut_off_message,
    is_infra_failure,
)
from benchmark.tasks.models import Task
from tests.benchmark.fake_upstream import Failure, FakeUpstream
from tests.loopback import free_port, serve_in_thread
from tools._http import RetryPolicy

TASK = Task.model_validate({"id": "any", "category": "test", "turns": [{"user": "hi", "expect": {"route": "refused"}}]})
REQUEST = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello."}]}


class Waits:
    """The policy's sleep: records how long it was asked to wait, waits for nothing (unless ``real``)."""

    def __init__(self, real: bool = False) -> None:
        self.asked: list[float] = []
        self.real = real

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        if self.real:
            await asyncio.sleep(seconds)


@pytest.fixture
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    with serve_in_thread(fake.app) as url:
        yield fake, f"{url}/v1"


def _served(
    base_url: str, waits: Waits, attempts: int = 4, timeout_s: float = 5.0, **kwargs: Any
) -> tuple[Gateway, GatewayServer]:
    policy = RetryPolicy(attempts=attempts, backoff_s=0.5, max_backoff_s=20.0, timeout_s=timeout_s, sleep=waits)
    gateway = Gateway(UpstreamBackend(base_url, "upstream-key", policy=policy, **kwargs), models=["gpt-test"])
    gateway.register_trial("up-1", TASK)
    return gateway, GatewayServer(gateway).start()


def _stream(server: GatewayServer, body: dict[str, Any]) -> AbstractContextManager[httpx.Response]:
    """A streamed call of trial up-1, read line by line as a framework reads it."""
    return httpx.stream("POST", f"{server.trial_base_url('up-1')}/chat/completions", json=body, timeout=10)


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
        assert record.retry_wait_s == 9.5  # kept apart from the model's latency
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
        assert record.infrastructure_error and is_infra_failure(record)
        # Retried by the gateway already: the framework's client is told not to multiply the attempts.
        assert response.headers["x-should-retry"] == "false"
        assert (record.tokens_source, record.input_tokens, record.output_tokens) == ("none", 0, 0)
    finally:
        server.stop()


def test_client_errors_are_not_retried(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    fake.always = Failure(400, body="plain text, not JSON")
    waits = Waits()
    gateway, server = _served(url, waits)
    try:
        response = _post(server, REQUEST)
        assert response.status_code == 400 and waits.asked == [] and len(fake.requests) == 1
        assert "plain text, not JSON" in response.json()["error"]["message"]
        [record] = gateway.calls("up-1")
        assert record.error is not None and record.infrastructure == [] and record.tokens_source == "none"
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
        assert record.tokens_source == "none" and record.output_tokens == 0  # a failure, not a zero count
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
        assert record.cut_off == "stream_broken" and record.tokens_source == "counted"
    finally:
        server.stop()


def test_a_client_abandoning_a_stream_is_recorded(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    fake.reply_text = " ".join(["word"] * 300)
    fake.event_delay_s = 0.01  # the whole stream would take 3 s; the client leaves after 3 events
    gateway, server = _served(url, Waits())
    try:
        with _stream(server, {**REQUEST, "stream": True}) as response:
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
        assert record.cut_off == "client_closed" and record.content and record.content.startswith("word ")
    finally:
        server.stop()


# -- what a real local model server does -------------------------------------------------------------------


def test_a_generation_past_the_timeout_is_not_resent(upstream: tuple[FakeUpstream, str]) -> None:
    """A build that never caps its output: the upstream took the request and is still generating when the
    timeout comes. A resend would run as long again, so there is none, and the framework is told so."""
    fake, url = upstream
    fake.hold_next(1)  # not streamed: no answer at all until the client leaves
    waits = Waits()
    gateway, server = _served(url, waits, timeout_s=1.0)
    try:
        response = _post(server, REQUEST)
        assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"
        assert response.headers["x-should-retry"] == "false"
        assert len(fake.requests) == 1 and waits.asked == []
        assert fake.wait_for("gone 1")  # the gateway hung up, so the model server can stop
        [record] = gateway.calls("up-1")
        assert record.cut_off == "upstream_timeout" and record.status == 504 and record.infrastructure == []
        assert record.error is not None and "not re-sent" in record.error.message
        assert record.tokens_source == "none" and record.latency_s >= 1.0
        assert not is_infra_failure(record)  # the model was answering: the build's doing
    finally:
        server.stop()


def test_a_stalled_stream_is_not_resent_and_keeps_what_arrived(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    fake.hold_next(1, after=3)  # the role chunk and two words, then silence
    waits = Waits()
    gateway, server = _served(url, waits, timeout_s=1.0)
    try:
        response = _post(server, {**REQUEST, "stream": True})
        events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        assert len(events) == 4 and json.loads(events[-1])["error"]["code"] == "upstream_timeout"
        assert len(fake.requests) == 1 and waits.asked == [] and fake.wait_for("gone 1")
        [record] = gateway.calls("up-1")
        assert record.cut_off == "upstream_timeout" and record.status == 504
        assert record.content == "Hello from " and record.tokens_source == "counted" and record.output_tokens > 0
    finally:
        server.stop()


def test_back_off_is_not_model_latency(upstream: tuple[FakeUpstream, str]) -> None:
    """A 503 with Retry-After, then an answer: the second's wait is the gateway's, not the model's."""
    fake, url = upstream
    fake.fail_next(1, 503, retry_after="1")
    waits = Waits(real=True)
    gateway, server = _served(url, waits)
    try:
        began = time.perf_counter()
        response = _post(server, REQUEST)
        elapsed = time.perf_counter() - began
        assert response.status_code == 200 and waits.asked == [1.0]
        [record] = gateway.calls("up-1")
        assert record.retry_wait_s == 1.0
        # The final attempt began after the whole second of back-off had passed, inside what the client saw.
        assert record.latency_s <= elapsed - record.retry_wait_s
        [retry] = record.infrastructure
        assert retry.status == 503 and retry.wait_s == 1.0 and retry.attempt_s <= elapsed - record.retry_wait_s
    finally:
        server.stop()


def test_a_client_that_stops_after_the_usage_chunk_made_a_complete_call(upstream: tuple[FakeUpstream, str]) -> None:
    """Semantic Kernel stops reading once it has the usage chunk, before ``data: [DONE]``."""
    fake, url = upstream
    fake.withhold_done = True  # the upstream is slow to send [DONE]: the client leaves before it
    gateway, server = _served(url, Waits())
    try:
        body = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
        with _stream(server, body) as response:
            for line in response.iter_lines():
                if line.startswith("data: {") and json.loads(line[6:]).get("usage"):
                    break
        assert gateway.wait_sealed("up-1", timeout_s=5)
        [record] = gateway.calls("up-1")
        assert record.status == 200 and record.error is None and record.cut_off is None
        assert record.content == "Hello from upstream. " and record.finish_reason == "stop"
        assert (record.tokens_source, record.input_tokens, record.output_tokens) == ("upstream", 11, 7)
        assert fake.wait_for("gone 1")
    finally:
        server.stop()


# -- ending a trial -------------------------------------------------------------------------------------------


def _post_in_thread(server: GatewayServer, trial: str, body: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(_post(server, body, trial)), daemon=True)
    thread.start()
    return thread, answers


def test_ending_a_trial_cancels_its_call_so_the_next_trial_does_not_queue(upstream: tuple[FakeUpstream, str]) -> None:
    """One slot, like llama.cpp on a CPU: trial A's call generates without end when A times out. Ending A
    hangs up on the server, so trial B's first call is served next instead of waiting behind it."""
    fake, url = upstream
    fake.slots = 1
    fake.hold_next(1)
    gateway, server = _served(url, Waits())
    gateway.register_trial("up-2", TASK)
    try:
        thread, answers = _post_in_thread(server, "up-1", REQUEST)
        assert fake.wait_for("hold 1")
        [record] = gateway.end_trial("up-1")
        assert record.cut_off == "trial_end" and record.status == 499 and record.tokens_source == "none"
        assert record.content is None and record.latency_s > 0 and not is_infra_failure(record)
        assert record.error is not None and "trial ended" in record.error.message
        thread.join(timeout=10)
        [answer] = answers
        assert answer.status_code == 499 and answer.json()["error"]["type"] == "trial_ended"
        assert _post(server, REQUEST, "up-2").status_code == 200
        assert fake.log == ["start 1", "hold 1", "gone 1", "start 2", "done 2"]
        assert len(fake.requests) == 2  # nothing re-sent
    finally:
        server.stop()


def test_a_stream_open_at_the_trial_end_is_recorded_with_what_arrived(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    fake.hold_next(1, after=3)
    gateway, server = _served(url, Waits())
    received: list[str] = []
    three = threading.Event()

    def stream() -> None:
        with _stream(server, {**REQUEST, "stream": True}) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    received.append(line[6:])
                    if len(received) == 3:
                        three.set()

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    try:
        assert three.wait(timeout=10)
        [record] = gateway.end_trial("up-1")
        assert record.cut_off == "trial_end" and record.status == 499 and record.stream
        assert record.content == "Hello from " and record.tokens_source == "counted" and record.output_tokens > 0
        assert fake.wait_for("gone 1")
        thread.join(timeout=10)
        assert json.loads(received[-1])["error"]["type"] == "trial_ended"  # the client, if still there, is told
    finally:
        server.stop()


def test_a_killed_workers_stream_counts_as_answering_at_the_end(upstream: tuple[FakeUpstream, str]) -> None:
    """A worker killed mid-stream closes its connection before the runner ends the trial."""
    fake, url = upstream
    fake.hold_next(1, after=3)
    gateway, server = _served(url, Waits())
    try:
        with _stream(server, {**REQUEST, "stream": True}) as response:
            for number, _ in enumerate(response.iter_lines()):
                if number == 3:
                    break  # the worker dies here: its connection closes
        assert fake.wait_for("gone 1")
        records = gateway.end_trial("up-1", grace_s=5)
        assert [r.cut_off for r in records] == ["client_closed"] and answering_at_end(records) is records[0]
        assert "call 1" in cut_off_message(records[0]) and "output tokens so far" in cut_off_message(records[0])
    finally:
        server.stop()


async def test_the_runner_ends_a_trial_through_model_gateway(upstream: tuple[FakeUpstream, str]) -> None:
    """What ``run.py`` calls when a worker times out inside a model call."""
    fake, url = upstream
    fake.hold_next(1)
    profile = ModelProfile(name="local", backend="upstream", model="tiny", base_url=url)
    with ModelGateway(profile) as gateway:
        gateway.register("vanilla.t.r1", TASK)
        chat_url = f"{gateway.endpoint('vanilla.t.r1').base_url}/chat/completions"
        call = asyncio.create_task(asyncio.to_thread(httpx.post, chat_url, json=REQUEST, timeout=10))
        assert await asyncio.to_thread(fake.wait_for, "hold 1")
        records = await gateway.end_trial("vanilla.t.r1", grace_s=0)
        assert (await call).status_code == 499
        cut = answering_at_end(records)
        assert cut is not None and cut is records[0]
        assert cut_off_message(cut).startswith("the trial ended while the model was answering call 1 (")
        assert "no reply yet" in cut_off_message(cut)
        gateway.forget("vanilla.t.r1")
    assert answering_at_end([]) is None


# -- preflight ------------------------------------------------------------------------------------------------


def test_check_endpoint_passes_a_live_server_and_the_scripted_model(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    assert check_endpoint(ModelProfile(name="s", backend="scripted", model="afbench-scripted")) is None
    assert check_endpoint(ModelProfile(name="u", backend="upstream", model="m", base_url=url)) is None
    fake.models_route = False  # a server without a models route still has the chat API: fine
    assert check_endpoint(ModelProfile(name="u", backend="upstream", model="m", base_url=url)) is None


@pytest.mark.parametrize(
    ("failure", "suffix", "expected"),
    [
        (None, "", "has no chat-completions API"),  # the base URL lacks /v1: 404 on both routes
        (Failure(401), "/v1", "refused the API key: GET {url}/v1/models answered HTTP 401: simulated 401"),
        (Failure(503), "/v1", "is failing: GET {url}/v1/models answered HTTP 503"),
    ],
)
def test_check_endpoint_names_the_problem(
    upstream: tuple[FakeUpstream, str], failure: Failure | None, suffix: str, expected: str
) -> None:
    fake, url = upstream
    fake.always = failure
    base = url.removesuffix("/v1")
    problem = check_endpoint(ModelProfile(name="u", backend="upstream", model="m", base_url=base + suffix))
    assert problem is not None and expected.format(url=base) in problem and base in problem
    assert fake.requests == []  # nothing reached the model


def test_check_endpoint_names_an_unreachable_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    problem = check_endpoint(ModelProfile(name="u", backend="upstream", model="m", base_url=url))
    assert problem is not None and problem.startswith(f"cannot reach the model endpoint {url} (GET {url}/models)")
    assert "ConnectError" in problem
