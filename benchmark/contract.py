"""What every framework build implements, and what it is given.

A build gets the system spec, a model endpoint (the harness's gateway, with the trial in its URL) and the MCP
endpoint (the harness's server, trial-tagged). It reaches the model only through the first and tools only
through the second; it answers a conversation turn by turn, saying which agent answered.

Builds live in ``agents/<framework>.py`` (a plugin folder: no ``__init__.py``, so the ``agents`` import name
stays the OpenAI Agents SDK's) and expose a module-level ``BUILD``, an instance of :class:`AgentBuild`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar

from benchmark.spec import SystemSpec


@dataclass(frozen=True)
class ModelEndpoint:
    base_url: str  # OpenAI-compatible, ends in /v1
    model: str
    api_key: str
    # How long the build's model client waits on a request that sends nothing (no answer, or a stream gone
    # silent) before giving up; its framework's own retries then apply. The harness sets it per backend.
    timeout_s: float = 120.0


@dataclass(frozen=True)
class McpEndpoint:
    url: str  # streamable HTTP; already trial-prefixed (/t/<trial>/mcp) for clients that cannot set headers
    api_key: str
    trial_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "X-Trial-Id": self.trial_id}


@dataclass(frozen=True)
class Usage:
    """A turn's token usage as the framework itself reports it, through the public API its documentation tells
    a user to read (a run result's usage, a callback, a handler): what users build cost dashboards on. The
    harness compares it with what the model gateway measured."""

    input_tokens: int
    output_tokens: int
    calls: int | None = None  # model calls the framework says the turn made, where it says
    source: str = ""  # the API read, e.g. "RunResult.context_wrapper.usage"


@dataclass(frozen=True)
class TurnResult:
    text: str
    agent: str  # spec.LEGAL, spec.OPERATIONAL, or spec.GUARDRAIL when the guardrail refused
    usage: Usage | None = None  # None: the framework offers no usage accounting (or the build does not read it)


class Conversation(Protocol):
    async def send(self, message: str) -> TurnResult: ...

    async def aclose(self) -> None: ...


class AgentBuild(ABC):
    framework: ClassVar[str]

    @abstractmethod
    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint) -> Conversation:
        """Start one conversation (its own memory) against these endpoints."""


class Startable(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


StartableT = TypeVar("StartableT", bound=Startable)


async def started(conversation: StartableT) -> StartableT:
    """``await conversation.start()``; if that fails, close what it opened (sessions, clients) and re-raise."""
    try:
        await conversation.start()
    except BaseException:
        await conversation.aclose()
        raise
    return conversation
