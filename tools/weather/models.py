"""Pydantic models the weather tool takes and returns (field descriptions double as the tool's schema)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator


class WeatherRequest(BaseModel):
    """Where and how much weather to report. Give either ``location`` or both coordinates, never both."""

    location: str | None = Field(
        default=None,
        description=(
            "City name, optionally qualified by country, country code or region after commas, e.g. 'Paris', "
            "'Paris, FR', 'Portland, Oregon', 'London, CA'. Accents and case are ignored. "
            "Leave empty when giving latitude and longitude."
        ),
    )
    latitude: float | None = Field(
        default=None,
        description="Latitude in decimal degrees (-90 to 90), together with longitude instead of a name.",
        json_schema_extra={"minimum": -90, "maximum": 90},
    )
    longitude: float | None = Field(
        default=None,
        description="Longitude in decimal degrees (-180 to 180), together with latitude instead of a name.",
        json_schema_extra={"minimum": -180, "maximum": 180},
    )
    days: int = Field(
        default=3,
        description="Number of forecast days including today: 1 to 7 (offline provider) or 1 to 16 (open-meteo).",
        json_schema_extra={"minimum": 1, "maximum": 16},
    )
    units: Literal["metric", "imperial"] = Field(
        default="metric",
        description="'metric' (°C, km/h, mm) or 'imperial' (°F, mph, inch).",
    )

    @field_validator("units", mode="before")
    @classmethod
    def _fold_units(cls, value: Any) -> Any:
        # Models write 'Metric' or ' imperial'; the meaning is unambiguous, so accept it.
        return value.strip().lower() if isinstance(value, str) else value


class Place(BaseModel):
    """What names and locates a place: shared by the resolved location and its alternatives."""

    name: str = Field(description="Place name, e.g. 'Portland'.")
    country: str | None = Field(default=None, description="Country name, e.g. 'United States'.")
    country_code: str | None = Field(default=None, description="ISO 3166-1 alpha-2 code, e.g. 'US'.")
    admin1: str | None = Field(default=None, description="First-level region (state, province), e.g. 'Oregon'.")
    latitude: float = Field(description="Latitude in decimal degrees.")
    longitude: float = Field(description="Longitude in decimal degrees.")


class Location(Place):
    """The place a report is for, as resolved by the provider."""

    timezone: str | None = Field(default=None, description="IANA time zone, e.g. 'America/Los_Angeles'.")
    population: int | None = Field(default=None, description="Population, when known.")
    distance_km: float | None = Field(
        default=None,
        description="For coordinate look-ups in the offline data set: distance from the requested point.",
    )

    @property
    def label(self) -> str:
        """'Portland, Oregon, United States' style name for messages and summaries."""
        parts = [self.name]
        if self.admin1 and self.admin1 != self.name:
            parts.append(self.admin1)
        if self.country:
            parts.append(self.country)
        return ", ".join(parts)


class Alternative(Place):
    """Another place with the requested name, passed over because the resolved one is far more populous."""

    population: int | None = Field(default=None, description="Population, when known.")
    query: str = Field(description="Qualified name that selects exactly this place, e.g. 'Paris, Texas, US'.")


class UnitLabels(BaseModel):
    """Unit of each kind of value in a report."""

    temperature: str = Field(description="'°C' or '°F'.")
    wind_speed: str = Field(description="'km/h' or 'mph'.")
    precipitation: str = Field(description="'mm' or 'inch'.")
    relative_humidity: str = Field(default="%", description="Always '%'.")
    precipitation_probability: str = Field(default="%", description="Always '%'.")
    wind_direction: str = Field(default="°", description="Degrees, direction the wind blows from.")


class CurrentConditions(BaseModel):
    """Conditions at the observation time."""

    time: str = Field(description="Local time of the observation, ISO 8601 without offset (YYYY-MM-DDTHH:MM).")
    temperature: float | None = Field(description="Air temperature at 2 m.")
    apparent_temperature: float | None = Field(description="Feels-like temperature (humidity and wind).")
    relative_humidity: int | None = Field(description="Relative humidity at 2 m, per cent.")
    precipitation: float | None = Field(description="Precipitation in the preceding interval.")
    weather_code: int | None = Field(description="WMO weather code.")
    description: str = Field(description="Plain-English weather, e.g. 'Partly cloudy'.")
    wind_speed: float | None = Field(description="Wind speed at 10 m.")
    wind_direction: int | None = Field(description="Wind direction at 10 m in degrees (where it blows from).")
    wind_direction_compass: str | None = Field(description="Wind direction as a compass point, e.g. 'NW'.")


class DailyForecast(BaseModel):
    """One day of the forecast; a value is null when the provider did not report it."""

    date: dt.date = Field(description="Local date.")
    weather_code: int | None = Field(description="Most severe WMO weather code of the day.")
    description: str = Field(description="Plain-English weather of the day.")
    temperature_max: float | None = Field(description="Daily maximum temperature.")
    temperature_min: float | None = Field(description="Daily minimum temperature.")
    precipitation_sum: float | None = Field(description="Total precipitation of the day.")
    precipitation_probability_max: int | None = Field(description="Highest chance of precipitation, per cent.")
    wind_speed_max: float | None = Field(description="Maximum wind speed of the day.")


class WeatherReport(BaseModel):
    """Current conditions and a daily forecast for one place."""

    provider: str = Field(description="Provider that produced the report: 'offline' or 'open-meteo'.")
    live: bool = Field(description="False for the bundled offline data set, which is NOT today's weather.")
    as_of: dt.date = Field(
        description=(
            "Date the report refers to (first forecast day). Offline: the fixed date of the bundled data set, "
            "not today. Open-Meteo: today's date at the location."
        ),
    )
    observed_at: str = Field(description="Local time of the current conditions (YYYY-MM-DDTHH:MM).")
    location: Location = Field(description="The resolved place.")
    alternatives: list[Alternative] = Field(
        default_factory=list,
        description=(
            "Other places the requested name fits, most populous first. Non-empty only when a name shared by "
            "several places, such as a bare 'Paris', was resolved to its by far most populous namesake (at "
            "least 10 times the population of the next): say which place you assumed ('assuming Paris, "
            "France') and, if the user meant another, call again with that alternative's `query`. Empty when "
            "the name (with its qualifiers) fits one place, and for coordinates."
        ),
    )
    units: Literal["metric", "imperial"] = Field(description="Unit system of every value.")
    unit_labels: UnitLabels = Field(description="Unit of each kind of value.")
    current: CurrentConditions = Field(description="Current conditions.")
    daily: list[DailyForecast] = Field(description="One entry per forecast day, starting with as_of.")
    summary: str = Field(description="One-sentence plain-English summary of the report.")
    attribution: str = Field(description="Data source and licence or, offline, a note that the data is sample data.")
