"""The CrewAI build (``crewai`` 1.15): a conversational ``Flow`` whose router step picks the specialist agent.

Why a Flow and not a crew with ``Process.hierarchical``: the system routes each turn to exactly one specialist
who answers the user directly, and a refused turn must run nothing. A hierarchical crew's manager agent
delegates through the "Delegate work to coworker" tool, may delegate several times or answer itself, and
rewrites the coworker's answer as its own final answer, so neither "exactly one specialist" nor "who
answered" would hold. CrewAI's own guidance is Flows for control, crews for autonomy; 1.15 ships conversational
Flows (``ConversationConfig`` + ``RouterConfig``, driven by ``handle_turn``) for exactly this chat-routing shape.

How the system maps onto CrewAI:

- Routing: the conversational Flow's built-in router step (``route_conversation``), an LLM call with the
  orchestrator instructions as ``RouterConfig.prompt``, the specialists' handoff descriptions as
  ``route_descriptions`` and a ``Route`` model (a ``Literal`` of the two specialist names) as its structured
  ``response_format``; CrewAI sends the conversation to it as a JSON document. ``builtin_routes = ()`` drops
  the chit-chat (``converse``) and ``end`` routes, and the router has no default or fallback route: every
  allowed turn goes to a specialist, and a failed routing call raises instead of quietly chatting.
- Handoff: each route label is a ``@listen`` step that builds that specialist's ``Agent`` (role = title, goal
  = handoff description, backstory = the spec's instructions, which CrewAI puts in the system message;
  ``max_iter`` bounds the tool loop) and runs ``Agent.kickoff_async`` on the conversation so far. Agents are
  built per turn: in 1.15.30 ``Agent._prepare_kickoff`` appends the ``mcps`` tools to ``agent.tools`` on
  every kickoff, so a reused agent would offer each tool once more per turn.
- Code team: a Flow inside the Flow, reached through a tool: CrewAI's self-evaluation loop (docs.crewai.com
  "Flows": ``@start``/``@listen``/``@router``; the crewAI-examples "self_evaluation_loop_flow", whose generator
  step is ``@start("retry")`` and whose reviewer is a ``@router`` on it). ``CodeTeam(Flow[CodeTeamState])``:
  ``write_draft`` (``@start("changes_requested")``: the coder, given the request, or on a restart its draft and
  the review), ``review_draft`` (``@router(write_draft)``: the reviewer, given the request and the latest draft;
  ``ready_for_tests`` iff ``TeamSpec.approves`` or ``max_reviews`` reached, else ``changes_requested``, which
  starts ``write_draft`` again) and ``test_draft`` (``@listen("ready_for_tests")``: the tester, whose answer is
  the Flow's result). Members are ``Agent``s built like the specialists (``_member``: role, goal, backstory =
  the spec's instructions, the same LLM, so the same retries, timeout and generation settings, ``max_iter``),
  run with ``Agent.kickoff_async`` on what they are handed (CrewAI's "agents in flows" use, as the specialist
  steps already do); only the tester has an MCP server, filtered to its spec tools (``run_python``). The
  operational agent gets ``CodeTeamTool`` (a ``BaseTool`` named ``code_team`` with the spec's handoff
  description and a ``request`` argument), whose ``_run`` kicks off a fresh ``CodeTeam`` Flow
  (``kickoff(inputs={"request": ...})``; CrewAI runs a sync tool in a worker thread with the caller's
  ``contextvars`` copied, where ``kickoff`` starts its own loop) and returns its result, the tester's answer.
- Memory: the Flow's ``ConversationState``, one Flow per conversation, kept with CrewAI's Flow persistence:
  the Flow class is decorated ``@persist(SQLiteFlowPersistence(<store dir>/crewai_flows.sqlite))`` and every
  turn is ``handle_turn(message, session_id=<conversation id>)``, the pairing CrewAI's "Conversational Flows"
  guide documents for resuming a conversation (turn lifecycle: ``handle_turn`` calls ``kickoff(inputs={"id":
  session_id})``, which, with ``@persist`` configured, loads the latest snapshot of that id before the turn's
  message is appended). ``@persist`` on the class snapshots the whole state (JSON, a row per completed step,
  under the conversation id) after every step, and ``handle_turn`` snapshots it again once the answer is in
  the history. ``handle_turn`` appends the user message, the step's returned answer becomes the assistant
  message, and the router context and ``build_agent_context`` both carry that history, so "And in Paris?"
  reaches the router and the specialist with the London turn, in the same process or in a fresh one that
  reopened the conversation by its id. What is kept is what the build's memory has always been: the user
  turns and the final answers (refusals included), not the specialists' tool calls, which CrewAI keeps in no
  state. Outside the store directory only an empty ``portalocker`` lock file (``crewai_core.lock_store``,
  in the system temp directory, named by a hash of the database path) serialises writes; it holds no data.
  CrewAI's ``Memory`` (LLM-extracted facts in a LanceDB vector store, embedded with OpenAI by default)
  is long-term recall, not chat history; the Flow's automatic one is switched off (``_skip_auto_memory``, as
  CrewAI's own internal flows do: 1.15.30 still creates a ``Memory`` for any Flow whose ``memory`` is
  ``None`` and has no public switch) so no embedder or vector store is touched.
- Guardrail: CrewAI's guardrails (``Task``/``Agent`` ``guardrail=``, ``LLMGuardrail``) validate *outputs*;
  the documented place for an input gate in a conversational Flow is ``route_turn`` ("permission gates before
  the LLM decision"). It makes a structured ``LLM.call`` (``response_model=Verdict``: ``allowed``, ``reason``)
  with the guardrail instructions and the latest message, and a refused request takes the ``guardrail`` route,
  a step that answers with the spec's refusal (recorded in the history like any answer) and runs no agent or
  tool. An unreadable verdict lets the request through, as the vanilla build does.
- MCP adapter: CrewAI's native MCP support (``crewai.mcp``; crewai-tools' ``MCPServerAdapter`` is not
  installed): each specialist gets ``mcps=[MCPServerHTTP(url, headers, tool_filter=create_static_tool_filter
  (allowed_tool_names=...))]``, so it only ever sees its allow-listed tools. CrewAI opens a fresh streamable
  HTTP session per tool discovery (each kickoff) and per tool call; nothing stays open between turns.
- Model client: one LLM per conversation, CrewAI's native OpenAI provider (what ``crewai.LLM(model="openai/
  <model>", base_url=..., custom_openai=True)`` builds; here the class itself, see the workarounds) on Chat
  Completions (``api="completions"``; ``custom_openai=True`` so it never falls back to, or counts tokens with,
  the Responses API, which the gateway lacks). The router, guardrail and both agents share it, so every call
  sends the spec's generation settings: ``temperature`` and ``max_tokens`` are LLM fields. The runner's
  ``model.timeout_s`` is the provider's ``timeout`` field, which CrewAI hands to the ``OpenAI`` and
  ``AsyncOpenAI`` clients it builds (``_get_client_params``); the SDK applies it to each phase of a request
  (connect, write, and read: the longest wait for the next byte). Requests are not streamed (``stream`` is
  unset). CrewAI's context defaults are kept: for a model it does not know it assumes an 8k window, and a tool
  result over a quarter of that is replaced by a preview plus CrewAI's ``read_a_deferred_tool_result`` tool
  (``use_better_compaction``).
- Retries: CrewAI's defaults, two layers. Inside, the OpenAI SDK's policy (the provider's ``max_retries``
  field defaults to the SDK's 2; openai 2.54, ``_base_client.py``, ``AsyncAPIClient.request``/``SyncAPIClient
  .request`` and ``_should_retry``): 2 retries (3 attempts) of a connection error, a timeout (so a request
  answered by silence is sent again after ``timeout_s``), and HTTP 408, 409, 429 and 5xx unless the server
  says ``x-should-retry: false``; the wait honours ``Retry-After``/``retry-after-ms`` up to 120 s, else
  exponential back-off from 0.5 s (doubling, at most 8 s, minus up to 25 % jitter); a non-streamed request is
  retried whole. Outside, CrewAI's own rate-limit retry (``crewai/llms/retry.py``, which ``BaseLLM
  .__init_subclass__`` wraps around every provider's ``call``/``acall``): 3 attempts of the whole call, for
  throttling errors only (status 429 or a rate-limit code or message in the exception chain), waiting 1 s
  then 2 s (±20 %); it looks for ``Retry-After`` in a ``headers`` dict on the exception, which the OpenAI
  SDK's errors do not carry, so only the SDK's own layer honours it. Every other error is raised to the
  caller once the SDK's retries run out.
- Resilience: nothing to turn on. CrewAI's agent loop reports a tool's exception to the model as the tool's
  result, so MCP errors and lost sessions (a new session per call here) reach the model, which carries on.
  An empty reply raises ``ValueError`` (``agent_utils._validate_and_finalize_llm_response``) and an LLM error
  that outlives the retries above is raised: ``Agent.max_retry_limit`` re-runs a failed *task* in a crew,
  not ``Agent.kickoff_async``, and no other setting answers either instead.
- Async: ``Flow.handle_turn`` is synchronous in 1.15 (``kickoff`` starts its own event loop), so ``send``
  runs it in a worker thread with ``asyncio.to_thread``; inside the Flow the specialist steps are ``async``
  and use ``Agent.kickoff_async``.
- Per-conversation Flow class: ``ConversationConfig`` (router prompt and LLM) is class-level, and the Python
  DSL projects only a class's own steps (inherited ``@listen`` methods never run), so ``assistant_flow``
  defines the class for each conversation's spec and endpoints.

Usage accounting: ``Flow.usage_metrics``, CrewAI's aggregate of the ``LLMCallCompletedEvent`` usage of a Flow's
most recent kickoff (``crewai/flow/runtime``; the Flow counterpart of ``Crew.usage_metrics`` /
``CrewOutput.token_usage``, which a Flow run has none of). ``handle_turn`` is one kickoff, so it is the turn's:
the guardrail's ``LLM.call`` in ``route_turn``, the router's call and the specialist agent's calls, all made
inside the kickoff (``prompt_tokens``, ``completion_tokens``; ``calls`` is its ``successful_requests``), and
the code team's: its Flow's kickoff is nested in the turn's (inside the operational agent's tool call), and
CrewAI rolls a nested kickoff's LLM calls up into the parent's by design (``Flow.usage_metrics`` docstring:
the ``current_flow_id`` contextvar is inherited, here through the tool thread's copied context). The
bus is flushed before the kickoff returns, so no call is read late; a call whose reply carries no usage is
not counted.

Workarounds (crewai 1.15.30, Python 3.11):

- Tool names: CrewAI names each MCP tool ``<server name from the URL>_<tool>`` and cuts names over 64
  characters to a hash (``MCPNativeTool``, ``sanitize_tool_name``); the trial-tagged path ``/t/<trial>/mcp``
  makes nearly every name too long, losing the tool's own name. The build connects to the server's plain
  ``/mcp`` and sends the trial in the ``X-Trial-Id`` header (``McpEndpoint.headers``) instead. Unchanged in
  1.15.30 (``MCPToolResolver._extract_server_name``); no upstream issue.
- Every MCP tool call failed after the server had run it ("Error during MCP client disconnect: no running
  event loop"). ``HTTPTransport.connect`` enters the SDK's streamable HTTP context under ``asyncio.wait_for``,
  which on 3.11 is another task, so closing it raises anyio's "exit cancel scope in a different task"; CrewAI
  means to ignore that as teardown noise, but ``MCPNativeTool._run`` starts ``asyncio.run`` inside ``except
  RuntimeError`` (its no-loop probe), so the probe's error is chained to the noise and reported as the real
  failure. The build replaces ``MCPNativeTool._run`` with the same call made after the ``except`` block
  (upstream: the per-call ``asyncio.run`` is what crewAIInc/crewAI#4634 and #4794, both closed unmerged, meant
  to replace with one background loop; no issue names the chained probe error). Agent steps run tools in
  threads without a loop, so every call takes the broken branch; still so in 1.15.30, whose
  ``find_transport_failure`` skips teardown noise but not the probe's "no running event loop" it reaches
  through ``__context__``.
- Quiet and contained: before crewai is imported the build sets the telemetry and tracing opt-outs
  (``CREWAI_DISABLE_TELEMETRY``/``_TRACKING``, ``OTEL_SDK_DISABLED``, ``CREWAI_TRACING_ENABLED=false`` so the
  first-run tracing prompt never appears, ``CREWAI_DISABLE_VERSION_CHECK``); the Flow runs with
  ``tracing=False`` and ``suppress_flow_events=True``, and each turn with ``set_suppress_console_output``: the
  global console listener prints a panel for every agent and MCP event whatever ``verbose`` says (upstream
  crewAIInc/crewAI#927, open). CrewAI writes at import and at every Flow creation under the home directory
  (``~/.config/crewai/settings.json``, ``~/.local/share/crewai/credentials/secret.key``,
  ``~/.local/share/<cwd name>/``), with no setting but ``HOME``/``XDG_DATA_HOME`` (still so in 1.15.30:
  ``crewai_core.settings``, ``crewai_core.paths``; no upstream issue); the worker process hosts only this
  build, so the build points both at a private folder under the temp directory first.
- ``parallel_tool_calls``: CrewAI 1.15.30 has no setting for it (its executor runs however many calls a
  response holds; no upstream issue), and extra LLM keyword arguments (``additional_params``) go on every
  request, the router's and the guardrail's too, which carry no tools and which OpenAI then rejects.
  ``ToolCallSettingsLLM`` (the native provider's subclass) adds the spec's value in
  ``_prepare_completion_params``, the one place CrewAI builds a Chat Completions request (``call`` and
  ``acall`` both), and only when that request offers tools.
- Cleanup: ``aclose`` has nothing to close: the MCP sessions are per call, and ``crewai.LLM`` exposes no
  close for its OpenAI clients (they go with the conversation).

README row: Flow router step | @listen step → Agent | ConversationState | route_turn gate | MCPServerHTTP | crewai.LLM
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, ValidationError

from benchmark.contract import AgentBuild, Conversation, McpEndpoint, MemoryStore, ModelEndpoint, TurnResult, Usage
from benchmark.spec import CODER, GUARDRAIL, LEGAL, OPERATIONAL, REVIEWER, TESTER, AgentSpec, SystemSpec


def _keep_crewai_quiet_and_contained() -> None:
    """Telemetry, tracing and version checks off, and CrewAI's home-directory files under the temp folder."""
    for name, value in {
        "CREWAI_DISABLE_TELEMETRY": "true",
        "CREWAI_DISABLE_TRACKING": "true",
        "OTEL_SDK_DISABLED": "true",
        "CREWAI_TRACING_ENABLED": "false",
        "CREWAI_DISABLE_VERSION_CHECK": "true",
        "CREWAI_STORAGE_DIR": "afbench",
    }.items():
        os.environ.setdefault(name, value)
    home = Path(tempfile.gettempdir()) / f"afbench-crewai-{os.getuid()}"
    home.mkdir(mode=0o700, exist_ok=True)
    os.environ["HOME"] = str(home)
    os.environ["XDG_DATA_HOME"] = str(home / ".local" / "share")


_keep_crewai_quiet_and_contained()

from crewai import Agent  # noqa: E402
from crewai.events.utils.console_formatter import set_suppress_console_output  # noqa: E402
from crewai.flow import ConversationConfig, ConversationState, Flow, RouterConfig, listen, router, start  # noqa: E402
from crewai.flow.persistence import SQLiteFlowPersistence, persist  # noqa: E402
from crewai.llms.providers.openai.completion import OpenAICompletion  # noqa: E402
from crewai.mcp import MCPServerHTTP, create_static_tool_filter  # noqa: E402
from crewai.tools import BaseTool  # noqa: E402
from crewai.tools.mcp_native_tool import MCPNativeTool  # noqa: E402
from crewai.utilities.types import LLMMessage  # noqa: E402

MAX_TOOL_ROUNDS = 8

_crewai_mcp_tool_run = MCPNativeTool._run


def _run_mcp_tool(self: MCPNativeTool, **kwargs: Any) -> Any:
    """``MCPNativeTool._run`` with its event loop started outside an ``except`` block (see the docstring)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return _crewai_mcp_tool_run(self, **kwargs)  # crewai's own branch for a running loop is sound
    try:
        return asyncio.run(self._run_async(**kwargs))
    except Exception as exc:
        raise RuntimeError(f"Error executing MCP tool {self.original_tool_name}: {exc!s}") from exc


MCPNativeTool._run = _run_mcp_tool  # type: ignore[method-assign]


class ToolCallSettingsLLM(OpenAICompletion):
    """CrewAI's native OpenAI provider, sending ``parallel_tool_calls`` on requests with tools (see the docstring)."""

    parallel_tool_calls: bool

    def _prepare_completion_params(
        self, messages: list[LLMMessage], tools: list[dict[str, BaseTool]] | None = None
    ) -> dict[str, Any]:
        params = super()._prepare_completion_params(messages, tools)
        if params.get("tools"):
            params["parallel_tool_calls"] = self.parallel_tool_calls
        return params


class Route(BaseModel):
    """The orchestrator's decision: the one specialist who answers this turn."""

    route: Literal["legal_expert", "operational_agent"] = Field(description="The specialist to hand the turn to.")


class Verdict(BaseModel):
    """The input guardrail's decision on the latest request."""

    allowed: bool = Field(description="True if the request may be answered.")
    reason: str = Field(description="A short reason for the decision.")


def _plain_mcp_url(mcp: McpEndpoint) -> str:
    """The server's ``/mcp`` without the trial prefix (the trial goes in ``X-Trial-Id``); see the docstring."""
    return mcp.url.replace(f"/t/{mcp.trial_id}/mcp", "/mcp")


class CodeTeamState(BaseModel):
    """The code team Flow's state: the request as the operational agent passed it, the latest draft and review."""

    request: str = ""
    draft: str = ""
    review: str = ""
    reviews: int = 0


class CodeTeamArguments(BaseModel):
    """The code team tool's arguments, as the operational agent fills them."""

    request: str = Field(description="The request, word for word, with any code the user pasted.")


class CodeTeamTool(BaseTool):
    """The code team as one tool of its parent agent: each call kicks off a fresh code team Flow."""

    args_schema: type[BaseModel] = CodeTeamArguments
    team: Callable[[], Flow[CodeTeamState]] = Field(exclude=True)

    def _run(self, request: str) -> str:
        flow = self.team()
        return str(flow.kickoff(inputs={"request": request}))


def _member(agent: AgentSpec, llm: OpenAICompletion, mcp_url: str, mcp: McpEndpoint, tools: list[BaseTool]) -> Agent:
    """A CrewAI ``Agent`` for one of the spec's agents (a specialist or a team member), with its allow-listed MCP
    tools, if it has any, and ``tools``; built per kickoff (see the docstring)."""
    servers = []
    if agent.tools:
        allowed = create_static_tool_filter(allowed_tool_names=list(agent.tools))
        servers.append(MCPServerHTTP(url=mcp_url, headers=mcp.headers, tool_filter=allowed))
    return Agent(
        role=agent.title,
        goal=agent.handoff_description,
        backstory=agent.instructions,
        llm=llm,
        mcps=servers,
        tools=tools,
        max_iter=MAX_TOOL_ROUNDS,
        verbose=False,
    )


def code_team_flow(spec: SystemSpec, llm: OpenAICompletion, mcp: McpEndpoint) -> Callable[[], Flow[CodeTeamState]]:
    """The code team's Flow class (made per conversation, like the assistant's: its steps close over the spec and
    endpoints), returned as a factory of fresh instances: one kickoff per delegation."""
    team = spec.code_team
    mcp_url = _plain_mcp_url(mcp)

    async def answer(name: str, handed: str) -> str:
        member = _member(team.member(name), llm, mcp_url, mcp, [])
        output = await member.kickoff_async(handed)
        return output.raw

    class CodeTeam(Flow[CodeTeamState]):
        """The self-evaluation loop: the coder's step starts the Flow and restarts on ``changes_requested``, the
        reviewer's router step sends the draft back or on to the tester's step."""

        _skip_auto_memory: bool = True

        @start("changes_requested")
        async def write_draft(self) -> None:
            state = self.state
            if not state.review:
                state.draft = await answer(CODER, state.request)
                return
            handed = team.for_revision(state.request, state.draft, state.review)
            state.draft = await answer(CODER, handed)

        @router(write_draft)
        async def review_draft(self) -> str:
            state = self.state
            state.review = await answer(REVIEWER, team.for_reviewer(state.request, state.draft))
            state.reviews += 1
            if team.approves(state.review) or state.reviews >= team.max_reviews:
                return "ready_for_tests"
            return "changes_requested"

        @listen("ready_for_tests")
        async def test_draft(self) -> str:
            state = self.state
            return await answer(TESTER, team.for_tester(state.request, state.draft))

    return lambda: CodeTeam(tracing=False, suppress_flow_events=True)


def assistant_flow(
    spec: SystemSpec, llm: OpenAICompletion, mcp: McpEndpoint, memory: MemoryStore
) -> Flow[ConversationState]:
    """A conversation's Flow. The class is made here: in crewai 1.15 ``ConversationConfig`` (the router's
    prompt and LLM) and ``@persist`` (the store) are class-level and a Flow's steps must be its own, while the
    spec, endpoints and store come per conversation."""
    router = RouterConfig(
        prompt=spec.orchestrator_instructions,
        llm=llm,
        response_format=Route,
        routes=list(spec.routes),
        route_descriptions={agent.name: agent.handoff_description for agent in spec.specialists},
        default_intent=None,
        fallback_intent=None,
        intent_field="route",
    )
    mcp_url = _plain_mcp_url(mcp)
    team = spec.code_team
    team_agent = team.as_agent()
    team_tool = CodeTeamTool(
        name=team_agent.name,
        description=f"{team_agent.title}: {team_agent.handoff_description}",
        team=code_team_flow(spec, llm, mcp),
    )
    store = SQLiteFlowPersistence(str(Path(memory.directory) / "crewai_flows.sqlite"))

    @persist(store)
    @ConversationConfig(system_prompt="", router=router)
    class KestrelAssistant(Flow[ConversationState]):
        """The guardrail gate and router step, then the chosen specialist's step."""

        builtin_routes: ClassVar[tuple[str, ...]] = ()  # no chit-chat or "end" route: a specialist answers
        _skip_auto_memory: bool = True  # the chat history is the state; no LanceDB long-term memory

        def route_turn(self, context: dict[str, Any]) -> str | None:
            if not self.allowed(str(context.get("current_user_message") or "")):
                return GUARDRAIL
            route = super().route_turn(context)
            if route not in spec.routes:
                raise RuntimeError(f"the orchestrator routed to no specialist (route: {route!r})")
            return route

        def allowed(self, request: str) -> bool:
            messages: list[Any] = [
                {"role": "system", "content": spec.guardrail.instructions},
                {"role": "user", "content": request},
            ]
            try:
                verdict = llm.call(messages, response_model=Verdict)
                if not isinstance(verdict, Verdict):
                    verdict = Verdict.model_validate_json(str(verdict))
            except ValidationError:
                return True  # an unreadable verdict must not silently refuse a legitimate request
            return verdict.allowed

        @listen(GUARDRAIL)
        def refuse(self) -> str:
            return spec.guardrail.refusal

        # Steps are not named like their route labels: labels and "method finished" events share one namespace.
        @listen(LEGAL)
        async def ask_legal_expert(self) -> str:
            return await self.consult(LEGAL)

        @listen(OPERATIONAL)
        async def ask_operational_agent(self) -> str:
            return await self.consult(OPERATIONAL)

        async def consult(self, name: str) -> str:
            tools: list[BaseTool] = [team_tool] if name == team.parent else []
            specialist = _member(spec.agent(name), llm, mcp_url, mcp, tools)
            output = await specialist.kickoff_async(self.build_agent_context(name))
            return output.raw

    return KestrelAssistant(tracing=False, suppress_flow_events=True)


class CrewAIConversation:
    def __init__(self, flow: Flow[ConversationState], memory: MemoryStore) -> None:
        self.flow = flow
        self.conversation_id = memory.conversation_id

    async def send(self, message: str) -> TurnResult:
        answer = await asyncio.to_thread(self._turn, message)
        metrics = self.flow.usage_metrics  # the turn's kickoff
        usage = Usage(
            metrics.prompt_tokens,
            metrics.completion_tokens,
            metrics.successful_requests,
            source="Flow.usage_metrics",
        )
        return TurnResult(str(answer), str(self.flow.state.last_intent), usage)

    def _turn(self, message: str) -> Any:
        set_suppress_console_output(True)  # this thread's context only: no Rich panel per agent and MCP event
        # the session id is the persistence key: the turn starts from that conversation's latest snapshot
        return self.flow.handle_turn(message, session_id=self.conversation_id)

    async def aclose(self) -> None:
        return None


class CrewAIBuild(AgentBuild):
    framework = "crewai"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        generation = spec.generation
        llm = ToolCallSettingsLLM(
            model=model.model,
            provider="openai",
            base_url=model.base_url,
            api_key=model.api_key,
            api="completions",
            custom_openai=True,
            timeout=model.timeout_s,
            temperature=generation.temperature,
            max_tokens=generation.max_output_tokens,
            parallel_tool_calls=generation.parallel_tool_calls,
        )
        return CrewAIConversation(assistant_flow(spec, llm, mcp, memory), memory)


BUILD = CrewAIBuild()
