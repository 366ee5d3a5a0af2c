"""Which turn of the task a request is about, from the user text the framework sent.

Frameworks wrap the user's words (task descriptions, conversation summaries, "Current request:" headers),
so a turn is recognised by its ``user`` text occurring, whitespace-normalised and case-folded, inside a
message: first the latest user-role message, then every message, latest first. When several turns occur in
one message the one occurring *last* wins (a wrapper that replays history puts the current request after
it), then the longest (``Convert 5 km`` inside ``Convert 5 km to miles``). Turns with identical text are told
apart by how many user messages carried that text so far. The text also counts in its JSON string form
(``M\\u00fcnchen``, ``\\"``): some frameworks pass the conversation to a model as a JSON document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from benchmark.scripted.messages import Message, RequestView, normalise
from benchmark.tasks.models import Task, Turn


@dataclass(frozen=True)
class TurnMatch:
    index: int
    turn: Turn
    message_index: int  # the message the turn's text was found in; this turn's work comes after it


def _forms(user: str) -> tuple[str, ...]:
    """A turn's text as it may appear: normalised, and normalised inside a JSON string (escapes and all)."""
    plain = normalise(user)
    escaped = normalise(json.dumps(user)[1:-1])
    return (plain,) if escaped == plain else (plain, escaped)


def _best_in(task: Task, text: str) -> int | None:
    best: tuple[int, int] | None = None
    chosen: int | None = None
    for index, turn in enumerate(task.turns):
        for wanted in _forms(turn.user):
            if not wanted:
                continue
            position = text.rfind(wanted)
            if position < 0:
                continue
            score = (position + len(wanted), len(wanted))
            if best is None or score > best:
                best, chosen = score, index
    return chosen


def _disambiguate(task: Task, chosen: int, view: RequestView, message_index: int) -> int:
    wanted = normalise(task.turns[chosen].user)
    twins = [i for i, turn in enumerate(task.turns) if normalise(turn.user) == wanted]
    if len(twins) == 1:
        return chosen
    forms = _forms(task.turns[chosen].user)
    seen = sum(
        1
        for message in view.messages
        if message.role == "user"
        and message.index <= message_index
        and any(form in normalise(message.text) for form in forms)
    )
    return twins[min(max(seen, 1), len(twins)) - 1]


def find_turn(task: Task, view: RequestView) -> TurnMatch | None:
    users = [m for m in view.messages if m.role == "user"]
    ordered: list[Message] = users[-1:] + [m for m in reversed(view.messages) if not (users and m is users[-1])]
    for message in ordered:
        chosen = _best_in(task, normalise(message.text))
        if chosen is not None:
            chosen = _disambiguate(task, chosen, view, message.index)
            return TurnMatch(chosen, task.turns[chosen], message.index)
    return None
