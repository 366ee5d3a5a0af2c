"""The shape of the agent system a build is given: agents, instructions, tool allow-lists, guardrail and
generation settings, the code team the operational agent delegates to, and the names routing uses.

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
CODE_TEAM = "code_team"
CODER = "coder"
REVIEWER = "reviewer"
TESTER = "tester"
APPROVED = "APPROVED"  # how a review that lets the draft go to the tester begins
CHANGES_REQUESTED = "CHANGES REQUESTED"  # how a review that sends the draft back to the coder begins


@dataclass(frozen=True)
class AgentSpec:
    name: str
    title: str
    handoff_description: str  # what the orchestrator reads when choosing
    instructions: str
    tools: tuple[str, ...]  # MCP tool names this agent may call; nothing else


@dataclass(frozen=True)
class TeamSpec:
    """A team a specialist delegates to as one unit: the code team (coder, reviewer, tester), which the
    operational agent hands programming requests to. Every build runs the same protocol, each in its
    framework's idiom for nested multi-agent work (a subgraph, a team used as a tool, a workflow, a loop agent):

    1. the **coder** is given the request and writes the code (one fenced ```python block);
    2. the **reviewer** is given the request and the latest draft, and answers with a review that begins with
       ``approval`` (``APPROVED``: the draft goes to the tester) or with ``CHANGES REQUESTED`` and what to fix;
    3. on changes, the coder is given the request, its draft and the review, and writes the next draft, which
       goes back to step 2 — at most ``max_reviews`` reviews, after which the latest draft goes on as it is;
    4. the **tester** (the only member with a tool: ``run_python``) is given the request and the final draft,
       writes tests, runs them in the sandbox, and answers with the final code and what the tests showed;
    5. the tester's answer is the team's; the delegating agent (``parent``) answers the user with that code.
    """

    name: str  # the delegation target's name (a tool, an agent, a node): CODE_TEAM
    title: str
    handoff_description: str  # what the delegating agent reads when choosing it
    parent: str  # the specialist that delegates to the team
    members: tuple[AgentSpec, ...]  # coder, reviewer, tester, in working order
    approval: str  # the start of a review that approves the draft
    max_reviews: int  # reviews before the latest draft goes to the tester unapproved

    def member(self, name: str) -> AgentSpec:
        for agent in self.members:
            if agent.name == name:
                return agent
        raise KeyError(f"unknown member '{name}' of {self.name}; members: {', '.join(a.name for a in self.members)}")

    # What a member is handed, where a build hands it text (builds whose members share one conversation hand
    # nothing: the member sees the request, the drafts and the reviews there).
    def for_reviewer(self, request: str, draft: str) -> str:
        return f"Request:\n{request}\n\nLatest draft:\n{draft}"

    def for_revision(self, request: str, draft: str, review: str) -> str:
        return f"Request:\n{request}\n\nYour draft:\n{draft}\n\nReview:\n{review}"

    def for_tester(self, request: str, draft: str) -> str:
        return f"Request:\n{request}\n\nFinal draft:\n{draft}"

    def as_agent(self) -> AgentSpec:
        """The team as one delegation target, as its parent sees it (a handoff tool, an agent tool, a node)."""
        return AgentSpec(self.name, self.title, self.handoff_description, instructions="", tools=())

    def approves(self, review: str) -> bool:
        """Whether a reviewer's answer approves the draft: it begins with ``approval`` (markdown emphasis and
        case aside), as the reviewer's instructions ask."""
        return review.lstrip(" \t\n*_#>`").upper().startswith(self.approval.upper())


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
    code_team: TeamSpec

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
            code_team=TeamSpec(
                **{
                    **data["code_team"],
                    "members": tuple(
                        AgentSpec(**{**agent, "tools": tuple(agent["tools"])}) for agent in data["code_team"]["members"]
                    ),
                }
            ),
        )
