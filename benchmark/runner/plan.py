"""Which trials a run holds: every framework × repeat × task, with ids unique within the run; and the MCP
server's fault plan for the trials whose task injects a tool fault."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmark.tasks.models import Suite, Task
from mcp_server.faults import ToolFault


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


def tool_faults(plan: Sequence[PlannedTrial]) -> dict[str, ToolFault]:
    """``{trial id: ToolFault}`` for every planned trial whose task has ``fault.tool`` (the server's plan)."""
    return {
        trial.trial_id: trial.task.fault.tool
        for trial in plan
        if trial.task.fault is not None and trial.task.fault.tool is not None
    }


def write_fault_plan(path: Path, plan: Sequence[PlannedTrial]) -> Path | None:
    """Write the plan file ``afbench serve --fault-plan`` reads (:mod:`mcp_server.faults`); None, and no file,
    when no trial has a tool fault. Written whole and in plan order, so the same plan is the same file."""
    faults = tool_faults(plan)
    if not faults:
        path.unlink(missing_ok=True)
        return None
    data = {trial: fault.model_dump(mode="json") for trial, fault in faults.items()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
