"""Checks a :class:`WeatherRequest` and turns it into a place query or a coordinate query.

Every provider calls :func:`parse_request` first, so bad input fails the same way, with the same codes,
whichever provider is configured.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from tools._text import checked_text
from tools.errors import ErrorCode, ToolError
from tools.weather.models import WeatherRequest

MAX_LOCATION_CHARS = 200

# "48.85, 2.35" typed into the name field is a coordinate pair, not a city called that.
_COORDINATE_TEXT = re.compile(r"^\s*([+-]?\d{1,3}(?:\.\d+)?)\s*[,;\s]\s*([+-]?\d{1,3}(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class PlaceQuery:
    """A place name plus optional qualifiers (country, country code, region), as typed."""

    name: str
    qualifiers: tuple[str, ...]

    @property
    def text(self) -> str:
        return ", ".join([self.name, *self.qualifiers])


@dataclass(frozen=True)
class PointQuery:
    latitude: float
    longitude: float


Query = PlaceQuery | PointQuery


def parse_request(request: WeatherRequest, *, max_days: int, provider: str) -> Query:
    """Validate the request for a provider that forecasts up to ``max_days`` days; raise ToolError if bad."""
    _check_days(request.days, max_days, provider)
    location = request.location
    has_point = request.latitude is not None or request.longitude is not None
    # Models often fill every field; a blank name next to coordinates means "use the coordinates".
    if location is not None and location.strip() == "" and has_point:
        location = None
    if location is not None and has_point:
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            "give either a location name or latitude and longitude, not both",
        )
    if location is not None:
        return parse_location_text(location)
    if not has_point:
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            "no location given: pass a city name in 'location' (e.g. 'Paris, FR') or both 'latitude' and 'longitude'",
        )
    if request.latitude is None or request.longitude is None:
        missing = "longitude" if request.longitude is None else "latitude"
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"{missing} is missing: coordinates need both values")
    return check_point(request.latitude, request.longitude)


def _check_days(days: int, max_days: int, provider: str) -> None:
    if isinstance(days, bool) or not isinstance(days, int):
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"days must be a whole number, got {days!r}")
    if not 1 <= days <= max_days:
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            f"days must be between 1 and {max_days} for the {provider} provider, got {days}",
            limit=max_days,
        )


def check_point(latitude: float, longitude: float) -> PointQuery:
    for label, value, bound in (("latitude", latitude, 90.0), ("longitude", longitude, 180.0)):
        if not math.isfinite(value):
            raise ToolError(ErrorCode.INVALID_ARGUMENT, f"{label} must be a finite number, got {value}")
        if not -bound <= value <= bound:
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"{label} must be between -{bound:g} and {bound:g} degrees, got {value:g}",
            )
    return PointQuery(latitude=float(latitude), longitude=float(longitude))


def parse_location_text(text: str) -> Query:
    """Split 'Portland, Oregon, US' into name and qualifiers after checking size and characters."""
    stripped = checked_text(text, "location", MAX_LOCATION_CHARS, empty_hint="give a city name such as 'Paris, FR'")
    for position, ch in enumerate(stripped, start=1):
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"location contains control character U+{ord(ch):04X} at position {position}; "
                "send the place name as plain text",
                position=position,
            )
    pair = _COORDINATE_TEXT.match(stripped)
    if pair:
        return check_point(float(pair.group(1)), float(pair.group(2)))
    parts = [part.strip() for part in stripped.split(",")]
    name, qualifiers = parts[0], tuple(part for part in parts[1:] if part)
    if not name:
        raise ToolError(
            ErrorCode.EMPTY_INPUT,
            f"location '{stripped}' has no place name before the first comma",
        )
    if not any(ch.isalpha() for ch in name):
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            f"location '{name}' contains no letters: give a place name, or latitude and longitude as numbers",
        )
    return PlaceQuery(name=name, qualifiers=qualifiers)
