"""One-sentence plain-English summary of a report, identical in form for every provider."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tools.weather.models import Alternative, CurrentConditions, DailyForecast, Location, UnitLabels

# Namesakes spelled out in the sentence; the report's ``alternatives`` lists them all.
_NAMED_ALTERNATIVES = 3


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
    alternatives: Sequence[Alternative],
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
    if alternatives:
        # Said in the sentence too, so a model that only reads the summary still states its assumption.
        named = "; ".join(a.query for a in alternatives[:_NAMED_ALTERNATIVES])
        more = len(alternatives) - _NAMED_ALTERNATIVES
        text += (
            f" Assumed the most populous {location.name}; other places of that name: {named}"
            f"{f' and {more} more' if more > 0 else ''}."
        )
    if not live:
        text += f" Offline sample data dated {as_of.isoformat()}, not live weather."
    return text
