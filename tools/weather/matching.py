"""Matching place names the way people type them: accents, case, aliases and ", country/region" qualifiers.

Shared by both providers so "Paris, FR" or "Portland, Oregon" means the same thing offline and live, and an
unqualified name that fits several places is refused (``AMBIGUOUS``) rather than silently guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from tools.errors import ErrorCode, ToolError
from tools.weather.models import Location

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

    def describe(self) -> str:
        loc = self.location
        population = f"; pop. {loc.population:,}" if loc.population else ""
        country = f"{loc.country}; " if loc.country else ""
        return f"'{self.retry_text}' ({country}lat {loc.latitude:.4f}, lon {loc.longitude:.4f}{population})"


def select(name: str, qualifiers: Sequence[str], candidates: Sequence[Candidate], source: str) -> Candidate:
    """The single candidate the name and qualifiers pick, else NOT_FOUND or AMBIGUOUS naming the options.

    ``candidates`` are the places whose name already matches; ``source`` names where they came from
    ("the offline data set", "Open-Meteo's geocoder") for the messages.
    """
    if not candidates:
        raise ToolError(ErrorCode.NOT_FOUND, f"no place named '{name}' in {source}", query=name)
    chosen = [c for c in candidates if c.matches(qualifiers)] if qualifiers else list(candidates)
    if not chosen:
        wanted = ", ".join(qualifiers)
        options = "; ".join(c.describe() for c in candidates[:10])
        raise ToolError(
            ErrorCode.NOT_FOUND,
            f"'{name}' exists in {source} but none matches '{wanted}'; the places named '{name}' are: {options}",
            query=name,
            qualifiers=list(qualifiers),
            candidates=[c.retry_text for c in candidates[:10]],
        )
    if len(chosen) == 1:
        return chosen[0]
    # Most populous first: the likeliest intent leads the list the caller picks from.
    ranked = sorted(chosen, key=lambda c: -(c.location.population or 0))
    shown = ranked[:10]
    more = f" and {len(ranked) - len(shown)} more" if len(ranked) > len(shown) else ""
    hint = "add a country, country code or region after a comma"
    if len({c.retry_text for c in shown}) < len(shown):
        hint += ", or give latitude and longitude"
    raise ToolError(
        ErrorCode.AMBIGUOUS,
        f"'{', '.join([name, *qualifiers])}' matches {len(ranked)} places in {source}: "
        f"{'; '.join(c.describe() for c in shown)}{more}. Retry with one of these names ({hint}).",
        query=name,
        candidates=[c.retry_text for c in shown],
    )
