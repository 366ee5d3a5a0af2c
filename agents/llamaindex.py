"""The agent system in LlamaIndex: an ``AgentWorkflow`` of three ``FunctionAgent``s joined by its handoff tool.

- **Routing and handoff**: the workflow's root agent is the orchestrator, a ``FunctionAgent`` with no tools of
  its own and ``can_handoff_to`` the two specialists, so its only tool is the workflow's built-in
  ``handoff(to_agent, reason)``, whose description lists each agent's ``description`` (the spec's handoff
  description). ``initial_tool_choice="handoff"`` makes it route rather than answer, and with parallel tool
  calls off (the spec's generation setting) it picks exactly one specialist. The handoff tool switches the
  workflow's current agent; the specialist then sees the conversation, the handoff call and its result.
  Specialists have ``can_handoff_to=[]``: they answer, they do not pass the turn on.
- **Memory**: one ``llama_index.core.memory.Memory`` per conversation, LlamaIndex's documented persistent
  memory ("Memory" guide: ``Memory.from_defaults(session_id=..., async_database_uri=...)``, its
  ``SQLAlchemyChatStore`` on a SQL database; the guide's own example is a sqlite ``aiosqlite`` URI), here a
  SQLite file, ``llamaindex.sqlite`` in the harness's store directory, on an engine the conversation owns and
  disposes, with the conversation's id as the memory's ``session_id``. It is passed to every
  ``workflow.run(user_msg=..., memory=...)``, which writes each turn into it as the turn runs: the user
  message, the orchestrator's handoff call and its result, the specialist's tool calls, their results and its
  answer (each ``ChatMessage`` as JSON, a row per message under the session id). A conversation opened again
  by its id, in a fresh process, reads the same rows back, so the orchestrator and the specialists see the
  earlier turns exactly as they would have without the restart. Each turn gets a fresh workflow ``Context``,
  so it starts at the root agent (a reused context would resume at the last specialist); nothing but the
  memory is carried from turn to turn, so nothing else needs restoring.
- **Code team**: the orchestrator-with-sub-agents-as-tools pattern of LlamaIndex's "Multi-agent patterns" guide
  (pattern 2, developers.llamaindex.ai/python/framework/understanding/agent/multi_agent: a sub-system exposed
  to an agent as a tool), with the team itself a custom ``Workflow`` ("Branches and loops", developers.llamaindex
  .ai/python/llamaagents/workflows/branches_and_loops; a custom ``StartEvent`` as in "Customizing entry and exit
  points"). The operational agent's ``FunctionAgent`` gets one more tool, ``code_team(request)``, a
  ``FunctionTool`` (its schema a pydantic model, so ``request`` carries its description) whose async function
  runs ``CodeTeam.run(start_event=CodeRequest(request=...))`` and returns the ``StopEvent`` result. ``CodeTeam``
  (``workflows.Workflow``, llama-index-workflows 2.26) has a step per move of the spec's protocol, events as its
  edges: ``draft`` (``CodeRequest`` → ``Drafted``), ``review`` (``Drafted`` → ``ChangesRequested`` or
  ``ReadyForTests``: the loop is the reviewer's step returning either event, approved iff ``TeamSpec.approves``
  or ``max_reviews`` reached), ``revise`` (``ChangesRequested`` → ``Drafted``) and ``test`` (``ReadyForTests`` →
  ``StopEvent``). Each step runs one member, a ``FunctionAgent`` built like every agent of the build (same LLM,
  so the same retries, timeout and generation settings; ``allow_parallel_tool_calls``; ``streaming=False``):
  the coder and the reviewer with no tools, the tester with ``McpToolSpec(allowed_tools=["run_python"])`` (the
  build's adapter, so exactly its spec tools). Each member run (``agent.run(user_msg=...)``) is a fresh
  conversation holding what it is handed (the request, the latest draft, the review). ``timeout=None`` as on
  ``AgentWorkflow`` (the workflow default of 45 s would cut a real model's team short); the LLM's own timeout
  bounds each call. The team runs inside the operational agent's tool call, so the tester's answer is that
  tool's result and the agent answers with it.
- **Guardrail**: LlamaIndex has no guardrail object. The check is the framework's typed-output API,
  ``llm.astructured_predict(GuardrailVerdict, prompt)`` (function calling with ``tool_choice="required"`` on
  a function-calling ``OpenAILike``), run before the workflow: a refused request never reaches the
  orchestrator, so no agent or tool runs; the request and the refusal go into the memory (so into the SQLite
  file: a restart keeps them) so the conversation stays whole. A verdict that cannot be read (no call, or one
  that does not validate) lets the request through, as the vanilla build does. A workflow step was the
  alternative, but it would mean overriding ``AgentWorkflow.init_run`` and writing its private store keys; a
  check in front of ``run`` uses public API.
- **MCP adapter**: ``llama-index-tools-mcp`` 0.6.0 on ``mcp`` 2.x: one ``BasicMCPClient(url, headers=...)``
  (streamable HTTP, which it picks for any http(s) URL that does not name SSE; ``headers``, the key and the
  trial id, go into the ``httpx2`` client it makes with the SDK's ``create_mcp_http_client``) and one
  ``McpToolSpec(client, allowed_tools=agent.tools)`` per specialist. The adapter still opens an MCP session
  per call in 0.6.0 (``BasicMCPClient._run_session``: list the tools, call one, each its own ``initialize``
  handshake); ``mcp`` 2.x's ``ClientSession.initialize`` offers protocol 2025-11-25, the newest our ``mcp``
  1.x server speaks, so nothing to negotiate down. Nothing stays open but the ``httpx2`` client, which
  ``aclose`` closes.
- **Model client**: ``OpenAILike(api_base=..., is_chat_model=True, is_function_calling_model=True)`` on an
  ``httpx.AsyncClient`` the conversation owns and closes. The runner's ``model.timeout_s`` is the LLM's
  ``timeout`` field, which LlamaIndex hands to the ``AsyncOpenAI`` client it builds (``_get_credential_kwargs``)
  and the SDK applies to each request over the HTTP client's own setting, per phase (connect, write, and read:
  the longest wait for the next byte). Agents run with ``streaming=False``: the build reads only each turn's
  final ``AgentOutput``, not the event stream, and no request is streamed. LlamaIndex sends no telemetry;
  nothing to turn off.
- **Retries**: LlamaIndex's default, ``max_retries=3``, which it applies twice over (llama-index-llms-openai
  0.8.3, ``base.py``: ``llm_retry_decorator`` and ``_get_credential_kwargs``). Outside, every ``_achat`` (the
  agents' and the guardrail's calls) runs under a tenacity policy (``utils.py``, ``create_retry_decorator``):
  at most 3 attempts and 60 s in all, on ``openai.APIConnectionError``, ``APITimeoutError``,
  ``RateLimitError`` and ``InternalServerError`` (HTTP 5xx), waiting the ``Retry-After`` of a 429 (up to
  120 s, ``_WaitRetryAfter``), else a random exponential wait between 1 and 20 s. Inside, the ``AsyncOpenAI``
  client gets the same ``max_retries=3``: the SDK's own policy (openai 2.54, ``_base_client.py``,
  ``AsyncAPIClient.request``, ``_should_retry``) retries a connection error, a timeout (so a request answered
  by silence is sent again after ``timeout_s``) and HTTP 408, 409, 429 and 5xx 3 times, honouring
  ``Retry-After`` up to 120 s, else waiting 0.5 s doubling to at most 8 s (minus up to 25 % jitter); a
  non-streamed request is retried whole. A fault that persists is thus sent up to 12 times before the error
  reaches the workflow, which raises it.
- **Resilience**: nothing to turn on. ``AgentWorkflow`` already hands a tool's exception back to the model as
  an error ``ToolOutput`` (``_call_tool``), so MCP errors, timeouts and lost sessions (a new session per call
  here) reach the model, which carries on; an LLM error that outlives the retries above is raised out of
  ``workflow.run`` (``FunctionAgent`` and ``AgentWorkflow`` have no setting that answers it instead), and a
  reply with no tool call, empty or a call written as text, is the agent's final answer.
- **Generation settings**: the spec's ``temperature`` and cap (``max_tokens``) are ``OpenAILike`` fields, sent
  on every call; ``parallel_tool_calls`` is each ``FunctionAgent``'s ``allow_parallel_tool_calls``, which the
  LLM sends on requests with tools only. ``astructured_predict`` has no such knob: it always asks for one
  call (``parallel_tool_calls: false``, a verdict is one object), which is the spec's value.

Usage accounting: LlamaIndex's ``TokenCountingHandler`` (``llama_index.core.callbacks``; the "Token Counting
Handler" guide and the cost-analysis usage pattern put it in a ``CallbackManager``), here the LLM's own
``callback_manager``, so it sees every ``achat`` of the turn: the guardrail's ``astructured_predict``, the
orchestrator's and the specialist's calls, and the code team's (its members share the LLM, so the nested
``Workflow`` run needs nothing passed down). It is reset at the start of each turn and read at its end
(``prompt_llm_token_count``, ``completion_llm_token_count``; ``calls`` is its number of LLM events,
``len(llm_token_counts)``). For each call it reads the reply's ``usage`` (``get_tokens_from_response``) and
falls back to counting with its tokenizer (tiktoken, shipped with llama-index-core) only where a count is 0 or
missing; the SDK's retries under one ``achat`` are one event, and a call that raised is an event with 0 tokens.

Workaround (still needed in 0.6.0; no upstream issue found): ``McpToolSpec._create_tool_fn`` returns the raw
``mcp.types.CallToolResult``, and ``FunctionTool`` (core 0.14.25, ``_parse_tool_output``) turns any object it
does not know into ``str(obj)``, so the model would read a pydantic repr (``meta=None
content=[TextContent(...)] structured_content={...} is_error=False result_type='complete'``: the result twice,
once as a Python dict). ``_TextResultToolSpec`` overrides the spec's ``_create_tool_fn`` hook to hand back the
result's text parts (the JSON the server wrote), the way the other adapters present MCP results.

README row: AgentWorkflow root agent | handoff tool | Memory | astructured_predict check | McpToolSpec | OpenAILike
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from llama_index.core.agent.workflow import AgentOutput, AgentWorkflow, FunctionAgent
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import Memory
from llama_index.core.prompts import ChatPromptTemplate
from llama_index.core.tools import BaseTool, FunctionTool
from llama_index.llms.openai_like import OpenAILike
from llama_index.tools.mcp import BasicMCPClient, McpToolSpec
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import create_async_engine
from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent

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

ORCHESTRATOR_DESCRIPTION = "Routes each user request to the one specialist who should answer it."


class GuardrailVerdict(BaseModel):
    """The input guardrail's verdict on the user's latest request."""

    allowed: bool = Field(description="True if the request may be answered, false if it must be refused.")
    reason: str = Field(description="A short reason for the verdict.")


class _TextResultToolSpec(McpToolSpec):  # type: ignore[misc]  # the adapter ships no type hints
    """``McpToolSpec`` whose tools return the MCP result's text, not ``str(CallToolResult)`` (see module doc)."""

    def _create_tool_fn(self, tool_name: str) -> Callable[..., Any]:
        async def call(**kwargs: Any) -> str:
            result = await self.client.call_tool(tool_name, kwargs)
            return "\n".join(part.text for part in result.content if part.type == "text")

        return call


class CodeTeamArguments(BaseModel):
    """The code team tool's arguments, as the operational agent fills them."""

    request: str = Field(description="The request, word for word, with any code the user pasted.")


class CodeRequest(StartEvent):
    """The code team's start: the request, word for word as the operational agent passed it."""

    request: str


class Drafted(Event):
    """The coder's latest draft, on its way to the reviewer; ``reviews`` is how many reviews it has had."""

    request: str
    draft: str
    reviews: int


class ChangesRequested(Event):
    """A review that did not approve the draft, on its way back to the coder."""

    request: str
    draft: str
    review: str
    reviews: int


class ReadyForTests(Event):
    """The final draft (approved, or out of reviews), on its way to the tester."""

    request: str
    draft: str


async def _answer(agent: FunctionAgent, handed: str) -> str:
    """One member's run on what it is handed, a fresh conversation (no memory shared with the others)."""
    output: AgentOutput = await agent.run(user_msg=handed)
    return output.response.content or ""


class CodeTeam(Workflow):
    """The spec's team protocol as a LlamaIndex ``Workflow``: each step runs one member, its events are the edges
    (draft → review → changes → draft … → tests), and the loop is the reviewer's step emitting either event."""

    def __init__(
        self, team: TeamSpec, coder: FunctionAgent, reviewer: FunctionAgent, tester: FunctionAgent, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.team = team
        self.coder = coder
        self.reviewer = reviewer
        self.tester = tester

    @step
    async def draft(self, ev: CodeRequest) -> Drafted:
        return Drafted(request=ev.request, draft=await _answer(self.coder, ev.request), reviews=0)

    @step
    async def review(self, ev: Drafted) -> ChangesRequested | ReadyForTests:
        handed = self.team.for_reviewer(ev.request, ev.draft)
        review = await _answer(self.reviewer, handed)
        reviews = ev.reviews + 1
        if self.team.approves(review) or reviews >= self.team.max_reviews:
            return ReadyForTests(request=ev.request, draft=ev.draft)
        return ChangesRequested(request=ev.request, draft=ev.draft, review=review, reviews=reviews)

    @step
    async def revise(self, ev: ChangesRequested) -> Drafted:
        handed = self.team.for_revision(ev.request, ev.draft, ev.review)
        return Drafted(request=ev.request, draft=await _answer(self.coder, handed), reviews=ev.reviews)

    @step
    async def test(self, ev: ReadyForTests) -> StopEvent:
        handed = self.team.for_tester(ev.request, ev.draft)
        return StopEvent(result=await _answer(self.tester, handed))


class LlamaIndexConversation:
    def __init__(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> None:
        self.spec = spec
        self._http = httpx.AsyncClient()  # the SDK passes the LLM's timeout on every request
        self.token_counter = TokenCountingHandler()
        self.llm = OpenAILike(
            model=model.model,
            api_base=model.base_url,
            api_key=model.api_key,
            is_chat_model=True,
            is_function_calling_model=True,
            temperature=spec.generation.temperature,
            max_tokens=spec.generation.max_output_tokens,
            timeout=model.timeout_s,
            async_http_client=self._http,
            callback_manager=CallbackManager([self.token_counter]),
        )
        # timeout: the adapter's default 30 s is tight for a cold rag_search on a busy machine
        self.mcp_client = BasicMCPClient(mcp.url, headers=mcp.headers, timeout=60)
        database = Path(memory.directory) / "llamaindex.sqlite"
        self._engine = create_async_engine(f"sqlite+aiosqlite:///{database}")
        self.memory = Memory.from_defaults(session_id=memory.conversation_id, async_engine=self._engine)
        self.guard_prompt = ChatPromptTemplate.from_messages(
            [("system", spec.guardrail.instructions), ("user", "{request}")]
        )
        self.workflow: AgentWorkflow | None = None
        self._cleanup = AsyncExitStack()  # runs every callback even if one fails
        self._cleanup.push_async_callback(self._engine.dispose)
        self._cleanup.push_async_callback(self._http.aclose)
        self._cleanup.push_async_callback(self.mcp_client.http_client.aclose)

    async def start(self) -> None:
        specialists = [await self._specialist(agent) for agent in self.spec.specialists]
        orchestrator = FunctionAgent(
            name=ORCHESTRATOR,
            description=ORCHESTRATOR_DESCRIPTION,
            system_prompt=self.spec.orchestrator_instructions,
            llm=self.llm,
            tools=[],
            can_handoff_to=[agent.name for agent in specialists],
            initial_tool_choice="handoff",
            allow_parallel_tool_calls=self.spec.generation.parallel_tool_calls,
            streaming=False,
        )
        self.workflow = AgentWorkflow(
            agents=[orchestrator, *specialists], root_agent=ORCHESTRATOR, early_stopping_method="generate"
        )

    async def _specialist(self, agent: AgentSpec) -> FunctionAgent:
        team = [await self._code_team_tool()] if agent.name == self.spec.code_team.parent else []
        return await self._agent(agent, team)

    async def _agent(self, agent: AgentSpec, more_tools: Sequence[BaseTool] = ()) -> FunctionAgent:
        """A ``FunctionAgent`` for ``agent`` over its allow-listed MCP tools (and ``more_tools``), on the
        conversation's LLM, with the generation settings every agent of the build has."""
        tools: list[BaseTool | Callable[..., Any]] = []
        if agent.tools:
            spec = _TextResultToolSpec(self.mcp_client, allowed_tools=list(agent.tools))
            tools += await spec.to_tool_list_async()
        tools += more_tools
        return FunctionAgent(
            name=agent.name,
            description=agent.handoff_description,
            system_prompt=agent.instructions,
            llm=self.llm,
            tools=tools,
            can_handoff_to=[],
            allow_parallel_tool_calls=self.spec.generation.parallel_tool_calls,
            streaming=False,
        )

    async def _code_team_tool(self) -> FunctionTool:
        """The code team as one tool of its parent: a ``FunctionTool`` that runs the team's ``Workflow``."""
        team = self.spec.code_team
        coder, reviewer, tester = [await self._agent(team.member(name)) for name in (CODER, REVIEWER, TESTER)]
        workflow = CodeTeam(team, coder, reviewer, tester, timeout=None)

        async def code_team(request: str) -> str:
            result = await workflow.run(start_event=CodeRequest(request=request))
            return str(result)

        agent = team.as_agent()
        return FunctionTool.from_defaults(
            async_fn=code_team,
            name=agent.name,
            description=f"{agent.title}: {agent.handoff_description}",
            fn_schema=CodeTeamArguments,
        )

    async def send(self, message: str) -> TurnResult:
        assert self.workflow is not None
        self.token_counter.reset_counts()
        if not await self._allowed(message):
            refusal = self.spec.guardrail.refusal
            await self.memory.aput_messages(
                [ChatMessage(role="user", content=message), ChatMessage(role="assistant", content=refusal)]
            )
            return TurnResult(refusal, GUARDRAIL, self._turn_usage())
        output: AgentOutput = await self.workflow.run(user_msg=message, memory=self.memory)
        return TurnResult(output.response.content or "", output.current_agent_name, self._turn_usage())

    def _turn_usage(self) -> Usage:
        counter = self.token_counter
        return Usage(
            counter.prompt_llm_token_count,
            counter.completion_llm_token_count,
            len(counter.llm_token_counts),
            source="TokenCountingHandler (LLM callback_manager)",
        )

    async def _allowed(self, message: str) -> bool:
        try:
            verdict: GuardrailVerdict = await self.llm.astructured_predict(
                GuardrailVerdict, self.guard_prompt, request=message
            )
        except ValueError:  # no verdict call, or one that does not validate (pydantic's error is a ValueError)
            return True  # an unreadable verdict must not silently refuse a legitimate request
        return verdict.allowed

    async def aclose(self) -> None:
        await self._cleanup.aclose()


class LlamaIndexBuild(AgentBuild):
    framework = "llamaindex"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        return await started(LlamaIndexConversation(spec, model, mcp, memory))


BUILD = LlamaIndexBuild()
