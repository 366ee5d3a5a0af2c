"""The scripted model: a deterministic, offline stand-in for an LLM that follows each task's reference path.

Given only what a framework sends over HTTP (a chat-completions request body) and the trial's task, it
returns the assistant message the reference trajectory calls for. Whatever it cannot interpret gets a marker
text starting ``[scripted-model:`` that says what it could not tell, never a guess, so the trial fails
visibly. Nothing is remembered between calls: progress is read from the messages.

Recognised patterns (details in the module named in brackets):

1. Which turn [turns]: a turn's ``user`` text inside the latest user message (whitespace-normalised,
   case-folded substring, also in JSON-string form; the match ending last, then the longest), else inside
   any message, latest first. A repeated text is the repeat the conversation has reached: the task's turn
   texts found one after another in what was sent, whether one message per turn or a whole transcript.
2. Who asks [roles]: the first 80 normalised characters of the guardrail's, orchestrator's, a specialist's
   or a code team member's instructions inside a system/developer (else user) message; a speaker-selection
   prompt ("select/choose/pick the next role/speaker/agent from [a, b] ..."); or, with no instructions, a
   request offering every tool of the turn's script (a specialist).
3. Guardrail [guardrail, schemas]: allowed unless the turn's route is ``refused``; a ``response_format`` JSON
   schema is filled by property names (allow-words get the verdict, stop-words its negation, reason-words a
   reason); a tool whose parameters carry a verdict (structured output by function calling) is called with
   it; otherwise the text ``{"allowed": ..., "reason": ...}``.
4. Orchestrator [orchestrator]: a tool named for the target agent; a generic handoff tool (route-like
   parameter or agents enum; titles when the tool's text lists titles); a route schema; or the agent's name
   as text. Once the specialist's answer (or an agent tool's result) is in the turn's messages, it relays it.
   Delegation arguments carry the request with the turn's ``requires_context`` appended.
5. Specialist [specialist, template]: the script's tool calls in order (progress counted from the assistant
   tool calls since the turn's user message; ids ``call_<n>_<digest of the request>``, unique across the
   conversation; namespaced tool names resolved), then the answer template filled from the tool messages
   answering those calls, in any of the forms frameworks send (JSON text, content parts, MCP
   ``CallToolResult`` JSON, prose with embedded JSON). Missing values stay as
   ``{?name.path}``. ``tool_choice`` is obeyed: ``none`` never calls, a named function must be the next
   step, ``required`` with nothing left to call is a marker. A result the framework sent as a preview,
   naming an offered tool to read the rest, is read in full through that tool before the next step, and
   the answer comes from what was read [deferred]. A step counts as done only on a result that is no error
   (or the error its answer reads); a failed step is called again once with the script's arguments, then
   the turn is answered in plain words, "I could not complete this request: ..." [results]. The guardrail
   and the orchestrator answer a request after a faulty reply of theirs with their reference reply again.
6. Code team [team]: the operational agent hands a programming request to the team as the orchestrator hands
   one to a specialist (a tool named for the team, ...) and relays its answer; the coder writes the draft
   that follows the latest review requesting changes it is shown (the first without one), the reviewer
   answers the latest draft it is shown, the tester runs the latest draft it is shown with the script's tests
   through ``run_python`` and answers with that code; a selector among the members follows the same order.
7. Memory [situation]: a turn's ``requires_context`` strings must occur, in the forms a turn's text is found
   in (JSON-escaped too), in the orchestrator's or specialist's messages (the guardrail is not asked:
   guardrails commonly see only the latest input).
"""

from benchmark.scripted.model import FaultRole, reply, role_of
from benchmark.scripted.replies import MARKER_PREFIX, ScriptedReply, ScriptedToolCall, marker
from benchmark.scripted.results import COULD_NOT_COMPLETE

__all__ = [
    "COULD_NOT_COMPLETE",
    "MARKER_PREFIX",
    "FaultRole",
    "ScriptedReply",
    "ScriptedToolCall",
    "marker",
    "reply",
    "role_of",
]
