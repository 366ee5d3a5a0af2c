"""The leaderboard a reader sees: shared ranks when success cannot tell builds apart, the banner when every
build ties, builds that measured nothing last, a legend for every column, the versions, tooltips on every
chart point, the tool-call arguments of failures, and layouts of 2 and 11 builds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from benchmark.plugins import FRAMEWORKS
from benchmark.records import ProfileInfo, ToolCall, TrialRecord
from benchmark.report import write_reports
from benchmark.report.leaderboard import LEGEND
from benchmark.report.svg import Point, scatter_chart
from benchmark.scoring.stats import interval_ranks, wilson_interval
from tests.benchmark.test_report import make_run, trial

GPT = ProfileInfo(name="openai", backend="upstream", model="gpt-4o-mini", base_url="https://api.openai.com/v1")
ELEVEN = [*FRAMEWORKS, "agno", "smolagents", "google_adk"]  # the eight builds and three to come


def trials_of(framework: str, passed: int, total: int, **extra: Any) -> list[TrialRecord]:
    return [trial(framework, f"task{i:02d}", f"cat{i % 3}", i < passed, **extra) for i in range(total)]


def reports(run: Path) -> tuple[dict[str, Any], str, str]:
    paths = write_reports(run)
    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    return summary, paths.markdown.read_text(encoding="utf-8"), paths.html.read_text(encoding="utf-8")


def board_rows(markdown: str) -> list[list[str]]:
    """The leaderboard's rows as cells (header and rule line left out)."""
    section = markdown.split("## Leaderboard")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]


def test_interval_ranks_share_a_rank_while_intervals_overlap() -> None:
    intervals = [wilson_interval(p, 40) for p in (40, 38, 30, 12)]
    # 38/40 overlaps 40/40; 30/40 overlaps 38/40 but lies below 40/40; 12/40 lies below all three
    assert interval_ranks(intervals) == [1, 1, 2, 4]


def test_every_build_at_100_percent_shares_rank_one_under_the_scripted_banner(tmp_path: Path) -> None:
    names = ["vanilla", "langgraph", "crewai"]
    trials = [t for i, n in enumerate(names) for t in trials_of(n, 10, 10, tokens_in=3000 - 1000 * i)]
    summary, markdown, html = reports(make_run(tmp_path / "run", trials, names))
    banner = "All 3 builds tie on success. With the scripted model success checks wiring; compare the cost columns."
    assert summary["leaderboard"]["banner"] == banner
    assert f"> **{banner}**" in markdown.split("## Leaderboard")[0]  # at the top, before the table
    assert f'<p class="banner">{banner}</p>' in html.split("<h2>Leaderboard")[0]
    rows = board_rows(markdown)
    assert [r[0] for r in rows] == ["=1", "=1", "=1"]
    assert [r[1] for r in rows] == ["crewai", "langgraph", "vanilla"]  # the stated cost order: fewest input tokens
    assert "then fewer input tokens per trial, then lower wall time p50" in markdown
    assert summary["leaderboard"]["tie_break"] == ["tokens_in_mean", "wall_p50_s"]
    assert all(s["rank"] == 1 and s["tied"] for s in summary["leaderboard"]["standings"])
    assert "**1,000 / 20**" in markdown and '<td class="best">1,000 / 20</td>' in html  # the cheapest is marked


def test_a_real_model_tie_says_to_compare_costs_without_mentioning_wiring(tmp_path: Path) -> None:
    trials = trials_of("vanilla", 19, 20) + trials_of("langgraph", 20, 20)
    summary, markdown, html = reports(make_run(tmp_path / "run", trials, ["vanilla", "langgraph"], model=GPT))
    banner = "All 2 builds tie on success (within their 95% intervals). Compare the cost columns."
    assert summary["leaderboard"]["banner"] == banner and banner in markdown and banner in html
    assert "scripted" not in banner
    assert [r[:2] for r in board_rows(markdown)] == [["=1", "langgraph"], ["=1", "vanilla"]]  # success first


def test_a_build_clearly_below_ranks_second_and_there_is_no_banner(tmp_path: Path) -> None:
    # the 30 %-build sends fewest tokens: cheapness never lifts it above a build that succeeds
    trials = trials_of("vanilla", 20, 20) + trials_of("langgraph", 6, 20, tokens_in=10)
    summary, markdown, html = reports(make_run(tmp_path / "run", trials, ["langgraph", "vanilla"]))
    assert [r[:2] for r in board_rows(markdown)] == [["1", "vanilla"], ["2", "langgraph"]]
    assert summary["leaderboard"]["banner"] is None and 'class="banner"' not in html and "> **" not in markdown


def test_builds_that_pass_nothing_are_not_ordered_by_their_cheapness(tmp_path: Path) -> None:
    names = ["vanilla", "crewai", "autogen"]
    crash = [t for i, n in enumerate(names) for t in trials_of(n, 0, 10, tokens_in=100 * (3 - i))]
    summary, markdown, _ = reports(make_run(tmp_path / "none", crash, names))
    assert [r[1] for r in board_rows(markdown)] == ["autogen", "crewai", "vanilla"]  # by name, not tokens
    assert summary["leaderboard"]["banner"].startswith("No build passed a trial")
    assert "compare the cost columns" not in markdown

    # beside a build that passes, a build crashing on its first call (fewest tokens) ranks below it
    mixed = trials_of("vanilla", 9, 10, tokens_in=5000) + trials_of("crewai", 0, 10, tokens_in=50)
    _, markdown, _ = reports(make_run(tmp_path / "mixed", mixed, ["crewai", "vanilla"]))
    assert [r[:2] for r in board_rows(markdown)] == [["1", "vanilla"], ["2", "crewai"]]

    # alone, a build that passed nothing is first only by default, and the banner says so
    alone = trials_of("vanilla", 0, 3) + trials_of("crewai", 0, 2, status="infra_error")
    summary, _, _ = reports(make_run(tmp_path / "alone", alone, ["crewai", "vanilla"]))
    assert summary["leaderboard"]["banner"].startswith("No build passed a trial")
    assert summary["leaderboard"]["banner"].endswith("Not ranked (no completed trial): crewai.")


def test_a_build_with_only_infrastructure_errors_ranks_last_without_measurements(tmp_path: Path) -> None:
    trials = trials_of("vanilla", 10, 10) + trials_of("langgraph", 0, 4, status="infra_error")
    summary, markdown, html = reports(make_run(tmp_path / "run", trials, ["langgraph", "vanilla"]))
    rows = board_rows(markdown)
    assert rows[-1][:3] == ["–", "langgraph", "no completed trial"] and rows[0][:2] == ["1", "vanilla"]
    assert summary["leaderboard"]["standings"][-1] == {"framework": "langgraph", "rank": None, "tied": False}
    assert "Not plotted (no completed trial): langgraph." in html
    strip = html.split('aria-label="Wall time per trial"')[1].split("</svg>")[0]
    assert ">langgraph<" in strip and "no completed trials" in strip
    assert '<tr class="unranked"><td>–</td><td>langgraph</td>' in html


def test_every_trial_an_infrastructure_error_gives_a_note_instead_of_empty_charts(tmp_path: Path) -> None:
    trials = trials_of("vanilla", 0, 3, status="infra_error") + trials_of("langgraph", 0, 3, status="infra_error")
    summary, markdown, html = reports(make_run(tmp_path / "run", trials, ["vanilla", "langgraph"]))
    assert summary["leaderboard"]["banner"].startswith("No build completed a trial: every trial hit an infra")
    assert "No charts: no trial completed (every trial hit an infrastructure error)" in html
    assert "<svg" not in html
    assert [r[0] for r in board_rows(markdown)] == ["–", "–"]


@pytest.mark.parametrize("priced", [False, True])
def test_the_legend_explains_every_column_in_markdown_and_html(tmp_path: Path, priced: bool) -> None:
    extra = {"cost_usd": 0.002} if priced else {}
    trials = [
        trial(name, "calc", "calculator", True, repeat=r, **extra) for name in ("vanilla", "langgraph") for r in (1, 2)
    ]
    model = GPT if priced else ProfileInfo(name="scripted", backend="scripted", model="afbench-scripted")
    _, markdown, html = reports(make_run(tmp_path / "run", trials, ["vanilla", "langgraph"], repeats=2, model=model))
    header = markdown.split("## Leaderboard")[1].split("\n|---")[0].splitlines()[-1]
    columns = [c.strip() for c in header.strip("|").split(" | ")]
    assert "pass^2" in columns and ("Cost/trial" in columns) == priced
    for column in columns:
        text = LEGEND["pass^k" if column.startswith("pass^") else column]
        assert f"- **{column}**: {text}" in markdown
        assert f"<li><b>{column}</b>: {text.replace(chr(39), '&#x27;')}</li>" in html


def test_html_shows_each_builds_package_versions(tmp_path: Path) -> None:
    versions = {
        "python": "3.11.7",
        "mcp": "1.30.0",
        "frameworks": {"vanilla": {"openai": "2.54.0"}, "crewai": {"crewai": "1.15.30", "crewai-tools": None}},
    }
    trials = trials_of("vanilla", 1, 1) + trials_of("crewai", 1, 1)
    _, markdown, html = reports(make_run(tmp_path / "run", trials, ["vanilla", "crewai"], versions=versions))
    assert "python 3.11.7, mcp 1.30.0" in html
    assert "<td>vanilla</td><td>openai 2.54.0</td>" in html and "<td>crewai</td><td>crewai 1.15.30</td>" in html
    assert "crewai-tools" not in html  # not installed: no version to show
    assert "| crewai | crewai 1.15.30 |" in markdown


def test_every_chart_point_has_a_tooltip_naming_its_trial(tmp_path: Path) -> None:
    trials = [trial("vanilla", "calc-sum", "calculator", True, wall_s=1.25), trial("vanilla", "sql-top", "sql", False)]
    _, _, html = reports(make_run(tmp_path / "run", trials + trials_of("langgraph", 2, 2), ["vanilla", "langgraph"]))
    circles = re.findall(r"<circle [^>]*>(.*?)</circle>", html)
    assert len(circles) == 2 + 4  # a point per build, a dot per trial
    assert all(c.startswith("<title>") for c in circles)
    assert "<title>vanilla.calc-sum.r1: task calc-sum, vanilla, 1.250 s, passed</title>" in html
    assert "<title>vanilla.sql-top.r1: task sql-top, vanilla, 1.500 s, failed</title>" in html
    assert "<title>vanilla: success 50.0% (1/2), 1,000 input tokens per trial (mean of 2 completed trials)" in html
    heat = html.split('aria-label="Success by category"')[1].split("</svg>")[0]
    assert heat.count("<rect") == heat.count("<title>") - 1  # every cell but the chart's own title


def test_failure_lines_carry_the_arguments_sent(tmp_path: Path) -> None:
    long_sql = "SELECT name, total FROM invoices WHERE " + " OR ".join(f"id = {i}" for i in range(40))
    calls = [
        ToolCall(
            turn=0,
            tool="sql_query",
            arguments={"sql": long_sql, "limit": 5},
            outcome="error",
            error_code="invalid_argument",
        ),
        ToolCall(turn=0, tool="calculator", arguments={"expression": "15% of 240"}, outcome="ok"),
    ]
    trials = [
        trial(
            "vanilla",
            "sql",
            "sql",
            False,
            tool_calls=calls,
            asked=["transfer_to_operational_agent", "sql_query"],
            asked_arguments=[{}, {"sql": "DROP TABLE invoices"}],  # what the model wrote, whatever reached the server
        ),
        trial("langgraph", "sql", "sql", False),
    ]
    summary, markdown, html = reports(make_run(tmp_path / "run", trials, ["vanilla", "langgraph"]))
    failure = next(f for f in summary["failures"] if f["framework"] == "vanilla")
    assert failure["tool_calls"][0]["arguments"]["sql"] == long_sql  # whole in summary.json, cut in the reports
    shown = 'turn 1 sql_query(sql="SELECT name, total FROM invoices WHERE id = 0 OR id = 1 OR id = 2 OR id = 3 OR…'
    for text in (markdown, html.replace("&quot;", '"')):
        assert shown + ", limit=5) → invalid_argument" in text
        assert 'turn 1 calculator(expression="15% of 240")' in text
        assert "model asked for: " in text and "turn 1 transfer_to_operational_agent()" in text
        assert 'turn 1 sql_query(sql="DROP TABLE invoices")' in text
        assert "tool calls sent: none reached the MCP server" in text  # langgraph's trial called nothing
    assert long_sql not in markdown and long_sql not in html


@pytest.mark.parametrize("count", [2, 11])
def test_every_build_appears_in_every_table_and_chart(tmp_path: Path, count: int) -> None:
    names = ELEVEN[:count]
    versions = {"python": "3.11.7", "frameworks": {n: {f"{n}-pkg": "1.0"} for n in names}}
    trials = [t for i, n in enumerate(names) for t in trials_of(n, 6, 6, tokens_in=7000 + 37 * i)]
    summary, markdown, html = reports(make_run(tmp_path / "run", trials, names, versions=versions))
    assert sorted(r[1] for r in board_rows(markdown)) == sorted(names)
    categories = markdown.split("## Success by category")[1].split("\n## ")[0]
    assert all(f"| {n} | 2/2 (100%) |" in categories for n in names)
    charts = {
        label: html.split(f'aria-label="{label}"')[1].split("</svg>")[0]
        for label in ("Success rate against input tokens per trial", "Wall time per trial", "Success by category")
    }
    for name in names:
        assert all(f">{name}<" in svg for svg in charts.values()), name
        assert f"<td>{name}</td><td>{name}-pkg 1.0</td>" in html
        scatter = charts["Success rate against input tokens per trial"]
        assert re.search(rf"<circle [^>]*><title>{name}: success 100\.0%", scatter)  # its point, with a tooltip
    colours = set(re.findall(r'<circle [^>]*fill="(#\w+)"', charts["Success rate against input tokens per trial"]))
    assert len(colours) == count  # a colour of its own for each build
    assert summary["leaderboard"]["banner"].startswith(f"All {count} builds tie on success.")
    assert html.count("<svg") == 3 and "</html>" in html


def test_scatter_labels_of_eleven_tied_builds_neither_overlap_nor_cross_leader_lines() -> None:
    points = [Point(name, 7000.0 + 90 * i, 1.0, name, "#2563eb") for i, name in enumerate(ELEVEN)]
    svg = scatter_chart(points, title="t", x_label="tokens", y_label="success")
    labels = [
        (float(m.group(1)), float(m.group(2)), m.group(3))
        for m in re.finditer(r'<text x="([\d.]+)" y="([\d.]+)" fill="#\w+"[^>]*>(\w+)<', svg)
    ]
    assert sorted(t for _, _, t in labels) == sorted(ELEVEN)
    boxes = [(x, x + 6.2 * len(text), y - 10, y + 3) for x, y, text in labels]  # 11 px text, as drawn
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]), (a, b)
    leaders = [
        tuple(float(v) for v in m.groups())
        for m in re.finditer(r'<line x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)" stroke="#2563eb"', svg)
    ]
    assert leaders  # labels moved down say whose they are
    for x1, y1, x2, y2 in leaders:
        own = min(boxes, key=lambda b: abs(b[0] - x2 - 1) + abs(b[3] - y2 - 7))  # the label this line leads to
        for box in boxes:
            if box is not own:
                assert not (box[0] < max(x1, x2) and min(x1, x2) < box[1] and box[2] < y2 and y1 < box[3]), box
