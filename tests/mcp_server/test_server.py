"""The MCP server object through the SDK's in-memory client: schemas, hints, results, errors, quotas."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import ClientSession
from mcp.shared.memory import create_connected_server_and_client_session

from mcp_server.config import ServerConfig
from mcp_server.gate import Caller
from mcp_server.runtime import Runtime
from mcp_server.sdk import CURRENT_CALLER
from mcp_server.store import Limits
from tests.servers import error_of

UNLIMITED = Limits()


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    started = await Runtime.start(ServerConfig(db_path=tmp_path / "sessions.sqlite"))
    yield started
    await started.close()


@asynccontextmanager
async def connected(
    runtime: Runtime, limits: Limits = UNLIMITED, trial: str | None = "t-1"
) -> AsyncIterator[ClientSession]:
    """An in-memory client session acting as a fresh key (the SDK's task groups need one task: no fixture)."""
    key, _ = await runtime.store.create_key(f"key-{uuid.uuid4().hex[:8]}", limits)
    CURRENT_CALLER.set(Caller(key, "memory", trial))
    async with create_connected_server_and_client_session(runtime.server) as session:
        yield session


async def test_tools_are_listed_with_schemas_and_hints(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"calculator", "search"} <= set(tools)
        calc = tools["calculator"]
        assert calc.inputSchema["required"] == ["expression"]
        assert "result" in (calc.outputSchema or {})["properties"]
        assert calc.annotations is not None and calc.annotations.readOnlyHint and not calc.annotations.destructiveHint
        assert calc.description and "sqrt" in calc.description
        assert tools["search"].annotations is not None and tools["search"].annotations.openWorldHint is False


async def test_successful_call_has_structured_and_text_content(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        result = await client.call_tool("calculator", {"expression": "(2 + 3) * 4"})
        assert not result.isError
        assert result.structuredContent == {"expression": "(2 + 3) * 4", "result": 20, "formatted": "20"}
        assert json.loads(result.content[0].text)["result"] == 20  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "arguments", "code", "fragment"),
    [
        ("calculator", {"expression": "1/0"}, "division_by_zero", "division by zero"),
        ("calculator", {"expression": 12}, "invalid_argument", "expression: Input should be a valid string"),
        ("calculator", {}, "invalid_argument", "expression: Field required"),
        ("search", {"query": "x", "k": "many"}, "invalid_argument", "k: Input should be a valid integer"),
        ("search", {"query": ""}, "empty_input", "empty"),
        ("no_such_tool", {}, "unknown_tool", "available: calculator"),
        ("calculator", {"expression": "1" * 70_000}, "input_too_large", "arguments exceed"),
    ],
)
async def test_errors_are_tool_results_with_codes(
    runtime: Runtime, name: str, arguments: dict[str, object], code: str, fragment: str
) -> None:
    async with connected(runtime) as client:
        result = await client.call_tool(name, arguments)
        error = error_of(result)
        assert error["code"] == code
        assert fragment in error["message"]
        # the server keeps serving on the same session
        assert (await client.call_tool("calculator", {"expression": "1+1"})).structuredContent["result"] == 2  # type: ignore[index]


async def test_calls_are_logged_with_trial_outcome_and_arguments(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        await client.call_tool("calculator", {"expression": "2*21"})
        await client.call_tool("calculator", {"expression": "1/0"})
        await client.call_tool("no_such_tool", {})
    rows = await runtime.store.usage(trial_id="t-1")
    assert [(r["tool"], r["outcome"], r["error_code"]) for r in rows] == [
        ("calculator", "ok", None),
        ("calculator", "error", "division_by_zero"),
    ]
    assert rows[0]["arguments"] == {"expression": "2*21"} and rows[0]["transport"] == "memory"
    assert rows[0]["latency_ms"] is not None


async def test_quota_error_is_machine_readable(runtime: Runtime) -> None:
    async with connected(runtime, Limits(per_minute=2)) as session:
        for _ in range(2):
            assert not (await session.call_tool("calculator", {"expression": "1"})).isError
        refused = await session.call_tool("calculator", {"expression": "1"})
        error = error_of(refused)
        assert (error["code"], error["limit"], error["allowed"], error["used"]) == (
            "quota_exceeded",
            "per_minute",
            2,
            2,
        )
        assert error["resets_at"] and 0 <= error["retry_after_s"] <= 60
        assert "not executed" in error["message"]


async def test_resources_and_prompts(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        resources = {str(r.uri): r for r in (await client.list_resources()).resources}
        assert "afbench://corpus/documents" in resources
        listing = json.loads((await client.read_resource("afbench://corpus/documents")).contents[0].text)  # type: ignore[union-attr]
        assert listing["count"] == len(listing["documents"])
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert prompts == {"legal_expert", "operational_agent"}
        legal = await client.get_prompt("legal_expert")
        assert "rag_search" in legal.messages[0].content.text  # type: ignore[union-attr]
