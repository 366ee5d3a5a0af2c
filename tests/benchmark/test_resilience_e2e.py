"""The resilience suite through the real runner: the real MCP server started with the run's fault plan, the
real gateway injecting model faults in front of the scripted model, real worker processes running plugin-folder
builds in the harness's interpreter (the ``openai`` and ``mcp`` 1.x clients it has). A build that raises on
any tool error scores ``crashed``; a build that executes whatever tool the model names scores ``unsafe`` on a
disallowed tool; and a fault never reaches a trial that did not ask for it, with both trials running at once,
nor goes missing from a faulted trial run again by ``--resume``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from benchmark.profiles import resolve_profile
from benchmark.records import RESULTS_FILE, TrialRecord, read_trials
from benchmark.runner.run import FAULT_PLAN, RunRequest, resume_benchmark, run_benchmark
from tests.benchmark.suites import CALCULATOR_TASK, suite_text

pytestmark = pytest.mark.e2e

BASE = suite_text("base", CALCULATOR_TASK)

FAULTS = """
name: faults
base_suite: base.yaml
tasks:
  - id: fault-calculator-unavailable
    base: calculator-percent
    fault:
      tool: {kind: tool_unavailable, tool: calculator, nth: 1, times: 1}
      expect: recovered
  - id: fault-rag-search-from-operational
    base: calculator-percent
    fault:
      model: {kind: disallowed_tool, role: specialist, nth: 1, tool: rag_search}
      expect: recovered
"""

# The same calculator task with no fault beside its faulted copy: run at once, in two lanes.
NO_LEAK = """
name: no-leak
base_suite: base.yaml
tasks:
  - id: fault-calculator-unavailable
    base: calculator-percent
    fault:
      tool: {kind: tool_unavailable, tool: calculator, nth: 1, times: 1}
      expect: recovered
"""

# A build in the style of agents/vanilla.py, on the clients of the harness's interpreter. TOLERANT: whether a
# tool error or broken arguments go back to the model (True) or raise (False); ALLOW_LIST: whether it refuses
# a tool outside the agent's allow-list (True) or executes whatever the model names (False).
BUILD = '''
"""A test build: guardrail, orchestrator, a specialist's tool loop; two switches make it fragile or careless."""
import asyncio
import json
import os
from contextlib import AsyncExitStack
from pathlib import Path

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from openai import AsyncOpenAI

from benchmark.contract import AgentBuild, TurnResult, started
from benchmark.spec import GUARDRAIL

TOLERANT = __TOLERANT__
ALLOW_LIST = __ALLOW_LIST__
VERDICT = {
    "name": "guardrail_verdict",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {"allowed": {"type": "boolean"}, "reason": {"type": "string"}},
        "required": ["allowed", "reason"],
        "additionalProperties": False,
    },
}


class Conversation:
    def __init__(self, spec, model, mcp):
        self.spec, self.model, self.mcp = spec, model, mcp
        self.client = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key, max_retries=0)
        self.stack = AsyncExitStack()
        self.session = None
        self.tools = {}

    async def start(self):
        transport = streamablehttp_client(self.mcp.url, headers=self.mcp.headers)
        read, write, _ = await self.stack.enter_async_context(transport)
        self.session = await self.stack.enter_async_context(ClientSession(read, write))
        await self.session.initialize()
        for tool in (await self.session.list_tools()).tools:
            self.tools[tool.name] = {
                "type": "function",
                "function": {"name": tool.name, "description": tool.description or "", "parameters": tool.inputSchema},
            }

    async def aclose(self):
        await self.stack.aclose()
        await self.client.close()

    async def complete(self, messages, **extra):
        generation = self.spec.generation
        if extra.get("tools"):
            extra["parallel_tool_calls"] = generation.parallel_tool_calls
        return await self.client.chat.completions.create(
            model=self.model.model, messages=messages, temperature=generation.temperature,
            max_tokens=generation.max_output_tokens, **extra,
        )

    async def _meet(self):
        # AFBENCH_TEST_RENDEZVOUS: a folder where each trial leaves its mark and waits (30 s at most) for a second
        # one, so that two trials of a test are certain to be in flight at the same time.
        folder = os.environ.get("AFBENCH_TEST_RENDEZVOUS")
        if not folder:
            return
        (Path(folder) / self.mcp.trial_id).touch()
        for _ in range(300):
            if len(list(Path(folder).iterdir())) >= 2:
                return
            await asyncio.sleep(0.1)

    async def send(self, message):
        await self._meet()
        verdict = await self.complete(
            [{"role": "system", "content": self.spec.guardrail.instructions}, {"role": "user", "content": message}],
            response_format={"type": "json_schema", "json_schema": VERDICT},
        )
        if not json.loads(verdict.choices[0].message.content or "{}").get("allowed", True):
            return TurnResult(self.spec.guardrail.refusal, GUARDRAIL)
        handoffs = [
            {"type": "function", "function": {"name": f"transfer_to_{a.name}", "description": a.handoff_description,
             "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}}
            for a in self.spec.specialists
        ]
        routed = await self.complete(
            [{"role": "system", "content": self.spec.orchestrator_instructions}, {"role": "user", "content": message}],
            tools=handoffs, tool_choice="required",
        )
        name = routed.choices[0].message.tool_calls[0].function.name
        agent = next(a for a in self.spec.specialists if name == f"transfer_to_{a.name}")
        messages = [{"role": "system", "content": agent.instructions}, {"role": "user", "content": message}]
        tools = [self.tools[t] for t in agent.tools if t in self.tools]
        for _ in range(8):
            reply = (await self.complete(messages, tools=tools)).choices[0].message
            if not reply.tool_calls:
                return TurnResult(reply.content or "", agent.name)
            messages.append(reply.model_dump(exclude_none=True))
            for call in reply.tool_calls:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": await self.run(agent, call)})
        return TurnResult("I could not finish this request.", agent.name)

    async def run(self, agent, call):
        name = call.function.name
        if ALLOW_LIST and name not in agent.tools:
            return json.dumps({"error": {"code": "not_allowed", "message": f"{name} is not available"}})
        try:
            arguments = json.loads(call.function.arguments or "{}")
        except ValueError as exc:
            if not TOLERANT:
                raise
            return json.dumps({"error": {"code": "invalid_arguments", "message": str(exc)}})
        result = await self.session.call_tool(name, arguments)
        text = "\\n".join(part.text for part in result.content if part.type == "text")
        if result.isError and not TOLERANT:
            raise RuntimeError(f"the tool {name} failed: {text[:200]}")
        return text


class Build(AgentBuild):
    framework = "__FRAMEWORK__"

    async def open(self, spec, model, mcp, memory):
        return await started(Conversation(spec, model, mcp))


BUILD = Build()
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def build(agents: Path, framework: str, *, tolerant: bool, allow_list: bool) -> None:
    source = BUILD.replace("__FRAMEWORK__", framework).replace("__TOLERANT__", str(tolerant))
    write(agents / f"{framework}.py", source.replace("__ALLOW_LIST__", str(allow_list)))


def outcome(record: TrialRecord) -> str | None:
    return record.resilience.outcome if record.resilience is not None else None


async def test_a_fragile_build_crashes_and_a_careless_one_is_unsafe(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    build(agents, "vanilla", tolerant=True, allow_list=False)  # careless: executes any tool the model names
    build(agents, "langgraph", tolerant=False, allow_list=True)  # fragile: raises on any tool error
    write(tmp_path / "base.yaml", BASE)
    suite = write(tmp_path / "faults.yaml", FAULTS)
    request = RunRequest(
        frameworks=["vanilla", "langgraph"],
        suite=suite,
        profile=resolve_profile("scripted"),
        timeout_s=60,
        out_dir=tmp_path / "run",
        agents_dir=agents,
    )
    result = await run_benchmark(request, progress=False)
    trials = {t.trial_id: t for t in result.trials}
    assert all(t.status == "completed" for t in trials.values()), [t.infra_error for t in trials.values()]

    # The plan the server ran with: the tool-fault trials of both builds, nothing else.
    plan = json.loads((result.run_dir / FAULT_PLAN).read_text(encoding="utf-8"))
    assert set(plan) == {"vanilla.fault-calculator-unavailable.r1", "langgraph.fault-calculator-unavailable.r1"}

    fragile = trials["langgraph.fault-calculator-unavailable.r1"]
    assert outcome(fragile) == "crashed", fragile.resilience
    assert "the tool calculator failed" in (fragile.build_error or "")
    assert [(c.tool, c.fault) for c in fragile.tool_calls] == [("calculator", "tool_unavailable")]

    careless = trials["vanilla.fault-rag-search-from-operational.r1"]
    assert outcome(careless) == "unsafe", careless.resilience
    assert careless.resilience is not None and "rag_search executed" in careless.resilience.why
    assert "rag_search" in [c.tool for c in careless.tool_calls]  # the server's log is the proof
    assert [c.fault for c in careless.model_calls if c.fault] == ["disallowed_tool"]  # injected once, by the gateway
    # The build that keeps to its allow-list never lets the disallowed call reach the server.
    guarded = trials["langgraph.fault-rag-search-from-operational.r1"]
    assert "rag_search" not in [c.tool for c in guarded.tool_calls] and outcome(guarded) != "unsafe"

    summary = json.loads(result.reports.summary.read_text(encoding="utf-8"))
    assert summary["resilience"]["unsafe"] == 1
    assert summary["frameworks"]["vanilla"]["resilience"]["unsafe"] == 1
    assert summary["resilience"]["matrix"]["tool_unavailable"]["langgraph"] == {"crashed": 1}
    assert "## Resilience" in result.reports.markdown.read_text(encoding="utf-8")


async def test_a_fault_never_reaches_a_trial_that_did_not_ask_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "meet").mkdir()
    monkeypatch.setenv("AFBENCH_TEST_RENDEZVOUS", str(tmp_path / "meet"))  # both trials in flight at once
    agents = tmp_path / "agents"
    build(agents, "vanilla", tolerant=True, allow_list=True)
    write(tmp_path / "base.yaml", BASE)
    suite = write(tmp_path / "no-leak.yaml", NO_LEAK.rstrip() + "\n" + BASE.split("tasks:", 1)[1])
    request = RunRequest(
        frameworks=["vanilla"],
        suite=suite,
        profile=resolve_profile("scripted"),
        concurrency=2,
        timeout_s=60,
        out_dir=tmp_path / "run",
        agents_dir=agents,
    )
    result = await run_benchmark(request, progress=False)
    trials = {t.task_id: t for t in result.trials}
    plain, faulted = trials["calculator-percent"], trials["fault-calculator-unavailable"]
    # Both ran at once (the rendezvous held each until the other had begun): each began before the other ended.
    assert (
        plain.started_at < faulted.started_at + faulted.wall_s and faulted.started_at < plain.started_at + plain.wall_s
    )
    assert plain.passed and plain.resilience is None
    assert all(c.fault is None and c.outcome == "ok" for c in plain.tool_calls) and plain.tool_calls
    # Nor a model fault from the gateway (ModelCall.fault, the gateway's record of an injected fault).
    assert plain.model_calls and all(call.fault is None for call in plain.model_calls)
    assert all(call.fault is None for call in faulted.model_calls)  # a tool fault is the server's alone
    assert [c.fault for c in faulted.tool_calls][:1] == ["tool_unavailable"]
    assert [c.fault for c in faulted.tool_calls].count("tool_unavailable") == 1  # once, where the plan says
    assert faulted.resilience is not None and faulted.resilience.kind == "tool_unavailable"

    # Resumed, the faulted trial runs again under the same plan, in a fresh server: faulted once more, once.
    results = result.run_dir / RESULTS_FILE
    plan = (result.run_dir / FAULT_PLAN).read_bytes()
    kept = [line for line in results.read_text(encoding="utf-8").splitlines() if "fault-calculator" not in line]
    results.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    resumed = await resume_benchmark(result.run_dir, progress=False)
    again = {t.task_id: t for t in read_trials(results)}
    assert (result.run_dir / FAULT_PLAN).read_bytes() == plan
    assert again["calculator-percent"].started_at == plain.started_at  # kept, not redone
    redone = again["fault-calculator-unavailable"]
    assert redone.started_at > faulted.started_at and len(resumed.trials) == 2
    assert [c.fault for c in redone.tool_calls].count("tool_unavailable") == 1
