"""Checking a final answer's text against a task's answer checks (contains, regex, number, not_contains, and
python_tests: hidden tests run on the answer's code, :mod:`benchmark.scoring.hidden_tests`)."""

from __future__ import annotations

import re

from benchmark.records import CheckResult
from benchmark.scoring.hidden_tests import run_hidden_tests
from benchmark.scoring.numbers import close_enough, numbers_in
from benchmark.tasks.models import AnswerCheck


def _number_label(check: AnswerCheck) -> str:
    assert check.number is not None
    return f"{check.number:g}" + (f" ±{check.tolerance:g}" if check.tolerance else "")


def check_answer(check: AnswerCheck, text: str) -> CheckResult:
    """One check's verdict with a detail saying what was found when it fails."""
    if check.python_tests is not None:
        return run_hidden_tests(text, check.python_tests)
    if check.contains is not None:
        ok = check.contains.casefold() in text.casefold()
        return CheckResult(kind="contains", expected=check.contains, ok=ok, detail="" if ok else "not in the answer")
    if check.not_contains is not None:
        ok = check.not_contains.casefold() not in text.casefold()
        return CheckResult(
            kind="not_contains", expected=check.not_contains, ok=ok, detail="" if ok else "present in the answer"
        )
    if check.regex is not None:
        try:
            ok = re.search(check.regex, text) is not None
        except re.error as exc:
            return CheckResult(kind="regex", expected=check.regex, ok=False, detail=f"invalid regex: {exc}")
        return CheckResult(kind="regex", expected=check.regex, ok=ok, detail="" if ok else "no match in the answer")
    assert check.number is not None  # the model allows exactly one kind of check
    found = numbers_in(text)
    ok = any(close_enough(value, check.number, check.tolerance) for value in found)
    seen = ", ".join(f"{v:g}" for v in found[:8]) or "none"
    return CheckResult(
        kind="number", expected=_number_label(check), ok=ok, detail="" if ok else f"numbers seen: {seen}"
    )
