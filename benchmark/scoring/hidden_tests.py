"""The ``python_tests`` answer check: the answer's final code, followed by the task's hidden tests, run in the
``run_python`` sandbox (:mod:`tools.sandbox`, the same limits and isolation as the server's tool).

Functional correctness, not text matching: the check passes when the program exits 0. The code is the last
fenced block of the answer tagged ``python``/``py``/``python3`` (else the last untagged fenced block), as a
user would copy it. The tests live in the task file and are never sent to the model.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine
from functools import cache
from typing import Any, TypeVar

from benchmark.records import CheckResult
from tools.sandbox import RunPythonRequest, RunPythonResult, Sandbox

_FENCE = re.compile(r"```[ \t]*(?P<tag>[\w+-]*)[^\n]*\n(?P<code>.*?)```", re.DOTALL)
_PYTHON_TAGS = frozenset({"python", "py", "python3"})
MAX_DETAIL_CHARS = 300

T = TypeVar("T")


def final_code_block(text: str) -> str | None:
    """The code of the answer's last Python block (or last untagged block), or None when it has none."""
    blocks = [(m.group("tag").casefold(), m.group("code")) for m in _FENCE.finditer(text)]
    python = [code for tag, code in blocks if tag in _PYTHON_TAGS]
    untagged = [code for tag, code in blocks if not tag]
    chosen = python or untagged
    return chosen[-1] if chosen else None


@cache
def _sandbox() -> Sandbox:
    return Sandbox()


def _blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end from synchronous code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(asyncio.run(coroutine))
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="hidden-tests")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


def _why(result: RunPythonResult) -> str:
    if result.limit is not None:
        return f"the tests hit the sandbox's {result.limit} limit"
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit status {result.exit_code}"
    return f"the hidden tests failed: {last}"[:MAX_DETAIL_CHARS]


def run_hidden_tests(answer: str, tests: str) -> CheckResult:
    """The verdict of the hidden ``tests`` on the answer's final code block."""
    code = final_code_block(answer)
    expected = "hidden tests pass"
    if code is None:
        return CheckResult(kind="python_tests", expected=expected, ok=False, detail="the answer has no code block")
    program = f"{code.rstrip()}\n\n\n{tests.strip()}\n"
    try:
        result = _blocking(_sandbox().run(RunPythonRequest(code=program)))
    except Exception as exc:  # a sandbox that cannot run (a ToolError) fails this check, said plainly
        return CheckResult(kind="python_tests", expected=expected, ok=False, detail=f"the sandbox failed: {exc}")
    ok = result.exit_code == 0 and result.limit is None
    return CheckResult(kind="python_tests", expected=expected, ok=ok, detail="" if ok else _why(result))
