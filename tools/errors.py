"""The one error type every tool raises, with stable machine-readable codes.

Callers (the MCP server, tests, agents) branch on ``code``; ``message`` is written for a model or a person
and names the problem precisely (what, where, which limit).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_ARGUMENT = "invalid_argument"
    EMPTY_INPUT = "empty_input"
    INPUT_TOO_LARGE = "input_too_large"
    SYNTAX_ERROR = "syntax_error"
    DIVISION_BY_ZERO = "division_by_zero"
    UNKNOWN_NAME = "unknown_name"
    UNSUPPORTED_OPERATION = "unsupported_operation"
    RESULT_TOO_LARGE = "result_too_large"
    MATH_DOMAIN_ERROR = "math_domain_error"
    TIMEOUT = "timeout"
    NOT_FOUND = "not_found"
    AMBIGUOUS = "ambiguous"
    UPSTREAM_ERROR = "upstream_error"
    NOT_CONFIGURED = "not_configured"
    READ_ONLY_VIOLATION = "read_only_violation"
    SQL_ERROR = "sql_error"
    DEPENDENCY_MISSING = "dependency_missing"


class ToolError(Exception):
    """A tool failed for a reason the caller can act on.

    ``details`` holds structured context (position, limit, close matches, ...) that stays JSON-serialisable.
    """

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"ToolError({self.code.value!r}, {self.message!r})"
