"""Server configuration: where the sessions database and the SQL database are, which providers, which bounds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tools._paths import cache_dir


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
