"""The specialists' system prompts, served as MCP prompts and used by every benchmark build.

The texts live in ``prompt_texts/*.md`` so they can be read and reviewed as prose; this module is their one
loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

_TEXTS = Path(__file__).resolve().parent / "prompt_texts"


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str

    @property
    def text(self) -> str:
        return load_prompt(self.name)


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


@cache
def load_prompt(name: str) -> str:
    path = _TEXTS / f"{name}.md"
    if not path.is_file():
        raise KeyError(f"unknown prompt '{name}'; known: {', '.join(p.name for p in PROMPTS)}")
    return path.read_text(encoding="utf-8").strip()
