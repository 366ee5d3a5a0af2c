"""The one place that speaks the ``mcp`` SDK (1.x): tools, resources and prompts onto a low-level Server,
and the stdio and WebSocket transports. Moving to ``mcp`` 2.x means changing this module and little else.
"""

from __future__ import annotations

import contextvars
import os
import warnings
from typing import Any

import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.helper_types import ReadResourceContents
from pydantic import AnyUrl
from starlette.types import Receive, Scope, Send

from mcp_server.catalog import ToolSpec
from mcp_server.dispatch import Dispatcher
from mcp_server.gate import CALLER_STATE, Caller
from mcp_server.prompts import PROMPTS, load_prompt
from mcp_server.resources import ResourceSpec

SERVER_NAME = "afbench"
INSTRUCTIONS = (
    "Tools of Kestrel Systems Ltd: calculator, weather, document search, read-only SQL over business data and "
    "retrieval over legal documents. Errors come back as tool results with a code and a message."
)

# Caller of the connection being served, for transports without an HTTP request per message (stdio, WebSocket).
CURRENT_CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("afbench_caller")


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


def build_server(dispatcher: Dispatcher, resources: list[ResourceSpec]) -> Server[Any, Any]:
    server: Server[Any, Any] = Server(SERVER_NAME, version=_version(), instructions=INSTRUCTIONS)
    listed = [_tool(spec) for spec in dispatcher.tools.values()]
    by_uri = {r.uri: r for r in resources}

    @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
    async def list_tools() -> list[types.Tool]:
        return listed

    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        caller, session_id = _current_caller(server)
        outcome = await dispatcher.call(name, arguments, caller, session_id)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=outcome.text)],
            structuredContent=outcome.structured,
            isError=outcome.is_error,
        )

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
            raise ValueError(f"unknown resource '{uri}'; available: {', '.join(sorted(by_uri))}")
        return [ReadResourceContents(content=await spec.read(), mime_type=spec.mime_type)]

    @server.list_prompts()  # type: ignore[no-untyped-call,untyped-decorator]
    async def list_prompts() -> list[types.Prompt]:
        return [types.Prompt(name=p.name, title=p.title, description=p.description, arguments=[]) for p in PROMPTS]

    @server.get_prompt()  # type: ignore[no-untyped-call,untyped-decorator]
    async def get_prompt(name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
        try:
            text = load_prompt(name)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None
        spec = next(p for p in PROMPTS if p.name == name)
        return types.GetPromptResult(
            description=spec.description,
            messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))],
        )

    return server


def _current_caller(server: Server[Any, Any]) -> tuple[Caller, str | None]:
    context = server.request_context
    request = context.request
    if request is not None and hasattr(request, "scope"):
        caller = request.scope.get("state", {}).get(CALLER_STATE)
        if isinstance(caller, Caller):
            return caller, request.headers.get("mcp-session-id")
    return CURRENT_CALLER.get(), f"{CURRENT_CALLER.get().transport}-{id(context.session):x}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("afbench")
    except PackageNotFoundError:
        return "dev"


async def run_stdio(server: Server[Any, Any], caller: Caller) -> None:
    from mcp.server.stdio import stdio_server

    CURRENT_CALLER.set(caller)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


async def serve_websocket(server: Server[Any, Any], scope: Scope, receive: Receive, send: Send) -> None:
    """One WebSocket connection (subprotocol ``mcp``); the gate has already admitted the caller."""
    with warnings.catch_warnings():
        # mcp 1.x marks its WebSocket transport deprecated (gone in 2.0); we keep it while 1.x is pinned.
        warnings.simplefilter("ignore", DeprecationWarning)
        from mcp.server.websocket import websocket_server

    CURRENT_CALLER.set(scope["state"][CALLER_STATE])
    async with websocket_server(scope, receive, send) as (read, write):
        await server.run(read, write, server.create_initialization_options())


def streamable_http_manager(server: Server[Any, Any], max_body_bytes: int) -> Any:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    return StreamableHTTPSessionManager(app=server, max_request_body_size=max_body_bytes)


def environment_key() -> str | None:
    return os.environ.get("AFBENCH_API_KEY") or None
