"""What the scripted model answers: a text or tool calls, plus what it recognised (for records and tests).

A reply it cannot give honestly is a *marker*: a text starting ``[scripted-model:`` that says what it could
not tell, so the trial fails visibly instead of passing on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

MARKER_PREFIX = "[scripted-model:"


@dataclass(frozen=True)
class ScriptedToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the OpenAI protocol carries it


@dataclass(frozen=True)
class ScriptedReply:
    content: str | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    role: str | None = None  # who the model recognised as asking: guardrail, orchestrator, selector, an agent name
    turn: int | None = None  # index of the task turn it answered

    @property
    def is_marker(self) -> bool:
        return self.content is not None and self.content.startswith(MARKER_PREFIX)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


def marker(problem: str, *, role: str | None = None, turn: int | None = None) -> ScriptedReply:
    """A reply that fails the trial visibly, saying what the scripted model could not interpret."""
    return ScriptedReply(content=f"{MARKER_PREFIX} {problem}]", role=role, turn=turn)
