"""Fault injection through the dispatcher and the SDK's in-memory client: each kind at the planned call of the
planned trial and nowhere else, the usage log's ``fault`` column, quotas, and the plan file's checks."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.shared.memory import create_connected_server_and_client_session

from mcp_server.catalog import TOOL_NAMES
from mcp_server.config import ServerConfig
from mcp_server.dispatch import ToolOutcome
from mcp_server.faults import FaultPlanError, ToolFault, load_plan
from mcp_server.gate import Caller
from mcp_server.runtime import Runtime
from mcp_server.sdk import CURRENT_CALLER
from mcp_server.store import Limits
from tests.servers import afbench

CALC = {"expression": "6 * 7"}
TRIAL, OTHER = "trial-faulted", "trial-clean"


@asynccontextmanager
async def started(tmp_path: Path, plan: dict[str, ToolFault], **config: Any) -> AsyncIterator[Runtime]:
    runtime = await Runtime.start(
        ServerConfig(db_path=tmp_path / f"s-{uuid.uuid4().hex[:6]}.sqlite", fault_plan=plan, **config)
    )
    try:
        yield runtime
    finally:
        await runtime.close()


async def caller(runtime: Runtime, trial: str | None, limits: Limits | None = None) -> Caller:
    key, _ = await runtime.store.create_key(f"key-{uuid.uuid4().hex[:8]}", limits or Limits())
    return Caller(key, "memory", trial)


def affected(outcome: ToolOutcome) -> str | None:
    """What a call's outcome shows of a fault: its error code, 'padded', or None for a plain result."""
    if outcome.rpc_error is not None:
        return f"rpc:{outcome.rpc_error['code']}"
    if outcome.error is not None:
        return str(outcome.error["code"])
    return "padded" if outcome.padded_to is not None else None


EXPECTED = {
    "tool_unavailable": "unavailable",
    "tool_timeout": "timeout",
    "jsonrpc_error": "rpc:-32603",
    "oversized_result": "padded",
    "session_expired": None,  # a plain result; the session is what changes
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
async def test_each_kind_hits_the_nth_call_of_its_tool_in_its_trial_only(tmp_path: Path, kind: str) -> None:
    plan = {TRIAL: ToolFault(kind=kind, tool="calculator", nth=2)}  # type: ignore[arg-type]
    async with started(tmp_path, plan, fault_timeout_s=0.05) as runtime:
        dispatcher = runtime.dispatcher
        faulted, clean, anonymous = [await caller(runtime, t) for t in (TRIAL, OTHER, None)]
        seen = []
        for i in range(4):
            # Calls of another tool, of another trial, or without a trial neither count nor get the fault.
            assert affected(await dispatcher.call("weather", {"location": "Lisbon"}, faulted, "s-1")) is None
            assert affected(await dispatcher.call("calculator", CALC, clean, "s-2")) is None
            assert affected(await dispatcher.call("calculator", CALC, anonymous, "s-3")) is None
            assert dispatcher.faults.is_expired("s-1") == (kind == "session_expired" and i >= 2)
            seen.append(affected(await dispatcher.call("calculator", CALC, faulted, "s-1")))
            assert dispatcher.faults.is_expired("s-1") == (kind == "session_expired" and i >= 1)
            assert not dispatcher.faults.is_expired("s-2") and not dispatcher.faults.is_expired("s-3")
        assert seen == [None, EXPECTED[kind], None, None]
        rows = await runtime.store.usage()
        assert [(r["trial_id"], r["tool"]) for r in rows if r["fault"]] == [(TRIAL, "calculator")]
        (row,) = [r for r in rows if r["fault"]]
        assert row["fault"] == kind
        assert [r for r in rows if r["trial_id"] == TRIAL and r["tool"] == "calculator"][1] == row
        assert row["outcome"] == ("error" if EXPECTED[kind] not in (None, "padded") else "ok")
        assert row["error_code"] == {"rpc:-32603": "internal_error", "padded": None, None: None}.get(
            EXPECTED[kind], EXPECTED[kind]
        )


async def test_unavailable_is_transient_for_times_calls_of_any_tool(tmp_path: Path) -> None:
    plan = {TRIAL: ToolFault(kind="tool_unavailable", nth=2, times=2)}
    async with started(tmp_path, plan) as runtime:
        who = await caller(runtime, TRIAL)
        calls = [("calculator", CALC), ("weather", {"location": "Oslo"}), ("calculator", CALC), ("calculator", CALC)]
        outcomes = [await runtime.dispatcher.call(name, args, who) for name, args in calls]
        assert [affected(o) for o in outcomes] == [None, "unavailable", "unavailable", None]
        assert outcomes[1].error is not None and outcomes[1].error["details"] == {"retryable": True}
        assert "weather is temporarily unavailable" in outcomes[1].error["message"]
        # A call of a tool the server does not have is refused before it is counted.
        assert affected(await runtime.dispatcher.call("nope", {}, who)) == "unknown_tool"
        assert [r["fault"] for r in await runtime.store.usage()] == [None, "tool_unavailable", "tool_unavailable", None]


async def test_times_repeats_any_kind_on_consecutive_calls(tmp_path: Path) -> None:
    plan = {TRIAL: ToolFault(kind="jsonrpc_error", tool="calculator", nth=1, times=3)}
    async with started(tmp_path, plan) as runtime:
        who = await caller(runtime, TRIAL)
        seen = [affected(await runtime.dispatcher.call("calculator", CALC, who)) for _ in range(5)]
        assert seen == ["rpc:-32603"] * 3 + [None, None]


async def test_timeout_waits_the_fault_limit_and_does_not_run_the_tool(tmp_path: Path) -> None:
    plan = {TRIAL: ToolFault(kind="tool_timeout")}
    async with started(tmp_path, plan, fault_timeout_s=0.2) as runtime:
        outcome = await runtime.dispatcher.call("calculator", {"expression": "1 +"}, await caller(runtime, TRIAL))
        # The arguments are invalid: had the tool (or its validation) run, this would be a syntax error.
        assert outcome.error is not None and outcome.error["code"] == "timeout"
        assert outcome.error["details"] == {"limit_s": 0.2} and "longer than 0.2 s" in outcome.error["message"]
        (row,) = await runtime.store.usage()
        assert row["latency_ms"] >= 200 and row["error_code"] == "timeout"


async def test_a_timeout_the_client_gives_up_on_is_logged_cancelled_with_its_fault(tmp_path: Path) -> None:
    plan = {TRIAL: ToolFault(kind="tool_timeout")}
    async with started(tmp_path, plan, fault_timeout_s=30) as runtime:
        task = asyncio.create_task(runtime.dispatcher.call("calculator", CALC, await caller(runtime, TRIAL)))
        for _ in range(1000):  # until the call is under way (its usage row is written)
            if await runtime.store.usage():
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (row,) = await runtime.store.usage()
        assert (row["outcome"], row["fault"]) == ("cancelled", "tool_timeout")


async def test_oversized_result_is_valid_json_of_about_a_megabyte_with_the_real_result_first(tmp_path: Path) -> None:
    plan = {TRIAL: ToolFault(kind="oversized_result")}
    async with started(tmp_path, plan) as runtime:
        outcome = await runtime.dispatcher.call("calculator", CALC, await caller(runtime, TRIAL))
        real = {"expression": "6 * 7", "result": 42, "formatted": "42"}
        assert outcome.structured == real  # unpadded: it must match the output schema
        size = len(outcome.text.encode("utf-8"))
        assert 1_000_000 <= size < 1_000_100
        decoded = json.loads(outcome.text)
        assert list(decoded) == [*real, "padding"] and {k: decoded[k] for k in real} == real
        assert decoded["padding"].strip() == ""


@contextmanager
def as_caller(who: Caller) -> Iterator[None]:
    token = CURRENT_CALLER.set(who)
    try:
        yield
    finally:
        CURRENT_CALLER.reset(token)


async def test_jsonrpc_error_reaches_the_client_as_an_error_response_and_the_session_goes_on(tmp_path: Path) -> None:
    plan = {TRIAL: ToolFault(kind="jsonrpc_error", nth=1)}
    async with started(tmp_path, plan) as runtime:
        with as_caller(await caller(runtime, TRIAL)):
            client: ClientSession
            async with create_connected_server_and_client_session(runtime.server) as client:
                with pytest.raises(McpError) as raised:
                    await client.call_tool("calculator", CALC)
                assert raised.value.error.code == -32603
                assert "tools/call for 'calculator'" in raised.value.error.message
                after = await client.call_tool("calculator", CALC)
                assert not after.isError and after.structuredContent is not None
                assert after.structuredContent["result"] == 42
        rows = await runtime.store.usage()
        assert [(r["fault"], r["outcome"], r["error_code"]) for r in rows] == [
            ("jsonrpc_error", "error", "internal_error"),
            (None, "ok", None),
        ]


@pytest.mark.parametrize(
    ("kind", "charged"),
    [
        ("tool_unavailable", False),
        ("tool_timeout", False),
        ("jsonrpc_error", False),
        ("oversized_result", True),
        ("session_expired", True),
    ],
)
async def test_a_fault_is_charged_only_when_the_tool_ran(tmp_path: Path, kind: str, charged: bool) -> None:
    plan = {TRIAL: ToolFault(kind=kind, nth=1)}  # type: ignore[arg-type]
    async with started(tmp_path, plan, fault_timeout_s=0.01) as runtime:
        who = await caller(runtime, TRIAL, Limits(per_day=1))
        first = await runtime.dispatcher.call("calculator", CALC, who, "s-1")
        second = await runtime.dispatcher.call("calculator", CALC, who, "s-2")
        if charged:
            assert first.error is None and affected(second) == "quota_exceeded"
        else:
            assert first.is_error and affected(second) is None
            assert affected(await runtime.dispatcher.call("calculator", CALC, who)) == "quota_exceeded"


async def test_concurrent_trials_only_the_planned_one_is_faulted(tmp_path: Path) -> None:
    plan = {TRIAL: ToolFault(kind="tool_unavailable", nth=5)}
    async with started(tmp_path, plan) as runtime:
        faulted, clean = await caller(runtime, TRIAL), await caller(runtime, OTHER)
        jobs = [
            runtime.dispatcher.call("calculator", CALC, who, who.trial_id)
            for _ in range(20)
            for who in (faulted, clean)
        ]
        outcomes = await asyncio.gather(*jobs)
        assert sum(affected(o) == "unavailable" for o in outcomes) == 1
        assert all(affected(o) is None for o in outcomes[1::2])  # the clean trial's calls
        rows = await runtime.store.usage()
        assert [r["trial_id"] for r in rows if r["fault"]] == [TRIAL]
        assert [r["fault"] for r in rows if r["trial_id"] == TRIAL].index("tool_unavailable") == 4


# --- the plan file --------------------------------------------------------------------------------------------

TOOLS = frozenset(TOOL_NAMES)


def test_a_good_plan_loads(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps({"t-1": {"kind": "tool_timeout", "tool": "sql_query", "nth": 3}, "t-2": {"kind": "jsonrpc_error"}})
    )
    assert load_plan(path, TOOLS) == {
        "t-1": ToolFault(kind="tool_timeout", tool="sql_query", nth=3),
        "t-2": ToolFault(kind="jsonrpc_error"),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read it"),
        ("{not json", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"t-1": {"kind": "tool_exploded"}}', "t-1.kind: Input should be"),
        ('{"t-1": {"kind": "tool_timeout", "nth": 0}}', "t-1.nth: Input should be greater than or equal to 1"),
        ('{"t-1": {"kind": "tool_timeout", "when": 1}}', "t-1.when: Extra inputs are not permitted"),
        ('{"t-1": {"kind": "tool_timeout", "tool": "sqlquery"}}', "unknown tool 'sqlquery'; the tools are:"),
        ('{"bad trial": {"kind": "tool_timeout"}}', "'bad trial' is not a trial id"),
        ('{"t-1": "tool_timeout"}', "t-1: Input should be a valid dictionary"),
    ],
)
def test_a_bad_plan_is_refused_with_what_is_wrong(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(FaultPlanError) as raised:
        load_plan(path, TOOLS)
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)


@pytest.mark.parametrize(
    ("content", "transport", "message"),
    [
        ("{oops", "http", "not valid JSON"),
        ('{"t-1": {"kind": "nope"}}', "http", "t-1.kind"),
        ('{"t-1": {"kind": "session_expired"}}', "stdio", "session_expired (trial t-1) needs --transport http"),
    ],
)
def test_serve_refuses_a_bad_plan_in_one_line(tmp_path: Path, content: str, transport: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    port = ["--port", "0"] if transport == "http" else []
    done = afbench(
        "serve", "--transport", transport, *port, "--fault-plan", str(path), db=tmp_path / "s.sqlite", check=False
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: --fault-plan {path}") and message in line
