"""The Google ADK build (``google-adk`` 2.13): an ``LlmAgent`` orchestrator that transfers to two specialists.

How the system maps onto ADK:

- Routing and handoff: LLM-driven delegation, ADK's recommended pattern for a coordinator: the specialists
  are the orchestrator's ``sub_agents``, so ADK offers it its ``transfer_to_agent`` tool (an ``agent_name``
  enum of the specialists) and appends their descriptions (each specialist's handoff description) to its
  instruction. Its function-calling mode is ``ANY`` (``tool_choice="required"``), so it always routes and
  never answers itself. The chosen specialist then answers the turn; the turn's agent is the author of the
  final response event.
- Every turn starts at the orchestrator: the specialists set ``disallow_transfer_to_parent`` and
  ``disallow_transfer_to_peers``, so they get no transfer tool and ADK hands the next turn back to the root
  agent (instead of to the agent that answered last, its default).
- Code team: ADK's workflow agents, the "iterative refinement" pattern of its loop-agent guide
  (google.github.io/adk-docs/agents/workflow-agents/loop-agents, ``google/adk/agents/loop_agent.py``): a
  ``SequentialAgent`` named ``code_team`` of a ``LoopAgent`` (``max_iterations=max_reviews``) over the coder,
  the reviewer and a ``ReviewGate``, then the tester. The gate is a custom ``BaseAgent`` (ADK's documented way
  to end a loop on a condition, its "check status and escalate" agent) that yields an ``Event`` with
  ``EventActions(escalate=True)`` when the reviewer's latest review, kept in session state by its
  ``output_key``, approves (``TeamSpec.approves``); otherwise the next iteration's coder revises, and after
  ``max_reviews`` reviews the loop ends by itself. The members are ``LlmAgent`` like the specialists (the spec's
  instructions as ``static_instruction``, the same model and generation settings; the tester's one tool
  ``run_python`` through its own filtered ``McpToolset``). They share the team's session, so each sees the
  request and every earlier draft and review (other agents' turns as ADK's quoted context): the reviewer and
  tester the latest draft, the revising coder its draft and the review. The operational agent gets the team as
  ``AgentTool(code_team)`` (``google/adk/tools/agent_tool.py``, its defaults; the tool is named for the agent
  and takes a ``request`` string): each call runs the team in a fresh in-memory session of its own ``Runner``
  under the caller's ``RunConfig``, and the last event's text, the tester's answer, is the tool's result
  (``{"result": text}``), from which the operational agent writes its answer (the spec's "answer with the final
  code it returns"), as for any tool. ``skip_summarization=True`` would make the result itself the final
  response and save that call; the default is kept, as for every other build's agent tool.
  (``AgentTool``'s docstring now prefers ``mode='single_turn'`` sub-agents for one ``LlmAgent``; the team is a
  workflow of agents, which ``AgentTool`` wraps as a whole.)
- Memory: one ADK session per conversation, run by one ``Runner`` (over an ``App``); ADK replays the session's
  events (user turns, the transfer, tool calls and results, answers) to each agent, other agents' turns as
  quoted context. The session lives in ADK's own SQLite session service, ``SqliteSessionService``
  (``google.adk.sessions.sqlite_session_service``, on ``aiosqlite``, a dependency of ``google-adk`` itself):
  the service ADK's CLI runs for ``--session_service_uri sqlite://<file>`` and the one that replaced
  ``DatabaseSessionService`` for SQLite in ADK 2.x (it ships ``migrate_from_sqlalchemy_sqlite`` to move a
  ``DatabaseSessionService`` SQLite file onto it; ``DatabaseSessionService`` would need the ``db`` extra,
  SQLAlchemy, for the same result). Its file is ``google_adk.sqlite`` in the harness's store directory, the
  session id is the conversation id, and every event is written as ADK appends it (JSON, one row each). On
  ``start`` the build gets the session by that id and creates it only when the store has none, so a fresh
  process resumes with every earlier event, and ADK rebuilds each agent's history from them exactly as it
  did before the restart; the root agent then takes the next turn, as always (see above). ``Runner.close``
  flushes the service and ``aclose`` closes it.
- Guardrail: a ``before_model_callback`` on the orchestrator, the first model call of every turn. It asks the
  same model for a typed verdict (``response_schema=Verdict``: a ``response_format`` JSON schema) on the
  turn's user message alone; a refusal is returned as the orchestrator's response, so no model call, transfer
  or tool follows, and the spec's refusal text stays in the session for later turns. An unreadable verdict
  lets the request through, as the vanilla build does. The refusal is an event of the session like any other,
  so it is kept across a restart too.
- MCP adapter: one ``McpToolset`` per specialist over ``StreamableHTTPConnectionParams`` with the trial's
  headers, narrowed to its allow-list by ``tool_filter`` (the tools it is not allowed are neither offered
  nor callable); its ``tools/list`` answer is cached for the conversation (``tool_list_cache_ttl_seconds``),
  as the server's tools do not change. ``Runner.close`` closes the toolsets' sessions.
- Model client: ADK's own OpenAI integration, ``google.adk.integrations.openai.OpenAILlm`` (Chat Completions;
  the gateway has no Responses API), on an ``AsyncOpenAI(base_url=...)`` client this build owns and closes:
  ``OpenAILlm`` takes a pre-configured client for "timeout, retries, ..." (its docstring) and passes neither
  itself. Not ``LiteLlm("openai/...")``: ADK 2.x ships this path itself (``google-adk[openai]``), where
  LiteLLM would add 23 distributions for the same wire format, and ADK's own extras cap it below its newest
  release (``litellm<1.106.3``; 1.110.2 is out).
- Timeout: ``model.timeout_s`` is the client's ``timeout`` (httpx connect, read, write and pool limits alike).
  ADK calls the model without streaming (``RunConfig``'s default ``StreamingMode.NONE``), so a request that
  gets no answer ends in ``APITimeoutError`` after that long, and is retried as below.
- Retries: the OpenAI SDK's defaults (openai 2.54, ``_base_client.py``), ADK adding none of its own for
  ``OpenAILlm`` (its ``retry_options`` are the Gemini client's): ``max_retries=2``, so 3 attempts, on a
  connection error, a timeout, and HTTP 408, 409, 429 and 5xx (unless the server sends ``x-should-retry``);
  the wait is the ``Retry-After``/``retry-after-ms`` header when it says up to 120 s (a longer one is not
  retried), else 0.5 s then 1 s (doubling, capped at 8 s, less up to 25 % jitter). A streamed reply cut after
  its headers would not be retried (only sending the request is), but this build does not stream. What still
  fails then raises out of ``Runner.run_async`` and ends the turn. The gateway tells a retry (the same body
  again) from a new call when it counts a role's calls for a fault.
- Resilience, as ADK does it by default: a tool error (an unknown tool, arguments that fail validation, an MCP
  error) goes back to the model as the function's error response. Nothing is turned on beyond that: ADK's
  remaining handlers are an ``on_model_error_callback`` the application writes (its own answer to an
  exception) and ``ReflectAndRetryModelPlugin``, which acts on Gemini's ``MALFORMED_FUNCTION_CALL`` finish; an
  empty reply ends the turn as an error event (``MODEL_RETURNED_NO_CONTENT``), and no tool call written as
  text is parsed.
- Instructions are ADK's ``static_instruction``: sent literally, where ``instruction`` would read any
  ``{name}`` in the spec's text as a session-state placeholder.
- Generation settings: the spec's ``temperature`` and output cap in every agent's ``generate_content_config``
  (and the cap as ``OpenAILlm.max_tokens``, so the guardrail's direct call carries it too), sent as
  ``temperature`` and ``max_tokens``.
- Tool-loop bound: ``RunConfig.max_llm_calls`` (model calls per turn: the route, then the specialist's loop);
  ADK raises ``LlmCallsLimitExceededError`` past it, which becomes the vanilla build's "could not finish"
  answer, added to the session so later turns see the exchange complete.
- Telemetry and probes: ADK records OpenTelemetry spans only through a tracer provider someone installs (its
  CLI and web server do; a ``Runner`` does not), and the runner sets ``OTEL_SDK_DISABLED`` and
  ``ADK_CAPTURE_MESSAGE_CONTENT_IN_SPANS=false``, so nothing is exported and no message text is kept. Each new
  MCP session first looks for Google Application Default Credentials to set up mTLS (environment, gcloud
  files, then the GCE metadata server: about 3 s here, per session); the runner's
  ``GOOGLE_API_USE_CLIENT_CERTIFICATE=false``, the google-auth switch ADK reads, skips that.
- Usage accounting: ``LlmResponse.usage_metadata`` (``prompt_token_count``, ``candidates_token_count``), read
  by a ``BasePlugin`` on the ``App`` (``UsagePlugin``) in its ``after_model_callback``, the hook whose docstring
  names "collect metrics on token usage": one response per model call (the build does not stream), so their
  number is the turn's call count. A plugin, not the runner's events as before the code team: ``AgentTool``
  runs the team under a runner of its own and forwards none of its events (only state deltas and the last
  content), so the team's model calls never reach the caller's event stream; it does pass the parent's
  plugins to that runner (``include_plugins=True``, its default), so the plugin sees the team's calls too. The
  guardrail's call goes straight to ``OpenAILlm.generate_content_async``, outside any runner, so no plugin sees
  it: its ``LlmResponse`` carries the same ``usage_metadata`` and is added. ADK offers no per-invocation total
  of its own. Output is ``candidates_token_count`` alone: ``OpenAILlm`` maps ``completion_tokens`` to it
  and reports reasoning tokens again, as a subset, in ``thoughts_token_count`` (``_openai_llm.py``,
  ``_usage_metadata``), so adding them, as one would for Gemini, would count them twice.

Workarounds (google-adk 2.13):

- ``parallel_tool_calls``: ``OpenAILlm`` has no setting for it (its Responses sibling has one) and passes no
  extra request arguments, so ``_send_parallel_tool_calls`` wraps the client's ``chat.completions.create``
  to add the spec's value to requests that offer tools, and only those.

Known limitation (not worked around): ADK pairs a tool call with its result by id across the whole session
(``_get_contents`` maps each call id to one author), so a server that reuses tool-call ids across agents (ids
unique within one response only) makes agents lose their own earlier calls from their history. OpenAI and the
common OpenAI-compatible servers issue unique ids; the scripted model does too.

Cost, left as ADK does it: an MCP tool's function response is ADK's dump of the whole ``CallToolResult`` (the text
content and the ``structuredContent`` beside it), so the model reads every tool result's data twice.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from google.adk.agents import BaseAgent, LlmAgent, LoopAgent, RunConfig, SequentialAgent
from google.adk.agents.callback_context import CallbackContext
from google.adk.agents.invocation_context import InvocationContext, LlmCallsLimitExceededError
from google.adk.apps import App
from google.adk.events import Event, EventActions
from google.adk.integrations.openai import OpenAILlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.plugins.base_plugin import BasePlugin
from google.adk.runners import Runner
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from google.adk.tools.agent_tool import AgentTool
from google.adk.tools.mcp_tool import McpToolset, StreamableHTTPConnectionParams
from google.genai import types
from openai import AsyncOpenAI
from pydantic import BaseModel, ValidationError

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

APP_NAME = "afbench"
USER_ID = "user"
MAX_LLM_CALLS = 10  # per user turn: the orchestrator's transfer, then the specialist's tool loop
TOOL_LIST_CACHE_S = 3600.0
GAVE_UP = "I could not finish this request within the allowed number of tool calls."
SESSION_DB = "google_adk.sqlite"  # in the harness's store directory
REVIEW_KEY = "code_team_review"  # the session state key of the reviewer's latest review (its output_key)


class Verdict(BaseModel):
    allowed: bool
    reason: str


def _send_parallel_tool_calls(client: AsyncOpenAI, parallel_tool_calls: bool) -> None:
    """Add ``parallel_tool_calls`` to this client's chat completions that offer tools (see the docstring)."""
    completions = client.chat.completions
    create: Callable[..., Awaitable[Any]] = completions.create

    async def create_with_tool_settings(**params: Any) -> Any:
        if params.get("tools"):
            params["parallel_tool_calls"] = parallel_tool_calls
        return await create(**params)

    completions.create = create_with_tool_settings  # type: ignore[method-assign]


class TurnUsage:
    """The turn's ``usage_metadata``, summed over the model responses that carry it (one per model call)."""

    SOURCE = "LlmResponse.usage_metadata (plugin after_model_callback, nested AgentTool runs included + guardrail)"

    def __init__(self) -> None:
        self.input_tokens = self.output_tokens = self.calls = 0

    def add(self, response: LlmResponse) -> None:
        usage = response.usage_metadata
        if usage is None:
            return
        self.input_tokens += usage.prompt_token_count or 0
        self.output_tokens += usage.candidates_token_count or 0
        self.calls += 1

    def report(self) -> Usage:
        return Usage(self.input_tokens, self.output_tokens, self.calls, source=self.SOURCE)


class UsagePlugin(BasePlugin):
    """Every model call of the runner's, and of the runners ``AgentTool`` starts (they inherit the plugins)."""

    def __init__(self) -> None:
        super().__init__(name="afbench_usage")
        self.usage = TurnUsage()

    async def after_model_callback(
        self, *, callback_context: CallbackContext, llm_response: LlmResponse
    ) -> LlmResponse | None:
        self.usage.add(llm_response)
        return None


class ReviewGate(BaseAgent):
    """The review loop's exit: escalates (ends the ``LoopAgent``) when the reviewer's latest review approves."""

    team: TeamSpec

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        review = str(ctx.session.state.get(REVIEW_KEY, ""))
        approved = self.team.approves(review)
        yield Event(author=self.name, invocation_id=ctx.invocation_id, actions=EventActions(escalate=approved))


def _text(content: types.Content | None) -> str:
    return "".join(part.text or "" for part in (content.parts or []) if not part.thought) if content else ""


class GoogleAdkConversation:
    def __init__(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> None:
        self.spec = spec
        self.mcp = mcp
        generation = spec.generation
        self.client = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key, timeout=model.timeout_s)
        _send_parallel_tool_calls(self.client, generation.parallel_tool_calls)
        self.model = OpenAILlm(model=model.model, client=self.client, max_tokens=generation.max_output_tokens)
        self.generation = types.GenerateContentConfig(
            temperature=generation.temperature, max_output_tokens=generation.max_output_tokens
        )
        self.sessions = SqliteSessionService(db_path=str(Path(memory.directory) / SESSION_DB))
        self.run_config = RunConfig(max_llm_calls=MAX_LLM_CALLS)
        self.runner: Runner | None = None
        self.session_id = memory.conversation_id
        self._refused = False
        self.usage = UsagePlugin()

    async def start(self) -> None:
        orchestrator = LlmAgent(
            name=ORCHESTRATOR,
            description="Routes each request to the one specialist who answers it.",
            model=self.model,
            static_instruction=self.spec.orchestrator_instructions,
            generate_content_config=self.generation.model_copy(
                update={
                    "tool_config": types.ToolConfig(
                        function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
                    )
                }
            ),
            sub_agents=[self._specialist(agent) for agent in self.spec.specialists],
            before_model_callback=self._guardrail,
        )
        app = App(name=APP_NAME, root_agent=orchestrator, plugins=[self.usage])
        self.runner = Runner(app=app, session_service=self.sessions)
        # The conversation's session: resumed from the store when an earlier process created it, else new.
        session = await self.sessions.get_session(app_name=APP_NAME, user_id=USER_ID, session_id=self.session_id)
        if session is None:
            await self.sessions.create_session(app_name=APP_NAME, user_id=USER_ID, session_id=self.session_id)

    def _toolset(self, agent: AgentSpec) -> McpToolset:
        return McpToolset(
            connection_params=StreamableHTTPConnectionParams(url=self.mcp.url, headers=self.mcp.headers),
            tool_filter=list(agent.tools),
            tool_list_cache_ttl_seconds=TOOL_LIST_CACHE_S,
        )

    def _specialist(self, agent: AgentSpec) -> LlmAgent:
        team = [AgentTool(agent=self._code_team())] if agent.name == self.spec.code_team.parent else []
        return self._agent(agent, team)

    def _agent(self, agent: AgentSpec, agent_tools: Sequence[Any] = (), **settings: Any) -> LlmAgent:
        """One ``LlmAgent`` of the system, a specialist or a code team member: its MCP toolset (when its allow-list
        has tools) and any agent tools, no transfers out."""
        return LlmAgent(
            name=agent.name,
            description=agent.handoff_description,
            model=self.model,
            static_instruction=agent.instructions,
            generate_content_config=self.generation,
            tools=[*([self._toolset(agent)] if agent.tools else []), *agent_tools],
            disallow_transfer_to_parent=True,
            disallow_transfer_to_peers=True,
            **settings,
        )

    def _code_team(self) -> SequentialAgent:
        """The team: a ``SequentialAgent`` of the review loop (a ``LoopAgent`` of coder, reviewer and the
        ``ReviewGate``, at most ``max_reviews`` rounds) and the tester; ``AgentTool`` runs it per delegation."""
        team = self.spec.code_team
        review_loop = LoopAgent(
            name=f"{team.name}_review_loop",
            description="Draft, review, revise until the reviewer approves.",
            sub_agents=[
                self._agent(team.member(CODER)),
                self._agent(team.member(REVIEWER), output_key=REVIEW_KEY),
                ReviewGate(name=f"{team.name}_review_gate", team=team),
            ],
            max_iterations=team.max_reviews,
        )
        return SequentialAgent(
            name=team.name,
            description=team.handoff_description,
            sub_agents=[review_loop, self._agent(team.member(TESTER))],
        )

    async def _guardrail(self, context: CallbackContext, _request: LlmRequest) -> LlmResponse | None:
        """The orchestrator's ``before_model_callback``: judge the turn's request before it is routed."""
        if await self._allowed(_text(context.user_content)):
            return None
        self._refused = True
        return LlmResponse(content=types.Content(role="model", parts=[types.Part(text=self.spec.guardrail.refusal)]))

    async def _allowed(self, message: str) -> bool:
        request = LlmRequest(
            contents=[types.Content(role="user", parts=[types.Part(text=message)])],
            config=self.generation.model_copy(
                update={"system_instruction": self.spec.guardrail.instructions, "response_schema": Verdict}
            ),
        )
        text = ""
        async for response in self.model.generate_content_async(request):
            self.usage.usage.add(response)  # the judge's call: outside the runner, so no plugin sees it
            text = _text(response.content) or text
        try:
            return Verdict.model_validate_json(text).allowed
        except ValidationError:
            return True  # an unreadable verdict must not silently refuse a legitimate request

    async def send(self, message: str) -> TurnResult:
        assert self.runner is not None, "start() first"
        self._refused = False
        self.usage.usage = TurnUsage()
        answer, author, latest = "", ORCHESTRATOR, ORCHESTRATOR
        content = types.Content(role="user", parts=[types.Part(text=message)])
        try:
            async for event in self.runner.run_async(
                user_id=USER_ID, session_id=self.session_id, new_message=content, run_config=self.run_config
            ):
                latest = event.author
                if event.is_final_response() and _text(event.content):
                    answer, author = _text(event.content), event.author
        except LlmCallsLimitExceededError:
            await self._remember(latest, GAVE_UP)
            return TurnResult(GAVE_UP, latest, self.usage.usage.report())
        return TurnResult(answer, GUARDRAIL if self._refused else author, self.usage.usage.report())

    async def _remember(self, author: str, text: str) -> None:
        session = await self.sessions.get_session(app_name=APP_NAME, user_id=USER_ID, session_id=self.session_id)
        if session is not None:
            reply = Event(author=author, content=types.Content(role="model", parts=[types.Part(text=text)]))
            await self.sessions.append_event(session, reply)

    async def aclose(self) -> None:
        try:
            if self.runner is not None:
                await self.runner.close()
        finally:
            try:
                await self.sessions.close()
            finally:
                await self.client.close()


class GoogleAdkBuild(AgentBuild):
    framework = "google_adk"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        return await started(GoogleAdkConversation(spec, model, mcp, memory))


BUILD = GoogleAdkBuild()
