"""The scripted model on a tool result the framework replaced by a preview plus a tool to read the rest, in the
shape the CrewAI build sends (captured from a core run: an ``sql_schema`` result over a quarter of the 8k
window crewai 1.15 assumes becomes a "temporary artifact" notice, and ``read_a_deferred_tool_result`` is
offered). The model must read the rest, as a real model would, and answer from the whole result."""

from __future__ import annotations

import json
from typing import Any

from benchmark import spec
from benchmark.scripted import reply
from benchmark.system import default_spec
from benchmark.tasks.models import Task
from tests.benchmark.test_scripted import called

SPEC = default_spec()
QUESTION = "How many active customers do we have?"
MCP = "mcp_127_0_0_1_46357_mcp_"  # crewai names MCP tools <server from the URL>_<tool>
READER = "read_a_deferred_tool_result"
ARTIFACT = "tool-result-eHR0ZB0ebJNdNpYpenn-QQ"
SQL = "SELECT COUNT(*) AS active_customers FROM customers WHERE status = 'active'"

TASK = Task.model_validate(
    {
        "id": "deferred-schema",
        "category": "test",
        "turns": [
            {
                "user": QUESTION,
                "expect": {"route": "operational_agent"},
                "script": {
                    "steps": [
                        {"call": "sql_schema", "arguments": {"question": "customers and their status"}, "as": "schema"},
                        {"call": "sql_query", "arguments": {"sql": SQL}, "as": "sql"},
                    ],
                    "answer": "{sql.rows[0][0]} of the {schema.tables[0].row_count} customers are active "
                    "(tickets are in {schema.tables[1].name}).",
                },
            }
        ],
    }
)

# The full sql_schema result, pretty-printed as the MCP server returns it: many lines, the second table far
# beyond the preview's first ten.
COLUMNS = [{"name": f"column_{i}", "type": "TEXT", "description": f"Column {i}."} for i in range(12)]
SCHEMA = {
    "database": "sample.sqlite",
    "documented": True,
    "tables": [
        {"name": "customers", "kind": "table", "row_count": 180, "columns": COLUMNS},
        {"name": "support_tickets", "kind": "table", "row_count": 420, "columns": COLUMNS},
    ],
}
FULL = json.dumps(SCHEMA, indent=2)
LINES = FULL.splitlines(keepends=True)

# The reader tool exactly as crewai 1.15 offers it (DeferredToolResultReader, strict function schema).
READER_TOOL = {
    "type": "function",
    "function": {
        "name": READER,
        "description": "Read a bounded section of a temporary tool-result artifact. Only artifact paths supplied "
        "by a previous tool result are available.",
        "strict": True,
        "parameters": {
            "properties": {
                "file_path": {
                    "description": "The temporary artifact path supplied in the tool result.",
                    "type": "string",
                },
                "start_line": {
                    "anyOf": [{"type": "integer"}, {"type": "null"}],
                    "description": "Line number to start reading from (1-indexed).",
                },
                "line_count": {
                    "anyOf": [{"type": "integer"}, {"type": "null"}],
                    "description": "Number of lines to read.",
                },
            },
            "required": ["file_path", "start_line", "line_count"],
            "type": "object",
            "additionalProperties": False,
        },
    },
}
TOOLS = [
    {"type": "function", "function": {"name": MCP + name, "parameters": {"type": "object", "properties": {}}}}
    for name in ("calculator", "weather", "sql_schema", "sql_query", "search")
] + [READER_TOOL]


def deferred_notice(content: str, tool: str, arguments: dict[str, Any]) -> str:
    """The text crewai 1.15.30's ``AgentExecutor._prepare_tool_result_for_context`` puts in the tool message in
    place of ``content`` (numbers as it computes them for its default 8k window: a 348-token read)."""
    lines = content.splitlines(keepends=True)
    tokens = (len(content) + 3) // 4
    per_line = tokens / len(lines)
    preview = "".join(lines[:10])[:2000]
    suffix = "\n[Preview truncated; read the artifact for more.]" if len(lines) > 10 else ""
    recommended = min(len(lines), max(1, round(348 / per_line)))
    return (
        f"The result of `{tool}` with arguments `{json.dumps(arguments, sort_keys=True)}` was stored as temporary "
        f"artifact `{ARTIFACT}` at relative file path `{ARTIFACT}/result.md`. It contains {len(lines)} lines and "
        f"is estimated at {tokens} tokens (about {per_line:.1f} tokens per line).\n\nPreview of the first 10 "
        f"lines:\n---\n{preview}{suffix}\n---\n\nUse `{READER}` to read it in bounded sections. For a roughly "
        f"348-token read, request about {recommended} lines, for example with `start_line=1` and "
        f"`line_count={recommended}`."
    )


def call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """An assistant tool call as crewai records it in the agent's messages (content '', not None)."""
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


def result(call_id: str, name: str, content: str) -> dict[str, Any]:
    """A tool message as crewai sends it (with the tool's name)."""
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


def specialist_request(*exchange: dict[str, Any]) -> dict[str, Any]:
    """The operational agent's request as a crewai ``Agent`` sends it: role/backstory/goal, then the task."""
    agent = SPEC.agent(spec.OPERATIONAL)
    system = f"You are {agent.title}. {agent.instructions}\nYour personal goal is: {agent.handoff_description}"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": f"\nCurrent Task: {QUESTION}"}]
    return {
        "model": "afbench-scripted",
        "temperature": 0.0,
        "tool_choice": "auto",
        "tools": TOOLS,
        "messages": [*messages, *exchange],
    }


SCHEMA_ARGUMENTS = {"question": "customers and their status"}
SCHEMA_CALL = call("call_1", MCP + "sql_schema", SCHEMA_ARGUMENTS)
PREVIEW = result("call_1", MCP + "sql_schema", deferred_notice(FULL, MCP + "sql_schema", SCHEMA_ARGUMENTS))
SQL_RESULT = json.dumps(
    {"columns": ["active_customers"], "rows": [[167]], "row_count": 1, "truncated": False, "max_rows": 200},
    indent=2,
)


def test_a_previewed_result_is_read_whole_through_the_offered_tool_before_the_next_step() -> None:
    assert len(LINES) > 10 and "support_tickets" not in PREVIEW["content"]
    first = reply(TASK, specialist_request(SCHEMA_CALL, PREVIEW))
    whole = {"file_path": f"{ARTIFACT}/result.md", "start_line": 1, "line_count": len(LINES)}
    assert called(first) == (READER, whole)

    read = [call("call_2", READER, whole), result("call_2", READER, FULL)]
    second = reply(TASK, specialist_request(SCHEMA_CALL, PREVIEW, *read))
    assert called(second) == (MCP + "sql_query", {"sql": SQL})

    query = [call("call_3", MCP + "sql_query", {"sql": SQL}), result("call_3", MCP + "sql_query", SQL_RESULT)]
    final = reply(TASK, specialist_request(SCHEMA_CALL, PREVIEW, *read, *query))
    assert final.content == "167 of the 180 customers are active (tickets are in support_tickets)."


def test_a_reader_that_returns_part_of_what_was_asked_is_read_on_from_where_it_stopped() -> None:
    asked = {"file_path": f"{ARTIFACT}/result.md", "start_line": 1, "line_count": len(LINES)}
    part = [call("call_2", READER, asked), result("call_2", READER, "".join(LINES[:20]))]
    again = reply(TASK, specialist_request(SCHEMA_CALL, PREVIEW, *part))
    rest = {"file_path": f"{ARTIFACT}/result.md", "start_line": 21, "line_count": len(LINES) - 20}
    assert called(again) == (READER, rest)

    both = [*part, call("call_3", READER, rest), result("call_3", READER, "".join(LINES[20:]))]
    query = [call("call_4", MCP + "sql_query", {"sql": SQL}), result("call_4", MCP + "sql_query", SQL_RESULT)]
    assert called(reply(TASK, specialist_request(SCHEMA_CALL, PREVIEW, *both))) == (MCP + "sql_query", {"sql": SQL})
    final = reply(TASK, specialist_request(SCHEMA_CALL, PREVIEW, *both, *query))
    assert final.content == "167 of the 180 customers are active (tickets are in support_tickets)."


def test_a_failed_read_is_not_retried_and_the_answer_shows_what_it_lacks() -> None:
    asked = {"file_path": f"{ARTIFACT}/result.md", "start_line": 1, "line_count": len(LINES)}
    gone = "Error: Temporary tool-result artifact is no longer available."
    failed = [call("call_2", READER, asked), result("call_2", READER, gone)]
    assert called(reply(TASK, specialist_request(SCHEMA_CALL, PREVIEW, *failed))) == (MCP + "sql_query", {"sql": SQL})
    query = [call("call_3", MCP + "sql_query", {"sql": SQL}), result("call_3", MCP + "sql_query", SQL_RESULT)]
    final = reply(TASK, specialist_request(SCHEMA_CALL, PREVIEW, *failed, *query))
    assert final.content is not None and final.content.startswith("167 of the {?schema.tables[0].row_count}")
