"""The OpenAI Agents SDK build (``openai-agents`` 0.24): an orchestrator agent that hands off to two specialists.

How the system maps onto the SDK:

- Routing and handoff: the orchestrator is an ``Agent`` whose only tools are its ``handoffs`` (the SDK's
  ``transfer_to_<agent>`` tools, described by each specialist's ``handoff_description``), with
  ``tool_choice="required"`` so it never answers itself, and the SDK's recommended handoff prompt prefix.
  The ``Runner`` loop switches to the chosen specialist, which sees the whole conversation and answers; the
  turn's agent is ``result.last_agent``.
- Memory: the SDK's own session memory, a file-backed ``SQLiteSession(session_id, db_path)`` (the sessions
  guide's persistent form, ``SQLiteSession("user_123", "conversations.db")``, in place of the in-memory default,
  for history that outlives the process) under the harness's conversation id, in ``openai_agents.sqlite`` in the
  harness's store directory, passed to every ``Runner.run``; the SDK prepends the stored items (user turns,
  handoffs, tool calls and results, answers) and saves each run's new items, each as soon as the run ends. Every
  turn starts again at the orchestrator, which routes it in the light of that history. A conversation opened
  again by its id, in a fresh process, reads the same items from the file, so its next run sends the model what
  it would have sent without the restart; a refusal (the refused input and the refusal the build adds) is kept as
  before. Nothing is lost to a restart: the agents are rebuilt from the spec, and the session is all their state.
- Guardrail: a blocking (``run_in_parallel=False``) ``InputGuardrail`` on the orchestrator, so a refused turn
  reaches no agent and no tool. It runs a guardrail ``Agent`` with ``output_type=Verdict`` (structured output,
  ``response_format`` JSON schema) on the latest user message; ``allowed=False`` trips the wire, and the
  ``InputGuardrailTripwireTriggered`` exception becomes the spec's refusal, which is added to the session.
- MCP adapter: ``MCPServerStreamableHttp`` with the trial's headers, one per specialist, each narrowed to its
  allow-list by ``create_static_tool_filter`` and given to that specialist as ``mcp_servers``; tools are
  listed once per connection (``cache_tools_list``). On ``mcp`` 2.x the SDK puts the headers and timeouts on
  an ``httpx2`` client and connects with ``mcp.Client(mode="auto")``: its ``server/discover`` probe is
  refused by the project's ``mcp`` 1.x server (HTTP 400, a JSON-RPC error), so it falls back to the
  ``initialize`` handshake.
- Model client: ``OpenAIChatCompletionsModel`` on one ``AsyncOpenAI(base_url=..., timeout=model.timeout_s)``
  client (Chat Completions; the gateway has no Responses API). The SDK passes no timeout of its own per
  request (``ModelSettings.timeout``, a whole-attempt bound enforced by the runner, is unset), so the client's
  timeout applies to every HTTP phase, a read included: a request answered with nothing, or a response whose
  body stops coming, fails after ``timeout_s``. Tracing is off (``set_tracing_disabled`` and
  ``RunConfig.tracing_disabled``): there is no OpenAI platform to export to.
- Retries: the defaults. The SDK's runner-managed retries (``ModelSettings.retry``) are opt-in and unset, and
  with them unset the runner leaves retrying to the provider's client (``run_internal/model_retry.py``,
  ``_should_disable_provider_managed_retries``), the openai SDK's own default: 2 retries (3 attempts) of a
  request that timed out or failed to connect (reset, refused) or was answered 408, 409, 429 or 5xx (unless
  the response says ``x-should-retry: false``), after exponential back-off from 0.5 s doubling to at most
  8 s, minus up to 25 % jitter, or after the server's ``Retry-After``/``retry-after-ms`` when that is
  between 0 and 120 s (``openai/_base_client.py``: the request loop, ``_should_retry``,
  ``_calculate_retry_timeout``). ``Runner.run`` does not stream, so a body that stops half-way is read
  inside the request and retried like a silent one; a streamed response is retried only until its headers
  arrive. Each retry resends an identical body, which the gateway takes for another attempt of the same call
  when it counts calls for a fault.
- Resilience: ``RunConfig(tool_not_found_behavior="return_error_to_model")``, the runner's documented
  opt-in ("Tool execution, approval, and tool error behavior" in the running-agents guide) for a model call
  of a tool the agent does not have: the call gets a model-visible error output and the run goes on,
  instead of the default ``ModelBehaviorError`` that ends the run. A tool outside an agent's allow-list is
  not in its tool list either, so it is refused the same way and never reaches the server. Tool errors
  (an MCP tool's error result, a failing call) already go back to the model by default
  (``failure_error_function``); the SDK has no option for an empty or text-only reply, which is the
  agent's final output.
- Generation settings: the spec's, as the run's global ``RunConfig.model_settings`` (``temperature``,
  ``max_tokens``, ``parallel_tool_calls``), which the SDK merges over each agent's own settings (the
  orchestrator's ``tool_choice``) on every model call, the guardrail agent's included. The SDK sends
  ``parallel_tool_calls`` only on requests that carry tools or handoffs, as Chat Completions requires.
- Tool-loop bound: ``max_turns`` plus the SDK's ``max_turns`` error handler, which turns the overrun into a
  final answer instead of an exception (the vanilla build's "could not finish" answer).

Usage accounting: the SDK's ``Usage`` (``requests``, ``input_tokens``, ``output_tokens``), read where the usage
guide tells a user to ("Usage": ``result.context_wrapper.usage`` after ``Runner.run``), once per run. A turn is two
runs (more with the code team): the guardrail agent's, which the guardrail function starts with its own
``Runner.run`` (the guardrails guide's pattern; that run has a context wrapper, so a usage, of its own and the main
run's usage does not include it), and the main run (the orchestrator's handoff call and the specialist's tool loop,
handoffs included, as the guide says), and on a programming request each code-team member's run, started by the
``code_team`` tool's own ``Runner.run`` calls (a run of its own, whose usage the main run's does not include, as
with the guardrail's). The turn's usage is the runs' summed with ``Usage.add``; a refused turn has only the
guardrail run's (the blocking guardrail ends the main run before any model call; its usage, on the exception's
``run_data``, is added too, and is empty). ``requests`` is the call count. What it misses: a request the openai
client retried counts once (the SDK sees one response; its runner-managed retries, which would add the failed
attempts, are off), and a run that raises reports nothing.

Workarounds: none for SDK bugs. One default changed: the MCP client's read timeout
(``client_session_timeout_seconds``, still 5 s in 0.24, as is the HTTP ``timeout``) is too short for the RAG
tool on a loaded machine, so both are 60 s.

Code team: the SDK's "Orchestrating via code" (``docs/multi_agent.md``: "chaining agents by transforming the
output of one into the input of the next", "running the agent that performs the task in a ``while`` loop with an
agent that evaluates and provides feedback, until the evaluator says the output passes certain criteria"; the
repository's ``examples/agent_patterns/llm_as_a_judge.py``), inside a ``function_tool`` of the operational agent
named ``code_team`` and described by the team's handoff description: the agents-as-tools shape (the operational
agent keeps control and answers with the tool's result) with a code-orchestrated body, which ``Agent.as_tool``
cannot express (it runs one agent). The body is the spec's protocol: ``Runner.run(coder, request)``, then
``Runner.run(reviewer, request + draft)`` and, while the review does not approve (``TeamSpec.approves``) and
reviews remain, ``Runner.run(coder, request + draft + review)``, then ``Runner.run(tester, request + final draft)``,
whose ``final_output`` is the tool's result. Members are ``Agent`` objects with the spec's instructions on the same
model and ``RunConfig`` (generation settings, tracing off, tool-not-found behaviour) as every other run; the tester
alone has an ``MCPServerStreamableHttp`` of its own filtered to its allow-list (``run_python``), like each
specialist's, and the same ``max_turns`` bound and error handler as the main run. Each member run is a run of its
own, so its usage is its ``result.context_wrapper.usage``, added to the turn's like the guardrail run's (below).

README row: LLM | handoffs | SQLiteSession | input_guardrails | MCPServerStreamableHttp | OpenAIChatCompletionsModel
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from agents import (
    Agent,
    FunctionTool,
    GuardrailFunctionOutput,
    InputGuardrail,
    InputGuardrailTripwireTriggered,
    ModelSettings,
    OpenAIChatCompletionsModel,
    RunConfig,
    RunContextWrapper,
    RunErrorHandlerInput,
    RunErrorHandlerResult,
    Runner,
    SQLiteSession,
    TResponseInputItem,
    Usage,
    function_tool,
    set_tracing_disabled,
)
from agents.extensions.handoff_prompt import prompt_with_handoff_instructions
from agents.mcp import MCPServer, MCPServerStreamableHttp, create_static_tool_filter
from openai import AsyncOpenAI
from pydantic import BaseModel

from benchmark.contract import AgentBuild, Conversation, McpEndpoint, MemoryStore, ModelEndpoint, TurnResult, started
from benchmark.contract import Usage as TurnUsage
from benchmark.spec import CODER, GUARDRAIL, ORCHESTRATOR, REVIEWER, TESTER, AgentSpec, SystemSpec

MAX_TURNS = 10  # model calls per user turn: the orchestrator's handoff, then the specialist's tool loop
MCP_TIMEOUT_S = 60
GAVE_UP = "I could not finish this request within the allowed number of tool calls."

set_tracing_disabled(True)  # nothing to export traces to, and a run must not try


class Verdict(BaseModel):
    allowed: bool
    reason: str


def _latest_user_text(items: str | list[TResponseInputItem]) -> str:
    """The newest user message of a run's input: the guardrail judges the request, not the history."""
    if isinstance(items, str):
        return items
    for item in reversed(items):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _gave_up(_: RunErrorHandlerInput[None]) -> RunErrorHandlerResult:
    return RunErrorHandlerResult(final_output=GAVE_UP)


def _turn_usage(runs: list[Usage]) -> TurnUsage:
    """The turn's runs' usages (each a ``result.context_wrapper.usage``), summed as the SDK sums them."""
    total = Usage()
    for usage in runs:
        total.add(usage)
    return TurnUsage(
        total.input_tokens,
        total.output_tokens,
        total.requests,
        source="RunResult.context_wrapper.usage (guardrail run + main run + code-team member runs)",
    )


class OpenAIAgentsConversation:
    def __init__(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> None:
        self.spec = spec
        self.mcp = mcp
        self.client = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key, timeout=model.timeout_s)
        self.model = OpenAIChatCompletionsModel(model=model.model, openai_client=self.client)
        self.session = SQLiteSession(memory.conversation_id, Path(memory.directory) / "openai_agents.sqlite")
        generation = spec.generation
        settings = ModelSettings(
            temperature=generation.temperature,
            max_tokens=generation.max_output_tokens,
            parallel_tool_calls=generation.parallel_tool_calls,
        )
        self.run_config = RunConfig(
            model_settings=settings,
            tracing_disabled=True,
            workflow_name="afbench",
            tool_not_found_behavior="return_error_to_model",
        )
        self._stack = AsyncExitStack()
        self.orchestrator: Agent[None] | None = None
        self._runs: list[Usage] = []  # this turn's runs' usages, the guardrail's first

    async def start(self) -> None:
        specialists = [await self._specialist(agent) for agent in self.spec.specialists]
        guardrail_agent = Agent[None](
            name=GUARDRAIL,
            instructions=self.spec.guardrail.instructions,
            model=self.model,
            output_type=Verdict,
        )

        async def policy(
            context: RunContextWrapper[None], _agent: Agent[Any], items: str | list[TResponseInputItem]
        ) -> GuardrailFunctionOutput:
            result = await Runner.run(
                guardrail_agent, _latest_user_text(items), context=context.context, run_config=self.run_config
            )
            self._runs.append(result.context_wrapper.usage)
            verdict = result.final_output_as(Verdict)
            return GuardrailFunctionOutput(output_info=verdict, tripwire_triggered=not verdict.allowed)

        self.orchestrator = Agent[None](
            name=ORCHESTRATOR,
            instructions=prompt_with_handoff_instructions(self.spec.orchestrator_instructions),
            model=self.model,
            model_settings=ModelSettings(tool_choice="required"),
            handoffs=list(specialists),
            input_guardrails=[InputGuardrail(guardrail_function=policy, name=GUARDRAIL, run_in_parallel=False)],
        )

    async def _mcp_server(self, agent: AgentSpec) -> MCPServerStreamableHttp:
        """A connection to the MCP server offering only the agent's allowed tools."""
        server = MCPServerStreamableHttp(
            params={"url": self.mcp.url, "headers": self.mcp.headers, "timeout": MCP_TIMEOUT_S},
            name=f"afbench-{agent.name}",
            cache_tools_list=True,
            client_session_timeout_seconds=MCP_TIMEOUT_S,
            tool_filter=create_static_tool_filter(allowed_tool_names=list(agent.tools)),
        )
        await self._stack.enter_async_context(server)
        return server

    async def _specialist(self, agent: AgentSpec) -> Agent[None]:
        team = self.spec.code_team
        return Agent[None](
            name=agent.name,
            handoff_description=agent.handoff_description,
            instructions=agent.instructions,
            model=self.model,
            mcp_servers=[await self._mcp_server(agent)],
            tools=[await self._code_team_tool()] if agent.name == team.parent else [],
        )

    async def _member(self, agent: AgentSpec) -> Agent[None]:
        servers: list[MCPServer] = [await self._mcp_server(agent)] if agent.tools else []
        return Agent[None](name=agent.name, instructions=agent.instructions, model=self.model, mcp_servers=servers)

    async def _code_team_tool(self) -> FunctionTool:
        """The team as the operational agent's tool: its body runs the members in the spec's protocol."""
        team = self.spec.code_team
        coder, reviewer, tester = [await self._member(team.member(name)) for name in (CODER, REVIEWER, TESTER)]

        async def run(member: Agent[None], handed: str) -> str:
            result = await Runner.run(
                member, handed, run_config=self.run_config, max_turns=MAX_TURNS, error_handlers={"max_turns": _gave_up}
            )
            self._runs.append(result.context_wrapper.usage)
            return str(result.final_output)

        async def code_team(request: str) -> str:
            """Hand a programming request to the code team.

            Args:
                request: The request, word for word.
            """
            draft = await run(coder, request)
            for reviews in range(1, team.max_reviews + 1):
                review = await run(reviewer, team.for_reviewer(request, draft))
                if team.approves(review) or reviews == team.max_reviews:
                    break
                draft = await run(coder, team.for_revision(request, draft, review))
            return await run(tester, team.for_tester(request, draft))

        return function_tool(
            code_team, name_override=team.name, description_override=f"{team.title}: {team.handoff_description}"
        )

    async def send(self, message: str) -> TurnResult:
        assert self.orchestrator is not None, "start() first"
        self._runs = []
        try:
            result = await Runner.run(
                self.orchestrator,
                message,
                session=self.session,
                run_config=self.run_config,
                max_turns=MAX_TURNS,
                error_handlers={"max_turns": _gave_up},
            )
        except InputGuardrailTripwireTriggered as refused:
            refusal = self.spec.guardrail.refusal
            # the SDK has saved the refused input; the refusal completes the exchange for later turns
            await self.session.add_items([{"role": "assistant", "content": refusal}])
            if refused.run_data is not None:
                self._runs.append(refused.run_data.context_wrapper.usage)
            return TurnResult(refusal, GUARDRAIL, _turn_usage(self._runs))
        self._runs.append(result.context_wrapper.usage)
        return TurnResult(str(result.final_output), result.last_agent.name, _turn_usage(self._runs))

    async def aclose(self) -> None:
        try:
            await self._stack.aclose()
        finally:
            self.session.close()
            await self.client.close()


class OpenAIAgentsBuild(AgentBuild):
    framework = "openai_agents"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        return await started(OpenAIAgentsConversation(spec, model, mcp, memory))


BUILD = OpenAIAgentsBuild()
