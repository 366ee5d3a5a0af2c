"""``afbench``: run the benchmark (``run``), rebuild a run's reports (``report``), compare two runs
(``compare``), look into runs in the browser (``view``), export a run's traces as OpenTelemetry spans
(``export``), set up the builds' environments
(``envs``); every other command (``serve``, ``keys``,
``usage``, ``loadtest``) is the MCP server's CLI, passed through unchanged. ``afbench`` alone prints the help,
``afbench --version`` the version."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmark.records import RecordError

BENCH_COMMANDS = ("run", "report", "compare", "view", "export", "envs")
SERVER_COMMANDS = {
    "serve": "run the MCP server",
    "keys": "manage API keys",
    "usage": "tool calls per key and tool, or one trial's calls in order",
    "loadtest": "calls/s and latency of the MCP server against a bare SDK server",
}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def afbench_version() -> str:
    try:
        return version("afbench")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed: pip install -e .)"


def _run_epilog() -> str:
    """What --frameworks and --model accept here: the builds in agents/ and the profiles in models.yaml."""
    from benchmark.plugins import available_frameworks
    from benchmark.profiles import ProfileError, load_profiles
    from benchmark.tasks.loader import bundled_suites

    try:
        default, profiles = load_profiles()
        listed = ", ".join(f"{name} (default)" if name == default else name for name in profiles)
    except ProfileError as exc:
        listed = f"none readable ({exc})"
    return (
        f"builds (--frameworks): {', '.join(available_frameworks())}\n"
        f"model profiles (--model, benchmark/models.yaml): {listed}\n"
        f"suites (--suite, tasks/): {', '.join(bundled_suites())}, or a suite YAML file\n\n"
        "example: afbench run --frameworks all --suite core   (what make run runs)"
    )


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def _money(text: str) -> float:
    try:
        value = float(text.removeprefix("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an amount in USD, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="afbench",
        description="The afbench benchmark (run, report, compare, view, export, envs) and MCP server "
        "(serve, keys, usage, loadtest).",
        epilog="Start with 'afbench run' (the smoke suite on the vanilla build, offline) or 'afbench serve'. "
        "Each command has its own --help.",
    )
    parser.add_argument("--version", action="version", version=f"afbench {afbench_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run frameworks on a task suite and write the reports",
        description="Run builds on a task suite against a model, score every trial and write the reports "
        "(report.md, report.html, summary.json) in the run directory.",
        epilog=_run_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--frameworks", default=None, help="comma-separated builds, or 'all' (default: vanilla)")
    run.add_argument("--suite", default=None, help="a suite of tasks/ or a suite YAML path (default: smoke)")
    run.add_argument("--model", default=None, help="model profile from benchmark/models.yaml (default: scripted)")
    run.add_argument("--model-base-url", help="any OpenAI-compatible endpoint (with --model-name)")
    run.add_argument("--model-name", help="the model to ask for (overrides the profile's)")
    run.add_argument("--model-api-key-env", help="environment variable holding the endpoint's key")
    run.add_argument(
        "--repeats",
        type=_positive,
        default=1,
        help="runs of every task per framework, for pass^k (default: %(default)s)",
    )
    run.add_argument("--concurrency", type=_positive, default=None, help="trials at once (default 1)")
    run.add_argument("--timeout", type=_seconds, default=None, help="seconds per trial (default 300)")
    run.add_argument("--out", type=Path, help="run directory (default: results/<UTC timestamp>)")
    run.add_argument("--resume", type=Path, metavar="DIR", help="continue an interrupted (or stopped) run in DIR")
    run.add_argument(
        "--max-tokens",
        type=_positive,
        default=None,
        metavar="N",
        help="stop cleanly (resumable) once the run's trials used N tokens, input and output (default: no limit)",
    )
    run.add_argument(
        "--max-cost",
        type=_money,
        default=None,
        metavar="USD",
        help="stop cleanly (resumable) once the run cost USD, at the profile's prices (default: no limit)",
    )
    run.add_argument("--agents-dir", type=Path, help="plugin folder of builds (default: the repository's agents/)")
    run.add_argument("--no-progress", action="store_true", help="no progress display")

    report = sub.add_parser("report", help="rebuild summary.json, report.md and report.html from results.jsonl")
    report.add_argument("run_dir", type=Path, help="a run directory (holding results.jsonl)")

    compare = sub.add_parser("compare", help="per-task differences between two runs")
    compare.add_argument("run_a", type=Path, help="the first run directory (the baseline)")
    compare.add_argument("run_b", type=Path, help="the second run directory, compared with the first")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")

    view = sub.add_parser("view", help="look into runs in the browser: matrix, trial timelines, side by side")
    view.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN", help="one or more run directories")
    view.add_argument("--host", default="127.0.0.1", help="loopback address to serve on (default: %(default)s)")
    view.add_argument(
        "--port", type=_port, default=7575, help="port to serve on; 0 picks a free one (default: %(default)s)"
    )

    export = sub.add_parser(
        "export", help="a run's traces as OpenTelemetry spans (OTLP/JSON, GenAI semantic conventions)"
    )
    export.add_argument("run_dir", type=Path, help="a run directory (holding results.jsonl and traces/)")
    export.add_argument(
        "--out", type=Path, default=None, help="the OTLP/JSON file to write (default: RUN/traces.otlp.json)"
    )

    envs = sub.add_parser("envs", help="the builds' own environments: list, sync, lock, outdated")
    envs.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=("list", "sync", "lock", "outdated"),
        help="list (default): each build's locked versions and setup cost; sync: create or update .venvs/ from "
        "the locks; lock: re-resolve every requirements.in to the newest releases; outdated: name what a newer "
        "release exists for (exit 1 if any)",
    )
    envs.add_argument("frameworks", nargs="*", metavar="FRAMEWORK", help="only these builds (default: all)")
    envs.add_argument("--force", action="store_true", help="sync: reinstall even when the lock has not changed")

    for name, text in SERVER_COMMANDS.items():
        sub.add_parser(name, help=text + f" (see afbench {name} --help)", add_help=False)
    return parser


def _print_outcome(run_dir: Path) -> None:
    """The leaderboard in the report's order and ranks (ties shown as ``=1``), its banner, and where it is."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    leaderboard = summary.get("leaderboard") or {}
    standings = leaderboard.get("standings") or [{"framework": n, "rank": None} for n in summary["frameworks"]]
    if leaderboard.get("banner"):
        print(leaderboard["banner"])
    for place in standings:
        name, stats = place["framework"], summary["frameworks"][place["framework"]]
        rank = "–" if place.get("rank") is None else ("=" if place.get("tied") else "") + str(place["rank"])
        rate = "–" if stats["success_rate"] is None else f"{stats['success_rate'] * 100:.1f}%"
        infra = f", {stats['infra_errors']} infrastructure errors" if stats["infra_errors"] else ""
        print(f"{rank:>3} {name}: {stats['passed']}/{stats['trials']} passed ({rate}){infra}")
    print(f"report: {run_dir / 'report.html'}")
    print(f"        {run_dir / 'report.md'}")


# What a run is planned with; --resume continues the plan in run.json, so these cannot change it.
PLAN_OPTIONS = (
    "frameworks",
    "suite",
    "model",
    "model_base_url",
    "model_name",
    "model_api_key_env",
    "out",
    "agents_dir",
)


def _resume_conflicts(args: argparse.Namespace) -> list[str]:
    given = [f"--{name.replace('_', '-')}" for name in PLAN_OPTIONS if getattr(args, name) is not None]
    if args.repeats != 1:
        given.append("--repeats")
    return given


def _run(args: argparse.Namespace) -> int:
    from benchmark.profiles import ProfileError, resolve_profile
    from benchmark.runner.run import RunError, RunRequest, default_out_dir, resume_benchmark, run_benchmark
    from benchmark.tasks import SuiteError

    run_dir: Path = args.resume or args.out or default_out_dir()
    try:
        if args.resume is not None:
            conflicts = _resume_conflicts(args)
            if conflicts:
                raise RunError(
                    f"--resume continues {args.resume} as it was planned (run.json): {', '.join(conflicts)} cannot "
                    "change it; only --concurrency, --timeout, --max-tokens, --max-cost and --no-progress apply to a "
                    "resumed run"
                )
            outcome = asyncio.run(
                resume_benchmark(
                    args.resume,
                    progress=not args.no_progress,
                    concurrency=args.concurrency,
                    timeout_s=args.timeout,
                    max_tokens=args.max_tokens,
                    max_cost_usd=args.max_cost,
                    on_start=lambda path: _announce(path, resumed=True),
                )
            )
        else:
            from benchmark.runner.run import DEFAULT_TIMEOUT_S, resolve_frameworks

            profile = resolve_profile(
                args.model,
                base_url=args.model_base_url,
                model_name=args.model_name,
                api_key_env=args.model_api_key_env,
            )
            if profile.backend == "scripted" and args.model_name:
                print(
                    f"warning: --model-name {args.model_name} only renames what the builds ask for; the scripted "
                    "model answers the same whatever the name",
                    file=sys.stderr,
                )
            request = RunRequest(
                frameworks=resolve_frameworks(args.frameworks or "vanilla", args.agents_dir),
                suite=args.suite or "smoke",
                profile=profile,
                repeats=args.repeats,
                concurrency=args.concurrency or 1,
                timeout_s=args.timeout or DEFAULT_TIMEOUT_S,
                out_dir=run_dir,
                agents_dir=args.agents_dir,
                max_tokens=args.max_tokens,
                max_cost_usd=args.max_cost,
            )
            outcome = asyncio.run(
                run_benchmark(
                    request, progress=not args.no_progress, on_start=lambda path: _announce(path, resumed=False)
                )
            )
    except (RunError, ProfileError, SuiteError, RecordError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; finished trials are kept. Continue with: afbench run --resume {run_dir}", file=sys.stderr
        )
        return 130
    _print_outcome(outcome.run_dir)
    if outcome.stopped is not None:
        print(f"stopped: {outcome.stopped} (afbench run --resume {outcome.run_dir})", file=sys.stderr)
        return 3
    trials = outcome.trials
    if trials and all(t.status == "infra_error" for t in trials):
        first = trials[0].infra_error or "see the logs"
        print(
            f"error: every trial was an infrastructure error, so nothing was measured (first: {first}); "
            f"logs in {outcome.run_dir / 'logs'}",
            file=sys.stderr,
        )
        return 1
    return 0


def _announce(run_dir: Path, *, resumed: bool) -> None:
    verb = "resuming" if resumed else "run"
    hint = f"Ctrl-C keeps finished trials; continue with: afbench run --resume {run_dir}"
    print(f"{verb}: {run_dir}  ({hint})", file=sys.stderr, flush=True)


def _report(args: argparse.Namespace) -> int:
    from benchmark.report import write_reports

    try:
        paths = write_reports(args.run_dir)
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(paths.summary)
    print(paths.markdown)
    print(paths.html)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from benchmark.report import compare_runs, render_comparison
    from benchmark.report.compare import comparison_json

    try:
        comparison = compare_runs(args.run_a, args.run_b)
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not comparison.frameworks:
        print(
            f"error: the runs have no framework in common (A: {', '.join(comparison.only_in_a) or 'none'}; "
            f"B: {', '.join(comparison.only_in_b) or 'none'}): nothing to compare",
            file=sys.stderr,
        )
        return 2
    if not any(diff.paired_tasks for diff in comparison.frameworks):
        print(
            f"error: the runs have no task in common (A: suite {comparison.suite_a}; B: suite {comparison.suite_b}): "
            "nothing to compare",
            file=sys.stderr,
        )
        return 2
    if args.json:
        print(json.dumps(comparison_json(comparison), indent=2))
    else:
        print(render_comparison(comparison), end="")
    return 0


def _view(args: argparse.Namespace) -> int:
    from benchmark.view.app import serve

    try:
        serve(args.run_dirs, host=args.host, port=args.port)
    except (RecordError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _export(args: argparse.Namespace) -> int:
    from benchmark.report.otlp import export_otlp

    try:
        path = export_otlp(args.run_dir, args.out)
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _envs(args: argparse.Namespace) -> int:
    from benchmark.env_setup import EnvSetupError, command

    try:
        return command(args.action, args.frameworks, force=args.force)
    except EnvSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        build_parser().print_help()
        return 0
    if arguments[0] in SERVER_COMMANDS:
        from mcp_server.cli import main as server_main

        return server_main(arguments)
    args = build_parser().parse_args(arguments)
    handlers = {"run": _run, "report": _report, "compare": _compare, "view": _view, "export": _export, "envs": _envs}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
