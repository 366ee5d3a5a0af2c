"""``python -m benchmark.runner.worker --framework NAME``: one framework's build in its own process.

The worker runs in the build's own environment (``.venvs/<framework>``), so it imports only the build-facing
contract (:mod:`benchmark.contract`, :mod:`benchmark.spec`, :mod:`benchmark.plugins`, the protocol and its
records): the standard library and pydantic, nothing of the server or the harness. It first loads the build
module and times that cold import (nothing of the framework is loaded before), then runs the trials the runner
sends, one at a time: rebuild the system spec the request carries, open a conversation, send each turn, close.
Everything that needs the MCP server's log (which tool calls each turn made) stays in the runner. A crash or a
hang takes down only this process. The build's own prints go to stderr (the worker's log); stdout carries the
protocol alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from benchmark import plugins
from benchmark.contract import AgentBuild

if TYPE_CHECKING:  # imported for real only after the build's cold import has been timed
    from benchmark.records import ReportedUsage
    from benchmark.runner.protocol import TrialReport, TrialRequest

PARENT_POLL_S = 1.0


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def describe(exc: BaseException) -> str:
    """``Type: message`` of the innermost real error (task groups wrap what went wrong)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 500 else text[:497] + "..."


def _claim_stdout() -> IO[str]:
    """A private handle on the protocol pipe; fd 1 then points at stderr so prints cannot corrupt it."""
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return protocol


def _watch_parent() -> None:
    """Exit when the runner is gone, even in the middle of a hung trial."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _send(protocol: IO[str], message: dict[str, Any]) -> None:
    protocol.write(json.dumps(message, ensure_ascii=False) + "\n")
    protocol.flush()


def load_build(framework: str, agents_dir: Path | None) -> AgentBuild:
    """The build, from ``agents/`` or (tests, experiments) another plugin folder of the same layout."""
    if agents_dir is not None:
        plugins.AGENTS_DIR = agents_dir  # this process serves one build; the loader reads the folder at call time
    return plugins.load_build(framework)


class Worker:
    def __init__(self, build: AgentBuild, protocol: IO[str]) -> None:
        self.build = build
        self.protocol = protocol

    async def serve(self) -> int:
        from benchmark.runner.protocol import TrialRequest

        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return 0  # the runner closed the pipe
            message = json.loads(line)
            if message.get("cmd") == "exit":
                return 0
            request = TrialRequest.model_validate(message)
            report = await self.run_trial(request)
            _send(self.protocol, {"event": "trial", **report.model_dump(mode="json")})

    async def run_trial(self, request: TrialRequest) -> TrialReport:
        """Open a conversation, send each turn (stopping at the first that raises), close it."""
        from benchmark.contract import McpEndpoint, MemoryStore, ModelEndpoint
        from benchmark.records import TurnOutcome
        from benchmark.runner.protocol import TrialReport
        from benchmark.spec import SystemSpec

        spec = SystemSpec.from_dict(request.spec)
        model = ModelEndpoint(
            base_url=request.model.base_url,
            model=request.model.model,
            api_key=request.model.api_key,
            timeout_s=request.model.timeout_s or ModelEndpoint.timeout_s,
        )
        mcp = McpEndpoint(url=request.mcp.url, api_key=request.mcp.api_key, trial_id=request.mcp.trial_id)
        turns: list[TurnOutcome] = []
        start_error = close_error = None
        started = time.perf_counter()
        conversation = None
        try:
            memory = MemoryStore(request.memory.conversation_id, request.memory.directory)
            conversation = await self.build.open(spec, model, mcp, memory)
        except (Exception, asyncio.CancelledError) as exc:
            _uncancel()
            traceback.print_exc()
            start_error = describe(exc)
        if conversation is not None:
            for index, message in enumerate(request.messages, start=request.first_turn):
                turn_started, clock = time.time(), time.perf_counter()
                text, agent, error, usage = "", "", None, None
                try:
                    result = await conversation.send(message)
                    text, agent = str(getattr(result, "text", "")), str(getattr(result, "agent", ""))
                    if not hasattr(result, "agent"):
                        error = f"TypeError: send() returned {type(result).__name__}, not a TurnResult"
                    usage = _reported_usage(getattr(result, "usage", None))
                except (Exception, asyncio.CancelledError) as exc:
                    _uncancel()
                    traceback.print_exc()
                    error = describe(exc)
                turns.append(
                    TurnOutcome(
                        index=index,
                        user=message,
                        text=text,
                        agent=agent,
                        started_at=turn_started,
                        ended_at=time.time(),
                        wall_s=round(time.perf_counter() - clock, 6),
                        error=error,
                        reported_usage=usage,
                    )
                )
                if error is not None:
                    break  # later turns build on this one's memory
            try:
                await conversation.aclose()
            except (Exception, asyncio.CancelledError) as exc:
                _uncancel()
                traceback.print_exc()
                close_error = describe(exc)
        return TrialReport(
            trial_id=request.trial_id,
            turns=turns,
            start_error=start_error,
            close_error=close_error,
            wall_s=round(time.perf_counter() - started, 6),
            peak_rss_mb=peak_rss_mb(),
        )


def _reported_usage(usage: Any) -> ReportedUsage | None:
    """The record of a TurnResult's usage (a contract.Usage); None when the build reported none or a value
    that is not one (a build's mistake must not cost the turn its answer: it is logged instead)."""
    from benchmark.records import ReportedUsage

    if usage is None:
        return None
    try:
        return ReportedUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            calls=getattr(usage, "calls", None),
            source=str(getattr(usage, "source", "")),
        )
    except (AttributeError, ValueError) as exc:
        print(f"afbench worker: ignoring the turn's usage {usage!r}: {exc}", file=sys.stderr)
        return None


def _uncancel() -> None:
    """A build's leaked cancel scope must not cancel the worker's next await."""
    task = asyncio.current_task()
    if task is not None:
        while task.cancelling():
            task.uncancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.runner.worker", description=__doc__)
    parser.add_argument("--framework", required=True)
    parser.add_argument("--agents-dir", type=Path)
    args = parser.parse_args(argv)
    protocol = _claim_stdout()
    _watch_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    clock = time.perf_counter()
    try:
        build = load_build(args.framework, args.agents_dir)
    except Exception as exc:
        traceback.print_exc()
        _send(protocol, {"event": "load_error", "message": describe(exc)})
        return 3
    import_s = time.perf_counter() - clock
    _send(protocol, {"event": "ready", "pid": os.getpid(), "import_s": round(import_s, 6), "rss_mb": peak_rss_mb()})
    return asyncio.run(Worker(build, protocol).serve())


if __name__ == "__main__":
    sys.exit(main())
