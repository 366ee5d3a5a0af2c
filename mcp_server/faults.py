"""Faults the server injects into one trial's tool calls, for benchmarks that measure how clients recover.

Off unless the server is started with a fault plan (``afbench serve --fault-plan FILE``): a JSON object
``{"<trial id>": ToolFault, ...}``, checked when the server starts (a bad file is one error line, exit 2). A
call is affected only when it carries that trial id (``X-Trial-Id`` or ``/t/<trial>/mcp``; stdio:
``AFBENCH_TRIAL_ID``), so faults never reach another trial or a client without one. The server knows nothing
of frameworks or tasks; the benchmark writes the plan before it starts the server.

Which calls: the trial's calls of ``tool`` (of any tool when ``tool`` is None) are counted as they reach the
dispatcher, across all the trial's sessions (a client that re-initialises keeps counting); a call of a tool
the server does not have is not counted. Calls ``nth`` to ``nth + times - 1`` get the fault, every other
call is served normally (``times`` repeats any kind, not only ``tool_unavailable``). The counts live in the
server process: a restarted server starts them over.

Kinds:

- ``tool_unavailable``: a tool error result with code ``unavailable``, without running the tool (transient:
  ``times`` calls fail, the next one succeeds);
- ``tool_timeout``: the call waits ``ServerConfig.fault_timeout_s`` (2 s: short and fixed, so a benchmark
  does not wait out the real 30 s limit, which is also the mcp SDK client's own HTTP timeout), then ends with
  the ``timeout`` error result the dispatcher gives a tool that exceeds its limit; the tool does not run;
- ``jsonrpc_error``: a JSON-RPC error response (``-32603`` Internal error) instead of a result; the tool
  does not run;
- ``session_expired``: the tool runs and its result is sent, then the server forgets the MCP session: over
  streamable HTTP every later request with that ``Mcp-Session-Id`` gets HTTP 404 (the specification's signal
  to re-initialise); over WebSocket, which has no session id, the server closes the connection after sending
  the result (the client must reconnect and initialise again); stdio cannot lose its only session, so a plan
  with this kind is refused at start with ``--transport stdio``;
- ``oversized_result``: the tool runs; a successful result's text content is the real result object with one
  more member, ``"padding"``, last, a string of spaces that makes the text about 1 MB
  (``ServerConfig.oversized_result_bytes``), so it stays valid JSON with the real result first.
  ``structuredContent`` stays the real result: it must match the tool's output schema.

Every faulted call is a usage row like any other, with the kind in its ``fault`` column. Quotas charge a call
when the tool ran for the client: ``tool_unavailable``, ``tool_timeout`` and ``jsonrpc_error`` are not
charged (nor checked against the limits: they are the server's doing); ``session_expired`` and
``oversized_result`` are charged and checked like any call (a refused one still counts as the trial's call).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

ToolFaultKind = Literal["tool_unavailable", "tool_timeout", "jsonrpc_error", "session_expired", "oversized_result"]


class ToolFault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ToolFaultKind
    tool: str | None = Field(default=None, description="The tool whose call is faulted; None: whichever comes.")
    nth: int = Field(default=1, ge=1, description="The n-th such call of the trial (1-based).")
    times: int = Field(
        default=1, ge=1, description="Consecutive calls that get the fault from the n-th (any kind; 1: the n-th only)."
    )


FaultPlan = Mapping[str, ToolFault]  # trial id → the fault its calls get

# The error code of a tool_unavailable result (the server's other error codes are in tools.errors.ErrorCode).
UNAVAILABLE = "unavailable"
# Faults that replace the tool's run: the tool does not run, so the call is neither checked nor charged.
REPLACES_THE_CALL = frozenset({"tool_unavailable", "tool_timeout", "jsonrpc_error"})

_PLAN = TypeAdapter(dict[str, ToolFault])


class FaultPlanError(ValueError):
    """A fault plan that cannot be used; the message says which file, where, and what is wrong."""


def load_plan(path: Path, known_tools: frozenset[str]) -> dict[str, ToolFault]:
    """The plan in ``path``, checked: valid JSON, an object of trial ids (as the gate accepts them) to faults
    of a kind this server injects, for tools it has."""
    from mcp_server.gate import TRIAL_ID

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FaultPlanError(f"{path}: cannot read it: {reason}") from None
    try:
        raw: Any = json.loads(text)
    except ValueError as exc:
        raise FaultPlanError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise FaultPlanError(f'{path}: expected a JSON object {{"<trial id>": {{"kind": ...}}, ...}}')
    try:
        plan = _PLAN.validate_python(raw)
    except ValidationError as exc:
        item = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in item["loc"])
        raise FaultPlanError(f"{path}: {where}: {item['msg']}") from None
    for trial, fault in plan.items():
        if not TRIAL_ID.match(trial):
            raise FaultPlanError(f"{path}: {trial!r} is not a trial id (it must match {TRIAL_ID.pattern})")
        if fault.tool is not None and fault.tool not in known_tools:
            raise FaultPlanError(
                f"{path}: {trial}.tool: unknown tool {fault.tool!r}; the tools are: {', '.join(sorted(known_tools))}"
            )
    return plan


def padded_text(result: dict[str, Any], size: int) -> str:
    """``result`` as JSON text with a last member ``"padding"`` (spaces) that brings it to ``size`` bytes
    (or just over, when the result alone is larger)."""
    bare = json.dumps({**result, "padding": ""}, ensure_ascii=False)
    fill = max(0, size - len(bare.encode("utf-8")))
    return json.dumps({**result, "padding": " " * fill}, ensure_ascii=False)


class FaultInjector:
    """Decides, call by call, which fault of the plan applies, and remembers the sessions it expired."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = dict(plan)
        self._counted: dict[str, int] = {}
        self._expired: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.plan)

    def next_call(self, trial_id: str | None, tool: str) -> ToolFault | None:
        """Count this call of ``tool`` in ``trial_id``; the fault it gets, or None. Synchronous, so two
        concurrent calls of a trial never see the same count."""
        fault = self.plan.get(trial_id) if trial_id is not None else None
        if trial_id is None or fault is None or (fault.tool is not None and fault.tool != tool):
            return None
        n = self._counted[trial_id] = self._counted.get(trial_id, 0) + 1
        return fault if fault.nth <= n < fault.nth + fault.times else None

    def expire(self, session_id: str) -> None:
        self._expired.add(session_id)

    def is_expired(self, session_id: str) -> bool:
        return session_id in self._expired
