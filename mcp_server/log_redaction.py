"""Keeps secrets out of every log line: API keys in query strings (``?api_key=afb_…``, which WebSocket
clients must use) and any raw key text, whoever logs it (uvicorn's access log, the SDK, our own code)."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from mcp_server.store import KEY_PREFIX

_QUERY_KEY = re.compile(r"((?:^|[?&;\s])api_key=)[^&\s\"';]*", re.IGNORECASE)
_RAW_KEY = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_\-]{8,}")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _RAW_KEY.sub(KEY_PREFIX + REDACTED, _QUERY_KEY.sub(r"\1" + REDACTED, text))


class RedactSecrets(logging.Filter):
    """A handler filter: rewrites the message and its arguments before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install(handler: logging.Handler) -> None:
    if not any(isinstance(f, RedactSecrets) for f in handler.filters):
        handler.addFilter(RedactSecrets())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging, with every handler redacting and writing to stderr (stdout is not the server's log:
    under stdio it is the protocol, and one stream keeps the order of events)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": f"{__name__}.RedactSecrets"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
        handler["stream"] = "ext://sys.stderr"
    return config
