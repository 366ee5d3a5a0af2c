"""What a benchmark run leaves on disk: one JSON line per finished trial (``results.jsonl``) and ``run.json``.

A trial's line holds everything the reports need, so a report can be rebuilt from the run directory alone:
what the build answered turn by turn, the gateway's model calls and the MCP server's tool calls (the ground
truth of tool use), the score, and the timings. Lines are written whole and flushed as each trial finishes;
a line cut short by a crash is not a finished trial, so reading skips it and a resumed run redoes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"

TrialStatus = Literal["completed", "infra_error"]
# How a faulted trial ended, classified from the outside (benchmark.scoring.resilience says how). A task
# expects recovered or graceful; ``failed`` is the rest: no exception, but an answer that neither passes
# nor says the request could not be completed.
ResilienceOutcome = Literal["recovered", "graceful", "failed", "crashed", "hung", "unsafe"]
TokensSource = Literal["counted", "upstream", "mixed", "none"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportedUsage(_Record):
    """A turn's token usage as the framework reported it (contract.Usage), not as the gateway measured it."""

    input_tokens: int
    output_tokens: int
    calls: int | None = None
    source: str = ""


class TurnOutcome(_Record):
    """One turn as the build ran it (reported by the worker)."""

    index: int
    user: str
    text: str = ""
    agent: str = Field(default="", description="TurnResult.agent: legal_expert, operational_agent or guardrail.")
    started_at: float = Field(description="Unix time the turn was sent.")
    ended_at: float
    wall_s: float
    error: str | None = Field(default=None, description="The exception the build raised on this turn, if any.")
    reported_usage: ReportedUsage | None = Field(
        default=None, description="The framework's own token accounting for the turn; None: it reported none."
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_usage_upto(cls, data: Any) -> Any:
        # Runs before the runner assigned tool calls to turns by time: their workers counted the server's log.
        if isinstance(data, dict) and "usage_upto" in data:
            data = {k: v for k, v in data.items() if k != "usage_upto"}
        return data


class ModelCall(_Record):
    """One call through the model gateway, reduced to what scoring and reports use."""

    sequence: int
    turn: int
    started_at: float
    latency_s: float = Field(description="The model's own time: the final attempt; back-off is in retry_wait_s.")
    retry_wait_s: float = Field(default=0.0, description="Seconds the gateway slept between retries: not model time.")
    input_tokens: int
    output_tokens: int
    tokens_source: Literal["counted", "upstream", "none"] = Field(description="none: a failed call, nothing counted.")
    tool_calls: list[str] = Field(default_factory=list, description="Names of the tools the model asked for.")
    tool_arguments: list[Any] = Field(
        default_factory=list,
        description="The arguments of each of those calls, as the model wrote them (decoded JSON, else the raw"
        " text): what was asked, whether or not it reached the MCP server.",
    )
    status: int
    error: str | None = None
    infra_error: bool = False
    retries: int = 0
    tools_offered: list[str] = Field(default_factory=list, description="Names of the tools the request offered.")
    temperature: float | None = Field(default=None, description="As the build sent it; None: not sent.")
    max_tokens: int | None = Field(default=None, description="As the build sent it; None: not sent.")
    max_completion_tokens: int | None = Field(default=None, description="As the build sent it; None: not sent.")
    parallel_tool_calls: bool | None = Field(default=None, description="As the build sent it; None: not sent.")
    cut_off: Literal["trial_end", "upstream_timeout", "client_closed", "stream_broken"] | None = Field(
        default=None, description="Why the reply is incomplete (the gateway's CallRecord.cut_off); None: whole."
    )
    fault: str | None = Field(
        default=None,
        description="The kind of fault the gateway injected into this call (a ModelFault kind); None: none.",
    )


class ToolCall(_Record):
    """One row of the MCP server's usage log for the trial."""

    turn: int
    tool: str
    arguments: Any
    outcome: str
    error_code: str | None = None
    latency_ms: float | None = None
    fault: str | None = Field(default=None, description="The kind of fault the server injected into this call.")
    started_at: float | None = Field(default=None, description="Unix time the call reached the server.")


class CheckResult(_Record):
    kind: str  # contains / regex / number / not_contains / python_tests
    expected: str
    ok: bool
    detail: str = ""


class TurnScore(_Record):
    index: int
    route_expected: str
    route_actual: str | None
    route_ok: bool
    answer_checks: list[CheckResult] = Field(default_factory=list)
    calls_expected: int
    calls_actual: int = Field(description="Logged calls that count for precision (allowed extra calls left out).")
    calls_matched: int = Field(description="Expected calls paired with a logged call (precision and recall numerator).")
    missing_calls: list[str] = Field(default_factory=list)
    extra_calls: list[str] = Field(default_factory=list)
    ran: bool = True
    passed: bool


class TrialScore(_Record):
    passed: bool
    reason: str | None = Field(default=None, description="Why the trial failed: the first failing check.")
    turns: list[TurnScore]

    @property
    def calls_expected(self) -> int:
        return sum(t.calls_expected for t in self.turns)

    @property
    def calls_actual(self) -> int:
        return sum(t.calls_actual for t in self.turns)

    @property
    def calls_matched(self) -> int:
        return sum(t.calls_matched for t in self.turns)


class Resilience(_Record):
    """The fault a resilience task injected into the trial, and how the trial ended under it."""

    side: Literal["model", "tool"]
    kind: str = Field(description="The fault kind: a ModelFault or ToolFault kind.")
    expected: Literal["recovered", "graceful"]
    outcome: ResilienceOutcome | None = Field(description="None: an infrastructure error, not classified.")
    why: str = Field(default="", description="What decided the outcome, in one line.")


class WorkerInfo(_Record):
    pid: int
    import_s: float = Field(description="Cold import time of the build module in a fresh worker process.")
    peak_rss_mb: float


class TrialRecord(_Record):
    """One line of ``results.jsonl``."""

    trial_id: str
    framework: str
    task_id: str
    category: str
    repeat: int
    status: TrialStatus
    infra_error: str | None = None
    build_error: str | None = None
    started_at: float
    wall_s: float
    turns: list[TurnOutcome] = Field(default_factory=list)
    model_calls: list[ModelCall] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    score: TrialScore | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_source: TokensSource = "none"
    model_time_s: float = 0.0
    tool_time_s: float = 0.0
    overhead_s: float = Field(default=0.0, description="wall - model time - tool time.")
    cost_usd: float | None = None
    worker: WorkerInfo | None = None
    worker_pids: list[int] = Field(
        default_factory=list,
        description="The worker process of each segment of the trial, in order: one more after each restart.",
    )
    resilience: Resilience | None = Field(default=None, description="Resilience tasks: the fault and the outcome.")

    @property
    def passed(self) -> bool:
        return self.status == "completed" and self.score is not None and self.score.passed


class ProfileInfo(_Record):
    name: str
    backend: Literal["scripted", "upstream"]
    model: str
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, description="The variable the key is read from (never the key).")
    key_required: bool = False
    price_input_per_1m: float | None = None
    price_output_per_1m: float | None = None


class RunInfo(_Record):
    """``run.json``: how the run was asked for, so ``--resume`` and ``afbench report`` need nothing else."""

    run_id: str
    created_at: str
    suite: str
    suite_file: str = Field(description="The suite as run, copied into the run directory (relative to it).")
    frameworks: list[str]
    agents_dir: str | None = None
    model: ProfileInfo
    repeats: int
    concurrency: int
    timeout_s: float
    versions: dict[str, Any] = Field(default_factory=dict)
    machine: dict[str, Any] = Field(default_factory=dict)
    loc: dict[str, int] = Field(default_factory=dict, description="Lines of code of each build module.")
    setup: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Each build's environment as last synced: distributions, size_mb, install_s (warm cache).",
    )
    max_tokens: int | None = Field(default=None, description="--max-tokens: the run's token budget; None: none.")
    max_cost_usd: float | None = Field(default=None, description="--max-cost: the run's budget in USD; None: none.")
    stopped: str | None = Field(
        default=None, description="Why the last invocation stopped before the plan was done (its budget); None: not."
    )


class RecordError(ValueError):
    """A run directory that cannot be read; the message names the file and the problem."""


def append_trial(path: Path, record: TrialRecord) -> None:
    """Append one whole line and push it to disk, so a crash leaves every earlier trial intact."""
    line = record.model_dump_json() + "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _complete_lines(path: Path) -> list[tuple[str, TrialRecord]]:
    if not path.is_file():
        return []
    found: list[tuple[str, TrialRecord]] = []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    # The last element is "" after a final newline, or an unfinished line: neither is a trial.
    for number, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            found.append((line, TrialRecord.model_validate_json(line)))
        except ValidationError as exc:
            raise RecordError(f"{path}:{number}: not a trial record: {exc.errors(include_url=False)[:2]}") from None
    return found


def read_trials(path: Path) -> list[TrialRecord]:
    """Every finished trial in ``results.jsonl``; a line cut short by a crash is left out. Last line wins."""
    latest: dict[str, TrialRecord] = {}
    for _, record in _complete_lines(path):
        latest[record.trial_id] = record
    return list(latest.values())


def prune_for_resume(path: Path) -> list[TrialRecord]:
    """Keep only completed trials (one line each), dropping a cut-off tail and infrastructure failures.

    The file is rewritten atomically; the trials returned count as done, everything else is run again.
    """
    kept: dict[str, str] = {}
    records: dict[str, TrialRecord] = {}
    for line, record in _complete_lines(path):
        if record.status == "completed":
            kept[record.trial_id], records[record.trial_id] = line, record
        else:
            kept.pop(record.trial_id, None)
            records.pop(record.trial_id, None)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in kept.values()), encoding="utf-8")
    tmp.replace(path)
    return list(records.values())


def read_run_info(run_dir: Path) -> RunInfo:
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise RecordError(f"{run_dir} is not a run directory: {RUN_FILE} is missing")
    try:
        return RunInfo.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise RecordError(f"{path}: not a valid run description: {exc}") from None


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    path = run_dir / RUN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
