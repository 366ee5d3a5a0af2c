"""A specialist: call the script's tools in order, then answer from the results the framework sent back.

Progress is read from the conversation, never remembered: the assistant tool calls since the turn's user
message are matched, in order, against the script's steps (calls to other tools, such as an orchestrator's
handoff in a shared history, are skipped). The next undone step becomes a tool call; when none is left,
the answer template is filled from the tool messages answering those calls (matched by ``tool_call_id``).
A result the framework replaced by a preview with a tool to read the rest is read through that tool first,
before the next step, and the answer is filled from what was read (:mod:`benchmark.scripted.deferred`).

Tool names: a step's tool is the offered tool of that exact name, or — when a framework namespaces MCP tools
(``kestrel_weather``, ``kestrel.weather``) — the shortest offered name ending in a separator plus the step's
tool, provided at least one other offered tool shares that namespace prefix.
"""

from __future__ import annotations

from benchmark.scripted import deferred
from benchmark.scripted.replies import ScriptedReply
from benchmark.scripted.situation import Situation
from benchmark.scripted.template import fill, parse_result
from benchmark.spec import REFUSED
from benchmark.tasks.models import Script

_SEPARATORS = ("_", "-", ".", ":", "/")
BY_TOOLS = "specialist"  # the role of a request recognised by its tools alone: which specialist is unknown


def offered_name(step_tool: str, offered: list[str]) -> str | None:
    """The offered tool name that stands for ``step_tool``, or None."""
    if step_tool in offered:
        return step_tool
    namespaced = []
    for name in offered:
        prefix = name[: -len(step_tool)] if name.endswith(step_tool) else ""
        if prefix and prefix.endswith(_SEPARATORS) and sum(other.startswith(prefix) for other in offered) >= 2:
            namespaced.append(name)
    namespaced.sort(key=lambda n: (len(n), n))
    return namespaced[0] if namespaced else None


def offers_script_tools(script: Script | None, offered: list[str]) -> bool:
    """Whether ``offered`` holds every tool the script calls (a specialist recognised by its tools alone)."""
    if script is None or not script.steps:
        return False
    return all(offered_name(step.call, offered) is not None for step in script.steps)


def answer(situation: Situation) -> ScriptedReply:
    turn = situation.turn
    if turn.expect.route == REFUSED or turn.script is None:
        number = situation.match.index + 1
        return situation.fail(f"a specialist was asked turn {number}, which should have been refused by the guardrail")
    if situation.role in situation.spec.routes and situation.role != turn.expect.route:
        return situation.fail(
            f"turn {situation.match.index + 1} belongs to {turn.expect.route}, but {situation.role} was asked"
        )
    missing = situation.context_marker()
    if missing is not None:
        return missing
    view = situation.view
    offered = [tool.name for tool in view.tools]
    steps = turn.script.steps
    names = [offered_name(step.call, offered) or step.call for step in steps]
    done: list[str] = []  # call ids of completed steps, in step order
    for message in situation.window:
        for call in message.calls:
            if len(done) < len(steps) and call.name == names[len(done)]:
                done.append(call.id)
    # A result the framework sent as a preview is read in full first, as a model must before relying on it.
    callable_names = {tool.name for tool in view.callable_tools}
    readings = {call_id: deferred.reading(view, call_id) for call_id in done}
    for pending in readings.values():
        if pending is not None and pending.arguments is not None and pending.reader in callable_names:
            return situation.call(pending.reader, pending.arguments)
    if len(done) < len(steps):
        step = steps[len(done)]
        name = offered_name(step.call, offered)
        if name is None:
            return situation.fail(
                f"the next step calls tool '{step.call}', which this request does not offer "
                f"(offered: {', '.join(offered) or 'none'})"
            )
        if view.tools_forbidden:
            return situation.fail(f"tool_choice is 'none', but the next step calls tool '{step.call}'")
        forced = view.forced_tool
        if forced is not None and forced != name:
            return situation.fail(f"tool_choice forces '{forced}', but the next step calls tool '{step.call}'")
        return situation.call(name, step.arguments)
    if view.tools_required:
        return situation.fail("tool_choice is 'required', but every step of the script is done")
    results = {}
    for step, call_id in zip(steps, done, strict=True):
        read = readings[call_id]
        text = read.text if read is not None else view.result_for(call_id)
        if text is not None:
            results[step.as_ or step.call] = parse_result(text)
    return situation.say(fill(turn.script.answer, results))
