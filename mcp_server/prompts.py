"""The specialists' system prompts, served as MCP prompts and used by every benchmark build.

The texts live in ``prompt_texts/*.md`` so they can be read and reviewed as prose. A name is looked up in
the catalog below, never joined into a path: a caller's name (``../../README``) cannot reach the file
system or learn what exists there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

_TEXTS = Path(__file__).resolve().parent / "prompt_texts"


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str

    @cached_property
    def text(self) -> str:
        return (_TEXTS / f"{self.name}.md").read_text(encoding="utf-8").strip()


PROMPTS: tuple[PromptSpec, ...] = (
    PromptSpec(
        "legal_expert",
        "Legal expert",
        "System prompt of the legal expert: contracts, compliance, data protection and employment law.",
    ),
    PromptSpec(
        "operational_agent",
        "Operational agent",
        "System prompt of the operational agent: calculations, weather, business data, how-tos and runbooks.",
    ),
)
_BY_NAME = {p.name: p for p in PROMPTS}


def find_prompt(name: str) -> PromptSpec | None:
    return _BY_NAME.get(name)


def load_prompt(name: str) -> str:
    """The text of the catalog prompt ``name``; KeyError naming the known prompts otherwise."""
    spec = _BY_NAME.get(name)
    if spec is None:
        raise KeyError(f"unknown prompt {name!r}; known: {', '.join(_BY_NAME)}")
    return spec.text
