"""Tasks as data: conversation turns, what is expected of each turn, and the scripted model's reference path.

``tasks/schema.json`` is generated from these models (``python -m benchmark.tasks.schema``); the loader
validates every suite against them and names the file, task and field of any error.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from benchmark.records import ResilienceOutcome
from benchmark.spec import APPROVED, CHANGES_REQUESTED
from mcp_server.faults import ToolFault

Route = Literal["legal_expert", "operational_agent", "refused"]
# What the model gateway can do to one exchange of a trial: replace a reply by a faulty one, or break the HTTP
# exchange itself (the framework's transport sees it).
ReplyFaultKind = Literal[
    "malformed_arguments",
    "unknown_tool",
    "missing_argument",
    "wrong_argument_type",
    "disallowed_tool",
    "tool_call_as_text",
    "empty_reply",
    "length_cutoff",
    "parallel_calls",
]
TransportFaultKind = Literal["http_429", "http_500", "http_503", "connection_reset", "stalled_stream"]
ModelFaultKind = Literal[ReplyFaultKind, TransportFaultKind]  # one flat Literal: get_args lists every kind
# How a faulted trial ended (classified from the outside by benchmark.scoring.resilience): defined beside the
# trial record, which carries it; a task expects recovered or graceful.
Outcome = ResilienceOutcome


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArgumentCheck(_Strict):
    """A constraint on one tool argument; exactly one field set."""

    equals: Any | None = None
    contains: str | None = Field(default=None, description="Case-insensitive substring of the argument's text.")
    regex: str | None = Field(default=None, description="Python regex searched in the argument's text.")
    number: float | None = Field(default=None, description="Numeric argument within `tolerance` of this.")
    tolerance: float = 0.0
    present: bool | None = Field(default=None, description="True: the argument must be given (any value).")

    @model_validator(mode="after")
    def _one(self) -> ArgumentCheck:
        chosen = [n for n in ("equals", "contains", "regex", "number", "present") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(f"set exactly one of equals/contains/regex/number/present, got {chosen or 'none'}")
        return self


class ExpectedToolCall(_Strict):
    name: str
    arguments: dict[str, ArgumentCheck] = Field(default_factory=dict)


class AnswerCheck(_Strict):
    """One check on the final answer text; exactly one field set."""

    contains: str | None = Field(default=None, description="Case-insensitive substring.")
    regex: str | None = None
    number: float | None = Field(default=None, description="Some number in the answer is within tolerance.")
    tolerance: float = 0.0
    not_contains: str | None = Field(default=None, description="Case-insensitive substring that must be absent.")
    python_tests: str | None = Field(
        default=None,
        description="Hidden tests: the answer's last fenced Python block, followed by this program, runs in the "
        "run_python sandbox and must exit 0 (asserts that fail exit 1). Never sent to the model.",
    )

    @model_validator(mode="after")
    def _one(self) -> AnswerCheck:
        kinds = ("contains", "regex", "number", "not_contains", "python_tests")
        chosen = [n for n in kinds if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(f"set exactly one of {'/'.join(kinds)}, got {chosen or 'none'}")
        return self


class Expectation(_Strict):
    route: Route
    tool_calls: list[ExpectedToolCall] = Field(default_factory=list)
    ordered: bool = Field(default=False, description="Expected calls must appear in this order.")
    allowed_calls: list[str] = Field(
        default_factory=list,
        description="Tools this turn may also call without it counting as an extra call (e.g. sql_schema before "
        "a query, a calculator for a difference that can be done in one's head): neither required nor penalised.",
    )
    answer: list[AnswerCheck] = Field(default_factory=list)


class ScriptStep(_Strict):
    """One tool call of the reference trajectory; its result is referred to by ``as`` (default: the tool)."""

    call: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    as_: str | None = Field(default=None, alias="as")


class TeamScript(_Strict):
    """What the code team's members do for this turn (:class:`benchmark.spec.TeamSpec`'s protocol): the coder
    writes ``drafts[i]`` once it has seen the review of draft ``i - 1``; the reviewer answers ``reviews[i]`` to
    draft ``i`` (every review but the last requests changes, the last approves); the tester runs the final draft
    followed by ``tests`` with ``run_python`` and answers with the turn's ``answer`` template, where ``{draft}``
    is the draft it tested and ``{run_python.stdout}`` what the run printed."""

    drafts: list[str] = Field(min_length=1, description="The coder's drafts, as code (no fences), in order.")
    reviews: list[str] = Field(min_length=1, description="The reviewer's answer to each draft, in order.")
    tests: str = Field(description="The tester's own tests (visible to the model), run after the final draft.")

    @model_validator(mode="after")
    def _reviews_fit(self) -> TeamScript:
        if len(self.reviews) != len(self.drafts):
            raise ValueError(f"{len(self.drafts)} drafts need {len(self.drafts)} reviews, got {len(self.reviews)}")
        if not self.reviews[-1].startswith(APPROVED):
            raise ValueError(f"the last review approves the final draft: it must begin with {APPROVED}")
        early = [i + 1 for i, review in enumerate(self.reviews[:-1]) if not review.startswith(CHANGES_REQUESTED)]
        if early:
            raise ValueError(f"reviews before the last must begin with {CHANGES_REQUESTED} (review {early[0]})")
        for later, draft in enumerate(self.drafts[1:], start=1):
            if any(draft.strip() in earlier for earlier in self.drafts[:later]):
                raise ValueError(f"draft {later + 1} is contained in an earlier draft: the drafts must differ")
        return self


class Script(_Strict):
    """What the scripted model does for this turn: route, call these tools in order, then answer.

    ``answer`` is a template: ``{name.path}`` is filled from the tool result the framework actually sent back
    (``{weather.current.temperature}``, ``{sql.rows[0][1]}``, ``{weather.error.message}``). A reference to a
    result the model never received is left visibly unfilled, so the turn fails.
    """

    steps: list[ScriptStep] = Field(default_factory=list)
    answer: str
    requires_context: list[str] = Field(
        default_factory=list,
        description="Text that must appear in the messages the framework sends (conversation memory).",
    )
    team: TeamScript | None = Field(
        default=None,
        description="A programming request: the specialist delegates it to the code team, whose members do this; "
        "`answer` is then the tester's.",
    )

    @model_validator(mode="after")
    def _team_or_steps(self) -> Script:
        if self.team is not None and self.steps:
            raise ValueError("a turn for the code team has no specialist steps: the tester's run_python is its call")
        return self


class Turn(_Strict):
    user: str
    expect: Expectation
    script: Script | None = Field(default=None, description="Required unless the route is 'refused'.")
    restart: bool = Field(
        default=False,
        description="Before this turn the harness closes the conversation, kills the build's worker process, starts"
        " a fresh one and reopens the conversation by its id: the turn needs memory that survived a restart.",
    )

    @model_validator(mode="after")
    def _script_needed(self) -> Turn:
        if self.script is None and self.expect.route != "refused":
            raise ValueError("a turn that is not refused needs a script for the scripted model")
        return self


class ModelFault(_Strict):
    """One model exchange of the trial that the gateway breaks: the ``nth`` reply to ``role``."""

    kind: ModelFaultKind
    role: Literal["guardrail", "orchestrator", "specialist"] = "specialist"
    nth: int = Field(default=1, ge=1, description="The n-th model call of that role in the trial (1-based).")
    times: int = Field(
        default=1,
        ge=1,
        description="Transport faults: consecutive attempts that fail from the n-th (a large number: every retry).",
    )
    tool: str | None = Field(
        default=None, description="disallowed_tool: the real MCP tool outside the agent's allow-list to call."
    )


class Fault(_Strict):
    """The one fault a resilience task injects, and the outcome a well-behaved build reaches."""

    model: ModelFault | None = None
    tool: ToolFault | None = None
    expect: Literal["recovered", "graceful"] = Field(
        description="recovered: the task still passes; graceful: it cannot (by design), but the build says so."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Fault:
        if (self.model is None) == (self.tool is None):
            raise ValueError("a fault is either a model fault or a tool fault (exactly one of `model`, `tool`)")
        return self


class Task(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,80}$")
    category: str
    description: str = ""
    turns: list[Turn] = Field(min_length=1)
    fault: Fault | None = Field(default=None, description="Resilience tasks: the fault injected into the trial.")

    @model_validator(mode="after")
    def _no_restart_first(self) -> Task:
        if self.turns[0].restart:
            raise ValueError("turn 1 cannot restart: there is no conversation before it")
        return self

    def segments(self) -> list[range]:
        """The turns each worker process runs: a new segment starts at every turn that restarts."""
        starts = [0, *(i for i, turn in enumerate(self.turns) if turn.restart), len(self.turns)]
        return [range(a, b) for a, b in pairwise(starts)]


class Suite(_Strict):
    """A suite as the runner uses it: every task written out (``base:`` entries already expanded)."""

    name: str
    description: str = ""
    tasks: list[Task] = Field(min_length=1)


class TaskFromBase(_Strict):
    """A task of another suite (``base_suite``) with one fault: its turns, expectations and script are the base
    task's, so the resilience suite cannot drift from the tasks it reuses."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,80}$")
    base: str = Field(description="The id of the task in the suite's `base_suite` whose turns this entry runs.")
    category: str | None = Field(default=None, description="Default: the base task's category.")
    description: str | None = Field(default=None, description="Default: the base task's description.")
    fault: Fault


class SuiteFile(_Strict):
    """A suite file as written: tasks in full, or ``base:`` entries that the loader expands (``tasks/schema.json``
    is generated from this model)."""

    name: str
    description: str = ""
    base_suite: str = Field(
        default="core",
        description="The suite `base:` entries name their tasks in: a suite name (tasks/<name>.yaml) or a .yaml"
        " path relative to this file.",
    )
    tasks: list[Task | TaskFromBase] = Field(min_length=1)
