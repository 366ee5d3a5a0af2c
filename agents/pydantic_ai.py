"""The Pydantic AI build (``pydantic-ai-slim`` 2.68): an orchestrator agent whose outputs hand off to specialists.

How the system maps onto Pydantic AI:

- Routing and handoff: the orchestrator is an ``Agent`` whose ``output_type`` is one *output function* per
  specialist (``ToolOutput(..., name="transfer_to_<agent>")``, described by the specialist's handoff
  description). With no text output allowed, the model must call one of them (``tool_choice=required``), and
  the call ends the orchestrator's run: the docs' idiom when control should move to another agent for good
  ("output functions or programmatic hand-off"; delegation through a tool would come back to the orchestrator
  for one more, relaying call). The output function runs the chosen specialist ``Agent`` on ``ctx.messages``
  minus the handoff call, so the specialist answers the user's own words with the whole conversation in view,
  and counts its model calls against the orchestrator's ``usage``; its ``output`` and transcript are the
  orchestrator's typed output.
- Memory: Pydantic AI's message history. Each conversation keeps the ``list[ModelMessage]`` of the last
  specialist run (``result.all_messages()``: earlier turns, tool calls and results, answers) and passes it as
  ``message_history`` to the next orchestrator run. ``instructions`` (not ``system_prompt``) keep each agent's
  own instructions out of the stored history, so every agent sees only its own. Persistence is the way the
  docs' "Messages and chat history" guide stores and loads a history ("Storing and loading messages (to
  JSON)"): after every turn the whole history is written with ``ModelMessagesTypeAdapter.dump_json`` to
  ``pydantic_ai-<conversation id>.json`` in the harness's store directory (to a temporary file first, then
  ``os.replace``, so a killed process leaves the previous turn's file, never half of one), and ``start()``
  reads it back with ``ModelMessagesTypeAdapter.validate_json``. The adapter round-trips every part (user
  prompts, tool calls with their ids, tool returns, texts, timestamps, usage and provider details), so a
  conversation opened again by its id, in a fresh process, sends the model the same history it would have
  sent without the restart. A refused turn is recorded as before (the request and the refusal as a text
  response) and so survives the restart too. Nothing is lost: the agents are rebuilt from the spec, and the
  history is all their state.
- Guardrail: a capability (the 2.x home for cross-cutting agent behaviour) on the orchestrator whose
  ``wrap_run`` hook runs first: a guardrail ``Agent`` with ``output_type=Verdict`` (a pydantic model,
  structured output through an output tool) judges ``ctx.prompt``, the latest user message alone. A refused
  request raises ``RequestRefused`` before the orchestrator's first model request, so no agent or tool runs;
  the conversation answers with the spec's refusal and records the exchange in its history. An unreadable
  verdict (``UnexpectedModelBehavior`` after the output retries) lets the request through, as the vanilla
  build does. See the workaround below for why this is not Pydantic AI Harness's ``InputGuardrail``.
- MCP adapter: one ``pydantic_ai.mcp.MCPToolset`` per conversation over streamable HTTP at the trial's URL with
  its ``headers`` (V2's one MCP client, on FastMCP's ``Client``; the V1 ``MCPServerStreamableHTTP`` was removed),
  entered once so its session lives as long as the conversation. Each specialist gets it through the ``MCP``
  capability (``local=`` the shared toolset, ``allowed_tools=`` its allow-list): the docs' entry point for MCP
  servers, which filters the toolset, so other tools are neither offered to the model nor callable.
  ``tool_error_behavior="failed"``: a tool error goes back to the model as the tool's result, like the
  vanilla build, instead of a retry prompt that would spend the tool's retry budget. The client connects in
  FastMCP's ``auto`` mode: a ``server/discover`` probe for the 2026 protocol, which our ``mcp`` 1.x server
  answers with an error, then the ``initialize`` handshake at 2025-11-25, which it speaks.
- Model client: ``OpenAIChatModel`` (Chat Completions; the gateway has no Responses API) with an
  ``OpenAIProvider`` on an ``AsyncOpenAI(base_url=..., timeout=model.timeout_s)`` client this build owns and
  closes. Pydantic AI sends a per-request ``timeout`` only when ``ModelSettings.timeout`` is set (it is not),
  so the client's timeout applies to every HTTP phase, a read included: a request answered with nothing, or
  a body that stops coming, fails after ``timeout_s``.
- Retries: the defaults. Pydantic AI leaves HTTP retries to the provider SDK's client unless
  ``ModelSettings.max_retries`` or a retrying transport (``pydantic_ai.retries``, opt-in) says otherwise (the
  docs' "Provider SDK retries"), so it is the openai SDK's own default: 2 retries (3 attempts) of a request
  that timed out or failed to connect (reset, refused) or was answered 408, 409, 429 or 5xx (unless the
  response says ``x-should-retry: false``), after exponential back-off from 0.5 s doubling to at most 8 s,
  minus up to 25 % jitter, or after the server's ``Retry-After``/``retry-after-ms`` when that is between 0
  and 120 s (``openai/_base_client.py``: the request loop, ``_should_retry``, ``_calculate_retry_timeout``).
  ``Agent.run`` does not stream, so a body that stops half-way is read inside the request and retried like a
  silent one; a streamed response is retried only until its headers arrive. A request that still fails ends
  the run with Pydantic AI's ``ModelHTTPError`` subclasses or ``ModelConnectionError``. Each retry resends an
  identical body, which the gateway takes for another attempt of the same call when it counts calls for a
  fault.
- Resilience: Pydantic AI's defaults, which already report a bad tool call back to the model as a retry
  prompt: arguments that do not parse or validate, a tool the agent was not given (an unknown name or one
  outside its ``allowed_tools``), an empty reply. A tool *error result* is ``tool_error_behavior="failed"``
  (above); an MCP protocol error (``McpError``: a JSON-RPC error, an expired session) is always a retry
  prompt. Retry prompts spend the tool's (or the output's) retry budget, 1 by default; once it is spent the
  run raises ``UnexpectedModelBehavior``, as the docs' "Model errors" describe, and there is no setting that
  answers instead. Nor is there one to read a tool call written as text: a text reply is the answer.
- Generation settings: the spec's, as the model's default ``settings`` (``ModelSettings``: ``temperature``,
  ``max_tokens``, ``parallel_tool_calls``), so every agent on that model, the guardrail included, sends them.
  On Chat Completions ``max_tokens`` goes out as ``max_completion_tokens`` (the model profile's default), and
  ``parallel_tool_calls`` only on requests with tools; every request here has some (output tools included).
- Tool-loop bound: ``UsageLimits(request_limit=...)`` across the orchestrator and specialist; running out
  ends the turn with the vanilla build's "could not finish" answer instead of an exception.

Workaround: the guardrail is this build's own capability. Core 2.68 still has no input-guardrail type; the docs
send guardrails to Pydantic AI Harness (``pydantic-ai-harness``, the official capability library), whose
``pydantic_ai_harness.InputGuardrail`` is the same check (it would need its hard-fail path, a guard raising
``InputBlocked``: its graceful ``block`` answers with the refusal as the model's *text* response, which an
orchestrator whose only outputs are handoffs rejects with a retry prompt, calling the model after all). But
Harness releases since 0.52 pin ``pydantic-ai-slim`` exactly (0.62.0, the newest, pins 2.62.0), so the newest
Harness would hold the framework six releases back, and the newest Harness that resolves beside slim 2.68 is
0.36.0, from before the pins (a pairing Harness never tested). No upstream issue asks for a looser pin. Revisit
when a Harness release matches the newest slim; ``afbench envs outdated`` will not tell, as Harness is not in
this build's env.

Usage accounting: Pydantic AI's ``RunUsage`` (``requests``, ``input_tokens``, ``output_tokens``): the run
result's ``usage`` (``AgentRunResult.usage``, a property in 2.x), which sums every model response of the run.
The specialist runs inside the orchestrator's output function on ``usage=ctx.usage``, as the multi-agent guide
("Agent delegation") tells a user to do so that a delegate's usage counts towards the parent run's, so the
orchestrator run's usage covers the routing call and the specialist's tool loop. The guardrail agent's run
gets a ``RunUsage`` of its own (``usage=``, filled in place, so an unreadable verdict that raises still leaves
what it spent): sharing the orchestrator's would also count the guardrail's request against the turn's
``request_limit`` and change where the tool loop stops. The turn's usage is the two added (``RunUsage +``); a
refused turn has only the guardrail's. ``requests`` is the call count, which by its docs leaves out the
provider SDK's retries of a request.

Tracing: Pydantic AI emits OpenTelemetry spans only for agents given the ``Instrumentation`` capability or
after ``Agent.instrument_all()``; this build does neither (the default), and there is no logfire to export to.
FastMCP's client uses only the OpenTelemetry API, a no-op without an SDK (none is installed).

Code team: Pydantic AI's "Agent delegation" and "Programmatic agent hand-off" (the multi-agent guide,
``docs/multi-agent-applications.md``). The operational agent is given the team as one function tool,
``Tool(code_team, name="code_team")`` described by the team's handoff description: delegation, since the
operational agent takes control back to answer with the team's code. The tool runs the spec's protocol as
application code handing off from one member ``Agent`` to the next (the guide's programmatic hand-off): the
coder's ``run``, the reviewer's, the coder's again with its draft and the review, ... until the reviewer approves
(``TeamSpec.approves``) or ``max_reviews`` reviews are spent, then the tester's, whose output is the tool's
result. Each member is an ``Agent`` on the same model (so the same settings and client) with the member's
``instructions``, given only what the protocol hands it as its prompt; the tester alone gets the shared
``MCPToolset`` through ``MCP(allowed_tools=["run_python"])``. Every member runs with ``usage=ctx.usage``, as the
guide says ("You'll generally want to pass ``ctx.usage`` to the ``usage`` keyword argument of the delegate
agent run so usage within that run counts towards the total usage of the parent agent run"), so the team's calls
count in the orchestrator run's usage and against the turn's request limit, which for the operational agent
grows by the team's budget (``2 * max_reviews`` drafts and reviews, and the tester's ``MAX_SPECIALIST_REQUESTS``).

README row: output functions | ToolOutput | message_history | wrap_run capability | MCP(allowed_tools) | OpenAIChatModel
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from openai import AsyncOpenAI
from pydantic import BaseModel
from pydantic_ai import (
    Agent,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    RunContext,
    RunUsage,
    TextPart,
    Tool,
    ToolOutput,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
    UsageLimits,
    UserPromptPart,
    capture_run_messages,
)
from pydantic_ai.capabilities import MCP, AbstractCapability
from pydantic_ai.capabilities.abstract import WrapRunHandler
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.run import AgentRunResult

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
from benchmark.spec import CODER, GUARDRAIL, ORCHESTRATOR, REVIEWER, TESTER, AgentSpec, SystemSpec, TeamSpec

MAX_SPECIALIST_REQUESTS = 8  # the vanilla build's MAX_TOOL_ROUNDS
TURN_LIMITS = UsageLimits(request_limit=1 + MAX_SPECIALIST_REQUESTS)  # the routing call, then the specialist
MCP_TIMEOUT_S = 60
GAVE_UP = "I could not finish this request within the allowed number of tool calls."


class Verdict(BaseModel):
    allowed: bool
    reason: str


class RequestRefused(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


@dataclass
class Handoff:
    """How an orchestrator run ends: who answered, the answer, and the conversation including this turn."""

    agent: str
    answer: str
    messages: list[ModelMessage]


@dataclass
class InputGuardrail(AbstractCapability[None]):
    """Judges the run's user prompt with the guardrail agent before the run starts; refuses by raising.

    Each judgement's usage is appended to ``spent``, which the conversation reads and clears per turn."""

    judge: Agent[None, Verdict]
    spent: list[RunUsage]

    async def wrap_run(self, ctx: RunContext[None], *, handler: WrapRunHandler) -> AgentRunResult[object]:
        prompt = ctx.prompt if isinstance(ctx.prompt, str) else str(ctx.prompt or "")
        usage = RunUsage()
        self.spent.append(usage)
        try:
            verdict = (await self.judge.run(prompt, usage=usage)).output
        except UnexpectedModelBehavior:
            return await handler()  # an unreadable verdict must not silently refuse a legitimate request
        if not verdict.allowed:
            raise RequestRefused(verdict)
        return await handler()


def _turn_usage(runs: list[RunUsage]) -> Usage:
    total = sum(runs, RunUsage())
    return Usage(
        total.input_tokens,
        total.output_tokens,
        total.requests,
        source="AgentRunResult.usage (guardrail run + orchestrator run with the specialist and code team on ctx.usage)",
    )


def _exchange(message: str, answer: str) -> list[ModelMessage]:
    return [ModelRequest(parts=[UserPromptPart(message)]), ModelResponse(parts=[TextPart(answer)])]


def _team_limits(team: TeamSpec) -> UsageLimits:
    """The operational agent's turn: the routing call, its own tool loop, and the team's calls on the same usage
    (a draft and a review per review round, then the tester's tool loop)."""
    return UsageLimits(request_limit=1 + MAX_SPECIALIST_REQUESTS + 2 * team.max_reviews + MAX_SPECIALIST_REQUESTS)


def _code_team_tool(
    team: TeamSpec, coder: Agent[None, str], reviewer: Agent[None, str], tester: Agent[None, str]
) -> Tool[None]:
    """The team as the operational agent's delegate: a tool whose body hands the request from member to member."""
    limits = _team_limits(team)

    async def code_team(ctx: RunContext[None], request: str) -> str:
        """Hand a programming request to the code team.

        Args:
            request: The request, word for word.
        """
        draft = (await coder.run(request, usage=ctx.usage, usage_limits=limits)).output
        for reviews in range(1, team.max_reviews + 1):
            handed = team.for_reviewer(request, draft)
            review = (await reviewer.run(handed, usage=ctx.usage, usage_limits=limits)).output
            if team.approves(review) or reviews == team.max_reviews:
                break
            revise = team.for_revision(request, draft, review)
            draft = (await coder.run(revise, usage=ctx.usage, usage_limits=limits)).output
        final = team.for_tester(request, draft)
        return (await tester.run(final, usage=ctx.usage, usage_limits=limits)).output

    description = f"{team.title}: {team.handoff_description}"
    return Tool(code_team, name=team.name, description=description)


def _handoff(specialist: Agent[None, str], agent: AgentSpec, limits: UsageLimits) -> ToolOutput[Handoff]:
    async def transfer(ctx: RunContext[None]) -> Handoff:
        # the last message is this handoff call: the specialist continues from the user's request before it
        with capture_run_messages() as transcript:
            try:
                result = await specialist.run(message_history=ctx.messages[:-1], usage=ctx.usage, usage_limits=limits)
            except UsageLimitExceeded:
                # keep the tool calls made so far in memory, closed by the answer the user gets
                return Handoff(agent.name, GAVE_UP, [*transcript, ModelResponse(parts=[TextPart(GAVE_UP)])])
        return Handoff(agent.name, result.output, result.all_messages())

    return ToolOutput(
        transfer,
        name=f"transfer_to_{agent.name}",
        description=f"Hand the conversation to the {agent.title}: {agent.handoff_description}",
    )


class HistoryFile:
    """The conversation's message history as JSON (``ModelMessagesTypeAdapter``), a file per conversation id."""

    def __init__(self, memory: MemoryStore) -> None:
        self.path = Path(memory.directory) / f"pydantic_ai-{memory.conversation_id}.json"

    def load(self) -> list[ModelMessage]:
        if not self.path.exists():
            return []  # a new conversation
        return ModelMessagesTypeAdapter.validate_json(self.path.read_bytes())

    def save(self, history: list[ModelMessage]) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_bytes(ModelMessagesTypeAdapter.dump_json(history))
        os.replace(partial, self.path)  # atomic: the file holds the previous turn's history or this one's


class PydanticAIConversation:
    def __init__(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> None:
        self.spec = spec
        self.store = HistoryFile(memory)
        self.client = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key, timeout=model.timeout_s)
        generation = spec.generation
        settings = ModelSettings(
            temperature=generation.temperature,
            max_tokens=generation.max_output_tokens,
            parallel_tool_calls=generation.parallel_tool_calls,
        )
        self.model = OpenAIChatModel(model.model, provider=OpenAIProvider(openai_client=self.client), settings=settings)
        self.mcp = MCPToolset[None](
            mcp.url,
            headers=mcp.headers,
            tool_error_behavior="failed",
            init_timeout=MCP_TIMEOUT_S,
            read_timeout=MCP_TIMEOUT_S,
        )
        self.history: list[ModelMessage] = []
        self._guardrail_usage: list[RunUsage] = []  # this turn's guardrail runs' usage
        self._stack = AsyncExitStack()
        self.orchestrator: Agent[None, Handoff] | None = None

    async def start(self) -> None:
        self.history = self.store.load()
        await self._stack.enter_async_context(self.mcp)
        judge = Agent[None, Verdict](
            self.model,
            name=GUARDRAIL,
            instructions=self.spec.guardrail.instructions,
            output_type=Verdict,
        )
        self.orchestrator = Agent[None, Handoff](
            self.model,
            name=ORCHESTRATOR,
            instructions=self.spec.orchestrator_instructions,
            output_type=[
                _handoff(self._specialist(agent), agent, self._limits(agent)) for agent in self.spec.specialists
            ],
            capabilities=[InputGuardrail(judge, self._guardrail_usage)],
        )

    def _limits(self, agent: AgentSpec) -> UsageLimits:
        return _team_limits(self.spec.code_team) if agent.name == self.spec.code_team.parent else TURN_LIMITS

    def _agent(self, agent: AgentSpec, tools: list[Tool[None]] | None = None) -> Agent[None, str]:
        """An agent of the spec on this conversation's model, with only its allowed MCP tools (if any)."""
        capabilities = [MCP[None](local=self.mcp, allowed_tools=list(agent.tools))] if agent.tools else []
        return Agent[None, str](
            self.model, name=agent.name, instructions=agent.instructions, capabilities=capabilities, tools=tools or ()
        )

    def _specialist(self, agent: AgentSpec) -> Agent[None, str]:
        team = self.spec.code_team
        if agent.name != team.parent:
            return self._agent(agent)
        coder, reviewer, tester = (self._agent(team.member(name)) for name in (CODER, REVIEWER, TESTER))
        return self._agent(agent, [_code_team_tool(team, coder, reviewer, tester)])

    async def send(self, message: str) -> TurnResult:
        assert self.orchestrator is not None, "start() first"
        self._guardrail_usage.clear()
        try:
            result = await self.orchestrator.run(message, message_history=self.history, usage_limits=TURN_LIMITS)
        except RequestRefused:
            refusal = self.spec.guardrail.refusal
            self.history = [*self.history, *_exchange(message, refusal)]
            self.store.save(self.history)
            return TurnResult(refusal, GUARDRAIL, _turn_usage(self._guardrail_usage))
        self.history = result.output.messages
        self.store.save(self.history)
        usage = _turn_usage([*self._guardrail_usage, result.usage])
        return TurnResult(result.output.answer, result.output.agent, usage)

    async def aclose(self) -> None:
        try:
            await self._stack.aclose()
        finally:
            await self.client.close()


class PydanticAIBuild(AgentBuild):
    framework = "pydantic_ai"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        return await started(PydanticAIConversation(spec, model, mcp, memory))


BUILD = PydanticAIBuild()
