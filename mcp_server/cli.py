"""``afbench`` command line: serve the MCP server, manage API keys, read usage.

Every mistake an operator can make here (a port in use, a database that is not one, a tool that does not
exist) gets one line saying what is wrong and what to do, and exit status 2: never a Python traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mcp_server import log_redaction
from mcp_server.config import ServerConfig, default_sessions_db
from mcp_server.faults import FaultPlanError, ToolFault, load_plan
from mcp_server.gate import Caller, GateSettings, is_loopback
from mcp_server.loadtest import add_arguments as add_loadtest_arguments
from mcp_server.store import OWNER_NAME, ApiKey, KeyNameError, KeyStore, Limits, StoreError

log = logging.getLogger("afbench")

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
# Options that only mean something for --transport http: given without --transport, they imply it.
HTTP_ONLY = ("host", "port", "no_auth", "allowed_host", "allowed_origin")


TOOLS_HELP = (
    "the tools the key may call, e.g. calculator,run_python; 'all', or 'default' (every tool but run_python, "
    "the default)"
)


class UsageError(Exception):
    """A mistake in the command line; printed as one line, exit status 2."""


def bounded_int(low: int, high: int | None = None, *, what: str = "a whole number") -> Callable[[str], int]:
    """An argparse type: a whole number in ``[low, high]``, with a message that says which."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value

    return parse


_positive = bounded_int(1, what="a positive whole number")
_limit_change = bounded_int(0, what="a whole number (0 removes the limit)")
_port = bounded_int(0, 65535, what="a port number (0 picks a free one)")


def _tool_limit(parse_number: Callable[[str], int]) -> Callable[[str], tuple[str, int]]:
    def parse(text: str) -> tuple[str, int]:
        tool, sep, number = text.partition("=")
        if not sep or not tool.strip():
            raise argparse.ArgumentTypeError(f"expected TOOL=N, got {text!r}")
        return tool.strip(), parse_number(number)

    return parse


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=None, help="sessions database (default: $AFBENCH_DB or ~/.cache/afbench)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="afbench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server")
    serve.add_argument(
        "--transport", choices=["stdio", "http"], default=None, help="stdio (default), or http (also WebSocket)"
    )
    serve.add_argument("--host", default=None, help=f"http: address to bind (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=_port, default=None, help=f"http: port (default {DEFAULT_PORT}; 0 picks one)")
    _add_db(serve)
    serve.add_argument("--sql-database", type=Path, default=None, help="SQLite file for the SQL tools")
    serve.add_argument("--weather-provider", default=None, help="offline (default) or open-meteo")
    serve.add_argument("--search-provider", default=None, help="offline (default) or searxng")
    serve.add_argument("--no-auth", action="store_true", help="http only, loopback only: no API key needed")
    serve.add_argument("--allowed-host", action="append", default=[], help="extra Host header value to accept")
    serve.add_argument("--allowed-origin", action="append", default=[], help="extra Origin to accept")
    serve.add_argument(
        "--warm-up",
        action="store_true",
        help="before listening, call each tool once so the first real call pays no start-up cost",
    )
    serve.add_argument(
        "--fault-plan",
        type=Path,
        default=None,
        metavar="FILE",
        help='JSON {"<trial id>": {"kind": ..., "tool": ..., "nth": ..., "times": ...}}: inject faults into '
        "those trials' tool calls (for resilience benchmarks; see mcp_server/faults.py)",
    )
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error", "critical"],
        help="what the server logs to stderr (default: %(default)s)",
    )

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key; prints the raw key alone on the last line")
    create.add_argument("--name", required=True, help="the key's name: how usage, limits and logs refer to it")
    create.add_argument("--per-minute", type=_positive, help="calls per minute, across tools (default: no limit)")
    create.add_argument("--per-day", type=_positive, help="calls per UTC day, across tools (default: no limit)")
    create.add_argument(
        "--tool-limit",
        type=_tool_limit(_positive),
        action="append",
        default=[],
        metavar="TOOL=N",
        help="calls per day of one tool; repeat for more tools (default: none)",
    )
    create.add_argument("--tools", metavar="TOOL,TOOL", help=TOOLS_HELP)
    _add_db(create)
    listing = keys.add_parser("list", help="list keys and their limits")
    listing.add_argument("--json", action="store_true", help="print the keys as JSON (default: a table)")
    _add_db(listing)
    revoke = keys.add_parser("revoke", help="revoke a key at once (open sessions too)")
    revoke.add_argument("name", help="the key's name (afbench keys list)")
    _add_db(revoke)
    set_limit = keys.add_parser("set-limit", help="change a key's limits (0 removes a limit)")
    set_limit.add_argument("name", help="the key's name (afbench keys list)")
    set_limit.add_argument("--per-minute", type=_limit_change, help="new calls per minute (default: unchanged)")
    set_limit.add_argument("--per-day", type=_limit_change, help="new calls per UTC day (default: unchanged)")
    set_limit.add_argument(
        "--tool-limit",
        type=_tool_limit(_limit_change),
        action="append",
        default=[],
        metavar="TOOL=N",
        help="new calls per day of one tool; repeat for more tools (default: unchanged)",
    )
    set_limit.add_argument("--tools", metavar="TOOL,TOOL", help="replace the key's tool scope: " + TOOLS_HELP)
    set_limit.add_argument("--json", action="store_true", help="print the key as JSON")
    _add_db(set_limit)

    usage = sub.add_parser("usage", help="tool calls per key and tool, or one trial's calls in order")
    usage.add_argument("--key", help="only this key's calls (default: every key)")
    usage.add_argument("--trial", help="one trial's calls, in the order they were made (default: totals per tool)")
    usage.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    _add_db(usage)

    add_loadtest_arguments(
        sub.add_parser("loadtest", help="calls/s and p50/p99 latency against a bare mcp SDK server (HTTP, WebSocket)")
    )
    return parser


def _check_tools(names: Sequence[str]) -> None:
    if not names:
        return
    from mcp_server.catalog import TOOL_NAMES

    unknown = [n for n in names if n not in TOOL_NAMES]
    if unknown:
        raise UsageError(f"unknown tool {', '.join(map(repr, unknown))}; the tools are: {', '.join(TOOL_NAMES)}")


async def _with_store(args: argparse.Namespace) -> KeyStore:
    return await KeyStore.open(args.db or default_sessions_db())


def _scope(args: argparse.Namespace) -> tuple[str, ...] | None:
    from mcp_server import scopes

    try:
        return scopes.parse(args.tools)
    except scopes.ScopeError as exc:
        raise UsageError(str(exc)) from None


def _tools_text(key: dict[str, Any]) -> str:
    from mcp_server import scopes

    return scopes.describe(key["tools"])


def _shown(key: ApiKey) -> dict[str, Any]:
    """A key as ``--json`` prints it: ``tools`` as stored (null: the default scope), ``allowed`` what that means."""
    from mcp_server import scopes

    return key.as_dict() | {"allowed": sorted(scopes.allowed(key.tools))}


def _limits_text(key: dict[str, Any]) -> str:
    parts = [f"{key['per_minute']}/min" if key["per_minute"] else "", f"{key['per_day']}/day" if key["per_day"] else ""]
    parts += [f"{tool} {n}/day" for tool, n in key["tool_limits"].items()]
    return ", ".join(p for p in parts if p) or "unlimited"


def _print_key(key: ApiKey) -> None:
    shown = key.as_dict()
    print(f"key '{shown['name']}' ({shown['key_hint']}): {_limits_text(shown)}; tools: {_tools_text(shown)}")


async def _keys(args: argparse.Namespace) -> int:
    _check_tools([tool for tool, _ in args.tool_limit] if args.keys_command in ("create", "set-limit") else [])
    if getattr(args, "tools", None) is not None:
        args.tools = _scope(args)
    else:
        args.tools = ...  # not given: create makes the default scope, set-limit leaves the scope as it is
    store = await _with_store(args)
    try:
        return await _keys_command(store, args)
    finally:
        await store.close()


async def _keys_command(store: KeyStore, args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        limits = Limits(args.per_minute, args.per_day, dict(args.tool_limit))
        key, raw = await store.create_key(args.name, limits, None if args.tools is ... else args.tools)
        shown = key.as_dict()
        print(
            f"created key '{key.name}', {_limits_text(shown)}, tools: {_tools_text(shown)} "
            "(store it now: it is not shown again)"
        )
        print(raw)
    elif args.keys_command == "list":
        keys = [_shown(k) for k in await store.list_keys()]
        if args.json:
            print(json.dumps(keys, indent=2, ensure_ascii=False))
        elif not keys:
            print("no keys yet: create one with 'afbench keys create --name NAME'")
        else:
            _print_table(
                ["name", "key", "state", "limits", "tools"],
                [
                    [
                        k["name"],
                        k["key_hint"],
                        f"revoked {k['revoked']}" if k["revoked"] else "active",
                        _limits_text(k),
                        _tools_text(k),
                    ]
                    for k in keys
                ],
            )
    elif args.keys_command == "revoke":
        if not await store.revoke(args.name):
            raise UsageError(f"no active key named '{args.name}'")
        print(f"revoked '{args.name}': every open session using it is refused from its next request")
    elif args.keys_command == "set-limit":
        changes: dict[str, Any] = {}
        if args.per_minute is not None:
            changes["per_minute"] = args.per_minute or None
        if args.per_day is not None:
            changes["per_day"] = args.per_day or None
        tools: dict[str, int | None] = {tool: n or None for tool, n in args.tool_limit}
        if not changes and not tools and args.tools is ...:
            raise UsageError("nothing to change: give --per-minute, --per-day, --tool-limit TOOL=N or --tools")
        if args.name == OWNER_NAME:
            await store.owner_key()  # made by the first stdio session; an operator may set it up before that
        key = await store.set_limits(args.name, tool_limits=tools, **changes)
        if args.tools is not ...:
            key = await store.set_tools(args.name, args.tools)
        if args.json:
            print(json.dumps(_shown(key), indent=2, ensure_ascii=False))
        else:
            _print_key(key)
    return 0


def _print_table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[[("" if c is None else str(c)) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


async def _usage(args: argparse.Namespace) -> int:
    store = await _with_store(args)
    try:
        if args.trial or args.json:
            rows = await store.usage(key_name=args.key, trial_id=args.trial)
            if args.json:
                print(json.dumps(rows, indent=2, ensure_ascii=False))
            elif not rows:
                print(f"no calls recorded for trial '{args.trial}'")
            else:
                _print_table(
                    ["time", "key", "tool", "outcome", "ms", "fault", "arguments"],
                    [
                        [
                            r["time"],
                            r["key"],
                            r["tool"],
                            r["outcome"],
                            r["latency_ms"],
                            r["fault"] or "",
                            json.dumps(r["arguments"])[:80],
                        ]
                        for r in rows
                    ],
                )
            return 0
        summary = [r for r in await store.usage_summary() if not args.key or r["key"] == args.key]
        if not summary:
            print("no calls recorded" + (f" for key '{args.key}'" if args.key else ""))
            return 0
        _print_table(
            ["key", "tool", "calls", "errors", "interrupted", "cancelled", "running", "refused", "mean ms"],
            [
                [
                    r["key"],
                    r["tool"],
                    r["calls"],
                    r["errors"],
                    r["interrupted"],
                    r["cancelled"],
                    r["running"],
                    r["refused"],
                    r["mean_latency_ms"],
                ]
                for r in summary
            ],
        )
        return 0
    finally:
        await store.close()


def _given(value: Any) -> bool:
    # By identity: --port 0 is given, and 0 == False.
    return value is not None and value is not False and value != []


def _serve_settings(args: argparse.Namespace) -> None:
    """Resolve --transport from the options given: an HTTP-only option without it means HTTP."""
    given = [name for name in HTTP_ONLY if _given(getattr(args, name))]
    if args.transport is None:
        args.transport = "http" if given else "stdio"
    elif args.transport == "stdio" and given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(f"{flags} only apply to --transport http; stdio listens on no port")
    args.host = args.host or DEFAULT_HOST
    args.port = DEFAULT_PORT if args.port is None else args.port


async def _serve(args: argparse.Namespace) -> int:
    from mcp_server.runtime import Runtime

    _serve_settings(args)
    if args.sql_database is not None:
        args.sql_database = _sql_database(args.sql_database)
    plan = _fault_plan(args.fault_plan, args.transport) if args.fault_plan is not None else {}
    config = ServerConfig(
        db_path=args.db or default_sessions_db(),
        sql_database=args.sql_database,
        weather_provider=args.weather_provider,
        search_provider=args.search_provider,
        fault_plan=plan,
    )
    if args.transport == "stdio":
        return await _serve_stdio(config, args.warm_up)
    if args.no_auth and not is_loopback(args.host):
        raise UsageError("--no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost)")
    from mcp_server.http_app import stop_signals

    with stop_signals() as stop:
        sock = _listen(args.host, args.port)
        runtime = await Runtime.start(config)
        try:
            if args.warm_up:
                await _warm_up(runtime)
            await _serve_http(runtime, sock, args, stop)
        finally:
            await runtime.close()
    return 130 if stop.interrupted else 0


def _sql_database(path: Path) -> Path:
    from tools.errors import ToolError
    from tools.sql.database import check_database

    try:
        return check_database(path)
    except ToolError as exc:
        raise UsageError(f"--sql-database: {exc.message}") from None


def _fault_plan(path: Path, transport: str) -> dict[str, ToolFault]:
    from mcp_server.catalog import TOOL_NAMES

    try:
        plan = load_plan(path, frozenset(TOOL_NAMES))
    except FaultPlanError as exc:
        raise UsageError(f"--fault-plan {exc}") from None
    if transport == "stdio":
        expiring = [trial for trial, fault in plan.items() if fault.kind == "session_expired"]
        if expiring:
            raise UsageError(
                f"--fault-plan {path}: session_expired (trial {expiring[0]}) needs --transport http: "
                "a stdio server has one session and cannot lose it"
            )
    print(f"fault plan {path}: faults will be injected into {len(plan)} trial(s)", file=sys.stderr, flush=True)
    return plan


def _listen(host: str, port: int) -> socket.socket:
    from mcp_server.http_app import listening_socket

    where = f"{host}:{port}"
    try:
        return listening_socket(host, port)
    except socket.gaierror:
        raise UsageError(f"cannot listen on {where}: {host!r} is not a known host name or address") from None
    except OSError as exc:
        reasons = {
            errno.EADDRINUSE: "the port is in use (another afbench serve?); pick another --port, or 0 for a free one",
            errno.EACCES: "permission denied (ports below 1024 need privileges); pick a port above 1024",
            errno.EADDRNOTAVAIL: "this machine has no such address; bind 127.0.0.1, or one of its own addresses",
        }
        raise UsageError(f"cannot listen on {where}: {reasons.get(exc.errno or 0, exc.strerror or str(exc))}") from None


async def _warm_up(runtime: Any) -> None:
    took = await runtime.warm_up()
    spent = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in took.items())
    print(f"warmed up in {sum(took.values()):.1f} s: {spent}", file=sys.stderr, flush=True)


async def _serve_stdio(config: ServerConfig, warm_up: bool) -> int:
    from mcp_server.runtime import Runtime
    from mcp_server.sdk import environment_key
    from mcp_server.streams import serve_stdio

    runtime = await Runtime.start(config)
    try:
        if warm_up:
            await _warm_up(runtime)
        raw = environment_key()
        key = await runtime.store.authenticate(raw) if raw else await runtime.store.owner_key()
        if key is None:
            raise UsageError("AFBENCH_API_KEY is unknown or revoked")
        await serve_stdio(runtime.server, runtime.store, Caller(key, "stdio", os.environ.get("AFBENCH_TRIAL_ID")))
        return 0
    finally:
        await runtime.close()


async def _serve_http(runtime: Any, sock: socket.socket, args: argparse.Namespace, stop: Any) -> None:
    from mcp_server.http_app import QuietServer, build_http_app, uvicorn_config

    port = sock.getsockname()[1]
    settings = GateSettings.for_bind(args.host, port, args.allowed_host, args.allowed_origin)
    if args.no_auth:
        settings = GateSettings(settings.allowed_hosts, settings.allowed_origins, require_key=False)
        log.warning("AUTHENTICATION IS OFF (--no-auth): every local client acts as '%s'", OWNER_NAME)
        print("WARNING: authentication is off (--no-auth); loopback only, for local development", file=sys.stderr)
    server = QuietServer(uvicorn_config(build_http_app(runtime, settings), args.log_level), stop)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"afbench MCP server: http://{host}:{port}/mcp  ws://{host}:{port}/ws", file=sys.stderr, flush=True)
    await server.serve(sockets=[sock])


async def _loadtest(args: argparse.Namespace) -> int:
    from mcp_server.loadtest import command

    return await command(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "warning").upper(), stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        log_redaction.install(handler)
    handlers = {"serve": _serve, "keys": _keys, "usage": _usage, "loadtest": _loadtest}
    try:
        return asyncio.run(handlers[args.command](args))
    except (UsageError, StoreError, KeyNameError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
