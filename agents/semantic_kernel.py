"""The Semantic Kernel build: ``ChatCompletionAgent`` members of a ``HandoffOrchestration``, MCP via SK's plugin;
the code team a ``GroupChatOrchestration`` behind a kernel function.

How the system maps onto Semantic Kernel (semantic-kernel 1.45):

- **Model client**: one ``OpenAIChatCompletion`` service over an ``AsyncOpenAI`` client pointed at the gateway
  (Chat Completions only), shared by every agent. The client gets ``timeout=model.timeout_s`` (connect, each
  read, write): SK's chat execution settings have no timeout of their own, so the client's is the one that
  applies. Retries are the openai SDK's defaults (openai 3.57), as SK adds none (the kernel's
  ``retry_mechanism`` is deprecated and has no effect, ``semantic_kernel/reliability``): 2 retries, so 3
  attempts, on a connection error or a timeout before the response arrives, and on HTTP 408, 409, 429 and 5xx
  (``_base_client.py``, ``_should_retry``); the wait is the ``Retry-After`` / ``retry-after-ms`` header when it
  is between 0 and 120 s (longer: no retry), else 0.5 s doubling per retry, at most 8 s, less up to 25 %
  jitter. The handoff orchestration streams every member's reply (``handoffs.py``, ``invoke_stream``), and the
  SDK retries only until the response starts: a stream that goes silent mid-way raises ``APITimeoutError``
  after ``timeout_s`` (``openai/_streaming.py``) and is not retried.
- **Generation settings**: the spec's, as each agent's ``OpenAIChatPromptExecutionSettings`` (``temperature``,
  ``max_tokens``, ``parallel_tool_calls``) in its ``KernelArguments``, the guardrail's included; the
  connector drops ``parallel_tool_calls`` from a request without tools (the guardrail's), as OpenAI requires.
- **Routing and handoff**: ``HandoffOrchestration`` on an ``InProcessRuntime``, orchestrator first. The
  orchestration adds a ``Handoff`` plugin (``transfer_to_<agent>`` per handoff, plus ``complete_task``) to each
  member's kernel; the orchestrator's ``FunctionChoiceBehavior.Required`` is filtered to the two transfer
  functions, so it must route and cannot answer or end the task itself. The chosen specialist then answers
  from the same task messages; with no human-response function the orchestration completes after its answer,
  and the completion names the agent that answered.
- **Tools and allow-lists**: one ``MCPStreamableHttpPlugin`` (streamable HTTP at the trial URL, with the bearer
  key and trial headers) added to the specialists' kernel as plugin ``afbench``. The plugin gets its tool
  functions from the server on ``connect()`` and ``Kernel.add_plugin`` takes the functions the object has then,
  so ``open`` connects first and builds the kernels after (the order of SK's MCP samples, ``async with`` the
  plugin, then ``add_plugin``). Each specialist's
  ``FunctionChoiceBehavior.Auto(filters={"included_functions": [...]})`` lists only its ``AgentSpec.tools``:
  SK advertises just those and refuses to invoke anything else (``Kernel.invoke_function_call`` checks the
  filters); the filter also keeps the orchestration's ``complete_task`` away from the specialists.
- **Memory**: a ``ChatHistory`` per conversation (user turns and final answers, each answer named for its
  agent; a guardrail refusal is kept too, as the ``guardrail``'s answer) is the orchestration's task on
  every turn, so the orchestrator and the specialist both see it.
- **Persistence**: SK's own ``ChatHistory`` serialisation, the way its
  ``samples/concepts/chat_history/serialize_chat_history.py`` keeps a conversation across runs:
  ``store_chat_history_to_file`` (``serialize()``: the pydantic ``model_dump_json`` of the history) after every
  finished turn, to ``semantic_kernel-<conversation id>.json`` in the harness's store directory, and
  ``ChatHistory.load_chat_history_from_file`` when ``open`` finds that file, so a conversation reopened by its id
  in a fresh process sends the orchestration the same task messages (roles, author names, text) it would have
  sent without the restart. Nothing else needs restoring: the orchestration is built afresh on every turn from
  the history alone (its members keep no thread across turns), and the guardrail judges each message alone.
- **Resilience**: nothing extra is turned on, because SK has nothing to turn on for what is left. Its auto
  function invocation already reports a failed or refused call back to the model (an MCP error result, a call
  outside the filters, arguments that do not parse), and an MCP error raised by the session (an expired one
  included: SK's plugin does not re-initialise) becomes the call's error result. SK has no retry policy of its
  own, no setting that reads a tool call written as text or re-asks after an empty reply (a reply without
  ``tool_calls`` is the answer), and none that turns a failed model call into an answer: once the SDK's retries
  are spent, the turn raises (``ServiceResponseException``, then ``KernelInvokeException``).
- **Guardrail**: a turn is the kernel function ``assistant-answer`` (the orchestration over the chat history),
  and the guardrail is a ``FUNCTION_INVOCATION`` filter around it: a ``ChatCompletionAgent`` with the
  guardrail instructions and ``response_format=GuardrailVerdict`` (structured output) judges the latest user
  message; a refusal sets the function's result to the spec's refusal without calling ``next``, so no
  orchestrator, specialist or tool runs.

Code team: a nested orchestration behind a kernel function, SK's way to give an agent a capability (a plugin: the
"Kernel plugins" and "Agent orchestration" docs): the operational agent's kernel holds, beside the MCP plugin, a
``code_team`` plugin whose one function ``delegate(request)`` (``code_team-delegate`` to the model, listed in its
``included_functions``; described by the spec's handoff description) runs a ``GroupChatOrchestration`` of the three
members on the request and returns the tester's answer. The turn-taking is a custom ``GroupChatManager`` (the
"Group Chat Orchestration" docs page, "Customize the Group Chat Manager";
``semantic_kernel/agents/orchestration/group_chat.py``, whose ``RoundRobinGroupChatManager`` is the template),
``CodeTeamManager``: the coder first, the reviewer after each draft, after a review the coder again when it asks
for changes and reviews remain (the spec's ``approves`` and ``max_reviews``), else the tester; the tester's answer
ends the chat (``should_terminate``) and is its result (``filter_results``); ``max_rounds`` (``2 * max_reviews +
1``) bounds it as well, and it never asks for user input. Group chat members share the conversation (each member's
actor keeps the request and every answer), so the coder sees its draft and the review, the reviewer and the tester
the latest draft. The members are ``ChatCompletionAgent`` agents with the spec's instructions and the specialists'
service and execution settings; the tester's kernel is the specialists' MCP kernel, filtered to
``afbench-run_python``, and the coder and reviewer get a kernel without plugins (an empty ``included_functions``
filter would offer every function). A new orchestration (and manager) is built per delegation, as the handoff
orchestration is per turn, and it runs on an ``InProcessRuntime`` of its own, started and stopped with the
conversation: the delegation happens inside a handoff actor's turn on the other runtime.

Usage accounting: SK's ``CompletionUsage`` (``prompt_tokens``, ``completion_tokens``) in a message's
``metadata["usage"]``, summed with ``+`` as SK's token-usage samples do it
(``samples/concepts/agents/chat_completion_agent/chat_completion_agent_token_usage.py`` and its ``_streaming``
twin: add the ``metadata["usage"]`` of every item ``invoke``/``invoke_stream`` yields). The OpenAI connector asks
a stream for its usage (``stream_options.include_usage``) and yields the final usage chunk as a chunk of its own,
every round of the auto function-calling loop included, and ``ChatCompletionAgent.invoke_stream`` passes those
chunks on; the orchestration hands each to ``streaming_agent_response_callback``, so that callback sees one usage
per model call of the orchestrator and the specialist, and the code team's ``GroupChatOrchestration``, given
the same callback, one per call of each member; the guardrail's (non-streamed) reply carries its own. The
turn's usage is their sum. SK counts no requests, so ``calls`` is None. The catch: the orchestration also hands
that callback every *intermediate* message (``agent_actor_base.py``, ``_handle_intermediate_message``), and the
function-call message of a round is the ``+`` of the round's chunks, whose metadata is merged with ``|``
(``chat_completion_client_base.py``, the auto-invoke loop's ``reduce``; ``StreamingChatMessageContent.__add__``),
so it carries the round's usage a second time: summing every chunk the callback gets counts each tool-calling
round twice (the orchestrator's handoff call and every specialist call that calls a tool; 1.52x the input
tokens on ``core``). The build therefore skips the chunks that hold a function call or result, which
``invoke_stream`` itself never yields (``chat_completion_agent.py``), and sums exactly what the sample sums. What
it misses: a call whose usage arrives on a chunk that also carries a tool call (the OpenAI API sends it on a
chunk of its own), and a turn that raises.

Workarounds (semantic-kernel 1.45.0, each re-checked against that release):

- ``protobuf`` in ``envs/semantic_kernel/requirements.in``: SK's agent runtime
  (``semantic_kernel/agents/runtime/core/serialization.py``, imported by every orchestration) imports
  ``google.protobuf``, which semantic-kernel 1.45.0 does not declare; in an environment of its own the build
  fails to import without it ("No module named 'google'"). No issue found.
- The orchestration's own result is ``complete_task``'s summary ("Task is completed with summary: ..."), not
  the specialist's words (1.45 ``handoffs.py``, ``_complete_task``), so the answer is taken from
  ``agent_response_callback``. No Python issue found; the .NET orchestration's is microsoft/semantic-kernel#12718
  (closed as stale).
- Every handoff actor clones its agent's kernel, and ``Kernel.clone()`` still ``deepcopy``s the filter lists (a
  bound method's ``self`` included; only plugins are copied shallowly since microsoft/semantic-kernel#13109),
  so the guardrail filter lives on a kernel of its own, not on the agents'. No issue for filters found.
- SK hands a tool result to the model as ``str()`` of the MCP content list (``[TextContent(inner_content=...,
  text=...)]`` reprs: ``FunctionResultContent`` keeps the list and serialises it with ``str``), so the MCP plugin
  is subclassed to return the result's text parts joined, as MCP clients show them. No SK issue found; the same
  bug in Agent Framework was microsoft/agent-framework#2509 (fixed).

README row: HandoffOrchestration | transfer_to_* | ChatHistory | filter | MCPStreamableHttpPlugin | OpenAIChatCompletion
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from openai import AsyncOpenAI
from pydantic import BaseModel, ValidationError
from semantic_kernel import Kernel
from semantic_kernel.agents import (
    Agent,
    BooleanResult,
    ChatCompletionAgent,
    GroupChatManager,
    GroupChatOrchestration,
    HandoffOrchestration,
    MessageResult,
    OrchestrationHandoffs,
    StringResult,
)
from semantic_kernel.agents.orchestration.handoffs import HANDOFF_PLUGIN_NAME
from semantic_kernel.agents.orchestration.orchestration_base import DefaultTypeAlias
from semantic_kernel.agents.runtime import InProcessRuntime
from semantic_kernel.connectors.ai import FunctionChoiceBehavior
from semantic_kernel.connectors.ai.completion_usage import CompletionUsage
from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion, OpenAIChatPromptExecutionSettings
from semantic_kernel.connectors.mcp import MCPStreamableHttpPlugin
from semantic_kernel.contents import (
    AuthorRole,
    ChatHistory,
    ChatMessageContent,
    FunctionCallContent,
    FunctionResultContent,
    StreamingChatMessageContent,
)
from semantic_kernel.filters import FilterTypes, FunctionInvocationContext
from semantic_kernel.functions import FunctionResult, KernelArguments, KernelFunction, kernel_function

from benchmark.contract import AgentBuild, Conversation, McpEndpoint, MemoryStore, ModelEndpoint, TurnResult, Usage
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

MCP_PLUGIN = "afbench"
TEAM_FUNCTION = "delegate"  # the code team plugin's one function: the operational agent sees code_team-delegate
MAX_TOOL_ROUNDS = 8


class GuardrailVerdict(BaseModel):
    allowed: bool
    reason: str


def _arguments(generation: GenerationSettings, **settings: Any) -> KernelArguments:
    return KernelArguments(
        settings=OpenAIChatPromptExecutionSettings(
            temperature=generation.temperature,
            max_tokens=generation.max_output_tokens,
            parallel_tool_calls=generation.parallel_tool_calls,
            **settings,
        )
    )


class McpTools(MCPStreamableHttpPlugin):
    """SK's streamable-HTTP MCP plugin, with tool results handed to the model as their text."""

    async def call_tool(self, tool_name: str, **kwargs: Any) -> Any:
        contents = await super().call_tool(tool_name, **kwargs)
        return "\n".join(str(content) for content in contents)


def _usage_of(message: ChatMessageContent) -> CompletionUsage | None:
    usage = message.metadata.get("usage")
    return usage if isinstance(usage, CompletionUsage) else None


class Spending:
    """The usage a turn's model calls report, as the orchestrations' streaming callback sees it (see the docstring)."""

    def __init__(self) -> None:
        self.spent: list[CompletionUsage] = []

    def streamed(self, chunk: StreamingChatMessageContent, _final: bool) -> None:
        # an intermediate function call or result message repeats its round's usage: only invoke_stream's own
        if any(isinstance(item, (FunctionCallContent, FunctionResultContent)) for item in chunk.items):
            return
        usage = _usage_of(chunk)
        if usage is not None:
            self.spent.append(usage)


class CodeTeamManager(GroupChatManager):
    """The code team's turn-taking, decided from the chat itself: the coder first; the reviewer after each draft;
    after a review, the coder again when it asks for changes and reviews remain, else the tester; the tester's
    answer ends the chat and is its result. ``max_rounds`` (one per draft, review and the tester) bounds it too."""

    team: TeamSpec

    def _said(self, chat_history: ChatHistory) -> list[ChatMessageContent]:
        names = {member.name for member in self.team.members}
        return [m for m in chat_history.messages if m.role == AuthorRole.ASSISTANT and m.name in names]

    async def should_request_user_input(self, chat_history: ChatHistory) -> BooleanResult:
        return BooleanResult(result=False, reason="The code team works on the request alone.")

    async def should_terminate(self, chat_history: ChatHistory) -> BooleanResult:
        out_of_rounds = await super().should_terminate(chat_history)  # counts the round
        said = self._said(chat_history)
        if said and said[-1].name == TESTER:
            return BooleanResult(result=True, reason="The tester has answered.")
        return out_of_rounds

    async def select_next_agent(
        self, chat_history: ChatHistory, participant_descriptions: dict[str, str]
    ) -> StringResult:
        said = self._said(chat_history)
        if not said:
            return StringResult(result=CODER, reason="No draft yet.")
        if said[-1].name == CODER:
            return StringResult(result=REVIEWER, reason="A new draft to review.")
        reviews = sum(1 for m in said if m.name == REVIEWER)
        if self.team.approves(said[-1].content) or reviews >= self.team.max_reviews:
            return StringResult(result=TESTER, reason=f"Approved, or {reviews} of {self.team.max_reviews} reviews.")
        return StringResult(result=CODER, reason="The review asks for changes.")

    async def filter_results(self, chat_history: ChatHistory) -> MessageResult:
        said = self._said(chat_history)
        if not said or said[-1].name != TESTER:
            raise RuntimeError(f"the code team ended without the tester's answer: {said[-1] if said else None!r}")
        return MessageResult(result=said[-1], reason="The tester's answer is the team's.")


class CodeTeam:
    """The code team behind a kernel function: it runs a ``GroupChatOrchestration`` of the members on the request,
    on the team's own runtime, and returns the tester's answer."""

    def __init__(self, team: TeamSpec, members: list[Agent], runtime: InProcessRuntime, spending: Spending) -> None:
        self.team = team
        self.members = members
        self.runtime = runtime
        self.spending = spending

    def function(self) -> KernelFunction:
        """The kernel function the team's parent is offered, described by the spec's handoff description."""

        @kernel_function(name=TEAM_FUNCTION, description=f"{self.team.title}: {self.team.handoff_description}")
        async def delegate(request: Annotated[str, "The programming request, word for word."]) -> str:
            return await self.run(request)

        return KernelFunction.from_method(delegate, plugin_name=self.team.name)

    async def run(self, request: str) -> str:
        orchestration: GroupChatOrchestration[str, ChatMessageContent] = GroupChatOrchestration(
            members=self.members,
            manager=CodeTeamManager(team=self.team, max_rounds=2 * self.team.max_reviews + 1),
            streaming_agent_response_callback=self.spending.streamed,
        )
        result = await orchestration.invoke(task=request, runtime=self.runtime)
        answer = await result.get()
        return answer.content


class Assistant:
    """The kernel plugin behind each turn: the handoff orchestration, run on the conversation's chat history.

    Every usage its members' streamed replies report goes to ``spending``."""

    def __init__(
        self, members: list[Agent], handoffs: OrchestrationHandoffs, runtime: InProcessRuntime, spending: Spending
    ) -> None:
        self.members = members
        self.handoffs = handoffs
        self.runtime = runtime
        self.spending = spending

    @kernel_function(name="answer", description="Answer the latest user message of the chat history.")
    async def answer(self, chat_history: ChatHistory) -> ChatMessageContent:
        replies: list[ChatMessageContent] = []

        def heard(message: DefaultTypeAlias) -> None:
            replies.extend(message if isinstance(message, list) else [message])

        orchestration: HandoffOrchestration[Any, Any] = HandoffOrchestration(
            members=self.members,
            handoffs=self.handoffs,
            agent_response_callback=heard,
            streaming_agent_response_callback=self.spending.streamed,
        )
        result = await orchestration.invoke(task=list(chat_history.messages), runtime=self.runtime)
        completion = await result.get()
        if not isinstance(completion, ChatMessageContent):
            raise RuntimeError(f"the handoff orchestration ended without a completion: {completion!r}")
        # The completion only summarises; the answer is what the completing agent last said.
        said = [
            r.content for r in replies if r.name == completion.name and r.role == AuthorRole.ASSISTANT and r.content
        ]
        return ChatMessageContent(
            role=AuthorRole.ASSISTANT, name=completion.name, content=said[-1] if said else completion.content
        )


class SemanticKernelConversation:
    def __init__(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpTools, memory: MemoryStore) -> None:
        self.spec = spec
        self.client = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key, timeout=model.timeout_s)
        chat = OpenAIChatCompletion(ai_model_id=model.model, async_client=self.client)
        self.mcp = mcp
        self.runtime = InProcessRuntime()
        self.team_runtime = InProcessRuntime()  # the code team's orchestrations, run from inside a handoff turn
        # the conversation's chat history, as SK serialises it; a conversation reopened by its id resumes from it
        self.store = Path(memory.directory) / f"semantic_kernel-{memory.conversation_id}.json"
        self.history = (
            ChatHistory.load_chat_history_from_file(str(self.store)) if self.store.exists() else ChatHistory()
        )
        self.spending = Spending()  # this turn's model calls' usage, as SK reports it

        tools = Kernel(services=[chat])
        tools.add_plugin(self.mcp)
        team = spec.code_team
        plain = Kernel(services=[chat])  # no plugins: an empty function filter would offer every function
        members: list[Agent] = [
            self._specialist(team.member(name), tools if team.member(name).tools else plain, spec.generation)
            for name in (CODER, REVIEWER, TESTER)
        ]
        with_team = Kernel(services=[chat])  # the team's parent: the MCP tools and the code team plugin
        with_team.add_plugin(self.mcp)
        with_team.add_function(team.name, CodeTeam(team, members, self.team_runtime, self.spending).function())
        specialists = [
            self._specialist(agent, with_team if agent.name == team.parent else tools, spec.generation)
            for agent in spec.specialists
        ]
        orchestrator = ChatCompletionAgent(
            name=ORCHESTRATOR,
            description="Routes each request to one specialist.",
            instructions=spec.orchestrator_instructions,
            service=chat,
            arguments=_arguments(spec.generation),
            function_choice_behavior=FunctionChoiceBehavior.Required(
                filters={"included_functions": [f"{HANDOFF_PLUGIN_NAME}-transfer_to_{a.name}" for a in specialists]}
            ),
        )
        handoffs = OrchestrationHandoffs().add_many(
            orchestrator,
            {a.name: f"Hand the conversation to the {a.title}: {a.handoff_description}" for a in spec.specialists},
        )
        self.guardrail = ChatCompletionAgent(
            name=GUARDRAIL,
            instructions=spec.guardrail.instructions,
            service=chat,
            arguments=_arguments(spec.generation, response_format=GuardrailVerdict),
        )
        self.kernel = Kernel()
        plugin = self.kernel.add_plugin(
            Assistant([orchestrator, *specialists], handoffs, self.runtime, self.spending), "assistant"
        )
        self.answer: KernelFunction = plugin["answer"]
        self.kernel.add_filter(FilterTypes.FUNCTION_INVOCATION, self._input_guardrail)

    @staticmethod
    def _specialist(agent: AgentSpec, kernel: Kernel, generation: GenerationSettings) -> ChatCompletionAgent:
        """A specialist or a code team member; with the code team plugin in its kernel, the team is offered too."""
        functions = [f"{MCP_PLUGIN}-{name}" for name in agent.tools]
        functions += [f"{name}-{TEAM_FUNCTION}" for name in kernel.plugins if name != MCP_PLUGIN]
        return ChatCompletionAgent(
            name=agent.name,
            description=agent.handoff_description,
            instructions=agent.instructions,
            kernel=kernel,
            arguments=_arguments(generation),
            function_choice_behavior=FunctionChoiceBehavior.Auto(
                filters={"included_functions": functions},
                maximum_auto_invoke_attempts=MAX_TOOL_ROUNDS,
            ),
        )

    async def aclose(self) -> None:
        try:
            try:
                await self.runtime.stop_when_idle()
            finally:
                await self.team_runtime.stop_when_idle()
        finally:
            await self.mcp.close()
            await self.client.close()

    async def send(self, message: str) -> TurnResult:
        self.spending.spent.clear()
        history = ChatHistory(messages=self.history.messages[:])
        history.add_user_message(message)
        result = await self.kernel.invoke(self.answer, KernelArguments(chat_history=history))
        reply = result.value if result is not None else None
        if not isinstance(reply, ChatMessageContent):
            raise RuntimeError(f"the turn produced no message: {reply!r}")
        history.add_message(reply)
        history.store_chat_history_to_file(str(self.store))
        self.history = history  # only a finished turn is remembered
        return TurnResult(reply.content, reply.name or "", self._turn_usage())

    def _turn_usage(self) -> Usage:
        total = sum(self.spending.spent, CompletionUsage())
        return Usage(
            total.prompt_tokens or 0,
            total.completion_tokens or 0,
            None,
            source='ChatMessageContent.metadata["usage"] (guardrail reply + orchestration stream chunks)',
        )

    async def _input_guardrail(
        self, context: FunctionInvocationContext, next: Callable[[FunctionInvocationContext], Awaitable[None]]
    ) -> None:
        history: ChatHistory = context.arguments["chat_history"]
        # A fresh thread per check: the guardrail judges the latest input alone.
        response = await self.guardrail.get_response(messages=history.messages[-1].content)
        usage = _usage_of(response.message)
        if usage is not None:
            self.spending.spent.append(usage)
        try:
            allowed = GuardrailVerdict.model_validate_json(response.message.content).allowed
        except ValidationError:
            allowed = True  # an unreadable verdict must not silently refuse a legitimate request
        if allowed:
            await next(context)
            return
        refusal = ChatMessageContent(role=AuthorRole.ASSISTANT, name=GUARDRAIL, content=self.spec.guardrail.refusal)
        context.result = FunctionResult(function=context.function.metadata, value=refusal)


class SemanticKernelBuild(AgentBuild):
    framework = "semantic_kernel"

    async def open(self, spec: SystemSpec, model: ModelEndpoint, mcp: McpEndpoint, memory: MemoryStore) -> Conversation:
        tools = McpTools(name=MCP_PLUGIN, url=mcp.url, headers=mcp.headers, load_prompts=False, timeout=60)
        await tools.connect()  # the plugin gets its tool functions on connect: add it to a kernel only after
        try:
            conversation = SemanticKernelConversation(spec, model, tools, memory)
        except BaseException:
            await tools.close()
            raise
        conversation.runtime.start()
        conversation.team_runtime.start()
        return conversation


BUILD = SemanticKernelBuild()
