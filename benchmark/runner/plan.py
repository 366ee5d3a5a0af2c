"""Which trials a run holds: every framework × repeat × task, with ids unique within the run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmark.tasks.models import Suite, Task


@dataclass(frozen=True)
class PlannedTrial:
    framework: str
    task: Task
    repeat: int  # 1-based

    @property
    def trial_id(self) -> str:
        return trial_id(self.framework, self.task.id, self.repeat)


def trial_id(framework: str, task_id: str, repeat: int) -> str:
    """``<framework>.<task>.r<k>``: readable in logs, valid in the MCP server's and gateway's URLs."""
    return f"{framework}.{task_id}.r{repeat}"


def plan_trials(suite: Suite, frameworks: Sequence[str], repeats: int) -> list[PlannedTrial]:
    """Framework by framework (a worker stays warm), and within one, a whole pass of the suite per repeat."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    return [
        PlannedTrial(framework, task, repeat)
        for framework in frameworks
        for repeat in range(1, repeats + 1)
        for task in suite.tasks
    ]
