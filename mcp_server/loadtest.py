"""``afbench loadtest``: tool calls per second and p50/p99 latency of our server, with API keys and quotas on,
against a bare official ``mcp`` SDK server exposing the same calculator tool, over streamable HTTP and WebSocket.

A script, not a test: timings are noisy, so the figure that matters is the ratio against the baseline measured in
the same run (goal: ours ≥ 0.9× the bare server's calls per second). Both servers run as subprocesses on
127.0.0.1 ports they pick; each run opens C client sessions with the official SDK client, warms them up, then
makes a fixed number of calls. Runs alternate between the two servers, the order flipping every round, and every
figure is the median over rounds (ratios are medians of the per-round paired ratios). Server CPU time per call,
read from /proc, is reported too: it is far less sensitive than throughput to other work on a shared machine.
All traffic stays on loopback, every run has a deadline, and the servers are stopped however the script ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from mcp_server.store import KeyStore, Limits

GOAL_RATIO = 0.9
OURS, BARE = "ours", "bare"
TRANSPORTS = ("http", "websocket")
MAX_CONCURRENCY = 64
MAX_CALLS = 100_000
MAX_ROUNDS = 15
MAX_WARMUP = 100
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 30.0
# Generous enough never to refuse a call, so the quota check and the usage insert run on every call.
QUOTA = Limits(per_minute=10_000_000, per_day=100_000_000)
_ROOT = Path(__file__).resolve().parents[1]

Progress = Callable[[str], None]


class LoadTestError(RuntimeError):
    """A server did not start, or a run could not complete (connection refused, deadline passed)."""


@dataclass(frozen=True)
class LoadSettings:
    concurrency: int = 8
    calls: int = 2000  # per run, split evenly across the sessions
    rounds: int = 3
    transports: tuple[str, ...] = TRANSPORTS
    warmup: int = 10  # calls per session before the clock starts
    run_timeout_s: float | None = None  # None: 60 s plus 0.1 s per call

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, got {self.concurrency}")
        if not self.concurrency <= self.calls <= MAX_CALLS:
            raise ValueError(f"calls must be between the concurrency ({self.concurrency}) and {MAX_CALLS}")
        if not 1 <= self.rounds <= MAX_ROUNDS:
            raise ValueError(f"rounds must be between 1 and {MAX_ROUNDS}, got {self.rounds}")
        if not 0 <= self.warmup <= MAX_WARMUP:
            raise ValueError(f"warmup must be between 0 and {MAX_WARMUP}, got {self.warmup}")
        unknown = [t for t in self.transports if t not in TRANSPORTS]
        if not self.transports or unknown or len(set(self.transports)) != len(self.transports):
            raise ValueError(f"transports must be distinct names from {', '.join(TRANSPORTS)}, got {self.transports}")
        if self.run_timeout_s is not None and self.run_timeout_s <= 0:
            raise ValueError("run_timeout_s must be positive")

    @property
    def deadline_s(self) -> float:
        return self.run_timeout_s if self.run_timeout_s is not None else 60.0 + 0.1 * self.calls


@dataclass(frozen=True)
class RunResult:
    """One server, one transport, one round."""

    server: str
    transport: str
    round: int
    calls: int
    errors: int
    seconds: float
    calls_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    server_cpu_ms_per_call: float | None
    first_error: str | None = None


@dataclass(frozen=True)
class ServerFigures:
    """Medians over rounds for one server on one transport."""

    calls_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    server_cpu_ms_per_call: float | None
    errors: int


@dataclass(frozen=True)
class TransportSummary:
    transport: str
    ours: ServerFigures
    bare: ServerFigures
    throughput_ratio: float  # ours / bare calls per second; ≥ GOAL_RATIO is the goal
    p50_ratio: float | None  # ours / bare median latency; above 1 means ours is slower
    cpu_ratio: float | None  # ours / bare server CPU per call
    round_throughput_ratios: list[float]

    @property
    def meets_goal(self) -> bool:
        return self.throughput_ratio >= GOAL_RATIO


@dataclass(frozen=True)
class LoadReport:
    settings: LoadSettings
    runs: list[RunResult]
    summaries: list[TransportSummary]
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": asdict(self.settings) | {"deadline_s": self.settings.deadline_s},
            "goal_ratio": GOAL_RATIO,
            "summaries": [asdict(s) | {"meets_goal": s.meets_goal} for s in self.summaries],
            "runs": [asdict(r) for r in self.runs],
            "environment": self.environment,
        }


# --- the servers ------------------------------------------------------------------------------------------


@dataclass
class _Server:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str  # http://127.0.0.1:PORT
    key: str | None

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def ws_url(self) -> str:
        url = self.base_url.replace("http://", "ws://", 1) + "/ws"
        # The SDK's WebSocket client cannot set headers; our gate takes the key from the query string instead.
        return f"{url}?api_key={self.key}" if self.key else url

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=_server_env(), cwd=_ROOT
        )


def _listening_url(log_path: Path) -> str | None:
    """The ``http://127.0.0.1:PORT`` a server printed on start, once it has."""
    for word in log_path.read_text(errors="replace").split():
        if word.startswith("http://127.0.0.1:") and word.endswith("/mcp"):
            return word.removesuffix("/mcp")
    return None


async def _wait_listening(name: str, process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        url = _listening_url(log_path)
        if url:
            return url
        await asyncio.sleep(0.05)
    raise LoadTestError(f"the {name} server did not start (see its log below):\n{_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process and all its threads (Linux); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _create_key(db: Path) -> str:
    store = await KeyStore.open(db)
    try:
        _, raw = await store.create_key("loadtest", QUOTA)
    finally:
        await store.close()
    return raw


@contextlib.asynccontextmanager
async def _servers(workdir: Path) -> AsyncIterator[dict[str, _Server]]:
    """Both servers, started side by side; stopped on any exit, Ctrl-C included."""
    db = workdir / "sessions.sqlite"
    key = await _create_key(db)
    commands = {
        OURS: [sys.executable, "-m", "mcp_server.cli", "serve", "--transport", "http", "--port", "0", "--db", str(db)],
        BARE: [sys.executable, "-m", "mcp_server._bare_server", "--port", "0"],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            processes[name] = _spawn(command, workdir / f"{name}.log")
        servers = {}
        for name, process in processes.items():
            url = await _wait_listening(name, process, workdir / f"{name}.log")
            servers[name] = _Server(name, process, url, key if name == OURS else None)
        yield servers
    finally:
        for process in processes.values():
            _stop(process)


# --- the clients ------------------------------------------------------------------------------------------


def _expressions(count: int, seed: int) -> list[tuple[str, Any]]:
    """Distinct, equally cheap expressions with their expected values (computed before the clock starts)."""
    from tools.calculator import evaluate

    out = []
    for i in range(count):
        a, b, c = seed * 7919 + i, i % 97 + 1, (seed + i) % 13 + 2
        expression = f"({a} + {b}) * {c} - {b} / 4"
        out.append((expression, evaluate(expression)))
    return out


@contextlib.asynccontextmanager
async def _session(server: _Server, transport: str) -> AsyncIterator[Any]:
    import httpx
    from mcp import ClientSession

    async with contextlib.AsyncExitStack() as stack:
        if transport == "http":
            from mcp.client.streamable_http import streamable_http_client

            http = await stack.enter_async_context(
                httpx.AsyncClient(headers=server.headers, timeout=httpx.Timeout(CALL_TIMEOUT_S, read=300))
            )
            read, write, _ = await stack.enter_async_context(streamable_http_client(server.mcp_url, http_client=http))
        else:
            from mcp.client.websocket import websocket_client

            with warnings.catch_warnings():
                # mcp 1.x marks its WebSocket client deprecated (gone in 2.0); both servers still serve it.
                warnings.simplefilter("ignore", DeprecationWarning)
                connection = websocket_client(server.ws_url)
            read, write = await stack.enter_async_context(connection)
        session = await stack.enter_async_context(
            ClientSession(read, write, read_timeout_seconds=timedelta(seconds=CALL_TIMEOUT_S))
        )
        await session.initialize()
        yield session


def _problem(result: Any, expected: Any) -> str | None:
    if result.isError:
        return "tool error: " + " ".join(getattr(c, "text", "") for c in result.content)[:200]
    structured = result.structuredContent or {}
    if structured.get("result") != expected:
        return f"wrong result {structured.get('result')!r}, expected {expected!r}"
    return None


def _percentile(ordered: Sequence[float], q: float) -> float | None:
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def _run_once(server: _Server, transport: str, round_index: int, settings: LoadSettings) -> RunResult:
    sessions = settings.concurrency
    shares = [settings.calls // sessions + (1 if i < settings.calls % sessions else 0) for i in range(sessions)]
    workloads = [_expressions(settings.warmup + share, seed=round_index * 1000 + i) for i, share in enumerate(shares)]
    latencies: list[float] = []
    errors: list[str] = []
    finished: list[float] = []
    ready, go, all_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    counters = {"ready": 0, "done": 0}
    clock: dict[str, float | None] = {}

    async def worker(workload: list[tuple[str, Any]]) -> None:
        async with _session(server, transport) as session:
            for expression, expected in workload[: settings.warmup]:
                problem = _problem(await session.call_tool("calculator", {"expression": expression}), expected)
                if problem:
                    raise LoadTestError(f"{server.name} {transport}: warm-up call failed: {problem}")
            counters["ready"] += 1
            if counters["ready"] == sessions:
                ready.set()
            await go.wait()
            for expression, expected in workload[settings.warmup :]:
                started = time.perf_counter()
                try:
                    result = await session.call_tool("calculator", {"expression": expression})
                except Exception as exc:  # counted, reported, and the run goes on
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                latencies.append(time.perf_counter() - started)
                problem = _problem(result, expected)
                if problem:
                    errors.append(problem)
            finished.append(time.perf_counter())
            counters["done"] += 1
            if counters["done"] == sessions:
                clock["cpu_end"] = _cpu_seconds(server.process.pid)
                all_done.set()
            # Sessions close only once every session is done, so closing never overlaps the measurement.
            await all_done.wait()

    async def starter() -> None:
        await ready.wait()
        gc.collect()
        clock["cpu_start"] = _cpu_seconds(server.process.pid)
        clock["start"] = time.perf_counter()
        go.set()

    try:
        async with asyncio.timeout(settings.deadline_s), asyncio.TaskGroup() as group:
            group.create_task(starter())
            for workload in workloads:
                group.create_task(worker(workload))
    except TimeoutError:
        raise LoadTestError(
            f"{server.name} {transport} round {round_index + 1} did not finish in {settings.deadline_s:g} s"
        ) from None
    except ExceptionGroup as group_error:
        first = group_error.exceptions[0]
        raise LoadTestError(
            f"{server.name} {transport} round {round_index + 1}: {type(first).__name__}: {first}"
        ) from (first)

    start = clock["start"]
    assert start is not None
    seconds = max(finished) - start
    ordered = sorted(latencies)
    cpu_start, cpu_end = clock.get("cpu_start"), clock.get("cpu_end")
    cpu_per_call = (
        (cpu_end - cpu_start) * 1000 / settings.calls if cpu_start is not None and cpu_end is not None else None
    )
    return RunResult(
        server=server.name,
        transport=transport,
        round=round_index + 1,
        calls=settings.calls,
        errors=len(errors),
        seconds=round(seconds, 4),
        calls_per_s=round(settings.calls / seconds, 1),
        p50_ms=_ms(_percentile(ordered, 0.50)),
        p99_ms=_ms(_percentile(ordered, 0.99)),
        server_cpu_ms_per_call=None if cpu_per_call is None else round(cpu_per_call, 3),
        first_error=errors[0] if errors else None,
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


# --- the whole run ----------------------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def _ratio(ours: float | None, bare: float | None) -> float | None:
    return None if ours is None or not bare else ours / bare


def summarise(runs: Sequence[RunResult], transport: str) -> TransportSummary:
    """Medians over rounds per server, and medians of the per-round paired ours/bare ratios."""

    def figures(server: str) -> ServerFigures:
        mine = [r for r in runs if r.transport == transport and r.server == server]
        if not mine:
            raise ValueError(f"no {server} runs for {transport}")
        throughput = _median([r.calls_per_s for r in mine])
        assert throughput is not None
        return ServerFigures(
            calls_per_s=throughput,
            p50_ms=_median([r.p50_ms for r in mine]),
            p99_ms=_median([r.p99_ms for r in mine]),
            server_cpu_ms_per_call=_median([r.server_cpu_ms_per_call for r in mine]),
            errors=sum(r.errors for r in mine),
        )

    pairs: dict[int, dict[str, RunResult]] = {}
    for run in runs:
        if run.transport == transport:
            pairs.setdefault(run.round, {})[run.server] = run
    paired = [p for p in pairs.values() if OURS in p and BARE in p]

    def paired_median(metric: Callable[[RunResult], float | None]) -> float | None:
        return _median([_ratio(metric(p[OURS]), metric(p[BARE])) for p in paired])

    throughput_ratios = [round(p[OURS].calls_per_s / p[BARE].calls_per_s, 3) for p in paired]
    return TransportSummary(
        transport=transport,
        ours=figures(OURS),
        bare=figures(BARE),
        throughput_ratio=round(statistics.median(throughput_ratios), 3),
        p50_ratio=paired_median(lambda r: r.p50_ms),
        cpu_ratio=paired_median(lambda r: r.server_cpu_ms_per_call),
        round_throughput_ratios=throughput_ratios,
    )


def _environment() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "mcp": version("mcp"),
        "uvicorn": version("uvicorn"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def _orders(rounds: int) -> Iterator[tuple[int, tuple[str, str]]]:
    # Flipping the order each round (bare, ours / ours, bare) cancels drift and warm-up bias between the two.
    for index in range(rounds):
        yield index, (BARE, OURS) if index % 2 == 0 else (OURS, BARE)


async def run_loadtest(settings: LoadSettings, progress: Progress | None = None) -> LoadReport:
    """Start both servers, run every round on every transport, stop the servers, and summarise."""
    say = progress or (lambda _message: None)
    environment = _environment()
    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="afbench-loadtest-") as folder:
        async with _servers(Path(folder)) as servers:
            say(f"servers up: ours {servers[OURS].base_url} (keys and quotas on), bare {servers[BARE].base_url}")
            for index, order in _orders(settings.rounds):
                for transport in settings.transports:
                    for name in order:
                        run = await _run_once(servers[name], transport, index, settings)
                        runs.append(run)
                        say(
                            f"round {index + 1}/{settings.rounds} {transport:<9} {name}: {run.calls_per_s:8.1f} calls/s"
                            f"  p50 {run.p50_ms} ms  p99 {run.p99_ms} ms  errors {run.errors}"
                        )
    summaries = [summarise(runs, transport) for transport in settings.transports]
    return LoadReport(settings, runs, summaries, environment)


def format_report(report: LoadReport) -> str:
    s = report.settings
    lines = [
        f"afbench loadtest: calculator calls, {s.concurrency} concurrent sessions, {s.calls} calls per run, "
        f"{s.rounds} round(s); medians over rounds",
        "ours: afbench serve with an API key and per-minute/per-day quotas;"
        f" bare: FastMCP from mcp {report.environment.get('mcp')}",
        "",
        f"{'transport':<10} {'server':<6} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/call':>12} {'errors':>7}",
    ]
    for summary in report.summaries:
        for name, figures in ((BARE, summary.bare), (OURS, summary.ours)):
            lines.append(
                f"{summary.transport:<10} {name:<6} {figures.calls_per_s:>9.1f} {_cell(figures.p50_ms):>8}"
                f" {_cell(figures.p99_ms):>8} {_cell(figures.server_cpu_ms_per_call):>12} {figures.errors:>7}"
            )
        verdict = "met" if summary.meets_goal else "NOT met"
        lines.append(
            f"{'':<10} ours/bare: throughput {summary.throughput_ratio:.3f}x (goal ≥ {GOAL_RATIO}x: {verdict}),"
            f" p50 {_cell(summary.p50_ratio, 'x')}, cpu/call {_cell(summary.cpu_ratio, 'x')};"
            f" per round {', '.join(f'{r:.3f}' for r in summary.round_throughput_ratios)}"
        )
    failures = [r for r in report.runs if r.first_error]
    for run in failures[:5]:
        lines.append(f"error in {run.server} {run.transport} round {run.round}: {run.first_error}")
    return "\n".join(lines)


def _cell(value: float | None, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.3f}{suffix}" if suffix else f"{value:.2f}"


# --- command line -----------------------------------------------------------------------------------------


def _transports(text: str) -> tuple[str, ...]:
    names = tuple(t.strip().lower() for t in text.split(",") if t.strip())
    unknown = [t for t in names if t not in TRANSPORTS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(TRANSPORTS)}, got {text!r}")
    return tuple(dict.fromkeys(names))


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument(
        "--concurrency",
        type=_bounded(1, MAX_CONCURRENCY),
        default=8,
        help="client sessions at once (default: %(default)s)",
    )
    parser.add_argument(
        "--calls",
        type=_bounded(1, MAX_CALLS),
        default=2000,
        help="calls per run, across sessions (default: %(default)s)",
    )
    parser.add_argument(
        "--rounds", type=_bounded(1, MAX_ROUNDS), default=3, help="rounds; figures are medians (default: %(default)s)"
    )
    parser.add_argument(
        "--warmup",
        type=_bounded(0, MAX_WARMUP),
        default=10,
        help="calls per session before timing (default: %(default)s)",
    )
    parser.add_argument("--transports", type=_transports, default=TRANSPORTS, help="http,websocket (default both)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")


async def command(args: argparse.Namespace) -> int:
    """Exit status 0 when every call succeeded, 1 when any failed, 2 on bad settings or a failed start."""
    try:
        settings = LoadSettings(args.concurrency, args.calls, args.rounds, args.transports, args.warmup)
        report = await run_loadtest(settings, progress=lambda message: print(message, file=sys.stderr, flush=True))
    except (ValueError, LoadTestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return 1 if report.errors else 0
