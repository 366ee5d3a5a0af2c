"""Whether a tool result the framework sent back is an error, and the answer to give when a step keeps failing.

A model continues its plan only on a result it can use; so does the scripted model. A result is an error,
in any of the forms frameworks send one:

- **The tool's own error**: the MCP server's ``{"error": {...}}`` (as JSON text, inside an MCP
  ``CallToolResult``, inside content parts, or embedded in prose such as ``Error: {...}``), or a
  ``CallToolResult`` with ``"isError": true``.
- **The framework's report**: a text that starts like an error (``Error``, ``[error``, ``An error occurred``,
  ``Encountered error``, ``Exception``, ``Traceback``, ``Failed to``, ``Tool execution failed``, ``Agent
  error``: Strands' wordings for a failed MCP call and a failed agent-as-tool), or that says the call itself was bad
  (see :func:`is_call_problem`).

Errors fall into three kinds, because they call for different things:

- a **call problem**: the call could not be made as written — arguments that are not JSON, that fail
  validation or leave a required one out, a tool name that does not exist or is not allowed (what the
  gateway's reply faults provoke); the model retries with the script's call;
- a **transient** failure: the tool is unavailable, timed out, or the protocol failed (``unavailable``,
  ``timeout``, ``internal_error``, JSON-RPC errors); the model retries once;
- any other error is the tool's answer about the world (``not_found``, ``division_by_zero``): a step whose
  answer template reads that error (``{weather.error.message}``) has its result, any other step retries.

A step that fails twice ends the turn with :func:`could_not_complete`: a plain answer saying what could not
be done and why, with no figures of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from benchmark.scripted.messages import normalise
from benchmark.scripted.template import PLACEHOLDER, parse_result

COULD_NOT_COMPLETE = "I could not complete this request"
MAX_REASON_CHARS = 160

_ERROR_START = re.compile(
    r"^\W{0,3}(?:error|an error|(?:i )?encountered (?:an )?error|exception|traceback|failed to|tool error|"
    r"(?:function|tool) (?:call|execution|invocation) (?:failed|error)|agent error|"
    r"session (?:terminated|expired|not found)|(?:tool|function) ['\"`]?[\w.:-]+['\"`]? failed|"
    r"unable to (?:call|run|execute))\b"
)
_CALL_PROBLEM = re.compile(
    r"invalid[_ ]arguments?|invalid json|not valid json|is not valid|malformed|validation error|validationerror|"
    r"field required|missing (?:\d+ )?required|required (?:argument|parameter|property|field)|is a required|"
    r"json ?decode|failed to parse|could not parse|unable to parse|cannot parse|expecting (?:value|property name|"
    r"',' delimiter)|unterminated string|extra data|input should be|should be a valid|not of type|wrong type|"
    r"unknown tool|unknown function|no tool named|no such tool|no function named|not a valid tool|"
    r"(?:tool|function) ['\"`]?[\w.:-]+['\"`]? (?:is )?(?:not found|does not exist|is not available|not available|"
    r"not allowed|is not allowed|not permitted|is not permitted)|(?:tool|function)s? not found|"
    r"not in the list of (?:available )?(?:tools|functions)|unknown_tool|not_allowed|tool_not_found"
)
_TRANSIENT_CODES = frozenset({"unavailable", "timeout", "internal_error", "session_expired", "rate_limited"})
_TRANSIENT = re.compile(
    r"temporarily unavailable|currently unavailable|service unavailable|timed out|time limit|json-?rpc|"
    r"mcp error|-326\d\d|session (?:expired|not found|terminated)|connection (?:reset|refused|closed|error)"
)


def _error_of(value: Any) -> Any:
    """The error a parsed result carries (its ``error`` object or text), or None for a result that is none."""
    if isinstance(value, Mapping):
        if value.get("isError") is True:
            return value.get("content") or "error"
        error = value.get("error")
        if isinstance(error, Mapping | str | list) and error:  # a list: Pydantic AI's validation errors
            return error
        if str(value.get("status", "")).casefold() == "error":
            return value.get("message") or value.get("detail") or "error"
    return None


def _raw_error(text: str) -> Any:
    """The error of a CallToolResult JSON whose structured content hides ``isError`` (parse_result unwraps it)."""
    try:
        raw = json.loads(text.strip())
    except ValueError:
        return None
    return _error_of(raw)


def error_detail(text: str) -> Any:
    """What the error result says (the error object, or the text), or None when ``text`` is no error."""
    error = _raw_error(text)
    if error is not None:
        return error
    error = _error_of(parse_result(text))
    if error is not None:
        return error
    stripped = text.strip()
    try:
        json.loads(stripped)
    except ValueError:
        pass
    else:
        return None  # a JSON result without an error in it
    # Prose: judged by what comes before any JSON it embeds, so a wrapped result whose data happens to hold
    # an error-like phrase (a document about validation errors) is not taken for an error.
    prefix = normalise(stripped.split("{", 1)[0])[:400]
    if _ERROR_START.search(prefix) or _CALL_PROBLEM.search(prefix):
        return stripped
    return None


def is_error(text: str) -> bool:
    return error_detail(text) is not None


def _code(error: Any) -> str:
    return str(error.get("code") or "").casefold() if isinstance(error, Mapping) else ""


def _words(error: Any) -> str:
    return normalise(json.dumps(error, ensure_ascii=False) if not isinstance(error, str) else error)[:600]


def is_call_problem(text: str) -> bool:
    """An error saying the call itself was bad: arguments that do not parse or validate, a tool that does not
    exist or may not be used (the server's ``invalid_argument`` code counts)."""
    error = error_detail(text)
    if error is None:
        return False
    return _code(error) == "invalid_argument" or _CALL_PROBLEM.search(_words(error)) is not None


def is_transient(text: str) -> bool:
    """An error a retry may cure: the tool unavailable or timed out, the protocol or the session failed."""
    error = error_detail(text)
    if error is None:
        return False
    return _code(error) in _TRANSIENT_CODES or _TRANSIENT.search(_words(error)) is not None


def reads_error(template: str, name: str) -> bool:
    """Whether the answer template fills something from result ``name``'s error (``{name.error...}``)."""
    return any(m.group("name") == name and m.group("path").startswith(".error") for m in PLACEHOLDER.finditer(template))


def _reason(error: Any) -> str:
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        text = error["message"]
    elif isinstance(error, str):
        text = error
    else:
        text = json.dumps(error, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1].rstrip() + "…"


def could_not_complete(tool: str, last_result: str | None) -> str:
    """The plain answer for a turn whose step failed on its retry too: what failed and the error it gave."""
    error = error_detail(last_result) if last_result is not None else None
    why = f": {_reason(error)}" if error is not None else ""
    return (
        f"{COULD_NOT_COMPLETE}: the {tool} tool failed twice, so I have no result to answer from{why}. "
        "Please try again later."
    )
