"""The record of every model call, per trial: what was asked, what came back, how long, how many tokens.

Records are frozen pydantic models kept in memory per trial (and appended to a JSONL file when one is
given). The log is written from the gateway's event-loop thread and read from the harness's, so every
access holds one lock.

Time is split so that scoring can charge each part to whoever spent it: ``latency_s`` is the model's own time
(the final attempt, from its request to its last byte), ``retry_wait_s`` the back-off slept between
attempts, and each failed attempt's duration is in its :class:`InfraEvent`. A reply that did not arrive
whole says why in ``cut_off`` and keeps what had arrived. A call the gateway broke on purpose (the trial's
task carries a model fault) says which fault in ``fault``. Each record keeps what went over the wire in
``trace``: the request body and the response body (a stream's reply reassembled), each cut at a cap that the
trace records, so a run can show what every framework sent and got.
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
from benchmark.tasks.models import ModelFaultKind


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCallRecord(_Frozen):
    id: str
    name: str
    arguments: Any = Field(description="The arguments decoded from JSON, or the raw text if they are not JSON.")


CLIENT_CLOSED = 499  # a call left unanswered: its client stopped reading, or its trial ended (nginx's code)
TokensSource = Literal["upstream", "counted", "none"]
# Why a reply is incomplete: the trial ended while it was open (the harness cancelled it upstream), the
# upstream went silent for longer than the timeout while generating, the client stopped reading before the
# reply's last chunk, or the upstream dropped the connection midway.
CutOff = Literal["trial_end", "upstream_timeout", "client_closed", "stream_broken"]


class InfraEvent(_Frozen):
    """Something the infrastructure did or suffered, not the model: a retry, or a failure after retries."""

    kind: Literal["retry", "error"]
    status: int | None = Field(description="HTTP status that caused it; None for connection errors/timeouts.")
    wait_s: float = Field(default=0.0, description="Seconds waited before the retry.")
    attempt_s: float = Field(default=0.0, description="How long the failed attempt took.")
    message: str


class CallError(_Frozen):
    status: int
    message: str


TRACE_CAP_BYTES = 256 * 1024  # per body: a request with a long history is ~100 KB; a runaway one is cut


class TraceBody(_Frozen):
    """One HTTP body of a call as the trace keeps it: the JSON itself within the cap, else the start of its text."""

    value: Any = Field(default=None, description="The body, decoded; None when cut.")
    text: str | None = Field(default=None, description="The first cap_bytes of the body's JSON text, when cut.")
    bytes: int = Field(description="The size of the whole body as JSON text (UTF-8).")
    truncated: bool = False

    @classmethod
    def of(cls, body: Any, cap_bytes: int) -> TraceBody:
        text = json.dumps(body, ensure_ascii=False)
        size = len(text.encode("utf-8"))
        if size <= cap_bytes:
            return cls(value=body, bytes=size)
        head = text.encode("utf-8")[:cap_bytes].decode("utf-8", errors="ignore")
        return cls(text=head, bytes=size, truncated=True)


class CallTrace(_Frozen):
    """What went over the wire in one call: the request the framework sent and the response it was given (a
    stream's reassembled from the chunks the client was handed), each cut at ``cap_bytes``."""

    cap_bytes: int
    request: TraceBody | None = Field(default=None, description="None: the body never arrived or was no JSON.")
    response: TraceBody | None = Field(default=None, description="None: nothing was answered (a dropped call).")
    streamed: bool = Field(default=False, description="The response was a stream, reassembled chunk by chunk.")


class CallRecord(_Frozen):
    trial_id: str | None
    sequence: int = Field(description="1-based order of arrival within the trial.")
    started_at: float = Field(description="Unix time the request arrived.")
    latency_s: float = Field(
        description="The model's own time: the final attempt, from its request to its last byte (or the cut-off); "
        "back-off waits and failed attempts before it are not in it."
    )
    retry_wait_s: float = Field(default=0.0, description="Seconds slept between attempts (back-off, Retry-After).")
    backend: str
    model: str
    stream: bool
    message_count: int
    tools_offered: list[str]
    tool_choice: str | None
    response_format: str | None
    temperature: float | None = Field(default=None, description="As sent; None when the request had none.")
    max_tokens: int | None = Field(default=None, description="As sent; None when the request had none.")
    max_completion_tokens: int | None = Field(default=None, description="As sent; None when the request had none.")
    parallel_tool_calls: bool | None = Field(default=None, description="As sent; None when the request had none.")
    input_tokens: int
    output_tokens: int
    tokens_source: TokensSource = Field(
        description="upstream: its usage; counted: tiktoken over what was sent and received (a partial reply "
        "counts what arrived); none: no reply to count (a failed call), so its zero tokens are no measurement."
    )
    tool_calls: list[ToolCallRecord]
    finish_reason: str | None
    status: int = Field(description="HTTP status the gateway answered with (499: the call was left unanswered).")
    error: CallError | None = None
    infrastructure: list[InfraEvent] = Field(default_factory=list)
    content: str | None = Field(default=None, description="The assistant text returned (or received so far), if any.")
    cut_off: CutOff | None = Field(default=None, description="Why the reply is incomplete; None when it is whole.")
    fault: ModelFaultKind | None = Field(
        default=None,
        description="The fault the gateway injected into this call (the trial's task asked for it); None: none.",
    )
    trace: CallTrace | None = Field(default=None, description="The request and response bodies, size-capped.")

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
    attempt_started: float | None = None  # perf_counter at the current attempt's request; None: no attempt yet
    model: str = ""
    stream: bool = False
    message_count: int = 0
    tools_offered: list[str] = field(default_factory=list)
    tool_choice: str | None = None
    response_format: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    parallel_tool_calls: bool | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_source: TokensSource = "none"
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    finish_reason: str | None = None
    content: str | None = None
    status: int = 200
    error: CallError | None = None
    infrastructure: list[InfraEvent] = field(default_factory=list)
    cut_off: CutOff | None = None
    fault: ModelFaultKind | None = None
    sealed: bool = False
    trace_cap_bytes: int = TRACE_CAP_BYTES
    request_body: Any = None  # the request as parsed, for the trace
    response_body: Any = None  # the JSON answered, or a stream's reply reassembled (response_streamed)
    response_streamed: bool = False

    def set_reply(self, content: str | None, calls: list[ToolCallOut], finish_reason: str | None) -> None:
        self.content = content
        self.tool_calls = [ToolCallRecord(id=c.id, name=c.name, arguments=_decode(c.arguments)) for c in calls]
        self.finish_reason = finish_reason

    def set_tokens(self, input_tokens: int, output_tokens: int, source: TokensSource) -> None:
        self.input_tokens, self.output_tokens, self.tokens_source = input_tokens, output_tokens, source

    def fail(self, status: int, message: str) -> None:
        self.status = status
        self.error = CallError(status=status, message=message)

    def cut(self, reason: CutOff, status: int, message: str) -> None:
        """The reply will not arrive whole: what was received so far stays in the record."""
        self.cut_off = reason
        self.fail(status, message)

    def trial_ended(self) -> None:
        message = f"the trial ended {self.attempt_s():.1f} s into the model's answer; what had arrived is recorded"
        self.cut("trial_end", CLIENT_CLOSED, message)

    def begin_attempt(self) -> None:
        """A backend sends its request (again): the model's latency is timed from here."""
        self.attempt_started = time.perf_counter()

    def attempt_s(self) -> float:
        return time.perf_counter() - (self.started if self.attempt_started is None else self.attempt_started)

    def infra(self, kind: Literal["retry", "error"], status: int | None, message: str, wait_s: float = 0.0) -> None:
        """Note a failed attempt (call it before the back-off sleep, so the attempt's own time is what counts)."""
        event = InfraEvent(kind=kind, status=status, wait_s=wait_s, attempt_s=self.attempt_s(), message=message)
        self.infrastructure.append(event)

    def seal(self) -> CallRecord:
        return CallRecord(
            trial_id=self.trial_id,
            sequence=self.sequence,
            started_at=self.started_at,
            latency_s=self.attempt_s(),
            retry_wait_s=sum(event.wait_s for event in self.infrastructure if event.kind == "retry"),
            backend=self.backend,
            model=self.model,
            stream=self.stream,
            message_count=self.message_count,
            tools_offered=list(self.tools_offered),
            tool_choice=self.tool_choice,
            response_format=self.response_format,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            max_completion_tokens=self.max_completion_tokens,
            parallel_tool_calls=self.parallel_tool_calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tokens_source=self.tokens_source,
            tool_calls=list(self.tool_calls),
            finish_reason=self.finish_reason,
            status=self.status,
            error=self.error,
            infrastructure=list(self.infrastructure),
            content=self.content,
            cut_off=self.cut_off,
            fault=self.fault,
            trace=self._trace(),
        )

    def _trace(self) -> CallTrace:
        cap = self.trace_cap_bytes
        request = TraceBody.of(self.request_body, cap) if self.request_body is not None else None
        response = TraceBody.of(self.response_body, cap) if self.response_body is not None else None
        return CallTrace(cap_bytes=cap, request=request, response=response, streamed=self.response_streamed)


class CallLog:
    """Every call's record, by trial; optionally mirrored to a JSONL file (one record per line)."""

    def __init__(self, jsonl_path: Path | None = None, trace_cap_bytes: int = TRACE_CAP_BYTES) -> None:
        self.trace_cap_bytes = trace_cap_bytes
        self._lock = threading.Lock()
        self._records: dict[str | None, list[CallRecord]] = {}
        self._sequences: dict[str | None, int] = {}
        self._open: dict[str | None, dict[int, Recorder]] = {}  # calls begun and not yet sealed, by trial
        self._sealed = threading.Condition(self._lock)
        self.jsonl_path = jsonl_path

    def begin(self, trial_id: str | None, backend: str) -> Recorder:
        with self._lock:
            sequence = self._sequences.get(trial_id, 0) + 1
            self._sequences[trial_id] = sequence
            recorder = Recorder(
                trial_id=trial_id, sequence=sequence, backend=backend, trace_cap_bytes=self.trace_cap_bytes
            )
            self._open.setdefault(trial_id, {})[sequence] = recorder
        return recorder

    def finish(self, recorder: Recorder) -> CallRecord | None:
        """Seal and store the call; a recorder is stored once however many times this is called."""
        with self._lock:
            if recorder.sealed:
                return None
            recorder.sealed = True
            self._open.get(recorder.trial_id, {}).pop(recorder.sequence, None)
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
            return len(self._open.get(trial_id, {}))

    def wait_sealed(self, trial_id: str | None, timeout_s: float) -> bool:
        """Block until none of the trial's calls is open, or the timeout; False on timeout."""
        with self._sealed:
            return self._sealed.wait_for(lambda: not self._open.get(trial_id), timeout_s)

    def cut_open(self, trial_id: str | None) -> None:
        """Record the trial's calls still open as cut off by the trial's end, as they stand."""
        with self._lock:
            still_open = list(self._open.get(trial_id, {}).values())
        for recorder in still_open:
            recorder.trial_ended()
            self.finish(recorder)

    def forget(self, trial_id: str | None) -> None:
        with self._lock:
            self._records.pop(trial_id, None)
            self._sequences.pop(trial_id, None)
            self._open.pop(trial_id, None)
