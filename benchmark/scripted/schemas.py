"""Filling a JSON schema the way the reference trajectory calls for, from property names and enums alone.

Recognised patterns (names compared in snake case, so ``isAllowed`` reads as ``is_allowed``):

- **Verdict booleans**: a name with a word meaning "stop it" (``tripwire``, ``blocked``, ``refuse``,
  ``reject``, ``deny``, ``disallowed``, ``violation``, ``unsafe``, ``flagged``, ``harmful``, ``forbidden``,
  ``invalid``, ``fail``) or a negated allow-word (``not_allowed``, ``out_of_policy``, ``non_compliant``) gets
  the negation of the verdict; one meaning "let it through" (``allowed``, ``is_allowed``, ``permitted``,
  ``safe``, ``accepted``, ``approved``, ``passed``, ``ok``, ``valid``, ``in_policy``) gets it as is. A
  string enum is answered with the value of the right polarity (``allow``/``block``; ``yes``/``no`` by the
  property's polarity).
- **Route**: a property whose enum lists an agent (by name or title), or whose name is route-like
  (``route``, ``agent``, ``to_agent``, ``agent_name``, ``next``, ``next_agent``, ``target``, ``coworker``,
  ``speaker``, ``destination``, ``recipient``, ``specialist``, ``worker``, ``assignee``, ``handoff_to``).
- **Free text**: a reason-like string (``reason``, ``explanation``, ``rationale``, ``justification``, ...)
  gets a short reason; a request-like one (``request``, ``query``, ``question``, ``input``, ``task``,
  ``message``, ``instructions``, ``context``, ``prompt``, ``text``) gets the user's request, and so does any
  other string of a delegation tool; ``confidence`` gets 1.
- Nested objects are filled recursively; ``$ref`` (``#/$defs/...``), ``anyOf``/``oneOf`` with ``null`` and
  type lists are resolved. A *required* property none of these rules explains makes the fill fail with a
  message naming it, so the caller answers with a marker instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.scripted.messages import squash
from benchmark.spec import AgentSpec

_NEGATIVE = (
    "tripwire", "block", "refus", "reject", "deny", "denied", "disallow", "violat", "unsafe", "flag", "harm",
    "malicious", "forbid", "prohibit", "unallowed", "notallowed", "invalid", "fail", "stop",
)  # fmt: skip
_POSITIVE = ("allow", "permit", "safe", "accept", "approv", "pass", "ok", "valid", "compliant", "continue")
_NEGATORS = frozenset({"not", "non", "no", "dis", "un", "out"})  # not_allowed, out_of_policy, non_compliant
_REASON = ("reason", "explanation", "rationale", "justification", "why", "comment", "note", "summary", "detail")
_REQUEST = ("request", "query", "question", "input", "task", "message", "instruction", "context", "prompt", "text")
ROUTE_KEYS = frozenset(
    {
        "route", "agent", "to_agent", "agent_name", "next", "next_agent", "target", "target_agent", "coworker",
        "speaker", "next_speaker", "destination", "recipient", "specialist", "worker", "assignee", "handoff_to",
        "transfer_to", "selected_agent", "to",
    }
)  # fmt: skip


class FillError(ValueError):
    """The schema asks for something the scripted model cannot interpret; the message names it."""


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("-", "_").replace(" ", "_")


def name_words(name: str) -> list[str]:
    """The words of a name in any spelling: ``lineCount``, ``line-count`` and ``line_count`` give line, count."""
    return [word for word in re.split(r"[^a-z0-9]+", snake(name)) if word]


def polarity(name: str) -> bool | None:
    """True for an allow-like name, False for a stop-like one, None when the name says neither."""
    words = name_words(name)
    if any(word.startswith(_NEGATIVE) for word in words):
        return False
    if "policy" in words and "out" in words:
        return False
    if any(word.startswith(_POSITIVE) for word in words) or ("policy" in words and "in" in words):
        return not any(word in _NEGATORS for word in words)
    return None


def is_reason(name: str) -> bool:
    return any(word.startswith(_REASON) for word in name_words(name))


def is_request(name: str) -> bool:
    return any(word.startswith(_REQUEST) for word in name_words(name))


def resolve(schema: Any, root: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` with ``$ref`` followed and a nullable ``anyOf``/``oneOf`` reduced to its non-null branch."""
    for _ in range(32):  # a reference cycle must not hang the model
        if not isinstance(schema, Mapping):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part) if isinstance(target, Mapping) else None
            schema = target
            continue
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list):
                useful = [b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")]
                if len(useful) == 1:
                    schema = useful[0]
                    break
        else:
            return schema
    return {}


def type_of(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind is None and isinstance(schema.get("enum"), list):
        values = schema["enum"]
        if values and all(isinstance(v, str) for v in values):
            return "string"
    if kind is None and isinstance(schema.get("properties"), Mapping):
        return "object"
    return kind if isinstance(kind, str) else None


def agent_matches(value: str, agent: AgentSpec) -> bool:
    """Whether ``value`` names ``agent``: its name or title in any spelling, or the name's distinctive word."""
    squashed = squash(value)
    if not squashed:
        return False
    if squashed in (squash(agent.name), squash(agent.title)):
        return True
    head = agent.name.split("_")[0].casefold()
    return head in value.casefold()


def enum_value_for(values: list[Any], target: AgentSpec, others: tuple[AgentSpec, ...]) -> str | None:
    """The one enum value naming ``target`` (and no other agent)."""
    exact = [v for v in values if isinstance(v, str) and squash(v) in (squash(target.name), squash(target.title))]
    if len(exact) == 1:
        return str(exact[0])
    loose = [
        v
        for v in values
        if isinstance(v, str) and agent_matches(v, target) and not any(agent_matches(v, o) for o in others)
    ]
    return str(loose[0]) if len(loose) == 1 else None


def names_agents(values: list[Any], agents: tuple[AgentSpec, ...]) -> bool:
    return any(isinstance(v, str) and agent_matches(v, a) for v in values for a in agents)


def _polar_enum(values: list[Any], name: str, verdict: bool) -> str | None:
    labelled = [(v, polarity(v)) for v in values if isinstance(v, str)]
    chosen = [v for v, p in labelled if p is verdict]
    if len(chosen) == 1:
        return chosen[0]
    name_polarity = polarity(name)
    if name_polarity is None:
        return None
    answer = verdict if name_polarity else not verdict
    yes_no = {"yes": True, "no": False, "true": True, "false": False, "y": True, "n": False}
    matching = [v for v, _ in labelled if yes_no.get(v.casefold()) is answer]
    return matching[0] if len(matching) == 1 else None


@dataclass(frozen=True)
class Filler:
    """What to put where: the verdict (guardrail), the route (orchestrator), and the texts for free strings."""

    request: str
    reason: str
    verdict: bool | None = None
    target: AgentSpec | None = None
    agents: tuple[AgentSpec, ...] = ()
    prefer_title: bool = False
    free_strings_get_request: bool = False  # a delegation tool's other string parameters carry the request

    @property
    def others(self) -> tuple[AgentSpec, ...]:
        return tuple(a for a in self.agents if self.target is None or a.name != self.target.name)

    def decides(self, schema: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
        """Whether the schema has a property that carries this filler's decision (verdict or route)."""
        for name, raw in (schema.get("properties") or {}).items():
            prop = resolve(raw, root)
            kind = type_of(prop)
            if self.verdict is not None and self._verdict_value(name, prop, kind) is not None:
                return True
            if self.target is not None and self.route_value(name, prop) is not None:
                return True
            if kind == "object" and self.decides(prop, root):
                return True
        return False

    def route_value(self, name: str, prop: Mapping[str, Any]) -> str | None:
        if self.target is None:
            return None
        values = prop.get("enum")
        if isinstance(values, list) and names_agents(values, self.agents):
            return enum_value_for(values, self.target, self.others)
        if snake(name) in ROUTE_KEYS and type_of(prop) == "string":
            return self.target.title if self.prefer_title else self.target.name
        return None

    def fill_object(self, schema: Mapping[str, Any], root: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        properties = schema.get("properties", {})
        if not isinstance(properties, Mapping):
            raise FillError(f"the schema at '{where or '(root)'}' is not an object with properties")
        required = schema.get("required")
        required_names = set(required) if isinstance(required, list) else set(properties)
        filled: dict[str, Any] = {}
        for name, raw in properties.items():
            path = f"{where}.{name}" if where else name
            try:
                filled[name] = self.fill_value(name, resolve(raw, root), root, path)
            except FillError:
                if name in required_names:
                    raise
        return filled

    def fill_value(self, name: str, prop: Mapping[str, Any], root: Mapping[str, Any], path: str) -> Any:
        kind = type_of(prop)
        route = self.route_value(name, prop)
        if route is not None:
            return route
        if isinstance(prop.get("enum"), list) and names_agents(prop["enum"], self.agents):
            raise FillError(f"property '{path}' lists agents but none is the route {self._target_name()}")
        if self.verdict is not None:
            value = self._verdict_value(name, prop, kind)
            if value is not None:
                return value
        if kind == "object":
            return self.fill_object(prop, root, path)
        if kind == "string" and not isinstance(prop.get("enum"), list):
            if is_reason(name):
                return self.reason
            if is_request(name) or self.free_strings_get_request:
                return self.request
        if kind in ("number", "integer") and "confiden" in snake(name):
            return 1
        raise FillError(f"cannot tell what to put in property '{path}' (type {kind or 'unknown'})")

    def _verdict_value(self, name: str, prop: Mapping[str, Any], kind: str | None) -> Any:
        """The verdict in this property's terms, or None when the property does not carry it."""
        if self.verdict is None:
            return None
        name_polarity = polarity(name)
        if kind == "boolean" and name_polarity is not None:
            return self.verdict if name_polarity else not self.verdict
        values = prop.get("enum")
        if isinstance(values, list):
            return _polar_enum(values, name, self.verdict)
        return None

    def _target_name(self) -> str:
        return self.target.name if self.target else "(none)"
