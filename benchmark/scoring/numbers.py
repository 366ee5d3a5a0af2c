"""Every number a text states, as a reader would read it: ``1,234.5``, ``-3``, ``−2.5``, ``36%``, ``23,9``.

Thousands separators are commas in groups of three; a minus sign counts only when it does not follow a word
or a digit, so the dashes of ``2024-03-01`` or ``E-102`` are not signs. A comma followed by one or two digits
(``23,9``) is read both ways, as a decimal comma and as a list, so answers in either style are found.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-−–](?=\.?\d))?"  # a sign, only at the start of a token
    r"(?:(?<!\d)(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<frac>\.\d+)?|(?P<bare>\.\d+))"  # 1,234.5 or .5
)
_DECIMAL_COMMA = re.compile(r"(?<![\w.,])(?P<sign>[-−–](?=\d))?(?P<int>\d+),(?P<frac>\d{1,2})(?![\d,])")


def _value(sign: str | None, integer: str, fraction: str | None) -> float:
    value = float(integer.replace(",", "") + (fraction or ""))
    return -value if sign else value


def numbers_in(text: str) -> list[float]:
    """The numbers in ``text`` in order of appearance, decimal-comma readings after the others."""
    found = [_value(m["sign"], m["int"] or "0", m["frac"] or m["bare"]) for m in _NUMBER.finditer(text)]
    found += [_value(m["sign"], m["int"], "." + m["frac"]) for m in _DECIMAL_COMMA.finditer(text)]
    return found


def close_enough(value: float, target: float, tolerance: float) -> bool:
    """Within ``tolerance``, with a hair of slack for binary floating point (0.1 + 0.2)."""
    return abs(value - target) <= tolerance + 1e-9 * max(1.0, abs(target))
