"""The task suites: the bundled ones are complete and self-consistent, and a broken suite file is refused with
an error that names the file, the task and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.scoring.hidden_tests import run_hidden_tests
from benchmark.scoring.tool_calls import LoggedCall, match_calls
from benchmark.spec import REFUSED, TESTER
from benchmark.system import default_spec
from benchmark.tasks.loader import TASKS_DIR, SuiteError, load_suite
from benchmark.tasks.schema import suite_schema

CATEGORIES = {
    "routing",
    "calculator",
    "weather",
    "sql",
    "search",
    "rag",
    "multi-tool",
    "multi-turn",
    "restart",
    "tool-error",
    "guardrail",
    "code",
}


def test_bundled_suites_have_the_promised_size_and_coverage() -> None:
    smoke, core = load_suite("smoke"), load_suite("core")
    assert 1 <= len(smoke.tasks) <= 10
    assert len(core.tasks) >= 60
    assert {task.category for task in core.tasks} == CATEGORIES
    routes = {turn.expect.route for task in core.tasks for turn in task.turns}
    assert routes == {"legal_expert", "operational_agent", REFUSED}
    assert any(len(task.turns) > 1 for task in smoke.tasks)
    restarts = [task for task in core.tasks if any(turn.restart for turn in task.turns)]
    assert len(restarts) >= 5 and {t.turns[-1].expect.route for t in restarts} >= {"legal_expert", "operational_agent"}
    assert any(task.turns[0].expect.route == REFUSED for task in restarts)  # a refusal before the restart
    code = [task for task in core.tasks if any(turn.script and turn.script.team for turn in task.turns)]
    assert len(code) >= 8 and all(task.category == "code" for task in code)
    assert sum(len(turn.script.team.drafts) > 1 for t in code for turn in t.turns if turn.script and turn.script.team)


@pytest.mark.parametrize("name", ["smoke", "core"])
def test_every_reference_script_meets_its_own_expectations(name: str) -> None:
    """The scripted model follows the script, so a script that misses an expected call, calls a tool outside
    its agent's allow-list or makes an unlisted extra call would fail (or mis-score) every build alike."""
    spec = default_spec()
    for task in load_suite(name).tasks:
        for index, turn in enumerate(task.turns):
            where = f"{task.id} turn {index + 1}"
            if turn.expect.route == REFUSED:
                assert not turn.expect.tool_calls, where
                continue
            assert turn.script is not None, where
            allowed_tools = spec.agent(turn.expect.route).tools
            steps = [LoggedCall(step.call, step.arguments) for step in turn.script.steps]
            if turn.script.team is not None:  # the code team's tester makes the turn's one call
                allowed_tools = spec.code_team.member(TESTER).tools
                program = f"{turn.script.team.drafts[-1].strip()}\n\n\n{turn.script.team.tests.strip()}\n"
                steps = [LoggedCall("run_python", {"code": program})]
            assert all(step.tool in allowed_tools for step in steps), f"{where}: a step outside the allow-list"
            match = match_calls(turn.expect.tool_calls, steps, turn.expect.ordered)
            assert match.recall == 1.0, f"{where}: the script misses an expected call"
            matched = {logged for _, logged in match.pairs}
            unlisted = [s.tool for i, s in enumerate(steps) if i not in matched]
            assert set(unlisted) <= set(turn.expect.allowed_calls), f"{where}: unlisted extra calls {unlisted}"


def _answer_with(code: str) -> str:
    return f"Here it is:\n\n```python\n{code}\n```\n\nTests passed."


@pytest.mark.parametrize("name", ["smoke", "core"])
def test_the_final_draft_of_every_code_task_passes_its_hidden_tests_and_a_flawed_draft_fails_them(name: str) -> None:
    """The hidden tests are what scores a code task: they must pass on the reference code, and a first draft the
    reviewer sends back must really be wrong (or the review step would prove nothing). The tester's own tests
    pass on the final draft too, so the reference run reports a success."""
    for task in load_suite(name).tasks:
        for index, turn in enumerate(task.turns):
            team = turn.script.team if turn.script else None
            if team is None:
                continue
            where = f"{task.id} turn {index + 1}"
            hidden = [check.python_tests for check in turn.expect.answer if check.python_tests]
            assert len(hidden) == 1, f"{where}: a code turn has one python_tests check"
            final = run_hidden_tests(_answer_with(team.drafts[-1]), hidden[0])
            assert final.ok, f"{where}: the final draft fails its hidden tests: {final.detail}"
            assert run_hidden_tests(_answer_with(team.drafts[-1]), team.tests).ok, f"{where}: the tester's tests fail"
            for number, draft in enumerate(team.drafts[:-1], start=1):
                flawed = run_hidden_tests(_answer_with(draft), hidden[0])
                assert not flawed.ok, f"{where}: draft {number} is sent back, but passes the hidden tests"
                assert flawed.detail.startswith("the hidden tests failed: AssertionError"), flawed.detail


def test_schema_json_is_generated_from_the_models() -> None:
    assert (TASKS_DIR / "schema.json").read_text(encoding="utf-8") == suite_schema(), (
        "tasks/schema.json is stale: run python -m benchmark.tasks.schema"
    )


GOOD_TASK = """
  - id: calc-1
    category: calculator
    turns:
      - user: What is 2+2?
        expect:
          route: operational_agent
          tool_calls: [{name: calculator}]
          answer: [{number: 4}]
        script:
          steps: [{call: calculator, arguments: {expression: "2+2"}}]
          answer: "{calculator.formatted}"
"""


def write_suite(tmp_path: Path, tasks: str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ntasks:" + tasks, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("route: operational_agent", "route: finance_agent"), "task 'calc-1', field turns[0].expect.route"),
        (("answer: [{number: 4}]", "answer: [{number: 4, contains: x}]"), "set exactly one of"),
        (("category: calculator", "category: calculator\n    colour: red"), "task 'calc-1', field colour"),
        (("id: calc-1", "id: Calc One"), "field id"),
        (("        script:\n", "        notes:\n"), "task 'calc-1', field turns[0].notes"),
        (("tool_calls: [{name: calculator}]", "tool_calls: [{tool: calculator}]"), "expect.tool_calls[0]"),
        (("user: What is 2+2?", "user: [unclosed"), "not valid YAML"),
    ],
)
def test_a_broken_suite_names_file_task_and_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD_TASK
    path = write_suite(tmp_path, GOOD_TASK.replace(old, new))
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


def test_a_turn_without_a_script_and_duplicate_ids_are_refused(tmp_path: Path) -> None:
    no_script = GOOD_TASK[: GOOD_TASK.index("        script:")]
    with pytest.raises(SuiteError, match=r"task 'calc-1', field turns\[0\].*needs a script"):
        load_suite(write_suite(tmp_path, no_script))
    with pytest.raises(SuiteError, match="task 'calc-1' appears twice"):
        load_suite(write_suite(tmp_path, GOOD_TASK + GOOD_TASK))
    assert len(load_suite(write_suite(tmp_path, GOOD_TASK)).tasks) == 1


def test_an_unknown_suite_name_lists_the_bundled_ones() -> None:
    with pytest.raises(SuiteError, match=r"no such suite file .*core, resilience, smoke"):
        load_suite("nightly")
