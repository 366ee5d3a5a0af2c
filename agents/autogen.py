"""The AutoGen build (``autogen-agentchat`` / ``autogen-ext`` 0.7.5, the newest release; AutoGen is in maintenance
mode): a ``SelectorGroupChat`` of a guardrail and two specialists, the orchestrator being the team's speaker
selector; the code team a ``GraphFlow`` offered to the operational agent as a ``TeamTool``.

How the system maps onto AutoGen:

- Routing: the orchestrator is the ``SelectorGroupChat``'s model-based speaker selection. Its
  ``selector_prompt`` is the spec's orchestrator instructions followed by AutoGen's usual "select the next role
  from {participants}" prompt, over the participants' descriptions (each specialist's handoff description)
  and the transcript. A ``candidate_func`` offers only the specialists, so the selector never picks the
  guardrail, and the selected specialist answers the turn.
- Handoff: AutoGen's group-chat turn-taking: the selected ``AssistantAgent`` speaks next and sees the shared
  transcript. The turn's agent is the source of the team's final message.
- Guardrail: a ``selector_func`` (AutoGen's hook for overriding model selection) gives the first word on every
  new user message to a guardrail ``AssistantAgent`` with ``output_content_type=Verdict`` (structured output,
  a ``response_format`` JSON schema) and a one-message ``BufferedChatCompletionContext``, so it judges only the
  latest request. A ``FunctionalTermination`` ends the run on a refusing verdict, so no specialist and no tool
  runs; the spec's refusal is the answer. AgentChat 0.7 has no guardrail primitive: this is its pattern. The
  verdict's ``StructuredMessage[Verdict]`` goes in the team's ``custom_message_types``, as AutoGen's docs do
  for structured messages in a team: the team registers only the bare ``StructuredMessage`` an
  ``AssistantAgent`` declares, and without it the verdict fails with "Message type
  StructuredMessage[Verdict] is not registered" (still so in 0.7.5; microsoft/autogen#6795, open).
- Termination: ``SourceMatchTermination`` on the specialists (one answer per user turn) or the refusal.
- Memory: the team itself, kept with AutoGen's state API (the AgentChat "Managing State" tutorial:
  ``team.save_state()`` to JSON on disk, ``load_state()`` into a new team to resume). ``team.run(task=...)`` is
  called once per user turn and the team is never reset, so the selector's and the specialists' model contexts
  keep the earlier turns (user messages, answers, tool calls, refusals), and a follow-up is routed and
  answered in their light. The specialists' ``SpecialistContext`` leaves the guardrail's approvals out: they
  say nothing, and left in, an approval and not the request would be the last user message a specialist
  reads. After every turn (answered or refused) the team's ``save_state()`` (each participant's model
  context, its container's message buffer, and the selector manager's message thread, turn count and
  previous speaker) is written as JSON to ``autogen-<conversation id>.json`` in the harness's store directory,
  replacing the file atomically; a conversation opened again by its id, in a fresh process, builds the same
  team and ``load_state()``s it before its first turn, so every agent's model context, the selector's
  transcript included, holds what it held before the restart. The state is AutoGen's own: messages are
  dumped with ``BaseChatMessage.dump()`` and rebuilt by the team's message factory (``StructuredMessage
  [Verdict]`` is among its ``custom_message_types``), the model contexts by their ``save_state``/
  ``load_state``.
- MCP adapter: ``McpWorkbench(StreamableHttpServerParams(url, headers))``, one per specialist, narrowed to the
  specialist's allow-list by ``AllowListWorkbench`` (see the workarounds); ``AssistantAgent`` only calls tools
  its workbench lists, so the allow-list holds. The filtered list is cached per connection: the workbench
  lists tools before every model call and every tool call, and the server's tools do not change.
- Model client: ``OpenAIChatCompletionClient(base_url=..., model_info=...)`` (Chat Completions), one per
  conversation, with the spec's ``temperature`` and ``max_tokens`` as its create arguments, so the selector,
  the guardrail and the specialists all send them. ``model_info`` declares function calling and structured
  output because the gateway's model name is not one AutoGen knows; its family is "unknown", so the selector
  prompt goes out as a user message (AutoGen does that for non-OpenAI families). Its ``timeout`` is
  ``model.timeout_s``: AutoGen passes it both to the ``AsyncOpenAI`` it builds and as a create argument of
  every request, so it bounds every HTTP phase of each attempt, a read included (a request answered with
  nothing, or a body that stops coming, fails after ``timeout_s``). Runtime tracing is off: the team gets
  its own ``SingleThreadedAgentRuntime`` with a ``NoOpTracerProvider``.
- Retries: the defaults. ``max_retries`` is not set, so the ``AsyncOpenAI`` that AutoGen builds from the
  config keeps the openai SDK's own default, and AutoGen adds no retry layer of its own: 2 retries
  (3 attempts) of a request that timed out or failed to connect (reset, refused) or was answered 408, 409,
  429 or 5xx (unless the response says ``x-should-retry: false``), after exponential back-off from 0.5 s
  doubling to at most 8 s, minus up to 25 % jitter, or after the server's ``Retry-After``/``retry-after-ms``
  when that is between 0 and 120 s (``openai/_base_client.py``: the request loop, ``_should_retry``,
  ``_calculate_retry_timeout``). No agent here streams (``model_client_stream`` is off), so a body that stops
  half-way is read inside the request and retried like a silent one; a streamed response is retried only
  until its headers arrive. A request that still fails raises out of the agent, and the team's runtime
  ends ``team.run`` with it (a ``RuntimeError`` carrying the openai error). Each retry resends an identical
  body, which the gateway takes for another attempt of the same call when it counts calls for a fault.
- Resilience: AutoGen's defaults, which already report a bad tool call back to the model as the tool's
  error result: arguments that do not parse, a tool the agent does not have, a tool's error result and any
  exception from the MCP client (``McpWorkbench.call_tool`` turns it into an error ``ToolResult``). AgentChat
  0.7 has no setting for an empty reply or a tool call written as text: the reply is the agent's answer.
- Tool-loop bound: ``max_tool_iterations`` with ``reflect_on_tool_use=True``: after the last iteration AutoGen
  asks the model for an answer with ``tool_choice="none"``.

Code team: a nested team used as a tool, AutoGen's agents-as-tools pattern for teams (``TeamTool``, the
AgentChat reference of ``autogen_agentchat.tools``, "stable" docs; ``autogen_agentchat/tools/_team.py``): the
team is a ``GraphFlow`` (the AgentChat "GraphFlow (Workflows)" guide, its loop with a conditional exit) built
with ``DiGraphBuilder``: coder -> reviewer, then two conditional edges from the reviewer, back to the coder
when the review asks for changes and reviews remain, on to the tester otherwise (``ReviewLoop``: the spec's
``approves`` and ``max_reviews``; an edge condition sees only the message, so it counts the run's reviews
itself), the coder being the graph's entry point and ``max_turns`` (``2 * max_reviews + 1``) the cyclic
graph's required bound. The members are ``AssistantAgent`` agents with the spec's instructions and the one model
client; the tester alone has a workbench, an ``AllowListWorkbench`` of ``run_python`` over the same MCP
server, with the specialists' tool-loop settings. A ``GraphFlow`` broadcasts every message to every member,
so each sees the request (the tool's ``task``), the drafts and the reviews. The ``TeamTool`` (named
``code_team``, the spec's handoff description, ``return_value_as_last_message=True``: the tester's answer is the
tool's result) goes to the operational agent in a ``StaticStreamWorkbench`` beside its MCP workbench, which
is what ``AssistantAgent`` does with ``tools=`` (tools and a workbench cannot be combined), and as
``TeamTool``'s docs require, ``parallel_tool_calls`` is off. The team runs on a ``SingleThreadedAgentRuntime``
of its own (tracing off), since the operational agent calls it from inside the outer team's runtime. The
members' messages come back as the tool's streamed events and appear in the outer ``TaskResult``, from which
the answer is still the specialist's. ``CodeTeamTool`` resets the team before each delegation (``TeamTool``
keeps the members' contexts and the graph's transcript across calls), so each request is worked on afresh,
as in the vanilla build; it imports ``TaskRunnerToolArgs``, the tool's argument model, from its private module
(``autogen_agentchat.tools`` does not export it). The team is not in the saved state: nothing of it outlives
a delegation.

Usage accounting: the model client's ``total_usage()`` (``ChatCompletionClient``'s usage counter, a
``RequestUsage`` the client adds every reply's ``usage`` to; AutoGen's model-client docs read it before and after
a call), snapshotted before and after each ``team.run``: the turn's difference. The one client serves the
selector, the guardrail, both specialists and the code team's members, so it covers every model call of the
turn (selection, verdict, tool rounds, reflection, and the nested team's drafts, reviews and tests).
``RequestUsage`` has no call count (``calls`` is None); the messages' ``models_usage`` would miss the speaker
selector's calls, which no message carries.

Workarounds (autogen-agentchat / autogen-ext 0.7.5, each re-checked against that release):

- ``mcp<2`` in ``envs/autogen/requirements.in``: autogen-ext declares ``mcp>=1.11.0`` with no upper bound, so
  a fresh lock resolves mcp 2.x, on which ``autogen_ext.tools.mcp`` fails to import (``cannot import name
  'RequestContext' from 'mcp.shared.context'``): microsoft/autogen#8014, open (fixes #8020/#8021 unmerged).
- ``parallel_tool_calls``: the client's own setting (added for microsoft/autogen#6825) goes on every request,
  and most of this team's carry no tools (speaker selection, the guardrail's verdict, a specialist's
  reflection after its tools), which OpenAI then rejects; AutoGen's advice is to pass it per call in
  ``extra_create_args``, which ``AssistantAgent`` does not expose. ``ToolCallSettingsClient`` adds the spec's
  value to the extra create arguments of calls that offer tools, in ``create`` and ``create_stream``. The
  tool-less reflection call is microsoft/autogen#6328 (open).
- ``McpWorkbench`` has no tool filter (only ``tool_overrides``, which rename), so ``AllowListWorkbench`` (a
  subclass) lists only the specialist's allow-list and refuses any other name; no upstream issue found. Its
  HTTP timeout is raised from 30 s to the vanilla build's 60 s for the RAG tool on a loaded machine.
- ``SelectorGroupChat`` documents ``allow_repeated_speaker`` as ignored when a ``candidate_func`` is given, but
  its selection retry loop still rejects the previous speaker unless it is True; a follow-up for the same
  specialist then costs three rejected selections and a fallback. Hence ``allow_repeated_speaker=True``. No
  issue for this case found; the same loop's fallback is microsoft/autogen#7471 (open).

Known and left alone: the guardrail's structured call logs a pydantic "PydanticSerializationUnexpectedValue
... field_name='parsed'" warning in the worker's log. openai's ``chat.completions.parse`` builds a
``ParsedChatCompletion[~ResponseFormatT]`` and AutoGen's ``LLMCallEvent`` log line ``model_dump()``s it; the
verdict itself is parsed correctly (still so with openai 3.57 and pydantic 2.14; cf. openai/openai-python#2872,
the same warning on ``responses.parse``).

README row: SelectorGroupChat | speaker | team state | guard agent | McpWorkbench subclass | OpenAIChatCompletionClient
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import FunctionalTermination, SourceMatchTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, StructuredMessage, TextMessage
from autogen_agentchat.teams import DiGraphBuilder, GraphFlow, SelectorGroupChat
from autogen_agentchat.tools import TeamTool
from autogen_agentchat.tools._task_runner_tool import TaskRunnerToolArgs
from autogen_core import CancellationToken, SingleThreadedAgentRuntime
from autogen_core.model_context import BufferedChatCompletionContext, UnboundedChatCompletionContext
from autogen_core.models import CreateResult, LLMMessage, ModelFamily, ModelInfo, UserMessage
from autogen_core.tools import StaticStreamWorkbench, TextResultContent, ToolResult, ToolSchema, Workbench
from autogen_ext.models.openai import OpenAIChatCompletionClient
from autogen_ext.tools.mcp import McpWorkbench, StreamableHttpServerParams
from opentelemetry.trace import NoOpTracerProvider
from pydantic import BaseModel

from benchmark.contract import (
    AgentBuild,
    Conversation,
    McpEndpoint,
    MemoryStore,
    ModelEndpoint,
    TurnResult,
    Usage,
    started,
)
from benchmark.spec import CODER, GUARDRAIL, REVIEWER, TESTER, AgentSpec, SystemSpec, TeamSpec

MAX_TOOL_ROUNDS = 8
MCP_TIMEOUT_S = 60
MODEL_INFO = ModelInfo(
    vision=False, function_calling=True, json_output=True, structured_output=True, family=ModelFamily.UNKNOWN
)
SELECTOR_PROMPT = """{instructions}

The following roles are available:
{{roles}}

Read the following conversation. Then select the next role from {{participants}} to play. Only return the role.

{{history}}"""

Thread = Sequence[BaseAgentEvent | BaseChatMessage]


class Verdict(BaseModel):
    allowed: bool
    reason: str


class ToolCallSettingsClient(OpenAIChatCompletionClient):
    """``OpenAIChatCompletionClient`` sending ``parallel_tool_calls`` on calls with tools only (see the docstring)."""

    def __init__(self, *, parallel_tool_calls: bool, **config: Any) -> None:
        super().__init__(**config)
        self.tool_create_args: dict[str, Any] = {"parallel_tool_calls": parallel_tool_calls}

    def _with_tool_args(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("tools"):
            request["extra_create_args"] = {**self.tool_create_args, **request.get("extra_create_args", {})}
        return request

    async def create(self, messages: Sequence[LLMMessage], **request: Any) -> CreateResult:
        return await super().create(messages, **self._with_tool_args(request))

    def create_stream(self, messages: Sequence[LLMMessage], **request: Any) -> AsyncGenerator[str | CreateResult, None]:
        return super().create_stream(messages, **self._with_tool_args(request))


class AllowListWorkbench(McpWorkbench):
    """An ``McpWorkbench`` that offers and runs only the named tools (0.7.5's workbench cannot filter)."""

    def __init__(self, server_params: StreamableHttpServerParams, allowed: Iterable[str]) -> None:
        super().__init__(server_params)
        self.allowed = frozenset(allowed)
        self._listed: list[ToolSchema] | None = None

    async def list_tools(self) -> list[ToolSchema]:
        if self._listed is None:
            self._listed = [tool for tool in await super().list_tools() if tool["name"] in self.allowed]
        return self._listed

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        cancellation_token: CancellationToken | None = None,
        call_id: str | None = None,
    ) -> ToolResult:
        if name not in self.allowed:
            return ToolResult(name=name, result=[TextResultContent(content=f"{name} is not available")], is_error=True)
        return await super().call_tool(name, arguments, cancellation_token, call_id)

    async def stop(self) -> None:
        self._listed = None
        await super().stop()


class SpecialistContext(UnboundedChatCompletionContext):
    """A specialist's memory of the transcript without the guardrail's approvals.

    An approval says nothing about the request, and left in, it (not the request) would be the last user message
    a specialist reads. Refusals stay: a later turn must see that an earlier request was refused, not unanswered.
    """

    async def add_message(self, message: LLMMessage) -> None:
        approval = (
            isinstance(message, UserMessage)
            and message.source == GUARDRAIL
            and isinstance(message.content, str)
            and Verdict.model_validate_json(message.content).allowed
        )
        if not approval:
            await super().add_message(message)


def _refused(thread: Thread) -> bool:
    return any(
        isinstance(m, StructuredMessage) and isinstance(m.content, Verdict) and not m.content.allowed for m in thread
    )


class ReviewLoop:
    """The conditions on the reviewer's two edges of the code team's graph: back to the coder on a review that
    asks for changes while reviews remain, on to the tester otherwise. An edge condition sees only the message,
    so the loop counts the reviews of the current run itself (by message id: a condition may be asked again)."""

    def __init__(self, team: TeamSpec) -> None:
        self.team = team
        self.reviews: set[str] = set()

    def revise(self, review: BaseChatMessage) -> bool:
        self.reviews.add(review.id)
        return not self.team.approves(review.to_model_text()) and len(self.reviews) < self.team.max_reviews

    def test(self, review: BaseChatMessage) -> bool:
        return not self.revise(review)


class CodeTeamTool(TeamTool):
    """``TeamTool`` over the code team's ``GraphFlow`` that starts every delegation afresh: the team is reset (its
    members' model contexts and the graph's transcript cleared) and the review count with it, so each request is
    worked on alone, as a fresh run of the team."""

    def __init__(self, team: GraphFlow, loop: ReviewLoop, name: str, description: str) -> None:
        super().__init__(team, name, description, return_value_as_last_message=True)
        self.loop = loop

    async def _fresh(self) -> None:
        await self._team.reset()
        self.loop.reviews.clear()

    async def run(self, args: TaskRunnerToolArgs, cancellation_token: CancellationToken) -> TaskResult:
        await self._fresh()
        return await super().run(args, cancellation_token)

    async def run_stream(
        self, args: TaskRunnerToolArgs, cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | TaskResult, None]:
        await self._fresh()
        async for event in super().run_stream(args, cancellation_token):
            yield event


class AutoGenConversation:
    def __init__(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> None:
        self.spec = spec
        self.state_file = Path(memory.directory) / f"autogen-{memory.conversation_id}.json"
        self.client = ToolCallSettingsClient(
            model=model.model,
            base_url=model.base_url,
            api_key=model.api_key,
            model_info=MODEL_INFO,
            temperature=spec.generation.temperature,
            max_tokens=spec.generation.max_output_tokens,
            parallel_tool_calls=spec.generation.parallel_tool_calls,
            timeout=model.timeout_s,
        )
        server = StreamableHttpServerParams(url=mcp.url, headers=mcp.headers, timeout=MCP_TIMEOUT_S)
        self.workbenches = [AllowListWorkbench(server, agent.tools) for agent in spec.specialists]
        tester_workbench = AllowListWorkbench(server, spec.code_team.member(TESTER).tools)
        self._started: list[McpWorkbench] = []
        self.team_runtime = SingleThreadedAgentRuntime(
            tracer_provider=NoOpTracerProvider(), ignore_unhandled_exceptions=False
        )
        self.code_team = self._code_team(spec.code_team, tester_workbench)
        self.specialists = [self._specialist(a, wb) for a, wb in zip(spec.specialists, self.workbenches, strict=True)]
        self.workbenches.append(tester_workbench)
        guardrail = AssistantAgent(
            GUARDRAIL,
            self.client,
            description="Checks every new user request against the usage policy before anyone answers it.",
            system_message=spec.guardrail.instructions,
            output_content_type=Verdict,
            model_context=BufferedChatCompletionContext(buffer_size=1),  # the latest request, not the history
        )
        names = [agent.name for agent in self.specialists]
        self.runtime = SingleThreadedAgentRuntime(
            tracer_provider=NoOpTracerProvider(), ignore_unhandled_exceptions=False
        )
        self.team = SelectorGroupChat(
            [guardrail, *self.specialists],
            model_client=self.client,
            selector_prompt=SELECTOR_PROMPT.format(instructions=spec.orchestrator_instructions),
            selector_func=self._guardrail_first,
            candidate_func=lambda _thread: names,
            allow_repeated_speaker=True,  # consecutive turns often go to the same specialist
            termination_condition=SourceMatchTermination(names) | FunctionalTermination(_refused),
            custom_message_types=[StructuredMessage[Verdict]],
            runtime=self.runtime,
        )

    def _member(self, agent: AgentSpec, workbench: McpWorkbench | None = None) -> AssistantAgent:
        """A code team member: the spec's instructions, the one model client, the specialists' tool-loop bound."""
        return AssistantAgent(
            agent.name,
            self.client,
            workbench=workbench,
            description=agent.handoff_description,
            system_message=agent.instructions,
            max_tool_iterations=MAX_TOOL_ROUNDS,
            reflect_on_tool_use=workbench is not None,
        )

    def _code_team(self, team: TeamSpec, tester_workbench: McpWorkbench) -> CodeTeamTool:
        """The code team: a ``GraphFlow`` coder -> reviewer -> (coder | tester), offered as one ``TeamTool``."""
        coder, reviewer = self._member(team.member(CODER)), self._member(team.member(REVIEWER))
        tester = self._member(team.member(TESTER), tester_workbench)
        loop = ReviewLoop(team)
        builder = DiGraphBuilder()
        builder.add_node(coder).add_node(reviewer).add_node(tester)
        builder.add_edge(coder, reviewer)
        builder.add_edge(reviewer, coder, condition=loop.revise)
        builder.add_edge(reviewer, tester, condition=loop.test)
        builder.set_entry_point(coder)
        flow = GraphFlow(
            builder.get_participants(),
            graph=builder.build(),
            name=team.name,
            description=team.handoff_description,
            max_turns=2 * team.max_reviews + 1,  # drafts and reviews, then the tester: the loop's own bound
            runtime=self.team_runtime,
        )
        return CodeTeamTool(flow, loop, team.name, f"{team.title}: {team.handoff_description}")

    def _specialist(self, agent: AgentSpec, workbench: McpWorkbench) -> AssistantAgent:
        workbenches: list[Workbench] = [workbench]
        if agent.name == self.spec.code_team.parent:
            workbenches.append(StaticStreamWorkbench([self.code_team]))
        return AssistantAgent(
            agent.name,
            self.client,
            workbench=workbenches,
            description=agent.handoff_description,
            system_message=agent.instructions,
            model_context=SpecialistContext(),
            max_tool_iterations=MAX_TOOL_ROUNDS,
            reflect_on_tool_use=True,
        )

    @staticmethod
    def _guardrail_first(thread: Thread) -> str | None:
        latest = thread[-1] if thread else None
        return GUARDRAIL if isinstance(latest, TextMessage) and latest.source == "user" else None

    async def start(self) -> None:
        for workbench in self.workbenches:
            await workbench.start()
            self._started.append(workbench)
        self.team_runtime.start()
        self.runtime.start()
        if self.state_file.exists():  # a conversation opened again: resume the team where it was
            await self.team.load_state(json.loads(self.state_file.read_text(encoding="utf-8")))

    async def _save_state(self) -> None:
        """The team's state as JSON, replacing the previous turn's file in one step (a turn is kept whole)."""
        state = await self.team.save_state()
        partial = self.state_file.with_name(self.state_file.name + ".partial")
        partial.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial, self.state_file)

    async def send(self, message: str) -> TurnResult:
        before = self.client.total_usage()
        result = await self.team.run(task=message)
        after = self.client.total_usage()
        await self._save_state()
        usage = Usage(
            after.prompt_tokens - before.prompt_tokens,
            after.completion_tokens - before.completion_tokens,
            source="OpenAIChatCompletionClient.total_usage(), per turn",
        )
        if _refused(result.messages):
            return TurnResult(self.spec.guardrail.refusal, GUARDRAIL, usage)
        names = {agent.name for agent in self.specialists}
        answers = [m for m in result.messages if isinstance(m, BaseChatMessage) and m.source in names]
        if not answers:
            raise RuntimeError(f"the team stopped without a specialist's answer: {result.stop_reason}")
        return TurnResult(answers[-1].to_text(), answers[-1].source, usage)

    async def aclose(self) -> None:
        try:
            try:
                await self.runtime.close()
            finally:
                await self.team_runtime.close()
        finally:
            try:
                for workbench in reversed(self._started):
                    await workbench.stop()
            finally:
                await self.client.close()


class AutoGenBuild(AgentBuild):
    framework = "autogen"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        return await started(AutoGenConversation(spec, model, mcp, memory))


BUILD = AutoGenBuild()
