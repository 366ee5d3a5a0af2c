"""The interface every weather provider implements and the factory that picks one by name."""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

from tools.errors import ErrorCode, ToolError
from tools.weather.models import WeatherReport, WeatherRequest

PROVIDER_ENV = "AFBENCH_WEATHER_PROVIDER"
DEFAULT_PROVIDER = "offline"
PROVIDERS = ("offline", "open-meteo")
_SPELLINGS = {"offline": "offline", "open-meteo": "open-meteo", "openmeteo": "open-meteo"}


@runtime_checkable
class WeatherProvider(Protocol):
    """Turns a :class:`WeatherRequest` into a :class:`WeatherReport`, raising ToolError on failure."""

    name: str
    max_days: int

    async def report(self, request: WeatherRequest) -> WeatherReport: ...


def default_provider_name() -> str:
    """``$AFBENCH_WEATHER_PROVIDER`` when set and non-blank, else ``offline``."""
    return os.environ.get(PROVIDER_ENV, "").strip() or DEFAULT_PROVIDER


def make_provider(name: str, **options: Any) -> WeatherProvider:
    """Build the provider called ``name`` ('offline' or 'open-meteo') with its constructor ``options``."""
    key = _SPELLINGS.get(name.strip().lower().replace("_", "-")) if isinstance(name, str) else None
    if key is None:
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown weather provider {name!r}; known providers: {', '.join(PROVIDERS)}",
            known=list(PROVIDERS),
        )
    # Imported here so choosing the offline provider never imports the HTTP stack's module, and back.
    if key == "offline":
        from tools.weather.offline import OfflineProvider

        factory: Any = OfflineProvider
    else:
        from tools.weather.open_meteo import OpenMeteoProvider

        factory = OpenMeteoProvider
    try:
        provider: WeatherProvider = factory(**options)
    except TypeError as exc:
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"bad option for the {key} weather provider: {exc}") from None
    return provider
