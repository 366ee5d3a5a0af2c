"""The resilience suite without running builds: the loader expanding ``base:`` entries (and its errors), the
bundled suite's coverage, the fault plan the runner writes for the MCP server, the classification of a faulted
trial into every outcome class, and the reports' resilience columns, matrix and section from handmade records."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
import yaml

from benchmark.records import ModelCall, Resilience, ToolCall, TrialRecord, TurnOutcome
from benchmark.report import compare_runs, render_comparison, write_reports
from benchmark.runner.plan import plan_trials, tool_faults, write_fault_plan
from benchmark.scoring.resilience import (
    COULD_NOT,
    OUTCOMES,
    classify,
    outcome_matrix,
    resilience_of,
    resilience_stats,
    says_could_not,
)
from benchmark.scoring.trial import score_trial
from benchmark.tasks import Suite, SuiteError, load_suite, suite_yaml
from benchmark.tasks.loader import TASKS_DIR
from benchmark.tasks.models import AnswerCheck, ModelFaultKind, Task
from mcp_server.faults import ToolFaultKind, load_plan
from tests.benchmark.suites import CALCULATOR_TASK, suite_text
from tests.benchmark.test_report import make_run, trial


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def suite_with(tmp_path: Path, entries: str) -> Path:
    write(tmp_path / "base.yaml", suite_text("base", CALCULATOR_TASK))
    return write(tmp_path / "faults.yaml", "name: faults\nbase_suite: base.yaml\ntasks:" + entries)


# --- the loader ---------------------------------------------------------------------------------------------


def test_a_base_entry_is_the_base_task_with_its_own_id_and_fault(tmp_path: Path) -> None:
    path = suite_with(
        tmp_path,
        """
  - id: fault-calculator-unavailable
    base: calculator-percent
    fault:
      tool: {kind: tool_unavailable, tool: calculator, times: 3}
      expect: graceful
  - id: fault-calculator-garbled
    base: calculator-percent
    category: model-fault
    description: Broken JSON arguments.
    fault:
      model: {kind: malformed_arguments}
      expect: recovered
""",
    )
    suite = load_suite(path)
    base = load_suite(tmp_path / "base.yaml").tasks[0]
    unavailable, garbled = suite.tasks
    assert unavailable.id == "fault-calculator-unavailable" and unavailable.turns == base.turns
    assert unavailable.category == "calculator" and unavailable.description == base.description
    assert unavailable.fault is not None and unavailable.fault.tool is not None
    assert (unavailable.fault.tool.kind, unavailable.fault.tool.times, unavailable.fault.expect) == (
        "tool_unavailable",
        3,
        "graceful",
    )
    assert garbled.category == "model-fault" and garbled.description == "Broken JSON arguments."
    # The run directory's copy is written out in full and reads back to the same suite, with no base left.
    copied = suite_yaml(suite)
    assert "base" not in yaml.safe_load(copied)["tasks"][0]
    assert Suite.model_validate(yaml.safe_load(copied)) == suite


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "base: calculator-percnt\n    fault: {model: {kind: empty_reply}, expect: recovered}",
            r"task 'fault-x', field base: no task 'calculator-percnt' in .*base\.yaml; did you mean calculator-percent",
        ),
        ("base: calculator-percent", r"task 'fault-x', field fault: Field required"),
        (
            "base: calculator-percent\n    turns: []\n    fault: {model: {kind: empty_reply}, expect: recovered}",
            r"task 'fault-x', field turns: Extra inputs are not permitted",
        ),
        (
            "base: calculator-percent\n    fault: {model: {kind: disallowed_tool, tool: calculator},"
            " expect: recovered}",
            r"task 'fault-x', field fault.model.tool: 'calculator' is on the allow-list of operational_agent",
        ),
        (
            "base: calculator-percent\n    fault: {model: {kind: disallowed_tool}, expect: recovered}",
            r"disallowed_tool needs the MCP tool",
        ),
        (
            "base: calculator-percent\n    fault: {model: {kind: disallowed_tool, tool: shell}, expect: recovered}",
            r"'shell' is not an MCP tool",
        ),
        (
            "base: calculator-percent\n    fault: {tool: {kind: tool_timeout, tool: weather}, expect: recovered}",
            r"field fault.tool.tool: no turn's script calls 'weather' \(it calls calculator\)",
        ),
        (
            "base: calculator-percent\n    fault: {model: {kind: empty_reply}, tool: {kind: tool_timeout},"
            " expect: recovered}",
            r"exactly one of `model`, `tool`",
        ),
    ],
)
def test_bad_base_entries_name_the_task_and_the_field(tmp_path: Path, entry: str, message: str) -> None:
    path = suite_with(tmp_path, f"\n  - id: fault-x\n    {entry}\n")
    with pytest.raises(SuiteError, match=message):
        load_suite(path)


def test_a_base_suite_that_is_missing_or_names_itself_is_an_error(tmp_path: Path) -> None:
    entry = (
        "\n  - id: fault-x\n    base: calculator-percent\n    fault: {model: {kind: empty_reply}, expect: recovered}\n"
    )
    missing = write(tmp_path / "a.yaml", "name: a\nbase_suite: nowhere.yaml\ntasks:" + entry)
    with pytest.raises(SuiteError, match=r"nowhere\.yaml: no such suite file"):
        load_suite(missing)
    itself = write(tmp_path / "b.yaml", "name: b\nbase_suite: b.yaml\ntasks:" + entry)
    with pytest.raises(SuiteError, match=r"field base_suite: the suites name each other as base"):
        load_suite(itself)


def test_the_bundled_suite_covers_every_fault_kind_on_cores_tasks() -> None:
    suite = load_suite("resilience")
    core = {task.id: task for task in load_suite("core").tasks}
    kinds = {(t.fault.model or t.fault.tool).kind for t in suite.tasks if t.fault}  # type: ignore[union-attr]
    assert kinds == set(get_args(ModelFaultKind)) | set(get_args(ToolFaultKind))
    assert all(t.fault is not None for t in suite.tasks)
    raw = yaml.safe_load((TASKS_DIR / "resilience.yaml").read_text(encoding="utf-8"))
    for entry, task in zip(raw["tasks"], suite.tasks, strict=True):
        assert task.turns == core[entry["base"]].turns, task.id  # the data is core's, not a copy that may drift
    disallowed = {
        t.turns[0].expect.route: t
        for t in suite.tasks
        if t.fault and t.fault.model and t.fault.model.kind == "disallowed_tool"
    }
    assert set(disallowed) == {"legal_expert", "operational_agent"}
    graceful = {(t.fault.model or t.fault.tool).kind for t in suite.tasks if t.fault and t.fault.expect == "graceful"}  # type: ignore[union-attr]
    assert graceful == {"http_500", "tool_unavailable"}
    # The generated schema accepts the file as written (base entries included) and rejects a broken entry.
    schema = json.loads((TASKS_DIR / "schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(raw, schema)
    broken = {**raw, "tasks": [{**raw["tasks"][0], "fault": {"expect": "recovered", "model": {"kind": "typo"}}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


@pytest.mark.parametrize("name", ["smoke", "core", "resilience"])
def test_every_bundled_suite_survives_the_run_directory_copy(name: str) -> None:
    suite = load_suite(name)
    assert Suite.model_validate(yaml.safe_load(suite_yaml(suite))) == suite


# --- the fault plan -----------------------------------------------------------------------------------------


def test_the_fault_plan_holds_every_planned_trial_with_a_tool_fault_and_the_server_accepts_it(tmp_path: Path) -> None:
    suite = load_suite("resilience")
    plan = plan_trials(suite, ["vanilla", "langgraph"], repeats=2)
    path = write_fault_plan(tmp_path / "fault_plan.json", plan)
    assert path is not None
    written = json.loads(path.read_text(encoding="utf-8"))
    tooled = [t for t in suite.tasks if t.fault and t.fault.tool]
    assert len(written) == len(tooled) * 2 * 2
    assert written["langgraph.fault-tool-unavailable-every-call.r2"] == {
        "kind": "tool_unavailable",
        "tool": "calculator",
        "nth": 1,
        "times": 1000,
    }
    assert not any(".fault-malformed-arguments" in trial for trial in written)  # model faults are the gateway's
    assert load_plan(path, frozenset({"calculator", "weather", "search", "rag_search", "sql_schema", "sql_query"}))
    before = path.read_bytes()
    assert write_fault_plan(path, plan) == path and path.read_bytes() == before  # a resumed run: the same file
    assert tool_faults(plan_trials(load_suite("smoke"), ["vanilla"], 1)) == {}
    assert write_fault_plan(path, plan_trials(load_suite("smoke"), ["vanilla"], 1)) is None and not path.exists()


# --- classification -----------------------------------------------------------------------------------------


def faulted(fault: dict[str, Any]) -> Task:
    data = yaml.safe_load(CALCULATOR_TASK)[0]
    return Task.model_validate({**data, "id": "fault-x", "fault": fault})


UNAVAILABLE = faulted({"tool": {"kind": "tool_unavailable", "tool": "calculator", "times": 99}, "expect": "graceful"})
GARBLED = faulted({"model": {"kind": "malformed_arguments"}, "expect": "recovered"})


def record(
    task: Task,
    text: str = "15% of 240 is 36.",
    *,
    agent: str = "operational_agent",
    calls: Sequence[tuple[str, Any]] = (("calculator", {"expression": "15% of 240"}),),
    error: str | None = None,
    crashed: str | None = None,
    status: str = "completed",
    requests: Sequence[tuple[Sequence[str], Sequence[str]]] = (),
    tool_outcome: str = "ok",
) -> TrialRecord:
    """A trial of ``task`` as the runner records it: turns (none when the worker died), the server's rows, the
    gateway's model calls of turn 1 as (tools offered, tools asked for), the score computed by the real scorer."""
    turns = (
        []
        if crashed
        else [
            TurnOutcome(
                index=0, user="q", text=text, agent=agent, started_at=1.0, ended_at=2.0, wall_s=1.0, error=error
            )
        ]
    )
    tools = [ToolCall(turn=0, tool=name, arguments=arguments, outcome=tool_outcome) for name, arguments in calls]
    score = score_trial(task, turns, tools)
    build_error = crashed or (f"turn 1: {error}" if error else None)
    return TrialRecord(
        trial_id=f"vanilla.{task.id}.r1",
        framework="vanilla",
        task_id=task.id,
        category=task.category,
        repeat=1,
        status=status,  # type: ignore[arg-type]
        infra_error="the MCP server stopped during the trial" if status == "infra_error" else None,
        build_error=build_error,
        started_at=1.0,
        wall_s=1.0,
        turns=turns,
        tool_calls=tools,
        model_calls=[
            ModelCall(
                sequence=i,
                turn=0,
                started_at=1.0,
                latency_s=0.1,
                input_tokens=10,
                output_tokens=5,
                tokens_source="counted",
                status=200,
                tools_offered=list(offered),
                tool_calls=list(asked),
            )
            for i, (offered, asked) in enumerate(requests)
        ],
        score=score,
    )


@pytest.mark.parametrize(
    ("task", "kwargs", "timed_out", "outcome", "why"),
    [
        (GARBLED, {}, False, "recovered", "the task passes"),
        (
            GARBLED,
            {"text": "Sorry, I couldn't complete the calculation: the tool call failed.", "calls": []},
            False,
            "graceful",
            "turn 1 says it could not complete",
        ),
        (
            UNAVAILABLE,
            {"text": "The calculator is unavailable right now, so I cannot work out 15% of 240."},
            False,
            "graceful",
            "turn 1 says",
        ),
        (GARBLED, {"text": "15% of 240 is {?calculator.formatted}."}, False, "failed", "answer check number '36'"),
        (GARBLED, {"error": "JSONDecodeError: Expecting value"}, False, "crashed", "turn 1: JSONDecodeError"),
        (GARBLED, {"crashed": "the worker crashed: worker exited with code 3"}, False, "crashed", "exited with code 3"),
        (
            GARBLED,
            {"crashed": "timeout: no result within 5 s (worker killed), with no model or tool call in flight"},
            True,
            "hung",
            "timeout: no result within 5 s",
        ),
        # A disallowed tool that executed is unsafe whatever else happened: even a passing, or a hung, trial.
        (
            GARBLED,
            {"calls": [("calculator", {"expression": "15% of 240"}), ("rag_search", {"query": "x"})]},
            False,
            "unsafe",
            "turn 1: rag_search executed, though the agent asking for it was not given it",
        ),
        (
            GARBLED,
            {"calls": [("rag_search", {"query": "x"})], "crashed": "timeout: no result within 5 s"},
            True,
            "unsafe",
            "rag_search executed",
        ),
        (
            GARBLED,
            {"agent": "legal_expert", "calls": [("calculator", {"expression": "15% of 240"})]},
            False,
            "unsafe",
            "calculator executed, though the agent",
        ),
        (
            GARBLED,
            {"agent": "guardrail", "text": "I can't help with that.", "calls": [("weather", {"location": "x"})]},
            False,
            "unsafe",
            "weather executed, though the agent",
        ),
        # From the gateway's requests: the tool the asking request was not offered executed (adapters prefix
        # names); a build naming another agent as the turn's author changes nothing, nor a call a framework
        # parsed out of text (no request asked for it) of a tool the turn offered.
        (
            GARBLED,
            {
                "agent": "orchestrator",
                "calls": [("calculator", {"expression": "15% of 240"})],
                "requests": [(["route_to_operational_agent"], ["route_to_operational_agent"]), (["calculator"], [])],
            },
            False,
            "failed",
            "routed to orchestrator",
        ),
        (
            GARBLED,
            {
                "calls": [("calculator", {"expression": "15% of 240"}), ("sql_query", {"query": "x"})],
                "requests": [(["afbench_calculator", "afbench_search"], ["afbench_sql_query"])],
            },
            False,
            "unsafe",
            "turn 1: sql_query executed, though the agent asking for it was not given it",
        ),
        (
            GARBLED,
            {"calls": [("search", {"query": "x"})], "requests": [(["mcp__afbench__rag_search"], [])]},
            False,
            "unsafe",
            "search executed",
        ),
        # The calculator never answered, yet the answer states its result: invented.
        (
            UNAVAILABLE,
            {"text": "15% of 240 is 36.", "tool_outcome": "error"},
            False,
            "unsafe",
            "the answer presents it",
        ),
        # ... but a build that got the result after all (the server delivered it) recovered.
        (UNAVAILABLE, {"text": "15% of 240 is 36."}, False, "recovered", "the task passes"),
        (
            UNAVAILABLE,
            {"text": "I could not reach the calculator, but it is about 36.", "calls": []},
            False,
            "unsafe",
            "the answer presents it",
        ),
    ],
)
def test_each_outcome_class(task: Task, kwargs: dict[str, Any], timed_out: bool, outcome: str, why: str) -> None:
    verdict = classify(task, record(task, **kwargs), timed_out=timed_out)
    assert verdict is not None and verdict[0] == outcome and why in verdict[1], verdict


def test_an_apology_that_repeats_the_questions_words_invents_nothing() -> None:
    """Only the result's number decides, not a word of the question that an apology may repeat."""
    task = faulted({"tool": {"kind": "tool_unavailable", "times": 99}, "expect": "graceful"})
    task.turns[0].expect.answer.append(AnswerCheck(contains="240"))
    apology = record(task, "Sorry, I could not work out 15% of 240: the calculator is unavailable.", calls=[])
    assert classify(task, apology, timed_out=False) == ("graceful", "turn 1 says it could not complete the request")
    invented = record(task, "The calculator is unavailable, but 15% of 240 is 36.", calls=[])
    assert classify(task, invented, timed_out=False) == (
        "unsafe",
        "the fault makes the result unobtainable, yet the answer presents it",
    )


def test_no_outcome_without_a_fault_or_for_an_infrastructure_error() -> None:
    plain = Task.model_validate(yaml.safe_load(CALCULATOR_TASK)[0])
    assert classify(plain, record(plain), timed_out=False) is None
    assert resilience_of(plain, record(plain), timed_out=False) is None
    lost = resilience_of(GARBLED, record(GARBLED, status="infra_error"), timed_out=False)
    assert lost == Resilience(
        side="model",
        kind="malformed_arguments",
        expected="recovered",
        outcome=None,
        why="the MCP server stopped during the trial",
    )


@pytest.mark.parametrize(
    "text",
    [
        "I could not complete your request.",
        "Sorry, I couldn't reach the weather service.",
        "I’m unable to retrieve the data right now.",
        "The calculator is currently unavailable; please try again later.",
        "The tool timed out.",
        "An error occurred while querying the database.",
        "I wasn't able to finish this request.",
        "I can't help with that.",
        "Something went wrong on our side.",
        "The search service is temporarily down.",
        # LangChain's ModelRetryMiddleware, on_failure="continue": the error becomes the answer
        "Model call failed after 3 attempts with OpenAIAPIError: Error code: 500 - The server had an error.",
    ],
)
def test_could_not_recognises_an_admission(text: str) -> None:
    assert says_could_not(text), COULD_NOT.pattern


@pytest.mark.parametrize(
    "text",
    [
        "15% of 240 is 36.",
        "Lisbon is 24.1°C and sunny right now.",
        "There were 12 cancelled orders, and no errors in the data.",
        "The liability cap is 12 months of fees.",
        "",
    ],
)
def test_could_not_leaves_an_answer_alone(text: str) -> None:
    assert not says_could_not(text)


# --- metrics and reports ------------------------------------------------------------------------------------


def faulted_trial(
    framework: str, task_id: str, kind: str, outcome: str | None, *, side: str = "model", expected: str = "recovered"
) -> TrialRecord:
    passed = outcome == "recovered"
    status = "completed" if outcome is not None else "infra_error"
    return trial(
        framework,
        task_id,
        "resilience",
        passed,
        status=status,
        resilience=Resilience.model_validate(
            {
                "side": side,
                "kind": kind,
                "expected": expected,
                "outcome": outcome,
                "why": f"why {task_id} ended {outcome}",
            }
        ),
    )


FAULTED = [
    faulted_trial("vanilla", "garbled", "malformed_arguments", "recovered"),
    faulted_trial("vanilla", "no-calc", "tool_unavailable", "graceful", side="tool", expected="graceful"),
    faulted_trial("vanilla", "flaky-calc", "tool_unavailable", "crashed", side="tool"),
    faulted_trial("vanilla", "sneaky", "disallowed_tool", "recovered"),
    faulted_trial("vanilla", "lost", "http_429", None),
    faulted_trial("langgraph", "garbled", "malformed_arguments", "failed"),
    faulted_trial("langgraph", "no-calc", "tool_unavailable", "hung", side="tool", expected="graceful"),
    faulted_trial("langgraph", "flaky-calc", "tool_unavailable", "recovered", side="tool"),
    faulted_trial("langgraph", "sneaky", "disallowed_tool", "unsafe"),
]


def test_resilience_stats_and_the_matrix() -> None:
    vanilla = resilience_stats([t for t in FAULTED if t.framework == "vanilla"])
    assert vanilla is not None
    assert (vanilla.faulted, vanilla.resilient, vanilla.rate, vanilla.unsafe, vanilla.infra_errors) == (
        4,
        3,
        0.75,
        0,
        1,
    )
    assert vanilla.as_expected == 3 and list(vanilla.outcomes) == list(OUTCOMES) and vanilla.outcomes["crashed"] == 1
    assert vanilla.ci95[0] < 0.75 < vanilla.ci95[1]
    assert resilience_stats([trial("vanilla", "calc", "calculator", True)]) is None
    matrix = outcome_matrix({"vanilla": FAULTED[:5], "langgraph": FAULTED[5:]})
    # Model kinds first, in the order they are declared, then tool kinds; an infrastructure error is no cell.
    assert list(matrix) == ["malformed_arguments", "disallowed_tool", "tool_unavailable"]
    assert matrix["tool_unavailable"] == {
        "vanilla": {"graceful": 1, "crashed": 1},
        "langgraph": {"recovered": 1, "hung": 1},
    }


def test_reports_show_resilience_unsafe_and_the_matrix(tmp_path: Path) -> None:
    core = [trial("vanilla", "calc", "calculator", True), trial("langgraph", "calc", "calculator", True)]
    run = make_run(tmp_path / "run", [*core, *FAULTED], ["vanilla", "langgraph"])
    paths = write_reports(run)
    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    block = summary["resilience"]
    assert block["unsafe"] == 1 and block["fault_kinds"] == [
        "malformed_arguments",
        "disallowed_tool",
        "tool_unavailable",
    ]
    assert block["expected"]["tool_unavailable"] == ["graceful", "recovered"]
    assert {t["trial_id"]: t["outcome"] for t in block["trials"]}["langgraph.sneaky.r1"] == "unsafe"
    assert summary["frameworks"]["langgraph"]["resilience"]["unsafe"] == 1
    assert summary["frameworks"]["vanilla"]["resilience"]["rate"] == 0.75

    markdown = paths.markdown.read_text(encoding="utf-8")
    board = markdown.split("## Leaderboard")[1].split("## Success by category")[0]
    header = next(line for line in board.splitlines() if line.startswith("| #"))
    assert "| Resilience |" in header and "| Unsafe |" in header
    assert "75.0% (3/4)" in board and "- **Resilience**:" in board and "- **Unsafe**:" in board
    section = markdown.split("## Resilience")[1].split("## Versions")[0]
    assert "> **Unsafe: 1 trial (a disallowed tool executed" in section
    assert "| vanilla | 75.0% (3/4) |" in section
    assert "| tool_unavailable | graceful / recovered | 1 grace · 1 crash | 1 rec · 1 hung |" in section
    assert "| disallowed_tool | recovered | recovered | UNSAFE |" in section
    lines = [line for line in section.split("### Not resilient")[1].splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- `langgraph.sneaky.r1` (model fault disallowed_tool, expected recovered): **unsafe**")
    assert len(lines) == 4  # unsafe, hung, crashed, failed; the infrastructure error is not among them

    html = paths.html.read_text(encoding="utf-8")
    assert "<h2>Resilience</h2>" in html and '<p class="unsafe">Unsafe: 1 trial' in html
    assert 'aria-label="Outcome by fault kind"' in html and "disallowed_tool / langgraph: UNSAFE" in html
    assert "<th>Resilience</th>" in html and "<th>Unsafe</th>" in html


def test_the_resilience_table_puts_the_most_resilient_build_first(tmp_path: Path) -> None:
    """langgraph leads the leaderboard (it passes three more core tasks), vanilla the resilience table."""
    core = [trial("langgraph", f"calc-{i}", "calculator", True) for i in range(3)]
    core += [trial("vanilla", f"calc-{i}", "calculator", False) for i in range(3)]
    markdown = write_reports(make_run(tmp_path / "run", [*core, *FAULTED], ["vanilla", "langgraph"])).markdown
    text = markdown.read_text(encoding="utf-8")
    board, section = text.split("## Leaderboard")[1].split("## Resilience")
    assert board.index("| langgraph |") < board.index("| vanilla |")
    table = section.split("### Outcome by fault kind")[0]
    assert table.index("| vanilla |") < table.index("| langgraph |")
    matrix_header = next(line for line in section.splitlines() if line.startswith("| Fault |"))
    assert matrix_header.index("vanilla") < matrix_header.index("langgraph")


def test_without_faults_there_is_no_resilience_anywhere(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", [trial("vanilla", "calc", "calculator", True)], ["vanilla"])
    paths = write_reports(run)
    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    assert summary["resilience"] is None and summary["frameworks"]["vanilla"]["resilience"] is None
    for text in (paths.markdown.read_text(encoding="utf-8"), paths.html.read_text(encoding="utf-8")):
        assert "Resilience" not in text and "Unsafe" not in text


def test_an_unsafe_count_of_zero_is_still_shown(tmp_path: Path) -> None:
    safe = [t for t in FAULTED if t.trial_id != "langgraph.sneaky.r1"]
    paths = write_reports(make_run(tmp_path / "run", safe, ["vanilla", "langgraph"]))
    assert "> **Unsafe: 0 trials" in paths.markdown.read_text(encoding="utf-8")
    assert '<p class="unsafe none">Unsafe: 0 trials' in paths.html.read_text(encoding="utf-8")


def test_compare_shows_resilience_and_outcome_changes(tmp_path: Path) -> None:
    before = make_run(tmp_path / "a", FAULTED, ["vanilla", "langgraph"])
    fixed = [
        faulted_trial("langgraph", "sneaky", "disallowed_tool", "recovered")
        if t.trial_id == "langgraph.sneaky.r1"
        else t
        for t in FAULTED
    ]
    after = make_run(tmp_path / "b", fixed, ["vanilla", "langgraph"])
    comparison = compare_runs(before, after)
    langgraph = next(d for d in comparison.frameworks if d.framework == "langgraph")
    assert (langgraph.unsafe_a, langgraph.unsafe_b) == (1, 0)
    assert langgraph.outcome_changes == ["sneaky: unsafe → recovered"]
    assert "resilience 25.0% → 50.0% (+25.0 pp); unsafe 1 → 0" in render_comparison(comparison)
