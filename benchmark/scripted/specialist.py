"""A specialist: call the script's tools in order, then answer from the results the framework sent back.

Progress is read from the conversation, never remembered: the assistant tool calls since the turn's user
message are matched, in order, against the script's steps (calls to other tools, such as an orchestrator's
handoff in a shared history, or to a tool that does not exist, are skipped). A step counts as done only when
its call got a result that is no error (:mod:`benchmark.scripted.results`), or the error its answer reads
(``{weather.error.message}``) from a call made as scripted; a step whose call failed (an error result: the
tool's, or the framework's report of a malformed, invalid or unknown call) is called again with the script's
arguments, once: if that fails too, the turn is answered in plain words saying it could not be completed and
why, with no figures. The next undone step becomes a tool call; when none is left,
the answer template is filled from the tool messages answering those calls (matched by ``tool_call_id``).
A result the framework replaced by a preview with a tool to read the rest is read through that tool first,
before the next step, and the answer is filled from what was read (:mod:`benchmark.scripted.deferred`).
A programming request is delegated to the code team instead (:mod:`benchmark.scripted.team`), whose tester
follows a one-step script of the same kind (:func:`work`).

Tool names: a step's tool is the offered tool of that exact name, or — when a framework namespaces MCP tools
(``kestrel_weather``, ``kestrel.weather``) — the shortest offered name ending in a separator plus the step's
tool, provided at least one other offered tool shares that namespace prefix or the prefix names an MCP server
(``mcp_127_0_0_1_8765_mcp_run_python``, ``afbench-run_python``: offered alone to an agent allowed one tool).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.scripted import deferred, orchestrator, results
from benchmark.scripted.messages import Call
from benchmark.scripted.replies import ScriptedReply
from benchmark.scripted.situation import Situation
from benchmark.scripted.template import fill, parse_result
from benchmark.spec import REFUSED
from benchmark.tasks.models import Script, ScriptStep
from mcp_server.sdk import SERVER_NAME

_SEPARATORS = ("_", "-", ".", ":", "/")
BY_TOOLS = "specialist"  # the role of a request recognised by its tools alone: which specialist is unknown


def _is_namespace(prefix: str, offered: list[str]) -> bool:
    """Whether ``prefix`` (ending in a separator) is a namespace: shared by at least two offered tools, or naming
    an MCP server — a word ``mcp`` in it (``mcp_<host>_<port>_mcp_``) or the server's own name, as its
    ``initialize`` reports it (``afbench-``) — which holds for a lone tool too (an agent allowed one tool).
    ``rag_`` of ``rag_search`` is neither, so it never stands for ``search``."""
    if sum(other.startswith(prefix) for other in offered) >= 2:
        return True
    words = re.split(r"[-_.:/]", prefix.casefold())
    return "mcp" in words or SERVER_NAME.casefold() in words


def offered_name(step_tool: str, offered: list[str]) -> str | None:
    """The offered tool name that stands for ``step_tool``, or None."""
    if step_tool in offered:
        return step_tool
    namespaced = []
    for name in offered:
        prefix = name[: -len(step_tool)] if name.endswith(step_tool) else ""
        if prefix and prefix.endswith(_SEPARATORS) and _is_namespace(prefix, offered):
            namespaced.append(name)
    namespaced.sort(key=lambda n: (len(n), n))
    return namespaced[0] if namespaced else None


def offers_script_tools(script: Script | None, offered: list[str]) -> bool:
    """Whether ``offered`` holds every tool the script calls (a specialist recognised by its tools alone)."""
    if script is None or not script.steps:
        return False
    return all(offered_name(step.call, offered) is not None for step in script.steps)


MAX_ATTEMPTS = 2  # a failing step is retried once with the script's call, then the turn is given up


@dataclass(frozen=True)
class Progress:
    done: list[str]  # call ids of completed steps, in step order
    failed: str | None = None  # the last error result of the step that failed MAX_ATTEMPTS times, if one did


def _arguments(call: Call) -> Any:
    try:
        return json.loads(call.arguments)
    except ValueError:
        return call.arguments


def _as_scripted(call: Call, step: ScriptStep) -> bool:
    """Whether the call made the step's call: every argument of the script, with its value (a framework may add
    its own defaults)."""
    arguments = _arguments(call)
    return isinstance(arguments, dict) and all(arguments.get(k) == v for k, v in step.arguments.items())


def _step_done(template: str, step: ScriptStep, call: Call, result: str | None) -> bool:
    """Whether the call's result completes the step: any result that is no error; an error only where the
    answer ``template`` reads it (``{weather.error.message}``) and it is the tool's answer, not a failed or
    faulty call."""
    if result is None or not results.is_error(result):
        return True  # no result sent back at all: the answer will show the value as missing
    if not results.reads_error(template, step.as_ or step.call):
        return False
    if results.is_transient(result):
        return False
    return _as_scripted(call, step) or not results.is_call_problem(result)


def _progress(situation: Situation, steps: list[ScriptStep], names: list[str], template: str) -> Progress:
    """The steps done so far, from the assistant tool calls since the turn's user message and their results.

    Calls to other tools (an orchestrator's handoff in a shared history, a call to a tool that does not exist)
    are skipped. A call of the next step's tool completes it when its result does (:func:`_step_done`);
    otherwise it is one failed attempt, and the step's next call is its retry."""
    view = situation.view
    done: list[str] = []
    failures = 0
    for message in situation.window:
        for call in message.calls:
            if len(done) >= len(steps) or call.name != names[len(done)]:
                continue
            result = view.result_for(call.id)
            if _step_done(template, steps[len(done)], call, result):
                done.append(call.id)
                failures = 0
                continue
            failures += 1
            if failures >= MAX_ATTEMPTS:
                return Progress(done, failed=result)
    return Progress(done)


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
    if turn.script.team is not None:  # a programming request: the operational agent hands it to its team
        team = situation.spec.code_team.as_agent()
        return orchestrator.delegate(situation, team, (team,))
    return work(situation, turn.script.steps, turn.script.answer)


def work(
    situation: Situation, steps: list[ScriptStep], template: str, given: Mapping[str, Any] | None = None
) -> ScriptedReply:
    """The next reply of an agent following ``steps``: the next undone step's call, else ``template`` filled from
    the steps' results (and the ``given`` values: ``{draft}`` for the code team's tester)."""
    view = situation.view
    offered = [tool.name for tool in view.tools]
    names = [offered_name(step.call, offered) or step.call for step in steps]
    progress = _progress(situation, steps, names, template)
    if progress.failed is not None:
        return situation.say(results.could_not_complete(steps[len(progress.done)].call, progress.failed))
    done = progress.done
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
    values: dict[str, Any] = dict(given or {})
    for step, call_id in zip(steps, done, strict=True):
        read = readings[call_id]
        text = read.text if read is not None else view.result_for(call_id)
        if text is not None:
            values[step.as_ or step.call] = parse_result(text)
    return situation.say(fill(template, values))
