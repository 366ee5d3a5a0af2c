"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}`` with a matching HTTP status.

Framework clients (the openai package, LiteLLM, LangChain) turn that body into their own exception types, so
a malformed request or an unknown trial surfaces in the framework as the API error it would get from OpenAI.
"""

from __future__ import annotations

from typing import Any

# A hint the openai package (and so most frameworks' clients) obeys: do not resend this request. Sent on errors
# that a resend cannot fix (the gateway retried already, or the model ran past the timeout).
NO_RETRY = {"x-should-retry": "false"}


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class GatewayError(Exception):
    """A request the gateway answers with an error status and an OpenAI-style error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def invalid(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)
