"""One live invocation per run directory: ``afbench run`` holds an exclusive lock on ``run.lock`` while it
runs, so a second ``run --resume`` of a live run is refused instead of running its trials twice.

The lock is the operating system's (``flock``): a run killed with SIGKILL releases it with its process, so a
stale lock never blocks a resume. The file keeps the holder's pid and start time for the refusal message.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = "run.lock"


class RunLocked(RuntimeError):
    """Another process is running this run directory."""


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    path = run_dir / LOCK_FILE
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunLocked(
                f"{run_dir} is being run right now by {holder}; wait for it to finish, or stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(f"afbench run (pid {os.getpid()}, since {started})")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the file releases the lock
