"""One tool call from arrival to answer, independent of the MCP SDK and the transport.

Order matters: an unknown tool is refused without touching quotas; a known one is checked and counted
atomically (the store), then its arguments validated, then run under a time limit. Whatever happens, the
usage row gets an outcome and a latency (``cancelled`` when the client goes away first), and the caller gets
a specific, machine-readable error — an exception inside a tool never takes the server down.
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

from mcp_server.catalog import ToolSpec
from mcp_server.config import ServerConfig
from mcp_server.gate import Caller
from mcp_server.jsonrpc import first_lone_surrogate
from mcp_server.store import CallContext, KeyRevoked, KeyStore, QuotaExceeded
from tools.errors import ErrorCode, ToolError

log = logging.getLogger("afbench.dispatch")


@dataclass(frozen=True)
class ToolOutcome:
    structured: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None

    @property
    def text(self) -> str:
        """Success: the structured result as JSON. Error: ``{"error": {...}}`` as JSON, which a model reads
        as easily as prose and a program can parse (error results carry no structured content: it would not
        match the tool's output schema, and clients such as the MCP Inspector validate it even on errors)."""
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

    async def call(self, name: str, arguments: Any, caller: Caller, mcp_session: str | None = None) -> ToolOutcome:
        spec = self.tools.get(name)
        if spec is None:
            return _error(
                "unknown_tool", f"unknown tool '{name}'; available: {', '.join(sorted(self.tools))}", tool=name
            )
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
        started = time.perf_counter()
        reservation = await self.store.begin_call(context, name, logged)
        if isinstance(reservation, QuotaExceeded):
            return ToolOutcome(error=reservation.as_dict() | {"message": reservation.message()})
        if isinstance(reservation, KeyRevoked):
            return ToolOutcome(error=reservation.as_dict())
        if surrogate_at is not None:
            outcome = _error(
                ErrorCode.INVALID_ARGUMENT.value,
                f"invalid arguments: {surrogate_at} contains a lone UTF-16 surrogate, which is not valid Unicode",
                where=surrogate_at,
            )
        else:
            try:
                outcome = await self._run(spec, arguments, too_large)
            except anyio.get_cancelled_exc_class():
                # The client went away (or cancelled the request): say so in the log, then let it unwind.
                # anyio re-delivers a cancellation at every await of a cancelled scope, hence the shield.
                latency = (time.perf_counter() - started) * 1000
                with anyio.CancelScope(shield=True):
                    await self.store.finish_call(reservation, "cancelled", latency, "cancelled")
                raise
        error_code = outcome.error["code"] if outcome.error else None
        await self.store.finish_call(
            reservation, "error" if outcome.is_error else "ok", (time.perf_counter() - started) * 1000, error_code
        )
        return outcome

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
