"""``afbench view`` in a real headless browser: Debian's Chromium driven by Playwright (never a downloaded
browser), against the viewer served as its own process on loopback over two real smoke runs. The pages load,
the matrix links to every trial, a trial's timeline holds exactly the calls the gateway and the server's log
have, filters narrow the matrix, and two builds stand side by side on the same task, turn by turn."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from benchmark.cli import main
from benchmark.runner.run import RunOutcome
from benchmark.view.runs import Runs
from tests.benchmark.test_builds import smoke_run

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CODE_TASK = "smoke-code-team-reviews-and-tests"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunOutcome, RunOutcome]:
    """Two builds' smoke runs (made once per session, shared with test_builds), in a thread of their own:
    Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        a = pool.submit(asyncio.run, smoke_run("vanilla", tmp_path_factory.mktemp("vanilla"))).result()
        b = pool.submit(asyncio.run, smoke_run("openai_agents", tmp_path_factory.mktemp("openai_agents"))).result()
    return a, b


@pytest.fixture(scope="module")
def keys(runs: tuple[RunOutcome, RunOutcome]) -> tuple[str, str]:
    """The two runs' names in the viewer's URLs (folder names, made unique as the viewer does)."""
    first, second = Runs([runs[0].run_dir, runs[1].run_dir]).keys()
    return first, second


@pytest.fixture(scope="module")
def viewer(runs: tuple[RunOutcome, RunOutcome]) -> Iterator[str]:
    a, b = runs
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmark.cli", "view", str(a.run_dir), str(b.run_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("afbench view: http://127.0.0.1:"), line + (
            process.stderr.read() if process.stderr else ""
        )
        yield line.split()[2].rstrip("/")
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not on PATH (Debian's chromium package, which make install installs as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_the_runs_page_lists_both_runs_with_their_leaderboards(page: Page, viewer: str, keys: tuple[str, str]) -> None:
    page.goto(viewer + "/")
    for key in keys:
        expect(page.get_by_role("link", name=key, exact=True)).to_be_visible()
    assert page.locator("table.board").count() == 2


def test_the_matrix_links_to_every_trial_and_filters_narrow_it(
    page: Page, viewer: str, runs: tuple[RunOutcome, RunOutcome], keys: tuple[str, str]
) -> None:
    outcome = runs[0]
    page.goto(viewer + "/")
    page.get_by_role("link", name=keys[0], exact=True).click()
    links = page.locator("table.matrix .cell a")
    assert links.count() == len(outcome.trials)
    page.select_option("#category", "code")
    page.get_by_role("button", name="apply").click()
    assert page.locator("table.matrix tbody tr").count() == 1
    page.select_option("#outcome", "failed")
    page.get_by_role("button", name="apply").click()
    expect(page.get_by_text("No trial matches.")).to_be_visible()  # every smoke trial passed


def test_a_trials_timeline_shows_the_calls_the_gateway_and_the_server_recorded(
    page: Page, viewer: str, runs: tuple[RunOutcome, RunOutcome], keys: tuple[str, str]
) -> None:
    outcome = runs[0]
    trial = next(t for t in outcome.trials if t.task_id == CODE_TASK)
    page.goto(f"{viewer}/runs/{keys[0]}?category=code")
    page.locator("table.matrix .cell a").first.click()
    expect(page.locator("h1")).to_have_text(f"vanilla · {CODE_TASK}")
    models = page.locator("details.event.model")
    tools = page.locator("details.event.tool")
    assert models.count() == len(trial.model_calls)
    assert [tools.nth(i).get_attribute("data-tool") for i in range(tools.count())] == [c.tool for c in trial.tool_calls]
    assert page.locator(".timeline .bar.model").count() == len(trial.model_calls)
    assert page.locator(".timeline .bar.tool").count() == len(trial.tool_calls)
    models.first.locator("summary").click()
    expect(models.first).to_contain_text("You are the input guardrail")  # the system prompt the build sent
    tools.first.locator("summary").click()
    expect(tools.first).to_contain_text("year % 400")  # the tester's code, from the server's log
    expect(tools.first).to_contain_text("2 tests passed")  # the result the framework passed back


def test_two_builds_side_by_side_on_the_same_task(page: Page, viewer: str, keys: tuple[str, str]) -> None:
    page.goto(f"{viewer}/runs/{keys[0]}")
    page.select_option("#task", CODE_TASK)
    page.select_option("#a", f"{keys[0]}/vanilla")
    page.select_option("#b", f"{keys[1]}/openai_agents")
    page.get_by_role("button", name="side by side").click()
    expect(page.locator("h1")).to_have_text(f"{CODE_TASK}: vanilla vs openai_agents")
    assert page.locator(".sides").count() == 2  # the heads, then one row per turn
    assert page.locator(".sides .turn").count() == 2
    expect(page.locator(".sides").nth(1)).to_contain_text("tool · run_python")


def test_an_unknown_trial_is_a_404_page(page: Page, viewer: str) -> None:
    response = page.goto(viewer + "/runs/nope/trials/x")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")


def test_view_serves_loopback_only_and_needs_run_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["view", str(tmp_path), "--port", "0"]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert main(["view", str(tmp_path), "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "loopback only" in capsys.readouterr().err
