"""What ``run_python`` takes, what it answers, and the settings (limits, isolation) a server chooses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

MAX_CODE_CHARS = 32_000  # 4 bytes a character at most: one argv entry stays under Linux's 128 KiB
MAX_STDIN_CHARS = 64_000

Limit = Literal["cpu", "wall", "memory", "output"]
IsolationChoice = Literal["auto", "bubblewrap", "rlimits"]


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 2  # CPU seconds (RLIMIT_CPU): SIGXCPU at the limit, SIGKILL a second later
    wall_s: float = 5.0  # wall-clock seconds from start to kill
    memory_bytes: int = 256 * 1024 * 1024  # address space of each process (RLIMIT_AS)
    output_bytes: int = 64 * 1024  # kept per stream; more ends the run
    processes: int = 8  # processes and threads of the call (RLIMIT_NPROC), the interpreter included
    file_bytes: int = 1024 * 1024  # largest file it may write (RLIMIT_FSIZE)
    open_files: int = 64  # RLIMIT_NOFILE
    tmpfs_bytes: int = 16 * 1024 * 1024  # bubblewrap: size of the working directory and of /tmp, each


@dataclass(frozen=True)
class SandboxSettings:
    limits: SandboxLimits = SandboxLimits()
    # auto: bubblewrap when it works here, else rlimits; bubblewrap: that or nothing (the tool says it is
    # not configured); rlimits: never namespaces (tests of the fallback).
    isolation: IsolationChoice = "auto"
    python: str | None = None  # the interpreter to run; None: the server's own, else /usr/bin/python3
    # A server running as root runs each call as a uid of its own from this range (RLIMIT_NPROC counts per
    # uid and does not bind root; concurrent calls must not share a count).
    uid_base: int = 61000
    uid_count: int = 4000


class RunPythonRequest(BaseModel):
    code: str = Field(description="A Python 3 program; its output is what it prints.", max_length=MAX_CODE_CHARS)
    stdin: str | None = Field(
        default=None, description="Optional text given to the program on standard input.", max_length=MAX_STDIN_CHARS
    )


class RunPythonResult(BaseModel):
    stdout: str = Field(description="Standard output (UTF-8, undecodable bytes replaced), cut at the output limit.")
    stderr: str = Field(description="Standard error, e.g. a traceback; cut at the output limit.")
    exit_code: int | None = Field(description="The exit status; None when a signal ended the program.")
    signal: str | None = Field(description="The signal that ended the program (SIGKILL, SIGXCPU, ...), if one did.")
    limit: Limit | None = Field(description="The limit that ended the program (cpu, wall, memory, output), if one did.")
    duration_ms: float = Field(description="Wall-clock time of the run, start-up included.")
    stdout_truncated: bool = Field(description="True when stdout went past the output limit and was cut.")
    stderr_truncated: bool = Field(description="True when stderr went past the output limit and was cut.")
    isolation: str = Field(description="What isolated the run: 'bubblewrap' (namespaces) or 'rlimits' (limits only).")
