"""The scripted model playing the code team: the operational agent's delegation and relay, the coder's drafts and
revision, the reviewer's verdicts, the tester's run_python call and answer, and a speaker selector choosing among
the members — each read from what the request shows, in the shapes frameworks send (own conversations per
member, or one shared history)."""

from __future__ import annotations

import json
from typing import Any

from benchmark import spec
from benchmark.scripted import reply, role_of
from benchmark.system import default_spec
from benchmark.tasks.models import Task
from tests.benchmark.test_scripted import (
    OPERATIONAL,
    OPERATIONAL_TOOLS,
    SELECTOR_PROMPT,
    assistant_call,
    called,
    is_marker,
    system,
    tool,
    tool_result,
    user,
)

SPEC = default_spec()
TEAM = SPEC.code_team
CODER = TEAM.member(spec.CODER).instructions
REVIEWER = TEAM.member(spec.REVIEWER).instructions
TESTER = TEAM.member(spec.TESTER).instructions

REQUEST = "Write a Python function is_leap_year(year) for the Gregorian calendar."
DRAFT_1 = "def is_leap_year(year):\n    return year % 4 == 0\n"
DRAFT_2 = "def is_leap_year(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n"
REVIEW_1 = "CHANGES REQUESTED: 1900 is not a leap year; add the 100 and 400 rules."
REVIEW_2 = "APPROVED: all three rules are there."
TESTS = "assert not is_leap_year(1900)\nprint('1 test passed')\n"
ANSWER = (
    "Tested code:\n\n```python\n{draft}\n```\n\n"
    "The tester's run (exit code {run_python.exit_code}): {run_python.stdout}"
)

TASK = Task.model_validate(
    {
        "id": "leap",
        "category": "code",
        "turns": [
            {
                "user": REQUEST,
                "expect": {"route": "operational_agent", "tool_calls": [{"name": "run_python"}]},
                "script": {
                    "team": {"drafts": [DRAFT_1, DRAFT_2], "reviews": [REVIEW_1, REVIEW_2], "tests": TESTS},
                    "answer": ANSWER,
                },
            },
            {
                "user": "What is 2 + 2?",
                "expect": {"route": "operational_agent"},
                "script": {"steps": [{"call": "calculator", "arguments": {"expression": "2 + 2"}}], "answer": "4"},
            },
        ],
    }
)

RUN_PYTHON = tool("run_python", {"code": {"type": "string"}, "stdin": {"type": "string"}}, ["code"])
CODE_TEAM_TOOL = tool("code_team", {"request": {"type": "string"}}, ["request"])
RUN_RESULT = {"stdout": "1 test passed\n", "stderr": "", "exit_code": 0, "signal": None, "limit": None}


def block(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


def member(instructions: str, handed: str, *rest: dict[str, Any], tools: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [system(instructions), user(handed), *rest]}
    if tools:
        body["tools"] = tools
    return body


def test_the_operational_agent_hands_a_programming_request_to_the_team_tool_and_relays_its_answer() -> None:
    tools = [*OPERATIONAL_TOOLS, CODE_TEAM_TOOL]
    first = reply(TASK, {"messages": [system(OPERATIONAL), user(REQUEST)], "tools": tools})
    assert first.role == spec.OPERATIONAL
    assert called(first) == ("code_team", {"request": REQUEST})
    team_answer = f"Tested code:\n\n{block(DRAFT_2)}\n\nThe tester's run (exit code 0): 1 test passed"
    done = [assistant_call("call_1", "code_team", {"request": REQUEST}), tool_result("call_1", team_answer)]
    final = reply(TASK, {"messages": [system(OPERATIONAL), user(REQUEST), *done], "tools": tools})
    assert final.content == team_answer
    wrapped = [done[0], tool_result("call_1", json.dumps({"result": team_answer}))]  # an agent tool's JSON wrapping
    relayed = reply(TASK, {"messages": [system(OPERATIONAL), user(REQUEST), *wrapped], "tools": tools})
    assert relayed.content == team_answer


def test_offered_no_team_tool_the_operational_agent_names_the_team_in_plain_text_and_writes_no_code() -> None:
    """The plain-text route form (a graph that branches on the agent's words), never code of its own."""
    answer = reply(TASK, {"messages": [system(OPERATIONAL), user(REQUEST)], "tools": OPERATIONAL_TOOLS})
    assert answer.content == TEAM.name


def test_the_coder_drafts_then_revises_after_a_review_requesting_changes() -> None:
    assert reply(TASK, member(CODER, REQUEST)).content == block(DRAFT_1)
    revise = TEAM.for_revision(REQUEST, block(DRAFT_1), REVIEW_1)  # what builds that hand text hand the coder
    assert reply(TASK, member(CODER, revise)).content == block(DRAFT_2)


def test_the_reviewer_answers_the_latest_draft_it_is_shown() -> None:
    assert reply(TASK, member(REVIEWER, TEAM.for_reviewer(REQUEST, block(DRAFT_1)))).content == REVIEW_1
    both = f"{REQUEST}\n\n{block(DRAFT_1)}\n\n{REVIEW_1}\n\n{block(DRAFT_2)}"
    assert reply(TASK, member(REVIEWER, both)).content == REVIEW_2
    is_marker(reply(TASK, member(REVIEWER, REQUEST)), "no draft")


def test_a_draft_is_recognised_inside_json_arguments_with_unicode_kept() -> None:
    """A framework that hands a member the draft inside a tool call's JSON arguments, ``ensure_ascii=False``."""
    unicode_draft = 'def greet():\n    return "Grüß dich"\n'
    task = TASK.model_copy(deep=True)
    assert task.turns[0].script is not None and task.turns[0].script.team is not None
    task.turns[0].script.team.drafts = [unicode_draft, DRAFT_2]
    handed = json.dumps({"request": REQUEST, "draft": unicode_draft}, ensure_ascii=False)
    assert reply(task, member(REVIEWER, handed)).content == REVIEW_1


def test_the_tester_runs_the_final_draft_with_its_tests_then_answers_with_that_code_and_the_output() -> None:
    handed = TEAM.for_tester(REQUEST, block(DRAFT_2))
    first = reply(TASK, member(TESTER, handed, tools=[RUN_PYTHON]))
    name, arguments = called(first)
    assert name == "run_python" and arguments["code"].startswith(DRAFT_2.strip()) and TESTS.strip() in arguments["code"]
    ran = [assistant_call("call_7", "run_python", arguments), tool_result("call_7", json.dumps(RUN_RESULT))]
    final = reply(TASK, member(TESTER, handed, *ran, tools=[RUN_PYTHON]))
    expected = f"Tested code:\n\n{block(DRAFT_2)}\n\nThe tester's run (exit code 0): 1 test passed\n"
    assert final.content == expected


def test_a_failing_run_is_retried_once_then_reported_in_plain_words() -> None:
    handed = f"{REQUEST}\n\n{block(DRAFT_2)}"
    error = json.dumps({"error": {"code": "unavailable", "message": "sandbox busy"}})
    arguments = called(reply(TASK, member(TESTER, handed, tools=[RUN_PYTHON])))[1]
    once = [assistant_call("call_1", "run_python", arguments), tool_result("call_1", error)]
    assert called(reply(TASK, member(TESTER, handed, *once, tools=[RUN_PYTHON])))[0] == "run_python"
    twice = [*once, assistant_call("call_2", "run_python", arguments), tool_result("call_2", error)]
    answer = reply(TASK, member(TESTER, handed, *twice, tools=[RUN_PYTHON])).content
    assert answer is not None and answer.startswith("I could not complete this request") and "sandbox busy" in answer


def test_a_selector_among_the_members_follows_the_protocol() -> None:
    names = "['coder', 'reviewer', 'tester']"

    def choose(history: str) -> str | None:
        prompt = SELECTOR_PROMPT.format(roles="...", names=names, history=history)
        return reply(TASK, {"messages": [system(prompt)]}).content

    assert choose(REQUEST) == "coder"
    assert choose(f"{REQUEST}\n{block(DRAFT_1)}") == "reviewer"
    assert choose(f"{REQUEST}\n{block(DRAFT_1)}\n{REVIEW_1}") == "coder"
    assert choose(f"{REQUEST}\n{block(DRAFT_1)}\n{REVIEW_1}\n{block(DRAFT_2)}") == "reviewer"
    assert choose(f"{REQUEST}\n{block(DRAFT_1)}\n{REVIEW_1}\n{block(DRAFT_2)}\n{REVIEW_2}") == "tester"


def test_members_asked_about_a_turn_that_is_no_programming_request_answer_a_marker() -> None:
    is_marker(reply(TASK, member(CODER, "What is 2 + 2?")), "no programming request")
    prompt = SELECTOR_PROMPT.format(roles="...", names="['coder', 'reviewer', 'tester']", history="What is 2 + 2?")
    is_marker(reply(TASK, {"messages": [system(prompt)]}), "no programming request")


def test_the_fault_plan_counts_team_members_as_specialists() -> None:
    assert role_of(TASK, member(CODER, REQUEST)) == "specialist"
    assert role_of(TASK, member(TESTER, REQUEST, tools=[RUN_PYTHON])) == "specialist"
