"""Traces: the gateway keeps each call's request and response bodies (a stream's reply reassembled; each body cut
at a cap it records), and the runner writes every trial's trace beside ``results.jsonl``: model calls with those
bodies and the server's tool calls, in order, one file per trial, replaced whole when a trial runs again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.gateway import Gateway, GatewayServer, ScriptedBackend
from benchmark.gateway.records import TraceBody
from benchmark.runner.traces import ModelCallLine, ToolCallLine, TrialLine, read_trace, trace_path, write_trace
from tests.benchmark.test_builds import smoke_run
from tests.benchmark.test_gateway import SQL_TASK, TICKETS, chat, post


def test_a_body_within_the_cap_is_kept_and_a_larger_one_is_cut_at_a_character_boundary() -> None:
    small = TraceBody.of({"messages": ["hi"]}, cap_bytes=100)
    assert small.value == {"messages": ["hi"]} and not small.truncated and small.bytes == len('{"messages": ["hi"]}')
    big = TraceBody.of({"content": "ü" * 100}, cap_bytes=51)  # ü is two bytes: the cut may not split one
    assert (
        big.truncated
        and big.value is None
        and big.bytes == len(json.dumps({"content": "ü" * 100}, ensure_ascii=False).encode())
    )
    assert big.text is not None and big.text.startswith('{"content": "üü') and len(big.text.encode()) <= 51


def test_the_gateway_keeps_what_went_over_the_wire_for_json_and_streamed_replies(tmp_path: Path) -> None:
    gateway = Gateway(ScriptedBackend(), trace_cap_bytes=4096)
    gateway.register_trial("traced", SQL_TASK)
    with GatewayServer(gateway) as server:
        sent = chat(TICKETS)
        answered = post(server, "traced", sent).json()
        streamed = post(server, "traced", chat(TICKETS, stream=True, stream_options={"include_usage": True}))
        assert streamed.status_code == 200
        refused = post(server, "traced", b"{not json")
    plain, stream, broken = gateway.calls("traced")
    assert plain.trace is not None and plain.trace.cap_bytes == 4096
    assert plain.trace.request is not None and plain.trace.request.value == sent
    assert plain.trace.response is not None and plain.trace.response.value == answered and not plain.trace.streamed
    assert stream.trace is not None and stream.trace.streamed and stream.trace.response is not None
    message = stream.trace.response.value["choices"][0]["message"]
    assert [call["function"]["name"] for call in message["tool_calls"]] == ["sql_query"]
    assert stream.trace.response.value["usage"]["completion_tokens"] == stream.output_tokens
    assert broken.trace is not None and broken.trace.request is None  # no JSON arrived
    assert broken.trace.response is not None and broken.trace.response.value == refused.json()


async def test_every_trial_of_a_run_has_a_trace_with_its_model_and_tool_calls_in_order(tmp_path: Path) -> None:
    outcome = await smoke_run("vanilla", tmp_path)
    for record in outcome.trials:
        lines = read_trace(trace_path(outcome.run_dir, record.trial_id))
        head, *events = lines
        assert isinstance(head, TrialLine) and head.trial_id == record.trial_id and head.passed == record.passed
        models = [line for line in events if isinstance(line, ModelCallLine)]
        tools = [line for line in events if isinstance(line, ToolCallLine)]
        assert [m.sequence for m in sorted(models, key=lambda m: m.sequence)] == [
            c.sequence for c in record.model_calls
        ]
        assert [(t.tool, t.outcome) for t in tools] == [(c.tool, c.outcome) for c in record.tool_calls]
        timed = [line for line in events if isinstance(line, ModelCallLine | ToolCallLine)]
        assert len(timed) == len(events)
        starts = [line.started_at or 0.0 for line in timed]
        assert starts == sorted(starts)
        for line, call in zip(sorted(models, key=lambda m: m.sequence), record.model_calls, strict=True):
            assert line.request is not None and line.response is not None and not line.request.truncated
            assert line.request.value["messages"], "the request as sent, history and all"
            offered = [tool["function"]["name"] for tool in line.request.value.get("tools", [])]
            assert offered == call.tools_offered
    code = next(t for t in outcome.trials if t.category == "code")
    code_lines = read_trace(trace_path(outcome.run_dir, code.trial_id))
    tester = [
        line
        for line in code_lines
        if isinstance(line, ModelCallLine)
        and line.request is not None
        and [tool["function"]["name"] for tool in line.request.value.get("tools", [])] == ["run_python"]
    ]
    assert tester, "the tester's requests, offering only run_python, are in the code trial's trace"
    (run,) = [line for line in code_lines if isinstance(line, ToolCallLine)]
    assert run.tool == "run_python" and "year % 400" in run.arguments["code"]


async def test_a_trial_run_again_replaces_its_trace_whole(tmp_path: Path) -> None:
    outcome = await smoke_run("vanilla", tmp_path)
    record = outcome.trials[0]
    again = tmp_path / "again"
    first = write_trace(again, record, [])
    text = first.read_text(encoding="utf-8")
    second = write_trace(again, record, [])
    assert second == first and second.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]  # no partial file left behind
    lines = read_trace(first)
    assert all(
        isinstance(line, ModelCallLine) and line.request is None for line in lines[1:] if line.kind == "model_call"
    )


@pytest.mark.parametrize("junk", ['{"kind": "model_call"}', '{"kind": "nonsense"}'])
def test_a_broken_trace_line_is_refused(tmp_path: Path, junk: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(junk + "\n", encoding="utf-8")
    with pytest.raises(ValueError):
        read_trace(path)
