"""Calculator: correct arithmetic, and every kind of bad input answered with its exact error code, fast."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from tools.calculator import MAX_EXPRESSION_CHARS, CalculatorInput, calculate, evaluate
from tools.errors import ErrorCode, ToolError


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("-(3) ** 2", -9),
        ("2 ** -1", 0.5),
        ("7 // 2", 3),
        ("7 % 3", 1),
        ("-7 // 2", -4),
        ("2^10", 1024),
        ("3 × 4 ÷ 2", 6),
        ("sqrt(16) + abs(-2)", 6),
        ("log(100, 10)", 2),
        ("ln(e)", 1),
        ("log10(1000)", 3),
        ("round(2.567, 2)", 2.57),
        ("min(3, 1, 2) + max(4, 9)", 10),
        ("sin(pi / 2)", 1),
        ("cos(0)", 1),
        ("factorial(10)", 3628800),
        ("15% of 240", 36),
        ("200 * 5%", 10),
        ("1250 * 0.2 + 17.5", 267.5),
        ("2 ** 64", 18446744073709551616),
        ("  42  ", 42),
        ("£1,249.99 * 1.2", 1499.988),
        ("$ 20 + 5", 25),
        ("1,000,000 / 4", 250000),
        ("€12,345.5 - 0.5", 12345),
        ("max(1,249)", 249),  # inside a call the comma separates arguments
    ],
)
def test_evaluates_arithmetic(expression: str, expected: float) -> None:
    assert evaluate(expression) == pytest.approx(expected)


def test_integer_results_stay_exact() -> None:
    assert evaluate("10 ** 30 + 1") == 10**30 + 1
    assert isinstance(evaluate("6 * 7"), int)


async def test_tool_returns_formatted_result() -> None:
    result = await calculate(CalculatorInput(expression="1 / 3"))
    assert result.result == pytest.approx(1 / 3)
    assert result.formatted == "0.333333333333"
    assert (await calculate(CalculatorInput(expression="2.5 * 4"))).formatted == "10"


@pytest.mark.parametrize(
    ("expression", "code", "fragment"),
    [
        ("1 / 0", ErrorCode.DIVISION_BY_ZERO, "column 5"),
        ("5 % (2 - 2)", ErrorCode.DIVISION_BY_ZERO, "division by zero"),
        ("0 ** -1", ErrorCode.DIVISION_BY_ZERO, "negative power"),
        ("foo + 1", ErrorCode.UNKNOWN_NAME, "unknown name 'foo'"),
        ("bar(2)", ErrorCode.UNKNOWN_NAME, "unknown function 'bar'"),
        ("sqrt + 1", ErrorCode.UNKNOWN_NAME, "call it with parentheses"),
        ("1 + (2 * 3", ErrorCode.SYNTAX_ERROR, "syntax error at column"),
        ("3 +* 4", ErrorCode.SYNTAX_ERROR, "column 4"),
        ("sqrt(-1)", ErrorCode.MATH_DOMAIN_ERROR, "sqrt()"),
        ("(-8) ** 0.5", ErrorCode.MATH_DOMAIN_ERROR, "not real"),
        ("log(0)", ErrorCode.MATH_DOMAIN_ERROR, "log()"),
        ("9**9**9**9", ErrorCode.RESULT_TOO_LARGE, "exponent"),
        ("2 ** 100000", ErrorCode.RESULT_TOO_LARGE, "exponent"),
        ("99999 ** 9999", ErrorCode.RESULT_TOO_LARGE, "digits"),
        ("1e308 * 10", ErrorCode.RESULT_TOO_LARGE, "too large"),
        ("exp(1000)", ErrorCode.RESULT_TOO_LARGE, "exp()"),
        ("factorial(100000)", ErrorCode.RESULT_TOO_LARGE, "factorial"),
        ("max()", ErrorCode.INVALID_ARGUMENT, "at least one"),
        ("sqrt(1, 2)", ErrorCode.INVALID_ARGUMENT, "sqrt()"),
        ("round(1.5, ndigits=2)", ErrorCode.UNSUPPORTED_OPERATION, "keyword"),
        ("'a' * 3", ErrorCode.UNSUPPORTED_OPERATION, "only numbers"),
        ("True + 1", ErrorCode.UNSUPPORTED_OPERATION, "only numbers"),
        ("[1, 2]", ErrorCode.UNSUPPORTED_OPERATION, "List"),
        ("1 < 2", ErrorCode.UNSUPPORTED_OPERATION, "Compare"),
        ("x if 1 else 2", ErrorCode.UNSUPPORTED_OPERATION, "IfExp"),
        ("lambda: 1", ErrorCode.UNSUPPORTED_OPERATION, "Lambda"),
        ("1 << 1000", ErrorCode.UNSUPPORTED_OPERATION, "LShift"),
        ("2,5 * 2", ErrorCode.SYNTAX_ERROR, "unexpected comma"),
        ("1,24 + 1", ErrorCode.SYNTAX_ERROR, "decimals with '.'"),
        ("", ErrorCode.EMPTY_INPUT, "empty"),
        ("   \n\t ", ErrorCode.EMPTY_INPUT, "empty"),
    ],
)
def test_bad_expressions_name_the_problem(expression: str, code: ErrorCode, fragment: str) -> None:
    with pytest.raises(ToolError) as caught:
        evaluate(expression)
    assert caught.value.code == code
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    "attack",
    [
        "__import__('os').system('echo pwned')",
        "().__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd').read()",
        "eval('1+1')",
        "(lambda: 1)()",
        "[x for x in range(10**9)]",
        "globals()",
    ],
)
def test_code_injection_is_refused(attack: str) -> None:
    with pytest.raises(ToolError) as caught:
        evaluate(attack)
    assert caught.value.code in {ErrorCode.UNKNOWN_NAME, ErrorCode.UNSUPPORTED_OPERATION}


def test_unknown_function_is_named_before_its_arguments_are_looked_at() -> None:
    with pytest.raises(ToolError) as caught:
        evaluate("__import__('os')")
    assert caught.value.code == ErrorCode.UNKNOWN_NAME
    assert "__import__" in caught.value.message


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("1+" * 5_000_000 + "1", ErrorCode.INPUT_TOO_LARGE),  # a 10 MB string is refused before parsing
        ("sqrt(" * 150 + "1" + ")" * 150, ErrorCode.INPUT_TOO_LARGE),
        ("+".join(["1"] * 400), ErrorCode.INPUT_TOO_LARGE),
        ("9**9**9**9**9**9", ErrorCode.RESULT_TOO_LARGE),
    ],
)
def test_huge_inputs_are_refused_by_a_bound(expression: str, code: ErrorCode) -> None:
    with pytest.raises(ToolError) as caught:
        evaluate(expression)
    assert caught.value.code == code


def test_length_limit_reports_the_limit() -> None:
    with pytest.raises(ToolError) as caught:
        evaluate("1" * (MAX_EXPRESSION_CHARS + 1))
    assert caught.value.code == ErrorCode.INPUT_TOO_LARGE
    assert caught.value.details["limit"] == MAX_EXPRESSION_CHARS


def test_deep_nesting_is_bounded() -> None:
    with pytest.raises(ToolError) as caught:
        evaluate("-" * 120 + "1")
    assert caught.value.code == ErrorCode.INPUT_TOO_LARGE


def test_unicode_is_handled() -> None:
    assert evaluate("2 − 1") == 1
    with pytest.raises(ToolError) as caught:
        evaluate("π * 2")
    assert caught.value.code == ErrorCode.UNKNOWN_NAME


def test_wrong_input_type_is_rejected_by_the_model() -> None:
    with pytest.raises(ValidationError):
        CalculatorInput(expression=42)  # type: ignore[arg-type]
    with pytest.raises(ToolError) as caught:
        evaluate(42)  # type: ignore[arg-type]
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


def test_nan_and_inf_do_not_leak() -> None:
    assert not math.isnan(evaluate("0.1 + 0.2"))
    with pytest.raises(ToolError):
        evaluate("1e308 + 1e308")
