"""A stand-in for Open-Meteo's geocoding and forecast APIs, as an ASGI app for ``tests.loopback``.

It answers in Open-Meteo's JSON shapes (geocoding ``results``; forecast ``current``/``current_units``/
``daily``/``daily_units``; errors as ``{"error": true, "reason": ...}`` with HTTP 400), honours the unit and
``forecast_days`` parameters like the real service, records every request, and can be told to fail, stall
or answer something else for the next N requests to a path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SEARCH_PATH = "/v1/search"
FORECAST_PATH = "/v1/forecast"
FAKE_TODAY = dt.date(2026, 3, 2)

PLACES: list[dict[str, Any]] = [
    {"id": 2950159, "name": "Berlin", "latitude": 52.52437, "longitude": 13.41053, "elevation": 74.0,
     "feature_code": "PPLC", "country_code": "DE", "country": "Germany", "admin1": "Land Berlin",
     "timezone": "Europe/Berlin", "population": 3426354, "postcodes": ["10967"]},
    {"id": 5746545, "name": "Portland", "latitude": 45.52345, "longitude": -122.67621, "elevation": 15.0,
     "feature_code": "PPLA2", "country_code": "US", "country": "United States", "admin1": "Oregon",
     "timezone": "America/Los_Angeles", "population": 652503},
    {"id": 4975802, "name": "Portland", "latitude": 43.66147, "longitude": -70.25533, "elevation": 9.0,
     "feature_code": "PPLA2", "country_code": "US", "country": "United States", "admin1": "Maine",
     "timezone": "America/New_York", "population": 66881},
    # Paris, France is 88 times Paris, Texas: the geocoder's ranking and the tool both assume France.
    {"id": 2988507, "name": "Paris", "latitude": 48.85341, "longitude": 2.3488, "elevation": 42.0,
     "feature_code": "PPLC", "country_code": "FR", "country": "France", "admin1": "Île-de-France",
     "timezone": "Europe/Paris", "population": 2138551},
    {"id": 4717560, "name": "Paris", "latitude": 33.66094, "longitude": -95.55551, "elevation": 183.0,
     "feature_code": "PPLA2", "country_code": "US", "country": "United States", "admin1": "Texas",
     "timezone": "America/Chicago", "population": 24171},
    {"id": 2147714, "name": "Sydney", "latitude": -33.86785, "longitude": 151.20732, "elevation": 58.0,
     "feature_code": "PPLA", "country_code": "AU", "country": "Australia", "admin1": "New South Wales",
     "timezone": "Australia/Sydney", "population": 4627345},
]  # fmt: skip

# Metric values the fake reports; imperial answers are converted from these like the real service does.
CURRENT_METRIC = {
    "temperature_2m": 21.3,
    "relative_humidity_2m": 64,
    "apparent_temperature": 20.4,
    "precipitation": 0.8,
    "weather_code": 2,
    "wind_speed_10m": 14.4,
    "wind_direction_10m": 225,
}
DAILY_CODES = (2, 61, 3, 95, 0, 45, 80, 71)


def daily_metric(day: int) -> dict[str, Any]:
    return {
        "weather_code": DAILY_CODES[day % len(DAILY_CODES)],
        "temperature_2m_max": 24.0 + day,
        "temperature_2m_min": 14.5 + day / 2,
        "precipitation_sum": [0.0, 5.1, 0.0, 12.7][day % 4],
        "precipitation_probability_max": None if day >= 14 else (day * 7) % 100,
        "wind_speed_10m_max": 20.0 + day,
    }


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class Planned:
    status: int | None = None  # None: answer normally (after ``delay``)
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeOpenMeteo:
    """Serve :attr:`app` with ``tests.loopback.serve_in_thread`` and set :attr:`base_url` to its URL."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.base_url = ""
        self._plans: dict[str, deque[Planned]] = {}
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route(SEARCH_PATH, self._endpoint), Route(FORECAST_PATH, self._endpoint)])

    @property
    def geocoding_url(self) -> str:
        return self.base_url + SEARCH_PATH

    @property
    def forecast_url(self) -> str:
        return self.base_url + FORECAST_PATH

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._plans.clear()

    def plan(self, path: str, *responses: Planned) -> None:
        """Answer the next requests to ``path`` with ``responses``, in order; then behave normally."""
        with self._lock:
            self._plans.setdefault(path, deque()).extend(responses)

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    async def _endpoint(self, request: Request) -> Response:
        path = request.url.path
        query = dict(request.query_params)
        with self._lock:
            self.requests.append(Recorded(path, query, dict(request.headers), time.monotonic()))
            queue = self._plans.get(path)
            planned = queue.popleft() if queue else None
        if planned is not None and planned.delay:
            await asyncio.sleep(planned.delay)
        if planned is not None and planned.status is not None:
            raw = planned.raw if planned.raw is not None else json.dumps(planned.body).encode()
            return Response(raw, planned.status, headers=planned.headers, media_type="application/json")
        status, body = self._search(query) if path == SEARCH_PATH else self._forecast(query)
        return Response(json.dumps(body, ensure_ascii=False).encode(), status, media_type="application/json")

    # -- the two APIs ----------------------------------------------------------------------------
    @staticmethod
    def _search(query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        name = query.get("name", "")
        try:
            count = int(query.get("count", "10"))
        except ValueError:
            return 400, {"error": True, "reason": "Parameter 'count' must be an integer"}
        if not 1 <= count <= 100:
            return 400, {"error": True, "reason": "Count must be between 1 and 100"}
        matches = [p for p in PLACES if name and p["name"].lower().startswith(name.lower())]
        matches.sort(key=lambda p: -int(p.get("population", 0)))
        body: dict[str, Any] = {"generationtime_ms": 0.42}
        if matches:  # like the real service, no "results" key at all when nothing matches
            body["results"] = matches[:count]
        return 200, body

    @staticmethod
    def _forecast(query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            lat, lon = float(query["latitude"]), float(query["longitude"])
        except (KeyError, ValueError):
            return 400, {"error": True, "reason": "Parameter 'latitude' and 'longitude' must be numbers"}
        if not -90 <= lat <= 90:
            return 400, {"error": True, "reason": f"Latitude must be in range of -90 to 90°. Given: {lat}."}
        days = int(query.get("forecast_days", "7"))
        if not 0 <= days <= 16:
            return 400, {"error": True, "reason": "Forecast days is invalid. Allowed range 0 to 16."}
        fahrenheit = query.get("temperature_unit") == "fahrenheit"
        mph = query.get("wind_speed_unit") == "mph"
        inch = query.get("precipitation_unit") == "inch"

        def temp(c: float) -> float:
            return round(c * 9 / 5 + 32, 1) if fahrenheit else c

        def wind(k: float) -> float:
            return round(k / 1.609344, 1) if mph else k

        def rain(mm: float) -> float:
            return round(mm / 25.4, 3) if inch else mm

        t_unit, w_unit, p_unit = ("°F" if fahrenheit else "°C"), ("mp/h" if mph else "km/h"), ("inch" if inch else "mm")
        now = CURRENT_METRIC
        current = {
            "time": f"{FAKE_TODAY.isoformat()}T14:45",
            "interval": 900,
            "temperature_2m": temp(now["temperature_2m"]),
            "relative_humidity_2m": now["relative_humidity_2m"],
            "apparent_temperature": temp(now["apparent_temperature"]),
            "precipitation": rain(now["precipitation"]),
            "weather_code": now["weather_code"],
            "wind_speed_10m": wind(now["wind_speed_10m"]),
            "wind_direction_10m": now["wind_direction_10m"],
        }
        rows = [daily_metric(d) for d in range(days)]
        daily = {
            "time": [(FAKE_TODAY + dt.timedelta(days=d)).isoformat() for d in range(days)],
            "weather_code": [r["weather_code"] for r in rows],
            "temperature_2m_max": [temp(r["temperature_2m_max"]) for r in rows],
            "temperature_2m_min": [temp(r["temperature_2m_min"]) for r in rows],
            "precipitation_sum": [rain(r["precipitation_sum"]) for r in rows],
            "precipitation_probability_max": [r["precipitation_probability_max"] for r in rows],
            "wind_speed_10m_max": [wind(r["wind_speed_10m_max"]) for r in rows],
        }
        return 200, {
            "latitude": round(lat, 2),
            "longitude": round(lon, 2),
            "generationtime_ms": 0.1,
            "utc_offset_seconds": 3600,
            "timezone": "Europe/Berlin" if 47 < lat < 55 else "GMT",
            "timezone_abbreviation": "CET",
            "elevation": 38.0,
            "current_units": {
                "time": "iso8601", "interval": "seconds", "temperature_2m": t_unit, "relative_humidity_2m": "%",
                "apparent_temperature": t_unit, "precipitation": p_unit, "weather_code": "wmo code",
                "wind_speed_10m": w_unit, "wind_direction_10m": "°",
            },
            "current": current,
            "daily_units": {
                "time": "iso8601", "weather_code": "wmo code", "temperature_2m_max": t_unit,
                "temperature_2m_min": t_unit, "precipitation_sum": p_unit, "precipitation_probability_max": "%",
                "wind_speed_10m_max": w_unit,
            },
            "daily": daily,
        }  # fmt: skip
