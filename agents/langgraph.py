"""The LangGraph build (``langgraph`` 1.2): a ``StateGraph`` per conversation, specialists as agent subgraphs.

Graph (state: ``MessagesState`` plus the ``route`` of the current turn)::

    START -> guardrail --refused--> END
                       --allowed--> orchestrator --route--> legal_expert | operational_agent -> END

- **Routing**: the ``orchestrator`` node asks the model for a structured ``{"agent", "reason"}`` route
  (``ChatOpenAI.with_structured_output`` with a JSON schema whose ``agent`` enum is the spec's specialists,
  each described by its handoff description) and writes it to ``state["route"]``; a conditional edge reads it.
- **Handoff**: each specialist is a compiled subgraph added as a node of the parent graph. It shares the
  ``messages`` channel, so it sees the conversation and its answer lands in it. The subgraph is LangChain's
  ``create_agent`` (``langchain.agents``), the ReAct agent LangGraph 1.x recommends in place of its deprecated
  ``langgraph.prebuilt.create_react_agent`` (still deprecated in langgraph-prebuilt 1.1): a model node with
  the specialist's instructions as its ``system_prompt`` and only its allowed tools, and a ``ToolNode``, in a
  loop. ``create_agent`` runs on LangGraph and adds one package (``langchain``) to this environment, nothing
  else. The loop is bounded the way its docs recommend, by middleware: ``ModelCallLimitMiddleware`` with a
  run limit of ``MAX_TOOL_ROUNDS`` model calls and ``exit_behavior="end"``, which ends the run with a
  "Model call limits exceeded" answer once the last round's tools have run, so no tool call is left dangling
  in the thread.
- **Memory**: LangGraph's persistence, a checkpointer with one ``thread_id`` per conversation: each turn sends
  only the new ``HumanMessage`` and the checkpointer restores the thread's earlier state. The checkpointer is
  ``AsyncSqliteSaver`` (``langgraph-checkpoint-sqlite``, on ``aiosqlite``), the SQLite checkpointer the
  persistence docs give for a thread that must outlive the process, in place of the in-process
  ``InMemorySaver``; its database is ``langgraph.sqlite`` in the harness's store directory and the thread id
  is the harness's conversation id. It stores a checkpoint per super-step of the parent graph (the
  ``messages`` channel: user turns, the specialists' tool calls and results, answers, refusals; and
  ``route``), written before ``ainvoke`` returns (the default ``"async"`` durability waits for its writes at
  the end of the run). A conversation opened again by its id, in a fresh process, resumes the thread from
  its latest checkpoint, so the guardrail, the router and the specialists get the same messages they would
  have got without the restart; a refusal stays in the thread as before. The specialist subgraphs inherit
  the checkpointer, but their state lives only for the step that runs them (each step starts them afresh
  from the parent's ``messages``), so nothing of theirs needs restoring.
- **Guardrail**: a ``guardrail`` node before the orchestrator, a structured ``Verdict`` (``allowed``,
  ``reason``) from the latest user message alone; a refusal appends the spec's refusal text and a conditional
  edge goes to ``END``, so neither the orchestrator nor a specialist runs. An unreadable verdict lets the
  request through (``include_raw=True`` exposes the parsing error), as the vanilla build does.
- **MCP adapter**: ``langchain-mcp-adapters``' ``MultiServerMCPClient`` over streamable HTTP with the trial's
  headers; one MCP session per conversation (``client.session`` + ``load_mcp_tools``), closed in ``aclose()``,
  rather than ``get_tools()``'s new session per tool call. Each specialist's agent gets only the tools named
  in its allow-list (its ``ToolNode`` and the tools it offers the model), so an invented tool name is answered
  with an error, never run.
- **Model client**: ``langchain-openai``'s ``ChatOpenAI(base_url=...)`` on Chat Completions
  (``use_responses_api=False``), over an HTTP client this build owns and closes (``ChatOpenAI``'s default
  clients are process-wide caches, one per base URL, never closed). The client is the SDK's own
  ``openai.DefaultAsyncHttpxClient`` (an ``httpx2`` client on openai 3.x, with the SDK's connection defaults),
  so the build needs no HTTP library of its own. The runner's ``model.timeout_s`` goes on ``ChatOpenAI``'s
  ``timeout``: langchain-openai always passes its own (``None``, no limit, by default) to the SDK, which
  overrides the HTTP client's. A float there is httpx's limit on each phase (connect, write, pool, and read:
  the longest wait for the next byte), so a server that answers nothing, or stops mid-reply, is given up on
  after ``timeout_s``.
- **Retries**: the default. ``ChatOpenAI.max_retries`` is left unset (``None``), so langchain-openai passes
  nothing and the ``AsyncOpenAI`` client keeps the SDK's own policy (openai 3.57, ``_base_client.py``,
  ``AsyncAPIClient.request`` and ``_should_retry``): ``DEFAULT_MAX_RETRIES = 2`` retries (3 attempts) of a
  connection error, a timeout (``APITimeoutError``, so a stalled reply is sent again after ``timeout``), and
  HTTP 408, 409, 429 and 5xx (unless the server sends ``x-should-retry: false``); the wait honours
  ``Retry-After``/``retry-after-ms`` up to 120 s, else exponential back-off from 0.5 s (doubling, at most
  8 s, minus up to 25 % jitter). A non-streamed request is retried whole, since the SDK reads the body inside
  its retry loop. langchain-openai then raises its classified errors (``OpenAIRateLimitError``,
  ``OpenAIAPIError``, ``OpenAIConnectionError``, ``OpenAITimeoutError``: ``langchain_core.exceptions
  .ModelError`` subclasses with ``is_retryable``).
- **Resilience** (the specialists' ``create_agent`` loop, with the prebuilt middleware LangChain documents for
  it, at their documented defaults): ``ModelRetryMiddleware()`` retries a failed model call whose
  ``ModelError`` is retryable 2 more times (1 s, then 2 s, ±25 % jitter) and then, ``on_failure="continue"``,
  ends the turn with an ``AIMessage`` naming the error instead of raising; ``ToolRetryMiddleware()`` does the
  same for an exception raised while a tool runs (an MCP ``McpError``: a JSON-RPC error, a lost session) and
  then hands the model an error ``ToolMessage``. An MCP tool's own error result (``isError``) is already an
  error ``ToolMessage`` (``load_mcp_tools``' ``handle_tool_errors=True`` default), not retried; arguments that
  fail the tool's schema are ``ToolNode``'s to report. The guardrail and the router are plain model calls
  outside any agent loop: they have the SDK's retries only, and raise when those run out.
- **Generation settings**: the spec's ``temperature`` and output cap are ``ChatOpenAI`` fields, so every call
  sends them (the cap as ``max_completion_tokens``: langchain-openai always renames ``max_tokens``).
  ``parallel_tool_calls`` is a runtime parameter, not a model field, and belongs only on requests with
  tools: ``create_agent`` has no argument for it (langchain-ai/langchain#34010), and its maintainers' answer
  is a middleware that sets it in the request's ``model_settings`` (langchain-ai/deepagents#115), which
  ``create_agent`` passes to ``bind_tools`` with the tools; ``ToolCallSettings`` does that, only for requests
  that offer tools. The guardrail and the router ask for JSON-schema output, with no tools, and send none.

Code team: a second compiled ``StateGraph`` (the LangGraph "Subgraphs" guide, ``oss/python/langgraph/use-subgraphs``:
"Call a subgraph inside a node", for a subgraph with a schema of its own), invoked from a tool of the operational
agent: a ``StructuredTool`` named ``code_team`` (the team's handoff description; one ``request`` argument) among
its MCP tools, whose coroutine runs ``team.ainvoke({"request": ...}, config)`` and returns the team's ``answer``
as the tool's result: the "subagents" pattern of LangChain's multi-agent docs
(``oss/python/langchain/multi-agent/subagents``: "a central main agent coordinates subagents by calling them as
tools"). The team graph's state is ``TeamState`` (``request``, ``draft``, ``review``, ``reviews``, ``answer``)::

    START -> coder -> reviewer --approved, or max_reviews reached--> tester -> END
                 ^-----changes requested---'

with a conditional edge after the reviewer (``TeamSpec.approves`` on its review, and the review count). Each member
is a ``create_agent`` agent with its spec instructions as ``system_prompt`` and the same middleware, model and
settings as the specialists (coder and reviewer with no tools; the tester with ``run_python`` alone, from the
shared MCP session); each node maps the team state to the member's own, private message list (a ``HumanMessage``
holding the request and what the protocol hands it: the draft; the draft and the review) and its last message back
into the state. The team graph is compiled without a checkpointer of its own (``checkpointer=None``: it inherits
the parent's, as a subgraph does), and each call starts it afresh from the request, so nothing of its state needs
restoring after a restart. The tool takes the run's ``RunnableConfig`` (LangChain injects a
parameter annotated so) and passes it on, so the team runs inside the turn's run, callbacks included.

Usage accounting: LangChain's ``UsageMetadataCallbackHandler`` (``langchain_core.callbacks``, the "track token
usage" handler its docs show), one per turn in the run's ``config["callbacks"]``: it sums every chat model call's
``AIMessage.usage_metadata`` (``input_tokens``, ``output_tokens``: langchain-openai's reading of the reply's
``usage``), keyed by model name, and the callbacks reach every model call of the graph run: the guardrail's and
the router's structured-output calls in their nodes, the specialist subgraph's, and the code team's members' (the
``code_team`` tool passes the run's config, callbacks included, to the team graph). It gives no call count
(``calls`` is None), and a reply without ``usage`` or a model name in its metadata is not counted.

Workarounds: none for framework bugs. The one missing setting, ``parallel_tool_calls`` on ``create_agent``, is set
by the middleware its maintainers recommend (above).

Tracing: each turn runs inside ``langsmith.tracing_context(enabled=False)``, which overrides the
``LANGSMITH_TRACING``/``LANGCHAIN_TRACING_V2`` variables, so nothing is sent to LangSmith even outside the runner.

README row: conditional edges | create_agent | AsyncSqliteSaver thread | graph node | MultiServerMCPClient | ChatOpenAI
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
from langchain.agents import create_agent
from langchain.agents.middleware import (
    AgentMiddleware,
    ModelCallLimitMiddleware,
    ModelRequest,
    ModelResponse,
    ModelRetryMiddleware,
    ToolRetryMiddleware,
)
from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langsmith import tracing_context
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from benchmark.contract import AgentBuild, Conversation, McpEndpoint, MemoryStore, ModelEndpoint, TurnResult, Usage
from benchmark.spec import CODER, GUARDRAIL, REVIEWER, TESTER, AgentSpec, SystemSpec, TeamSpec

MAX_TOOL_ROUNDS = 8  # model calls per specialist turn, as in the vanilla build
SERVER = "kestrel"


class Verdict(BaseModel):
    """The guardrail's decision on the user's latest request."""

    allowed: bool = Field(description="True if the request may be answered, false if policy refuses it.")
    reason: str = Field(description="A short reason for the decision.")


class SystemState(MessagesState):
    route: str  # the specialist answering this turn, or GUARDRAIL when refused


class TeamState(TypedDict, total=False):
    request: str  # the request as the operational agent handed it
    draft: str  # the coder's latest answer
    review: str  # the reviewer's latest answer
    reviews: int  # reviews so far
    answer: str  # the tester's answer: the team's


class ToolCallSettings(AgentMiddleware):
    """Sends ``parallel_tool_calls`` on the agent's model requests that offer tools (see the docstring)."""

    def __init__(self, parallel_tool_calls: bool) -> None:
        super().__init__()
        self.parallel_tool_calls = parallel_tool_calls

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> ModelResponse[Any]:
        if request.tools:
            settings = {**request.model_settings, "parallel_tool_calls": self.parallel_tool_calls}
            request = request.override(model_settings=settings)
        return await handler(request)


def _route_schema(spec: SystemSpec) -> dict[str, Any]:
    choices = "; ".join(f"{agent.name}: {agent.handoff_description}" for agent in spec.specialists)
    return {
        "title": "route",
        "description": "The specialist who answers the user's latest request.",
        "type": "object",
        "properties": {
            "agent": {"type": "string", "enum": list(spec.routes), "description": f"The specialist. {choices}"},
            "reason": {"type": "string", "description": "Why this specialist fits the request."},
        },
        "required": ["agent", "reason"],
        "additionalProperties": False,
    }


def _specialist(
    agent: AgentSpec, model: BaseChatModel, tools: list[BaseTool], parallel_tool_calls: bool
) -> Runnable[Any, Any]:
    """The agent's tool loop over its allowed MCP tools, as a subgraph."""
    middleware: list[AgentMiddleware[Any, Any, Any]] = [
        ModelCallLimitMiddleware(run_limit=MAX_TOOL_ROUNDS, exit_behavior="end"),
        ModelRetryMiddleware(),
        ToolRetryMiddleware(),
        ToolCallSettings(parallel_tool_calls),
    ]
    return create_agent(model, tools, system_prompt=agent.instructions, middleware=middleware, name=agent.name)


def build_code_team(
    team: TeamSpec, model: BaseChatModel, tools: list[BaseTool], parallel_tool_calls: bool
) -> CompiledStateGraph[Any]:
    """The code team as a graph of its own: coder, reviewer (and back, on changes), tester."""
    coder, reviewer, tester = (
        _specialist(member, model, [tool for tool in tools if tool.name in member.tools], parallel_tool_calls)
        for member in (team.member(CODER), team.member(REVIEWER), team.member(TESTER))
    )

    async def ask(member: Runnable[Any, Any], handed: str, config: RunnableConfig) -> str:
        result = await member.ainvoke({"messages": [HumanMessage(handed)]}, config)
        return str(result["messages"][-1].text)

    async def write(state: TeamState, config: RunnableConfig) -> dict[str, Any]:
        request = state["request"]
        handed = team.for_revision(request, state["draft"], state["review"]) if "review" in state else request
        return {"draft": await ask(coder, handed, config)}

    async def review(state: TeamState, config: RunnableConfig) -> dict[str, Any]:
        handed = team.for_reviewer(state["request"], state["draft"])
        return {"review": await ask(reviewer, handed, config), "reviews": state.get("reviews", 0) + 1}

    async def test(state: TeamState, config: RunnableConfig) -> dict[str, Any]:
        handed = team.for_tester(state["request"], state["draft"])
        return {"answer": await ask(tester, handed, config)}

    def after_review(state: TeamState) -> str:
        done = team.approves(state["review"]) or state["reviews"] >= team.max_reviews
        return TESTER if done else CODER

    graph = StateGraph(TeamState)
    graph.add_node(CODER, write)
    graph.add_node(REVIEWER, review)
    graph.add_node(TESTER, test)
    graph.add_edge(START, CODER)
    graph.add_edge(CODER, REVIEWER)
    graph.add_conditional_edges(REVIEWER, after_review, [CODER, TESTER])
    graph.add_edge(TESTER, END)
    return graph.compile(name=team.name)


def _code_team_tool(team: TeamSpec, graph: CompiledStateGraph[Any]) -> BaseTool:
    """The team graph as a tool of its parent: the request in, the tester's answer out."""

    async def code_team(request: str, config: RunnableConfig) -> str:
        state = await graph.ainvoke({"request": request}, config)
        return str(state["answer"])

    return StructuredTool.from_function(
        coroutine=code_team, name=team.name, description=f"{team.title}: {team.handoff_description}"
    )


def build_graph(
    spec: SystemSpec, model: BaseChatModel, tools: list[BaseTool], checkpointer: BaseCheckpointSaver[Any]
) -> CompiledStateGraph[Any]:
    judge = model.with_structured_output(Verdict, method="json_schema", include_raw=True)
    router = model.with_structured_output(_route_schema(spec), method="json_schema", strict=True)

    async def guardrail(state: SystemState) -> dict[str, Any]:
        latest = state["messages"][-1]
        result = await judge.ainvoke([SystemMessage(spec.guardrail.instructions), HumanMessage(latest.text)])
        verdict = result["parsed"] if isinstance(result, dict) else None
        if not isinstance(verdict, Verdict) or verdict.allowed:  # unreadable: never refuse by accident
            return {"route": ""}
        return {"route": GUARDRAIL, "messages": [AIMessage(spec.guardrail.refusal, name=GUARDRAIL)]}

    async def orchestrator(state: SystemState) -> dict[str, Any]:
        decision = await router.ainvoke([SystemMessage(spec.orchestrator_instructions), *state["messages"]])
        route = decision.get("agent") if isinstance(decision, dict) else None
        if route not in spec.routes:
            raise RuntimeError(f"the orchestrator chose no specialist: {decision!r}")
        return {"route": route}

    graph = StateGraph(SystemState)
    graph.add_node("guardrail", guardrail)
    graph.add_node("orchestrator", orchestrator)
    team = spec.code_team
    team_tool = _code_team_tool(team, build_code_team(team, model, tools, spec.generation.parallel_tool_calls))
    for agent in spec.specialists:
        allowed = [tool for tool in tools if tool.name in agent.tools]
        if agent.name == team.parent:
            allowed.append(team_tool)
        graph.add_node(agent.name, _specialist(agent, model, allowed, spec.generation.parallel_tool_calls))
        graph.add_edge(agent.name, END)
    graph.add_edge(START, "guardrail")
    graph.add_conditional_edges(
        "guardrail", lambda state: END if state["route"] == GUARDRAIL else "orchestrator", ["orchestrator", END]
    )
    graph.add_conditional_edges("orchestrator", lambda state: state["route"], list(spec.routes))
    return graph.compile(checkpointer=checkpointer)


class LangGraphConversation:
    def __init__(self, graph: CompiledStateGraph[Any], stack: AsyncExitStack, thread_id: str) -> None:
        self._graph = graph
        self._stack = stack
        self._config: RunnableConfig = {"configurable": {"thread_id": thread_id}}

    async def send(self, message: str) -> TurnResult:
        counter = UsageMetadataCallbackHandler()
        config: RunnableConfig = {**self._config, "callbacks": [counter]}
        with tracing_context(enabled=False):
            state = await self._graph.ainvoke({"messages": [HumanMessage(message)]}, config)
        totals = counter.usage_metadata.values()
        usage = Usage(
            sum(u["input_tokens"] for u in totals),
            sum(u["output_tokens"] for u in totals),
            source="UsageMetadataCallbackHandler.usage_metadata",
        )
        return TurnResult(state["messages"][-1].text, state["route"], usage)

    async def aclose(self) -> None:
        await self._stack.aclose()


class LangGraphBuild(AgentBuild):
    framework = "langgraph"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        async with AsyncExitStack() as stack:
            database = Path(memory.directory) / "langgraph.sqlite"
            saver = await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(database)))
            http = await stack.enter_async_context(openai.DefaultAsyncHttpxClient())
            llm = ChatOpenAI(
                model=model.model,
                base_url=model.base_url,
                api_key=model.api_key,  # type: ignore[arg-type]  # a str is accepted and wrapped in SecretStr
                temperature=spec.generation.temperature,
                max_completion_tokens=spec.generation.max_output_tokens,
                timeout=model.timeout_s,
                use_responses_api=False,
                http_async_client=http,
            )
            client = MultiServerMCPClient(
                {SERVER: {"transport": "streamable_http", "url": mcp.url, "headers": mcp.headers}}
            )
            session = await stack.enter_async_context(client.session(SERVER))
            tools = await load_mcp_tools(session, server_name=SERVER)
            graph = build_graph(spec, llm, tools, saver)
            conversation = LangGraphConversation(graph, stack.pop_all(), memory.conversation_id)
        return conversation


BUILD = LangGraphBuild()
