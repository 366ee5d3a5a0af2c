"""The guardrail's verdict: allowed unless the turn's expected route is ``refused``.

Delivered in the form the request asks for: a ``response_format`` JSON schema filled (see
:mod:`benchmark.scripted.schemas`); structured output offered as a tool (a tool whose parameters carry a
verdict, as frameworks do when they implement typed output with function calling) called with the filled
object; otherwise the JSON text ``{"allowed": ..., "reason": ...}``. After a faulty reply (a verdict call the framework
answered with an error, an empty or cut-off text) it gives the same verdict again.
"""

from __future__ import annotations

import json

from benchmark.scripted import results
from benchmark.scripted.replies import ScriptedReply
from benchmark.scripted.schemas import Filler, FillError
from benchmark.scripted.situation import Situation
from benchmark.spec import REFUSED

ALLOWED_REASON = "The request is within the assistant's policy."
REFUSED_REASON = "The request falls under the refusal policy (private personal data, harm, or prompt tampering)."


def answer(situation: Situation) -> ScriptedReply:
    allowed = situation.turn.expect.route != REFUSED
    filler = Filler(request=situation.turn.user, reason=ALLOWED_REASON if allowed else REFUSED_REASON, verdict=allowed)
    view = situation.view
    if view.response_schema is not None:
        try:
            return situation.say(json.dumps(filler.fill_object(view.response_schema, view.response_schema)))
        except FillError as exc:
            return situation.fail(f"guardrail response_format: {exc}")
    # A verdict tool whose call came back as an error (a faulty call the framework reported) is called again.
    answered = {
        call.name
        for message in situation.window
        for call in message.calls
        if (result := view.result_for(call.id)) is None or not results.is_error(result)
    }
    for tool in view.callable_tools:
        if tool.name in answered or not filler.decides(tool.parameters, tool.parameters):
            continue
        try:
            return situation.call(tool.name, filler.fill_object(tool.parameters, tool.parameters))
        except FillError as exc:
            return situation.fail(f"guardrail verdict tool '{tool.name}': {exc}")
    if view.tools_required:
        return situation.fail("the guardrail must call a tool, but no offered tool takes a verdict")
    return situation.say(json.dumps({"allowed": allowed, "reason": filler.reason}))
