"""Serving the gateway on a real socket from a background thread with its own event loop.

The harness process keeps its own loop for the frameworks; the gateway's uvicorn server runs in a daemon
thread beside it, on a socket bound before the thread starts (port 0 gives a free port with no race).
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from benchmark.contract import ModelEndpoint
from benchmark.gateway.gateway import Gateway

PLACEHOLDER_KEY = "afbench-gateway"  # clients insist on some key; the gateway ignores it unless it has one


class GatewayServer:
    """``with GatewayServer(gateway) as server:`` serves ``gateway.app`` at ``server.base_url``."""

    def __init__(self, gateway: Gateway, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.gateway = gateway
        self.host = host
        self.port = port
        self.log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port``; the OpenAI base URLs are this plus ``/v1`` or ``/t/<trial>/v1``."""
        if self._server is None:
            raise RuntimeError("the gateway server is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def trial_base_url(self, trial_id: str) -> str:
        return f"{self.base_url}/t/{trial_id}/v1"

    def model_endpoint(self, trial_id: str, model: str | None = None) -> ModelEndpoint:
        """What a framework build is given: the trial's base URL, a model name and a key."""
        return ModelEndpoint(
            base_url=self.trial_base_url(trial_id),
            model=model or self.gateway.models[0],
            api_key=self.gateway.access_key or PLACEHOLDER_KEY,
        )

    def start(self, timeout_s: float = 15.0) -> GatewayServer:
        if self._server is not None:
            raise RuntimeError("the gateway server is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(self.gateway.app, log_level=self.log_level, lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="afbench-gateway", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                self.stop()
                sock.close()
                raise RuntimeError(f"the gateway server did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=timeout_s)
        self._server = self._thread = None

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
