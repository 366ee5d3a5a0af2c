"""The record of every model call, per trial: what was asked, what came back, how long, how many tokens.

Records are frozen pydantic models kept in memory per trial (and appended to a JSONL file when one is
given). The log is written from the gateway's event-loop thread and read from the harness's, so every
access holds one lock.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchmark.gateway.completions import ToolCallOut


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCallRecord(_Frozen):
    id: str
    name: str
    arguments: Any = Field(description="The arguments decoded from JSON, or the raw text if they are not JSON.")


class InfraEvent(_Frozen):
    """Something the infrastructure did or suffered, not the model: a retry, or a failure after retries."""

    kind: Literal["retry", "error"]
    status: int | None = Field(description="HTTP status that caused it; None for connection errors/timeouts.")
    wait_s: float = Field(default=0.0, description="Seconds waited before the retry.")
    message: str


class CallError(_Frozen):
    status: int
    message: str


class CallRecord(_Frozen):
    trial_id: str | None
    sequence: int = Field(description="1-based order of arrival within the trial.")
    started_at: float = Field(description="Unix time the request arrived.")
    latency_s: float
    backend: str
    model: str
    stream: bool
    message_count: int
    tools_offered: list[str]
    tool_choice: str | None
    response_format: str | None
    input_tokens: int
    output_tokens: int
    tokens_source: Literal["upstream", "counted"]
    tool_calls: list[ToolCallRecord]
    finish_reason: str | None
    status: int = Field(description="HTTP status the gateway answered with.")
    error: CallError | None = None
    infrastructure: list[InfraEvent] = Field(default_factory=list)
    content: str | None = Field(default=None, description="The assistant text returned, if any.")

    @property
    def infrastructure_error(self) -> bool:
        return any(event.kind == "error" for event in self.infrastructure)


def _decode(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


@dataclass
class Recorder:
    """A call in progress; the backend fills in what it learns, :meth:`CallLog.finish` seals it."""

    trial_id: str | None
    sequence: int
    backend: str
    started_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    model: str = ""
    stream: bool = False
    message_count: int = 0
    tools_offered: list[str] = field(default_factory=list)
    tool_choice: str | None = None
    response_format: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_source: Literal["upstream", "counted"] = "counted"
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    finish_reason: str | None = None
    content: str | None = None
    status: int = 200
    error: CallError | None = None
    infrastructure: list[InfraEvent] = field(default_factory=list)
    sealed: bool = False

    def set_reply(self, content: str | None, calls: list[ToolCallOut], finish_reason: str | None) -> None:
        self.content = content
        self.tool_calls = [ToolCallRecord(id=c.id, name=c.name, arguments=_decode(c.arguments)) for c in calls]
        self.finish_reason = finish_reason

    def set_tokens(self, input_tokens: int, output_tokens: int, source: Literal["upstream", "counted"]) -> None:
        self.input_tokens, self.output_tokens, self.tokens_source = input_tokens, output_tokens, source

    def fail(self, status: int, message: str) -> None:
        self.status = status
        self.error = CallError(status=status, message=message)

    def infra(self, kind: Literal["retry", "error"], status: int | None, message: str, wait_s: float = 0.0) -> None:
        self.infrastructure.append(InfraEvent(kind=kind, status=status, wait_s=wait_s, message=message))

    def seal(self) -> CallRecord:
        return CallRecord(
            trial_id=self.trial_id,
            sequence=self.sequence,
            started_at=self.started_at,
            latency_s=time.perf_counter() - self.started,
            backend=self.backend,
            model=self.model,
            stream=self.stream,
            message_count=self.message_count,
            tools_offered=list(self.tools_offered),
            tool_choice=self.tool_choice,
            response_format=self.response_format,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tokens_source=self.tokens_source,
            tool_calls=list(self.tool_calls),
            finish_reason=self.finish_reason,
            status=self.status,
            error=self.error,
            infrastructure=list(self.infrastructure),
            content=self.content,
        )


class CallLog:
    """Every call's record, by trial; optionally mirrored to a JSONL file (one record per line)."""

    def __init__(self, jsonl_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._records: dict[str | None, list[CallRecord]] = {}
        self._sequences: dict[str | None, int] = {}
        self._open: dict[str | None, int] = {}  # calls begun and not yet sealed, by trial
        self._sealed = threading.Condition(self._lock)
        self.jsonl_path = jsonl_path

    def begin(self, trial_id: str | None, backend: str) -> Recorder:
        with self._lock:
            sequence = self._sequences.get(trial_id, 0) + 1
            self._sequences[trial_id] = sequence
            self._open[trial_id] = self._open.get(trial_id, 0) + 1
        return Recorder(trial_id=trial_id, sequence=sequence, backend=backend)

    def finish(self, recorder: Recorder) -> CallRecord | None:
        """Seal and store the call; a recorder is stored once however many times this is called."""
        with self._lock:
            if recorder.sealed:
                return None
            recorder.sealed = True
            if self._open.get(recorder.trial_id, 0) > 0:
                self._open[recorder.trial_id] -= 1
            self._sealed.notify_all()
            record = recorder.seal()
            self._records.setdefault(record.trial_id, []).append(record)
            if self.jsonl_path is not None:
                self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
                with self.jsonl_path.open("a", encoding="utf-8") as handle:
                    handle.write(record.model_dump_json() + "\n")
            return record

    def calls(self, trial_id: str | None) -> list[CallRecord]:
        with self._lock:
            return sorted(self._records.get(trial_id, []), key=lambda r: r.sequence)

    def pending(self, trial_id: str | None) -> int:
        with self._lock:
            return self._open.get(trial_id, 0)

    def wait_sealed(self, trial_id: str | None, timeout_s: float) -> bool:
        """Block until none of the trial's calls is open, or the timeout; False on timeout."""
        with self._sealed:
            return self._sealed.wait_for(lambda: not self._open.get(trial_id, 0), timeout_s)

    def forget(self, trial_id: str | None) -> None:
        with self._lock:
            self._records.pop(trial_id, None)
            self._sequences.pop(trial_id, None)
            self._open.pop(trial_id, None)
