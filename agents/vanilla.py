"""The zero-framework baseline: the official ``openai`` client, the official ``mcp`` client, a hand-written loop.

Per turn: (1) the guardrail, a structured-output call returning ``{"allowed", "reason"}``; (2) the
orchestrator, forced to call one ``transfer_to_<agent>`` tool; (3) the chosen specialist in a tool loop over
its allowed MCP tools until it answers.

Code team: the operational agent is offered the team as one more function tool, ``code_team(request)`` (the
agent-as-tool pattern written by hand); calling it runs the spec's protocol as plain control flow in
``_code_team`` — the coder drafts, the reviewer reviews until it approves or ``max_reviews`` is reached, the
coder revises in between, then the tester runs its tool loop over ``run_python`` — each member a fresh
conversation holding only what it is handed; the tester's answer is the tool's result.

Memory: the conversation's user turns and final answers are replayed
to the orchestrator and the specialist on every turn, and kept in SQLite (the standard library's
``sqlite3``: plain Python's own way to keep data across a restart), a row per message under the conversation's
id in ``vanilla.sqlite`` in the harness's store directory, so a conversation opened again by its id, in a
fresh process, replays what it had.

Every call goes through ``_complete``, which sends the spec's generation settings: ``temperature``,
``max_tokens`` (not the newer ``max_completion_tokens``: it is the field every OpenAI-compatible server
honours, where Ollama and older llama.cpp ignore the newer one and would leave the output uncapped), and
``parallel_tool_calls`` on requests that offer tools (only those: OpenAI rejects it on a request without).

MCP: one ``mcp.Client`` per conversation (the ``mcp`` 2.x high-level client, which owns its ``ClientSession``)
over ``streamable_http_client``, given an ``httpx2.AsyncClient`` that carries the trial's headers: in ``mcp``
2.x headers, timeouts and auth live on the HTTP client, not on the transport (``httpx2`` is the HTTP stack of
both ``mcp`` 2.x and ``openai`` 3.x, so it is a direct requirement of this build, not a second stack). The
client's default ``mode="auto"`` negotiates the protocol: it probes ``server/discover`` at the stateless
2026-07-28 revision, and a server that answers with a JSON-RPC error, as the project's ``mcp`` 1.x server does
(400, no session), gets the ``initialize`` handshake at the newest handshake revision it speaks.

Usage accounting: the turn's ``ChatCompletion.usage`` summed over its model calls (``prompt_tokens``,
``completion_tokens``), what the OpenAI SDK gives a user who keeps count; the number of completions is the
turn's call count.

Resilience, as a careful hand-written loop does it (the OpenAI function-calling guide's advice: a tool's
failure goes back to the model as the tool's result, so it can repair the call or say what failed):

- **Model client**: the ``openai`` SDK's defaults: 2 retries (3 attempts) with exponential back-off from 0.5 s
  to 8 s plus jitter, honouring ``Retry-After``/``retry-after-ms`` up to 60 s, on connection errors, timeouts,
  408, 409, 429 and 5xx (and not when the server says ``x-should-retry: false``); the harness's
  ``model.timeout_s`` is the client's ``timeout``. Nothing is retried once a reply has been returned.
- **Tool calls**: arguments that are not valid JSON, a tool outside the agent's allow-list, or a JSON-RPC error
  from the server become an error result for the model (``{"error": {"code", "message"}}``), never an
  exception. A session the server no longer knows (HTTP 404 on the session id, which ``mcp`` reports as an
  ``INVALID_REQUEST`` error) is re-opened once, as the MCP specification asks of a client, and the call sent
  again; the build has no other retry of its own. A model error that outlasts the retries propagates: the
  loop has no answer to give in its place.

Workarounds: none.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import INVALID_REQUEST
from openai import AsyncOpenAI, omit
from openai.types.chat import ChatCompletion

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
from benchmark.spec import CODER, GUARDRAIL, REVIEWER, TESTER, AgentSpec, SystemSpec

MAX_TOOL_ROUNDS = 8
# the timeouts of the HTTP client mcp would create itself (30 s; 300 s to read a response or an SSE stream)
MCP_TIMEOUT = httpx2.Timeout(30, read=300)

GUARDRAIL_SCHEMA: dict[str, Any] = {
    "name": "guardrail_verdict",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {"allowed": {"type": "boolean"}, "reason": {"type": "string"}},
        "required": ["allowed", "reason"],
        "additionalProperties": False,
    },
}


def _error(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


def _agent_tool(agent: AgentSpec) -> dict[str, Any]:
    """A sub-agent offered as a function tool: it is given the request, and its answer is the tool's result."""
    return {
        "type": "function",
        "function": {
            "name": agent.name,
            "description": f"{agent.title}: {agent.handoff_description}",
            "parameters": {
                "type": "object",
                "properties": {"request": {"type": "string", "description": "The request, word for word."}},
                "required": ["request"],
                "additionalProperties": False,
            },
        },
    }


def _handoff_tool(agent: AgentSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": f"transfer_to_{agent.name}",
            "description": f"Hand the conversation to the {agent.title}: {agent.handoff_description}",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    }


class History:
    """The conversation's messages (user turns and final answers) in SQLite, under the conversation's id."""

    def __init__(self, memory: MemoryStore) -> None:
        self.conversation_id = memory.conversation_id
        self.db = sqlite3.connect(Path(memory.directory) / "vanilla.sqlite")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS messages (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL,"
            " role TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (conversation_id, seq))"
        )

    def load(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT role, content FROM messages WHERE conversation_id = ? ORDER BY seq", (self.conversation_id,)
        )
        return [{"role": role, "content": content} for role, content in rows]

    def append(self, messages: list[dict[str, Any]], first_seq: int) -> None:
        with self.db:  # one transaction: a turn is kept whole or not at all
            self.db.executemany(
                "INSERT INTO messages VALUES (?, ?, ?, ?)",
                [(self.conversation_id, first_seq + i, m["role"], m["content"]) for i, m in enumerate(messages)],
            )

    def close(self) -> None:
        self.db.close()


class VanillaConversation:
    def __init__(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> None:
        self.spec = spec
        self.model = model
        self.mcp = mcp
        self.store = History(memory)
        self.client = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key, timeout=model.timeout_s)
        self.history: list[dict[str, Any]] = []
        self._stack = AsyncExitStack()  # the MCP session and its HTTP client: re-opened when the session expires
        self._mcp_client: Client | None = None
        self._tools: dict[str, dict[str, Any]] = {}
        self._usage = [0, 0, 0]  # this turn's input tokens, output tokens, completions

    async def start(self) -> None:
        self.history = self.store.load()
        await self._connect()
        assert self._mcp_client is not None
        for tool in (await self._mcp_client.list_tools()).tools:
            self._tools[tool.name] = {
                "type": "function",
                "function": {"name": tool.name, "description": tool.description or "", "parameters": tool.input_schema},
            }

    async def _connect(self) -> None:
        http = await self._stack.enter_async_context(httpx2.AsyncClient(headers=self.mcp.headers, timeout=MCP_TIMEOUT))
        transport = streamable_http_client(self.mcp.url, http_client=http)
        self._mcp_client = await self._stack.enter_async_context(Client(transport))

    async def _reconnect(self) -> None:
        await self._stack.aclose()
        self._stack = AsyncExitStack()
        await self._connect()

    async def _call_tool(self, name: str, raw_arguments: str) -> str:
        """The tool's text result, or an error result the model can act on."""
        try:
            arguments = json.loads(raw_arguments or "{}")
        except json.JSONDecodeError as exc:
            return _error("invalid_arguments", f"the arguments of {name} are not valid JSON: {exc}")
        for attempt in (1, 2):
            assert self._mcp_client is not None, "start() first"
            try:
                result = await self._mcp_client.call_tool(name, arguments)
            except MCPError as exc:
                if exc.code == INVALID_REQUEST and attempt == 1:
                    await self._reconnect()
                    continue
                return _error("tool_error", f"{name} failed: {exc.error.message}")
            return "\n".join(part.text for part in result.content if part.type == "text")
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._stack.aclose()
        await self.client.close()
        self.store.close()

    async def send(self, message: str) -> TurnResult:
        self._usage = [0, 0, 0]
        if not await self._allowed(message):
            self._remember(message, self.spec.guardrail.refusal)
            return TurnResult(self.spec.guardrail.refusal, GUARDRAIL, self._turn_usage())
        agent = await self._route(message)
        answer = await self._run_agent(agent, [*self.history, {"role": "user", "content": message}])
        self._remember(message, answer)
        return TurnResult(answer, agent.name, self._turn_usage())

    def _turn_usage(self) -> Usage:
        tokens_in, tokens_out, calls = self._usage
        return Usage(tokens_in, tokens_out, calls, source="ChatCompletion.usage, summed per turn")

    def _remember(self, message: str, answer: str) -> None:
        exchange = [{"role": "user", "content": message}, {"role": "assistant", "content": answer}]
        self.store.append(exchange, len(self.history))
        self.history += exchange

    async def _complete(
        self, messages: list[Any], tools: list[Any] | None = None, tool_choice: Any = omit, response_format: Any = omit
    ) -> ChatCompletion:
        generation = self.spec.generation
        response = await self.client.chat.completions.create(
            model=self.model.model,
            messages=messages,
            tools=tools or omit,
            tool_choice=tool_choice,
            parallel_tool_calls=generation.parallel_tool_calls if tools else omit,
            response_format=response_format,
            temperature=generation.temperature,
            max_tokens=generation.max_output_tokens,
        )
        self._usage[2] += 1
        if response.usage is not None:
            self._usage[0] += response.usage.prompt_tokens
            self._usage[1] += response.usage.completion_tokens
        return response

    async def _allowed(self, message: str) -> bool:
        messages: list[Any] = [
            {"role": "system", "content": self.spec.guardrail.instructions},
            {"role": "user", "content": message},
        ]
        response_format: Any = {"type": "json_schema", "json_schema": GUARDRAIL_SCHEMA}
        response = await self._complete(messages, response_format=response_format)
        try:
            verdict = json.loads(response.choices[0].message.content or "{}")
        except json.JSONDecodeError:
            return True  # an unreadable verdict must not silently refuse a legitimate request
        return bool(verdict.get("allowed", True))

    async def _route(self, message: str) -> AgentSpec:
        messages: list[Any] = [
            {"role": "system", "content": self.spec.orchestrator_instructions},
            *self.history,
            {"role": "user", "content": message},
        ]
        handoffs: list[Any] = [_handoff_tool(agent) for agent in self.spec.specialists]
        response = await self._complete(messages, tools=handoffs, tool_choice="required")
        for call in response.choices[0].message.tool_calls or []:
            name = call.function.name if call.type == "function" else None
            for agent in self.spec.specialists:
                if name == f"transfer_to_{agent.name}":
                    return agent
        raise RuntimeError(f"the orchestrator did not hand off: {response.choices[0].message}")

    async def _run_agent(self, agent: AgentSpec, conversation: list[dict[str, Any]]) -> str:
        """``agent`` in a tool loop over its allowed MCP tools (and its team, offered as a tool) until it answers."""
        assert self._mcp_client is not None, "start() first"
        team = self.spec.code_team
        tools: list[Any] = [self._tools[name] for name in agent.tools if name in self._tools]
        if agent.name == team.parent:
            tools.append(_agent_tool(team.as_agent()))
        messages: list[Any] = [{"role": "system", "content": agent.instructions}, *conversation]
        for _ in range(MAX_TOOL_ROUNDS):
            response = await self._complete(messages, tools=tools or None)
            reply = response.choices[0].message
            if not reply.tool_calls:
                return reply.content or ""
            messages.append(reply.model_dump(exclude_none=True))
            for call in reply.tool_calls:
                if call.type != "function":
                    continue
                name = call.function.name
                if name == team.name and agent.name == team.parent:
                    text = await self._delegate_to_team(call.function.arguments)
                elif name not in agent.tools:  # the allow-list holds even if a model invents a tool
                    text = _error("not_allowed", f"{name} is not available")
                else:
                    text = await self._call_tool(name, call.function.arguments)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
        return "I could not finish this request within the allowed number of tool calls."

    async def _delegate_to_team(self, raw_arguments: str) -> str:
        try:
            request = json.loads(raw_arguments or "{}").get("request")
        except (json.JSONDecodeError, AttributeError):
            request = None
        if not isinstance(request, str) or not request.strip():
            return _error("invalid_arguments", 'the code team needs {"request": "..."}: the request, word for word')
        return await self._code_team(request)

    async def _code_team(self, request: str) -> str:
        """The spec's team protocol as plain control flow: draft, review until approved (or out of reviews),
        then the tester's tool loop; each member sees only what it is handed, as a fresh conversation."""
        team = self.spec.code_team
        coder, reviewer, tester = (team.member(name) for name in (CODER, REVIEWER, TESTER))
        draft = await self._run_agent(coder, [{"role": "user", "content": request}])
        for reviews in range(1, team.max_reviews + 1):
            handed = team.for_reviewer(request, draft)
            review = await self._run_agent(reviewer, [{"role": "user", "content": handed}])
            if team.approves(review) or reviews == team.max_reviews:
                break
            revise = team.for_revision(request, draft, review)
            draft = await self._run_agent(coder, [{"role": "user", "content": revise}])
        return await self._run_agent(tester, [{"role": "user", "content": team.for_tester(request, draft)}])


class VanillaBuild(AgentBuild):
    framework = "vanilla"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        return await started(VanillaConversation(spec, model, mcp, memory))


BUILD = VanillaBuild()
