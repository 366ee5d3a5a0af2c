"""What the runner and a worker say to each other: one JSON object per line on the worker's stdin/stdout.

Runner → worker: ``{"cmd": "trial", ...TrialRequest}`` or ``{"cmd": "exit"}``.
Worker → runner: ``{"event": "ready", ...Ready}`` once the build is loaded (or ``{"event": "load_error",
"message"}``), then ``{"event": "trial", ...TrialReport}`` per trial.

Both ends import this module: the worker runs in its build's own environment, where only the standard library
and pydantic are assumed, so it imports nothing else of afbench but :mod:`benchmark.records`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from benchmark.records import TurnOutcome


class Endpoint(BaseModel):
    base_url: str = ""
    url: str = ""
    model: str = ""
    api_key: str
    trial_id: str = ""
    timeout_s: float | None = None  # the model endpoint's (contract.ModelEndpoint.timeout_s)


class Memory(BaseModel):
    conversation_id: str
    directory: str


class TrialRequest(BaseModel):
    """Run these turns of a trial: all of them, or one segment of a trial that restarts its worker."""

    trial_id: str
    spec: dict[str, Any]  # benchmark.spec.SystemSpec.to_dict(): the system the build runs
    messages: list[str]
    model: Endpoint
    mcp: Endpoint
    memory: Memory
    first_turn: int = 0  # the index of messages[0] in the task's turns


class Ready(BaseModel):
    pid: int
    import_s: float
    rss_mb: float


class TrialReport(BaseModel):
    trial_id: str
    turns: list[TurnOutcome]
    start_error: str | None = None  # open() raised: no turn ran
    close_error: str | None = None  # aclose() raised after the turns
    wall_s: float
    peak_rss_mb: float
