"""Outbound HTTP for tools that call web APIs: one client policy (timeouts, User-Agent, bounded retries).

Retries cover what a retry can fix: connection errors, timeouts, 429 and 5xx. ``Retry-After`` is honoured
up to ``max_backoff_s`` so a misbehaving upstream cannot stall a tool call for minutes.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from tools.errors import ErrorCode, ToolError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def user_agent() -> str:
    try:
        own = version("afbench")
    except PackageNotFoundError:
        own = "dev"
    return f"afbench/{own} (+https://github.com/afbench/afbench)"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    timeout_s: float = 10.0
    # How to wait between attempts; tests pass a recorder instead of sleeping for real.
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")
        if self.backoff_s < 0 or self.max_backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError("RetryPolicy delays must be non-negative and the timeout positive")


DEFAULT_POLICY = RetryPolicy()


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unparseable: fall back to our own backoff
    if parsed.tzinfo is None:  # HTTP dates are GMT by definition
        parsed = parsed.replace(tzinfo=UTC)
    return max(0.0, parsed.timestamp() - time.time())


async def get_json(
    url: str,
    params: dict[str, Any],
    *,
    service: str,
    policy: RetryPolicy = DEFAULT_POLICY,
    headers: dict[str, str] | None = None,
) -> Any:
    """GET ``url`` and decode JSON, retrying transient failures; raises ToolError naming ``service``."""
    last_problem = "no attempt made"
    async with httpx.AsyncClient(
        timeout=policy.timeout_s, headers={"User-Agent": user_agent(), **(headers or {})}
    ) as client:
        for attempt in range(1, policy.attempts + 1):
            delay = min(policy.max_backoff_s, policy.backoff_s * 2 ** (attempt - 1))
            try:
                response = await client.get(url, params=params)
            except httpx.TimeoutException:
                last_problem = f"timed out after {policy.timeout_s:g} s"
                if attempt == policy.attempts:
                    raise ToolError(
                        ErrorCode.TIMEOUT, f"{service} {last_problem} ({attempt} attempts)", service=service
                    ) from None
            except httpx.HTTPError as exc:
                last_problem = f"connection failed: {exc.__class__.__name__}: {exc}"
            else:
                if response.status_code in RETRY_STATUSES:
                    last_problem = f"HTTP {response.status_code} ({_reason(response)})"
                    delay = min(policy.max_backoff_s, retry_after(response) or delay)
                elif response.status_code >= 400:
                    raise ToolError(
                        ErrorCode.UPSTREAM_ERROR,
                        f"{service} answered HTTP {response.status_code}: {_reason(response)}",
                        service=service,
                        status=response.status_code,
                    )
                else:
                    try:
                        return response.json()
                    except ValueError:
                        raise ToolError(
                            ErrorCode.UPSTREAM_ERROR, f"{service} returned a body that is not JSON", service=service
                        ) from None
            if attempt < policy.attempts:
                await policy.sleep(delay)
    raise ToolError(
        ErrorCode.UPSTREAM_ERROR,
        f"{service} is unavailable: {last_problem} after {policy.attempts} attempts",
        service=service,
    )


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("reason", "error", "message", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
    return str(body)[:200]
