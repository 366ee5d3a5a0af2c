"""Which turn of the task a request is about, from the user text the framework sent.

Frameworks wrap the user's words (task descriptions, conversation summaries, "Current request:" headers),
so a turn is recognised by its ``user`` text occurring, whitespace-normalised and case-folded, inside a
message: first the latest user-role message, then every other message, latest first, tool results last (a
tool result may echo the request, and frameworks that relay other agents' steps as user-role context put
those after the request). When several turns occur in one message the one occurring *last* wins (a wrapper
that replays history puts the current request after it), then the longest (``Convert 5 km`` inside
``Convert 5 km to miles``). The text also counts in its JSON string form (``M\\u00fcnchen``, ``\\"``;
:func:`benchmark.scripted.messages.forms`): some frameworks pass the conversation to a model as a JSON document.

Turns with identical text are told apart by how far the conversation as sent has got: the task's turn texts
are looked for one after another, each after the previous one, in the messages up to the one that matched
(all of them read as one text). This works whether the history comes as one message per turn or as a
transcript inside a single message. A copy of the current request beside the history (CrewAI's router
context: ``current_user_message`` first, then ``message_history`` ending with the same text) is not counted as
a turn of its own when another turn's text lies between the twins, since the copy then sits out of order;
for twins that follow each other directly, such a copy reads as one turn more (nothing tells them apart).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.scripted.messages import Message, RequestView, forms, normalise
from benchmark.tasks.models import Task, Turn


@dataclass(frozen=True)
class TurnMatch:
    index: int
    turn: Turn
    message_index: int  # the message the turn's text was found in; this turn's work comes after it


def _best_in(task: Task, text: str) -> int | None:
    best: tuple[int, int] | None = None
    chosen: int | None = None
    for index, turn in enumerate(task.turns):
        for wanted in forms(turn.user):
            if not wanted:
                continue
            position = text.rfind(wanted)
            if position < 0:
                continue
            score = (position + len(wanted), len(wanted))
            if best is None or score > best:
                best, chosen = score, index
    return chosen


def _turns_so_far(task: Task, text: str) -> int:
    """How many of the task's turns occur in ``text`` in order, each after the previous one's occurrence."""
    position = 0
    for count, turn in enumerate(task.turns):
        found = [(at, len(form)) for form in forms(turn.user) if form and (at := text.find(form, position)) >= 0]
        if not found:
            return count
        at, length = min(found)
        position = at + length
    return len(task.turns)


def _disambiguate(task: Task, chosen: int, view: RequestView, message_index: int) -> int:
    wanted = normalise(task.turns[chosen].user)
    twins = [i for i, turn in enumerate(task.turns) if normalise(turn.user) == wanted]
    if len(twins) == 1:
        return chosen
    sent = normalise("\n".join(m.text for m in view.messages if m.index <= message_index))
    reached = _turns_so_far(task, sent)
    # The latest twin the conversation has reached; the first one when not even that shows (history dropped).
    return max((i for i in twins if i < reached), default=twins[0])


def _is_result(message: Message) -> bool:
    return message.role in ("tool", "function")


def find_turn(task: Task, view: RequestView) -> TurnMatch | None:
    users = [m for m in view.messages if m.role == "user"]
    rest = [m for m in reversed(view.messages) if not (users and m is users[-1])]
    # Tool results come last: one may echo the request (a search tool's ``query``), but it answers a call of
    # this turn's work, so it is where that work started only when no other message carries the text.
    ordered: list[Message] = users[-1:] + [m for m in rest if not _is_result(m)] + [m for m in rest if _is_result(m)]
    for message in ordered:
        chosen = _best_in(task, normalise(message.text))
        if chosen is not None:
            chosen = _disambiguate(task, chosen, view, message.index)
            return TurnMatch(chosen, task.turns[chosen], message.index)
    return None
