"""Running a benchmark: plan the trials, start the MCP server and the gateway, run every trial in worker
lanes, append each result as it finishes, and write the reports.

A run lives in one directory: ``run.json`` (what was asked), ``suite.yaml`` (the suite as run, written out in
full), ``fault_plan.json`` (when a task injects tool faults: the MCP server's plan), ``results.jsonl``,
``sessions.sqlite`` (the server's log), ``logs/`` and the reports. ``resume_benchmark``
picks a directory up again and runs only the trials without a complete result line (infrastructure
failures are tried again).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmark import plugins
from benchmark.build_envs import BuildEnvMissing, worker_python
from benchmark.profiles import ModelProfile
from benchmark.records import (
    RESULTS_FILE,
    RunInfo,
    TrialRecord,
    WorkerInfo,
    append_trial,
    prune_for_resume,
    read_run_info,
    read_trials,
    write_run_info,
)
from benchmark.report import ReportPaths, write_reports
from benchmark.runner.budget import Budget, BudgetError
from benchmark.runner.collect import merged_report, trial_record
from benchmark.runner.environment import build_loc, machine, setup_costs, versions
from benchmark.runner.mcp_process import McpServer, McpServerError
from benchmark.runner.model_gateway import SETTLE_MAX_S, ModelGateway, check_endpoint
from benchmark.runner.plan import PlannedTrial, plan_trials, write_fault_plan
from benchmark.runner.progress import RunProgress
from benchmark.runner.protocol import Endpoint, Memory, TrialReport, TrialRequest
from benchmark.runner.run_lock import RunLocked, run_lock
from benchmark.runner.traces import write_trace
from benchmark.runner.worker_client import BuildLoadError, WorkerCrashed, WorkerError, WorkerProcess, WorkerTimeout
from benchmark.system import default_spec
from benchmark.tasks import Suite, load_suite, suite_path, suite_yaml

SUITE_COPY = "suite.yaml"
FAULT_PLAN = "fault_plan.json"
MEMORY_DIR = "memory"  # a folder per trial: the build's conversation stores, kept across its restarts
DEFAULT_TIMEOUT_S = 300.0


class RunError(RuntimeError):
    """A run that cannot start or go on; the message says why and what to do."""


@dataclass
class RunRequest:
    frameworks: list[str]
    suite: str | Path
    profile: ModelProfile
    repeats: int = 1
    concurrency: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    out_dir: Path | None = None
    agents_dir: Path | None = None
    max_tokens: int | None = None  # the run's budget (benchmark/runner/budget.py); None: none
    max_cost_usd: float | None = None


@dataclass
class RunOutcome:
    run_dir: Path
    reports: ReportPaths
    trials: list[TrialRecord] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped before its plan was done (the budget); None: it did not


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def default_out_dir() -> Path:
    return Path("results") / utc_stamp()


def frameworks_in(agents_dir: Path | None) -> list[str]:
    folder = agents_dir or plugins.AGENTS_DIR
    return [name for name in plugins.FRAMEWORKS if (folder / f"{name}.py").is_file()]


def resolve_frameworks(choice: str, agents_dir: Path | None = None) -> list[str]:
    """``all`` or a comma-separated list, checked against the builds present."""
    present = frameworks_in(agents_dir)
    if choice.strip() == "all":
        if not present:
            raise RunError(f"no framework builds found in {agents_dir or plugins.AGENTS_DIR}")
        return present
    names = [n.strip() for n in choice.split(",") if n.strip()]
    if not names:
        raise RunError("--frameworks needs at least one name, or 'all'")
    for name in names:
        if name not in plugins.FRAMEWORKS:
            raise RunError(f"unknown framework '{name}'; known: {', '.join(plugins.FRAMEWORKS)}")
        if name not in present:
            raise RunError(
                f"no build for '{name}' in {agents_dir or plugins.AGENTS_DIR}; present: {', '.join(present)}"
            )
    return list(dict.fromkeys(names))


OnStart = Callable[[Path], None]  # told the run directory once the run is sure to start


async def run_benchmark(request: RunRequest, *, progress: bool = True, on_start: OnStart | None = None) -> RunOutcome:
    """A new run in ``request.out_dir`` (default ``results/<UTC timestamp>``)."""
    if request.repeats < 1 or request.concurrency < 1 or request.timeout_s <= 0:
        raise RunError("--repeats and --concurrency must be at least 1 and --timeout positive")
    suite_file = suite_path(request.suite)
    suite = load_suite(suite_file)
    _check_budget(request.profile, request.max_tokens, request.max_cost_usd)
    await _preflight(request.profile)
    _check_envs(request.frameworks, request.agents_dir)
    run_dir = request.out_dir or default_out_dir()
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--out {run_dir} is a file; give a folder for the run (it is created if missing)")
    if (run_dir / RESULTS_FILE).exists():
        raise RunError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    with _locked(run_dir):
        if on_start is not None:
            on_start(run_dir)
        return await _start(run_dir, request, suite, progress)


async def _start(run_dir: Path, request: RunRequest, suite: Suite, progress: bool) -> RunOutcome:
    # Written out in full (``base:`` entries expanded): a resumed run runs the same tasks even if the suites
    # they were taken from have changed since.
    (run_dir / SUITE_COPY).write_text(suite_yaml(suite), encoding="utf-8")
    folder = request.agents_dir or plugins.AGENTS_DIR
    # Builds from another plugin folder run in the harness's interpreter: none of the builds' environments.
    in_envs = [] if folder.resolve() != plugins.AGENTS_DIR.resolve() else request.frameworks
    info = RunInfo(
        run_id=run_dir.name,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        suite=suite.name,
        suite_file=SUITE_COPY,
        frameworks=request.frameworks,
        agents_dir=str(request.agents_dir.resolve()) if request.agents_dir else None,
        model=request.profile.info(),
        repeats=request.repeats,
        concurrency=request.concurrency,
        timeout_s=request.timeout_s,
        versions=versions(in_envs),
        machine=machine(),
        loc=build_loc({name: folder / f"{name}.py" for name in request.frameworks}),
        setup=setup_costs(in_envs),
        max_tokens=request.max_tokens,
        max_cost_usd=request.max_cost_usd,
    )
    write_run_info(run_dir, info)
    return await _execute(run_dir, info, progress)


async def resume_benchmark(
    run_dir: Path,
    *,
    progress: bool = True,
    concurrency: int | None = None,
    timeout_s: float | None = None,
    max_tokens: int | None = None,
    max_cost_usd: float | None = None,
    on_start: OnStart | None = None,
) -> RunOutcome:
    """Go on with an interrupted run (or one its budget stopped): only trials without a complete result line are
    run. A budget given here replaces the run's."""
    info = read_run_info(run_dir)
    profile = ModelProfile.from_info(info.model)
    _check_budget(profile, max_tokens, max_cost_usd)
    await _preflight(profile)
    _check_envs(info.frameworks, Path(info.agents_dir) if info.agents_dir else None)
    with _locked(run_dir):
        if on_start is not None:
            on_start(run_dir)
        changes: dict[str, object] = {}
        if concurrency is not None:
            changes["concurrency"] = concurrency
        if timeout_s is not None:
            changes["timeout_s"] = timeout_s
        if max_tokens is not None:
            changes["max_tokens"] = max_tokens
        if max_cost_usd is not None:
            changes["max_cost_usd"] = max_cost_usd
        if changes:
            info = info.model_copy(update=changes)
            write_run_info(run_dir, info)
        return await _execute(run_dir, info, progress)


def _check_budget(profile: ModelProfile, max_tokens: int | None, max_cost_usd: float | None) -> None:
    try:
        Budget.for_run(profile, max_tokens, max_cost_usd, [])
    except BudgetError as exc:
        raise RunError(f"{exc}; nothing was run") from None


def _check_envs(frameworks: Sequence[str], agents_dir: Path | None) -> None:
    """Every build's environment exists (a missing one would make each of its trials an infrastructure error)."""
    missing = []
    for framework in frameworks:
        try:
            worker_python(framework, agents_dir)
        except BuildEnvMissing:
            missing.append(framework)
    if missing:
        raise RunError(
            f"no environment for {', '.join(missing)} (.venvs/<framework>): run `make envs`, or "
            f"`afbench envs sync {' '.join(missing)}`; nothing was run"
        )


async def _preflight(profile: ModelProfile) -> None:
    """Fail before anything starts when the model cannot be used: a required key unset (ProfileError), or an
    endpoint that does not answer one cheap request (8 builds would otherwise spend an hour retrying it)."""
    profile.api_key()
    problem = await asyncio.to_thread(check_endpoint, profile)
    if problem is not None:
        raise RunError(f"{problem}; nothing was run")


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    try:
        with run_lock(run_dir):
            yield
    except RunLocked as exc:
        raise RunError(str(exc)) from None


async def _execute(run_dir: Path, info: RunInfo, progress: bool) -> RunOutcome:
    suite = load_suite(run_dir / info.suite_file)
    profile = ModelProfile.from_info(info.model)
    plan = plan_trials(suite, info.frameworks, info.repeats)
    results = run_dir / RESULTS_FILE
    done = prune_for_resume(results)
    finished = {record.trial_id for record in done}
    pending = [trial for trial in plan if trial.trial_id not in finished]
    budget = Budget.for_run(profile, info.max_tokens, info.max_cost_usd, done)
    stopped = budget.reached() if pending else None
    if pending and stopped is None:
        # The whole plan's tool faults, rewritten on every invocation from the same suite copy: the same file.
        fault_plan = write_fault_plan(run_dir / FAULT_PLAN, plan)
        totals = Counter(trial.framework for trial in plan)
        with RunProgress({name: totals[name] for name in info.frameworks}, done, enabled=progress) as bar:
            session = _Session(run_dir, info, profile, bar, fault_plan, budget)
            await session.run(pending)
            stopped = session.stopped
    if stopped is not None:
        left = len(plan) - len(read_trials(results))
        stopped = f"{stopped}: {left} of {len(plan)} trials not run; continue with --resume and a larger budget"
    write_run_info(run_dir, info.model_copy(update={"stopped": stopped}))
    return RunOutcome(run_dir, write_reports(run_dir), read_trials(results), stopped)


class _Session:
    """One invocation's services (server, key, gateway) and its worker lanes."""

    def __init__(
        self,
        run_dir: Path,
        info: RunInfo,
        profile: ModelProfile,
        bar: RunProgress,
        fault_plan: Path | None,
        budget: Budget,
    ) -> None:
        self.budget = budget
        self.stopped: str | None = None  # the budget ran out: no lane starts another trial
        self.run_dir = run_dir
        self.info = info
        self.profile = profile
        self.bar = bar
        self.results = run_dir / RESULTS_FILE
        self.logs = run_dir / "logs"
        self.agents_dir = Path(info.agents_dir) if info.agents_dir else None
        self.server = McpServer(run_dir / "sessions.sqlite", self.logs / "mcp_server.log", fault_plan=fault_plan)
        # One key per invocation: a resumed trial must not see the usage rows of its interrupted attempt.
        self.key_name = f"afbench-run-{utc_stamp()}-{os.getpid()}"
        self.api_key = ""
        self.gateway = ModelGateway(profile)
        self.spec = default_spec().to_dict()  # sent with every trial: workers import no system content
        self.load_errors: dict[str, str] = {}

    async def run(self, pending: Sequence[PlannedTrial]) -> None:
        try:
            await self.server.start()
        except McpServerError as exc:
            raise RunError(f"{exc}\n(log: {self.server.log_path})") from None
        try:
            self.api_key = await self.server.create_key(self.key_name)
            with self.gateway:
                queue = deque(pending)
                lanes = min(self.info.concurrency, len(queue))
                await asyncio.gather(*(self._lane(queue) for _ in range(lanes)))
        finally:
            await self.server.stop()

    async def _lane(self, queue: deque[PlannedTrial]) -> None:
        worker: WorkerProcess | None = None
        try:
            while queue:
                self.stopped = self.stopped or self.budget.reached()
                if self.stopped is not None:
                    break
                planned = queue.popleft()
                if worker is not None and (worker.framework != planned.framework or not worker.alive):
                    await worker.close()
                    worker = None
                record: TrialRecord | None = None
                if planned.framework in self.load_errors:
                    record = self._infra(planned, self.load_errors[planned.framework])
                elif worker is None:
                    try:
                        worker = await WorkerProcess.spawn(
                            planned.framework,
                            log_path=self.logs / f"{planned.framework}.log",
                            agents_dir=self.agents_dir,
                        )
                    except BuildLoadError as exc:
                        self.load_errors[planned.framework] = (
                            f"the {planned.framework} build could not be loaded: {exc}"
                        )
                        record = self._infra(planned, self.load_errors[planned.framework])
                    except WorkerError as exc:
                        record = self._infra(planned, f"the worker did not start: {exc}")
                if record is None:
                    assert worker is not None
                    record, worker = await self._trial(planned, worker)
                    if worker is not None and not worker.alive:
                        worker = None
                if not self.server.alive:
                    record = record.model_copy(
                        update={"status": "infra_error", "infra_error": "the MCP server stopped during the trial"}
                    )
                append_trial(self.results, record)
                self.budget.add(record)
                self.bar.trial_done(record)
                if not self.server.alive:
                    raise RunError(f"the MCP server stopped; see {self.server.log_path}")
        except BaseException:
            if worker is not None:  # interrupted mid-trial: that trial is not recorded, so stop at once
                await worker.kill()
            raise
        if worker is not None:
            await worker.close()

    def _infra(self, planned: PlannedTrial, message: str) -> TrialRecord:
        return trial_record(
            planned,
            started_at=time.time(),
            report=None,
            calls=[],
            usage_rows=[],
            profile=self.profile,
            worker=None,
            infra_error=message,
        )

    async def _trial(self, planned: PlannedTrial, worker: WorkerProcess) -> tuple[TrialRecord, WorkerProcess | None]:
        """Run the trial, segment by segment: before a turn that restarts, the worker (which closed the
        conversation at the end of its segment) is killed and a fresh one reopens the conversation by its id.
        Returns the record and the worker the lane goes on with (None: none alive)."""
        trial_id = planned.trial_id
        self.gateway.register(trial_id, planned.task)
        model = self.gateway.endpoint(trial_id)
        mcp = self.server.endpoint(trial_id, self.api_key)
        memory_dir = self.run_dir / MEMORY_DIR / trial_id
        shutil.rmtree(memory_dir, ignore_errors=True)  # a resumed run's trial starts from nothing, as the first did
        memory_dir.mkdir(parents=True)
        messages = [turn.user for turn in planned.task.turns]
        started_at = time.time()
        deadline = time.monotonic() + self.info.timeout_s
        reports: list[TrialReport] = []
        pids: list[int] = []
        current: WorkerProcess | None = worker
        cut_short = None
        timed_out = False
        for number, segment in enumerate(planned.task.segments()):
            if number > 0:
                assert current is not None
                await current.kill()  # the restart: the process that ran the earlier turns is gone
                try:
                    current = await WorkerProcess.spawn(
                        planned.framework, log_path=self.logs / f"{planned.framework}.log", agents_dir=self.agents_dir
                    )
                except WorkerError as exc:
                    current, cut_short = None, f"the worker did not restart before turn {segment.start + 1}: {exc}"
                    break
            assert current is not None
            pids.append(current.ready.pid)
            request = TrialRequest(
                trial_id=trial_id,
                spec=self.spec,
                messages=messages[segment.start : segment.stop],
                model=Endpoint(
                    base_url=model.base_url, model=model.model, api_key=model.api_key, timeout_s=model.timeout_s
                ),
                mcp=Endpoint(url=mcp.url, api_key=mcp.api_key, trial_id=mcp.trial_id),
                memory=Memory(conversation_id=trial_id, directory=str(memory_dir)),
                first_turn=segment.start,
            )
            try:
                report = await current.run(request, max(0.0, deadline - time.monotonic()))
            except WorkerTimeout:
                cut_short, timed_out = f"timeout: no result within {self.info.timeout_s:g} s (worker killed)", True
                break
            except WorkerCrashed as exc:
                cut_short = f"the worker crashed: {exc}"
                break
            if report.start_error and number > 0:
                reopened = f"reopening the conversation before turn {segment.start + 1} (after the restart)"
                report = report.model_copy(update={"start_error": f"{reopened}: {report.start_error}"})
            reports.append(report)
            if report.start_error or any(t.error for t in report.turns):
                break  # later turns build on this one's memory
        try:
            # Ends the trial at the gateway too: calls still open are cancelled upstream (a one-slot server
            # would otherwise make the next trial wait for them) and recorded as partial calls.
            grace = 0.0 if cut_short is not None else SETTLE_MAX_S
            calls = await self.gateway.end_trial(trial_id, grace_s=grace)
            rows = await self.server.usage(self.key_name, trial_id)
        finally:
            self.gateway.forget(trial_id)
        ready = (current or worker).ready
        # Off the event loop: scoring may run a task's hidden tests in the sandbox, while other lanes go on.
        record = await asyncio.to_thread(
            trial_record,
            planned,
            started_at=started_at,
            report=merged_report(trial_id, reports),
            calls=calls,
            usage_rows=rows,
            profile=self.profile,
            worker=WorkerInfo(pid=ready.pid, import_s=ready.import_s, peak_rss_mb=ready.rss_mb),
            cut_short=cut_short,
            timed_out=timed_out,
        )
        record = record.model_copy(update={"worker_pids": pids})
        await asyncio.to_thread(write_trace, self.run_dir, record, calls)
        return record, current
