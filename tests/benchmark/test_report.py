"""Reports from a handmade run directory: summary.json, report.md, a self-contained report.html, the
``afbench report`` rebuild and ``afbench compare``."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from benchmark.cli import main
from benchmark.records import (
    RESULTS_FILE,
    CheckResult,
    ModelCall,
    ProfileInfo,
    RunInfo,
    TrialRecord,
    TrialScore,
    TurnScore,
    WorkerInfo,
    append_trial,
    write_run_info,
)
from benchmark.report import compare_runs, write_reports
from benchmark.report.svg import Point, scatter_chart

INJECTION = '<script>alert("x")</script><img src="https://evil.example/x.png">'


def trial(framework: str, task_id: str, category: str, passed: bool, **extra: Any) -> TrialRecord:
    repeat = extra.pop("repeat", 1)
    status = extra.pop("status", "completed")
    reason = extra.pop("reason", None if passed else "turn 1: routed to legal_expert, expected operational_agent")
    tokens = extra.pop("tokens_in", 1000)
    asked = extra.pop("asked", [])  # tools the model asked for, on its first call
    asked_arguments = extra.pop("asked_arguments", [])  # and what it passed them
    turn = TurnScore(
        index=0,
        route_expected="operational_agent",
        route_actual="operational_agent" if passed else "legal_expert",
        route_ok=passed,
        answer_checks=[CheckResult(kind="number", expected="36", ok=passed)],
        calls_expected=1,
        calls_actual=1,
        calls_matched=int(passed),
        passed=passed,
    )
    calls = [
        ModelCall(
            sequence=i + 1,
            turn=0,
            started_at=0,
            latency_s=0.1,
            input_tokens=tokens // 2,
            output_tokens=10,
            tokens_source="counted",
            tool_calls=asked if i == 0 else [],
            tool_arguments=asked_arguments if i == 0 else [],
            status=200,
        )
        for i in range(2)
    ]
    return TrialRecord(
        trial_id=f"{framework}.{task_id}.r{repeat}",
        framework=framework,
        task_id=task_id,
        category=category,
        repeat=repeat,
        status=status,
        infra_error="timeout: no result within 5 s (worker killed)" if status == "infra_error" else None,
        started_at=1_700_000_000.0,
        wall_s=extra.pop("wall_s", 1.5),
        model_calls=calls if status == "completed" else [],
        score=TrialScore(passed=passed, reason=reason, turns=[turn]) if status == "completed" else None,
        tokens_in=tokens if status == "completed" else 0,
        tokens_out=20 if status == "completed" else 0,
        tokens_source="counted",
        model_time_s=0.2,
        tool_time_s=0.3,
        overhead_s=1.0,
        cost_usd=extra.pop("cost_usd", None),
        worker=WorkerInfo(pid=hash(framework) % 10_000, import_s=0.5, peak_rss_mb=120.0),
        **extra,
    )


SCRIPTED = ProfileInfo(name="scripted", backend="scripted", model="afbench-scripted")


def make_run(
    run_dir: Path,
    trials: list[TrialRecord],
    frameworks: list[str],
    repeats: int = 1,
    model: ProfileInfo = SCRIPTED,
    versions: dict[str, Any] | None = None,
) -> Path:
    run_dir.mkdir(parents=True)
    write_run_info(
        run_dir,
        RunInfo(
            run_id=run_dir.name,
            created_at="2025-01-01T00:00:00+00:00",
            suite="handmade",
            suite_file="suite.yaml",
            frameworks=frameworks,
            model=model,
            repeats=repeats,
            concurrency=1,
            timeout_s=5,
            versions=versions or {"python": "3.11", "mcp": "1.26.0", "frameworks": {"vanilla": {"openai": "1.0"}}},
            machine={"cores": 2, "platform": "test"},
            loc={"vanilla": 131, "langgraph": 90},
            setup={"vanilla": {"distributions": 31, "size_mb": 39.4, "install_s": 0.42}},
        ),
    )
    for record in trials:
        append_trial(run_dir / RESULTS_FILE, record)
    return run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    trials = [
        trial("vanilla", "calc", "calculator", True, wall_s=1.0),
        trial("vanilla", "sql", "sql", True, wall_s=2.0),
        trial("vanilla", "rag", "rag", False, wall_s=3.0, reason=f"turn 1: answer check contains {INJECTION!r} failed"),
        trial("vanilla", "hang", "rag", False, status="infra_error"),
        trial("langgraph", "calc", "calculator", True, tokens_in=3000),
        trial("langgraph", "sql", "sql", False, tokens_in=3000),
        trial("langgraph", "rag", "rag", False, tokens_in=3000),
    ]
    return make_run(tmp_path / "run-a", trials, ["vanilla", "langgraph"])


def test_summary_json_holds_the_metrics_and_the_run(run_dir: Path) -> None:
    paths = write_reports(run_dir)
    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    vanilla = summary["frameworks"]["vanilla"]
    assert (vanilla["trials"], vanilla["passed"], vanilla["infra_errors"]) == (3, 2, 1)
    assert vanilla["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert vanilla["tokens_in_mean"] == 1000 and vanilla["model_calls_mean"] == 2 and vanilla["wall_p50_s"] == 2.0
    assert vanilla["trials_total"] == 4
    rag = vanilla["categories"]["rag"]
    assert vanilla["loc"] == 131 and (rag["trials"], rag["passed"], rag["success_rate"]) == (1, 0, 0.0)
    assert rag["success_ci95"][0] == 0.0 and rag["success_ci95"][1] == pytest.approx(0.7935, abs=1e-4)
    assert summary["frameworks"]["langgraph"]["success_rate"] == pytest.approx(1 / 3, abs=1e-4)
    run = summary["run"]
    assert run["suite"] == "handmade" and run["model"]["name"] == "scripted" and run["repeats"] == 1
    assert run["versions"]["mcp"] == "1.26.0" and run["machine"]["cores"] == 2
    assert [e["trial_id"] for e in summary["infra_errors"]] == ["vanilla.hang.r1"]
    assert {f["trial_id"] for f in summary["failures"]} == {"vanilla.rag.r1", "langgraph.sql.r1", "langgraph.rag.r1"}


def test_markdown_has_the_leaderboard_categories_and_failure_reasons(run_dir: Path) -> None:
    text = write_reports(run_dir).markdown.read_text(encoding="utf-8")
    leaderboard = text.split("## Leaderboard")[1].split("##")[0]
    # 2/3 and 1/3 cannot be told apart on three trials: a shared rank, higher success first
    assert leaderboard.index("| =1 | vanilla |") < leaderboard.index("| =1 | langgraph |")
    assert "66.7% (2/3)" in leaderboard and "131" in leaderboard
    assert "pass^" not in leaderboard and "Cost/trial" not in leaderboard  # one repeat, no prices: no columns
    categories = text.split("## Success by category")[1].split("##")[0]
    assert "| Framework | calculator | rag | sql |" in categories
    assert "| langgraph | 1/1 (100%) | 0/1 (0%) | 0/1 (0%) |" in categories
    assert "`langgraph.sql.r1` (sql): turn 1: routed to legal_expert, expected operational_agent" in text
    assert "## Infrastructure errors (1)" in text and "timeout: no result within 5 s" in text


def test_both_reports_show_each_builds_versions_and_setup_cost(run_dir: Path) -> None:
    paths = write_reports(run_dir)
    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    assert summary["run"]["setup"]["vanilla"] == {"distributions": 31, "size_mb": 39.4, "install_s": 0.42}
    markdown = paths.markdown.read_text(encoding="utf-8").split("## Versions and setup cost")[1].split("##")[0]
    assert "| Framework | Packages | Distributions | Env size | Install |" in markdown
    assert "| vanilla | openai 1.0 | 31 | 39 MB | 0.4 s |" in markdown
    assert "| langgraph | – | – | – | – |" in markdown  # nothing recorded for it: dashes, not zeros
    html = paths.html.read_text(encoding="utf-8").split("Versions and setup cost")[1]
    assert all(f"<td>{cell}</td>" in html for cell in ("openai 1.0", "31", "39 MB", "0.4 s"))
    assert "warm package cache" in html


def test_html_is_self_contained_with_charts_and_escaped_text(run_dir: Path) -> None:
    html = write_reports(run_dir).html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html, re.IGNORECASE)
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    assert html.count("<svg") == 3  # success vs tokens, latency per framework, category heat map
    assert "Success rate against input tokens per trial" in html and "Wall time per trial" in html
    assert "Success by category" in html and "hsl(" in html  # heat-map cells are coloured
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.count("<circle") >= 2 + 3  # one point per framework, one dot per completed trial of each


def test_report_command_rebuilds_from_results(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_reports(run_dir)
    for name in ("summary.json", "report.md", "report.html"):
        (run_dir / name).unlink()
    append_trial(run_dir / RESULTS_FILE, trial("langgraph", "extra", "sql", True))
    with (run_dir / RESULTS_FILE).open("a", encoding="utf-8") as handle:
        handle.write('{"trial_id": "cut-off-by-a-cra')  # an unfinished line is no trial
    assert main(["report", str(run_dir)]) == 0
    assert str(run_dir / "report.html") in capsys.readouterr().out
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["frameworks"]["langgraph"]["trials"] == 4 and summary["totals"]["trials"] == 8
    assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file()


def test_report_command_on_a_directory_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "run.json is missing" in capsys.readouterr().err


def test_cost_appears_when_the_profile_has_prices(tmp_path: Path) -> None:
    trials = [trial("vanilla", "calc", "calculator", True, cost_usd=0.0012)]
    run = make_run(tmp_path / "priced", trials, ["vanilla"])
    summary = json.loads(write_reports(run).summary.read_text(encoding="utf-8"))
    assert summary["frameworks"]["vanilla"]["cost_mean_usd"] == 0.0012 and summary["totals"]["cost_usd"] == 0.0012
    assert "$0.0012" in (run / "report.md").read_text(encoding="utf-8")
    assert "Cost/trial" in (run / "report.md").read_text(encoding="utf-8")


def test_pass_k_is_reported_with_repeats(tmp_path: Path) -> None:
    trials = [
        trial("vanilla", "calc", "calculator", True, repeat=1),
        trial("vanilla", "calc", "calculator", True, repeat=2),
        trial("vanilla", "sql", "sql", True, repeat=1),
        trial("vanilla", "sql", "sql", False, repeat=2),
    ]
    run = make_run(tmp_path / "repeats", trials, ["vanilla"], repeats=2)
    summary = json.loads(write_reports(run).summary.read_text(encoding="utf-8"))
    assert summary["frameworks"]["vanilla"]["pass_k"] == {"k": 2, "value": 0.5, "tasks": 2}
    assert "pass^2" in (run / "report.md").read_text(encoding="utf-8")


def test_compare_lists_flips_and_deltas(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    later = [
        trial("vanilla", "calc", "calculator", False, tokens_in=1500),  # pass → fail
        trial("vanilla", "sql", "sql", True, tokens_in=1500),
        trial("vanilla", "rag", "rag", True, tokens_in=1500),  # fail → pass
        trial("vanilla", "hang", "rag", True, tokens_in=1500),  # infra error before: not paired
        trial("crewai", "calc", "calculator", True),
    ]
    run_b = make_run(tmp_path / "run-b", later, ["vanilla", "crewai"])
    comparison = compare_runs(run_dir, run_b)
    vanilla = next(d for d in comparison.frameworks if d.framework == "vanilla")
    assert vanilla.pass_to_fail == ["calc"] and vanilla.fail_to_pass == ["rag"]
    assert vanilla.paired_tasks == 3 and vanilla.only_in_b == ["hang"]
    assert vanilla.success_delta == pytest.approx(0.75 - 2 / 3, abs=1e-6)
    assert vanilla.tokens_in_delta == 500
    assert comparison.only_in_a == ["langgraph"] and comparison.only_in_b == ["crewai"]

    assert main(["compare", str(run_dir), str(run_b)]) == 0
    text = capsys.readouterr().out
    assert "pass → fail (1): calc" in text and "fail → pass (1): rag" in text and "+8.3 pp" in text
    assert main(["compare", str(run_dir), str(run_b), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["frameworks"][0]["framework"] == "vanilla"


def test_compare_refuses_a_directory_that_is_not_a_run(run_dir: Path, tmp_path: Path) -> None:
    assert main(["compare", str(run_dir), str(tmp_path / "missing")]) == 2


def test_scatter_labels_of_equal_results_do_not_overlap() -> None:
    points = [
        Point(name, 7000.0 + offset, 1.0, name, "#2563eb")
        for name, offset in (("crewai", 0), ("vanilla", 40), ("langgraph", 80))
    ]
    svg = scatter_chart(points, title="t", x_label="tokens", y_label="success")
    labels = {
        m.group(2): float(m.group(1))
        for m in re.finditer(r'<text x="[\d.]+" y="([\d.]+)" fill="#\w+"[^>]*>(\w+)<', svg)
    }
    assert set(labels) == {"crewai", "vanilla", "langgraph"}
    ys = sorted(labels.values())
    assert all(b - a >= 13 for a, b in itertools.pairwise(ys))  # one text line apart at least
    assert svg.count("<line") > 0 and ">100%<" in svg and ">90%<" in svg  # y zoomed to 90–100 %
