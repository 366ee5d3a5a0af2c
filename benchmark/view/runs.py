"""The runs a viewer serves: each run directory's plan, summary, trials and traces, read again when its
``results.jsonl`` changes (a run still going shows its new trials on the next page load)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.records import RESULTS_FILE, RecordError, RunInfo, TrialRecord, read_run_info, read_trials
from benchmark.report.summary import build_summary
from benchmark.runner.traces import TraceLine, read_trace, trace_path


@dataclass
class Run:
    key: str  # the run's name in URLs
    path: Path
    info: RunInfo
    summary: dict[str, Any]
    trials: dict[str, TrialRecord]
    stamp: float  # results.jsonl's mtime when read
    _traces: dict[str, list[TraceLine]] = field(default_factory=dict)

    @property
    def frameworks(self) -> list[str]:
        return [s["framework"] for s in self.summary["leaderboard"]["standings"]] or list(self.info.frameworks)

    def trace(self, trial_id: str) -> list[TraceLine]:
        """The trial's trace lines, [] when it has none (a run from before traces, or not finished)."""
        if trial_id not in self._traces:
            path = trace_path(self.path, trial_id)
            self._traces[trial_id] = read_trace(path) if path.is_file() else []
        return self._traces[trial_id]


def _read(key: str, path: Path) -> Run:
    info = read_run_info(path)
    results = path / RESULTS_FILE
    stamp = results.stat().st_mtime if results.is_file() else 0.0
    trials = read_trials(results) if results.is_file() else []
    return Run(key, path, info, build_summary(info, trials), {t.trial_id: t for t in trials}, stamp)


class Runs:
    """The viewer's runs by key (the folder's name, made unique), each re-read when its results change."""

    def __init__(self, paths: list[Path]) -> None:
        if not paths:
            raise RecordError("give at least one run directory")
        self._paths: dict[str, Path] = {}
        for path in paths:
            base = re.sub(r"[^A-Za-z0-9._-]", "_", path.resolve().name) or "run"
            key, n = base, 2
            while key in self._paths:
                key, n = f"{base}-{n}", n + 1
            self._paths[key] = path
        self._runs = {key: _read(key, path) for key, path in self._paths.items()}  # a bad folder fails here

    def keys(self) -> list[str]:
        return list(self._paths)

    def get(self, key: str) -> Run | None:
        path = self._paths.get(key)
        if path is None:
            return None
        run = self._runs[key]
        results = path / RESULTS_FILE
        stamp = results.stat().st_mtime if results.is_file() else 0.0
        if stamp != run.stamp:
            run = self._runs[key] = _read(key, path)
        return run

    def all(self) -> list[Run]:
        return [run for key in self._paths if (run := self.get(key)) is not None]
