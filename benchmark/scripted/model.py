"""The scripted model's entry point: (task, request body) → the reply the reference trajectory calls for."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

from benchmark.scripted import guardrail, orchestrator, specialist, team
from benchmark.scripted.messages import RequestView, read_request
from benchmark.scripted.replies import ScriptedReply, marker
from benchmark.scripted.roles import SELECTOR, Asker, identify
from benchmark.scripted.schemas import agent_matches, enum_value_for
from benchmark.scripted.situation import Situation
from benchmark.scripted.turns import find_turn
from benchmark.spec import GUARDRAIL, ORCHESTRATOR, REFUSED, SystemSpec
from benchmark.system import default_spec
from benchmark.tasks.models import Task


@cache
def _default_spec() -> SystemSpec:
    return default_spec()


def _select_member(situation: Situation, asker: Asker) -> ScriptedReply | None:
    """A selector choosing among the code team's members, or None when it lists none of them."""
    members = situation.spec.code_team.members
    if not any(agent_matches(name, member) for name in asker.candidates for member in members):
        return None
    wanted = team.next_member(situation)
    listed = ", ".join(asker.candidates)
    if wanted is None:
        return situation.fail(f"the selector lists the code team ({listed}), but this turn is no programming request")
    target = situation.spec.code_team.member(wanted)
    chosen = enum_value_for(list(asker.candidates), target, tuple(m for m in members if m.name != wanted))
    if chosen is None:
        return situation.fail(f"the selector lists {listed}, none of which is the code team's {wanted}")
    return situation.say(chosen)


def _select(situation: Situation, asker: Asker) -> ScriptedReply:
    member = _select_member(situation, asker)
    if member is not None:
        return member
    route = situation.turn.expect.route
    listed = ", ".join(asker.candidates) or "nothing"
    if route == REFUSED:
        guards = [name for name in asker.candidates if GUARDRAIL in name.casefold()]
        if len(guards) == 1:
            return situation.say(guards[0])
        return situation.fail(f"the selector lists {listed}; this turn should have been refused by the guardrail")
    target = situation.spec.agent(route)
    others = tuple(a for a in situation.spec.specialists if a.name != route)
    chosen = enum_value_for(list(asker.candidates), target, others)
    if chosen is None:
        return situation.fail(f"the selector lists {listed}, none of which is the route {route}")
    return situation.say(chosen)


FaultRole = Literal["guardrail", "orchestrator", "specialist"]


def role_of(task: Task, request: Mapping[str, Any], spec: SystemSpec | None = None) -> FaultRole | None:
    """Which of the system's roles a request comes from, recognised exactly as :func:`reply` recognises it: the
    guardrail, the orchestrator, a specialist (any of them, a code team member, or one known only by the turn's
    tools); None for a speaker selector or a request the scripted model could not place. The gateway counts a
    task's fault by it."""
    spec = spec or _default_spec()
    view = read_request(request)
    asker = identify(view, spec)
    if asker.problem is not None or asker.role == SELECTOR:
        return None
    if asker.role == GUARDRAIL:
        return "guardrail"
    if asker.role == ORCHESTRATOR:
        return "orchestrator"
    if asker.role in spec.routes or asker.role in team.members(spec.code_team):
        return "specialist"
    match = find_turn(task, view)
    if match is not None and specialist.offers_script_tools(match.turn.script, [t.name for t in view.tools]):
        return "specialist"
    return None


def reply(task: Task, request: Mapping[str, Any], spec: SystemSpec | None = None) -> ScriptedReply:
    """The assistant message for this chat-completions ``request`` within ``task``; a marker if it cannot tell.

    ``spec`` defaults to :func:`benchmark.system.default_spec`. Pure: the same task and request always give the
    same reply, and nothing is remembered between calls.
    """
    spec = spec or _default_spec()
    view: RequestView = read_request(request)
    match = find_turn(task, view)
    if match is None:
        return marker(f"no message contains the user text of any turn of task {task.id!r}")
    asker = identify(view, spec)
    if asker.problem is not None:
        return marker(asker.problem, turn=match.index)
    role = asker.role
    if not role and specialist.offers_script_tools(match.turn.script, [t.name for t in view.tools]):
        role = specialist.BY_TOOLS
    if not role:
        return marker(
            "could not tell who is asking: no system message carries the guardrail's, orchestrator's or a "
            "specialist's instructions, and the offered tools are not this turn's",
            turn=match.index,
        )
    situation = Situation(task, spec, view, match, role)
    if role == SELECTOR:
        return _select(situation, asker)
    if role == GUARDRAIL:
        return guardrail.answer(situation)
    if role == ORCHESTRATOR:
        return orchestrator.answer(situation)
    if role in team.members(spec.code_team):
        return team.answer(situation)
    return specialist.answer(situation)
