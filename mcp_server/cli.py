"""``afbench`` command line: serve the MCP server, manage API keys, read usage."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp_server.config import ServerConfig, default_sessions_db
from mcp_server.gate import Caller, GateSettings, is_loopback
from mcp_server.loadtest import add_arguments as add_loadtest_arguments
from mcp_server.store import KeyStore, Limits

log = logging.getLogger("afbench")


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _tool_limit(text: str) -> tuple[str, int]:
    tool, sep, number = text.partition("=")
    if not sep or not tool:
        raise argparse.ArgumentTypeError(f"expected TOOL=N, got {text!r}")
    return tool, _positive(number)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=None, help="sessions database (default: $AFBENCH_DB or ~/.cache/afbench)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="afbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed at start)")
    _add_db(serve)
    serve.add_argument("--sql-database", type=Path, default=None, help="SQLite file for the SQL tools")
    serve.add_argument("--weather-provider", default=None, help="offline (default) or open-meteo")
    serve.add_argument("--search-provider", default=None, help="offline (default) or searxng")
    serve.add_argument("--no-auth", action="store_true", help="http only, loopback only: no API key needed")
    serve.add_argument("--allowed-host", action="append", default=[], help="extra Host header value to accept")
    serve.add_argument("--allowed-origin", action="append", default=[], help="extra Origin to accept")
    serve.add_argument("--log-level", default="warning")

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key; prints the raw key alone on the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--per-minute", type=_positive)
    create.add_argument("--per-day", type=_positive)
    create.add_argument("--tool-limit", type=_tool_limit, action="append", default=[], metavar="TOOL=N")
    _add_db(create)
    listing = keys.add_parser("list", help="list keys and their limits")
    listing.add_argument("--json", action="store_true")
    _add_db(listing)
    revoke = keys.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("name")
    _add_db(revoke)
    set_limit = keys.add_parser("set-limit", help="change a key's limits (0 removes a limit)")
    set_limit.add_argument("name")
    set_limit.add_argument("--per-minute", type=int)
    set_limit.add_argument("--per-day", type=int)
    set_limit.add_argument("--tool-limit", action="append", default=[], metavar="TOOL=N")
    _add_db(set_limit)

    usage = sub.add_parser("usage", help="tool calls per key and tool, or one trial's calls in order")
    usage.add_argument("--key")
    usage.add_argument("--trial")
    usage.add_argument("--json", action="store_true")
    _add_db(usage)

    add_loadtest_arguments(
        sub.add_parser("loadtest", help="calls/s and p50/p99 latency against a bare mcp SDK server (HTTP, WebSocket)")
    )
    return parser


async def _with_store(args: argparse.Namespace) -> KeyStore:
    return await KeyStore.open(args.db or default_sessions_db())


async def _keys(args: argparse.Namespace) -> int:
    store = await _with_store(args)
    try:
        if args.keys_command == "create":
            limits = Limits(args.per_minute, args.per_day, dict(args.tool_limit))
            try:
                key, raw = await store.create_key(args.name, limits)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"created key '{key.name}' (store it now: it is not shown again)")
            print(raw)
        elif args.keys_command == "list":
            keys = [k.as_dict() for k in await store.list_keys()]
            if args.json:
                print(json.dumps(keys, indent=2))
            else:
                for k in keys:
                    state = f"revoked {k['revoked']}" if k["revoked"] else "active"
                    print(
                        f"{k['name']:<24} {k['key_hint']:<12} {state:<28} per_minute={k['per_minute']}"
                        f" per_day={k['per_day']} tools={k['tool_limits']}"
                    )
        elif args.keys_command == "revoke":
            if not await store.revoke(args.name):
                print(f"error: no active key named '{args.name}'", file=sys.stderr)
                return 2
            print(f"revoked '{args.name}'")
        elif args.keys_command == "set-limit":
            changes: dict[str, Any] = {}
            if args.per_minute is not None:
                changes["per_minute"] = args.per_minute or None
            if args.per_day is not None:
                changes["per_day"] = args.per_day or None
            tools: dict[str, int | None] = {}
            for item in args.tool_limit:
                tool, _, number = item.partition("=")
                tools[tool] = int(number) or None
            try:
                key = await store.set_limits(args.name, tool_limits=tools, **changes)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(json.dumps(key.as_dict(), indent=2))
        return 0
    finally:
        await store.close()


async def _usage(args: argparse.Namespace) -> int:
    store = await _with_store(args)
    try:
        if args.trial or args.json:
            rows = await store.usage(key_name=args.key, trial_id=args.trial)
            if args.json:
                print(json.dumps(rows, indent=2, ensure_ascii=False))
            else:
                for r in rows:
                    print(f"{r['time']} {r['key']:<16} {r['tool']:<12} {r['outcome']:<6} {r['arguments']}")
        else:
            for r in await store.usage_summary():
                if args.key and r["key"] != args.key:
                    continue
                print(
                    f"{r['key']:<24} {r['tool']:<12} calls={r['calls']} errors={r['errors']}"
                    f" refused={r['refused']} mean_ms={r['mean_latency_ms']}"
                )
        return 0
    finally:
        await store.close()


async def _serve(args: argparse.Namespace) -> int:
    from mcp_server.runtime import Runtime

    config = ServerConfig(
        db_path=args.db or default_sessions_db(),
        sql_database=args.sql_database,
        weather_provider=args.weather_provider,
        search_provider=args.search_provider,
    )
    if args.transport == "stdio":
        return await _serve_stdio(config)
    if args.no_auth and not is_loopback(args.host):
        print("error: --no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost)", file=sys.stderr)
        return 2
    runtime = await Runtime.start(config)
    try:
        return await _serve_http(runtime, args)
    finally:
        await runtime.close()


async def _serve_stdio(config: ServerConfig) -> int:
    from mcp_server.runtime import Runtime
    from mcp_server.sdk import environment_key, run_stdio

    runtime = await Runtime.start(config)
    try:
        raw = environment_key()
        key = await runtime.store.authenticate(raw) if raw else await runtime.store.owner_key()
        if key is None:
            print("error: AFBENCH_API_KEY is unknown or revoked", file=sys.stderr)
            return 2
        import os

        await run_stdio(runtime.server, Caller(key, "stdio", os.environ.get("AFBENCH_TRIAL_ID")))
        return 0
    finally:
        await runtime.close()


async def _serve_http(runtime: Any, args: argparse.Namespace) -> int:
    import uvicorn

    from mcp_server.http_app import build_http_app, listening_socket, uvicorn_config

    sock = listening_socket(args.host, args.port)
    port = sock.getsockname()[1]
    settings = GateSettings.for_bind(args.host, port, args.allowed_host, args.allowed_origin)
    if args.no_auth:
        settings = GateSettings(settings.allowed_hosts, settings.allowed_origins, require_key=False)
        log.warning("AUTHENTICATION IS OFF (--no-auth): every local client acts as '%s'", "local-owner")
        print("WARNING: authentication is off (--no-auth); loopback only, for local development", file=sys.stderr)
    app = build_http_app(runtime, settings)
    config = uvicorn_config(app, args.log_level)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"afbench MCP server: http://{host}:{port}/mcp  ws://{host}:{port}/ws", file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])
    return 0


async def _loadtest(args: argparse.Namespace) -> int:
    from mcp_server.loadtest import command

    return await command(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "warning").upper(), stream=sys.stderr)
    handlers = {"serve": _serve, "keys": _keys, "usage": _usage, "loadtest": _loadtest}
    try:
        return asyncio.run(handlers[args.command](args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
