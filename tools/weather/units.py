"""Metric and imperial units: labels, conversions from metric and the rounding every report uses.

Temperatures and wind speeds are rounded to one decimal. Precipitation keeps one decimal in millimetres but
two in inches, because a tenth of an inch (2.5 mm) would erase most light rain.
"""

from __future__ import annotations

from typing import Literal

from tools.weather.models import UnitLabels

Units = Literal["metric", "imperial"]

KM_PER_MILE = 1.609344
MM_PER_INCH = 25.4

METRIC_LABELS = UnitLabels(temperature="°C", wind_speed="km/h", precipitation="mm")
IMPERIAL_LABELS = UnitLabels(temperature="°F", wind_speed="mph", precipitation="inch")


def labels(units: Units) -> UnitLabels:
    return IMPERIAL_LABELS if units == "imperial" else METRIC_LABELS


def round_temperature(value: float) -> float:
    return round(value, 1)


def round_wind(value: float) -> float:
    return round(value, 1)


def round_precipitation(value: float, units: Units) -> float:
    return round(value, 2 if units == "imperial" else 1)


def temperature_from_celsius(celsius: float, units: Units) -> float:
    value = celsius * 9 / 5 + 32 if units == "imperial" else celsius
    return round_temperature(value)


def wind_from_kmh(kmh: float, units: Units) -> float:
    value = kmh / KM_PER_MILE if units == "imperial" else kmh
    return round_wind(value)


def precipitation_from_mm(mm: float, units: Units) -> float:
    value = mm / MM_PER_INCH if units == "imperial" else mm
    return round_precipitation(value, units)


_COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")


def compass_point(degrees: float) -> str:
    """16-point compass name of the direction the wind blows *from* (meteorological convention)."""
    return _COMPASS[round((degrees % 360) / 22.5) % 16]
