"""The viewer's web app and its server: ``afbench view RUN [RUN…]`` serves the pages on loopback (a free port
with ``--port 0``) and prints the address; Ctrl-C stops it."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from benchmark.view import pages
from benchmark.view.runs import Runs

DEFAULT_PORT = 7575


def _choice(request: Request, name: str, allowed: list[str], default: str = "all") -> str:
    value = request.query_params.get(name, default)
    return value if value in allowed else default


def build_app(runs: Runs) -> Starlette:
    async def index(request: Request) -> Response:
        return HTMLResponse(pages.runs_page(runs.all()))

    async def run(request: Request) -> Response:
        found = runs.get(request.path_params["key"])
        if found is None:
            return HTMLResponse(pages.not_found(f"no run {request.path_params['key']!r}"), status_code=404)
        categories = sorted({t.category for t in found.trials.values()})
        return HTMLResponse(
            pages.run_page(
                found,
                framework=_choice(request, "framework", ["all", *found.frameworks]),
                category=_choice(request, "category", ["all", *categories]),
                outcome=_choice(request, "outcome", list(pages.OUTCOMES)),
                sort=_choice(request, "sort", list(pages.SORTS), "task"),
                builds=[f"{r.key}/{f}" for r in runs.all() for f in r.frameworks],
            )
        )

    async def trial(request: Request) -> Response:
        found = runs.get(request.path_params["key"])
        record = found.trials.get(request.path_params["trial_id"]) if found is not None else None
        if found is None or record is None:
            return HTMLResponse(pages.not_found(f"no trial {request.path_params['trial_id']!r}"), status_code=404)
        return HTMLResponse(pages.trial_page(found, record))

    async def compare(request: Request) -> Response:
        task = request.query_params.get("task", "")
        sides = []
        for side in ("a", "b"):
            key, _, framework = request.query_params.get(side, "").partition("/")
            found = runs.get(key)
            if found is None or not framework:
                return HTMLResponse(pages.not_found(f"{side}={key}/{framework}: give RUN/FRAMEWORK"), status_code=404)
            chosen = sorted(
                (t for t in found.trials.values() if t.task_id == task and t.framework == framework),
                key=lambda t: t.repeat,
            )
            sides.append((found, chosen[0] if chosen else None, framework))
        return HTMLResponse(pages.compare_page(task, sides))

    async def missing(request: Request, exc: Exception) -> Response:
        return HTMLResponse(pages.not_found(f"no page {request.url.path}"), status_code=404)

    routes = [
        Route("/", index),
        Route("/runs/{key}", run),
        Route("/runs/{key}/trials/{trial_id:path}", trial),
        Route("/compare", compare),
    ]
    return Starlette(routes=routes, exception_handlers={404: missing})


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(paths: list[Path], host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Serve the runs until interrupted; the first line printed is the address."""
    if not _loopback(host):
        raise ValueError(f"afbench view serves on loopback only (127.0.0.1, ::1, localhost), not {host!r}")
    app = build_app(Runs(paths))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = int(sock.getsockname()[1])
    shown = f"[{host}]" if ":" in host else host
    print(f"afbench view: http://{shown}:{bound}/  ({len(paths)} run(s); Ctrl-C stops it)", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # pragma: no cover - uvicorn handles SIGINT itself
        print("stopped", file=sys.stderr)
