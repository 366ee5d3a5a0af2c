"""The orchestrator: route the turn to its expected specialist, or relay the specialist's answer.

Routing forms, in order of preference:

a. **Agent tool by name**: an offered tool whose name contains the target agent's name or title in any
   spelling (``transfer_to_legal_expert``, ``legal_expert``, ``ask_legal_expert``, ``LegalExpert-ask``) and no
   other agent's; its parameters are filled with the user's request (and a reason, for reason-like ones).
b. **Generic handoff tool**: an offered tool with a route-like parameter (``to_agent``, ``agent_name``,
   ``coworker``, ``next``, ``route``, ``target``, ... or an enum listing agents): the enum value naming the
   target, else the agent's name — or its title when the tool's text lists titles rather than names.
c. **Structured output**: a ``response_format`` JSON schema with a route-like property or an agents enum.
d. **Plain text**: the target agent's name.

Relay (agent-as-tool and "back to the supervisor" patterns): when, since the turn's user message, the
conversation already holds the specialist's answer — an assistant text or a routing tool's result (unwrapped
from the one JSON string a framework may put it in, ``{"result": "..."}``) matching
the literal parts of the turn's answer template, a scripted-model marker, or a specialist's plain "could not
complete" answer — the orchestrator answers with it; failing that, with the latest routing tool's result. A
routing call whose result is an error (a faulty call the framework reported back) does not count: the
orchestrator routes again, as its reference reply says.
"""

from __future__ import annotations

import json
from dataclasses import replace

from benchmark.scripted import results
from benchmark.scripted.messages import Call, Tool, normalise, squash
from benchmark.scripted.replies import MARKER_PREFIX, ScriptedReply
from benchmark.scripted.results import COULD_NOT_COMPLETE
from benchmark.scripted.schemas import ROUTE_KEYS, Filler, FillError, agent_matches, names_agents, resolve, snake
from benchmark.scripted.situation import Situation
from benchmark.scripted.template import skeleton
from benchmark.spec import REFUSED, AgentSpec


def _names_agent_in_tool_name(name: str, agent: AgentSpec) -> bool:
    squashed = squash(name)
    return squash(agent.name) in squashed or squash(agent.title) in squashed


def _is_routing_call(call: Call, agents: tuple[AgentSpec, ...]) -> bool:
    if any(_names_agent_in_tool_name(call.name, agent) for agent in agents):
        return True
    try:
        arguments = json.loads(call.arguments)
    except ValueError:
        return False
    if not isinstance(arguments, dict):
        return False
    return any(
        snake(key) in ROUTE_KEYS and isinstance(value, str) and any(agent_matches(value, a) for a in agents)
        for key, value in arguments.items()
    )


def _has_route_parameter(tool: Tool, agents: tuple[AgentSpec, ...]) -> bool:
    properties = tool.parameters.get("properties")
    if not isinstance(properties, dict):
        return False
    for name, raw in properties.items():
        prop = resolve(raw, tool.parameters)
        values = prop.get("enum")
        if snake(name) in ROUTE_KEYS or (isinstance(values, list) and names_agents(values, agents)):
            return True
    return False


def _lists_titles(tool: Tool, target: AgentSpec) -> bool:
    text = (tool.description + " " + json.dumps(tool.parameters)).casefold()
    return target.title.casefold() in text and target.name.casefold() not in text


def _unwrapped(text: str) -> str:
    """An agent tool's result as its agent answered it: the text itself, or the one string a framework wrapped it
    in (``{"result": "..."}``, a JSON string)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    return value if isinstance(value, str) else text


def _relay(situation: Situation, agents: tuple[AgentSpec, ...]) -> str | None:
    script = situation.turn.script
    pieces = skeleton(script.answer) if script else []
    routing_ids = {c.id for m in situation.window for c in m.calls if _is_routing_call(c, agents)}
    candidates: list[str] = []
    routing_results: list[str] = []
    for message in situation.window:
        if message.role == "tool" and message.tool_call_id in routing_ids and message.text.strip():
            if results.is_error(message.text) and COULD_NOT_COMPLETE not in message.text:
                continue  # a routing call that failed (a faulty call the framework reported): route again
            candidates.append(_unwrapped(message.text))
            routing_results.append(_unwrapped(message.text))
        elif message.role == "assistant" and message.text.strip():
            candidates.append(message.text)
    for text in reversed(candidates):
        if text.lstrip().startswith(MARKER_PREFIX) or COULD_NOT_COMPLETE in text:
            return text.strip()
        if pieces and all(piece in normalise(text) for piece in pieces):
            return text.strip()
    return routing_results[-1].strip() if routing_results else None


def _failed_routes(situation: Situation, agents: tuple[AgentSpec, ...]) -> list[str]:
    """The turn's routing calls whose result was an error (the specialist failed behind an agent-as-tool)."""
    routing_ids = {c.id for m in situation.window for c in m.calls if _is_routing_call(c, agents)}
    return [
        m.text
        for m in situation.window
        if m.role == "tool"
        and m.tool_call_id in routing_ids
        and results.is_error(m.text)
        and COULD_NOT_COMPLETE not in m.text
    ]


def answer(situation: Situation) -> ScriptedReply:
    route = situation.turn.expect.route
    if route == REFUSED:
        return situation.fail("this turn should have been refused by the guardrail; the orchestrator has no route")
    missing = situation.context_marker()
    if missing is not None:
        return missing
    return delegate(situation, situation.spec.agent(route), situation.spec.specialists)


def delegate(situation: Situation, target: AgentSpec, agents: tuple[AgentSpec, ...]) -> ScriptedReply:
    """Hand the turn to ``target`` (one of ``agents``, the delegation targets the asker has), or relay its
    answer once the conversation holds it: the orchestrator to a specialist, the operational agent to its team."""
    route = target.name
    relayed = _relay(situation, agents)
    if relayed is not None:
        return situation.say(relayed)
    failed = _failed_routes(situation, agents)
    if len(failed) >= 2:  # routed again once after a failure, as a specialist retries a step once
        return situation.say(results.could_not_complete(target.name, failed[-1]))
    filler = Filler(
        request=situation.request_text(),
        reason=f"Routed to {target.name}: {target.handoff_description}",
        target=target,
        agents=agents,
        free_strings_get_request=True,
    )
    view = situation.view
    others = [a for a in agents if a.name != target.name]
    by_name = [
        tool
        for tool in view.callable_tools
        if _names_agent_in_tool_name(tool.name, target)
        and not any(_names_agent_in_tool_name(tool.name, other) for other in others)
    ]
    generic = [tool for tool in view.callable_tools if tool not in by_name and _has_route_parameter(tool, agents)]
    for tool in by_name + generic:
        chosen = replace(filler, prefer_title=_lists_titles(tool, target))
        try:
            arguments = chosen.fill_object(tool.parameters, tool.parameters) if tool.parameters else {}
        except FillError as exc:
            return situation.fail(f"routing tool '{tool.name}': {exc}")
        return situation.call(tool.name, arguments)
    elsewhere = [t.name for t in view.callable_tools if any(_names_agent_in_tool_name(t.name, o) for o in others)]
    if elsewhere:
        return situation.fail(f"no offered tool routes to {route}; only {', '.join(elsewhere)} route elsewhere")
    if view.response_schema is not None:
        schema = view.response_schema
        if not filler.decides(schema, schema):
            return situation.fail(f"the orchestrator's response_format has no property to carry the route {route}")
        try:
            return situation.say(json.dumps(filler.fill_object(schema, schema)))
        except FillError as exc:
            return situation.fail(f"orchestrator response_format: {exc}")
    if view.tools_required:
        offered = ", ".join(t.name for t in view.callable_tools) or "none"
        return situation.fail(f"the orchestrator must call a tool, but none routes to {route} (callable: {offered})")
    return situation.say(target.name)
