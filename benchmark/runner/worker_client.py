"""The runner's side of a worker process: spawn it, wait for its build to load, run trials with a timeout.

A worker that dies or stops answering is killed and reported; the runner starts a fresh one for the next
trial, so one framework's crash costs one trial, never the run.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from benchmark.build_envs import BuildEnvMissing, worker_python
from benchmark.runner.children import child_env, die_with_parent
from benchmark.runner.protocol import Ready, TrialReport, TrialRequest

LINE_LIMIT = 64 * 1024 * 1024  # a trial report carries every answer's text


class WorkerError(RuntimeError):
    """The worker failed: crashed, hung, or could not load its build."""


class WorkerCrashed(WorkerError):
    pass


class WorkerTimeout(WorkerError):
    pass


class BuildLoadError(WorkerError):
    """The build module could not be imported or has no valid BUILD."""


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(tail)


class WorkerProcess:
    def __init__(self, framework: str, process: asyncio.subprocess.Process, ready: Ready, log_path: Path) -> None:
        self.framework = framework
        self.process = process
        self.ready = ready
        self.log_path = log_path

    @classmethod
    async def spawn(
        cls,
        framework: str,
        *,
        log_path: Path,
        agents_dir: Path | None = None,
        ready_timeout_s: float = 300.0,
    ) -> WorkerProcess:
        try:
            python = worker_python(framework, agents_dir)
        except BuildEnvMissing as exc:
            raise BuildLoadError(str(exc)) from None
        command = [python, "-m", "benchmark.runner.worker", "--framework", framework]
        if agents_dir is not None:
            command += ["--agents-dir", str(agents_dir)]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=child_env(),
                limit=LINE_LIMIT,
                preexec_fn=die_with_parent,
            )
        worker = cls(framework, process, Ready(pid=process.pid, import_s=0.0, rss_mb=0.0), log_path)
        try:
            message = await worker._receive(ready_timeout_s)
        except WorkerError:
            await worker.kill()
            raise
        if message.get("event") == "load_error":
            await worker.kill()
            raise BuildLoadError(str(message.get("message", "unknown error")))
        worker.ready = Ready.model_validate(message)
        return worker

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def _receive(self, timeout_s: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
        except TimeoutError:
            raise WorkerTimeout(f"no answer within {timeout_s:g} s") from None
        except ValueError as exc:  # a line over LINE_LIMIT
            raise WorkerCrashed(f"unreadable worker message: {exc}") from None
        if not line:
            code = await self.process.wait()
            tail = _log_tail(self.log_path)
            raise WorkerCrashed(f"worker exited with code {code}" + (f"; its log ends:\n{tail}" if tail else ""))
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            raise WorkerCrashed(f"the worker wrote a line that is not JSON: {line[:200]!r}") from None
        return message

    async def run(self, request: TrialRequest, timeout_s: float) -> TrialReport:
        """Run one trial; raises WorkerTimeout (the worker is then killed) or WorkerCrashed."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps({"cmd": "trial", **request.model_dump()}) + "\n").encode())
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            code = await self.process.wait()
            raise WorkerCrashed(f"worker exited with code {code} before the trial") from None
        try:
            message = await self._receive(timeout_s)
        except WorkerTimeout:
            await self.kill()
            raise
        if message.get("event") != "trial" or message.get("trial_id") != request.trial_id:
            await self.kill()
            raise WorkerCrashed(f"unexpected worker message for {request.trial_id}: {str(message)[:200]}")
        return TrialReport.model_validate({k: v for k, v in message.items() if k != "event"})

    async def close(self, timeout_s: float = 10.0) -> None:
        if not self.alive:
            return
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(b'{"cmd": "exit"}\n')
            await self.process.stdin.drain()
            self.process.stdin.close()
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            await self.kill()

    async def kill(self) -> None:
        if self.alive:
            self.process.kill()
        await self.process.wait()
