"""A tool result cut to a preview, with an offered tool to read the rest: read it all before answering.

Some frameworks keep a long tool result out of the conversation: the tool message holds a preview, says so,
and names a tool the request offers for reading the rest, with what to pass it (crewai 1.15 does this above a
quarter of the context window it assumes: "... was stored as temporary artifact ... at relative file path
`tool-result-…/result.md`. It contains 779 lines ... Preview of the first 10 lines: ... [Preview truncated;
read the artifact for more.] ... Use `read_a_deferred_tool_result` to read it in bounded sections ... with
`start_line=1` and `line_count=51`"). Answering from the preview would answer from part of the result, and
the framework's token figures would count a preview where other frameworks send the whole result. A real
model reads the rest first, and so does the scripted model.

Recognised from the request alone, never from who sent it:

- **A preview**: a tool message that is not JSON as a whole, says it is partial (preview, truncated,
  excerpt, partial, abridged, "the rest", remainder) and names, as a word, an offered tool other than the one
  that produced it whose name or description says it reads (read, fetch, retrieve, load, page): the reader.
  (A result that merely mentions another tool, or carries a ``"truncated": false`` field, is a result.)
- **The reader's arguments**, from its JSON schema and the preview's text. A parameter the text gives as
  ``name=value`` takes that value. Any other string parameter takes the quoted value (backticks, else double
  quotes) whose label, the words just before it, shares most words with the parameter's name ("relative file
  path `…/result.md`" for ``file_path``). A start-like integer (start, offset, from, begin, skip) begins at the
  text's example, else the schema's default, else 0. A count-like one (count, limit, length, size, max) asks
  for everything the text says there is (the largest "N <unit>s" for the unit in its name: ``line_count`` →
  "779 lines"), else the text's example, else null. All of it in one read, where the reader allows: reading
  in the example's small sections would cost a framework more model rounds than its budget for the task.
- **Progress**: the reader's calls after the preview that carry the same identifying strings, and their
  results. Reading goes on from where the reads got to while they come back short of the total (a reader
  that caps a section), and ends at the total, at a read shorter than asked when no total is given, at an
  empty or error result, or after one read when the unit cannot be counted (a unit other than lines or
  characters, or no count parameter).
- **The full result**: the reads joined in order; the preview itself only if no read succeeded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.scripted.messages import Message, RequestView, Tool, normalise
from benchmark.scripted.schemas import name_words, resolve, type_of

MAX_READS = 50  # a reader that never reaches the end must not keep the trial calling it
LABEL_WORDS = 8  # how many words before a quoted value say what it is

_PARTIAL = re.compile(r"\b(?:preview|truncated|excerpt|partial|abridged|the rest|remainder)\b", re.IGNORECASE)
_BACKTICKED = re.compile(r"`([^`\n]+)`")
_DOUBLE_QUOTED = re.compile(r'"([^"\n]+)"')
_READS = re.compile(r"read|fetch|retriev|load|page", re.IGNORECASE)
_START = frozenset({"start", "offset", "from", "begin", "skip"})
_COUNT = frozenset({"count", "limit", "length", "size", "max", "num", "number"})


@dataclass(frozen=True)
class Reading:
    """Where reading one deferred result stands."""

    reader: str  # the offered tool that reads the rest
    text: str  # the whole result once read; until then what is at hand (the reads so far, else the preview)
    arguments: dict[str, Any] | None  # the next read to make; None once the whole result is at hand


@dataclass(frozen=True)
class _Plan:
    reader: str
    fixed: dict[str, Any]  # the arguments every read repeats (what to read)
    start: str | None  # the start-like parameter, if any
    first: int  # where the first read starts
    count: str | None  # the count-like parameter, if any
    ask: int | None  # how much the first read asks for (None: everything, or the reader's own default)
    total: int | None  # how much the text says there is
    unit: str | None  # "line" or "char" when reads can be measured


def _names(text: str, name: str) -> int:
    """The position just after the last mention of ``name`` as a whole word in ``text``, or -1."""
    found = [m.end() for m in re.finditer(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text)]
    return found[-1] if found else -1


def _quoted(text: str) -> list[tuple[str, set[str]]]:
    """Each quoted value in ``text`` with the words of its label (the text since the previous quoted value)."""
    pattern = _BACKTICKED if _BACKTICKED.search(text) else _DOUBLE_QUOTED
    values = []
    previous_end = 0
    for match in pattern.finditer(text):
        label = re.findall(r"[a-z0-9]+", text[previous_end : match.start()].casefold())[-LABEL_WORDS:]
        values.append((match.group(1), set(label)))
        previous_end = match.end()
    return values


def _example(text: str, name: str) -> str | None:
    """The value the text gives as ``name=value`` (``start_line=1``), quotes removed."""
    found = re.search(rf"(?<![\w.-]){re.escape(name)}\s*=\s*(\"[^\"\n]*\"|'[^'\n]*'|[^\s`,;)\]]+)", text)
    return found.group(1).strip("\"'") if found else None


def _integer(value: str | None) -> int | None:
    return int(value.replace(",", "")) if value is not None and re.fullmatch(r"\d[\d,]*", value) else None


def _nullable(raw: Any) -> bool:
    if not isinstance(raw, Mapping):
        return False
    kind = raw.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    branches = [b for key in ("anyOf", "oneOf") if isinstance(raw.get(key), list) for b in raw[key]]
    return any(_nullable(branch) for branch in branches)


def _plan(tool: Tool, text: str) -> _Plan | None:
    """How to read the rest with ``tool``, or None when its arguments cannot be read off the text."""
    properties = tool.parameters.get("properties")
    if not isinstance(properties, Mapping):
        return None
    required = tool.parameters.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    quoted = _quoted(text)
    fixed: dict[str, Any] = {}
    start: str | None = None
    first = 0
    count: str | None = None
    ask: int | None = None
    total: int | None = None
    unit: str | None = None
    for name, raw in properties.items():
        prop = resolve(raw, tool.parameters)
        kind = type_of(prop)
        words = set(name_words(name))
        example = _example(text, name)
        if kind == "integer" and words & _START and start is None:
            start = name
            default = prop.get("default")
            first = _integer(example) or (default if isinstance(default, int) else 0)
        elif kind == "integer" and words & _COUNT and count is None:
            count = name
            ask = _integer(example)
            for word in sorted(words - _COUNT):
                stem = word.rstrip("s")
                stated = [_integer(n) for n in re.findall(rf"\b(\d[\d,]*)\s+{re.escape(stem)}s?\b", text, re.I)]
                if stated:
                    total = max(n for n in stated if n is not None)
                unit = "line" if stem == "line" else "char" if stem in ("char", "character") else unit
        elif kind == "string":
            value = example
            if value is None:
                scored = [(len(words & label), value) for value, label in quoted if value != tool.name]
                best = max(scored, key=lambda pair: pair[0], default=(0, None))
                value = best[1] if best[0] > 0 else None
            if value is not None:
                fixed[name] = value
            elif name in required_names:
                return None
        elif example is not None and kind == "integer" and _integer(example) is not None:
            fixed[name] = _integer(example)
        elif name in required_names:
            if not _nullable(raw):
                return None
            fixed[name] = None
    if not any(isinstance(value, str) for value in fixed.values()):
        return None  # nothing says which result to read
    return _Plan(tool.name, fixed, start, first, count, total if total is not None else ask, total, unit)


def _preview_of(view: RequestView, call_id: str) -> tuple[Message, str] | None:
    """The tool message answering ``call_id`` and the name of the tool that produced it."""
    producer = next((call.name for call in view.all_calls() if call.id == call_id), "")
    for message in view.messages:
        if message.role in ("tool", "function") and message.tool_call_id == call_id:
            return message, producer
    return None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _measure(text: str, unit: str | None) -> int | None:
    if unit == "line":
        return len(text.splitlines())
    if unit == "char":
        return len(text)
    return None


def _failed(text: str) -> bool:
    return not text.strip() or normalise(text).startswith(("error", "[error"))


def reading(view: RequestView, call_id: str) -> Reading | None:
    """How far the result of ``call_id`` has been read, when the framework sent a preview of it; else None."""
    found = _preview_of(view, call_id)
    if found is None:
        return None
    preview, producer = found
    text = preview.text
    if not _PARTIAL.search(text) or _is_json(text.strip()):
        return None
    plans = []
    for tool in view.tools:
        reads_things = _READS.search(f"{tool.name} {tool.description}") is not None
        position = _names(text, tool.name) if tool.name != producer and reads_things else -1
        plan = _plan(tool, text) if position >= 0 else None
        if plan is not None:
            plans.append((position, plan))
    if not plans:
        return None
    plan = max(plans, key=lambda pair: pair[0])[1]  # the reader the text names last ("Use `x` to read it")
    reads: list[tuple[int | None, str | None]] = []
    for message in view.messages:
        if message.index <= preview.index:
            continue
        for call in message.calls:
            arguments = _arguments(call.arguments)
            if call.name == plan.reader and all(arguments.get(k) == v for k, v in plan.fixed.items() if v is not None):
                asked = arguments.get(plan.count) if plan.count else None
                reads.append((asked if isinstance(asked, int) else None, view.result_for(call.id)))
    got: list[str] = []
    read_so_far = 0
    done = False
    for asked, result in reads:
        if result is None or _failed(result):
            done = True
            break
        got.append(result)
        size = _measure(result, plan.unit)
        if plan.count is None or asked is None or size is None or size == 0 or len(got) >= MAX_READS:
            done = True
            break
        read_so_far += size
        if (plan.total is not None and read_so_far >= plan.total) or (plan.total is None and size < asked):
            done = True
            break
    joined = "\n".join(part.rstrip("\n") for part in got) if plan.unit == "line" else "".join(got)
    at_hand = joined if got else text
    if done:
        return Reading(plan.reader, at_hand, None)
    arguments = dict(plan.fixed)
    if plan.start is not None:
        arguments[plan.start] = plan.first + read_so_far
    if plan.count is not None:
        arguments[plan.count] = plan.total - read_so_far if plan.total is not None else plan.ask
    return Reading(plan.reader, at_hand, arguments)


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
