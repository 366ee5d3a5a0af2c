"""Each trial's trace, kept beside ``results.jsonl``: every model call the gateway saw, with the request the
framework sent and the response it was given (size-capped, the cap recorded), and every MCP tool call the
server logged, in the order they started — what ``afbench view`` and the OpenTelemetry export read.

One JSON Lines file per trial, ``RUN/traces/<trial id>.jsonl``: a ``trial`` line, then ``model_call`` and
``tool_call`` lines by start time. It is written whole (a temporary file renamed) before the trial's line goes
into ``results.jsonl``, so a resumed run that runs a trial again replaces its trace, and a trace without a
result line is one the run never finished.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from benchmark.gateway.records import CallRecord, TraceBody
from benchmark.records import TrialRecord

TRACES_DIR = "traces"


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrialLine(_Line):
    kind: Literal["trial"] = "trial"
    trial_id: str
    framework: str
    task_id: str
    repeat: int
    passed: bool


class ModelCallLine(_Line):
    kind: Literal["model_call"] = "model_call"
    sequence: int
    turn: int
    started_at: float
    latency_s: float
    status: int
    input_tokens: int
    output_tokens: int
    fault: str | None = None
    cap_bytes: int = Field(description="Each body is cut at this many bytes of its JSON text (truncated then).")
    request: TraceBody | None = None
    response: TraceBody | None = None
    streamed: bool = False


class ToolCallLine(_Line):
    kind: Literal["tool_call"] = "tool_call"
    turn: int
    started_at: float | None
    tool: str
    arguments: Any
    outcome: str
    error_code: str | None = None
    latency_ms: float | None = None
    fault: str | None = None


TraceLine = Annotated[TrialLine | ModelCallLine | ToolCallLine, Field(discriminator="kind")]
_LINE: TypeAdapter[TraceLine] = TypeAdapter(TraceLine)


def trace_path(run_dir: Path, trial_id: str) -> Path:
    return run_dir / TRACES_DIR / f"{trial_id}.jsonl"


def trace_lines(record: TrialRecord, calls: Sequence[CallRecord]) -> list[TrialLine | ModelCallLine | ToolCallLine]:
    """The trial's trace: its model calls (the record's, with the gateway's bodies) and tool calls, by start."""
    traces = {call.sequence: call.trace for call in calls}
    events: list[ModelCallLine | ToolCallLine] = []
    for call in record.model_calls:
        trace = traces.get(call.sequence)
        events.append(
            ModelCallLine(
                sequence=call.sequence,
                turn=call.turn,
                started_at=call.started_at,
                latency_s=call.latency_s,
                status=call.status,
                input_tokens=call.input_tokens,
                output_tokens=call.output_tokens,
                fault=call.fault,
                cap_bytes=trace.cap_bytes if trace is not None else 0,
                request=trace.request if trace is not None else None,
                response=trace.response if trace is not None else None,
                streamed=trace.streamed if trace is not None else False,
            )
        )
    for tool in record.tool_calls:
        events.append(
            ToolCallLine(
                turn=tool.turn,
                started_at=tool.started_at,
                tool=tool.tool,
                arguments=tool.arguments,
                outcome=tool.outcome,
                error_code=tool.error_code,
                latency_ms=tool.latency_ms,
                fault=tool.fault,
            )
        )
    events.sort(key=lambda line: (line.started_at or 0.0, line.kind))
    head = TrialLine(
        trial_id=record.trial_id,
        framework=record.framework,
        task_id=record.task_id,
        repeat=record.repeat,
        passed=record.passed,
    )
    return [head, *events]


def write_trace(run_dir: Path, record: TrialRecord, calls: Sequence[CallRecord]) -> Path:
    """Write the trial's trace file whole (replacing one an earlier attempt left) and return its path."""
    path = trace_path(run_dir, record.trial_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for line in trace_lines(record, calls):
            handle.write(line.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)
    return path


def read_trace(path: Path) -> list[TrialLine | ModelCallLine | ToolCallLine]:
    """A trace file's lines, validated."""
    with path.open(encoding="utf-8") as handle:
        return [_LINE.validate_json(line) for line in handle if line.strip()]
