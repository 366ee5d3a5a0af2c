"""One request as the scripted model sees it: the task, the turn it is about, who asks, and what came since."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from benchmark.scripted.messages import Message, RequestView, contains, normalise
from benchmark.scripted.replies import ScriptedReply, ScriptedToolCall, marker
from benchmark.scripted.turns import TurnMatch
from benchmark.spec import SystemSpec
from benchmark.tasks.models import Task, Turn


@dataclass(frozen=True)
class Situation:
    task: Task
    spec: SystemSpec
    view: RequestView
    match: TurnMatch
    role: str

    @property
    def turn(self) -> Turn:
        return self.match.turn

    @property
    def window(self) -> tuple[Message, ...]:
        """The messages after the one carrying the turn's user text: this turn's work so far."""
        return tuple(m for m in self.view.messages if m.index > self.match.message_index)

    @property
    def context_needed(self) -> list[str]:
        return list(self.turn.script.requires_context) if self.turn.script else []

    def seen(self) -> str:
        """Everything the request shows (message texts and tool-call arguments), normalised: the haystack for
        :func:`benchmark.scripted.messages.contains`."""
        messages = self.view.messages
        return normalise("\n".join([m.text for m in messages] + [c.arguments for m in messages for c in m.calls]))

    def shows(self, text: str) -> bool:
        """Whether the request shows ``text`` anywhere, in any of the forms a turn's own text is recognised in."""
        return contains(self.seen(), text)

    def missing_context(self) -> list[str]:
        """The turn's ``requires_context`` strings that no message (text or tool-call arguments) contains, in any
        of the forms a turn's own text is recognised in (JSON-escaped too: a history sent as a JSON document)."""
        seen = self.seen()
        return [text for text in self.context_needed if not contains(seen, text)]

    def request_text(self) -> str:
        """The user's request as a delegating agent would pass it on, carrying the context it relies on."""
        needed = self.context_needed
        return f"{self.turn.user} (context: {'; '.join(needed)})" if needed else self.turn.user

    def next_call_id(self) -> str:
        """``call_<n>_<digest>``: ``n`` counts the calls this request shows; the digest of the request's messages
        makes the id unique across the conversation, as a real API's ids are, though the scripted model remembers
        nothing: agents that share one session but see different parts of it (another agent's calls relayed as
        text) would otherwise be handed the same ``call_1``, and frameworks pair calls with results by id."""
        taken = {call.id for call in self.view.all_calls()}
        messages = self.view.messages
        seen = json.dumps(
            [[m.role, m.text, [[c.id, c.name, c.arguments] for c in m.calls], m.tool_call_id] for m in messages]
        )
        digest = hashlib.sha256(seen.encode()).hexdigest()[:8]
        number = len(self.view.all_calls()) + 1
        while f"call_{number}_{digest}" in taken:
            number += 1
        return f"call_{number}_{digest}"

    def call(self, name: str, arguments: dict[str, Any]) -> ScriptedReply:
        tool_call = ScriptedToolCall(self.next_call_id(), name, json.dumps(arguments, ensure_ascii=False))
        return ScriptedReply(tool_calls=(tool_call,), role=self.role, turn=self.match.index)

    def say(self, text: str) -> ScriptedReply:
        return ScriptedReply(content=text, role=self.role, turn=self.match.index)

    def fail(self, problem: str) -> ScriptedReply:
        return marker(problem, role=self.role, turn=self.match.index)

    def context_marker(self) -> ScriptedReply | None:
        missing = self.missing_context()
        if not missing:
            return None
        listed = ", ".join(repr(text) for text in missing)
        return self.fail(f"missing conversation context: {listed} (turn {self.match.index + 1} relies on it)")
