"""Tasks as data: conversation turns, what is expected of each turn, and the scripted model's reference path.

``tasks/schema.json`` is generated from these models (``python -m benchmark.tasks.schema``); the loader
validates every suite against them and names the file, task and field of any error.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Route = Literal["legal_expert", "operational_agent", "refused"]


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

    @model_validator(mode="after")
    def _one(self) -> AnswerCheck:
        chosen = [n for n in ("contains", "regex", "number", "not_contains") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(f"set exactly one of contains/regex/number/not_contains, got {chosen or 'none'}")
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


class Turn(_Strict):
    user: str
    expect: Expectation
    script: Script | None = Field(default=None, description="Required unless the route is 'refused'.")

    @model_validator(mode="after")
    def _script_needed(self) -> Turn:
        if self.script is None and self.expect.route != "refused":
            raise ValueError("a turn that is not refused needs a script for the scripted model")
        return self


class Task(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,80}$")
    category: str
    description: str = ""
    turns: list[Turn] = Field(min_length=1)


class Suite(_Strict):
    name: str
    description: str = ""
    tasks: list[Task] = Field(min_length=1)
