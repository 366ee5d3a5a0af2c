"""Smoke test of ``afbench loadtest`` (mcp_server/loadtest.py) with tiny numbers, plus its pure parts.

It starts both real servers (ours with a key and quotas, the bare FastMCP one) and drives them with the real
SDK client, so it proves the script works end to end; it never asserts timings (they are noisy by nature).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from mcp_server.loadtest import (
    BARE,
    OURS,
    LoadSettings,
    RunResult,
    add_arguments,
    format_report,
    run_loadtest,
    summarise,
)
from tools.calculator import evaluate


@pytest.mark.e2e
async def test_tiny_run_over_http_reports_both_servers_without_errors() -> None:
    messages: list[str] = []
    settings = LoadSettings(concurrency=2, calls=20, rounds=1, transports=("http",), warmup=2)

    report = await run_loadtest(settings, progress=messages.append)

    assert {(r.server, r.transport) for r in report.runs} == {(OURS, "http"), (BARE, "http")}
    for run in report.runs:
        assert run.errors == 0, run.first_error
        assert run.calls == 20
        assert run.calls_per_s > 0
        assert run.p50_ms is not None and run.p99_ms is not None and 0 < run.p50_ms <= run.p99_ms
    [summary] = report.summaries
    assert summary.transport == "http"
    assert summary.throughput_ratio > 0
    assert report.errors == 0
    text = format_report(report)
    assert "ours/bare: throughput" in text and "http" in text
    as_json = json.loads(json.dumps(report.as_dict()))
    assert as_json["settings"]["calls"] == 20
    assert {r["server"] for r in as_json["runs"]} == {OURS, BARE}
    assert any("servers up" in m for m in messages)


@pytest.mark.e2e
async def test_tiny_run_over_websocket_uses_the_query_string_key() -> None:
    # Ours refuses a WebSocket handshake without a key, so zero errors here means ?api_key= was accepted.
    settings = LoadSettings(concurrency=2, calls=10, rounds=1, transports=("websocket",), warmup=1)

    report = await run_loadtest(settings)

    assert {(r.server, r.transport) for r in report.runs} == {(OURS, "websocket"), (BARE, "websocket")}
    assert all(r.errors == 0 and r.calls_per_s > 0 for r in report.runs)


@pytest.mark.e2e
def test_command_line_rejects_bad_settings_before_starting_anything() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_server.cli", "loadtest", "--transports", "carrier-pigeon"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "expected a comma-separated list of http, websocket" in done.stderr


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"concurrency": 0}, "concurrency must be between 1 and 64"),
        ({"concurrency": 65}, "concurrency must be between 1 and 64"),
        ({"concurrency": 8, "calls": 4}, "calls must be between the concurrency (8)"),
        ({"calls": 10_000_000}, "calls must be between"),
        ({"rounds": 0}, "rounds must be between 1 and 15"),
        ({"warmup": -1}, "warmup must be between 0 and 100"),
        ({"transports": ()}, "transports must be distinct names"),
        ({"transports": ("http", "http")}, "transports must be distinct names"),
        ({"transports": ("sse",)}, "transports must be distinct names"),
        ({"run_timeout_s": 0}, "run_timeout_s must be positive"),
    ],
)
def test_settings_are_bounded(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        LoadSettings(**changes)  # type: ignore[arg-type]


def test_arguments_parse_transport_lists_and_bounds() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    args = parser.parse_args(["--transports", " WebSocket,http,websocket ", "--concurrency", "3", "--calls", "30"])
    assert args.transports == ("websocket", "http")
    assert (args.concurrency, args.calls, args.rounds, args.json) == (3, 30, 3, False)
    for bad in (["--concurrency", "0"], ["--calls", "ten"], ["--rounds", "99"], ["--transports", ","]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def _run(server: str, round_: int, calls_per_s: float, p50: float, cpu: float | None = 1.0) -> RunResult:
    return RunResult(server, "http", round_, 100, 0, 100 / calls_per_s, calls_per_s, p50, p50 * 2, cpu)


def test_summary_takes_medians_and_paired_round_ratios() -> None:
    runs = [
        _run(BARE, 1, 100, 10.0),
        _run(OURS, 1, 90, 11.0),
        _run(OURS, 2, 200, 5.0),  # a fast round for both: pairing keeps it from skewing the ratio
        _run(BARE, 2, 250, 4.0),
        _run(BARE, 3, 120, 9.0, cpu=None),
        _run(OURS, 3, 132, 9.0, cpu=None),
    ]

    summary = summarise(runs, "http")

    assert summary.bare.calls_per_s == 120
    assert summary.ours.calls_per_s == 132
    assert summary.round_throughput_ratios == [0.9, 0.8, 1.1]
    assert summary.throughput_ratio == 0.9
    assert summary.meets_goal
    assert summary.p50_ratio == 1.1  # median of 1.1, 1.25 and 1.0
    assert summary.cpu_ratio == 1.0  # rounds without a CPU reading are left out
    with pytest.raises(ValueError, match="no ours runs for websocket"):
        summarise(runs, "websocket")


def test_expected_values_come_from_the_same_calculator() -> None:
    from mcp_server.loadtest import _expressions

    pairs = _expressions(50, seed=3)
    assert len({expression for expression, _ in pairs}) == 50
    assert all(evaluate(expression) == expected for expression, expected in pairs)
