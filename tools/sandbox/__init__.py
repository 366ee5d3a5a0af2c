"""``run_python``: run a short Python program in a separate, limited interpreter per call.

Entry points: :class:`Sandbox` (``await sandbox.run(RunPythonRequest(code=...))``) and :func:`description`,
the text a model reads. The limits and the isolation kind are the server's (``SandboxSettings``);
``isolation.py`` says what each kind holds and where it does not.
"""

from __future__ import annotations

from tools.sandbox.isolation import Isolation, SandboxUnavailable, detect
from tools.sandbox.models import (
    MAX_CODE_CHARS,
    RunPythonRequest,
    RunPythonResult,
    SandboxLimits,
    SandboxSettings,
)
from tools.sandbox.runner import Sandbox

__all__ = [
    "MAX_CODE_CHARS",
    "Isolation",
    "RunPythonRequest",
    "RunPythonResult",
    "Sandbox",
    "SandboxLimits",
    "SandboxSettings",
    "SandboxUnavailable",
    "description",
    "detect",
]


def description(limits: SandboxLimits, isolation: Isolation | None) -> str:
    """What a model is told: what runs, the limits, and what the program can and cannot reach."""
    if isolation is None:
        reach = "It cannot run on this server at the moment (calls answer not_configured)."
    elif isolation.kind == "bubblewrap":
        reach = (
            "There is no network and no file system beyond the standard library: the working directory is an "
            "empty temporary folder, deleted after the call."
        )
    else:
        reach = "The working directory is an empty temporary folder, deleted after the call."
    return (
        "Run a Python 3 program (standard library only, no third-party packages) in a fresh interpreter and get "
        "its stdout, stderr, exit code and duration. Print what you want to see. Each call starts from scratch: "
        "nothing is kept between calls. "
        f"Limits: {limits.cpu_s} s of CPU, {limits.wall_s:g} s wall clock, "
        f"{limits.memory_bytes // (1024 * 1024)} MB of memory, {limits.output_bytes // 1024} KB of output per "
        f"stream (more is cut and ends the run), {limits.processes} processes or threads, files up to "
        f"{limits.file_bytes // 1024} KB. `limit` says which one ended a run. {reach}"
    )
