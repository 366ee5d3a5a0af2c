"""The gateway: trials, records and the HTTP app that puts a backend behind OpenAI's chat-completions API.

Routes (each also under ``/t/<trial-id>`` so every call is attributed to its trial whatever the framework):

- ``POST /v1/chat/completions`` (streaming or not), ``GET /v1/models``;
- ``PUT /admin/trials/<id>`` (body: a task as JSON) registers a trial, ``DELETE`` forgets it,
  ``POST /admin/trials/<id>/end`` ends it (see :meth:`Gateway.end_trial`) and returns its records, and
  ``GET /admin/trials/<id>/calls`` returns them — for a gateway run as its own process; in-process callers
  use :meth:`Gateway.register_trial`, :meth:`Gateway.end_trial` and :meth:`Gateway.calls`;
- ``GET /healthz``.

A trial-prefixed call for a trial nobody registered gets a 404, so a mistyped trial id cannot pass unnoticed.
Every record keeps the call's request and response bodies (``CallRecord.trace``, each cut at
``trace_cap_bytes``; a stream's reply as reassembled from the chunks the client was handed), which the runner
writes to each trial's trace.

A trial whose task carries a model fault (``task.fault.model``) has exactly one of its calls broken: the
``nth`` call of the fault's role, counted as :mod:`benchmark.gateway.fault_plan` says (a retry, an identical
body, is the same call's next attempt), and broken as :mod:`benchmark.gateway.faulty_replies` (a faulty reply)
or :mod:`benchmark.gateway.transport_faults` (a broken HTTP exchange, for ``times`` attempts) say. The call's
record names the fault; no other call, of that trial or any other, is touched.

A stream counts as answered once the client was handed the reply's last chunk (and the usage chunk when it
asked for one): a client that then stops reading before ``data: [DONE]`` (Semantic Kernel does) made a
complete call. One that stops earlier is recorded as 499, with what it had been sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from benchmark.gateway.backend import Backend, Call, JsonReply, StreamReply
from benchmark.gateway.chat_request import ChatRequest, parse_chat_request
from benchmark.gateway.completions import Delivery, Observed, Usage
from benchmark.gateway.errors import NO_RETRY, GatewayError, error_body, invalid
from benchmark.gateway.fault_plan import HTTP_ERROR_KINDS, FaultPlan, Injection
from benchmark.gateway.faulty_replies import FaultContext, NotApplicable, faulty, read_reply, serve
from benchmark.gateway.flights import CANCEL_WAIT_S, Flight, Flights, Queue, TrialEnded
from benchmark.gateway.records import CLIENT_CLOSED, TRACE_CAP_BYTES, CallLog, CallRecord, Recorder
from benchmark.gateway.scripted_backend import SCRIPTED_MODEL
from benchmark.gateway.tokens import completion_tokens, prompt_tokens
from benchmark.gateway.transport_faults import RESET_MESSAGE, http_error, no_answer, reset_connection, stalled
from benchmark.spec import SystemSpec
from benchmark.tasks.models import Task

log = logging.getLogger("afbench.gateway")

MAX_BODY_BYTES = 16 * 1024 * 1024
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
        spec: SystemSpec | None = None,
        trace_cap_bytes: int = TRACE_CAP_BYTES,
    ) -> None:
        self.backend = backend
        self.spec = spec  # the system the roles are recognised in (faults count a role's calls); None: default
        self.faults = FaultPlan(spec)
        self.models = list(models) or [SCRIPTED_MODEL if backend.kind == "scripted" else "default"]
        self.access_key = access_key
        self.log = CallLog(record_path, trace_cap_bytes)
        self._trials: dict[str, Task] = {}
        self._lock = threading.Lock()
        self._flights = Flights()  # touched on the serving loop only
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop serving calls, once one came
        self.app = self._build_app()

    # -- trials and records -------------------------------------------------------------------------------

    def register_trial(self, trial_id: str, task: Task) -> None:
        """Make ``/t/<trial_id>/v1`` answer, for ``task`` (the scripted backend follows its turns)."""
        if not TRIAL_ID.match(trial_id):
            raise ValueError(f"trial id {trial_id!r} must match {TRIAL_ID.pattern} (it goes into URLs)")
        with self._lock:
            self._trials[trial_id] = task
        self.faults.forget(trial_id)  # a trial registered again counts its calls afresh

    def forget_trial(self, trial_id: str) -> None:
        """Unregister the trial and drop its records (read them first)."""
        with self._lock:
            self._trials.pop(trial_id, None)
        self.faults.forget(trial_id)
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

    def end_trial(self, trial_id: str, grace_s: float = 0.0) -> list[CallRecord]:
        """End the trial at the gateway and return all its records; blocks (call it from any thread but the
        gateway's own loop).

        Calls still open after ``grace_s`` (for one just finishing) are cancelled: their upstream requests
        are closed, so the model server stops working for a trial that is over, and each is recorded as it
        stood, with ``cut_off="trial_end"`` and status 499: what had arrived, the latency so far.
        """
        # The waits happen in the caller's thread: the loop's own threads answer scripted calls meanwhile.
        if grace_s > 0:
            self.log.wait_sealed(trial_id, grace_s)
        loop = self._loop
        if self.log.pending(trial_id) and loop is not None and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self._flights.end(trial_id), loop).result(CANCEL_WAIT_S + 1)
            except (RuntimeError, TimeoutError):  # the loop stopped or is stuck: record the calls as they stand
                log.warning("could not cancel the open calls of trial %s", trial_id)
            else:
                self.log.wait_sealed(trial_id, CANCEL_WAIT_S)  # each cancelled call's handler records it
        self.log.cut_open(trial_id)  # what could not be reached in time
        return self.calls(trial_id)

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
            Route("/admin/trials/{trial_id}/end", self._admin_end, methods=["POST"]),
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
        self._loop = asyncio.get_running_loop()
        trial_id = request.path_params.get("trial_id")
        record = self.log.begin(trial_id, self.backend.kind)
        flight = self._flights.open(trial_id, record)
        try:
            self._check_key(request)
            trial_id, task = self._trial(request)
            chat = parse_chat_request(await self._body(request))
            record.request_body = chat.body
            _describe(record, chat)
            injection = self.faults.decide(trial_id, task, chat.body) if trial_id and task else None
            call = Call(chat, trial_id, task, record)
            if injection is not None:
                record.fault = injection.kind
                if injection.kind == "connection_reset":
                    return await self._reset(request, flight)
            reply = await flight.serve(self._answer(call, injection, request))
        except TrialEnded:
            record.trial_ended()
            message = "the trial ended while this call was open"
            record.response_body = error_body(message, "trial_ended")
            self._land(flight)
            return JSONResponse(record.response_body, status_code=CLIENT_CLOSED, headers=NO_RETRY)
        except GatewayError as exc:
            record.fail(exc.status, exc.message)
            record.response_body = exc.body()
            self._land(flight)
            return JSONResponse(record.response_body, status_code=exc.status)
        except Exception:
            log.exception("gateway backend %s failed", self.backend.kind)
            message = f"the gateway's {self.backend.kind} backend failed unexpectedly; the failure was logged"
            record.fail(500, message)
            record.response_body = error_body(message, "server_error")
            self._land(flight)
            return JSONResponse(record.response_body, status_code=500)
        if isinstance(reply, JsonReply):
            if reply.status >= 400 and record.error is None:
                record.fail(reply.status, json.dumps(reply.body)[:300])
            record.status = reply.status
            record.response_body = reply.body
            self._land(flight)
            return JSONResponse(reply.body, status_code=reply.status, headers=dict(reply.headers))
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(self._relay(flight, reply, chat), media_type="text/event-stream", headers=headers)

    async def _answer(self, call: Call, injection: Injection | None, request: Request) -> JsonReply | StreamReply:
        """The backend's answer, or the faulty one the trial's fault asks for at this call."""
        if injection is None:
            return await self.backend.respond(call)
        kind = injection.kind
        where = f"call {injection.call} of the {injection.role}, attempt {injection.attempt}"
        log.info("trial %s: injecting %s into %s", call.trial_id, kind, where)
        if kind in HTTP_ERROR_KINDS:
            return http_error(kind)
        if kind == "stalled_stream":
            if not call.request.stream:
                return await no_answer(request, call.record)
            return stalled(await self.backend.respond(call), call.record)
        assert call.task is not None  # a fault comes only from a registered trial's task
        answer = await self.backend.respond(call)
        original = await read_reply(answer)
        if original is None:  # the backend answered with an error: passed on, no fault in it
            call.record.fault = None
            return answer
        context = FaultContext(injection.fault, call.request, call.task, self.spec)
        try:
            # Working out the next scripted call (parallel_calls) is CPU work: off the loop serving other trials.
            broken = await asyncio.to_thread(faulty, original, context)
        except NotApplicable as exc:
            log.warning("trial %s: fault %s not injected into %s: %s", call.trial_id, kind, where, exc)
            call.record.fault = None
            broken = original
        record = call.record
        # The reply sent is the gateway's, so its tokens are counted; the prompt's stay as the backend had them.
        prompt = record.input_tokens or prompt_tokens(call.request.messages, call.request.tools)
        usage = Usage(prompt, completion_tokens(broken.content, broken.calls))
        record.set_reply(broken.content, broken.calls, broken.finish_reason)
        record.set_tokens(usage.prompt_tokens, usage.completion_tokens, "counted")
        return serve(broken, call.request, usage)

    async def _reset(self, request: Request, flight: Flight) -> Response:
        """Drop the call's connection unanswered (the connection_reset fault)."""
        await reset_connection(request)  # ResetUnavailable (a server that hides its connections): a logged 500
        flight.record.fail(CLIENT_CLOSED, RESET_MESSAGE)
        self._land(flight)
        return Response(status_code=CLIENT_CLOSED)  # goes nowhere: the connection is gone

    async def _relay(self, flight: Flight, chunks: Queue, chat: ChatRequest) -> AsyncIterator[bytes]:
        """Hand the stream's chunks to the client as they arrive, then record how the stream ended."""
        record, delivery, handed = flight.record, Delivery(chat.include_usage), Observed()
        record.response_streamed = True
        drained = False
        try:
            while (chunk := await chunks.get()) is not None:
                delivery.feed(chunk)  # before the yield: a client that leaves right after it still got it
                handed.feed_sse(chunk)
                yield chunk
            drained = True
            if flight.ended and not delivery.complete:
                message = "the trial ended while this call was open"
                yield f"\ndata: {json.dumps(error_body(message, 'trial_ended'))}\n\n".encode()
        finally:
            # Shielded: when the client leaves, this runs inside a cancelled scope, and the backend must still
            # close its upstream connection and record what it received.
            with anyio.CancelScope(shield=True):
                failure = await flight.stop()
            if failure is not None:
                log.error("gateway backend %s failed mid-stream", self.backend.kind, exc_info=failure)
                record.fail(500, f"the gateway's {self.backend.kind} backend failed mid-stream; the failure was logged")
            elif record.error is None and not delivery.complete and not (drained and flight.exhausted):
                if flight.ended:
                    record.trial_ended()
                else:
                    record.cut("client_closed", CLIENT_CLOSED, "the client closed the stream before its reply ended")
            record.response_body = handed.as_completion()  # what the client was handed, however it ended
            self._land(flight)

    def _land(self, flight: Flight) -> None:
        self._flights.close(flight)
        self.log.finish(flight.record)

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

    async def _admin_end(self, request: Request) -> Response:
        try:
            self._check_key(request)
        except GatewayError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        records = await asyncio.to_thread(self.end_trial, request.path_params["trial_id"])
        return JSONResponse({"calls": [r.model_dump(mode="json") for r in records]})

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
    record.temperature = chat.temperature
    record.max_tokens = chat.max_tokens
    record.max_completion_tokens = chat.max_completion_tokens
    record.parallel_tool_calls = chat.parallel_tool_calls
