#!/usr/bin/env python3
"""The harness's own overhead (model gateway + runner) as a share of trial wall time.

Two measurements, each against a baseline taken in the same run (timings on shared machines are noisy, so
only ratios and same-run differences are reported):

1. **Gateway, per model call.** A loopback OpenAI-compatible upstream (the test suite's fake, fixed reply) is
   called with a realistic specialist request (the spec's instructions, every MCP tool's schema, a long tool
   result) directly and through the gateway's upstream backend, in alternating rounds; JSON and streamed,
   with and without upstream usage (without it the gateway counts tokens with tiktoken). The difference of
   medians is what the gateway adds to each call.
2. **Runner, per trial.** ``run_benchmark`` runs a suite with the builds on the scripted model. The runner's
   share is the time between the end of one trial's conversation (as the worker measured it) and the start
   of the next trial of the same framework: collecting the gateway's records and the server's log, scoring,
   writing results.jsonl, handing the next trial to the worker. Worker start-up (a framework's import) is a
   once-per-run cost that the report shows as import time, not counted here.

The share of trial wall time is ``(runner per trial + model calls per trial × gateway per call) / (trial
wall + runner per trial)``, for the scripted run (the worst case: the scripted model answers in about a
millisecond, so nearly all the time is framework and tools) and for the same trials with every model call
taking ``--model-latency`` seconds (a hosted model's order of magnitude).

    python scripts/bench_harness.py                    # vanilla on core; table
    python scripts/bench_harness.py --frameworks all --suite core     # the figures in the README
    python scripts/bench_harness.py --frameworks vanilla,langgraph --suite smoke --json

Goal (from the issue): harness overhead <= 5 % of trial wall time. ``--check`` exits 1 when it is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

# The loopback upstream is the test suite's fake (tests/ is not an installed package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.gateway import Gateway, GatewayServer, UpstreamBackend
from benchmark.profiles import resolve_profile
from benchmark.records import TrialRecord
from benchmark.runner.run import RunRequest, resolve_frameworks, run_benchmark
from benchmark.spec import OPERATIONAL
from benchmark.system import default_spec
from mcp_server.catalog import build_tools
from mcp_server.config import ServerConfig
from tests.benchmark.fake_upstream import FakeUpstream
from tests.loopback import serve_in_thread

GOAL_SHARE = 0.05
MODEL = "bench-model"


def specialist_request(stream: bool) -> dict[str, Any]:
    """A request shaped like a specialist's second call: instructions, tools, the user's turn, a tool result."""
    agent = default_spec().agent(OPERATIONAL)
    tools = [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema()}}
        for t in build_tools(ServerConfig())
    ]
    result = json.dumps({"rows": [{"id": i, "name": f"Customer {i}", "plan": "Team", "mrr": 249.0} for i in range(60)]})
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": agent.instructions},
            {"role": "user", "content": "Which customers on the Team plan pay the most?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "sql_query", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": result},
        ],
        "tools": tools,
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


async def _timed_calls(client: httpx.AsyncClient, url: str, body: dict[str, Any], calls: int) -> list[float]:
    times = []
    messages = body["messages"]
    for number in range(calls):
        # Each call carries a tool result the gateway has not seen, as in a conversation (the system prompt
        # and the tools repeat; the latest result does not), so its token counting is not flattered.
        fresh = {**messages[-1], "content": f"{messages[-1]['content']} (call {number} {time.perf_counter_ns()})"}
        call = {**body, "messages": [*messages[:-1], fresh]}
        clock = time.perf_counter()
        async with client.stream("POST", url, json=call) as response:
            async for _chunk in response.aiter_bytes():
                pass
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
        times.append(time.perf_counter() - clock)
    return times


def measure_gateway(calls: int, rounds: int) -> list[dict[str, Any]]:
    rows = []
    for usage in (True, False):
        upstream = FakeUpstream(reply_text="The Team plan's top customers are listed above.", report_usage=usage)
        with serve_in_thread(upstream.app) as upstream_url:
            gateway = Gateway(UpstreamBackend(f"{upstream_url}/v1", "key"), models=[MODEL])
            with GatewayServer(gateway) as server:
                for stream in (False, True):
                    body = specialist_request(stream)
                    direct, proxied = asyncio.run(_compare(upstream_url, server.base_url, body, calls, rounds))
                    direct_ms, proxied_ms = statistics.median(direct) * 1e3, statistics.median(proxied) * 1e3
                    rows.append(
                        {
                            "mode": "stream" if stream else "json",
                            "upstream_usage": usage,
                            "calls": len(direct),
                            "direct_p50_ms": round(direct_ms, 2),
                            "gateway_p50_ms": round(proxied_ms, 2),
                            "added_ms": round(proxied_ms - direct_ms, 2),
                        }
                    )
    return rows


async def _compare(
    upstream_url: str, gateway_url: str, body: dict[str, Any], calls: int, rounds: int
) -> tuple[list[float], list[float]]:
    direct: list[float] = []
    proxied: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        await _timed_calls(client, f"{gateway_url}/v1/chat/completions", body, 5)  # warm both paths
        await _timed_calls(client, f"{upstream_url}/v1/chat/completions", body, 5)
        for _ in range(rounds):  # alternate, so drift in machine load hits both sides alike
            direct += await _timed_calls(client, f"{upstream_url}/v1/chat/completions", body, calls)
            proxied += await _timed_calls(client, f"{gateway_url}/v1/chat/completions", body, calls)
    return direct, proxied


def measure_runner(frameworks: list[str], suite: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="afbench-harness-") as folder:
        request = RunRequest(frameworks, suite, resolve_profile("scripted"), timeout_s=120, out_dir=Path(folder))
        clock = time.time()
        outcome = asyncio.run(run_benchmark(request, progress=False))
        elapsed = time.time() - clock
    trials: list[TrialRecord] = [t for t in outcome.trials if t.infra_error is None]
    # Between two trials of one framework the runner does its per-trial work (hand the next trial to the worker,
    # collect the last one's gateway records and server log, score, write); the first trial of each framework
    # also waits for its worker to start and import the build, which the report shows as import time instead.
    gaps = []
    for framework in frameworks:
        own = sorted((t for t in trials if t.framework == framework), key=lambda t: t.started_at)
        gaps += [b.started_at - (a.started_at + a.wall_s) for a, b in itertools.pairwise(own)]
    return {
        "frameworks": frameworks,
        "suite": suite,
        "trials": len(trials),
        "passed": sum(t.passed for t in trials),
        "run_elapsed_s": round(elapsed, 2),
        "start_up_s": round(min(t.started_at for t in trials) - clock, 2),
        "trial_wall_mean_s": round(statistics.fmean(t.wall_s for t in trials), 4),
        "runner_per_trial_s": round(statistics.fmean(gaps), 4),
        "model_calls_per_trial": round(statistics.fmean(len(t.model_calls) for t in trials), 2),
    }


def shares(runner: dict[str, Any], gateway_added_ms: float, model_latency_s: float) -> dict[str, float]:
    calls = runner["model_calls_per_trial"]
    harness = runner["runner_per_trial_s"] + calls * gateway_added_ms / 1e3
    scripted_wall = runner["trial_wall_mean_s"] + runner["runner_per_trial_s"]
    hosted_wall = scripted_wall + calls * model_latency_s
    return {
        "harness_per_trial_s": round(harness, 4),
        "share_scripted": round(harness / scripted_wall, 4),
        "share_hosted": round(harness / hosted_wall, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default="vanilla", help="comma-separated builds, or all")
    parser.add_argument("--suite", default="core")
    parser.add_argument("--calls", type=int, default=100, help="gateway calls per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model-latency", type=float, default=1.0, help="seconds per call of a hosted model")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 when the share on the scripted run > 5 %%")
    args = parser.parse_args(argv)

    gateway = measure_gateway(args.calls, args.rounds)
    runner = measure_runner(resolve_frameworks(args.frameworks), args.suite)
    # The gateway's cost on the runs' own path: JSON replies, usage counted locally (as the scripted model does).
    added_ms = max(0.0, max(row["added_ms"] for row in gateway))
    result: dict[str, Any] = {"gateway": gateway, "runner": runner, **shares(runner, added_ms, args.model_latency)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("Gateway, per call (median over alternating rounds):")
        print(f"  {'mode':<7}{'usage':<9}{'direct':>10}{'gateway':>10}{'added':>10}")
        for row in gateway:
            usage = "upstream" if row["upstream_usage"] else "counted"
            print(
                f"  {row['mode']:<7}{usage:<9}{row['direct_p50_ms']:>8.2f}ms"
                f"{row['gateway_p50_ms']:>8.2f}ms{row['added_ms']:>8.2f}ms"
            )
        print(
            f"Runner: {runner['trials']} trials of {','.join(runner['frameworks'])} on {runner['suite']} "
            f"({runner['passed']} passed); start-up {runner['start_up_s']} s; mean trial "
            f"{runner['trial_wall_mean_s'] * 1e3:.0f} ms; runner {runner['runner_per_trial_s'] * 1e3:.1f} ms/trial; "
            f"{runner['model_calls_per_trial']} model calls/trial"
        )
        print(
            f"Harness overhead: {result['harness_per_trial_s'] * 1e3:.1f} ms/trial = "
            f"{result['share_scripted']:.1%} of trial wall time on the scripted model, "
            f"{result['share_hosted']:.2%} with a {args.model_latency:g} s/call model (goal <= {GOAL_SHARE:.0%})"
        )
    if args.check and result["share_scripted"] > GOAL_SHARE:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
