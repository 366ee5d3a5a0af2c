"""The local-model test's tap, against the suite's fake upstream: it relays unchanged, records the server's
usage, and lets a one-slot server go when its client leaves. Runs in plain ``make test`` (no model needed), so
the tap cannot rot between the rare runs of ``make test-local-model``."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.benchmark.fake_upstream import FakeUpstream
from tests.local_model.tap import Tap
from tests.loopback import serve_in_thread

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_relays_json_and_records_the_servers_usage() -> None:
    upstream = FakeUpstream()
    with serve_in_thread(upstream.app) as up:
        tap = Tap(up)
        with serve_in_thread(tap) as tap_url:
            answer = httpx.post(f"{tap_url}/v1/chat/completions", json=CHAT, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "Hello from upstream."
    (exchange,) = tap.snapshot()
    assert exchange.usage == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert (exchange.status, exchange.finish_reason, exchange.client_closed) == (200, "stop", False)
    assert upstream.requests[0]["body"] == CHAT


def test_relays_a_stream_event_by_event_and_finds_its_final_usage() -> None:
    upstream = FakeUpstream()
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with serve_in_thread(upstream.app) as up:
        tap = Tap(up)
        with (
            serve_in_thread(tap) as tap_url,
            httpx.stream("POST", f"{tap_url}/v1/chat/completions", json=body, timeout=10) as response,
        ):
            lines = [line for line in response.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert (
        "".join(
            (json.loads(line[5:])["choices"] or [{}])[0].get("delta", {}).get("content") or "" for line in lines[:-1]
        ).strip()
        == "Hello from upstream."
    )
    (exchange,) = tap.snapshot()
    assert exchange.usage is not None and exchange.usage["completion_tokens"] == 7


@pytest.mark.parametrize("stream", [False, True])
def test_keeps_the_reply_text_and_tool_calls_a_stream_spreads_over_its_deltas(stream: bool) -> None:
    # The local-model figures count these with the gateway's own rule, beside the server's usage.
    text = FakeUpstream()
    call = FakeUpstream(tool_call=("weather", {"city": "Lisbon", "days": 2}))
    body = {**CHAT, "stream": stream}
    exchanges = []
    for upstream in (text, call):
        with serve_in_thread(upstream.app) as up:
            tap = Tap(up)
            with serve_in_thread(tap) as tap_url:
                assert httpx.post(f"{tap_url}/v1/chat/completions", json=body, timeout=10).status_code == 200
            (exchange,) = tap.snapshot()
            exchanges.append(exchange)
    assert exchanges[0].content.strip() == "Hello from upstream." and exchanges[0].tool_calls == {}
    assert exchanges[1].tool_calls == {0: {"name": "weather", "arguments": '{"city": "Lisbon", "days": 2}'}}


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_leaving_closes_the_connection_to_the_server(stream: bool) -> None:
    # A one-slot llama-server generates until its client's connection closes: the tap must pass the leaving on,
    # before the answer's headers (not streamed) and in the middle of a stream alike.
    upstream = FakeUpstream(slots=1)
    upstream.hold_next(1, after=2 if stream else 0)
    with serve_in_thread(upstream.app) as up:
        tap = Tap(up)
        with serve_in_thread(tap) as tap_url:
            address = urlsplit(tap_url)
            payload = json.dumps({**CHAT, "stream": stream}).encode()
            with socket.create_connection((str(address.hostname), int(address.port or 80)), timeout=10) as client:
                client.sendall(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: tap\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                assert upstream.wait_for("hold 1"), upstream.log  # the server is working on it; now the client goes
            assert upstream.wait_for("gone 1"), upstream.log
            # The slot is free again: the next request is served.
            assert httpx.post(f"{tap_url}/v1/chat/completions", json=CHAT, timeout=10).status_code == 200
    assert tap.snapshot()[0].client_closed
