"""One tool call from arrival to answer, independent of the MCP SDK and the transport.

Order matters: an unknown tool is refused without touching quotas; a known one is checked against the key's
tool scope (``scopes.py``; outside it: ``not_allowed``, logged, no quota used) and its limits and counted,
atomically (the store), then its arguments validated, then run under a time limit. Whatever happens, the
usage row gets an outcome and a latency (``cancelled`` when the client goes away first), and the caller gets
a specific, machine-readable error — an exception inside a tool never takes the server down.

With a fault plan (``faults.py``) the call is counted for its trial before the store sees it, and a planned
fault replaces the run (an ``unavailable`` or ``timeout`` error result, a JSON-RPC error) or changes what
follows it (a padded result, an expired session).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import ValidationError

from mcp_server import scopes
from mcp_server.catalog import ToolSpec
from mcp_server.config import ServerConfig
from mcp_server.faults import REPLACES_THE_CALL, UNAVAILABLE, FaultInjector, ToolFault, padded_text
from mcp_server.gate import Caller
from mcp_server.jsonrpc import INTERNAL_ERROR, first_lone_surrogate
from mcp_server.store import NOT_ALLOWED, CallContext, KeyRevoked, KeyStore, NotInScope, QuotaExceeded
from tools.errors import ErrorCode, ToolError

log = logging.getLogger("afbench.dispatch")


@dataclass(frozen=True)
class ToolOutcome:
    structured: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    rpc_error: dict[str, Any] | None = None  # a JSON-RPC error (code, message, data) to answer instead of a result
    padded_to: int | None = None  # oversized_result: the text's size in bytes

    @property
    def is_error(self) -> bool:
        return self.error is not None or self.rpc_error is not None

    @property
    def error_code(self) -> str | None:
        if self.error is not None:
            return str(self.error["code"])
        return "internal_error" if self.rpc_error is not None else None

    @property
    def text(self) -> str:
        """Success: the structured result as JSON. Error: ``{"error": {...}}`` as JSON, which a model reads
        as easily as prose and a program can parse (error results carry no structured content: it would not
        match the tool's output schema, and clients such as the MCP Inspector validate it even on errors)."""
        if self.padded_to is not None and self.structured is not None:
            return padded_text(self.structured, self.padded_to)
        payload = {"error": self.error} if self.error is not None else self.structured
        return json.dumps(payload, ensure_ascii=False, indent=2)


def _error(code: str, message: str, **details: Any) -> ToolOutcome:
    return ToolOutcome(error={"code": code, "message": message, "details": details})


def _loggable(value: Any) -> Any:
    """``value`` with each lone surrogate written out as its escape (``\\ud800``), so that the usage log can
    store and show what the caller sent: a lone surrogate itself cannot be encoded."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_loggable(k): _loggable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_loggable(v) for v in value]
    return value


def _validation_message(exc: ValidationError) -> str:
    problems = []
    for item in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    return "invalid arguments: " + "; ".join(problems)


class Dispatcher:
    def __init__(self, tools: list[ToolSpec], store: KeyStore, config: ServerConfig) -> None:
        self.tools = {tool.name: tool for tool in tools}
        self.store = store
        self.config = config
        self.faults = FaultInjector(config.fault_plan)

    async def call(self, name: str, arguments: Any, caller: Caller, mcp_session: str | None = None) -> ToolOutcome:
        spec = self.tools.get(name)
        if spec is None:
            available = ", ".join(sorted(self.allowed(caller.key.tools)))
            return _error("unknown_tool", f"unknown tool '{name}'; available: {available}", tool=name)
        if arguments is None:
            arguments = {}
        surrogate_at = first_lone_surrogate(arguments, "arguments")
        if surrogate_at is not None:
            arguments = _loggable(arguments)
        encoded = json.dumps(arguments, ensure_ascii=False, default=str)
        too_large = len(encoded.encode("utf-8")) > self.config.max_argument_bytes
        logged = {"_truncated": True, "bytes": len(encoded)} if too_large else arguments
        if not isinstance(logged, dict):
            logged = {"_not_an_object": encoded[:200]}
        context = CallContext(caller.key, caller.transport, mcp_session, caller.trial_id)
        fault = self.faults.next_call(caller.trial_id, name) if self.faults else None
        replaced = fault is not None and fault.kind in REPLACES_THE_CALL
        started = time.perf_counter()
        reservation = await self.store.begin_call(
            context,
            name,
            logged,
            fault=fault.kind if fault else None,
            charged=not replaced,
            in_default_scope=spec.default_scope,
        )
        if isinstance(reservation, NotInScope):
            return self._not_allowed(reservation)
        if isinstance(reservation, QuotaExceeded):
            return ToolOutcome(error=reservation.as_dict() | {"message": reservation.message()})
        if isinstance(reservation, KeyRevoked):
            return ToolOutcome(error=reservation.as_dict())
        try:
            if fault is not None and replaced:
                outcome = await self._replace(spec, fault, caller)
            elif surrogate_at is not None:
                outcome = _error(
                    ErrorCode.INVALID_ARGUMENT.value,
                    f"invalid arguments: {surrogate_at} contains a lone UTF-16 surrogate, which is not valid Unicode",
                    where=surrogate_at,
                )
            else:
                outcome = await self._run(spec, arguments, too_large)
        except anyio.get_cancelled_exc_class():
            # The client went away (or cancelled the request): say so in the log, then let it unwind.
            # anyio re-delivers a cancellation at every await of a cancelled scope, hence the shield.
            latency = (time.perf_counter() - started) * 1000
            with anyio.CancelScope(shield=True):
                await self.store.finish_call(reservation, "cancelled", latency, "cancelled")
            raise
        if fault is not None and fault.kind == "oversized_result" and outcome.structured is not None:
            outcome = ToolOutcome(structured=outcome.structured, padded_to=self.config.oversized_result_bytes)
        await self.store.finish_call(
            reservation,
            "error" if outcome.is_error else "ok",
            (time.perf_counter() - started) * 1000,
            outcome.error_code,
        )
        if fault is not None and fault.kind == "session_expired" and mcp_session is not None:
            self.faults.expire(mcp_session)  # the transport ends the session once this result is sent
        return outcome

    def allowed(self, tools: tuple[str, ...] | None) -> list[str]:
        """The tools of this server that a key with stored scope ``tools`` may call, in listing order."""
        permitted = scopes.allowed(tools)
        return [name for name in self.tools if name in permitted]

    def _not_allowed(self, refusal: NotInScope) -> ToolOutcome:
        scope = "the default scope" if refusal.tools is None else "its scope"
        return _error(
            NOT_ALLOWED,
            f"the API key '{refusal.name}' may not call '{refusal.tool}': it is outside {scope} "
            f"({', '.join(self.allowed(refusal.tools)) or 'no tools'}). The call was not executed; the server's "
            f"operator can allow it with `afbench keys set-limit {refusal.name} --tools ...`.",
            tool=refusal.tool,
            allowed=self.allowed(refusal.tools),
        )

    async def _replace(self, spec: ToolSpec, fault: ToolFault, caller: Caller) -> ToolOutcome:
        """What a fault that replaces the tool's run answers (the tool does not run)."""
        log.info("injecting %s into a call of %s (trial %s)", fault.kind, spec.name, caller.trial_id)
        if fault.kind == "tool_unavailable":
            return _error(
                UNAVAILABLE,
                f"{spec.name} is temporarily unavailable; try again",
                retryable=True,
            )
        if fault.kind == "tool_timeout":
            # The same answer as a tool that runs past its limit, after a short fixed wait (see faults.py).
            await anyio.sleep(self.config.fault_timeout_s)
            return _error(
                ErrorCode.TIMEOUT.value,
                f"{spec.name} took longer than {self.config.fault_timeout_s:g} s",
                limit_s=self.config.fault_timeout_s,
            )
        return ToolOutcome(
            rpc_error={
                "code": INTERNAL_ERROR,
                "message": f"Internal error: the server failed while handling tools/call for '{spec.name}'",
                "data": {"tool": spec.name},
            }
        )

    async def _run(self, spec: ToolSpec, arguments: Any, too_large: bool) -> ToolOutcome:
        if too_large:
            return _error(
                ErrorCode.INPUT_TOO_LARGE.value,
                f"arguments exceed {self.config.max_argument_bytes} bytes",
                limit=self.config.max_argument_bytes,
            )
        if not isinstance(arguments, dict):
            return _error(ErrorCode.INVALID_ARGUMENT.value, "arguments must be a JSON object")
        try:
            request = spec.input_model.model_validate(arguments)
        except ValidationError as exc:
            return _error(ErrorCode.INVALID_ARGUMENT.value, _validation_message(exc))
        try:
            result = await asyncio.wait_for(spec.handler(request), timeout=self.config.call_timeout_s)
        except ToolError as exc:
            return ToolOutcome(error=exc.to_dict())
        except TimeoutError:
            return _error(ErrorCode.TIMEOUT.value, f"{spec.name} took longer than {self.config.call_timeout_s:g} s")
        except Exception:
            log.exception("tool %s failed unexpectedly", spec.name)
            return _error("internal_error", f"{spec.name} failed unexpectedly; the failure was logged on the server")
        return ToolOutcome(structured=result.model_dump(mode="json"))
