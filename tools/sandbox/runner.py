"""One ``run_python`` call: start the interpreter, feed stdin, keep at most the output limit of each stream,
enforce the wall limit, then kill whatever the call started and remove its directory.

Nothing the code starts outlives the call: the interpreter runs in a session (process group) of its own,
which is killed at the end; under bubblewrap the PID namespace goes with its init; a call running as a uid
of its own (a root server) ends with every process of that uid killed, which catches children that left the
process group with ``setsid``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.errors import ErrorCode, ToolError
from tools.sandbox.isolation import Isolation, SandboxUnavailable, detect
from tools.sandbox.models import Limit, RunPythonRequest, RunPythonResult, SandboxSettings

READ_CHUNK = 65536


@dataclass
class _Stream:
    limit: int
    kept: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    async def drain(self, reader: asyncio.StreamReader, overflow: asyncio.Event) -> None:
        # Read to the end even past the limit (and discard): asyncio only reports the process's exit once its
        # pipes are closed, and a pipe nobody reads never gets there.
        while chunk := await reader.read(READ_CHUNK):
            room = self.limit - len(self.kept)
            self.kept += chunk[: max(room, 0)]
            if len(chunk) > room and not self.truncated:
                self.truncated = True
                overflow.set()

    def text(self) -> str:
        return self.kept.decode("utf-8", "replace")


def _processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
            except FileNotFoundError:
                pass
    return found


def _kill_everything(pgid: int, uid: int | None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if uid is None:
        return
    # A fork loop may still be making processes; RLIMIT_NPROC keeps it to a handful, so few rounds do.
    for _ in range(100):
        left = _processes_of(uid)
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Sandbox:
    """Runs programs under ``settings``; the isolation is found on first use (or by :meth:`isolation`)."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self._isolation: Isolation | None = None
        self._problem: str | None = None
        self._uids_in_use: set[int] = set()

    def isolation(self) -> Isolation | None:
        """What isolates the runs here, or None (see :attr:`problem`) when nothing can run."""
        if self._isolation is None and self._problem is None:
            try:
                self._isolation = detect(self.settings)
            except SandboxUnavailable as exc:
                self._problem = str(exc)
        return self._isolation

    @property
    def problem(self) -> str | None:
        return self._problem

    def _take_uid(self) -> int | None:
        if os.geteuid() != 0:
            return None
        base, count = self.settings.uid_base, self.settings.uid_count
        free = [uid for uid in range(base, base + count) if uid not in self._uids_in_use]
        if not free:
            raise ToolError(ErrorCode.TIMEOUT, "too many run_python calls at once; try again")
        # Random, so that two servers on one machine rarely share a uid (and so a process count).
        uid = random.choice(free)
        self._uids_in_use.add(uid)
        return uid

    async def run(self, request: RunPythonRequest) -> RunPythonResult:
        if "\x00" in request.code:
            raise ToolError(ErrorCode.INVALID_ARGUMENT, "code contains a NUL character, which Python cannot run")
        isolation = await asyncio.to_thread(self.isolation)
        if isolation is None:
            raise ToolError(ErrorCode.NOT_CONFIGURED, f"run_python cannot run here: {self.problem}")
        uid = self._take_uid()
        workdir = Path(tempfile.mkdtemp(prefix="afbench-run-"))
        try:
            if uid is not None:
                os.chown(workdir, uid, uid)
            return await self._run(isolation, request, workdir, uid)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            if uid is not None:
                self._uids_in_use.discard(uid)

    async def _run(
        self, isolation: Isolation, request: RunPythonRequest, workdir: Path, uid: int | None
    ) -> RunPythonResult:
        limits = self.settings.limits
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *isolation.command(request.code, limits, workdir),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={},
            cwd=workdir,
            user=uid,
            group=uid,
            extra_groups=[] if uid is not None else None,
            start_new_session=True,
        )
        assert process.stdin and process.stdout and process.stderr
        out, err, overflow = _Stream(limits.output_bytes), _Stream(limits.output_bytes), asyncio.Event()
        readers = [
            asyncio.create_task(out.drain(process.stdout, overflow)),
            asyncio.create_task(err.drain(process.stderr, overflow)),
        ]
        feeder = asyncio.create_task(self._feed(process.stdin, request.stdin))
        finished = asyncio.create_task(process.wait())
        overflowed = asyncio.create_task(overflow.wait())
        ended_by: Limit | None = None
        try:
            done, _ = await asyncio.wait({finished, overflowed}, timeout=limits.wall_s, return_when="FIRST_COMPLETED")
            if finished not in done:
                ended_by = "output" if overflowed in done else "wall"
        finally:
            _kill_everything(process.pid, uid)
            overflowed.cancel()
            feeder.cancel()
            # The pipes close once every process holding them is gone. Bounded: a process we could not kill
            # (a non-root server's child that left its session) may hold them; then we close our ends.
            await asyncio.wait({finished, *readers}, timeout=2.0)
            for task in (finished, *readers):
                task.cancel()
            transport = getattr(process, "_transport", None)
            if transport is not None and not finished.done():
                transport.close()
        returncode = process.returncode if process.returncode is not None else -signal.SIGKILL
        duration_ms = (time.perf_counter() - started) * 1000
        exit_code: int | None = returncode
        signal_name = None
        number = -returncode if returncode < 0 else 0
        if isolation.kind == "bubblewrap" and 128 < returncode <= 128 + 64:
            number = returncode - 128  # bwrap reports a signalled child as 128 + the signal, like a shell
        if number:
            exit_code, signal_name = None, _signal_name(number)
        if ended_by is None:
            if number in (signal.SIGXCPU, signal.SIGKILL):
                ended_by = "cpu"  # the soft CPU limit sends SIGXCPU, the hard one SIGKILL; we sent none
            elif exit_code not in (None, 0) and err.text().rstrip().rsplit("\n", 1)[-1].startswith("MemoryError"):
                ended_by = "memory"
        return RunPythonResult(
            stdout=out.text(),
            stderr=err.text(),
            exit_code=exit_code,
            signal=signal_name,
            limit=ended_by,
            duration_ms=round(duration_ms, 1),
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
            isolation=isolation.kind,
        )

    @staticmethod
    async def _feed(stdin: asyncio.StreamWriter, text: str | None) -> None:
        try:
            if text:
                stdin.write(text.encode("utf-8"))
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the program ended, or closed its stdin, before reading all of it
        finally:
            stdin.close()
