"""Server configuration: where the sessions database and the SQL database are, which providers, which bounds,
and which faults to inject (none unless a fault plan is given; see ``faults.py``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcp_server.faults import ToolFault
from tools._paths import cache_dir
from tools.sandbox import SandboxSettings


def default_sessions_db() -> Path:
    configured = os.environ.get("AFBENCH_DB")
    return Path(configured) if configured else cache_dir() / "sessions.sqlite"


@dataclass(frozen=True)
class ServerConfig:
    db_path: Path = field(default_factory=default_sessions_db)
    sql_database: Path | None = None  # None: the bundled sample database
    weather_provider: str | None = None  # None: AFBENCH_WEATHER_PROVIDER or 'offline'
    search_provider: str | None = None  # None: AFBENCH_SEARCH_PROVIDER or 'offline'
    call_timeout_s: float = 30.0
    max_argument_bytes: int = 64 * 1024
    fault_plan: Mapping[str, ToolFault] = field(default_factory=dict)  # trial id → fault; empty: no faults
    fault_timeout_s: float = 2.0  # how long a tool_timeout fault waits before its timeout error
    oversized_result_bytes: int = 1_000_000  # the text size of an oversized_result fault's result
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)  # run_python's limits and isolation
