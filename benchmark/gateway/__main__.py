"""``python -m benchmark.gateway``: run the model gateway as its own process.

Scripted (offline)::

    python -m benchmark.gateway --port 0
    # then PUT /admin/trials/<id> with a task as JSON, and point frameworks at /t/<id>/v1

Upstream (any OpenAI-compatible server; the key is read from an environment variable, never the command
line)::

    OPENAI_API_KEY=... python -m benchmark.gateway --upstream https://api.openai.com/v1 --model gpt-4o-mini

The first line printed is ``afbench gateway listening on http://HOST:PORT`` (with the real port).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

from benchmark.gateway.backend import Backend
from benchmark.gateway.gateway import Gateway
from benchmark.gateway.scripted_backend import ScriptedBackend
from benchmark.gateway.server import GatewayServer
from benchmark.gateway.upstream import UpstreamBackend


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.gateway", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8780, help="0 picks a free port (printed at start)")
    parser.add_argument("--upstream", metavar="BASE_URL", help="OpenAI-compatible base URL; default: scripted")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", help="variable holding the upstream's key")
    parser.add_argument("--model", action="append", default=[], help="model name(s) listed at /v1/models")
    parser.add_argument("--override-model", help="upstream: send this model name whatever the client asks")
    parser.add_argument("--record", type=Path, help="append every call record to this JSONL file")
    parser.add_argument("--access-key-env", help="variable holding a key clients must present (Bearer)")
    parser.add_argument("--log-level", default="warning")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    backend: Backend
    if args.upstream:
        backend = UpstreamBackend(args.upstream, os.environ.get(args.api_key_env, ""), model=args.override_model)
    else:
        backend = ScriptedBackend()
    access_key = os.environ.get(args.access_key_env) if args.access_key_env else None
    if args.access_key_env and not access_key:
        print(f"error: --access-key-env {args.access_key_env} is not set", file=sys.stderr)
        return 2
    gateway = Gateway(backend, models=args.model, record_path=args.record, access_key=access_key)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with GatewayServer(gateway, args.host, args.port, args.log_level) as server:
        print(f"afbench gateway listening on {server.base_url} ({backend.kind})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
