"""The LangGraph build: a ``StateGraph`` per conversation, specialists as ReAct subgraphs, MCP tools via adapters.

Graph (state: ``MessagesState`` plus the ``route`` of the current turn)::

    START -> guardrail --refused--> END
                       --allowed--> orchestrator --route--> legal_expert | operational_agent -> END

- **Routing**: the ``orchestrator`` node asks the model for a structured ``{"agent", "reason"}`` route
  (``ChatOpenAI.with_structured_output`` with a JSON schema whose ``agent`` enum is the spec's specialists,
  each described by its handoff description) and writes it to ``state["route"]``; a conditional edge reads it.
- **Handoff**: each specialist is a compiled subgraph added as a node of the parent graph. It shares the
  ``messages`` channel, so it sees the conversation and its answer lands in it. Inside, the textbook ReAct
  loop: an ``agent`` node (``bind_tools`` with its allowed tools, the specialist's instructions as the system
  message) and a ``ToolNode``, joined by ``tools_condition``. The loop is bounded by ``RemainingSteps`` and the
  run's ``recursion_limit`` (as ``create_react_agent`` does), so a runaway loop ends in an answer, not an
  exception that would leave a dangling tool call in the thread.
  (``langgraph.prebuilt.create_react_agent`` is deprecated since LangGraph 1.0 in favour of
  ``langchain.agents.create_agent``, which this project does not install; the loop is three lines of graph.)
- **Memory**: an ``InMemorySaver`` checkpointer and one ``thread_id`` per conversation; each turn sends only
  the new ``HumanMessage`` and the checkpointer restores the thread's earlier messages (tool calls included).
- **Guardrail**: a ``guardrail`` node before the orchestrator, a structured ``Verdict`` (``allowed``,
  ``reason``) from the latest user message alone; a refusal appends the spec's refusal text and a conditional
  edge goes to ``END``, so neither the orchestrator nor a specialist runs. An unreadable verdict lets the
  request through (``include_raw=True`` exposes the parsing error), as the vanilla build does.
- **MCP adapter**: ``langchain-mcp-adapters``' ``MultiServerMCPClient`` over streamable HTTP with the trial's
  headers; one MCP session per conversation (``client.session`` + ``load_mcp_tools``), closed in ``aclose()``,
  rather than ``get_tools()``'s new session per tool call. Each specialist's ``ToolNode`` and ``bind_tools``
  get only the tools named in its allow-list, so an invented tool name is answered with an error, never run.
- **Model client**: ``langchain-openai``'s ``ChatOpenAI(base_url=...)`` on Chat Completions
  (``use_responses_api=False``), no retries, over an ``httpx.AsyncClient`` this build owns and closes
  (``ChatOpenAI``'s default clients are process-wide caches, not per conversation).
- **Generation settings**: the spec's ``temperature`` and output cap are ``ChatOpenAI`` fields, so every call
  sends them (the cap as ``max_completion_tokens``: langchain-openai always renames ``max_tokens``).
  ``parallel_tool_calls`` is a runtime parameter, not a model field, and belongs only on requests with
  tools, so it is bound where the tools are, ``bind_tools(tools, parallel_tool_calls=...)``; the guardrail
  and the router ask for JSON-schema output, with no tools, and send none.

Tracing: each turn runs inside ``langsmith.tracing_context(enabled=False)``, which overrides the
``LANGSMITH_TRACING``/``LANGCHAIN_TRACING_V2`` variables, so nothing is sent to LangSmith even outside the runner.

README row: conditional edges | subgraph node | InMemorySaver thread | graph node | MultiServerMCPClient | ChatOpenAI
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import Any

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.managed import RemainingSteps
from langgraph.prebuilt import ToolNode, tools_condition
from langsmith import tracing_context
from pydantic import BaseModel, Field

from benchmark.contract import AgentBuild, Conversation, McpEndpoint, ModelEndpoint, TurnResult
from benchmark.spec import GUARDRAIL, AgentSpec, SystemSpec

MAX_TOOL_ROUNDS = 8
SERVER = "kestrel"
OUT_OF_STEPS = "I could not finish this request within the allowed number of tool calls."


class Verdict(BaseModel):
    """The guardrail's decision on the user's latest request."""

    allowed: bool = Field(description="True if the request may be answered, false if policy refuses it.")
    reason: str = Field(description="A short reason for the decision.")


class SystemState(MessagesState):
    route: str  # the specialist answering this turn, or GUARDRAIL when refused


class SpecialistState(MessagesState):
    remaining_steps: RemainingSteps


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
) -> CompiledStateGraph[Any]:
    """The agent's ReAct loop over its allowed MCP tools, as a subgraph."""
    llm = model.bind_tools(tools, parallel_tool_calls=parallel_tool_calls)
    system = SystemMessage(agent.instructions)

    async def call_model(state: SpecialistState) -> dict[str, list[AnyMessage]]:
        reply = await llm.ainvoke([system, *state["messages"]])
        if isinstance(reply, AIMessage) and reply.tool_calls and state["remaining_steps"] <= 2:
            # Another tool round would end the run at the recursion limit, mid-loop; answer instead.
            reply = AIMessage(OUT_OF_STEPS, id=reply.id)
        return {"messages": [reply]}

    graph = StateGraph(SpecialistState)
    graph.add_node("agent", call_model)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(name=agent.name)


def build_graph(spec: SystemSpec, model: BaseChatModel, tools: list[BaseTool]) -> CompiledStateGraph[Any]:
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
    for agent in spec.specialists:
        allowed = [tool for tool in tools if tool.name in agent.tools]
        graph.add_node(agent.name, _specialist(agent, model, allowed, spec.generation.parallel_tool_calls))
        graph.add_edge(agent.name, END)
    graph.add_edge(START, "guardrail")
    graph.add_conditional_edges(
        "guardrail", lambda state: END if state["route"] == GUARDRAIL else "orchestrator", ["orchestrator", END]
    )
    graph.add_conditional_edges("orchestrator", lambda state: state["route"], list(spec.routes))
    return graph.compile(checkpointer=InMemorySaver())


class LangGraphConversation:
    def __init__(self, graph: CompiledStateGraph[Any], stack: AsyncExitStack) -> None:
        self._graph = graph
        self._stack = stack
        # Parent and subgraph each count their own steps against this; a specialist takes two per tool round,
        # so it gets MAX_TOOL_ROUNDS rounds and then must answer (see the RemainingSteps check).
        self._config: RunnableConfig = {
            "configurable": {"thread_id": str(uuid.uuid4())},
            "recursion_limit": 2 * MAX_TOOL_ROUNDS + 2,
        }

    async def send(self, message: str) -> TurnResult:
        with tracing_context(enabled=False):
            state = await self._graph.ainvoke({"messages": [HumanMessage(message)]}, self._config)
        return TurnResult(state["messages"][-1].text, state["route"])

    async def aclose(self) -> None:
        await self._stack.aclose()


class LangGraphBuild(AgentBuild):
    framework = "langgraph"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint) -> Conversation:
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=120))
            llm = ChatOpenAI(
                model=model.model,
                base_url=model.base_url,
                api_key=model.api_key,  # type: ignore[arg-type]  # a str is accepted and wrapped in SecretStr
                temperature=spec.generation.temperature,
                max_completion_tokens=spec.generation.max_output_tokens,
                max_retries=0,
                use_responses_api=False,
                http_async_client=http,
            )
            client = MultiServerMCPClient(
                {SERVER: {"transport": "streamable_http", "url": mcp.url, "headers": mcp.headers}}
            )
            session = await stack.enter_async_context(client.session(SERVER))
            tools = await load_mcp_tools(session, server_name=SERVER)
            conversation = LangGraphConversation(build_graph(spec, llm, tools), stack.pop_all())
        return conversation


BUILD = LangGraphBuild()
