"""The baseline for ``afbench loadtest``: a bare official ``mcp`` SDK server (FastMCP) with one ``calculator`` tool.

No API keys, no quotas, no usage log: only what the SDK itself does. It runs the same calculator code as our
server (``tools.calculator``), over streamable HTTP at ``/mcp`` and WebSocket (subprotocol ``mcp``) at ``/ws``,
under the same uvicorn settings, so the load test's ratio shows what our layer costs.

    python -m mcp_server._bare_server --port 0   # prints "bare MCP server: http://HOST:PORT/mcp  ws://HOST:PORT/ws"
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from mcp.server.fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send

from mcp_server.http_app import listening_socket, uvicorn_config
from tools import calculator


def build_app(host: str) -> Starlette:
    mcp = FastMCP("bare-calculator", host=host, log_level="WARNING")

    @mcp.tool(name="calculator", description=" ".join((calculator.calculate.__doc__ or "").split()))
    async def calculator_tool(expression: str) -> calculator.CalculatorResult:
        return await calculator.calculate(calculator.CalculatorInput(expression=expression))

    low_level = mcp._mcp_server  # FastMCP has no public handle for running it on another transport.
    security = mcp.settings.transport_security

    class WebSocketEndpoint:
        """A raw ASGI endpoint: the SDK's WebSocket transport needs scope/receive/send, not a Starlette WebSocket."""

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            with warnings.catch_warnings():
                # mcp 1.x marks its WebSocket transport deprecated; the server under test uses it too.
                warnings.simplefilter("ignore", DeprecationWarning)
                from mcp.server.websocket import websocket_server

            async with websocket_server(scope, receive, send, security) as (read, write):
                await low_level.run(read, write, low_level.create_initialization_options())

    app = mcp.streamable_http_app()
    app.router.routes.append(WebSocketRoute("/ws", WebSocketEndpoint()))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m mcp_server._bare_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed at start)")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    sock = listening_socket(args.host, args.port)
    port = sock.getsockname()[1]
    # The same uvicorn settings as `afbench serve --transport http`, so only the MCP layer differs.
    config = uvicorn_config(build_app(args.host), args.log_level)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"bare MCP server: http://{host}:{port}/mcp  ws://{host}:{port}/ws", file=sys.stderr, flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
