"""Child processes that must not outlive the runner, and the environment they start with."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from tools._tokens import ensure_offline_tiktoken

REPO_ROOT = Path(__file__).resolve().parents[2]

# Frameworks phone home or trace by default; a benchmark run must do neither (and must not download).
QUIET_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_TRACING": "false",
    "OPENAI_AGENTS_DISABLE_TRACING": "1",
    "ENABLE_INSTRUMENTATION": "false",  # Microsoft Agent Framework: its OpenTelemetry instrumentation, on by default
    "ADK_CAPTURE_MESSAGE_CONTENT_IN_SPANS": "false",  # Google ADK: no message text in its spans
    "GOOGLE_API_USE_CLIENT_CERTIFICATE": "false",  # Google ADK: no credentials probe (3 s) per MCP session
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}


def child_env() -> dict[str, str]:
    """The runner's environment with telemetry off, offline tiktoken, and this checkout importable."""
    env = dict(os.environ)
    env.update(QUIET_ENV)
    env["TIKTOKEN_CACHE_DIR"] = str(ensure_offline_tiktoken())
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def die_with_parent() -> None:
    """``preexec_fn``: on Linux, have the kernel stop this child when the runner dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
