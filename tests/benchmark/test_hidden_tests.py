"""The ``python_tests`` answer check: the answer's final code block run against hidden tests in the real sandbox —
correct code passes, wrong code fails with the assertion that caught it, and code that loops, reads the task's
files or has no block at all fails with a reason, never a crash of the scorer."""

from __future__ import annotations

import pytest

from benchmark.scoring import check_answer
from benchmark.scoring.hidden_tests import final_code_block
from benchmark.tasks.loader import TASKS_DIR
from benchmark.tasks.models import AnswerCheck
from tools.sandbox import Sandbox

TESTS = AnswerCheck(python_tests='assert add(2, 3) == 5, "2 + 3"\nassert add(-1, 1) == 0\n')


def answer(code: str, tag: str = "python") -> str:
    return f"Here is the function:\n\n```{tag}\n{code}\n```\n\nThe tests passed."


def test_the_last_python_block_is_the_answers_code_and_an_untagged_block_counts_when_none_is_tagged() -> None:
    text = "Draft:\n```python\nold()\n```\nDiff:\n```diff\n-old\n+new\n```\nFinal:\n```py\nnew()\n```\n"
    assert final_code_block(text) == "new()\n"
    assert final_code_block("```\nplain()\n```") == "plain()\n"
    assert final_code_block("```bash\nls\n```") is None
    assert final_code_block("no code here") is None


def test_correct_code_passes_the_hidden_tests() -> None:
    result = check_answer(TESTS, answer("def add(a, b):\n    return a + b"))
    assert result.ok and result.kind == "python_tests"


def test_wrong_code_fails_with_the_assertion_that_caught_it() -> None:
    result = check_answer(TESTS, answer("def add(a, b):\n    return a * b"))
    assert not result.ok and result.detail == "the hidden tests failed: AssertionError: 2 + 3"


def test_an_answer_without_a_code_block_fails_plainly() -> None:
    result = check_answer(TESTS, "def add(a, b): return a + b")
    assert not result.ok and result.detail == "the answer has no code block"


def test_code_that_never_ends_is_stopped_by_the_sandbox_limit() -> None:
    result = check_answer(TESTS, answer("def add(a, b):\n    while True:\n        pass"))
    assert not result.ok and result.detail == "the tests hit the sandbox's cpu limit"


def test_the_code_under_test_cannot_read_the_task_files_with_the_hidden_tests() -> None:
    """Code that looked for its own tests on disk (the suite file) finds no project files in the sandbox."""
    isolation = Sandbox().isolation()
    if isolation is None or isolation.kind != "bubblewrap":
        pytest.skip("only bubblewrap hides the file system (rlimits only: see README, run_python isolation)")
    suite = (TASKS_DIR / "core.yaml").resolve()
    snoop = f"import pathlib\ndef add(a, b):\n    return a + b\nassert not pathlib.Path({str(suite)!r}).exists()\n"
    assert check_answer(TESTS, answer(snoop)).ok
