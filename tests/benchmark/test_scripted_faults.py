"""The scripted model after a faulty call: it continues the reference trajectory when the framework reports the
problem back (in the shapes real frameworks use), retries a failed step once, then answers gracefully."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from benchmark import spec
from benchmark.scripted import COULD_NOT_COMPLETE, ScriptedReply, reply, role_of
from benchmark.scripted.results import is_call_problem, is_error, is_transient
from benchmark.system import default_spec
from benchmark.tasks.models import Task

SPEC = default_spec()
OPERATIONAL = SPEC.agent(spec.OPERATIONAL).instructions
LEGAL = SPEC.agent(spec.LEGAL).instructions
TICKETS = "How many support tickets did we get in March?"
LEAVE = "How many days of annual leave do staff get?"
KYOTO = "What's the weather in Kyoto right now?"
QUERY = "SELECT COUNT(*) FROM tickets WHERE month = 3"
SCHEMA_RESULT = {"tables": [{"name": "tickets", "columns": ["id", "month"]}]}
SQL_RESULT = {"columns": ["n"], "rows": [[57]], "row_count": 1}
ANSWER = "We received 57 support tickets in March (table tickets)."

TASK = Task.model_validate(
    {
        "id": "faults",
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
                    "answer": "We received {sql.rows[0][0]} support tickets in March (table {schema.tables[0].name}).",
                },
            },
            {
                "user": LEAVE,
                "expect": {"route": "legal_expert"},
                "script": {
                    "steps": [{"call": "rag_search", "arguments": {"query": "annual leave"}, "as": "docs"}],
                    "answer": "Staff get {docs.hits[0].text}.",
                },
            },
            {
                "user": KYOTO,
                "expect": {"route": "operational_agent"},
                "script": {
                    "steps": [{"call": "weather", "arguments": {"location": "Kyoto"}}],
                    "answer": "I couldn't get the weather for Kyoto ({weather.error.message}).",
                },
            },
        ],
    }
)


def tool(name: str, properties: dict[str, Any] | None = None, required: list[str] | None = None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"type": "object", "properties": properties or {}}
    if required is not None:
        parameters["required"] = required
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


OPERATIONAL_TOOLS = [tool(n) for n in ("calculator", "weather", "sql_schema", "sql_query", "search")]
LEGAL_TOOLS = [tool(n) for n in ("rag_search", "search")]


def calls(*pairs: tuple[str, str, str], content: str | None = None) -> dict[str, Any]:
    """An assistant message with these (id, name, arguments text) tool calls."""
    tool_calls = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in pairs]
    return {"role": "assistant", "content": content, "tool_calls": tool_calls}


def result(call_id: str, content: Any) -> dict[str, Any]:
    text = content if isinstance(content, str) else json.dumps(content)
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def operational(*history: dict[str, Any], user: str = TICKETS) -> dict[str, Any]:
    messages = [{"role": "system", "content": OPERATIONAL}, {"role": "user", "content": user}, *history]
    return {"messages": messages, "tools": OPERATIONAL_TOOLS}


AFTER_SCHEMA = (calls(("c1", "sql_schema", "{}")), result("c1", SCHEMA_RESULT))
SCRIPTED_QUERY = json.dumps({"sql": QUERY})


def the_call(answer: ScriptedReply) -> tuple[str, Any]:
    assert answer.content is None, answer.content
    [call] = answer.tool_calls
    return call.name, json.loads(call.arguments)


# The faulty call a gateway fault makes, and how frameworks report such a call back (their real wordings).
REPORTED = {
    "malformed (langchain)": (
        ("c2", "sql_query", '{"sql": "SELECT COUNT(*) FROM tickets WHERE month = 3"'),
        "Error: JSONDecodeError('Expecting \\',\\' delimiter: line 1 column 52 (char 51)')\n Please fix your mistakes.",
    ),
    "malformed (semantic kernel)": (
        ("c2", "sql_query", '{"sql": "SELECT'),
        "The tool call arguments are malformed. Arguments must be in JSON format. Please try again.",
    ),
    "unknown tool (langchain)": (
        ("c2", "get_sql_query", SCRIPTED_QUERY),
        "Error: get_sql_query is not a valid tool, try one of [calculator, weather, sql_schema, sql_query, search].",
    ),
    "unknown tool (pydantic-ai)": (
        ("c2", "get_sql_query", SCRIPTED_QUERY),
        "Unknown tool name: 'get_sql_query'. Available tools: 'calculator', 'weather', 'sql_schema', 'sql_query', "
        "'search'\n\nFix the errors and try again.",
    ),
    "unknown tool (autogen)": (("c2", "get_sql_query", "{}"), "Error: The tool 'get_sql_query' is not available."),
    "unknown tool (google adk)": (
        ("c2", "get_sql_query", "{}"),
        {"error": "Function get_sql_query is not found in the tools_dict."},
    ),
    "missing argument (mcp server)": (
        ("c2", "sql_query", "{}"),
        {"error": {"code": "invalid_argument", "message": "invalid arguments: sql: Field required", "details": {}}},
    ),
    "missing argument (mcp CallToolResult)": (
        ("c2", "sql_query", "{}"),
        {"content": [{"type": "text", "text": "invalid arguments: sql: Field required"}], "isError": True},
    ),
    "wrong type (pydantic-ai)": (
        ("c2", "sql_query", json.dumps({"sql": [QUERY]})),
        '1 validation error:\n```json\n[\n  {\n    "type": "string_type",\n    "loc": [\n      "sql"\n    ],\n'
        '    "msg": "Input should be a valid string"\n  }\n]\n```\n\nFix the errors and try again.',
    ),
    "wrong type (langchain)": (
        ("c2", "sql_query", json.dumps({"sql": [QUERY]})),
        "Error invoking tool 'sql_query' with kwargs {'sql': ['SELECT']} with error:\n sql: Input should be a valid "
        "string\n Please fix the error and try again.",
    ),
    "malformed (pydantic-ai)": (
        ("c2", "sql_query", '{"sql": "SELECT'),
        {"error": [{"type": "json_invalid", "loc": [], "msg": "Invalid JSON: EOF while parsing a string"}]},
    ),
    "disallowed tool (agno)": (("c2", "rag_search", '{"query": "x"}'), "Function rag_search not found"),
    "disallowed tool (crewai)": (
        ("c2", "rag_search", '{"query": "x"}'),
        "I encountered an error while trying to use the tool. This was the error: Tool 'rag_search' not found.",
    ),
}


@pytest.mark.parametrize("case", list(REPORTED))
def test_after_a_reported_faulty_call_the_step_is_called_as_scripted(case: str) -> None:
    faulty_call, report = REPORTED[case]
    assert is_error(report if isinstance(report, str) else json.dumps(report)), case
    answer = reply(TASK, operational(*AFTER_SCHEMA, calls(faulty_call), result(faulty_call[0], report)))
    assert the_call(answer) == ("sql_query", {"sql": QUERY})
    # ... and once that retry has its result, the reference answer follows.
    retry = answer.tool_calls[0]
    done = (calls((retry.id, retry.name, retry.arguments)), result(retry.id, SQL_RESULT))
    final = reply(TASK, operational(*AFTER_SCHEMA, calls(faulty_call), result(faulty_call[0], report), *done))
    assert final.content == ANSWER


def test_a_step_that_fails_twice_gets_a_plain_answer_without_figures() -> None:
    unavailable = {"error": {"code": "unavailable", "message": "sql_query is temporarily unavailable", "details": {}}}
    first = (calls(("c2", "sql_query", SCRIPTED_QUERY)), result("c2", unavailable))
    assert the_call(reply(TASK, operational(*AFTER_SCHEMA, *first))) == ("sql_query", {"sql": QUERY})
    second = (calls(("c3", "sql_query", SCRIPTED_QUERY)), result("c3", unavailable))
    answer = reply(TASK, operational(*AFTER_SCHEMA, *first, *second))
    assert answer.content is not None and not answer.tool_calls and not answer.is_marker
    assert answer.content.startswith(COULD_NOT_COMPLETE)
    assert "sql_query" in answer.content and "temporarily unavailable" in answer.content
    assert not re.search(r"\d", answer.content) and "{" not in answer.content


def test_a_transient_failure_once_is_retried_and_the_answer_comes_from_the_retry() -> None:
    timeout = "Error: MCP error -32001: Request timed out"
    history = (calls(("c2", "sql_query", SCRIPTED_QUERY)), result("c2", timeout))
    retry = reply(TASK, operational(*AFTER_SCHEMA, *history))
    assert the_call(retry) == ("sql_query", {"sql": QUERY})
    done = (calls(("c3", "sql_query", SCRIPTED_QUERY)), result("c3", SQL_RESULT))
    assert reply(TASK, operational(*AFTER_SCHEMA, *history, *done)).content == ANSWER


def test_the_error_a_step_expects_is_its_result_but_a_faulty_call_before_it_is_not() -> None:
    not_found = {"error": {"code": "not_found", "message": "no place called 'Kyoto' in the data set", "details": {}}}
    expected = "I couldn't get the weather for Kyoto (no place called 'Kyoto' in the data set)."
    # The scripted call's error: the answer reads it at once (as the core tool-error tasks need).
    plain = (calls(("w1", "weather", '{"location": "Kyoto"}')), result("w1", not_found))
    assert reply(TASK, operational(*plain, user=KYOTO)).content == expected
    # A faulty call first (its argument left out): retried with the script's arguments, then the answer.
    invalid = {"error": {"code": "invalid_argument", "message": "invalid arguments: location: Field required"}}
    faulty = (calls(("w0", "weather", "{}")), result("w0", invalid))
    assert the_call(reply(TASK, operational(*faulty, user=KYOTO))) == ("weather", {"location": "Kyoto"})
    assert reply(TASK, operational(*faulty, *plain, user=KYOTO)).content == expected


@pytest.mark.parametrize(
    "assistant",
    [
        {
            "role": "assistant",
            "content": f'<tool_call>\n{{"name": "sql_query", "arguments": {SCRIPTED_QUERY}}}\n</tool_call>',
        },
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "We received"},
    ],
    ids=["tool_call_as_text", "empty_reply", "length_cutoff"],
)
def test_after_a_text_fault_the_model_makes_its_reference_move_again(assistant: dict[str, Any]) -> None:
    nudge = {"role": "user", "content": "Please continue."}
    assert the_call(reply(TASK, operational(*AFTER_SCHEMA, assistant, nudge))) == ("sql_query", {"sql": QUERY})
    done = (calls(("c3", "sql_query", SCRIPTED_QUERY)), result("c3", SQL_RESULT))
    assert reply(TASK, operational(*AFTER_SCHEMA, assistant, nudge, *done)).content == ANSWER


def test_parallel_calls_with_both_results_lead_to_the_answer() -> None:
    both = calls(("p1", "sql_schema", "{}"), ("p2", "sql_query", SCRIPTED_QUERY))
    history = (both, result("p1", SCHEMA_RESULT), result("p2", SQL_RESULT))
    assert reply(TASK, operational(*history)).content == ANSWER
    twice = calls(("p3", "sql_query", SCRIPTED_QUERY), ("p4", "sql_query", SCRIPTED_QUERY))
    history = (*AFTER_SCHEMA, twice, result("p3", SQL_RESULT), result("p4", SQL_RESULT))
    assert reply(TASK, operational(*history)).content == ANSWER


def test_the_legal_expert_after_a_disallowed_call_searches_as_scripted() -> None:
    messages = [{"role": "system", "content": LEGAL}, {"role": "user", "content": LEAVE}]
    disallowed = calls(("d1", "sql_query", '{"sql": "SELECT * FROM customers LIMIT 10"}'))
    report = result("d1", "Error: sql_query is not a valid tool, try one of [rag_search, search].")
    answer = reply(TASK, {"messages": [*messages, disallowed, report], "tools": LEGAL_TOOLS})
    assert the_call(answer) == ("rag_search", {"query": "annual leave"})


def test_the_guardrail_calls_its_verdict_tool_again_after_an_error() -> None:
    verdict = tool(
        "final_result", {"allowed": {"type": "boolean"}, "reason": {"type": "string"}}, ["allowed", "reason"]
    )
    base = [{"role": "system", "content": SPEC.guardrail.instructions}, {"role": "user", "content": TICKETS}]
    broken = calls(("g1", "final_result", '{"allowed": true'))
    error = result("g1", "Error: the arguments are not valid JSON: Expecting ',' delimiter")
    name, arguments = the_call(reply(TASK, {"messages": [*base, broken, error], "tools": [verdict]}))
    assert name == "final_result" and arguments["allowed"] is True
    accepted = (calls(("g2", "final_result", json.dumps(arguments))), result("g2", "Final result processed."))
    after = reply(TASK, {"messages": [*base, broken, error, *accepted], "tools": [verdict]})
    assert after.content is not None and json.loads(after.content)["allowed"] is True


def test_a_transient_failure_in_strands_wording_is_retried_once_then_owned_up_to() -> None:
    """Strands reports a failed MCP call as ``Tool execution failed: …``: an error, not data to answer from."""
    expired = "Tool execution failed: Session not found: initialize again"
    assert is_error(expired) and is_transient(expired)
    assert is_transient("Session terminated\n")  # the mcp 1.x client's stand-in for the 404, as AutoGen relays it
    # LangChain's ToolRetryMiddleware, once its retries are spent
    assert is_transient("Tool 'sql_query' failed after 3 attempts with McpError: Session terminated. Please try again.")
    first = (calls(("c2", "sql_query", SCRIPTED_QUERY)), result("c2", expired))
    assert the_call(reply(TASK, operational(*AFTER_SCHEMA, *first))) == ("sql_query", {"sql": QUERY})
    second = (calls(("c3", "sql_query", SCRIPTED_QUERY)), result("c3", expired))
    answer = reply(TASK, operational(*AFTER_SCHEMA, *first, *second))
    assert answer.content is not None and answer.content.startswith(COULD_NOT_COMPLETE)


def test_the_orchestrator_routes_again_once_after_a_failed_specialist_then_owns_up() -> None:
    """A specialist behind an agent-as-tool that raised (Strands: ``Agent error: …``) is routed to once more;
    a second failure gets the plain could-not-complete answer, never the error relayed as the answer."""
    agents = [
        tool("operational_agent", {"input": {"type": "string"}}),
        tool("legal_expert", {"input": {"type": "string"}}),
    ]
    base = [{"role": "system", "content": SPEC.orchestrator_instructions}, {"role": "user", "content": TICKETS}]
    failure = "Agent error: Error code: 500 - The server had an error while processing your request."
    first = (calls(("o1", "operational_agent", json.dumps({"input": TICKETS}))), result("o1", failure))
    assert the_call(reply(TASK, {"messages": [*base, *first], "tools": agents}))[0] == "operational_agent"
    second = (calls(("o2", "operational_agent", json.dumps({"input": TICKETS}))), result("o2", failure))
    answer = reply(TASK, {"messages": [*base, *first, *second], "tools": agents})
    assert answer.content is not None and not answer.tool_calls
    assert answer.content.startswith(COULD_NOT_COMPLETE) and "Error code: 500" in answer.content


def test_the_orchestrator_routes_again_after_a_failed_routing_call_and_relays_a_graceful_answer() -> None:
    handoffs = [tool("transfer_to_legal_expert"), tool("transfer_to_operational_agent")]
    base = [{"role": "system", "content": SPEC.orchestrator_instructions}, {"role": "user", "content": TICKETS}]
    broken = calls(("o1", "transfer_to_operational_agent", "{"))
    error = result("o1", "Error: Invalid JSON input for tool transfer_to_operational_agent")
    again = reply(TASK, {"messages": [*base, broken, error], "tools": handoffs})
    assert the_call(again) == ("transfer_to_operational_agent", {})
    graceful = f"{COULD_NOT_COMPLETE}: the sql_query tool failed twice, so I have no result to answer from."
    agents = [
        tool("operational_agent", {"input": {"type": "string"}}),
        tool("legal_expert", {"input": {"type": "string"}}),
    ]
    asked = calls(("o2", "operational_agent", json.dumps({"input": TICKETS})))
    relayed = reply(TASK, {"messages": [*base, asked, result("o2", graceful)], "tools": agents})
    assert relayed.content == graceful


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"hits": [{"title": "Validation error handling", "text": "Error: field required is shown"}]}),
        json.dumps({"content": [{"type": "text", "text": json.dumps(SQL_RESULT)}], "isError": False}),
        '[TextContent(type=\'text\', text=\'{"results": [{"text": "Error codes: invalid JSON is rejected"}]}\')]',
        "Successfully transferred to legal_expert",
        f"{COULD_NOT_COMPLETE}: the sql_query tool failed twice, so I have no result to answer from.",
    ],
)
def test_a_result_that_merely_talks_about_errors_is_no_error(text: str) -> None:
    assert not is_error(text)


def test_error_kinds_are_told_apart() -> None:
    invalid = json.dumps({"error": {"code": "invalid_argument", "message": "invalid arguments: sql: Field required"}})
    unavailable = json.dumps({"error": {"code": "unavailable", "message": "try again"}})
    not_found = json.dumps({"error": {"code": "not_found", "message": "no place called 'Kyoto'"}})
    assert is_call_problem(invalid) and not is_transient(invalid)
    assert is_transient(unavailable) and not is_call_problem(unavailable)
    assert is_error(not_found) and not is_call_problem(not_found) and not is_transient(not_found)


def test_role_of_names_the_role_the_scripted_model_answers_as() -> None:
    guard = {
        "messages": [{"role": "system", "content": SPEC.guardrail.instructions}, {"role": "user", "content": TICKETS}]
    }
    orchestrator = {
        "messages": [
            {"role": "system", "content": SPEC.orchestrator_instructions},
            {"role": "user", "content": TICKETS},
        ]
    }
    by_tools = {"messages": [{"role": "user", "content": TICKETS}], "tools": OPERATIONAL_TOOLS}
    selector = {"messages": [{"role": "user", "content": f"{TICKETS}\nSelect the next speaker from [a, b]."}]}
    assert role_of(TASK, guard) == "guardrail"
    assert role_of(TASK, orchestrator) == "orchestrator"
    assert role_of(TASK, operational()) == "specialist"
    assert role_of(TASK, by_tools) == "specialist"
    assert role_of(TASK, selector) is None
