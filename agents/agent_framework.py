"""The Microsoft Agent Framework build (``agent-framework-core`` / ``-orchestrations`` / ``-openai``): a handoff
workflow from an orchestrator to two specialists, the guardrail as agent middleware on the orchestrator.

How the system maps onto Agent Framework:

- Routing and handoff: ``HandoffBuilder`` with the orchestrator as start agent and one ``add_handoff`` from it
  to both specialists (no handoffs between specialists or back: they answer). The builder gives the
  orchestrator one ``handoff_to_<agent>`` tool per specialist, described by the specialist's
  ``description`` (the spec's handoff description), and intercepts the call to pass control; the
  orchestrator has ``tool_choice="required"`` so it never answers itself. The workflow is human-in-the-loop
  (the builder's default): a specialist's answer ends the turn with a ``HandoffAgentUserRequest``, whose
  source executor is the turn's agent. ``enable_return_to_previous(False)`` sends every next user message
  back through the orchestrator, so each turn is routed afresh, in the light of the conversation. (The
  builder logs a warning that the specialists cannot hand off: by design, they answer.)
- Code team: a second, nested workflow (Agent Framework's graph of executors with conditional edges,
  learn.microsoft.com/en-us/agent-framework/user-guide/workflows/core-concepts/edges;
  ``agent_framework/_workflows/_workflow_builder.py`` and ``_agent_executor.py``) behind one function tool,
  ``code_team(request)`` (``@tool``), which the operational agent has beside its MCP tools.
  ``WorkflowBuilder(start_executor=coder)`` wraps the coder, reviewer and tester ``Agent`` (the spec's
  instructions, the shared chat client and generation settings; the tester's one tool ``run_python`` through its
  own ``MCPStreamableHTTPTool`` with ``allowed_tools``) in ``AgentExecutor`` executors, which hand each next agent the
  whole conversation so far (``AgentExecutorResponse.full_conversation``: the request, every draft and review).
  Edges: coder -> reviewer; reviewer -> coder with the condition "changes requested and reviews left", and
  reviewer -> tester with "approved (``TeamSpec.approves`` on the review) or ``max_reviews`` reviews in the
  conversation". Each delegation builds the workflow afresh (fresh executors, so fresh member sessions) and
  runs it (``workflow.run(request)``); the tester's ``AgentResponse``, a workflow output, is the tool's result.
  Not ``workflow.as_agent().as_tool()``: that tool returns the sub-agent's ``final_response.text`` and drops
  its ``usage_details`` (``_agents.py``, ``as_tool``), and a ``WorkflowAgent``'s text would hold every
  member's output, not the tester's alone; the function tool runs the same workflow and keeps both.
- Memory: the workflow itself, one per conversation. A turn is the reply to the pending request
  (``workflow.run(responses={request_id: HandoffAgentUserRequest.create_response(message)})``); the
  handoff executors broadcast each user message and each answer to every participant, and each participant
  keeps its own ``AgentSession`` (an ``InMemoryHistoryProvider``), with the per-service-call history
  persistence the builder requires, so the specialists see the earlier turns and the orchestrator routes a
  follow-up by them.
- Persistence: workflow checkpointing, Agent Framework's way to resume a workflow after a restart
  (``HandoffBuilder(checkpoint_storage=...)``, whose ``with_checkpointing`` docs name "resume conversations after
  application restarts"; the pattern of its ``handoff_with_tool_approval_checkpoint_resume.py`` sample). A
  ``FileCheckpointStorage`` in ``agent_framework-<conversation id>/`` under the harness's store directory gets a
  checkpoint at every superstep: each participant executor's state (its ``AgentSession`` by ``to_dict()``, with
  the history provider's messages, the guardrail's saved refusals included; the conversation the handoff
  broadcasts; pending work) and the pending ``HandoffAgentUserRequest``. ``open`` looks up the latest checkpoint
  (``get_latest``); when there is one, the first turn is ``workflow.run(checkpoint_id=..., responses=...)``,
  the sample's single-call form: restore, then reply to the request the last answer left open, so every agent
  sees the same messages it would have seen without the restart. The guardrail judge keeps no memory (it sees
  the latest message alone), so there is nothing of its to restore.
- Guardrail: an ``AgentMiddleware`` on the orchestrator (Agent Framework's documented place to stop a run
  before the model: set ``context.result``, raise ``MiddlewareTermination``). Before the orchestrator runs,
  it runs a guardrail ``Agent`` with ``response_format=Verdict`` (structured output, a JSON schema) on the
  latest user message alone; a refusal becomes the orchestrator's answer (the spec's refusal, authored
  ``guardrail``), so no specialist and no tool runs. The orchestrator's own run never starts, so its history
  provider would not record the exchange; the middleware saves the refused request and the refusal through
  the provider's ``save_messages`` (the specialists get both by the workflow's broadcast). An unreadable
  verdict lets the request through, as the vanilla build does.
- MCP adapter: ``MCPStreamableHTTPTool`` with the trial's headers (``static_headers``), one per specialist,
  narrowed to its allow-list by ``allowed_tools``; server prompts are not loaded as tools
  (``load_prompts=False``), and nothing asks for approval. Connected once per conversation and closed in
  ``aclose()``: the handoff workflow clones the agents, and a clone would otherwise open its own connection
  on first use and never close it.
- Model client: ``OpenAIChatCompletionClient`` (Chat Completions, not the Responses API) on an
  ``AsyncOpenAI(base_url=..., timeout=model.timeout_s)`` this build owns and closes. The chat client takes a
  client it is handed as it is (``agent_framework_openai/_shared.py``: its own ``timeout`` only reaches a
  client it makes) and adds no retries of its own, so the timeout (connect, each read, write) and the retries
  are the openai SDK's (openai 3.57): 2 retries, so 3 attempts, on a connection error or a timeout before the
  response arrives, and on HTTP 408, 409, 429 and 5xx (``_base_client.py``, ``_should_retry``); the wait is the
  ``Retry-After`` / ``retry-after-ms`` header when it is between 0 and 120 s (longer: no retry), else 0.5 s
  doubling per retry, at most 8 s, less up to 25 % jitter. A stream cut mid-way would not be retried (the SDK
  retries until the response starts), but the handoff workflow runs its agents without streaming
  (``workflow.run`` without ``stream``), so a silent answer is a timeout before the response, and retried.
  Its OpenTelemetry instrumentation, on by default, is switched off by the harness
  (``ENABLE_INSTRUMENTATION=false`` in the worker's environment), not here.
- Generation settings: the spec's as every agent's ``default_options``: ``temperature``, ``max_tokens``
  (sent as ``max_completion_tokens``) and ``allow_multiple_tool_calls`` (sent as ``parallel_tool_calls``,
  and only on requests that carry tools: the client drops it, and ``tool_choice``, from the others).
- Tool-loop bound: the client's ``function_invocation_configuration["max_iterations"]``; past it, Agent
  Framework asks the model for a final answer with ``tool_choice="none"``.
- Usage accounting: ``AgentResponse.usage_details`` (``input_token_count``, ``output_token_count``), the usage
  Agent Framework puts on every agent response, summed per turn over the agent responses the handoff workflow
  outputs (``WorkflowRunResult.get_outputs()``: the orchestrator's and the specialist's, each already the sum
  of its function-invocation loop's model calls, ``_tools.py``) plus the guardrail judge's response, which runs
  in the middleware, outside the workflow, plus the code team's: every member's ``AgentResponse`` its workflow
  outputs (each ``AgentExecutor`` yields its agent's response as a workflow output), which the operational
  agent's own response does not include (a tool's inner runs are not its model calls). That covers every model
  call of the turn; a refused turn has the
  judge's alone (the short-circuited orchestrator makes none). It gives no number of model calls (usage
  details are summed per response), so ``calls`` is not reported.

Workarounds and changed defaults:

- Packaging: ``agent-framework-core`` declares ``mcp`` and ``tenacity`` only under its ``all`` extra (which pulls
  in some thirty integration packages), but ``MCPStreamableHTTPTool`` imports both, so the environment requires
  them directly (``envs/agent_framework/requirements.in``, in the extra's version ranges).
- Tool errors: Agent Framework hides a failed tool's message from the model ("Error: Function failed.") unless
  ``include_detailed_errors`` is set (microsoft/agent-framework#6313). An MCP ``isError`` result is meant for
  the model ("unknown city", "ambiguous: ...", "division by zero"), and the server is this system's own, so it
  is set: the model reads ``Error: Function failed. Exception: <the server's message>``.
- Resilience: nothing further is turned on, because Agent Framework has nothing to turn on for what is left.
  Its function-invocation loop already reports a failed or unknown call back to the model, and
  ``MCPStreamableHTTPTool`` reconnects and calls again once when the connection is lost (``_mcp.py``,
  ``_call_tool_with_retries``; it knows a lost session only by the mcp client's "Session terminated" stand-in,
  so an expired session whose HTTP 404 carries the server's own JSON-RPC error, as the mcp SDK's server
  sends it, reaches the model as a tool error instead). It has no retry setting for chat clients (retries are
  the SDK client's), none that reads a tool call written as text or re-asks after an empty reply (a reply
  without ``tool_calls`` is the answer), and none that turns a failed model call into an answer: once the
  SDK's retries are spent, the chat client raises ``ChatClientException`` and the workflow run raises it.
- Checkpoint types: the handoff executor asks for the user's reply with ``ctx.request_info(HandoffAgentUserRequest(...),
  list[Message])``, and the checkpoint keeps that response type with the pending request; ``list[Message]`` is a
  ``types.GenericAlias``, which is not on the restricted unpickler's built-in allow-list (agent-framework-core
  1.23.0, ``_checkpoint_encoding.py``), so ``FileCheckpointStorage``, which checks at save time that a checkpoint
  will decode, refuses every checkpoint that holds the pending request ("Failed to create checkpoint ...
  blocked for type 'types:GenericAlias'", only a log warning) and the latest one left is from before the answer.
  The storage's documented extension point, ``allowed_checkpoint_types``, admits ``types:GenericAlias`` (its
  origin and arguments still pass the allow-list on their own). No issue found.
- Refusal memory: an agent middleware that short-circuits a run leaves the session untouched by design, so the
  guardrail saves the refused exchange to the orchestrator's history itself (see above).

README row: HandoffBuilder | handoff_to_* | AgentSession | AgentMiddleware | MCPStreamableHTTPTool |
OpenAIChatCompletionClient
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from agent_framework import (
    Agent,
    AgentContext,
    AgentExecutorResponse,
    AgentMiddleware,
    AgentResponse,
    FileCheckpointStorage,
    HistoryProvider,
    InMemoryHistoryProvider,
    MCPStreamableHTTPTool,
    Message,
    MiddlewareTermination,
    UsageDetails,
    Workflow,
    WorkflowBuilder,
    WorkflowRunResult,
    add_usage_details,
    tool,
)
from agent_framework.openai import OpenAIChatCompletionClient, OpenAIChatCompletionOptions
from agent_framework.orchestrations import HandoffAgentUserRequest, HandoffBuilder
from openai import AsyncOpenAI
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
from benchmark.spec import (
    CODER,
    GUARDRAIL,
    ORCHESTRATOR,
    REVIEWER,
    TESTER,
    AgentSpec,
    GuardrailSpec,
    SystemSpec,
    TeamSpec,
)

MAX_TOOL_ROUNDS = 8
# the handoff's pending user request declares its response type as ``list[Message]``, a ``types.GenericAlias``
CHECKPOINT_GENERIC_ALIAS = "types:GenericAlias"
MCP_TIMEOUT_S = 60


class Verdict(BaseModel):
    allowed: bool
    reason: str


def _latest_user_text(messages: Sequence[Message]) -> str:
    """The newest user message: the guardrail judges the request, not the history broadcast with it."""
    for message in reversed(messages):
        if message.role == "user":
            return message.text
    return ""


def _answer_text(response: AgentResponse[Any]) -> str:
    """The agent's final answer: the last assistant text (earlier messages are tool calls and results)."""
    for message in reversed(response.messages):
        if message.role == "assistant" and message.text.strip():
            return message.text
    return response.text


class GuardrailMiddleware(AgentMiddleware):
    """Judges the latest user message before the orchestrator runs; a refusal ends the turn there."""

    def __init__(self, judge: Agent[Any], policy: GuardrailSpec) -> None:
        self.judge = judge
        self.policy = policy
        self.usage: UsageDetails | None = None  # the judge's run this turn, as its AgentResponse reports it

    async def _allowed(self, request: str) -> bool:
        response = await self.judge.run(request, options={"response_format": Verdict})
        self.usage = add_usage_details(self.usage, response.usage_details)
        try:
            verdict = response.value
        except ValueError:  # pydantic's ValidationError included
            return True  # an unreadable verdict must not silently refuse a legitimate request
        return not isinstance(verdict, Verdict) or verdict.allowed

    async def process(self, context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
        if await self._allowed(_latest_user_text(context.messages)):
            await call_next()
            return
        refusal = Message("assistant", [self.policy.refusal], author_name=GUARDRAIL)
        await self._remember(context, refusal)
        context.result = AgentResponse(messages=[refusal])
        raise MiddlewareTermination(result=context.result)

    @staticmethod
    async def _remember(context: AgentContext, refusal: Message) -> None:
        """Save the refused exchange to the orchestrator's history, as its run would have had it run."""
        session = context.session
        providers = getattr(context.agent, "context_providers", [])
        if session is None:
            return
        for provider in providers:
            if isinstance(provider, HistoryProvider) and provider.load_messages:
                state = session.state.setdefault(provider.source_id, {})
                await provider.save_messages(session.session_id, [*context.messages, refusal], state=state)


def _reviews(response: AgentExecutorResponse) -> int:
    """The reviews so far: the reviewer's answers in the conversation the team's workflow passes along."""
    return sum(m.role == "assistant" and m.author_name == REVIEWER for m in response.full_conversation)


def _code_team_workflow(team: TeamSpec, coder: Agent[Any], reviewer: Agent[Any], tester: Agent[Any]) -> Workflow:
    """The spec's team protocol as a ``WorkflowBuilder`` graph of the three agents (each wrapped in an
    ``AgentExecutor``, which hands the next one the whole conversation): coder -> reviewer, then conditional
    edges back to the coder (changes requested, reviews left) or on to the tester (approved, or out of reviews).
    """

    def done(response: AgentExecutorResponse) -> bool:
        return team.approves(response.agent_response.text) or _reviews(response) >= team.max_reviews

    def revise(response: AgentExecutorResponse) -> bool:
        return not done(response)

    return (
        WorkflowBuilder(name=team.name, description=team.handoff_description, start_executor=coder)
        .add_edge(coder, reviewer)
        .add_edge(reviewer, coder, condition=revise)
        .add_edge(reviewer, tester, condition=done)
        .build()
    )


class AgentFrameworkConversation:
    def __init__(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> None:
        self.spec = spec
        self.mcp = mcp
        # the workflow's checkpoints: a conversation reopened by its id resumes from the latest
        self.checkpoints = FileCheckpointStorage(
            Path(memory.directory) / f"agent_framework-{memory.conversation_id}",
            allowed_checkpoint_types=[CHECKPOINT_GENERIC_ALIAS],  # see "Workarounds"
        )
        self.openai = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key, timeout=model.timeout_s)
        self.client = OpenAIChatCompletionClient(
            model=model.model,
            async_client=self.openai,
            # The MCP server's tool errors (isError results) are written for the model to recover from.
            function_invocation_configuration={"max_iterations": MAX_TOOL_ROUNDS, "include_detailed_errors": True},
        )
        generation = spec.generation
        self.settings = OpenAIChatCompletionOptions(
            temperature=generation.temperature,
            max_tokens=generation.max_output_tokens,
            allow_multiple_tool_calls=generation.parallel_tool_calls,
        )
        self._stack = AsyncExitStack()
        self.workflow: Workflow | None = None
        self.guardrail: GuardrailMiddleware | None = None
        self.team: tuple[Agent[Any], Agent[Any], Agent[Any]] | None = None
        self.team_usage: UsageDetails | None = None  # the code team's agent responses this turn
        self._pending: str | None = None  # the request the last answer left open: the next turn replies to it
        self._restore: str | None = None  # the checkpoint the next turn restores first (after a restart)

    async def start(self) -> None:
        team = self.spec.code_team
        coder, reviewer, tester = [await self._agent(team.member(name)) for name in (CODER, REVIEWER, TESTER)]
        self.team = (coder, reviewer, tester)
        specialists = [await self._specialist(agent) for agent in self.spec.specialists]
        judge = Agent(
            client=self.client,
            instructions=self.spec.guardrail.instructions,
            name=GUARDRAIL,
            default_options=self.settings,
        )
        self.guardrail = GuardrailMiddleware(judge, self.spec.guardrail)
        orchestrator = Agent(
            client=self.client,
            instructions=self.spec.orchestrator_instructions,
            name=ORCHESTRATOR,
            default_options=OpenAIChatCompletionOptions(**self.settings, tool_choice="required"),
            context_providers=[InMemoryHistoryProvider()],
            middleware=[self.guardrail],
            require_per_service_call_history_persistence=True,
        )
        self.workflow = (
            HandoffBuilder(
                name="afbench", participants=[orchestrator, *specialists], checkpoint_storage=self.checkpoints
            )
            .with_start_agent(orchestrator)
            .add_handoff(orchestrator, specialists)
            .enable_return_to_previous(False)
            .build()
        )
        latest = await self.checkpoints.get_latest(workflow_name=self.workflow.name)
        if latest is not None:
            pending = [
                request_id
                for request_id, event in latest.pending_request_info_events.items()
                if isinstance(event.data, HandoffAgentUserRequest)
            ]
            if not pending:
                raise RuntimeError(f"checkpoint {latest.checkpoint_id} has no pending user request to resume from")
            self._restore, self._pending = latest.checkpoint_id, pending[-1]

    async def _mcp_tools(self, agent: AgentSpec) -> MCPStreamableHTTPTool:
        tools = MCPStreamableHTTPTool(
            name=f"kestrel-{agent.name}",
            url=self.mcp.url,
            static_headers=self.mcp.headers,
            allowed_tools=agent.tools,
            load_prompts=False,
            approval_mode="never_require",
            request_timeout=MCP_TIMEOUT_S,
        )
        await self._stack.enter_async_context(tools)
        return tools

    async def _specialist(self, agent: AgentSpec) -> Agent[Any]:
        tools: list[Any] = [await self._mcp_tools(agent)]
        if agent.name == self.spec.code_team.parent:
            tools.append(self._code_team_tool())
        return Agent(
            client=self.client,
            instructions=agent.instructions,
            name=agent.name,
            description=agent.handoff_description,
            tools=tools,
            default_options=self.settings,
            require_per_service_call_history_persistence=True,
        )

    async def _agent(self, agent: AgentSpec) -> Agent[Any]:
        """A code team member: its spec's instructions, its MCP tools (the tester's ``run_python``) if any."""
        return Agent(
            client=self.client,
            instructions=agent.instructions,
            name=agent.name,
            description=agent.handoff_description,
            tools=[await self._mcp_tools(agent)] if agent.tools else None,
            default_options=self.settings,
        )

    def _code_team_tool(self) -> Any:
        team = self.spec.code_team

        @tool(name=team.name, description=f"Hand the request to the {team.title}: {team.handoff_description}")
        async def code_team(request: str) -> str:
            """Run the code team on a programming request, word for word; returns the tested code."""
            return await self._code_team(request)

        return code_team

    async def _code_team(self, request: str) -> str:
        """One delegation: a fresh run of the team's workflow (fresh executors, so fresh member sessions); the
        tester's response is the tool's result, and every member's response usage is the turn's."""
        assert self.team is not None, "start() first"
        result = await _code_team_workflow(self.spec.code_team, *self.team).run(request)
        answer: AgentResponse[Any] | None = None
        for event in result:
            if event.type == "output" and isinstance(event.data, AgentResponse):
                self.team_usage = add_usage_details(self.team_usage, event.data.usage_details)
                if event.executor_id == TESTER:
                    answer = event.data
        if answer is None:
            raise RuntimeError(f"the code team ended without the tester's answer: {result.get_final_state()}")
        return _answer_text(answer)

    async def send(self, message: str) -> TurnResult:
        assert self.workflow is not None and self.guardrail is not None, "start() first"
        self.guardrail.usage = None
        self.team_usage = None
        if self._pending is None:
            result = await self.workflow.run(message)
        else:
            reply = HandoffAgentUserRequest.create_response(message)
            # after a restart: restore the latest checkpoint, then reply to its pending request
            result = await self.workflow.run(responses={self._pending: reply}, checkpoint_id=self._restore)
            self._restore = None
        requests = [e for e in result.get_request_info_events() if isinstance(e.data, HandoffAgentUserRequest)]
        if not requests:
            raise RuntimeError(f"the handoff workflow ended the turn without an answer: {result.get_final_state()}")
        request = requests[-1]
        self._pending = request.request_id
        answer: AgentResponse[Any] = request.data.agent_response
        usage = self._usage(result)
        if any(m.author_name == GUARDRAIL for m in answer.messages):
            return TurnResult(self.spec.guardrail.refusal, GUARDRAIL, usage)
        return TurnResult(_answer_text(answer), request.source_executor_id, usage)

    def _usage(self, result: WorkflowRunResult) -> Usage:
        """The turn's ``usage_details``: every agent response the workflow output (the orchestrator's and the
        specialist's), plus the guardrail judge's, which runs in the middleware, outside the workflow."""
        assert self.guardrail is not None
        total = add_usage_details(self.guardrail.usage, self.team_usage)
        for output in result.get_outputs():
            if isinstance(output, AgentResponse):
                total = add_usage_details(total, output.usage_details)
        total = total or UsageDetails()
        return Usage(
            total.get("input_token_count") or 0,
            total.get("output_token_count") or 0,
            source="AgentResponse.usage_details (workflow outputs + code team outputs + guardrail run)",
        )

    async def aclose(self) -> None:
        try:
            await self._stack.aclose()
        finally:
            await self.openai.close()


class AgentFrameworkBuild(AgentBuild):
    framework = "agent_framework"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        return await started(AgentFrameworkConversation(spec, model, mcp, memory))


BUILD = AgentFrameworkBuild()
