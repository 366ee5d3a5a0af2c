"""The gateway with the scripted backend, over a real loopback socket: protocol shapes, streaming, errors,
attribution and records."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmark import spec
from benchmark.gateway import CallRecord, Gateway, GatewayServer, ScriptedBackend
from benchmark.system import default_spec
from benchmark.tasks.models import Task
from tools._tokens import count_tokens

SPEC = default_spec()
OPERATIONAL = SPEC.agent(spec.OPERATIONAL).instructions
TICKETS = "How many support tickets did we get in March?"
WEATHER = "What's the weather in Oslo?"


def _task(task_id: str, question: str, steps: list[dict[str, Any]], answer: str) -> Task:
    return Task.model_validate(
        {
            "id": task_id,
            "category": "test",
            "turns": [
                {
                    "user": question,
                    "expect": {"route": "operational_agent"},
                    "script": {"steps": steps, "answer": answer},
                },
                {"user": "Tell me the home address of Jane Doe.", "expect": {"route": "refused"}},
            ],
        }
    )


SQL_TASK = _task(
    "tickets",
    TICKETS,
    [{"call": "sql_query", "arguments": {"sql": "SELECT COUNT(*) FROM tickets WHERE month = 'März'"}, "as": "sql"}],
    "We received {sql.rows[0][0]} tickets.",
)
WEATHER_TASK = _task(
    "weather",
    WEATHER,
    [{"call": "weather", "arguments": {"location": "Oslo"}}],
    "Oslo is at {weather.current.temperature} degrees, with a long answer to stream in several pieces here.",
)


def tool(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"the {name} tool",
            "parameters": {"type": "object", "properties": {}},
        },
    }


TOOLS = [tool(n) for n in ("calculator", "weather", "sql_schema", "sql_query", "search")]


def chat(question: str, *extra_messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": OPERATIONAL}, {"role": "user", "content": question}, *extra_messages]
    return {"model": "afbench-scripted", "messages": messages, "tools": TOOLS, **fields}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, GatewayServer]]:
    record_path = tmp_path_factory.mktemp("gateway") / "calls.jsonl"
    gateway = Gateway(ScriptedBackend(), record_path=record_path)
    with GatewayServer(gateway) as server:
        yield gateway, server


@pytest.fixture
def gateway(served: tuple[Gateway, GatewayServer]) -> Gateway:
    return served[0]


@pytest.fixture
def server(served: tuple[Gateway, GatewayServer]) -> GatewayServer:
    return served[1]


_counter = iter(range(1, 10_000))


@pytest.fixture
def trial(gateway: Gateway) -> str:
    """A fresh trial id registered for SQL_TASK."""
    trial_id = f"trial-{next(_counter)}"
    gateway.register_trial(trial_id, SQL_TASK)
    return trial_id


def post(server: GatewayServer, trial_id: str | None, body: Any, **kwargs: Any) -> httpx.Response:
    base = server.trial_base_url(trial_id) if trial_id else f"{server.base_url}/v1"
    if isinstance(body, bytes | str):
        return httpx.post(f"{base}/chat/completions", content=body, timeout=10, **kwargs)
    return httpx.post(f"{base}/chat/completions", json=body, timeout=10, **kwargs)


def sse_chunks(response: httpx.Response) -> list[Any]:
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


# -- shapes -----------------------------------------------------------------------------------------------


def test_non_streaming_tool_call_has_openais_shape(server: GatewayServer, gateway: Gateway, trial: str) -> None:
    response = post(server, trial, chat(TICKETS))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "afbench-scripted" and isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["role"] == "assistant" and message["content"] is None
    [call] = message["tool_calls"]
    assert call["id"].startswith("call_1_") and call["type"] == "function" and call["function"]["name"] == "sql_query"
    assert json.loads(call["function"]["arguments"]) == {"sql": "SELECT COUNT(*) FROM tickets WHERE month = 'März'"}
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] == count_tokens("sql_query") + count_tokens(call["function"]["arguments"])

    [record] = gateway.calls(trial)
    assert record.trial_id == trial and record.sequence == 1 and record.backend == "scripted"
    assert record.tokens_source == "counted" and record.status == 200 and record.error is None
    assert (record.input_tokens, record.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert record.tools_offered == ["calculator", "weather", "sql_schema", "sql_query", "search"]
    assert record.message_count == 2 and not record.stream and record.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in record.tool_calls] == [
        ("sql_query", json.loads(call["function"]["arguments"]))
    ]
    assert record.latency_s >= 0 and record.started_at > 0


def test_final_answer_after_tool_result(server: GatewayServer, gateway: Gateway, trial: str) -> None:
    history: list[dict[str, Any]] = [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "sql_query", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"rows": [[31]]})},
    ]  # fmt: skip
    body = post(server, trial, chat(TICKETS, *history)).json()
    assert body["choices"][0]["message"]["content"] == "We received 31 tickets."
    assert body["choices"][0]["finish_reason"] == "stop" and "tool_calls" not in body["choices"][0]["message"]
    record = gateway.calls(trial)[-1]
    assert record.content == "We received 31 tickets." and record.tool_calls == [] and record.message_count == 4


def test_streamed_tool_call_reassembles(server: GatewayServer, gateway: Gateway, trial: str) -> None:
    response = post(server, trial, chat(TICKETS, stream=True, stream_options={"include_usage": True}))
    assert response.status_code == 200
    chunks = sse_chunks(response)
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chunks[:-1]:
        assert chunk["usage"] is None  # include_usage: every chunk carries the key, only the last a value
        [choice] = chunk["choices"]
        for part in choice["delta"].get("tool_calls", []):
            slot = calls.setdefault(part["index"], {"id": "", "name": "", "arguments": ""})
            slot["id"] += part.get("id", "")
            slot["name"] += part.get("function", {}).get("name", "")
            slot["arguments"] += part.get("function", {}).get("arguments", "")
        finish = choice["finish_reason"] or finish
    argument_chunks = [c for c in chunks if c["choices"] and "arguments" in str(c["choices"][0]["delta"])]
    assert len(argument_chunks) > 2  # the arguments really came in fragments
    assert list(calls) == [0] and calls[0]["id"].startswith("call_1_") and calls[0]["name"] == "sql_query"
    assert json.loads(calls[0]["arguments"]) == {"sql": "SELECT COUNT(*) FROM tickets WHERE month = 'März'"}
    assert finish == "tool_calls"
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["total_tokens"] > 0
    record = gateway.calls(trial)[-1]
    assert record.stream and record.finish_reason == "tool_calls" and record.tool_calls[0].name == "sql_query"
    assert record.output_tokens == last["usage"]["completion_tokens"]


def test_streamed_text_without_usage_option(server: GatewayServer, gateway: Gateway) -> None:
    gateway.register_trial("weather-stream", WEATHER_TASK)
    result = [{"type": "text", "text": '{"current": {"temperature": -3.5}}'}]
    history = [
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "x1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "x1", "content": result},
    ]  # fmt: skip
    chunks = sse_chunks(post(server, "weather-stream", chat(WEATHER, *history, stream=True)))
    assert all("usage" not in chunk for chunk in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "Oslo is at -3.5 degrees, with a long answer to stream in several pieces here."
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) > 3
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_tool_choice_and_response_format_reach_the_model(server: GatewayServer, gateway: Gateway, trial: str) -> None:
    forced = {"type": "function", "function": {"name": "calculator"}}
    body = post(server, trial, chat(TICKETS, tool_choice=forced)).json()
    assert body["choices"][0]["message"]["content"].startswith("[scripted-model:")
    body = post(
        server, trial, chat(TICKETS, tool_choice={"type": "function", "function": {"name": "sql_query"}})
    ).json()
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "sql_query"

    schema = {"type": "object", "properties": {"tripwire_triggered": {"type": "boolean"}, "reason": {"type": "string"}},
              "required": ["tripwire_triggered", "reason"], "additionalProperties": False}  # fmt: skip
    verdict_format = {"name": "Verdict", "schema": schema, "strict": True}
    guard = {
        "model": "afbench-scripted",
        "messages": [{"role": "developer", "content": SPEC.guardrail.instructions},
                     {"role": "user", "content": "Tell me the home address of Jane Doe."}],
        "response_format": {"type": "json_schema", "json_schema": verdict_format},
    }  # fmt: skip
    verdict = json.loads(post(server, trial, guard).json()["choices"][0]["message"]["content"])
    assert verdict["tripwire_triggered"] is True
    records = gateway.calls(trial)
    assert [r.tool_choice for r in records] == ["function:calculator", "function:sql_query", None]
    assert records[-1].response_format == "json_schema" and records[-1].tools_offered == []


def test_models_are_listed_on_both_prefixes(server: GatewayServer, trial: str) -> None:
    for base in (f"{server.base_url}/v1", server.trial_base_url(trial)):
        body = httpx.get(f"{base}/models", timeout=10).json()
        assert body["object"] == "list" and [m["id"] for m in body["data"]] == ["afbench-scripted"]
        assert body["data"][0]["object"] == "model"


# -- errors -----------------------------------------------------------------------------------------------


def _error(response: httpx.Response, status: int, param: str | None = None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if param is not None:
        assert error["param"] == param
    return str(error["message"])


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model", "model"),
        ({"model": "m", "messages": []}, "messages", "non-empty"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role", "wizard"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n", "n must be 1"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "stream", "boolean"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", "tool_call_id"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "x"}]}, "tools[0]", ""),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [tool("weather")],
             "tool_choice": {"type": "function", "function": {"name": "rm_rf"}}},
            "tool_choice",
            "rm_rf",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "yaml"}},
            "response_format",
            "response_format",
        ),
    ],
)  # fmt: skip
def test_malformed_bodies_get_400_in_openais_shape(
    server: GatewayServer, gateway: Gateway, trial: str, body: Any, param: str | None, words: str
) -> None:
    message = _error(post(server, trial, body), 400, param)
    assert words.casefold() in message.casefold()
    [record] = gateway.calls(trial)
    assert record.status == 400 and record.error is not None and record.error.status == 400
    assert record.tokens_source == "none"  # nothing was answered: no count, not a count of zero


def test_unregistered_trial_gets_404_and_plain_route_needs_a_trial(server: GatewayServer) -> None:
    message = _error(post(server, "nobody-registered-me", chat(TICKETS)), 404)
    assert "nobody-registered-me" in message
    assert "trial" in _error(post(server, None, chat(TICKETS)), 404)
    assert httpx.get(f"{server.base_url}/t/nobody/v1/models", timeout=10).status_code == 404
    assert "no route" in _error(httpx.get(f"{server.base_url}/v2/anything", timeout=10), 404)


def test_register_trial_rejects_ids_that_cannot_go_into_urls(gateway: Gateway) -> None:
    for bad in ("", "a/b", "../x", "x" * 201, "é"):
        with pytest.raises(ValueError, match="trial id"):
            gateway.register_trial(bad, SQL_TASK)


# -- attribution ------------------------------------------------------------------------------------------


async def test_concurrent_trials_never_see_each_others_calls(server: GatewayServer, gateway: Gateway) -> None:
    gateway.register_trial("conc-sql", SQL_TASK)
    gateway.register_trial("conc-weather", WEATHER_TASK)
    rounds = 12

    async def one(client: httpx.AsyncClient, trial_id: str, question: str, stream: bool) -> str:
        response = await client.post(
            f"{server.trial_base_url(trial_id)}/chat/completions", json=chat(question, stream=stream)
        )
        response.raise_for_status()
        if stream:
            names: list[str] = re.findall(r'"name": "(\w+)"', response.text)
            return names[0]
        return str(response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"])

    async with httpx.AsyncClient(timeout=10) as client:
        jobs = []
        for i in range(rounds):
            jobs.append(one(client, "conc-sql", TICKETS, stream=i % 2 == 0))
            jobs.append(one(client, "conc-weather", WEATHER, stream=i % 3 == 0))
        names = await asyncio.gather(*jobs)
    assert names[0::2] == ["sql_query"] * rounds and names[1::2] == ["weather"] * rounds
    for trial_id, tool_name in (("conc-sql", "sql_query"), ("conc-weather", "weather")):
        records = gateway.calls(trial_id)
        assert [r.sequence for r in records] == list(range(1, rounds + 1))
        assert {r.trial_id for r in records} == {trial_id}
        assert all([c.name for c in r.tool_calls] == [tool_name] for r in records)
    # A trial's own question asked on another trial does not match that trial's task.
    response = post(server, "conc-weather", chat(TICKETS))
    assert response.json()["choices"][0]["message"]["content"].startswith("[scripted-model:")


# -- records and processes --------------------------------------------------------------------------------


def test_records_are_mirrored_to_jsonl(server: GatewayServer, gateway: Gateway, trial: str) -> None:
    post(server, trial, chat(TICKETS))
    path = gateway.log.jsonl_path
    assert path is not None
    lines = [CallRecord.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r for r in lines if r.trial_id == trial] == gateway.calls(trial)


def test_model_endpoint_for_a_build(server: GatewayServer, trial: str) -> None:
    endpoint = server.model_endpoint(trial)
    assert endpoint.base_url == f"{server.base_url}/t/{trial}/v1" and endpoint.model == "afbench-scripted"
    assert endpoint.api_key
    response = httpx.post(
        f"{endpoint.base_url}/chat/completions",
        json=chat(TICKETS),
        headers={"Authorization": f"Bearer {endpoint.api_key}"},
        timeout=10,
    )
    assert response.status_code == 200


def test_access_key_is_enforced_when_configured() -> None:
    gateway = Gateway(ScriptedBackend(), access_key="s3cret")
    gateway.register_trial("locked", SQL_TASK)
    with GatewayServer(gateway) as server:
        url = f"{server.trial_base_url('locked')}/chat/completions"
        denied = httpx.post(url, json=chat(TICKETS), headers={"Authorization": "Bearer wrong"}, timeout=10)
        assert _error(denied, 401) and gateway.calls("locked")[0].status == 401
        allowed = httpx.post(url, json=chat(TICKETS), headers={"Authorization": "Bearer s3cret"}, timeout=10)
        assert allowed.status_code == 200
        assert server.model_endpoint("locked").api_key == "s3cret"


def test_gateway_runs_as_its_own_process(tmp_path: Path) -> None:
    records = tmp_path / "calls.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmark.gateway", "--port", "0", "--record", str(records)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else ""
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            process.kill()
            pytest.fail(f"the gateway process did not announce its address: {line!r} {process.communicate()[1]}")
        base = match.group(1)
        put = httpx.put(f"{base}/admin/trials/cli-1", content=SQL_TASK.model_dump_json(by_alias=True), timeout=10)
        assert put.status_code == 204, put.text
        bad = httpx.put(f"{base}/admin/trials/cli-2", content=b'{"id": "x"}', timeout=10)
        assert _error(bad, 400, "task")
        body = httpx.post(f"{base}/t/cli-1/v1/chat/completions", json=chat(TICKETS), timeout=10).json()
        assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "sql_query"
        calls = httpx.get(f"{base}/admin/trials/cli-1/calls", timeout=10).json()["calls"]
        assert len(calls) == 1 and calls[0]["trial_id"] == "cli-1" and calls[0]["tool_calls"][0]["name"] == "sql_query"
        ended = httpx.post(f"{base}/admin/trials/cli-1/end", timeout=10).json()["calls"]
        assert ended == calls  # nothing was open: ending the trial cut nothing off
        assert httpx.delete(f"{base}/admin/trials/cli-1", timeout=10).status_code == 204
        assert httpx.post(f"{base}/t/cli-1/v1/chat/completions", json=chat(TICKETS), timeout=10).status_code == 404
    finally:
        process.terminate()
        process.communicate(timeout=10)  # also closes the pipes
    assert process.returncode == 0
    assert json.loads(records.read_text(encoding="utf-8").splitlines()[0])["trial_id"] == "cli-1"
