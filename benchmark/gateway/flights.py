"""Calls in flight, per trial: each call's backend work runs in a task the gateway owns, so that ending a
trial can cancel it.

Cancelling the work closes its upstream connection, and a model server stops generating for a client that
has gone: a trial that timed out (its worker killed mid-call) no longer leaves a request running on a
one-slot server for the next trial's first call to queue behind. A stream's chunks are pumped by that task
into a queue the client's response reads from, so the upstream side can be cancelled whatever the client
side is doing. The registry is used from the gateway's event loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from benchmark.gateway.backend import JsonReply, StreamReply
from benchmark.gateway.records import Recorder

Queue = asyncio.Queue[bytes | None]  # a stream's chunks as they arrive; None: no more
CANCEL_WAIT_S = 5.0  # how long ending a trial waits for cancelled work to close its connections


class TrialEnded(Exception):
    """The call's trial ended while the call was open."""


async def close_stream(chunks: AsyncIterator[bytes]) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()


class Flight:
    """One open call: its record and the task doing its backend work."""

    def __init__(self, trial_id: str | None, record: Recorder) -> None:
        self.trial_id = trial_id
        self.record = record
        self.task: asyncio.Task[None] | None = None
        self.ended = False  # its trial ended while it was open
        self.exhausted = False  # the backend's stream ran to its end

    async def serve(self, answer: Coroutine[Any, Any, JsonReply | StreamReply]) -> JsonReply | Queue:
        """Run ``answer`` (the backend's respond) as this call's task: its JSON reply, or for a stream a queue
        the task keeps filling with the stream's chunks and ends with None; TrialEnded if the trial ends first.

        Answering and pumping are one task, so that a cancellation anywhere in it closes what the backend
        opened: there is no moment between the two where the upstream connection belongs to nobody."""
        if self.ended:
            answer.close()
            raise TrialEnded
        head: asyncio.Future[JsonReply | Queue] = asyncio.get_running_loop().create_future()

        async def work() -> None:
            try:
                reply = await answer
            except asyncio.CancelledError:
                head.cancel()
                raise
            except Exception as exc:
                if not head.done():
                    head.set_exception(exc)
                return
            if head.done():  # the handler was cancelled meanwhile: nobody will read the stream
                if isinstance(reply, StreamReply):
                    await close_stream(reply.chunks)
                return
            if isinstance(reply, JsonReply):
                head.set_result(reply)
                return
            queue: Queue = asyncio.Queue()
            head.set_result(queue)
            try:
                async for chunk in reply.chunks:
                    queue.put_nowait(chunk)
                self.exhausted = True
            finally:
                await close_stream(reply.chunks)  # the backend closes its side and records what it received
                queue.put_nowait(None)

        self.task = asyncio.create_task(work())
        try:
            return await head
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.ended and not (current and current.cancelling()):
                raise TrialEnded from None
            self.task.cancel()
            raise

    async def stop(self) -> BaseException | None:
        """Cancel the work if it is still running and wait for it to wind up; what it failed with, if anything."""
        task = self.task
        if task is None:
            return None
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CANCEL_WAIT_S)
        if not task.done() or task.cancelled():
            return None
        return task.exception()


class Flights:
    """The open calls, by trial."""

    def __init__(self) -> None:
        self._open: dict[str | None, set[Flight]] = {}

    def open(self, trial_id: str | None, record: Recorder) -> Flight:
        flight = Flight(trial_id, record)
        self._open.setdefault(trial_id, set()).add(flight)
        return flight

    def close(self, flight: Flight) -> None:
        flights = self._open.get(flight.trial_id)
        if flights is not None:
            flights.discard(flight)
            if not flights:
                del self._open[flight.trial_id]

    async def end(self, trial_id: str) -> None:
        """Mark the trial's open calls ended and cancel their work; each call's handler then records it."""
        flights = list(self._open.get(trial_id, ()))
        for flight in flights:
            flight.ended = True
        await asyncio.gather(*(flight.stop() for flight in flights))
