"""The Strands Agents build (``strands-agents`` 1.62): an orchestrator agent with the specialists as delegate tools.

How the system maps onto Strands:

- Routing and handoff: *agents as tools*, the pattern Strands' multi-agent guide recommends for an orchestrator
  that picks a specialist (``Swarm`` is for peers handing work around, ``Graph`` for a fixed flow). Each
  specialist ``Agent`` is wrapped with ``as_tool(delegate=True)``: a tool named for the agent, described by its
  handoff description, that takes an ``input`` text the orchestrator writes. ``delegate=True`` (1.53+) makes
  the specialist's answer the turn's final answer, with no second, relaying orchestrator call, and allows only
  that one tool call in the orchestrator's turn. The orchestrator is forced to delegate (never to answer itself,
  as its instructions say) by an ``InvokeModelStage.Input`` middleware that sets ``tool_choice`` to "any tool"
  (``required`` on the wire) on its first model call of the turn (after a delegate's error result it may
  answer). The turn's agent is the delegate tool that returned successfully, seen by an ``AfterToolCallEvent``
  hook (the orchestrator, where none did).
- Code team: a cyclic multi-agent ``Graph`` (``strands.multiagent.GraphBuilder``: the Graph guide's "feedback
  loops and iterative refinement", strandsagents.com/docs/user-guide/sdk/multi-agent/graph/, and
  ``strands/multiagent/graph.py``), wrapped in one ``@tool`` function, ``code_team(request)``, which the
  operational agent is given beside its MCP tools (the agents-as-tools pattern; Strands has no ``as_tool`` for a
  ``Graph``, so the tool is the documented ``@tool`` decorator around ``graph.invoke_async``). The graph's nodes
  are the coder, reviewer and tester ``Agent`` (the spec's instructions, the same model, conversation manager
  and ``ModelCallBudget`` as the specialists; the tester's one tool ``run_python`` through its own filtered
  ``MCPClient``; no session manager: Graph agents cannot have one, and a delegation keeps nothing). Edges:
  coder -> reviewer; reviewer -> coder on the condition "changes requested and reviews left", reviewer ->
  tester on "approved (``TeamSpec.approves``) or ``max_reviews`` reached", and coder -> tester on the same
  condition once the reviewer has spoken, so the tester's input (the Graph's "Original Task: <request>" plus
  "Inputs from previous nodes") holds the latest draft; ``set_max_node_executions(2 * max_reviews + 1)``
  bounds the cycle. A revisited node keeps its conversation (``reset_on_revisit`` off, the default), so the
  coder revises with its own draft and the review in view; each delegation first calls every node's
  ``reset_executor_state()`` so it starts from nothing. The tester's answer is the tool's result. The members'
  invocations are in their own ``event_loop_metrics``, summed into the turn like the specialists' (below).
- Memory: each ``Agent`` keeps its conversation (``agent.messages``) under a ``SlidingWindowConversationManager``
  (Strands' default, given explicitly). The orchestrator's holds every turn (user text, delegation call, the
  answer), so it routes a follow-up in the light of what came before and writes that context into the
  specialist's ``input``; each specialist keeps its own earlier exchanges too (``preserve_context=True``; the
  default, ``False``, would start every delegation from nothing).
- Persistence: Strands' session management, a ``FileSessionManager(session_id=<conversation id>,
  storage_dir=<the harness's store directory>)`` on each of the three agents (the orchestrator and both
  specialists; ``as_tool``'s docstring: a ``preserve_context=True`` sub-agent "keeps its own state, so it needs
  its own session manager"), each agent under its own ``agent_id`` (its spec name) in the one session. Strands'
  hooks write every message as the agent appends it (``MessageAddedEvent``: one JSON file per message) and the
  agent's state and conversation manager's state after each invocation, in
  ``session_<id>/agents/agent_<agent_id>/``; a fresh process's agents, created with the same ids, are restored
  from it when they are initialised (``AgentInitializedEvent``): the same messages, so the model is sent the
  same history it would have been without the restart. The guardrail's judge, a fresh agent per request with
  no memory, has no session.
- Guardrail: a hook provider on the orchestrator's ``BeforeInvocationEvent``, which fires before any model
  call or tool: a guardrail ``Agent`` with ``structured_output_model=Verdict`` (structured output through a
  ``Verdict`` tool, Strands' way on OpenAI models) judges the invocation's user text alone, a fresh agent per
  request so no earlier verdict colours it. A refusal sets ``event.cancel`` to the spec's refusal: Strands
  then ends the invocation with that text as the assistant's message, without recording the refused request in
  the orchestrator's memory (the refusal message alone is recorded, and so persisted and restored like any
  other message). An unreadable verdict (``StructuredOutputException``) lets the request through,
  as the vanilla build does.
- MCP adapter: one ``MCPClient`` per specialist over streamable HTTP (``url`` plus the trial's ``headers``),
  narrowed to the specialist's allow-list by ``tool_filters={"allowed": [...]}`` and passed to that agent as a
  tool provider, the "managed integration" Strands' MCP guide recommends: the agent starts the client (its own
  background thread and session) and ``Agent.cleanup()`` stops it. Tools outside the allow-list are neither
  offered nor callable (an invented name gets Strands' unknown-tool error result).
- Model client: ``strands.models.openai.OpenAIModel`` (Chat Completions, streamed, the provider's default) on an
  ``AsyncOpenAI(base_url=...)`` client this build owns and closes (``client=``, the provider's documented way
  to reach a gateway); ``model.timeout_s`` is that client's ``timeout`` (httpx connect, read, write and pool
  limits alike: a request unanswered, or a stream silent, that long fails). ``OpenAIModel`` passes no timeout
  or retry setting of its own.
- Retries, two layers, both left at their defaults:

  - the OpenAI SDK's (openai 2.54, ``_base_client.py``): ``max_retries=2``, so 3 attempts, on a connection
    error, a timeout, and HTTP 408, 409, 429 and 5xx (unless the server sends ``x-should-retry``); the wait is
    the ``Retry-After``/``retry-after-ms`` header when it says up to 120 s (a longer one is not retried), else
    0.5 s then 1 s (doubling, capped at 8 s, less up to 25 % jitter). Only sending the request is retried: a
    stream that breaks or goes silent after its headers raises its ``httpx`` error to the agent unretried;
  - Strands' ``ModelRetryStrategy`` on every ``Agent`` (the default ``retry_strategy``,
    ``event_loop/_retry.py``): what the SDK still raises is retried only when ``OpenAIModel`` maps it to
    ``ModelThrottledException`` (HTTP 429, code ``rate_limit_exceeded``, or a rate-limit message:
    ``models/_openai_errors.py``), 6 attempts in all, 4, 8, 16, 32 then 64 s apart.

  Anything else a specialist's model call raises ends that specialist's invocation; its delegate tool
  (``_agent_as_tool.py``) returns it to the orchestrator as an error result, ``"Agent error: <exception>"``,
  and the orchestrator's model answers the turn from it (see Resilience). The gateway tells a retry (the
  same body again) from a new call when it counts a role's calls for a fault.
- Generation settings: ``temperature`` and ``max_tokens`` are the model's ``params``, which Strands sends on
  every request; ``parallel_tool_calls`` is added by ``GatewayModel.format_request`` only to requests that
  offer tools (every request here does: specialists, delegate tools, the ``Verdict`` tool), since ``params``
  cannot tell the two apart and OpenAI rejects it without tools.
- Resilience, as Strands does it by default (it has no further setting for these faults): a tool error (an
  MCP error result; an MCP exception, which ``MCPClient`` returns as ``"Tool execution failed: ..."``; an
  unknown tool; JSON arguments that do not parse, sent as ``{}``) goes back to the model as an error result;
  a specialist that raises (a model error past the retries above, ``MaxTokensReachedException`` on a
  ``length`` stop, which Strands raises by design) becomes its delegate tool's error result, and the
  orchestrator's model answers the turn from it. That answer is the turn's, reported with the orchestrator
  as its agent: the build does not turn a turn Strands completed into an exception. Strands parses no tool
  call written as text.
- Tool-loop bound: a ``ModelCallBudget`` hook on each specialist cancels the model call past its budget with
  the vanilla build's "could not finish" answer (``BeforeModelCallEvent.cancel``), ending its turn cleanly.
- Usage accounting: Strands' metrics (``EventLoopMetrics``, ``AgentResult.metrics``, which its metrics guide
  tells a user to read). Their ``accumulated_usage`` totals an agent's whole life, so per turn the build reads
  the ``AgentInvocation`` each ``invoke_async`` adds to ``agent_invocations`` (the orchestrator's is its
  result's ``metrics.latest_agent_invocation``): its ``usage`` (``inputTokens``, ``outputTokens``) and its
  event loop ``cycles``, one model call each, as Strands counts turns. A delegate's specialist records its
  invocation in its own metrics, not the orchestrator's, as does each code team member run by the team's graph
  (the graph's own ``GraphResult.accumulated_usage`` totals the same), and the guardrail judge (a fresh agent
  per request) in its own, so the turn sums the orchestrator's, the specialists', the team members' and the
  judge's invocations of the turn: every model call. The cycle count is Strands' and counts a cycle that
  makes no model call too (one whose call a ``BeforeModelCallEvent`` hook cancels, as ``ModelCallBudget``
  does past its budget), and not a call retried within a cycle (``ModelRetryStrategy``).

Tracing: Strands emits OpenTelemetry spans through the global tracer provider, which exports nothing unless
``StrandsTelemetry`` is set up (this build never does); the runner's ``OTEL_SDK_DISABLED=true`` also turns the
OpenTelemetry SDK off. ``callback_handler=None`` keeps Strands from printing the streamed text.

Workarounds, two:

- ``OpenAIModel`` sends its ``params`` on every request, so ``parallel_tool_calls`` is added per request by a
  small subclass (``GatewayModel``) instead (no upstream issue found).
- Strands' loop bound, ``limits={"turns": ...}`` (1.62), is an argument of each ``invoke_async`` call, and a
  delegate tool invokes its agent without one; an agent-level limit is still open upstream
  (strands-agents/harness-sdk#2124), hence the ``ModelCallBudget`` hook.
"""

from __future__ import annotations

import asyncio
from typing import Any

from openai import AsyncOpenAI
from pydantic import BaseModel, Field
from strands import Agent, tool
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.hooks import AfterToolCallEvent, BeforeInvocationEvent, BeforeModelCallEvent, HookProvider, HookRegistry
from strands.middleware import InvokeModelContext, InvokeModelStage
from strands.models.openai import OpenAIModel
from strands.multiagent import GraphBuilder, Status
from strands.multiagent.graph import Graph, GraphState
from strands.session import FileSessionManager
from strands.telemetry.metrics import AgentInvocation
from strands.tools.mcp import MCPClient
from strands.types.content import Messages
from strands.types.exceptions import StructuredOutputException
from strands.types.tools import AgentTool, ToolChoice, ToolChoiceAny, ToolChoiceAnyDict, ToolSpec

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
from benchmark.spec import (
    CODER,
    GUARDRAIL,
    ORCHESTRATOR,
    REVIEWER,
    TESTER,
    AgentSpec,
    GenerationSettings,
    SystemSpec,
    TeamSpec,
)

MAX_SPECIALIST_CALLS = 8  # the vanilla build's MAX_TOOL_ROUNDS
GAVE_UP = "I could not finish this request within the allowed number of tool calls."
ANY_TOOL: ToolChoiceAnyDict = {"any": ToolChoiceAny()}  # Strands' tool choice for "call a tool" (``required``)


class Verdict(BaseModel):
    """The guardrail's decision on the user's latest request."""

    allowed: bool = Field(description="True if the request may be answered, false if policy refuses it.")
    reason: str = Field(description="A short reason for the decision.")


class GatewayModel(OpenAIModel):
    """``OpenAIModel`` with the spec's generation settings: ``params`` on every request, ``parallel_tool_calls``
    only on requests that offer tools (``params`` would send it on all of them)."""

    def __init__(self, client: AsyncOpenAI, model_id: str, generation: GenerationSettings) -> None:
        params = {"temperature": generation.temperature, "max_tokens": generation.max_output_tokens}
        super().__init__(client=client, model_id=model_id, params=params)
        self.parallel_tool_calls = generation.parallel_tool_calls

    def format_request(
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        tool_choice: ToolChoice | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        request = super().format_request(messages, tool_specs, system_prompt, tool_choice, **kwargs)
        if request.get("tools"):
            request["parallel_tool_calls"] = self.parallel_tool_calls
        return request


def _user_text(messages: Messages | None) -> str:
    """The text of the invocation's newest user message: the guardrail judges the request, not the history."""
    for message in reversed(messages or []):
        if message["role"] == "user":
            return "\n".join(block["text"] for block in message["content"] if "text" in block)
    return ""


class InputGuardrail(HookProvider):
    """Judges each invocation's user input before the agent runs, and cancels a refused one with the refusal."""

    def __init__(self, spec: SystemSpec, model: OpenAIModel) -> None:
        self.spec = spec
        self.model = model
        self.refused = False
        self.invocations: list[AgentInvocation] = []  # the judges' this turn, for its usage

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        registry.add_callback(BeforeInvocationEvent, self.judge)

    async def judge(self, event: BeforeInvocationEvent) -> None:
        self.refused = False
        judge = Agent(
            model=self.model,
            system_prompt=self.spec.guardrail.instructions,
            name=GUARDRAIL,
            structured_output_model=Verdict,
            callback_handler=None,
        )
        try:
            verdict = (await judge.invoke_async(_user_text(event.messages))).structured_output
        except StructuredOutputException:
            return  # an unreadable verdict must not silently refuse a legitimate request
        finally:
            self.invocations += judge.event_loop_metrics.agent_invocations
        if isinstance(verdict, Verdict) and not verdict.allowed:
            self.refused = True
            event.cancel = self.spec.guardrail.refusal


class ModelCallBudget(HookProvider):
    """At most ``limit`` model calls per invocation; the next is cancelled with the "could not finish" answer."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls = 0

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        registry.add_callback(BeforeInvocationEvent, self.reset)
        registry.add_callback(BeforeModelCallEvent, self.count)

    def reset(self, event: BeforeInvocationEvent) -> None:
        self.calls = 0

    def count(self, event: BeforeModelCallEvent) -> None:
        self.calls += 1
        if self.calls > self.limit:
            event.cancel = GAVE_UP


def _turn_usage(invocations: list[AgentInvocation]) -> Usage:
    """The turn's usage as Strands' metrics report it: each agent invocation's ``usage``, and its event loop
    cycles (one model call each, as Strands counts them), summed over the turn's invocations."""
    return Usage(
        sum(invocation.usage["inputTokens"] for invocation in invocations),
        sum(invocation.usage["outputTokens"] for invocation in invocations),
        sum(len(invocation.cycles) for invocation in invocations),
        source="EventLoopMetrics.agent_invocations[].usage (orchestrator, specialists, code team, guardrail)",
    )


def _must_delegate(context: InvokeModelContext) -> InvokeModelContext:
    """The orchestrator never answers a request itself: its first model call of a turn must call a (delegate)
    tool. Once a delegate has returned, which it does only with an error (a successful one ends the turn), the
    model may answer from that result, as it could not if every call were forced: it would delegate for ever."""
    last = context.messages[-1] if context.messages else None
    if last is not None and any("toolResult" in block for block in last["content"]):
        return context
    return context.replace(tool_choice=ANY_TOOL)


def _node_text(state: GraphState, node_id: str) -> str:
    """The latest answer of the graph's node ``node_id`` (its agent's final text), "" before it has run."""
    result = state.results.get(node_id)
    return "\n".join(str(r) for r in result.get_agent_results()).strip() if result is not None else ""


def _reviews(state: GraphState) -> int:
    return sum(node.node_id == REVIEWER for node in state.execution_order)


def _code_team_graph(team: TeamSpec, coder: Agent, reviewer: Agent, tester: Agent) -> Graph:
    """The spec's team protocol as a cyclic Strands ``Graph``: coder -> reviewer, then a conditional edge back to
    the coder (changes requested, reviews left) or on to the tester (approved, or out of reviews)."""

    def reviewing_done(state: GraphState) -> bool:
        return team.approves(_node_text(state, REVIEWER)) or _reviews(state) >= team.max_reviews

    def revise(state: GraphState) -> bool:
        return not reviewing_done(state)

    def hand_draft_to_tester(state: GraphState) -> bool:
        # the coder's latest draft goes to the tester with the approving (or last) review, not before
        last = state.execution_order[-1].node_id if state.execution_order else None
        return last == REVIEWER and reviewing_done(state)

    builder = GraphBuilder()
    builder.add_node(coder, CODER)
    builder.add_node(reviewer, REVIEWER)
    builder.add_node(tester, TESTER)
    builder.add_edge(CODER, REVIEWER)
    builder.add_edge(REVIEWER, CODER, condition=revise)
    builder.add_edge(REVIEWER, TESTER, condition=reviewing_done)
    builder.add_edge(CODER, TESTER, condition=hand_draft_to_tester)
    builder.set_entry_point(CODER)
    builder.set_max_node_executions(2 * team.max_reviews + 1)  # drafts and reviews, max_reviews each; the tester
    builder.set_graph_id(team.name)
    return builder.build()


class StrandsConversation:
    def __init__(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> None:
        self.spec = spec
        self.mcp = mcp
        self.memory = memory
        self.client = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key, timeout=model.timeout_s)
        self.model = GatewayModel(self.client, model.model, spec.generation)
        self.guardrail = InputGuardrail(spec, self.model)
        self.specialists: list[Agent] = []
        self.orchestrator: Agent | None = None
        self.team_members: list[Agent] = []
        self.team: Graph | None = None
        self.route: str | None = None

    async def start(self) -> None:
        # Creating an agent connects its MCP client and lists its tools, blocking: off the event loop.
        team = self.spec.code_team
        for name in (CODER, REVIEWER, TESTER):
            self.team_members.append(await asyncio.to_thread(self._agent, team.member(name), []))
        self.team = _code_team_graph(team, *self.team_members)
        for agent in self.spec.specialists:
            self.specialists.append(await asyncio.to_thread(self._specialist, agent))
        delegates = [
            specialist.as_tool(
                name=agent.name,
                description=f"Hand the request to the {agent.title}: {agent.handoff_description}",
                preserve_context=True,
                delegate=True,
            )
            for agent, specialist in zip(self.spec.specialists, self.specialists, strict=True)
        ]
        self.orchestrator = Agent(
            model=self.model,
            system_prompt=self.spec.orchestrator_instructions,
            name=ORCHESTRATOR,
            agent_id=ORCHESTRATOR,
            tools=list(delegates),
            conversation_manager=SlidingWindowConversationManager(),
            session_manager=self._session(),
            hooks=[self.guardrail],
            callback_handler=None,
        )
        self.orchestrator.add_middleware(InvokeModelStage.Input, _must_delegate)
        self.orchestrator.add_hook(self._delegated, AfterToolCallEvent)

    def _session(self) -> FileSessionManager:
        """An agent's session manager: the conversation's session in the store directory (see Persistence)."""
        return FileSessionManager(session_id=self.memory.conversation_id, storage_dir=self.memory.directory)

    def _mcp_tools(self, agent: AgentSpec) -> MCPClient:
        return MCPClient(
            url=self.mcp.url,
            headers=self.mcp.headers,
            tool_filters={"allowed": list(agent.tools)},
            application_name="afbench",
        )

    def _specialist(self, agent: AgentSpec) -> Agent:
        team = [self._code_team_tool()] if agent.name == self.spec.code_team.parent else []
        return self._agent(agent, team, session_manager=self._session())

    def _agent(
        self, agent: AgentSpec, agent_tools: list[Any], session_manager: FileSessionManager | None = None
    ) -> Agent:
        """One ``Agent`` of the system: a specialist (persisted by its session manager) or a code team member (a
        graph node: no session manager, Graph agents cannot have one; fresh per delegation, as ``_code_team``
        resets the nodes, so nothing to persist). Its MCP tools when its allow-list has some, and agent tools."""
        return Agent(
            model=self.model,
            system_prompt=agent.instructions,
            name=agent.name,
            agent_id=agent.name,
            description=agent.handoff_description,
            tools=[*([self._mcp_tools(agent)] if agent.tools else []), *agent_tools],
            conversation_manager=SlidingWindowConversationManager(),
            session_manager=session_manager,
            hooks=[ModelCallBudget(MAX_SPECIALIST_CALLS)],
            callback_handler=None,
        )

    def _code_team_tool(self) -> AgentTool:
        team = self.spec.code_team

        @tool(name=team.name, description=f"Hand the request to the {team.title}: {team.handoff_description}")
        async def code_team(request: str) -> str:
            """Run the code team on a programming request.

            Args:
                request: The programming request, word for word.
            """
            return await self._code_team(request)

        return code_team

    async def _code_team(self, request: str) -> str:
        """One delegation: the team's graph from fresh members; the tester's answer is the tool's result."""
        assert self.team is not None, "start() first"
        for node in self.team.nodes.values():
            node.reset_executor_state()  # each delegation starts its members from nothing
        result = await self.team.invoke_async(request)
        tested = result.results.get(TESTER)
        if result.status != Status.COMPLETED or tested is None:
            raise RuntimeError(f"the code team did not finish ({result.status.value}): no tester's answer")
        return "\n".join(str(r) for r in tested.get_agent_results()).strip()

    def _delegated(self, event: AfterToolCallEvent) -> None:
        name = event.tool_use["name"]
        if name in self.spec.routes and event.result.get("status") == "success":
            self.route = name

    async def send(self, message: str) -> TurnResult:
        assert self.orchestrator is not None, "start() first"
        self.route = None
        self.guardrail.invocations = []
        agents = [self.orchestrator, *self.specialists, *self.team_members]
        before = [len(agent.event_loop_metrics.agent_invocations) for agent in agents]
        result = await self.orchestrator.invoke_async(message)
        invocations = list(self.guardrail.invocations)
        for agent, seen in zip(agents, before, strict=True):
            invocations += agent.event_loop_metrics.agent_invocations[seen:]  # this turn's: this agent ran
        usage = _turn_usage(invocations)
        if self.guardrail.refused:
            return TurnResult(self.spec.guardrail.refusal, GUARDRAIL, usage)
        # No successful delegation (the delegate's error result came back): the orchestrator answered itself.
        return TurnResult(str(result).strip(), self.route or ORCHESTRATOR, usage)

    async def aclose(self) -> None:
        try:
            for specialist in [*self.specialists, *self.team_members]:
                await asyncio.to_thread(specialist.cleanup)  # stops its MCP client (joins its thread)
        finally:
            await self.client.close()


class StrandsBuild(AgentBuild):
    framework = "strands"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        return await started(StrandsConversation(spec, model, mcp, memory))


BUILD = StrandsBuild()
