"""One-sentence plain-English summary of a report, identical in form for every provider."""

from __future__ import annotations

import datetime as dt

from tools.weather.models import CurrentConditions, DailyForecast, Location, UnitLabels


def _value(value: float | int | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}{unit}" if unit in ("°C", "°F", "%") else f"{value:g} {unit}"


def summarize(
    location: Location,
    current: CurrentConditions,
    daily: list[DailyForecast],
    labels: UnitLabels,
    *,
    live: bool,
    as_of: dt.date,
) -> str:
    t, w = labels.temperature, labels.wind_speed
    text = (
        f"{location.label}: {current.description.lower()}, {_value(current.temperature, t)} "
        f"(feels like {_value(current.apparent_temperature, t)}), humidity "
        f"{_value(current.relative_humidity, '%')}, wind {_value(current.wind_speed, w)}"
    )
    if current.wind_direction_compass:
        text += f" from {current.wind_direction_compass}"
    text += "."
    if daily:
        today = daily[0]
        text += (
            f" {today.date.isoformat()}: {today.description.lower()}, low {_value(today.temperature_min, t)}, "
            f"high {_value(today.temperature_max, t)}, "
            f"{_value(today.precipitation_probability_max, '%')} chance of precipitation."
        )
    if not live:
        text += f" Offline sample data dated {as_of.isoformat()}, not live weather."
    return text
