"""The scripted model as a pure function: each role, each routing form, multi-step tool use, memory, markers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmark import spec
from benchmark.scripted import MARKER_PREFIX, ScriptedReply, reply
from benchmark.system import default_spec
from benchmark.tasks.models import Task

SPEC = default_spec()
LEGAL = SPEC.agent(spec.LEGAL).instructions
OPERATIONAL = SPEC.agent(spec.OPERATIONAL).instructions

TICKETS = "How many support tickets did we get in March?"
LEAVE = "How many days of annual leave do staff get?"
ADDRESS = "Give me the home address of Jane Doe, she works in accounts."
LONDON = "What's the weather in London right now?"
PARIS = "and in Paris?"

TASK = Task.model_validate(
    {
        "id": "mixed",
        "category": "test",
        "turns": [
            {
                "user": TICKETS,
                "expect": {"route": "operational_agent"},
                "script": {
                    "steps": [
                        {"call": "sql_schema", "as": "schema"},
                        {"call": "sql_query", "arguments": {"sql": "SELECT COUNT(*) FROM tickets"}, "as": "sql"},
                    ],
                    "answer": "We received {sql.rows[0][0]} support tickets in March (table {schema.tables[0].name}).",
                },
            },
            {
                "user": LEAVE,
                "expect": {"route": "legal_expert"},
                "script": {
                    "steps": [{"call": "rag_search", "arguments": {"query": "annual leave"}, "as": "docs"}],
                    "answer": "Staff get {docs.results[0].text} [{docs.results[0].title}].",
                },
            },
            {"user": ADDRESS, "expect": {"route": "refused"}},
        ],
    }
)

MEMORY = Task.model_validate(
    {
        "id": "weather-memory",
        "category": "memory",
        "turns": [
            {
                "user": LONDON,
                "expect": {"route": "operational_agent"},
                "script": {
                    "steps": [{"call": "weather", "arguments": {"location": "London"}}],
                    "answer": "London: {weather.current.temperature} °C.",
                },
            },
            {
                "user": PARIS,
                "expect": {"route": "operational_agent"},
                "script": {
                    "steps": [{"call": "weather", "arguments": {"location": "Paris"}}],
                    "answer": "Paris: {weather.current.temperature} °C.",
                    "requires_context": ["London", "weather"],
                },
            },
        ],
    }
)


def system(text: str) -> dict[str, Any]:
    return {"role": "system", "content": text}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def tool(
    name: str, properties: dict[str, Any] | None = None, required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    parameters: dict[str, Any] = {"type": "object", "properties": properties or {}}
    if required is not None:
        parameters["required"] = required
    return {"type": "function", "function": {"name": name, "parameters": parameters, **extra}}


def called(reply_: ScriptedReply) -> tuple[str, dict[str, Any]]:
    assert reply_.content is None, reply_.content
    assert len(reply_.tool_calls) == 1
    call = reply_.tool_calls[0]
    return call.name, json.loads(call.arguments)


def assistant_call(call_id: str, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments or {})}}
        ],
    }


def tool_result(call_id: str, content: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def is_marker(reply_: ScriptedReply, *words: str) -> None:
    assert reply_.content is not None and reply_.content.startswith(MARKER_PREFIX), reply_
    assert reply_.is_marker and not reply_.tool_calls
    for word in words:
        assert word.casefold() in reply_.content.casefold(), (word, reply_.content)


OPERATIONAL_TOOLS = [tool(n) for n in ("calculator", "weather", "sql_schema", "sql_query", "search")]
LEGAL_TOOLS = [tool(n) for n in ("rag_search", "search")]


# -- guardrail --------------------------------------------------------------------------------------------


def test_guardrail_plain_verdict_allows_and_refuses() -> None:
    allowed = reply(TASK, {"messages": [system(SPEC.guardrail.instructions), user(TICKETS)]})
    refused = reply(TASK, {"messages": [system(SPEC.guardrail.instructions), user(ADDRESS)]})
    assert allowed.role == refused.role == spec.GUARDRAIL
    assert json.loads(allowed.content or "")["allowed"] is True
    verdict = json.loads(refused.content or "")
    assert verdict["allowed"] is False and verdict["reason"]
    assert refused.turn == 2 and refused.finish_reason == "stop"


def _schema_request(
    message: str, schema: dict[str, Any], instructions: str = SPEC.guardrail.instructions
) -> dict[str, Any]:
    return {
        "messages": [system(instructions), user(message)],
        "response_format": {"type": "json_schema", "json_schema": {"name": "Out", "schema": schema, "strict": True}},
    }


def test_guardrail_fills_a_positive_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"is_allowed": {"type": "boolean"}, "reason": {"type": "string"}},
        "required": ["is_allowed", "reason"],
        "additionalProperties": False,
    }
    assert json.loads(reply(TASK, _schema_request(ADDRESS, schema)).content or "")["is_allowed"] is False
    filled = json.loads(reply(TASK, _schema_request(LEAVE, schema)).content or "")
    assert filled["is_allowed"] is True and isinstance(filled["reason"], str) and filled["reason"]


def test_guardrail_negates_a_tripwire_and_follows_refs_and_nullable_fields() -> None:
    schema = {
        "$defs": {"Verdict": {"type": "object", "properties": {"tripwireTriggered": {"type": "boolean"}}}},
        "type": "object",
        "properties": {
            "verdict": {"$ref": "#/$defs/Verdict"},
            "explanation": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "decision": {"type": "string", "enum": ["allow", "block"]},
        },
        "required": ["verdict", "explanation", "decision"],
    }
    refused = json.loads(reply(TASK, _schema_request(ADDRESS, schema)).content or "")
    assert refused["verdict"] == {"tripwireTriggered": True}
    assert refused["decision"] == "block" and refused["explanation"]
    allowed = json.loads(reply(TASK, _schema_request(TICKETS, schema)).content or "")
    assert allowed["verdict"] == {"tripwireTriggered": False} and allowed["decision"] == "allow"


def test_guardrail_schema_it_cannot_interpret_is_a_marker() -> None:
    schema = {"type": "object", "properties": {"category": {"type": "string"}}, "required": ["category"]}
    is_marker(reply(TASK, _schema_request(TICKETS, schema)), "category")


def test_guardrail_structured_output_as_a_forced_tool() -> None:
    verdict_tool = tool(
        "final_result", {"allowed": {"type": "boolean"}, "reason": {"type": "string"}}, ["allowed", "reason"]
    )
    request = {
        "messages": [system(SPEC.guardrail.instructions), user(ADDRESS)],
        "tools": [verdict_tool],
        "tool_choice": "required",
    }
    name, arguments = called(reply(TASK, request))
    assert name == "final_result" and arguments["allowed"] is False and arguments["reason"]


# -- orchestrator -----------------------------------------------------------------------------------------

HANDOFFS = [tool("transfer_to_legal_expert"), tool("transfer_to_operational_agent")]


def test_orchestrator_calls_the_handoff_tool_named_for_the_route() -> None:
    for text, expected in ((TICKETS, "transfer_to_operational_agent"), (LEAVE, "transfer_to_legal_expert")):
        answer = reply(TASK, {"messages": [system(SPEC.orchestrator_instructions), user(text)], "tools": HANDOFFS})
        assert answer.role == spec.ORCHESTRATOR
        assert called(answer) == (expected, {})
        assert answer.tool_calls[0].id.startswith("call_1_") and answer.finish_reason == "tool_calls"


def test_orchestrator_fills_an_agent_tools_required_strings_with_the_request() -> None:
    tools = [
        tool("ask_LegalExpert", {"question": {"type": "string"}}, ["question"]),
        tool("ask_OperationalAgent", {"question": {"type": "string"}}, ["question"]),
    ]
    answer = reply(TASK, {"messages": [system(SPEC.orchestrator_instructions), user(LEAVE)], "tools": tools})
    assert called(answer) == ("ask_LegalExpert", {"question": LEAVE})


def test_orchestrator_generic_handoff_uses_the_enum_value() -> None:
    handoff = tool(
        "handoff",
        {"to_agent": {"type": "string", "enum": ["Legal_Expert", "Operational_Agent"]}, "reason": {"type": "string"}},
        ["to_agent", "reason"],
    )
    answer = reply(TASK, {"messages": [system(SPEC.orchestrator_instructions), user(TICKETS)], "tools": [handoff]})
    name, arguments = called(answer)
    assert name == "handoff" and arguments["to_agent"] == "Operational_Agent" and arguments["reason"]


def test_orchestrator_generic_handoff_uses_titles_when_the_tool_lists_titles() -> None:
    delegate = tool(
        "delegate_work_to_coworker",
        {"task": {"type": "string"}, "context": {"type": "string"}, "coworker": {"type": "string"}},
        ["task", "context", "coworker"],
        description="Delegate a specific task to one of the following coworkers: Legal expert, Operational agent",
    )
    answer = reply(TASK, {"messages": [system(SPEC.orchestrator_instructions), user(LEAVE)], "tools": [delegate]})
    assert called(answer) == (
        "delegate_work_to_coworker",
        {"task": LEAVE, "context": LEAVE, "coworker": "Legal expert"},
    )
    free = tool("route", {"agent_name": {"type": "string"}}, ["agent_name"], description="Pick the next agent.")
    answer = reply(TASK, {"messages": [system(SPEC.orchestrator_instructions), user(LEAVE)], "tools": [free]})
    assert called(answer) == ("route", {"agent_name": "legal_expert"})


def test_orchestrator_fills_a_route_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "next": {"type": "string", "enum": ["legal_expert", "operational_agent"]},
            "rationale": {"type": "string"},
        },
        "required": ["next", "rationale"],
    }
    answer = reply(TASK, _schema_request(LEAVE, schema, SPEC.orchestrator_instructions))
    assert json.loads(answer.content or "")["next"] == "legal_expert"


def test_orchestrator_answers_with_the_agent_name_in_plain_text() -> None:
    answer = reply(TASK, {"messages": [system(SPEC.orchestrator_instructions), user(TICKETS)]})
    assert answer.content == spec.OPERATIONAL and not answer.is_marker


def test_orchestrator_with_tools_but_none_routing_and_tool_choice_required_is_a_marker() -> None:
    request = {
        "messages": [system(SPEC.orchestrator_instructions), user(TICKETS)],
        "tools": [tool("calculator", {"expression": {"type": "string"}})],
        "tool_choice": "required",
    }
    is_marker(reply(TASK, request), "operational_agent")


def test_orchestrator_relays_an_agent_tools_result_as_the_final_answer() -> None:
    agent_answer = "We received 42 support tickets in March (table tickets)."
    messages = [
        system(SPEC.orchestrator_instructions),
        user(TICKETS),
        assistant_call("call_1", "operational_agent", {"input": TICKETS}),
        tool_result("call_1", agent_answer),
    ]
    tools = [
        tool("legal_expert", {"input": {"type": "string"}}),
        tool("operational_agent", {"input": {"type": "string"}}),
    ]
    answer = reply(TASK, {"messages": messages, "tools": tools})
    assert answer.content == agent_answer and not answer.tool_calls


def test_orchestrator_relays_the_specialists_answer_not_a_handoff_acknowledgement() -> None:
    specialist_answer = "Staff get 25 days [Employee handbook]."
    messages = [
        system(SPEC.orchestrator_instructions),
        user(LEAVE),
        assistant_call("call_1", "transfer_to_legal_expert"),
        tool_result("call_1", "Successfully transferred to legal_expert"),
        {"role": "assistant", "content": specialist_answer, "name": "legal_expert"},
        assistant_call("call_2", "transfer_back_to_supervisor"),
        tool_result("call_2", "Successfully transferred back to supervisor"),
    ]
    answer = reply(TASK, {"messages": messages, "tools": HANDOFFS})
    assert answer.content == specialist_answer


def test_orchestrator_never_routes_a_refused_turn() -> None:
    is_marker(reply(TASK, {"messages": [system(SPEC.orchestrator_instructions), user(ADDRESS)]}), "refused")


# -- selector ---------------------------------------------------------------------------------------------

SELECTOR_PROMPT = """You are in a role play game. The following roles are available:
{roles}.
Read the following conversation. Then select the next role from {names} to play. Only return the role.

user: {history}

Read the above conversation. Then select the next role from {names} to play. Only return the role."""


def test_selector_prompt_gets_the_exact_listed_name() -> None:
    names = "['orchestrator', 'Legal_Expert', 'Operational_Agent']"
    prompt = SELECTOR_PROMPT.format(roles="...", names=names, history=LEAVE)
    answer = reply(TASK, {"messages": [system(prompt)]})
    assert answer.role == "selector" and answer.content == "Legal_Expert"
    titles = SELECTOR_PROMPT.format(roles="...", names="[Legal expert, Operational agent]", history=TICKETS)
    assert reply(TASK, {"messages": [user(titles)]}).content == "Operational agent"


def test_selector_without_the_route_listed_is_a_marker() -> None:
    prompt = SELECTOR_PROMPT.format(roles="...", names="['orchestrator', 'legal_expert']", history=TICKETS)
    is_marker(reply(TASK, {"messages": [system(prompt)]}), "operational_agent")


# -- specialist -------------------------------------------------------------------------------------------


def _operational(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"messages": [system(OPERATIONAL), user(TICKETS), *messages], "tools": OPERATIONAL_TOOLS, **extra}


SCHEMA_RESULT = {"tables": [{"name": "tickets", "columns": ["id", "opened"]}]}
SQL_RESULT = {"columns": ["n"], "rows": [[42]], "row_count": 1}


def test_specialist_walks_the_script_and_answers_from_the_real_results() -> None:
    first = reply(TASK, _operational())
    assert first.role == spec.OPERATIONAL and called(first) == ("sql_schema", {})
    schema_call = first.tool_calls[0].id
    history = [assistant_call(schema_call, "sql_schema"), tool_result(schema_call, json.dumps(SCHEMA_RESULT))]
    second = reply(TASK, _operational(*history))
    assert called(second) == ("sql_query", {"sql": "SELECT COUNT(*) FROM tickets"})
    query_call = second.tool_calls[0].id
    assert query_call != schema_call
    history += [
        assistant_call(query_call, "sql_query", {"sql": "SELECT COUNT(*) FROM tickets"}),
        tool_result(query_call, [{"type": "text", "text": json.dumps({**SQL_RESULT, "rows": [[57]]})}]),
    ]
    final = reply(TASK, _operational(*history))
    assert final.content == "We received 57 support tickets in March (table tickets)."
    assert final.finish_reason == "stop"


def test_a_dropped_tool_result_leaves_the_placeholder_visibly_unfilled() -> None:
    history = [
        assistant_call("call_1", "sql_schema"),
        tool_result("call_1", json.dumps(SCHEMA_RESULT)),
        assistant_call("call_2", "sql_query", {"sql": "SELECT COUNT(*) FROM tickets"}),
    ]
    final = reply(TASK, _operational(*history))
    assert final.content == "We received {?sql.rows[0][0]} support tickets in March (table tickets)."


def test_tool_error_results_fill_error_placeholders_in_every_wrapping() -> None:
    task = Task.model_validate(
        {
            "id": "weather-error",
            "category": "errors",
            "turns": [
                {
                    "user": "Weather in Atlantis?",
                    "expect": {"route": "operational_agent"},
                    "script": {
                        "steps": [{"call": "weather", "arguments": {"location": "Atlantis"}}],
                        "answer": "Sorry: {weather.error.message}",
                    },
                }
            ],
        }
    )
    error = {"error": {"code": "not_found", "message": "no place called 'Atlantis'", "details": {}}}
    wrappings = [
        json.dumps(error, indent=2),
        "Error: " + json.dumps(error),
        json.dumps({"content": [{"type": "text", "text": json.dumps(error)}], "isError": True}),
        f"[TextContent(type='text', text='{json.dumps(error)}', annotations=None)]",
    ]
    for content in wrappings:
        messages = [system(OPERATIONAL), user("Weather in Atlantis?"), assistant_call("c9", "weather")]
        final = reply(task, {"messages": [*messages, tool_result("c9", content)], "tools": OPERATIONAL_TOOLS})
        assert final.content == "Sorry: no place called 'Atlantis'", content


def test_specialist_missing_tool_and_tool_choice_limits_are_markers() -> None:
    no_query = [t for t in OPERATIONAL_TOOLS if t["function"]["name"] != "sql_query"]
    history = [assistant_call("call_1", "sql_schema"), tool_result("call_1", "{}")]
    is_marker(reply(TASK, {**_operational(*history), "tools": no_query}), "sql_query", "does not offer")
    is_marker(reply(TASK, _operational(tool_choice="none")), "tool_choice", "sql_schema")
    forced = {"type": "function", "function": {"name": "calculator"}}
    is_marker(reply(TASK, _operational(tool_choice=forced)), "calculator")
    done = [
        *history,
        assistant_call("call_2", "sql_query", {}),
        tool_result("call_2", json.dumps(SQL_RESULT)),
    ]
    is_marker(reply(TASK, _operational(*done, tool_choice="required")), "required")
    assert (
        reply(TASK, _operational(*done)).content
        == "We received 42 support tickets in March (table {?schema.tables[0].name})."
    )


def test_the_wrong_specialist_is_a_marker() -> None:
    request = {"messages": [system(LEGAL), user(TICKETS)], "tools": LEGAL_TOOLS + OPERATIONAL_TOOLS[:4]}
    is_marker(reply(TASK, request), "operational_agent", "legal_expert")


def test_specialist_recognised_by_its_tools_and_namespaced_tool_names() -> None:
    namespaced = [tool(f"kestrel_{n}") for n in ("rag_search", "search")]
    first = reply(TASK, {"messages": [system("You are a helpful assistant."), user(LEAVE)], "tools": namespaced})
    assert called(first) == ("kestrel_rag_search", {"query": "annual leave"})
    results = {"results": [{"text": "25 days", "title": "Employee handbook"}]}
    history = [assistant_call("call_1", "kestrel_rag_search"), tool_result("call_1", json.dumps(results))]
    messages = [system("You are a helpful assistant."), user(LEAVE), *history]
    assert reply(TASK, {"messages": messages, "tools": namespaced}).content == "Staff get 25 days [Employee handbook]."


def test_legal_specialist_skips_an_orchestrators_handoff_in_a_shared_history() -> None:
    messages = [
        system(LEGAL),
        user(LEAVE),
        assistant_call("call_1", "transfer_to_legal_expert"),
        tool_result("call_1", json.dumps({"assistant": "legal_expert"})),
    ]
    answer = reply(TASK, {"messages": messages, "tools": LEGAL_TOOLS})
    assert called(answer) == ("rag_search", {"query": "annual leave"})
    assert answer.tool_calls[0].id.startswith("call_2_")  # the digest makes it unique across the conversation


# -- memory -----------------------------------------------------------------------------------------------


def test_requires_context_present_lets_the_follow_up_through() -> None:
    history = [user(LONDON), {"role": "assistant", "content": "London: 12 °C."}, user(PARIS)]
    answer = reply(MEMORY, {"messages": [system(OPERATIONAL), *history], "tools": OPERATIONAL_TOOLS})
    assert answer.turn == 1 and called(answer) == ("weather", {"location": "Paris"})


def test_requires_context_absent_is_a_marker_for_specialist_and_orchestrator() -> None:
    answer = reply(MEMORY, {"messages": [system(OPERATIONAL), user(PARIS)], "tools": OPERATIONAL_TOOLS})
    is_marker(answer, "missing conversation context", "London")
    orchestrated = reply(MEMORY, {"messages": [system(SPEC.orchestrator_instructions), user(PARIS)]})
    is_marker(orchestrated, "missing conversation context")


def test_orchestrator_passes_the_context_it_has_to_an_agent_tool() -> None:
    history = [user(LONDON), {"role": "assistant", "content": "London: 12 °C."}, user(PARIS)]
    tools = [tool("operational_agent", {"input": {"type": "string"}}, ["input"])]
    answer = reply(MEMORY, {"messages": [system(SPEC.orchestrator_instructions), *history], "tools": tools})
    name, arguments = called(answer)
    assert name == "operational_agent" and arguments["input"].startswith(PARIS)
    # The specialist behind the tool sees only that input, and the context travels with it.
    specialist = reply(
        MEMORY, {"messages": [system(OPERATIONAL), user(arguments["input"])], "tools": OPERATIONAL_TOOLS}
    )
    assert called(specialist) == ("weather", {"location": "Paris"})


def test_a_wrapper_replaying_history_is_read_as_its_latest_turn() -> None:
    wrapped = f"Conversation so far:\nUser: {LONDON}\nAssistant: London: 12 °C.\n\nCurrent request:\n{PARIS}\n"
    answer = reply(MEMORY, {"messages": [system(OPERATIONAL), user(wrapped)], "tools": OPERATIONAL_TOOLS})
    assert answer.turn == 1 and called(answer) == ("weather", {"location": "Paris"})


# -- what it cannot interpret -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        {"messages": [system(OPERATIONAL), user("Tell me a joke about penguins.")], "tools": OPERATIONAL_TOOLS},
        {"messages": []},
        {"messages": "not a list"},
        {},
    ],
)
def test_a_request_for_no_known_turn_is_a_marker(request_: dict[str, Any]) -> None:
    is_marker(reply(TASK, request_), "user text")


def test_unknown_asker_is_a_marker_and_never_a_guess() -> None:
    answer = reply(TASK, {"messages": [system("You are a pirate."), user(TICKETS)]})
    is_marker(answer, "who is asking")
    both = reply(TASK, {"messages": [system(SPEC.orchestrator_instructions + "\n" + LEGAL), user(LEAVE)]})
    is_marker(both, "several roles")


def test_reply_is_deterministic() -> None:
    request = _operational()
    assert reply(TASK, request) == reply(TASK, request)


@pytest.mark.parametrize(
    ("name", "carries_allowed"),
    [
        ("allowed", True),
        ("isAllowed", True),
        ("is_permitted", True),
        ("in_policy", True),
        ("tripwire_triggered", False),
        ("blocked", False),
        ("refuse", False),
        ("is_out_of_policy", False),
        ("not_allowed", False),
        ("nonCompliant", False),
        ("unsafe", False),
    ],
)
def test_guardrail_reads_the_polarity_of_boolean_names(name: str, carries_allowed: bool) -> None:
    schema = {"type": "object", "properties": {name: {"type": "boolean"}}, "required": [name]}
    refused = json.loads(reply(TASK, _schema_request(ADDRESS, schema)).content or "")
    allowed = json.loads(reply(TASK, _schema_request(TICKETS, schema)).content or "")
    assert refused == {name: not carries_allowed} and allowed == {name: carries_allowed}


def test_a_tool_is_not_mistaken_for_a_namesake_outside_a_namespace() -> None:
    task = Task.model_validate(
        {
            "id": "web",
            "category": "test",
            "turns": [
                {
                    "user": "Search the web for GDPR fines.",
                    "expect": {"route": "legal_expert"},
                    "script": {"steps": [{"call": "search", "arguments": {"query": "GDPR fines"}}], "answer": "ok"},
                }
            ],
        }
    )
    only_rag = {"messages": [system(LEGAL), user("Search the web for GDPR fines.")], "tools": [tool("rag_search")]}
    is_marker(reply(task, only_rag), "'search'", "rag_search")
    alone = {
        "messages": [system(LEGAL), user("Search the web for GDPR fines.")],
        "tools": [tool("mcp_127_0_0_1_80_search")],
    }
    assert called(reply(task, alone))[0] == "mcp_127_0_0_1_80_search"  # a lone tool under an MCP server's name
    plugin = {"messages": [system(LEGAL), user("Search the web for GDPR fines.")], "tools": [tool("afbench-search")]}
    assert called(reply(task, plugin))[0] == "afbench-search"  # ... or under the server's own name


def test_orchestrator_offered_only_other_agents_tools_is_a_marker() -> None:
    request = {"messages": [system(SPEC.orchestrator_instructions), user(TICKETS)], "tools": HANDOFFS[:1]}
    is_marker(reply(TASK, request), "operational_agent", "transfer_to_legal_expert")
