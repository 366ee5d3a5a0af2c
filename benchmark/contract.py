"""What every framework build implements, and what it is given.

A build gets the system spec, a model endpoint (the harness's gateway, with the trial in its URL), the MCP
endpoint (the harness's server, trial-tagged) and where the conversation's memory lives (its id and a
directory kept across restarts of the build's process). It reaches the model only through the first and tools
only through the second; it answers a conversation turn by turn, saying which agent answered, and keeps the
conversation's memory with its framework's own persistence, so that a conversation opened again by its id, in
a fresh process, goes on where it was.

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


@dataclass(frozen=True)
class MemoryStore:
    """Where a conversation's memory lives, given by the harness: the conversation's id, and a directory for the
    build's stores (files, SQLite databases) that outlives the build's process. The directory holds nothing
    before the conversation is first opened; opened again with the same id, the conversation resumes."""

    conversation_id: str
    directory: str


class Conversation(Protocol):
    async def send(self, message: str) -> TurnResult: ...

    async def aclose(self) -> None: ...


class AgentBuild(ABC):
    framework: ClassVar[str]

    @abstractmethod
    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        """Open the conversation ``memory.conversation_id`` against these endpoints: new when its store holds
        nothing yet, else resumed from it (the harness may have killed the process that ran its earlier turns)."""


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
