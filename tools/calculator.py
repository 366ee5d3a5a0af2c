"""Safe arithmetic: an ``ast`` whitelist walker with hard bounds, never ``eval``.

Bounds keep every expression cheap: input length, AST size and depth, exponent size, integer digits and a
wall-clock deadline checked at every node. ``9**9**9**9`` or a 10 MB string fails in milliseconds with an
error that names the problem and where it is (1-based column).
"""

from __future__ import annotations

import ast
import math
import re
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from tools._text import checked_text
from tools.errors import ErrorCode, ToolError

MAX_EXPRESSION_CHARS = 1000
MAX_NODES = 500
MAX_DEPTH = 50
MAX_EXPONENT = 10_000
MAX_INT_DIGITS = 4300
MAX_FLOAT_ABS = 1e308
TIME_LIMIT_S = 0.05

Number = int | float


class CalculatorInput(BaseModel):
    expression: str = Field(
        description="An arithmetic expression, e.g. '(1250 * 0.2) + sqrt(16)' or '15% of 240'.",
    )


class CalculatorResult(BaseModel):
    expression: str = Field(description="The expression as given.")
    result: Number = Field(description="The value: an integer when exact, else a float.")
    formatted: str = Field(description="The value as text, floats rounded to 12 significant digits.")


def _checked_log(x: Number, base: Number | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


def _checked_round(x: Number, ndigits: int | None = None) -> Number:
    if ndigits is not None and not -20 <= ndigits <= 20:
        raise ValueError("round() digits must be between -20 and 20")
    return round(x) if ndigits is None else round(x, ndigits)


def _checked_factorial(x: Number) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise ValueError("factorial() takes a whole number")
    if x > 1000:
        raise OverflowError("factorial() argument above 1000")
    return math.factorial(x)


FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt,
    "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "exp": math.exp,
    "log": _checked_log,
    "ln": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "degrees": math.degrees,
    "radians": math.radians,
    "abs": abs,
    "round": _checked_round,
    "floor": math.floor,
    "ceil": math.ceil,
    "trunc": math.trunc,
    "min": min,
    "max": max,
    "hypot": math.hypot,
    "factorial": _checked_factorial,
    "gcd": math.gcd,
}
CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Number]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}


def _error(code: ErrorCode, message: str, node: ast.AST | None = None) -> ToolError:
    column = getattr(node, "col_offset", None)
    if column is None:
        return ToolError(code, message)
    return ToolError(code, f"{message} (at column {column + 1})", column=column + 1)


class _Evaluator:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def eval(self, node: ast.AST, depth: int = 0) -> Number:
        if depth > MAX_DEPTH:
            raise _error(ErrorCode.INPUT_TOO_LARGE, f"expression nests deeper than {MAX_DEPTH} levels", node)
        if time.monotonic() > self.deadline:
            raise ToolError(ErrorCode.TIMEOUT, f"evaluation took longer than {TIME_LIMIT_S * 1000:.0f} ms")
        value = self._eval(node, depth + 1)
        return self._check_size(value, node)

    def _check_size(self, value: Number, node: ast.AST) -> Number:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            # bit_length is O(1); digits ≈ bits * log10(2)
            if value.bit_length() * 0.30103 > MAX_INT_DIGITS:
                raise _error(ErrorCode.RESULT_TOO_LARGE, f"integer result exceeds {MAX_INT_DIGITS} digits", node)
        elif isinstance(value, float) and (math.isinf(value) or abs(value) > MAX_FLOAT_ABS):
            raise _error(ErrorCode.RESULT_TOO_LARGE, "result is too large for a floating-point number", node)
        elif isinstance(value, float) and math.isnan(value):
            raise _error(ErrorCode.MATH_DOMAIN_ERROR, "result is not a number (NaN)", node)
        return value

    def _eval(self, node: ast.AST, depth: int) -> Number:
        match node:
            case ast.Expression(body=body):
                return self.eval(body, depth)
            case ast.Constant(value=value):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise _error(ErrorCode.UNSUPPORTED_OPERATION, f"only numbers are allowed, got {value!r}", node)
                return value
            case ast.Name(id=name):
                if name in CONSTANTS:
                    return CONSTANTS[name]
                hint = " (it is a function: call it with parentheses)" if name in FUNCTIONS else ""
                raise _error(ErrorCode.UNKNOWN_NAME, f"unknown name '{name}'{hint}", node)
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return -self.eval(operand, depth)
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return +self.eval(operand, depth)
            case ast.BinOp(left=left, op=ast.Pow(), right=right):
                return self._power(self.eval(left, depth), self.eval(right, depth), node)
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
                a, b = self.eval(left, depth), self.eval(right, depth)
                if isinstance(op, ast.Div | ast.FloorDiv | ast.Mod) and b == 0:
                    raise _error(ErrorCode.DIVISION_BY_ZERO, f"division by zero in '{_SYMBOLS[type(op)]}'", right)
                return _BINARY[type(op)](a, b)
            case ast.Call(func=ast.Name(id=name), args=args, keywords=[]):
                if name not in FUNCTIONS:
                    raise _error(ErrorCode.UNKNOWN_NAME, f"unknown function '{name}'", node)
                return self._call(name, [self.eval(arg, depth) for arg in args], node)
            case ast.Call(keywords=[_, *_]):
                raise _error(ErrorCode.UNSUPPORTED_OPERATION, "keyword arguments are not supported", node)
            case ast.Call(func=ast.Name()):
                raise _error(ErrorCode.UNSUPPORTED_OPERATION, "unsupported function call", node)
            case ast.Call():
                raise _error(ErrorCode.UNSUPPORTED_OPERATION, "only plain function names can be called", node)
        if isinstance(node, ast.Tuple):
            raise _error(
                ErrorCode.SYNTAX_ERROR,
                "unexpected comma: write decimals with '.', and thousands separators (1,250) only outside "
                "function calls",
                node,
            )
        label = type(node).__name__
        if isinstance(node, ast.BinOp | ast.UnaryOp):
            label = type(node.op).__name__
        raise _error(ErrorCode.UNSUPPORTED_OPERATION, f"unsupported syntax: {label}", node)

    def _power(self, base: Number, exponent: Number, node: ast.AST) -> Number:
        if abs(exponent) > MAX_EXPONENT:
            raise _error(ErrorCode.RESULT_TOO_LARGE, f"exponent {exponent} exceeds the limit of {MAX_EXPONENT}", node)
        if (
            isinstance(base, int)
            and isinstance(exponent, int)
            and exponent > 0
            and abs(base).bit_length() * exponent * 0.30103 > MAX_INT_DIGITS + 1
            and base not in (0, 1, -1)
        ):
            raise _error(ErrorCode.RESULT_TOO_LARGE, f"integer result exceeds {MAX_INT_DIGITS} digits", node)
        if base == 0 and exponent < 0:
            raise _error(ErrorCode.DIVISION_BY_ZERO, "zero raised to a negative power", node)
        try:
            result = base**exponent
        except OverflowError:
            raise _error(ErrorCode.RESULT_TOO_LARGE, "result is too large for a floating-point number", node) from None
        if isinstance(result, complex):
            raise _error(ErrorCode.MATH_DOMAIN_ERROR, "fractional power of a negative number is not real", node)
        return result

    def _call(self, name: str, args: list[Number], node: ast.AST) -> Number:
        function = FUNCTIONS[name]
        if name in ("min", "max") and not args:
            raise _error(ErrorCode.INVALID_ARGUMENT, f"{name}() needs at least one argument", node)
        try:
            return function(*args)
        except ZeroDivisionError:
            raise _error(ErrorCode.DIVISION_BY_ZERO, f"division by zero in {name}()", node) from None
        except OverflowError as exc:
            raise _error(ErrorCode.RESULT_TOO_LARGE, f"{name}(): {exc}", node) from None
        except TypeError as exc:
            raise _error(ErrorCode.INVALID_ARGUMENT, f"{name}(): {exc}", node) from None
        except ValueError as exc:
            message = str(exc) if "round" in str(exc) or "factorial" in str(exc) else "math domain error"
            raise _error(ErrorCode.MATH_DOMAIN_ERROR, f"{name}(): {message}", node) from None


_CURRENCY = re.compile(r"[£$€¥](?=\s*\d)")
_CALL = re.compile(r"[A-Za-z_]\w*\s*\(")
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")


def _rewrite_percentages(expression: str) -> str:
    """``15% of 240`` → ``(15/100)*240``; a trailing ``%`` after a number means per cent, else modulo."""
    text = re.sub(r"(\d+(?:\.\d+)?)\s*%\s*of\b", r"(\1/100)*", expression, flags=re.IGNORECASE)
    return re.sub(r"(\d+(?:\.\d+)?)\s*%(?=\s*(?:[)+\-*/,]|$))", r"(\1/100)", text)


def _format(value: Number) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.12g}"


def evaluate(expression: str) -> Number:
    """Evaluate ``expression`` within the bounds above; raises :class:`ToolError` on any problem."""
    stripped = checked_text(expression, "expression", MAX_EXPRESSION_CHARS)
    # People write '×', '÷', '^', currency signs and thousands separators; models copy them from questions.
    normalised = stripped.replace("×", "*").replace("÷", "/").replace("^", "**").replace("−", "-")
    normalised = _CURRENCY.sub("", normalised)
    if not _CALL.search(normalised):  # inside a call, commas separate arguments: max(1,250) is not 1250
        normalised = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), normalised)
    normalised = _rewrite_percentages(normalised).strip()
    try:
        tree = ast.parse(normalised, mode="eval")
    except SyntaxError as exc:
        column = exc.offset or 0
        detail = (exc.msg or "invalid syntax").split(" (")[0]
        raise ToolError(ErrorCode.SYNTAX_ERROR, f"syntax error at column {column}: {detail}", column=column) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise ToolError(ErrorCode.SYNTAX_ERROR, f"cannot parse expression: {exc}") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise ToolError(ErrorCode.INPUT_TOO_LARGE, f"expression has {nodes} parts; the limit is {MAX_NODES}")
    return _Evaluator(time.monotonic() + TIME_LIMIT_S).eval(tree)


async def calculate(request: CalculatorInput) -> CalculatorResult:
    """Evaluate an arithmetic expression exactly and safely.

    Supports + - * / // % ** (or ^), parentheses, unary minus, per cent ("15% of 240", "200 * 5%"),
    constants pi, e, tau and functions sqrt, cbrt, exp, log(x[, base]), ln, log10, log2, sin, cos, tan,
    asin, acos, atan, atan2, sinh, cosh, tanh, degrees, radians, abs, round(x[, digits]), floor, ceil,
    trunc, min, max, hypot, factorial, gcd. Trigonometric functions take radians.
    """
    value = evaluate(request.expression)
    return CalculatorResult(expression=request.expression, result=value, formatted=_format(value))
