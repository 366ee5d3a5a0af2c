"""The run's progress as a person watching a pipe sees it: ``[n/N]``, passes, elapsed and ETA on every line,
and the total time at the end."""

from __future__ import annotations

import pytest

from benchmark.runner.progress import RunProgress, duration
from tests.benchmark.test_report import trial


def test_every_piped_line_counts_overall_with_passes_elapsed_and_eta(capsys: pytest.CaptureFixture[str]) -> None:
    earlier = trial("vanilla", "t0", "c", True)  # from before a resume: counted, not timed
    with RunProgress({"vanilla": 3, "langgraph": 2}, [earlier]) as progress:
        progress.trial_done(trial("vanilla", "t1", "c", False))
        progress.trial_done(trial("langgraph", "t1", "c", True))
        progress.trial_done(trial("vanilla", "t2", "c", True, status="infra_error"))
        progress.trial_done(trial("langgraph", "t2", "c", True))
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["[2/5]", "[3/5]", "[4/5]", "[5/5]"]
    assert lines[0].split()[1] == "FAIL" and lines[2].split()[1] == "INFRA"
    assert "(1 passed; elapsed" in lines[0] and "(3 passed; elapsed" in lines[3]
    assert all("ETA" in line for line in lines[:3]) and "ETA" not in lines[3]  # nothing left to wait for
    assert lines[-1].startswith("5/5 trials, 3 passed, in ")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0.4 s"), (59.94, "59.9 s"), (265, "4 min 25 s"), (3725, "1 h 02 min")]
)
def test_durations_read_like_a_clock(seconds: float, text: str) -> None:
    assert duration(seconds) == text
