"""End to end: the official MCP conformance suite runs every server scenario against ``afbench serve``.

The suite is the npm package ``@modelcontextprotocol/conformance``, pinned to an exact version in
``package.json`` / ``package-lock.json`` together with the Node 22 runtime it needs (the npm package ``node``,
which installs its binary as ``node_modules/node/bin/node``). ``make install`` installs both with ``npm ci``; the
test runs the suite's CLI with that binary, never the system node, and never fetches anything. Without the
install the test skips and says why.

The suite connects as a client to ``afbench serve --transport http --no-auth`` (its scenarios send no API key)
and runs ``--suite all``: the active scenarios and the pending ones. It writes one ``checks.json`` per scenario
into a temporary folder; a scenario fails when any of its checks is a FAILURE or a WARNING, the rule the
suite's own ``--expected-failures`` check applies. ``conformance_baseline.yml`` lists the scenarios expected
to fail, each with its reason; the test fails on a scenario that fails without an entry and on an entry whose
scenario passes. Two scenarios call a fixture tool we do not serve yet pass on our unknown-tool error result;
the baseline's ``false_passes`` exempts them (see there).

By hand, from the repository root, with a server running (``afbench serve --transport http --no-auth``)::

    node_modules/node/bin/node node_modules/@modelcontextprotocol/conformance/dist/index.js \\
        server --url http://127.0.0.1:PORT/mcp --suite all \\
        --expected-failures tests/mcp_server/conformance_baseline.yml

(``list --server`` lists the scenarios, ``--scenario NAME`` runs one, ``-o DIR`` keeps the ``checks.json`` files.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import http_server

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules" / "node" / "bin" / "node"
SUITE_PACKAGE = ROOT / "node_modules" / "@modelcontextprotocol" / "conformance"
SUITE = SUITE_PACKAGE / "dist" / "index.js"
SUITE_VERSION = "0.1.16"
NODE_VERSION = "22.23.3"
BASELINE = Path(__file__).with_name("conformance_baseline.yml")
REASON_KINDS = ("fixture: ", "capability: ")
TIMEOUT_S = 300
# The suite names each result folder server-<scenario>-<ISO time with ':' and '.' turned into '-'>.
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
_LISTED = re.compile(r"^\s+- (?P<scenario>\S+)")


def _skip_reason() -> str | None:
    if not NODE.exists():
        return f"Node 22 (npm package 'node') not installed at {NODE}; run `make install` (it runs `npm ci`)"
    if not SUITE.exists():
        return f"MCP conformance suite not installed at {SUITE_PACKAGE}; run `make install` (it runs `npm ci`)"
    return None


# Skipped on a developer's machine without `make install`; in CI (CI=true) a missing suite is a failure, since
# `make install` must have installed it.
needs_suite = pytest.mark.skipif(_skip_reason() is not None and not os.environ.get("CI"), reason=_skip_reason() or "")


@dataclass
class Baseline:
    expected_failures: list[str]
    false_passes: list[str]
    reasons: dict[str, str]


@dataclass
class Conformance:
    """One run of the whole suite: the scenarios it lists and, per scenario it ran, its checks."""

    scenarios: list[str]
    checks: dict[str, list[dict[str, Any]]] = field(repr=False)
    output: str = field(repr=False)

    def failed(self, scenario: str) -> bool:
        return scenario not in self.checks or any(
            check["status"] in ("FAILURE", "WARNING") for check in self.checks[scenario]
        )

    def explain(self, scenario: str) -> str:
        if scenario not in self.checks:
            return f"{scenario}: no results (the suite could not run it)"
        bad = [check for check in self.checks[scenario] if check["status"] in ("FAILURE", "WARNING")]
        found = "; ".join(
            f"{check['status']} {check['id']}: {check.get('errorMessage') or check['description']}" for check in bad
        )
        return f"{scenario}: {found or 'passed'}"


def load_baseline() -> Baseline:
    data = yaml.safe_load(BASELINE.read_text())
    return Baseline(list(data["server"]), list(data["false_passes"]), dict(data["reasons"]))


def suite(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """One conformance CLI invocation with the pinned Node 22."""
    command = [str(NODE), str(SUITE), *args]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "CI": "true", "NO_COLOR": "1"}
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=cwd, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"conformance suite did not finish in {TIMEOUT_S} s: {' '.join(command)}\n{exc.stdout!r}")


@pytest.fixture(scope="module")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conformance]:
    missing = _skip_reason()
    if missing is not None:
        pytest.fail(missing)
    folder = tmp_path_factory.mktemp("conformance")
    listed = suite("list", "--server", cwd=folder)
    assert listed.returncode == 0, listed.stderr
    scenarios = [m["scenario"] for line in listed.stdout.splitlines() if (m := _LISTED.match(line))]
    assert "server-initialize" in scenarios, listed.stdout
    results = folder / "results"
    with http_server(folder / "sessions.sqlite", "--no-auth") as server:
        run = suite("server", "--url", server.mcp_url, "--suite", "all", "--output-dir", str(results), cwd=folder)
        server_log = "".join(server.log)
    # Whatever the suite sends, the server logs no traceback (the SDK's own included).
    assert "Traceback" not in server_log, server_log[-3000:]
    output = run.stdout + run.stderr
    # Exit 1 only means some scenario failed; anything else is the suite itself breaking.
    assert run.returncode in (0, 1), output
    checks: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(results.glob("server-*/checks.json")):
        match = _RESULT_DIR.match(path.parent.name)
        assert match, f"unexpected result folder {path.parent.name}"
        checks[match["scenario"]] = json.loads(path.read_text())
    yield Conformance(scenarios, checks, output)


def test_every_baseline_entry_has_a_one_line_reason_of_an_allowed_kind() -> None:
    baseline = load_baseline()
    entries = baseline.expected_failures + baseline.false_passes

    assert len(entries) == len(set(entries)), "a scenario is listed twice"
    assert set(baseline.reasons) == set(entries), "every entry, and only an entry, has a reason"
    for scenario, reason in baseline.reasons.items():
        assert reason.startswith(REASON_KINDS) and "\n" not in reason, f"{scenario}: {reason!r}"


@pytest.mark.e2e
@needs_suite
def test_installed_suite_and_node_are_the_pinned_versions(tmp_path: Path) -> None:
    if (missing := _skip_reason()) is not None:
        pytest.fail(missing)
    node = subprocess.run([str(NODE), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert node.stdout.strip() == f"v{NODE_VERSION}"
    assert suite("--version", cwd=tmp_path).stdout.strip() == SUITE_VERSION
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    assert (pinned["@modelcontextprotocol/conformance"], pinned["node"]) == (SUITE_VERSION, NODE_VERSION)


@pytest.mark.e2e
@needs_suite
def test_every_scenario_passes_except_the_baseline(conformance: Conformance) -> None:
    baseline = load_baseline()
    exempt = set(baseline.expected_failures) | set(baseline.false_passes)

    unexpected = [s for s in conformance.scenarios if conformance.failed(s) and s not in exempt]

    assert not unexpected, "scenarios failing without a baseline entry (defects to fix):\n" + "\n".join(
        conformance.explain(s) for s in unexpected
    )
    assert set(conformance.checks) <= set(conformance.scenarios), conformance.output


@pytest.mark.e2e
@needs_suite
def test_every_baseline_entry_still_fails(conformance: Conformance) -> None:
    baseline = load_baseline()

    unknown = [s for s in baseline.expected_failures + baseline.false_passes if s not in conformance.scenarios]
    stale = [s for s in baseline.expected_failures if s in conformance.scenarios and not conformance.failed(s)]

    assert not unknown, f"baseline entries that are no scenario of conformance {SUITE_VERSION}: {unknown}"
    assert not stale, f"baseline entries that now pass; remove them from {BASELINE.name}: {stale}"


@pytest.mark.e2e
@needs_suite
def test_false_passes_pass_only_on_our_unknown_tool_error(conformance: Conformance) -> None:
    # Such a scenario may pass or fail; a pass must come from our error result for its missing fixture tool.
    # Once the server answers the scenario for real, the entry belongs to neither list.
    for scenario in load_baseline().false_passes:
        if conformance.failed(scenario):
            continue
        results = [check.get("details", {}).get("result", {}) for check in conformance.checks[scenario]]
        assert any(
            result.get("isError") is True and "unknown_tool" in json.dumps(result.get("content")) for result in results
        ), f"{scenario} passes for real; remove it from false_passes: {conformance.checks[scenario]}"
