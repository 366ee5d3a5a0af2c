"""Weather tool: current conditions and a daily forecast for a city name or coordinates.

Entry point: :func:`get_weather`. Providers: ``offline`` (default; a bundled, fixed, deterministic data set
of major cities dated ``as_of``) and ``open-meteo`` (the live public API). Pick one per call, or with
``$AFBENCH_WEATHER_PROVIDER``.
"""

from __future__ import annotations

from tools.errors import ErrorCode, ToolError
from tools.weather.models import (
    Alternative,
    CurrentConditions,
    DailyForecast,
    Location,
    UnitLabels,
    WeatherReport,
    WeatherRequest,
)
from tools.weather.provider import (
    DEFAULT_PROVIDER,
    PROVIDER_ENV,
    PROVIDERS,
    WeatherProvider,
    default_provider_name,
    make_provider,
)

__all__ = [
    "DEFAULT_PROVIDER",
    "PROVIDERS",
    "PROVIDER_ENV",
    "Alternative",
    "CurrentConditions",
    "DailyForecast",
    "Location",
    "UnitLabels",
    "WeatherProvider",
    "WeatherReport",
    "WeatherRequest",
    "default_provider_name",
    "get_weather",
    "make_provider",
]


async def get_weather(request: WeatherRequest, provider: WeatherProvider | str | None = None) -> WeatherReport:
    """Get current weather conditions and a daily forecast for a city or a latitude/longitude.

    Give either `location` (a city name such as "Paris", optionally qualified: "Paris, FR",
    "Portland, Oregon", "London, CA"; case and accents are ignored) or both `latitude` and `longitude`.
    A name shared by several places resolves to the most populous one when it is at least 10 times the
    size of the next ("Paris" is Paris, France; "London" is London, England): the report's `alternatives`
    then lists the other places of that name, each with the qualified `query` that selects it, so say
    which place you assumed.
    `days` is the number of forecast days starting today (1-7 offline, 1-16 with open-meteo); `units` is
    "metric" (°C, km/h, mm) or "imperial" (°F, mph, inch).

    The report holds the resolved place, current temperature, feels-like temperature, humidity,
    precipitation, wind and a text description, plus per day: description, min/max temperature,
    precipitation total and probability, and maximum wind. `as_of` is the date the data refers to: the
    default offline provider serves fixed sample data for its own `as_of` date (`live` is false), not
    today's weather.

    Errors: NOT_FOUND (unknown place; the message lists close matches), AMBIGUOUS (several places of
    similar size share the name, e.g. Portland, Oregon or Maine; retry with one of the listed qualified
    names), INVALID_ARGUMENT / EMPTY_INPUT /
    INPUT_TOO_LARGE (bad input), UPSTREAM_ERROR / TIMEOUT (live provider failures).
    """
    if not isinstance(request, WeatherRequest):
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"request must be a WeatherRequest, got {type(request).__name__}")
    if isinstance(provider, WeatherProvider):
        return await provider.report(request)
    return await make_provider(provider or default_provider_name()).report(request)
