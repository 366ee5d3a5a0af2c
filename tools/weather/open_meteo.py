"""The ``open-meteo`` provider: live weather from the public Open-Meteo API (no key needed).

A place name goes through Open-Meteo's geocoder first (same qualifier, population-dominance and ambiguity
rules as offline, applied to the geocoder's results and their populations), then
the forecast endpoint is asked for current conditions and ``days`` daily values in the requested units.
Base URLs come from the constructor, else ``AFBENCH_OPEN_METEO_GEOCODING_URL`` /
``AFBENCH_OPEN_METEO_FORECAST_URL``, else the public endpoints, so tests can point at a local fake.
HTTP (timeouts, User-Agent, bounded retries honouring ``Retry-After``) is the shared :mod:`tools._http`.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from tools._http import DEFAULT_POLICY, RetryPolicy, get_json
from tools.errors import ErrorCode, ToolError
from tools.weather import units as u
from tools.weather.codes import describe
from tools.weather.matching import Candidate, Resolution, normalize, select
from tools.weather.models import (
    Alternative,
    CurrentConditions,
    DailyForecast,
    Location,
    WeatherReport,
    WeatherRequest,
)
from tools.weather.query import PlaceQuery, parse_request
from tools.weather.summary import summarize

DEFAULT_GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
DEFAULT_FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
GEOCODING_URL_ENV = "AFBENCH_OPEN_METEO_GEOCODING_URL"
FORECAST_URL_ENV = "AFBENCH_OPEN_METEO_FORECAST_URL"
MAX_DAYS = 16
ATTRIBUTION = "Weather data by Open-Meteo.com (https://open-meteo.com/), licensed CC BY 4.0."
GEOCODER = "Open-Meteo's geocoder"
FORECAST = "the Open-Meteo forecast API"

CURRENT_FIELDS = (
    "temperature_2m",
    "relative_humidity_2m",
    "apparent_temperature",
    "precipitation",
    "weather_code",
    "wind_speed_10m",
    "wind_direction_10m",
)
DAILY_FIELDS = (
    "weather_code",
    "temperature_2m_max",
    "temperature_2m_min",
    "precipitation_sum",
    "precipitation_probability_max",
    "wind_speed_10m_max",
)
IMPERIAL_PARAMS = {"temperature_unit": "fahrenheit", "wind_speed_unit": "mph", "precipitation_unit": "inch"}


def _base_url(explicit: str | None, env: str, default: str) -> str:
    url = explicit or os.environ.get(env) or default
    source = "constructor argument" if explicit else env if os.environ.get(env) else "default"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ToolError(ErrorCode.NOT_CONFIGURED, f"Open-Meteo URL {url!r} (from {source}) is not an http(s) URL")
    return url


class OpenMeteoProvider:
    """Live current conditions and up to 16 forecast days from Open-Meteo."""

    name = "open-meteo"
    max_days = MAX_DAYS

    def __init__(
        self,
        geocoding_url: str | None = None,
        forecast_url: str | None = None,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        geocoding_count: int = 10,
    ) -> None:
        self.geocoding_url = _base_url(geocoding_url, GEOCODING_URL_ENV, DEFAULT_GEOCODING_URL)
        self.forecast_url = _base_url(forecast_url, FORECAST_URL_ENV, DEFAULT_FORECAST_URL)
        if not isinstance(policy, RetryPolicy):
            raise ToolError(ErrorCode.INVALID_ARGUMENT, f"policy must be a RetryPolicy, got {type(policy).__name__}")
        if isinstance(geocoding_count, bool) or not isinstance(geocoding_count, int) or not 1 <= geocoding_count <= 100:
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT, f"geocoding_count must be between 1 and 100, got {geocoding_count!r}"
            )
        self.policy = policy
        self.geocoding_count = geocoding_count

    async def report(self, request: WeatherRequest) -> WeatherReport:
        query = parse_request(request, max_days=self.max_days, provider=self.name)
        location: Location | None = None
        alternatives: list[Alternative] = []
        if isinstance(query, PlaceQuery):
            resolution = await self._geocode(query)
            location, alternatives = resolution.candidate.location, resolution.alternatives
            latitude, longitude = location.latitude, location.longitude
        else:
            latitude, longitude = query.latitude, query.longitude
        params: dict[str, Any] = {
            "latitude": latitude,
            "longitude": longitude,
            "current": ",".join(CURRENT_FIELDS),
            "daily": ",".join(DAILY_FIELDS),
            "timezone": "auto",
            "forecast_days": request.days,
        }
        if request.units == "imperial":
            params.update(IMPERIAL_PARAMS)
        body = await self._get(self.forecast_url, params, FORECAST)
        return _build_report(body, location, alternatives, request)

    async def _get(self, url: str, params: dict[str, Any], service: str) -> Any:
        body = await get_json(url, params, service=service, policy=self.policy, headers={"Accept": "application/json"})
        # Open-Meteo reports some failures as {"error": true, "reason": ...}; never read that as data.
        if isinstance(body, dict) and body.get("error") is True:
            reason = body.get("reason")
            raise ToolError(
                ErrorCode.UPSTREAM_ERROR,
                f"{service} reported an error: {reason if isinstance(reason, str) else 'no reason given'}",
                service=service,
            )
        return body

    async def _geocode(self, query: PlaceQuery) -> Resolution:
        # The geocoder matches names only, so qualifiers are applied to its results here; with a
        # qualifier, ask for more results so a smaller namesake in the wanted country is still among them.
        count = max(self.geocoding_count, 50) if query.qualifiers else self.geocoding_count
        params = {"name": query.name, "count": count, "language": "en", "format": "json"}
        body = await self._get(self.geocoding_url, params, GEOCODER)
        if not isinstance(body, dict):
            raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{GEOCODER} returned {type(body).__name__}, not an object")
        results = body.get("results") or []
        if not isinstance(results, list):
            raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{GEOCODER} returned 'results' that is not a list")
        candidates = [c for c in (_candidate(i, r) for i, r in enumerate(results)) if c is not None]
        if not candidates:
            raise ToolError(
                ErrorCode.NOT_FOUND,
                f"{GEOCODER} found no place named '{query.name}'; check the spelling or give coordinates",
                query=query.name,
            )
        wanted = normalize(query.name)
        exact = [c for c in candidates if normalize(c.location.name) == wanted]
        return select(query.name, query.qualifiers, exact or candidates, GEOCODER)


def _candidate(position: int, result: Any) -> Candidate | None:
    """A geocoding result as a candidate; entries without a name or coordinates are skipped."""
    if not isinstance(result, dict):
        return None
    name, lat, lon = result.get("name"), _finite(result.get("latitude")), _finite(result.get("longitude"))
    if not isinstance(name, str) or not name or lat is None or lon is None:
        return None
    population = _finite(result.get("population"))
    location = Location(
        name=name,
        country=_text(result.get("country")),
        country_code=_text(result.get("country_code")),
        admin1=_text(result.get("admin1")),
        latitude=lat,
        longitude=lon,
        timezone=_text(result.get("timezone")),
        population=int(population) if population is not None and population > 0 else None,
    )
    return Candidate(key=str(result.get("id", position)), location=location)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _finite(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _section(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    section = body.get(key)
    if not isinstance(section, dict):
        raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} response has no '{key}' object")
    return section


def _number(section: Mapping[str, Any], key: str, where: str) -> float | None:
    value = section.get(key)
    if value is None:
        return None
    if not _is_number(value):
        raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} sent a non-numeric {where}.{key}: {value!r}")
    return float(value)


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _check_units(units_section: Mapping[str, Any], expected: str, where: str) -> None:
    reported = units_section.get("temperature_2m") or units_section.get("temperature_2m_max")
    if reported is not None and reported != expected:
        raise ToolError(
            ErrorCode.UPSTREAM_ERROR,
            f"{FORECAST} answered {where} temperatures in {reported!r} but {expected!r} was requested",
        )


def _build_report(
    body: Any, location: Location | None, alternatives: list[Alternative], request: WeatherRequest
) -> WeatherReport:
    if not isinstance(body, dict):
        raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} returned {type(body).__name__}, not an object")
    units = request.units
    labels = u.labels(units)
    now, daily_raw = _section(body, "current"), _section(body, "daily")
    _check_units(body.get("current_units") or {}, labels.temperature, "current")
    _check_units(body.get("daily_units") or {}, labels.temperature, "daily")
    if location is None:
        lat, lon = _number(body, "latitude", "response"), _number(body, "longitude", "response")
        if lat is None or lon is None:
            raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} response has no coordinates")
        location = Location(
            name=f"{lat:.4f}, {lon:.4f}", latitude=lat, longitude=lon, timezone=_text(body.get("timezone"))
        )
    elif location.timezone is None:
        location = location.model_copy(update={"timezone": _text(body.get("timezone"))})

    time = now.get("time")
    if not isinstance(time, str) or len(time) < 10:
        raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} response has no current.time")
    temperature = _number(now, "temperature_2m", "current")
    apparent = _number(now, "apparent_temperature", "current")
    precipitation = _number(now, "precipitation", "current")
    wind = _number(now, "wind_speed_10m", "current")
    direction = _number(now, "wind_direction_10m", "current")
    code = _int(_number(now, "weather_code", "current"))
    current = CurrentConditions(
        time=time,
        temperature=None if temperature is None else u.round_temperature(temperature),
        apparent_temperature=None if apparent is None else u.round_temperature(apparent),
        relative_humidity=_int(_number(now, "relative_humidity_2m", "current")),
        precipitation=None if precipitation is None else u.round_precipitation(precipitation, units),
        weather_code=code,
        description=describe(code),
        wind_speed=None if wind is None else u.round_wind(wind),
        wind_direction=_int(direction),
        wind_direction_compass=None if direction is None else u.compass_point(direction),
    )
    daily = _daily(daily_raw, request)
    if not daily:
        raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} returned no daily forecast")
    try:
        as_of = dt.date.fromisoformat(time[:10])
    except ValueError:
        raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} sent an unreadable current.time {time!r}") from None
    return WeatherReport(
        provider=OpenMeteoProvider.name,
        live=True,
        as_of=as_of,
        observed_at=time,
        location=location,
        alternatives=alternatives,
        units=units,
        unit_labels=labels,
        current=current,
        daily=daily,
        summary=summarize(location, current, daily, labels, live=True, as_of=as_of, alternatives=alternatives),
        attribution=ATTRIBUTION,
    )


def _daily(section: Mapping[str, Any], request: WeatherRequest) -> list[DailyForecast]:
    dates = section.get("time")
    if not isinstance(dates, list):
        raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} response has no daily.time list")
    columns: dict[str, list[Any]] = {}
    for key in DAILY_FIELDS:
        column = section.get(key)
        if column is None:
            column = [None] * len(dates)
        if not isinstance(column, list) or len(column) != len(dates):
            raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} daily.{key} does not line up with daily.time")
        columns[key] = column
    units = request.units
    days: list[DailyForecast] = []
    for index, raw_date in enumerate(dates[: request.days]):
        row = {key: columns[key][index] for key in DAILY_FIELDS}
        try:
            date = dt.date.fromisoformat(str(raw_date))
        except ValueError:
            raise ToolError(ErrorCode.UPSTREAM_ERROR, f"{FORECAST} sent an unreadable date {raw_date!r}") from None
        high = _number(row, "temperature_2m_max", "daily")
        low = _number(row, "temperature_2m_min", "daily")
        rain = _number(row, "precipitation_sum", "daily")
        wind = _number(row, "wind_speed_10m_max", "daily")
        code = _int(_number(row, "weather_code", "daily"))
        days.append(
            DailyForecast(
                date=date,
                weather_code=code,
                description=describe(code),
                temperature_max=None if high is None else u.round_temperature(high),
                temperature_min=None if low is None else u.round_temperature(low),
                precipitation_sum=None if rain is None else u.round_precipitation(rain, units),
                precipitation_probability_max=_int(_number(row, "precipitation_probability_max", "daily")),
                wind_speed_max=None if wind is None else u.round_wind(wind),
            )
        )
    return days
