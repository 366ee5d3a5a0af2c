"""Who is asking: the guardrail, the orchestrator, a specialist, or a "choose the next speaker" selector.

Recognised patterns:

- **Instructions**: a role is the one whose instruction text (the guardrail's,
  the orchestrator's, each specialist's prompt, each code team member's) appears, by its first 80 normalised
  characters, in a system/developer message (or, failing that, a user message: some frameworks put an agent's
  instructions there). Frameworks may prepend or append their own text; a substring is enough.
- **Selector prompt**: a message asking to "select/choose/pick the next role/speaker/agent from [a, b, c]"
  (group-chat speaker selection). The names are read from the listed candidates, brackets and quotes removed.
- **Tools alone**: with no instructions found, a request offering every tool of the turn's script is
  answered as the specialist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from benchmark.scripted.messages import INSTRUCTION_ROLES, RequestView, normalise
from benchmark.spec import GUARDRAIL, ORCHESTRATOR, SystemSpec

SIGNATURE_CHARS = 80
SELECTOR = "selector"

_SELECTOR_RE = re.compile(
    r"(?:select|choose|pick)\s+the\s+next\s+(?:role|speaker|agent|participant)s?\s+from\s+(?P<names>\[[^\]]*\]|[^.\n]+?)"
    r"(?:\s+to\s+(?:play|speak|act|answer)|[.\n]|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Asker:
    role: str  # GUARDRAIL, ORCHESTRATOR, SELECTOR, a specialist's or team member's name, or "" when unknown
    candidates: tuple[str, ...] = ()  # the selector's listed names, exactly as written
    problem: str | None = None


def signatures(spec: SystemSpec) -> dict[str, str]:
    texts = {GUARDRAIL: spec.guardrail.instructions, ORCHESTRATOR: spec.orchestrator_instructions}
    texts.update({agent.name: agent.instructions for agent in spec.specialists})
    texts.update({agent.name: agent.instructions for agent in spec.code_team.members})
    return {role: normalise(text)[:SIGNATURE_CHARS] for role, text in texts.items()}


def selector_candidates(view: RequestView) -> tuple[str, ...] | None:
    """The names a speaker-selection prompt offers, or None if no message is such a prompt."""
    for message in reversed(view.messages):
        if message.role == "tool":
            continue
        matches = list(_SELECTOR_RE.finditer(" ".join(message.text.split())))
        if not matches:
            continue
        raw = matches[-1].group("names").strip().strip("[]")
        names = [name.strip().strip("'\"`").strip() for name in raw.split(",")]
        return tuple(name for name in names if name)
    return None


def identify(view: RequestView, spec: SystemSpec) -> Asker:
    candidates = selector_candidates(view)
    if candidates is not None:
        return Asker(SELECTOR, candidates)
    signs = signatures(spec)
    for roles in (INSTRUCTION_ROLES, frozenset({"user"})):
        for message in reversed([m for m in view.messages if m.role in roles]):
            text = normalise(message.text)
            found = [role for role, sign in signs.items() if sign and sign in text]
            if len(found) == 1:
                return Asker(found[0])
            if found:
                return Asker("", problem=f"one message carries the instructions of several roles: {', '.join(found)}")
    return Asker("")
