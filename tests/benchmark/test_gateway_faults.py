"""Model faults at the gateway: each kind injected exactly once, at the n-th call of its role, in JSON and streamed
form; transport faults as the openai client sees them; faults never leak into other calls or other trials."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from benchmark import spec
from benchmark.gateway import CallRecord, Gateway, GatewayServer, ScriptedBackend, UpstreamBackend
from benchmark.gateway.completions import Observed, sse_data
from benchmark.runner.model_gateway import is_infra_failure, model_calls
from benchmark.system import default_spec
from benchmark.tasks.models import Task
from tests.benchmark.fake_upstream import FakeUpstream
from tests.loopback import serve_in_thread

SPEC = default_spec()
OPERATIONAL = SPEC.agent(spec.OPERATIONAL).instructions
LEGAL = SPEC.agent(spec.LEGAL).instructions
GUARDRAIL = SPEC.guardrail.instructions
TICKETS = "How many support tickets did we get in March?"
LEAVE = "How many days of annual leave do staff get?"
QUERY = "SELECT COUNT(*) FROM tickets WHERE month = 3"
SCHEMA_RESULT = {"tables": [{"name": "tickets", "columns": ["id", "month"]}]}
SQL_RESULT = {"columns": ["n"], "rows": [[57]], "row_count": 1}
TEMPLATE = "We received {sql.rows[0][0]} support tickets in March (table {schema.tables[0].name})."
ANSWER = "We received 57 support tickets in March (table tickets)."


def _tool(name: str, properties: dict[str, Any] | None = None, required: list[str] | None = None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"type": "object", "properties": properties or {}}
    if required is not None:
        parameters["required"] = required
    return {"type": "function", "function": {"name": name, "description": f"the {name} tool", "parameters": parameters}}


OPERATIONAL_TOOLS = [
    _tool("calculator", {"expression": {"type": "string"}}, ["expression"]),
    _tool("weather", {"location": {"type": "string"}}, ["location"]),
    _tool("sql_schema"),
    _tool("sql_query", {"sql": {"type": "string"}}, ["sql"]),
    _tool("search", {"query": {"type": "string"}}, ["query"]),
]
LEGAL_TOOLS = [_tool("rag_search", {"query": {"type": "string"}}, ["query"]), _tool("search")]


def task(fault: dict[str, Any] | None = None, task_id: str = "tickets") -> Task:
    return Task.model_validate(
        {
            "id": task_id,
            "category": "test",
            "turns": [
                {
                    "user": TICKETS,
                    "expect": {"route": "operational_agent"},
                    "script": {
                        "steps": [
                            {"call": "sql_schema", "as": "schema"},
                            {"call": "sql_query", "arguments": {"sql": QUERY}, "as": "sql"},
                        ],
                        "answer": TEMPLATE,
                    },
                },
                {
                    "user": LEAVE,
                    "expect": {"route": "legal_expert"},
                    "script": {
                        "steps": [{"call": "rag_search", "arguments": {"query": "annual leave days"}, "as": "docs"}],
                        "answer": "Staff get {docs.hits[0].text}.",
                    },
                },
            ],
            **({"fault": {"model": fault, "expect": "recovered"}} if fault else {}),
        }
    )


def call_msg(call_id: str, name: str, arguments: str = "{}") -> dict[str, Any]:
    function = {"name": name, "arguments": arguments}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


def result_msg(call_id: str, content: Any) -> dict[str, Any]:
    return {
        "role": "tool",
        "tool_call_id": call_id,
        "content": content if isinstance(content, str) else json.dumps(content),
    }


def operational(*history: dict[str, Any], **fields: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": OPERATIONAL}, {"role": "user", "content": TICKETS}, *history]
    return {"model": "afbench-scripted", "messages": messages, "tools": OPERATIONAL_TOOLS, **fields}


AFTER_SCHEMA = (call_msg("call_s", "sql_schema"), result_msg("call_s", SCHEMA_RESULT))


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Gateway, GatewayServer]]:
    gateway = Gateway(ScriptedBackend())
    with GatewayServer(gateway) as server:
        yield gateway, server


_counter = iter(range(1, 100_000))


def register(served: tuple[Gateway, GatewayServer], fault: dict[str, Any] | None) -> str:
    trial_id = f"fault-{next(_counter)}"
    served[0].register_trial(trial_id, task(fault))
    return trial_id


def post(served: tuple[Gateway, GatewayServer], trial_id: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{served[1].trial_base_url(trial_id)}/chat/completions", json=body, timeout=10)


def observed(response: httpx.Response, stream: bool) -> Observed:
    assert response.status_code == 200, response.text
    seen = Observed()
    if not stream:
        seen.feed_body(response.json())
        return seen
    lines = response.text.splitlines()
    assert "data: [DONE]" in lines
    for line in lines:
        chunk = sse_data(line)
        if chunk is not None:
            seen.feed_chunk(chunk)
    assert seen.usage is not None  # the usage chunk the request asked for is there
    return seen


def records(served: tuple[Gateway, GatewayServer], trial_id: str) -> list[CallRecord]:
    assert served[0].wait_sealed(trial_id, 5)
    return served[0].calls(trial_id)


# -- reply faults -------------------------------------------------------------------------------------------


def check_kind(kind: str, seen: Observed) -> None:
    """The faulty reply each kind stands for, given that the scripted reply was ``sql_query(sql=QUERY)``."""
    calls = seen.calls()
    if kind == "malformed_arguments":
        [call] = calls
        assert call.name == "sql_query"
        with pytest.raises(ValueError):
            json.loads(call.arguments)
    elif kind == "unknown_tool":
        [call] = calls
        assert call.name not in {t["function"]["name"] for t in OPERATIONAL_TOOLS}
        assert json.loads(call.arguments) == {"sql": QUERY}
    elif kind == "missing_argument":
        [call] = calls
        assert call.name == "sql_query" and json.loads(call.arguments) == {}
    elif kind == "wrong_argument_type":
        [call] = calls
        assert call.name == "sql_query" and json.loads(call.arguments) == {"sql": [QUERY]}
    elif kind == "disallowed_tool":
        [call] = calls
        assert call.name == "rag_search" and json.loads(call.arguments) == {"query": "annual leave days"}
    elif kind == "tool_call_as_text":
        assert not calls and seen.finish_reason == "stop"
        assert seen.content.startswith("<tool_call>") and seen.content.endswith("</tool_call>")
        inner = json.loads(seen.content.removeprefix("<tool_call>").removesuffix("</tool_call>"))
        assert inner == {"name": "sql_query", "arguments": {"sql": QUERY}}
    elif kind == "empty_reply":
        assert not calls and seen.content == "" and seen.finish_reason == "stop"
    elif kind == "length_cutoff":
        [call] = calls
        assert seen.finish_reason == "length" and json.dumps({"sql": QUERY}).startswith(call.arguments)
        assert len(call.arguments) < len(json.dumps({"sql": QUERY}))
    elif kind == "parallel_calls":
        # Only one step remains after the schema: the same call twice, with distinct ids.
        assert [c.name for c in calls] == ["sql_query", "sql_query"] and calls[0].id != calls[1].id
        assert all(json.loads(c.arguments) == {"sql": QUERY} for c in calls)
    else:
        raise AssertionError(kind)


REPLY_KINDS = [
    "malformed_arguments",
    "unknown_tool",
    "missing_argument",
    "wrong_argument_type",
    "disallowed_tool",
    "tool_call_as_text",
    "empty_reply",
    "length_cutoff",
    "parallel_calls",
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("kind", REPLY_KINDS)
def test_each_reply_fault_breaks_exactly_the_nth_call_of_its_role(
    served: tuple[Gateway, GatewayServer], kind: str, stream: bool
) -> None:
    fault: dict[str, Any] = {"kind": kind, "role": "specialist", "nth": 2}
    if kind == "disallowed_tool":
        fault["tool"] = "rag_search"  # the legal expert's tool: not the operational agent's
    trial_id = register(served, fault)
    wire = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
    first = observed(post(served, trial_id, operational(**wire)), stream)
    assert [(c.name, c.arguments) for c in first.calls()] == [("sql_schema", "{}")]  # call 1: untouched
    check_kind(kind, observed(post(served, trial_id, operational(*AFTER_SCHEMA, **wire)), stream))
    # Call 3 (the framework reported the faulty call back): the reference trajectory goes on, untouched.
    reported = (call_msg("call_f", "sql_query", "{"), result_msg("call_f", "Error: invalid JSON in the arguments"))
    third = observed(post(served, trial_id, operational(*AFTER_SCHEMA, *reported, **wire)), stream)
    assert [(c.name, json.loads(c.arguments)) for c in third.calls()] == [("sql_query", {"sql": QUERY})]
    calls = records(served, trial_id)
    assert [r.fault for r in calls] == [None, kind, None]
    assert all(r.status == 200 for r in calls)
    faulted = calls[1]
    assert faulted.stream is stream
    if faulted.tool_calls:  # the record holds what was sent, not what the script said
        assert faulted.tool_calls[0].name == check_name(kind)
    [model_call] = [c for c in model_calls(calls, [0.0]) if c.fault is not None]
    assert model_call.sequence == 2 and model_call.fault == kind and not model_call.infra_error


def check_name(kind: str) -> str:
    return {"unknown_tool": "get_sql_query", "disallowed_tool": "rag_search"}.get(kind, "sql_query")


def test_parallel_calls_sends_the_next_two_scripted_steps_at_once(served: tuple[Gateway, GatewayServer]) -> None:
    trial_id = register(served, {"kind": "parallel_calls", "nth": 1})
    seen = observed(post(served, trial_id, operational()), False)
    assert [(c.name, json.loads(c.arguments)) for c in seen.calls()] == [
        ("sql_schema", {}),
        ("sql_query", {"sql": QUERY}),
    ]
    assert len({c.id for c in seen.calls()}) == 2


def test_the_legal_expert_is_made_to_call_sql_query(served: tuple[Gateway, GatewayServer]) -> None:
    trial_id = register(served, {"kind": "disallowed_tool", "nth": 1})
    messages = [{"role": "system", "content": LEGAL}, {"role": "user", "content": LEAVE}]
    seen = observed(post(served, trial_id, {"model": "m", "messages": messages, "tools": LEGAL_TOOLS}), False)
    [call] = seen.calls()
    assert call.name == "sql_query" and json.loads(call.arguments)["sql"].upper().startswith("SELECT")
    assert [r.fault for r in records(served, trial_id)] == ["disallowed_tool"]


def test_a_role_counts_only_its_own_calls(served: tuple[Gateway, GatewayServer]) -> None:
    """A guardrail fault at nth=1 breaks the guardrail's first call, not the specialist's that comes first."""
    trial_id = register(served, {"kind": "empty_reply", "role": "guardrail", "nth": 1})
    assert observed(post(served, trial_id, operational()), False).calls()  # the specialist: untouched
    guard = {"model": "m", "messages": [{"role": "system", "content": GUARDRAIL}, {"role": "user", "content": TICKETS}]}
    assert observed(post(served, trial_id, guard), False).content == ""
    second_guard = {**guard, "messages": [*guard["messages"], {"role": "assistant", "content": ""}]}
    verdict = json.loads(observed(post(served, trial_id, second_guard), False).content)
    assert verdict["allowed"] is True  # its next call gets the reference verdict again
    assert [r.fault for r in records(served, trial_id)] == [None, "empty_reply", None]


def test_an_identical_resend_is_the_same_calls_retry_and_gets_the_reference_reply(
    served: tuple[Gateway, GatewayServer],
) -> None:
    trial_id = register(served, {"kind": "empty_reply", "nth": 1})
    assert observed(post(served, trial_id, operational()), False).content == ""
    assert observed(post(served, trial_id, operational()), False).calls()[0].name == "sql_schema"
    assert [r.fault for r in records(served, trial_id)] == ["empty_reply", None]


def test_a_fault_that_cannot_apply_is_not_recorded(served: tuple[Gateway, GatewayServer]) -> None:
    """missing_argument on sql_schema (a call with no arguments): the reply goes out as the script has it."""
    trial_id = register(served, {"kind": "missing_argument", "nth": 1})
    assert [(c.name, c.arguments) for c in observed(post(served, trial_id, operational()), False).calls()] == [
        ("sql_schema", "{}")
    ]
    assert [r.fault for r in records(served, trial_id)] == [None]


def test_structured_output_text_gets_the_argument_faults(served: tuple[Gateway, GatewayServer]) -> None:
    """A guardrail answering in a JSON schema: its object loses a required property / gets a mistyped one."""
    schema = {
        "type": "object",
        "properties": {"reason": {"type": "string"}, "allowed": {"type": "boolean"}},
        "required": ["allowed", "reason"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema}}
    guard = {
        "model": "m",
        "messages": [{"role": "system", "content": GUARDRAIL}, {"role": "user", "content": TICKETS}],
        "response_format": fmt,
    }
    reference = json.loads(observed(post(served, register(served, None), guard), False).content)
    assert reference["allowed"] is True
    missing = register(served, {"kind": "missing_argument", "role": "guardrail"})
    assert json.loads(observed(post(served, missing, guard), False).content) == {"reason": reference["reason"]}
    mistyped = register(served, {"kind": "wrong_argument_type", "role": "guardrail"})
    assert json.loads(observed(post(served, mistyped, guard), False).content)["allowed"] == "true"
    broken = register(served, {"kind": "malformed_arguments", "role": "guardrail"})
    with pytest.raises(ValueError):
        json.loads(observed(post(served, broken, guard), False).content)


# -- transport faults, as the openai client sees them --------------------------------------------------------


def client(served: tuple[Gateway, GatewayServer], trial_id: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=served[1].trial_base_url(trial_id), api_key="k", **options)


def ask(oai: openai.OpenAI, **fields: Any) -> Any:
    body = operational()
    return oai.chat.completions.create(model=body["model"], messages=body["messages"], tools=body["tools"], **fields)


def test_http_429_has_retry_after_and_the_client_retries_through_it(served: tuple[Gateway, GatewayServer]) -> None:
    trial_id = register(served, {"kind": "http_429", "nth": 1})
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client(served, trial_id, max_retries=0))
    assert caught.value.status_code == 429 and caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"
    # A second trial, and a client with its default retries: one 429, then the answer.
    retried = register(served, {"kind": "http_429", "nth": 1})
    completion = ask(client(served, retried, max_retries=2))
    assert completion.choices[0].message.tool_calls[0].function.name == "sql_schema"
    calls = records(served, retried)
    assert [(r.status, r.fault) for r in calls] == [(429, "http_429"), (200, None)]
    assert not any(is_infra_failure(r) for r in calls)


@pytest.mark.parametrize(("kind", "status", "error"), [
    ("http_500", 500, openai.InternalServerError),
    ("http_503", 503, openai.APIStatusError),
])  # fmt: skip
def test_server_errors_fail_times_attempts_then_let_the_call_through(
    served: tuple[Gateway, GatewayServer], kind: str, status: int, error: type[Exception]
) -> None:
    trial_id = register(served, {"kind": kind, "nth": 1, "times": 2})
    oai = client(served, trial_id, max_retries=0)
    for _ in range(2):
        with pytest.raises(error) as caught:
            ask(oai)
        assert getattr(caught.value, "status_code", None) == status
    assert ask(oai).choices[0].message.tool_calls[0].function.name == "sql_schema"
    calls = records(served, trial_id)
    assert [(r.status, r.fault) for r in calls] == [(status, kind), (status, kind), (200, None)]
    assert not any(is_infra_failure(r) for r in calls)
    assert [c.infra_error for c in model_calls(calls, [0.0])] == [False, False, False]


def test_connection_reset_closes_the_socket_without_an_answer(served: tuple[Gateway, GatewayServer]) -> None:
    trial_id = register(served, {"kind": "connection_reset", "nth": 1})
    with pytest.raises(httpx.TransportError):
        post(served, trial_id, operational())
    with pytest.raises(openai.APIConnectionError):
        ask(client(served, register(served, {"kind": "connection_reset", "nth": 1}), max_retries=0))
    retried = register(served, {"kind": "connection_reset", "nth": 1})
    assert ask(client(served, retried, max_retries=1)).choices[0].message.tool_calls
    calls = records(served, retried)
    assert [(r.status, r.fault) for r in calls] == [(499, "connection_reset"), (200, None)]
    assert not is_infra_failure(calls[0])


def test_a_stalled_stream_sends_its_start_then_nothing(served: tuple[Gateway, GatewayServer]) -> None:
    trial_id = register(served, {"kind": "stalled_stream", "nth": 1})
    stream = ask(client(served, trial_id, max_retries=0, timeout=1.5), stream=True)
    received = []
    with pytest.raises((openai.APITimeoutError, httpx.ReadTimeout)):
        for chunk in stream:
            received.append(chunk)
    assert received and received[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].finish_reason is None for c in received)  # it never ended
    stream.close()
    [record] = records(served, trial_id)
    assert record.fault == "stalled_stream" and record.cut_off == "client_closed" and record.finish_reason is None


def test_a_stalled_plain_request_gets_no_answer_until_the_client_gives_up(
    served: tuple[Gateway, GatewayServer],
) -> None:
    trial_id = register(served, {"kind": "stalled_stream", "nth": 1, "times": 1})
    oai = client(served, trial_id, max_retries=1, timeout=1.0)
    assert ask(oai).choices[0].message.tool_calls  # the first attempt timed out; the retry got the answer
    calls = records(served, trial_id)
    assert [(r.fault, r.cut_off) for r in calls] == [("stalled_stream", "client_closed"), (None, None)]


def test_the_trial_end_cancels_a_stalled_call(served: tuple[Gateway, GatewayServer]) -> None:
    gateway = served[0]
    trial_id = register(served, {"kind": "stalled_stream", "nth": 1})

    async def stall_then_end() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            url = f"{served[1].trial_base_url(trial_id)}/chat/completions"
            pending = asyncio.create_task(http.post(url, json=operational()))
            for _ in range(100):
                if gateway.pending(trial_id):
                    break
                await asyncio.sleep(0.02)
            await asyncio.to_thread(gateway.end_trial, trial_id)
            response = await pending
            assert response.status_code == 499

    asyncio.run(stall_then_end())
    [record] = gateway.calls(trial_id)
    assert record.fault == "stalled_stream" and record.cut_off == "trial_end"


# -- isolation -----------------------------------------------------------------------------------------------


def test_two_concurrent_trials_only_the_faulted_one_is_touched(served: tuple[Gateway, GatewayServer]) -> None:
    faulted = register(served, {"kind": "malformed_arguments", "nth": 1})
    clean = register(served, None)

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=10) as http:

            def send(trial_id: str, body: dict[str, Any]) -> Any:
                return http.post(f"{served[1].trial_base_url(trial_id)}/chat/completions", json=body)

            stream = {"stream": True}
            return list(
                await asyncio.gather(
                    *(send(t, operational(**stream)) for t in (clean, faulted, clean)),
                    *(send(t, operational(*AFTER_SCHEMA)) for t in (clean, faulted, clean)),
                )
            )

    responses = asyncio.run(both())
    assert all(r.status_code == 200 for r in responses)
    assert [r.fault for r in records(served, clean)] == [None] * 4
    assert sorted(str(r.fault) for r in records(served, faulted)) == ["None", "malformed_arguments"]
    for record in records(served, clean):
        assert [(c.name, c.arguments) for c in record.tool_calls] in (
            [("sql_schema", {})],
            [("sql_query", {"sql": QUERY})],
        )


# -- recovery end to end: a framework that reports a faulty call back to the model ---------------------------


def run_agent(served: tuple[Gateway, GatewayServer], trial_id: str, tools: list[dict[str, Any]]) -> str:
    """A minimal agent loop over the openai client: a call it cannot run goes back as an error tool result."""
    offered = {t["function"]["name"] for t in tools}
    messages: list[Any] = [{"role": "system", "content": OPERATIONAL}, {"role": "user", "content": TICKETS}]
    oai = client(served, trial_id, max_retries=2)
    for _ in range(10):
        message = oai.chat.completions.create(model="m", messages=messages, tools=tools).choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            return message.content or ""
        for call in message.tool_calls:
            name = call.function.name
            try:
                arguments = json.loads(call.function.arguments)
            except ValueError as exc:
                content = f"Error: the arguments are not valid JSON: {exc}"
            else:
                if name not in offered:
                    content = f"Error: {name} is not a valid tool, try one of [{', '.join(sorted(offered))}]."
                elif name == "sql_schema":
                    content = json.dumps(SCHEMA_RESULT)
                elif not isinstance(arguments.get("sql"), str):
                    content = json.dumps({"error": {"code": "invalid_argument", "message": "invalid arguments: sql"}})
                else:
                    content = json.dumps(SQL_RESULT)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    raise AssertionError("the agent did not finish")


@pytest.mark.parametrize(
    "kind", ["malformed_arguments", "unknown_tool", "missing_argument", "wrong_argument_type", "disallowed_tool",
             "parallel_calls", "http_429", "http_500", "connection_reset"]
)  # fmt: skip
def test_a_build_that_reports_the_fault_back_recovers(served: tuple[Gateway, GatewayServer], kind: str) -> None:
    fault: dict[str, Any] = {"kind": kind, "nth": 2}
    if kind == "disallowed_tool":
        fault["tool"] = "rag_search"
    trial_id = register(served, fault)
    assert run_agent(served, trial_id, OPERATIONAL_TOOLS) == ANSWER
    assert [r.fault for r in records(served, trial_id)].count(kind) == 1


# -- any backend: the faults do not depend on the scripted model's answering -------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_faults_apply_to_an_upstream_models_replies_too(stream: bool) -> None:
    fake = FakeUpstream(tool_call=("sql_query", {"sql": QUERY}))
    with serve_in_thread(fake.app) as url:
        gateway = Gateway(UpstreamBackend(f"{url}/v1", "key"), models=["gpt-test"])
        with GatewayServer(gateway) as server:
            pair = (gateway, server)
            broken = register(pair, {"kind": "malformed_arguments", "nth": 1})
            wire = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
            [call] = observed(post(pair, broken, operational(**wire)), stream).calls()
            assert call.name == "sql_query" and not _is_json(call.arguments)
            assert len(fake.requests) == 1  # the upstream answered once; the gateway broke its reply
            refused = register(pair, {"kind": "http_503", "nth": 1})
            assert post(pair, refused, operational(**wire)).status_code == 503
            assert len(fake.requests) == 1  # a transport fault never reaches the upstream
            assert [r.fault for r in records(pair, broken)] == ["malformed_arguments"]
            assert [r.fault for r in records(pair, refused)] == ["http_503"]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
