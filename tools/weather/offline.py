"""The default ``offline`` provider: a bundled, fixed data set of real cities with deterministic weather.

Answers never depend on the clock: every report is for the data set's ``as_of`` date (stored in
``tools/data/weather/cities.json``, built by :mod:`tools.weather.build_data`), which the report states, and
``live`` is False so nobody mistakes it for today's weather. Values are stored in metric units and converted
here.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ValidationError

from tools._paths import DATA_DIR
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
from tools.weather.query import PlaceQuery, PointQuery, parse_request
from tools.weather.summary import summarize

DATA_FILE = DATA_DIR / "weather" / "cities.json"
MAX_DAYS = 7
MAX_DISTANCE_KM = 150.0
EARTH_RADIUS_KM = 6371.0088
SOURCE = "the offline data set"


class _CurrentRecord(BaseModel):
    time: str
    temperature: float
    apparent_temperature: float
    relative_humidity: int
    precipitation: float
    weather_code: int
    wind_speed: float
    wind_direction: int


class _DayRecord(BaseModel):
    date: dt.date
    weather_code: int
    temperature_max: float
    temperature_min: float
    precipitation_sum: float
    precipitation_probability_max: int
    wind_speed_max: float


class _CityRecord(BaseModel):
    id: str
    name: str
    country: str
    country_code: str
    admin1: str | None
    admin1_code: str | None
    latitude: float
    longitude: float
    timezone: str
    population: int
    aliases: list[str]
    current: _CurrentRecord
    daily: list[_DayRecord]

    def location(self, distance_km: float | None = None) -> Location:
        return Location(
            name=self.name,
            country=self.country,
            country_code=self.country_code,
            admin1=self.admin1,
            latitude=self.latitude,
            longitude=self.longitude,
            timezone=self.timezone,
            population=self.population,
            distance_km=distance_km,
        )


class _DatasetRecord(BaseModel):
    as_of: dt.date
    notice: str
    cities: list[_CityRecord]


class OfflineDataset:
    """The loaded data set with a name index (names and aliases, normalised) over its cities."""

    def __init__(self, record: _DatasetRecord) -> None:
        self.as_of = record.as_of
        self.notice = record.notice
        self.cities = {city.id: city for city in record.cities}
        self.index: dict[str, list[Candidate]] = {}
        for city in record.cities:
            candidate = Candidate(
                key=city.id,
                location=city.location(),
                admin1_code=city.admin1_code,
                aliases=tuple(city.aliases),
            )
            for name in {normalize(n) for n in (city.name, *city.aliases)}:
                self.index.setdefault(name, []).append(candidate)


@lru_cache(maxsize=4)
def load_dataset(path: Path = DATA_FILE) -> OfflineDataset:
    """Read and check the data set once per process (per path)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return OfflineDataset(_DatasetRecord.model_validate(raw))
    except FileNotFoundError:
        raise ToolError(
            ErrorCode.NOT_CONFIGURED,
            f"offline weather data set not found at {path}; regenerate it with python -m tools.weather.build_data",
        ) from None
    except (ValueError, ValidationError) as exc:
        raise ToolError(ErrorCode.NOT_CONFIGURED, f"offline weather data set at {path} is malformed: {exc}") from None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


class OfflineProvider:
    """Deterministic weather for the bundled cities, for the data set's fixed ``as_of`` date."""

    name = "offline"
    max_days = MAX_DAYS

    def __init__(self, data_file: Path | str | None = None, max_distance_km: float = MAX_DISTANCE_KM) -> None:
        self._path = Path(data_file) if data_file is not None else DATA_FILE
        if not max_distance_km > 0:
            raise ToolError(ErrorCode.INVALID_ARGUMENT, f"max_distance_km must be positive, got {max_distance_km}")
        self.max_distance_km = float(max_distance_km)

    @property
    def dataset(self) -> OfflineDataset:
        return load_dataset(self._path)

    def locations(self) -> list[Location]:
        """Every bundled city, for listings and help texts."""
        return [city.location() for city in self.dataset.cities.values()]

    async def report(self, request: WeatherRequest) -> WeatherReport:
        query = parse_request(request, max_days=self.max_days, provider=self.name)
        if isinstance(query, PointQuery):
            city, distance = self._nearest(query)
            return self._build(city, city.location(distance_km=round(distance, 1)), [], request)
        resolution = self._find(query)
        city = self.dataset.cities[resolution.candidate.key]
        return self._build(city, city.location(), resolution.alternatives, request)

    def _find(self, query: PlaceQuery) -> Resolution:
        dataset = self.dataset
        name, qualifiers = query.name, query.qualifiers
        key = normalize(name)
        candidates = dataset.index.get(key, [])
        if not candidates:
            split = self._split_trailing_qualifier(key)
            if split is not None:
                key, trailing = split
                candidates = dataset.index[key]
                name, qualifiers = candidates[0].location.name, (*qualifiers, trailing)
        if not candidates:
            raise self._not_found(query, key)
        return select(name, qualifiers, candidates, SOURCE)

    def _split_trailing_qualifier(self, key: str) -> tuple[str, str] | None:
        """'portland oregon' -> ('portland', 'oregon') when the words after a known name qualify it."""
        words = key.split(" ")
        for cut in range(len(words) - 1, 0, -1):
            head, tail = " ".join(words[:cut]), " ".join(words[cut:])
            found = self.dataset.index.get(head)
            if found and any(c.matches([tail]) for c in found):
                return head, tail
        return None

    def _not_found(self, query: PlaceQuery, key: str) -> ToolError:
        index = self.dataset.index
        close = difflib.get_close_matches(key, list(index), n=5, cutoff=0.6)
        suggestions = list(dict.fromkeys(c.retry_text for k in close for c in index[k]))[:8]
        hint = f"close matches: {'; '.join(suggestions)}" if suggestions else "no close matches"
        return ToolError(
            ErrorCode.NOT_FOUND,
            f"no city named '{query.name}' in {SOURCE} ({len(self.dataset.cities)} major cities); {hint}. "
            "For other places use the open-meteo provider.",
            query=query.name,
            suggestions=suggestions,
        )

    def _nearest(self, point: PointQuery) -> tuple[_CityRecord, float]:
        city = min(
            self.dataset.cities.values(),
            key=lambda c: haversine_km(point.latitude, point.longitude, c.latitude, c.longitude),
        )
        distance = haversine_km(point.latitude, point.longitude, city.latitude, city.longitude)
        if distance > self.max_distance_km:
            raise ToolError(
                ErrorCode.NOT_FOUND,
                f"no bundled city within {self.max_distance_km:g} km of ({point.latitude:g}, "
                f"{point.longitude:g}); the nearest is {city.location().label}, {distance:.0f} km away",
                nearest=city.name,
                distance_km=round(distance, 1),
                limit_km=self.max_distance_km,
            )
        return city, distance

    def _build(
        self, city: _CityRecord, location: Location, alternatives: list[Alternative], request: WeatherRequest
    ) -> WeatherReport:
        units, dataset = request.units, self.dataset
        now = city.current
        current = CurrentConditions(
            time=now.time,
            temperature=u.temperature_from_celsius(now.temperature, units),
            apparent_temperature=u.temperature_from_celsius(now.apparent_temperature, units),
            relative_humidity=now.relative_humidity,
            precipitation=u.precipitation_from_mm(now.precipitation, units),
            weather_code=now.weather_code,
            description=describe(now.weather_code),
            wind_speed=u.wind_from_kmh(now.wind_speed, units),
            wind_direction=now.wind_direction,
            wind_direction_compass=u.compass_point(now.wind_direction),
        )
        daily = [
            DailyForecast(
                date=day.date,
                weather_code=day.weather_code,
                description=describe(day.weather_code),
                temperature_max=u.temperature_from_celsius(day.temperature_max, units),
                temperature_min=u.temperature_from_celsius(day.temperature_min, units),
                precipitation_sum=u.precipitation_from_mm(day.precipitation_sum, units),
                precipitation_probability_max=day.precipitation_probability_max,
                wind_speed_max=u.wind_from_kmh(day.wind_speed_max, units),
            )
            for day in city.daily[: request.days]
        ]
        labels = u.labels(units)
        return WeatherReport(
            provider=self.name,
            live=False,
            as_of=dataset.as_of,
            observed_at=now.time,
            location=location,
            alternatives=alternatives,
            units=units,
            unit_labels=labels,
            current=current,
            daily=daily,
            summary=summarize(
                location, current, daily, labels, live=False, as_of=dataset.as_of, alternatives=alternatives
            ),
            attribution=f"afbench offline sample data as of {dataset.as_of.isoformat()}. {dataset.notice}",
        )
