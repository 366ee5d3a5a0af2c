"""The shape of the agent system a build is given: agents, instructions, tool allow-lists, guardrail and
generation settings, and the names routing uses.

Every framework build reads a :class:`SystemSpec` and nothing else for behaviour, so all builds run the same
system. Its content lives in :mod:`benchmark.system`; the runner sends it to each worker as data
(:meth:`SystemSpec.to_dict` / :meth:`SystemSpec.from_dict`), so this module, like the rest of the build-facing
contract, imports only the standard library: it runs inside every build's own environment.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

LEGAL = "legal_expert"
OPERATIONAL = "operational_agent"
ORCHESTRATOR = "orchestrator"
GUARDRAIL = "guardrail"
REFUSED = "refused"  # the route of a request the guardrail stopped


@dataclass(frozen=True)
class AgentSpec:
    name: str
    title: str
    handoff_description: str  # what the orchestrator reads when choosing
    instructions: str
    tools: tuple[str, ...]  # MCP tool names this agent may call; nothing else


@dataclass(frozen=True)
class GuardrailSpec:
    instructions: str
    refusal: str  # the exact answer a refused request gets


@dataclass(frozen=True)
class GenerationSettings:
    """What every model call of every build asks for, so builds differ in their framework, not their sampling.
    The values of :func:`benchmark.system.default_spec`, and why:

    - ``temperature``: 0, so a run is as repeatable as the model allows and builds compare on the same footing.
    - ``max_output_tokens``: a cap on each call's output (``max_tokens`` or ``max_completion_tokens`` on the
      wire, whichever the framework sends). Without one a model that loops, or fills a JSON schema with
      whitespace, generates until the context is full (a real local server did, about 6,000 tokens on a
      guardrail verdict). The longest reference answer in ``tasks/`` is about 110 tokens, a verdict or a route
      about 30, a SQL tool call a few hundred: 1,024 leaves room for a real model's longer answers and still
      bounds what a runaway call costs. A reasoning model that thinks inside the same budget needs more.
    - ``parallel_tool_calls``: off, sent whenever tools are offered (and only then: OpenAI rejects it on a
      request without tools). The orchestrator must pick exactly one specialist, and the tasks' tool chains
      are sequential (schema, then query; weather, then arithmetic), as their reference trajectories are.
    """

    temperature: float
    max_output_tokens: int
    parallel_tool_calls: bool


@dataclass(frozen=True)
class SystemSpec:
    orchestrator_instructions: str
    specialists: tuple[AgentSpec, ...]
    guardrail: GuardrailSpec
    generation: GenerationSettings

    def agent(self, name: str) -> AgentSpec:
        for agent in self.specialists:
            if agent.name == name:
                return agent
        raise KeyError(f"unknown agent '{name}'; known: {', '.join(a.name for a in self.specialists)}")

    @property
    def routes(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.specialists)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (tuples become lists), as the runner sends it to a worker."""
        data: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SystemSpec:
        """The inverse of :meth:`to_dict`; a missing or unknown field raises ``TypeError``/``KeyError``."""
        return cls(
            orchestrator_instructions=data["orchestrator_instructions"],
            specialists=tuple(AgentSpec(**{**agent, "tools": tuple(agent["tools"])}) for agent in data["specialists"]),
            guardrail=GuardrailSpec(**data["guardrail"]),
            generation=GenerationSettings(**data["generation"]),
        )
