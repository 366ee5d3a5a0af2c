"""The gateway: trials, records and the HTTP app that puts a backend behind OpenAI's chat-completions API.

Routes (each also under ``/t/<trial-id>`` so every call is attributed to its trial whatever the framework):

- ``POST /v1/chat/completions`` (streaming or not), ``GET /v1/models``;
- ``PUT /admin/trials/<id>`` (body: a task as JSON) registers a trial, ``DELETE`` forgets it, and
  ``GET /admin/trials/<id>/calls`` returns its records — for a gateway run as its own process; in-process
  callers use :meth:`Gateway.register_trial` and :meth:`Gateway.calls`;
- ``GET /healthz``.

A trial-prefixed call for a trial nobody registered gets a 404, so a mistyped trial id cannot pass unnoticed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from benchmark.gateway.backend import Backend, Call, JsonReply
from benchmark.gateway.chat_request import ChatRequest, parse_chat_request
from benchmark.gateway.errors import GatewayError, error_body, invalid
from benchmark.gateway.records import CallLog, CallRecord, Recorder
from benchmark.gateway.scripted_backend import SCRIPTED_MODEL
from benchmark.tasks.models import Task

log = logging.getLogger("afbench.gateway")

MAX_BODY_BYTES = 16 * 1024 * 1024
CLIENT_CLOSED = 499  # recorded (never sent) when a framework abandons a stream midway
TRIAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")


class Gateway:
    """An OpenAI-compatible front for one backend, recording every call per trial. Thread-safe."""

    def __init__(
        self,
        backend: Backend,
        *,
        models: Sequence[str] = (),
        record_path: Path | None = None,
        access_key: str | None = None,
    ) -> None:
        self.backend = backend
        self.models = list(models) or [SCRIPTED_MODEL if backend.kind == "scripted" else "default"]
        self.access_key = access_key
        self.log = CallLog(record_path)
        self._trials: dict[str, Task] = {}
        self._lock = threading.Lock()
        self.app = self._build_app()

    # -- trials and records -------------------------------------------------------------------------------

    def register_trial(self, trial_id: str, task: Task) -> None:
        """Make ``/t/<trial_id>/v1`` answer, for ``task`` (the scripted backend follows its turns)."""
        if not TRIAL_ID.match(trial_id):
            raise ValueError(f"trial id {trial_id!r} must match {TRIAL_ID.pattern} (it goes into URLs)")
        with self._lock:
            self._trials[trial_id] = task

    def forget_trial(self, trial_id: str) -> None:
        """Unregister the trial and drop its records (read them first)."""
        with self._lock:
            self._trials.pop(trial_id, None)
        self.log.forget(trial_id)

    def task_of(self, trial_id: str) -> Task | None:
        with self._lock:
            return self._trials.get(trial_id)

    def calls(self, trial_id: str | None) -> list[CallRecord]:
        """The records of ``trial_id``'s calls in arrival order (None: calls on the plain /v1 routes)."""
        return self.log.calls(trial_id)

    def pending(self, trial_id: str | None) -> int:
        """How many of the trial's calls have arrived but are not recorded yet (a stream still flowing)."""
        return self.log.pending(trial_id)

    def wait_sealed(self, trial_id: str | None, timeout_s: float) -> bool:
        """Block (a thread, not the gateway's loop) until every call of the trial is recorded; False on timeout."""
        return self.log.wait_sealed(trial_id, timeout_s)

    # -- HTTP -----------------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.backend.aclose()

        async def not_found(request: Request, exc: Exception) -> Response:
            path = request.url.path
            return JSONResponse(
                error_body(f"no route {request.method} {path}; the API is at /v1 or /t/<trial-id>/v1", "not_found"),
                status_code=404,
            )

        async def wrong_method(request: Request, exc: Exception) -> Response:
            return JSONResponse(
                error_body(f"method {request.method} not allowed on {request.url.path}", "invalid_request_error"),
                status_code=405,
            )

        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/t/{trial_id}/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/t/{trial_id}/v1/models", self._models, methods=["GET"]),
            Route("/admin/trials/{trial_id}", self._admin_trial, methods=["PUT", "DELETE"]),
            Route("/admin/trials/{trial_id}/calls", self._admin_calls, methods=["GET"]),
            Route("/healthz", self._health, methods=["GET"]),
        ]
        return Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found, 405: wrong_method})

    def _check_key(self, request: Request) -> None:
        if self.access_key is None:
            return
        header = request.headers.get("authorization", "")
        if header != f"Bearer {self.access_key}":
            raise GatewayError(401, "invalid or missing API key for this gateway", code="invalid_api_key")

    def _trial(self, request: Request) -> tuple[str | None, Task | None]:
        trial_id = request.path_params.get("trial_id")
        if trial_id is None:
            return None, None
        task = self.task_of(trial_id)
        if task is None:
            raise GatewayError(
                404, f"trial {trial_id!r} is not registered with this gateway", type_="not_found", code="unknown_trial"
            )
        return trial_id, task

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise GatewayError(413, f"request body exceeds {MAX_BODY_BYTES} bytes", code="request_too_large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise GatewayError(413, f"request body exceeds {MAX_BODY_BYTES} bytes", code="request_too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _chat(self, request: Request) -> Response:
        trial_id = request.path_params.get("trial_id")
        record = self.log.begin(trial_id, self.backend.kind)
        try:
            self._check_key(request)
            trial_id, task = self._trial(request)
            chat = parse_chat_request(await self._body(request))
            _describe(record, chat)
            reply = await self.backend.respond(Call(chat, trial_id, task, record))
        except GatewayError as exc:
            record.fail(exc.status, exc.message)
            self.log.finish(record)
            return JSONResponse(exc.body(), status_code=exc.status)
        except Exception:
            log.exception("gateway backend %s failed", self.backend.kind)
            message = f"the gateway's {self.backend.kind} backend failed unexpectedly; the failure was logged"
            record.fail(500, message)
            self.log.finish(record)
            return JSONResponse(error_body(message, "server_error"), status_code=500)
        if isinstance(reply, JsonReply):
            if reply.status >= 400 and record.error is None:
                record.fail(reply.status, json.dumps(reply.body)[:300])
            record.status = reply.status
            self.log.finish(record)
            return JSONResponse(reply.body, status_code=reply.status)

        async def relay() -> AsyncIterator[bytes]:
            chunks = reply.chunks
            ended = False
            try:
                async for chunk in chunks:
                    yield chunk
                ended = True
            finally:
                await _close(chunks)
                if not ended and record.error is None:
                    record.fail(CLIENT_CLOSED, "the client closed the stream before it ended")
                self.log.finish(record)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(relay(), media_type="text/event-stream", headers=headers)

    async def _models(self, request: Request) -> Response:
        try:
            self._check_key(request)
            self._trial(request)
        except GatewayError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "afbench"} for name in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _admin_trial(self, request: Request) -> Response:
        trial_id = request.path_params["trial_id"]
        try:
            self._check_key(request)
            if request.method == "DELETE":
                self.forget_trial(trial_id)
                return Response(status_code=204)
            raw = await self._body(request)
            try:
                task = Task.model_validate_json(raw)
            except ValidationError as exc:
                raise invalid(f"body is not a valid task: {exc.errors(include_url=False)[:3]}", "task") from None
            try:
                self.register_trial(trial_id, task)
            except ValueError as exc:
                raise invalid(str(exc), "trial_id") from None
        except GatewayError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return Response(status_code=204)

    async def _admin_calls(self, request: Request) -> Response:
        try:
            self._check_key(request)
        except GatewayError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        records = self.calls(request.path_params["trial_id"])
        return JSONResponse({"calls": [r.model_dump(mode="json") for r in records]})

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "backend": self.backend.kind, "models": self.models})


def _describe(record: Recorder, chat: ChatRequest) -> None:
    record.model = chat.model
    record.stream = chat.stream
    record.message_count = len(chat.messages)
    record.tools_offered = chat.tool_names
    record.tool_choice = chat.tool_choice
    record.response_format = chat.response_format


async def _close(chunks: Any) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()
