"""The scripted model when the user repeats a text in one conversation: the request is about the repeat the
conversation has reached, in each shape builds send a history in (captured from real runs):

- one message per turn (the vanilla build's orchestrator: system, user, assistant, user, ...);
- a transcript inside one message (AutoGen's ``SelectorGroupChat`` speaker selection: ``source: content``
  lines after the selector prompt);
- a JSON document inside one message (CrewAI's conversational Flow router: ``current_user_message`` first,
  then ``message_history`` ending with the same text).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from benchmark import spec
from benchmark.scripted import ScriptedReply, reply
from benchmark.system import default_spec
from benchmark.tasks.models import Task
from tests.benchmark.test_scripted_crewai import router_request

SPEC = default_spec()
LEAVE = "How many days of annual leave do staff get?"
TICKETS = "How many support tickets did we get in March 2024?"
AGAIN = "Can you put that in one sentence?"  # asked after each answer: its route follows the topic
ANSWERS = ["Staff get 25 days.", "25 days a year.", "We got 26 tickets.", "26 tickets in March 2024."]
USERS = [LEAVE, AGAIN, TICKETS, AGAIN]


def _turn(text: str, route: str) -> dict[str, Any]:
    return {"user": text, "expect": {"route": route}, "script": {"answer": "ok"}}


TASK = Task.model_validate(
    {
        "id": "repeated-follow-up",
        "category": "test",
        "turns": [
            _turn(LEAVE, spec.LEGAL),
            _turn(AGAIN, spec.LEGAL),
            _turn(TICKETS, spec.OPERATIONAL),
            _turn(AGAIN, spec.OPERATIONAL),
        ],
    }
)


def _history(upto: int) -> list[dict[str, str]]:
    """The conversation up to and including turn ``upto``'s user message."""
    history = []
    for index in range(upto + 1):
        history.append({"role": "user", "content": USERS[index]})
        if index < upto:
            history.append({"role": "assistant", "content": ANSWERS[index]})
    return history


def per_turn_messages(upto: int) -> dict[str, Any]:
    """The vanilla orchestrator: the instructions, then each turn its own message, handoff tools offered."""
    handoffs = [
        {"type": "function", "function": {"name": f"transfer_to_{name}", "parameters": {"type": "object"}}}
        for name in (spec.LEGAL, spec.OPERATIONAL)
    ]
    instructions = {"role": "system", "content": SPEC.orchestrator_instructions}
    return {"messages": [instructions, *_history(upto)], "tools": handoffs}


def transcript_in_one_message(upto: int) -> dict[str, Any]:
    """AutoGen 0.7's speaker selection: the build's selector prompt, then ``construct_message_history``."""
    lines = []
    for message in _history(upto):
        source = "user" if message["role"] == "user" else spec.OPERATIONAL
        lines.append(f"{source}: {message['content']}".rstrip() + "\n\n")
        if message["role"] == "user":
            lines.append('guardrail: {"allowed":true,"reason":"The request is within the assistant\'s policy."}\n\n')
    prompt = (
        f"{SPEC.orchestrator_instructions}\n\nThe following roles are available:\n"
        "guardrail: Checks every new user request.\nlegal_expert: Contracts ...\n"
        "operational_agent: Calculations ...\n\n"
        "Read the following conversation. Then select the next role from ['legal_expert', 'operational_agent'] "
        "to play. Only return the role.\n\n" + "\n".join(lines)
    )
    return {"messages": [{"role": "user", "name": "user", "content": prompt}]}


def json_in_one_message(upto: int) -> dict[str, Any]:
    return router_request(_history(upto))


def routed_to(answer: ScriptedReply) -> str:
    """The specialist an orchestrator's reply routes to: by handoff tool, route schema or selected name."""
    if answer.tool_calls:
        return answer.tool_calls[0].name.removeprefix("transfer_to_")
    text = answer.content or ""
    return str(json.loads(text)["route"]) if text.startswith("{") else text


@pytest.mark.parametrize("shape", [per_turn_messages, transcript_in_one_message, json_in_one_message])
@pytest.mark.parametrize(("upto", "route"), [(1, spec.LEGAL), (3, spec.OPERATIONAL)])
def test_a_repeated_request_is_routed_by_the_turn_the_conversation_has_reached(
    shape: Callable[[int], dict[str, Any]], upto: int, route: str
) -> None:
    body = shape(upto)
    assert sum(m["role"] == "user" for m in body["messages"]) == (1 if shape is not per_turn_messages else upto + 1)
    answer = reply(TASK, body)
    assert answer.turn == upto, answer
    assert routed_to(answer) == route
