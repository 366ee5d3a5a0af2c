"""Matching place names the way people type them: accents, case, aliases and ", country/region" qualifiers.

Shared by both providers so "Paris, FR" or "Portland, Oregon" means the same thing offline and live. A name
that fits several places resolves to the most populous one only when it clearly dominates (at least
:data:`DOMINANCE_RATIO` times the population of the next), the way geocoders rank "Paris" or "London", and
the report lists the namesakes passed over; when no place dominates (Portland, Oregon or Maine; the three
Springfields) the name is refused (``AMBIGUOUS``) rather than guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from tools.errors import ErrorCode, ToolError
from tools.weather.models import Alternative, Location

# "Paris" means Paris, France (2.1 M people, 86 times Paris, Texas), but "Portland" (Oregon 653 k, Maine
# 68 k: 9.5 times) is a real question: a tenfold gap is where nearly everyone means the bigger place.
DOMINANCE_RATIO = 10
# Most places named in an AMBIGUOUS error or in a report's alternatives.
MAX_LISTED = 10

# Letters that Unicode decomposition leaves alone but people type without the stroke or ligature.
_FOLD = str.maketrans(
    {"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "đ": "d", "Đ": "d", "ł": "l", "Ł": "l",
     "þ": "th", "Þ": "th", "ð": "d", "Ð": "d", "ı": "i"}
)  # fmt: skip

# Country names in everyday use that differ from the official name the providers report.
COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("usa", "us", "united states", "united states of america", "america"),
    "GB": ("uk", "united kingdom", "great britain", "britain"),
    "AE": ("uae", "emirates"),
    "NL": ("holland", "the netherlands"),
    "KR": ("korea", "south korea", "republic of korea"),
    "RU": ("russian federation",),
    "CZ": ("czech republic", "czechia"),
    "HK": ("hong kong sar",),
}


def normalize(text: str) -> str:
    """Comparable form of a name: no accents, case-folded, punctuation dropped, single spaces."""
    folded = text.translate(_FOLD)
    decomposed = unicodedata.normalize("NFKD", folded)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
    lowered = kept.casefold()
    lowered = re.sub(r"[.'’`]", "", lowered)
    lowered = re.sub(r"[\s\-_/]+", " ", lowered)
    return lowered.strip()


@dataclass(frozen=True)
class Candidate:
    """A place a name could refer to; ``key`` lets the provider find its own record again."""

    key: str
    location: Location
    admin1_code: str | None = None
    aliases: tuple[str, ...] = field(default=())

    def qualifier_terms(self) -> set[str]:
        loc = self.location
        raw = [loc.country, loc.country_code, loc.admin1, self.admin1_code]
        terms = {normalize(term) for term in raw if term}
        if loc.country_code:
            terms.update(COUNTRY_ALIASES.get(loc.country_code.upper(), ()))
        return terms

    def matches(self, qualifiers: Sequence[str]) -> bool:
        terms = self.qualifier_terms()
        return all(normalize(q) in terms for q in qualifiers)

    @property
    def retry_text(self) -> str:
        """The qualified name a caller can send back to select exactly this place."""
        loc = self.location
        parts = [loc.name]
        if loc.admin1 and normalize(loc.admin1) != normalize(loc.name):
            parts.append(loc.admin1)
        if loc.country_code:
            parts.append(loc.country_code)
        return ", ".join(parts)

    @property
    def population(self) -> int:
        """Population, 0 when unknown: a place of unknown size never outranks or dominates a known one."""
        return self.location.population or 0

    def alternative(self) -> Alternative:
        """This place as an entry of a report's ``alternatives``."""
        return Alternative(**self.location.model_dump(include=set(Alternative.model_fields)), query=self.retry_text)

    def describe(self) -> str:
        loc = self.location
        population = f"; pop. {loc.population:,}" if loc.population else ""
        country = f"{loc.country}; " if loc.country else ""
        return f"'{self.retry_text}' ({country}lat {loc.latitude:.4f}, lon {loc.longitude:.4f}{population})"


@dataclass(frozen=True)
class Resolution:
    """The place a query resolved to and the namesakes it was preferred over (most populous first)."""

    candidate: Candidate
    passed_over: tuple[Candidate, ...] = ()

    @property
    def alternatives(self) -> list[Alternative]:
        return [c.alternative() for c in self.passed_over]


def dominates(first: Candidate, second: Candidate) -> bool:
    """Whether ``first`` is populous enough (known, and ``DOMINANCE_RATIO`` times ``second``) to be assumed."""
    return first.population > 0 and first.population >= DOMINANCE_RATIO * second.population


def select(name: str, qualifiers: Sequence[str], candidates: Sequence[Candidate], source: str) -> Resolution:
    """The candidate the name and qualifiers pick, else NOT_FOUND or AMBIGUOUS naming the options.

    Several matches resolve to the most populous when it :func:`dominates` the next; the others come back as
    ``passed_over``. ``candidates`` are the places whose name already matches; ``source`` names where they
    came from ("the offline data set", "Open-Meteo's geocoder") for the messages.
    """
    if not candidates:
        raise ToolError(ErrorCode.NOT_FOUND, f"no place named '{name}' in {source}", query=name)
    chosen = [c for c in candidates if c.matches(qualifiers)] if qualifiers else list(candidates)
    if not chosen:
        wanted = ", ".join(qualifiers)
        options = "; ".join(c.describe() for c in candidates[:MAX_LISTED])
        raise ToolError(
            ErrorCode.NOT_FOUND,
            f"'{name}' exists in {source} but none matches '{wanted}'; the places named '{name}' are: {options}",
            query=name,
            qualifiers=list(qualifiers),
            candidates=[c.retry_text for c in candidates[:MAX_LISTED]],
        )
    if len(chosen) == 1:
        return Resolution(chosen[0])
    # Most populous first (stable, so equal or unknown populations keep the source's order): the likeliest
    # intent leads, whether it is assumed or heads the list the caller picks from.
    ranked = sorted(chosen, key=lambda c: -c.population)
    if dominates(ranked[0], ranked[1]):
        return Resolution(ranked[0], tuple(ranked[1:MAX_LISTED]))
    shown = ranked[:MAX_LISTED]
    more = f" and {len(ranked) - len(shown)} more" if len(ranked) > len(shown) else ""
    hint = "add a country, country code or region after a comma"
    if len({c.retry_text for c in shown}) < len(shown):
        hint += ", or give latitude and longitude"
    raise ToolError(
        ErrorCode.AMBIGUOUS,
        f"'{', '.join([name, *qualifiers])}' matches {len(ranked)} places in {source}, none {DOMINANCE_RATIO} "
        f"times as populous as the next: {'; '.join(c.describe() for c in shown)}{more}. "
        f"Retry with one of these names ({hint}).",
        query=name,
        candidates=[c.retry_text for c in shown],
    )
