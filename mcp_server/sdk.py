"""The one place that speaks the ``mcp`` SDK (1.x): tools, resources and prompts onto a low-level Server,
what the SDK understands (for the session guard in front of it), and messages into and out of its session
streams. The transports are ours (``streams.py``, ``http_front.py``); moving to ``mcp`` 2.x means changing
this module and little else.
"""

from __future__ import annotations

import contextvars
import logging
import os
import typing
from functools import cache
from typing import Any

import anyio
import mcp.types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.shared.exceptions import McpError
from mcp.shared.message import SessionMessage
from pydantic import AnyUrl, BaseModel, ValidationError

from mcp_server import jsonrpc
from mcp_server.catalog import ToolSpec
from mcp_server.dispatch import Dispatcher
from mcp_server.gate import CALLER_STATE, Caller
from mcp_server.prompts import PROMPTS, find_prompt
from mcp_server.resources import ResourceSpec
from mcp_server.session_guard import Protocol

log = logging.getLogger("afbench.sdk")

SERVER_NAME = "afbench"
INSTRUCTIONS = (
    "Tools of Kestrel Systems Ltd: calculator, weather, document search, read-only SQL over business data and "
    "retrieval over legal documents. Errors come back as tool results with a code and a message."
)

McpServer = Server[Any, Any]  # the SDK's server object, for modules that hold one without speaking the SDK

# Caller and session id of the connection being served, for transports without an HTTP request per message
# (stdio, WebSocket).
CURRENT_CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("afbench_caller")
CURRENT_SESSION: contextvars.ContextVar[str] = contextvars.ContextVar("afbench_session")
# The SDK keeps an HTTP session for this long without a request in flight (its default, stated once here
# because the HTTP front keeps its per-session state for as long).
SESSION_IDLE_TIMEOUT_S = 1800.0


def _tool(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        inputSchema=spec.input_schema(),
        outputSchema=spec.output_schema(),
        annotations=types.ToolAnnotations(
            title=spec.title,
            readOnlyHint=True,
            destructiveHint=False,
            idempotentHint=spec.idempotent,
            openWorldHint=spec.open_world,
        ),
    )


class _SdkNoise(logging.Filter):
    """Drops two log records of ``mcp`` 1.x that report normal events as problems: the traceback of
    "Error in standalone SSE writer" when a session ends (DELETE, idle) while its GET stream is open (the
    stream's reader is closed under it: ``ClosedResourceError``), and "Tool ... not listed, no validation will
    be performed" for a call made before ``tools/list`` (we validate every call ourselves, in dispatch)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == "Error in standalone SSE writer" and record.exc_info:
            return not isinstance(record.exc_info[1], anyio.ClosedResourceError)
        return not (isinstance(record.msg, str) and record.msg.startswith("Tool '%s' not listed"))


def _quiet_sdk_noise() -> None:
    for name in ("mcp.server.streamable_http", "mcp.server.lowlevel.server"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _SdkNoise) for f in logger.filters):
            logger.addFilter(_SdkNoise())


def build_server(dispatcher: Dispatcher, resources: list[ResourceSpec]) -> Server[Any, Any]:
    _quiet_sdk_noise()
    server: Server[Any, Any] = Server(SERVER_NAME, version=_version(), instructions=INSTRUCTIONS)
    listed = {spec.name: _tool(spec) for spec in dispatcher.tools.values()}
    by_uri = {r.uri: r for r in resources}

    @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
    async def list_tools() -> list[types.Tool]:
        # Only the tools the caller's key may call: a client should not be offered what it cannot use. The
        # scope is read afresh (a WebSocket or stdio session keeps the key object it started with).
        caller, _ = _current_caller(server)
        tools = await dispatcher.store.tool_scope(caller.key)
        return [listed[name] for name in dispatcher.allowed(tools)]

    async def call_tool(request: types.CallToolRequest) -> types.ServerResult:
        # Registered as the request handler itself, not through ``server.call_tool()``: that wrapper turns
        # every exception (McpError included) into an error *result*, and a jsonrpc_error fault must answer
        # a JSON-RPC error. Arguments are validated in dispatch, so the wrapper's checks are not missed.
        caller, session_id = _current_caller(server)
        try:
            outcome = await dispatcher.call(request.params.name, request.params.arguments or {}, caller, session_id)
        except Exception as exc:  # as the SDK's wrapper did: a failure here is a tool error, not a crash
            log.exception("tools/call of %r failed", request.params.name)
            return types.ServerResult(
                types.CallToolResult(content=[types.TextContent(type="text", text=str(exc))], isError=True)
            )
        if outcome.rpc_error is not None:
            raise _error(**outcome.rpc_error)
        return types.ServerResult(
            types.CallToolResult(
                content=[types.TextContent(type="text", text=outcome.text)],
                structuredContent=outcome.structured,
                isError=outcome.is_error,
            )
        )

    server.request_handlers[types.CallToolRequest] = call_tool

    @server.list_resources()  # type: ignore[no-untyped-call,untyped-decorator]
    async def list_resources() -> list[types.Resource]:
        return [
            types.Resource(
                uri=AnyUrl(r.uri), name=r.name, title=r.title, description=r.description, mimeType=r.mime_type
            )
            for r in resources
        ]

    @server.read_resource()  # type: ignore[no-untyped-call,untyped-decorator]
    async def read_resource(uri: AnyUrl) -> list[ReadResourceContents]:
        spec = by_uri.get(str(uri))
        if spec is None:
            raise _error(
                jsonrpc.RESOURCE_NOT_FOUND,
                f"Resource not found: {str(uri)!r}; available: {', '.join(sorted(by_uri))}",
                {"uri": str(uri)},
            )
        return [ReadResourceContents(content=await spec.read(), mime_type=spec.mime_type)]

    @server.list_prompts()  # type: ignore[no-untyped-call,untyped-decorator]
    async def list_prompts() -> list[types.Prompt]:
        return [types.Prompt(name=p.name, title=p.title, description=p.description, arguments=[]) for p in PROMPTS]

    @server.get_prompt()  # type: ignore[no-untyped-call,untyped-decorator]
    async def get_prompt(name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
        spec = find_prompt(name)
        if spec is None:
            known = ", ".join(p.name for p in PROMPTS)
            raise _error(jsonrpc.INVALID_PARAMS, f"Invalid params: unknown prompt {name!r}; known: {known}")
        return types.GetPromptResult(
            description=spec.description,
            messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=spec.text))],
        )

    return server


def _error(code: int, message: str, data: Any = None) -> McpError:
    return McpError(types.ErrorData(code=code, message=message, data=data))


def _current_caller(server: Server[Any, Any]) -> tuple[Caller, str | None]:
    context = server.request_context
    request = context.request
    if request is not None and hasattr(request, "scope"):
        caller = request.scope.get("state", {}).get(CALLER_STATE)
        if isinstance(caller, Caller):
            return caller, request.headers.get("mcp-session-id")
    return CURRENT_CALLER.get(), CURRENT_SESSION.get(None)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("afbench")
    except PackageNotFoundError:
        return "dev"


# --- what the SDK understands, for the session guard --------------------------------------------------------


def _method_of(model: type[BaseModel]) -> str:
    (method,) = typing.get_args(model.model_fields["method"].annotation)
    return str(method)


@cache
def _client_models() -> tuple[dict[str, type[BaseModel]], dict[str, type[BaseModel]]]:
    requests = {_method_of(m): m for m in typing.get_args(types.ClientRequestType)}
    notifications = {_method_of(m): m for m in typing.get_args(types.ClientNotificationType)}
    return requests, notifications


def _problem(models: dict[str, type[BaseModel]], method: str, payload: dict[str, Any]) -> str | None:
    try:
        models[method].model_validate(payload)
    except ValidationError as exc:
        problems = []
        for item in exc.errors(include_url=False)[:3]:
            where = ".".join(str(p) for p in item["loc"]) or "params"
            problems.append(f"{where}: {item['msg']}")
        return "; ".join(problems)
    return None


def protocol(server: Server[Any, Any]) -> Protocol:
    """The request methods ``server`` has handlers for, the notifications a client may send, and the SDK's
    own checks of their params (so that the guard answers ``-32602`` with what is wrong)."""
    requests, notifications = _client_models()
    # initialize is answered by the SDK's session itself, not by a handler.
    handled = frozenset(_method_of(model) for model in server.request_handlers) | {"initialize"}
    return Protocol(
        methods=handled & frozenset(requests),
        notifications=frozenset(notifications),
        check_request=lambda method, payload: _problem(requests, method, payload),
        check_notification=lambda method, payload: _problem(notifications, method, payload),
    )


# --- messages into and out of an SDK session ------------------------------------------------------------------


def to_sdk(payload: dict[str, Any], request_context: Any = None) -> SessionMessage:
    """A message the guard admitted, for the SDK session's read stream (``request_context``: the HTTP request,
    where the tools find their caller)."""
    from mcp.shared.message import ServerMessageMetadata

    metadata = ServerMessageMetadata(request_context=request_context) if request_context is not None else None
    return SessionMessage(types.JSONRPCMessage.model_validate(payload), metadata=metadata)


def from_sdk(message: SessionMessage) -> dict[str, Any]:
    dumped: dict[str, Any] = message.message.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


async def run_session(
    server: Server[Any, Any],
    read: MemoryObjectReceiveStream[SessionMessage | Exception],
    write: MemoryObjectSendStream[SessionMessage],
) -> None:
    await server.run(read, write, server.create_initialization_options())


def session_streams() -> tuple[
    tuple[MemoryObjectSendStream[SessionMessage | Exception], MemoryObjectReceiveStream[SessionMessage | Exception]],
    tuple[MemoryObjectSendStream[SessionMessage], MemoryObjectReceiveStream[SessionMessage]],
]:
    """(into the session: writer, reader), (out of it: writer, reader)."""
    return (
        anyio.create_memory_object_stream[SessionMessage | Exception](0),
        anyio.create_memory_object_stream[SessionMessage](0),
    )


def streamable_http_manager(server: Server[Any, Any], max_body_bytes: int) -> Any:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    return StreamableHTTPSessionManager(
        app=server, max_request_body_size=max_body_bytes, session_idle_timeout=SESSION_IDLE_TIMEOUT_S
    )


def environment_key() -> str | None:
    return os.environ.get("AFBENCH_API_KEY") or None
