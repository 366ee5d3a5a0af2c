"""A run's traces as OpenTelemetry spans (OTLP/JSON, the ``ExportTraceServiceRequest`` file shape that tracing
tools and the Collector's ``otlpjsonfile`` receiver load), named and attributed by the GenAI semantic conventions.

One trace per trial: an ``invoke_agent <framework>`` root span (the conversation), an ``invoke_agent <agent>``
span per turn (the agent that answered it), and under each turn its model calls as ``chat <model>`` CLIENT spans
(``gen_ai.request.*``, ``gen_ai.usage.*``, ``gen_ai.response.finish_reasons``, and the content the gateway kept:
``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.tool.definitions`` as JSON strings) and its MCP
tool calls as ``execute_tool <tool>`` spans (``gen_ai.tool.name``, ``gen_ai.tool.call.arguments``,
``mcp.method.name``). Content cut at the gateway's cap is left out and flagged (``afbench.content.truncated``).

OTLP/JSON differs from protobuf's JSON mapping in two ways, both followed: trace and span ids are lowercase hex,
and 64-bit integers (the times in nanoseconds) are strings. Ids are derived from the trial id and the span's
place in it, so exporting a run twice gives the same file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.records import RESULTS_FILE, TrialRecord, read_run_info, read_trials
from benchmark.runner.traces import ModelCallLine, ToolCallLine, TrialLine, read_trace, trace_path

SCOPE = "afbench"
KIND_INTERNAL, KIND_CLIENT = 1, 3
STATUS_UNSET, STATUS_ERROR = 0, 2


def _id(*parts: object, size: int) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[: size * 2]


def _nanos(seconds: float) -> str:
    return str(round(seconds * 1e9))


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in values.items() if value is not None]


def _span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    name: str,
    kind: int,
    start: float,
    end: float,
    attributes: dict[str, Any],
    error: str | None = None,
) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": _nanos(start),
        "endTimeUnixNano": _nanos(max(start, end)),
        "attributes": _attributes(attributes),
        "status": {"code": STATUS_ERROR, "message": error} if error else {"code": STATUS_UNSET},
    }
    if parent is not None:
        span["parentSpanId"] = parent
    return span


def _chat_span(trace_id: str, parent: str, line: ModelCallLine, framework: str) -> dict[str, Any]:
    request = line.request.value if line.request is not None and not line.request.truncated else None
    response = line.response.value if line.response is not None and not line.response.truncated else None
    request = request if isinstance(request, dict) else {}
    choices = response.get("choices") if isinstance(response, dict) else None
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    model = str(request.get("model") or "unknown")
    output = [first["message"]] if isinstance(first.get("message"), dict) else None
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.request.temperature": request.get("temperature"),
        "gen_ai.request.max_tokens": request.get("max_tokens") or request.get("max_completion_tokens"),
        "gen_ai.usage.input_tokens": line.input_tokens,
        "gen_ai.usage.output_tokens": line.output_tokens,
        "gen_ai.response.finish_reasons": [first["finish_reason"]] if first.get("finish_reason") else None,
        "gen_ai.input.messages": json.dumps(request["messages"], ensure_ascii=False) if "messages" in request else None,
        "gen_ai.output.messages": json.dumps(output, ensure_ascii=False) if output else None,
        "gen_ai.tool.definitions": json.dumps(request["tools"], ensure_ascii=False) if request.get("tools") else None,
        "http.response.status_code": line.status,
        "afbench.framework": framework,
        "afbench.call.sequence": line.sequence,
        "afbench.fault": line.fault,
        "afbench.response.streamed": line.streamed,
        "afbench.content.truncated": bool(
            (line.request and line.request.truncated) or (line.response and line.response.truncated)
        ),
    }
    error = f"HTTP {line.status}" if line.status >= 400 else None
    if error:
        attributes["error.type"] = str(line.status)
    span_id = _id(trace_id, "model", line.sequence, size=8)
    start = line.started_at
    return _span(
        trace_id, span_id, parent, f"chat {model}", KIND_CLIENT, start, start + line.latency_s, attributes, error
    )


def _tool_span(trace_id: str, parent: str, line: ToolCallLine, index: int) -> dict[str, Any]:
    start = line.started_at or 0.0
    end = start + (line.latency_ms or 0.0) / 1000
    error = line.error_code or (line.outcome if line.outcome != "ok" else None)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": line.tool,
        "gen_ai.tool.type": "extension",
        "gen_ai.tool.call.arguments": json.dumps(line.arguments, ensure_ascii=False),
        "mcp.method.name": "tools/call",
        "afbench.tool.outcome": line.outcome,
        "afbench.fault": line.fault,
        "error.type": error,
    }
    span_id = _id(trace_id, "tool", index, size=8)
    return _span(trace_id, span_id, parent, f"execute_tool {line.tool}", KIND_CLIENT, start, end, attributes, error)


def trial_spans(record: TrialRecord, lines: Sequence[TrialLine | ModelCallLine | ToolCallLine]) -> list[dict[str, Any]]:
    """The spans of one trial: the conversation, its turns, and their model and tool calls."""
    trace_id = _id(record.trial_id, size=16)
    root = _id(trace_id, "trial", size=8)
    spans = [
        _span(
            trace_id,
            root,
            None,
            f"invoke_agent {record.framework}",
            KIND_INTERNAL,
            record.started_at,
            record.started_at + record.wall_s,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": record.framework,
                "gen_ai.conversation.id": record.trial_id,
                "afbench.task.id": record.task_id,
                "afbench.task.category": record.category,
                "afbench.trial.passed": record.passed,
                "afbench.trial.status": record.status,
            },
            record.build_error or record.infra_error,
        )
    ]
    turns = {turn.index: _id(trace_id, "turn", turn.index, size=8) for turn in record.turns}
    for turn in record.turns:
        spans.append(
            _span(
                trace_id,
                turns[turn.index],
                root,
                f"invoke_agent {turn.agent or 'unknown'}",
                KIND_INTERNAL,
                turn.started_at,
                turn.ended_at,
                {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": turn.agent, "afbench.turn": turn.index},
                turn.error,
            )
        )
    tools = 0
    for line in lines:
        if isinstance(line, ModelCallLine):
            spans.append(_chat_span(trace_id, turns.get(line.turn, root), line, record.framework))
        elif isinstance(line, ToolCallLine):
            spans.append(_tool_span(trace_id, turns.get(line.turn, root), line, tools))
            tools += 1
    return spans


def export_otlp(run_dir: Path, out: Path | None = None) -> Path:
    """Write the run's traces as one OTLP/JSON file (default ``RUN/traces.otlp.json``) and return its path.
    A trial without a trace file (a run from before traces) gets its conversation and turn spans only."""
    info = read_run_info(run_dir)
    spans: list[dict[str, Any]] = []
    for record in sorted(read_trials(run_dir / RESULTS_FILE), key=lambda r: r.started_at):
        path = trace_path(run_dir, record.trial_id)
        lines = read_trace(path) if path.is_file() else []
        spans.extend(trial_spans(record, lines))
    resource = _attributes({"service.name": "afbench", "afbench.run.id": info.run_id, "afbench.suite": info.suite})
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": resource},
                "scopeSpans": [{"scope": {"name": SCOPE}, "spans": spans}],
            }
        ]
    }
    target = out or run_dir / "traces.otlp.json"
    target.write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
