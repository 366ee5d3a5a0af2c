"""Live progress of a run: in a terminal, an overall bar (``n/N`` trials, passes, elapsed, ETA) above a bar per
framework with its pass count; when stderr is not a terminal (CI logs, a pipe), one plain line per trial that
starts with ``[n/N]`` and ends with the elapsed time and the ETA. Either way the end prints the total time.

The ETA is the wall time this invocation has run per trial it finished (so concurrent lanes are accounted for),
times the trials left: a resumed run's earlier trials say nothing about today's machine.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from benchmark.records import TrialRecord

OVERALL = "all"


def duration(seconds: float) -> str:
    """'4 min 25 s', '12.3 s', '1 h 02 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class RunProgress:
    def __init__(self, totals: dict[str, int], done: Sequence[TrialRecord], enabled: bool = True) -> None:
        self.console = Console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.enabled = enabled
        self.totals = totals
        self.passed = {name: 0 for name in totals}
        self.failed = {name: 0 for name in totals}
        self.infra = {name: 0 for name in totals}
        self.started = time.monotonic()
        self.finished_here = 0  # trials this invocation ran (the ETA's basis)
        counts = TextColumn("[green]{task.fields[passed]} passed[/] [red]{task.fields[failed]} failed[/]")
        self.progress = Progress(
            TextColumn("[bold]{task.fields[framework]:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            counts,
            TextColumn("{task.fields[infra]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.live,
        )
        self.rows: dict[str, TaskID] = {}
        for record in done:
            self._count(record)
        self.rows[OVERALL] = self.progress.add_task(
            OVERALL, total=self.total, completed=self.completed, framework="all builds", **self._fields(None)
        )
        for name, total in totals.items():
            self.rows[name] = self.progress.add_task(
                name, total=total, completed=self._done(name), framework=name, **self._fields(name)
            )

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    @property
    def completed(self) -> int:
        return sum(self._done(name) for name in self.totals)

    def _done(self, name: str) -> int:
        return self.passed[name] + self.failed[name] + self.infra[name]

    def _count(self, record: TrialRecord) -> None:
        if record.framework not in self.totals:
            return
        if record.status == "infra_error":
            self.infra[record.framework] += 1
        elif record.passed:
            self.passed[record.framework] += 1
        else:
            self.failed[record.framework] += 1

    def _fields(self, name: str | None) -> dict[str, Any]:
        names = list(self.totals) if name is None else [name]
        infra = sum(self.infra[n] for n in names)
        return {
            "passed": sum(self.passed[n] for n in names),
            "failed": sum(self.failed[n] for n in names),
            "infra": f"[yellow]{infra} infra errors[/]" if infra else "",
        }

    def eta_s(self) -> float | None:
        """Seconds left at the pace of this invocation, or None before its first trial finished."""
        if not self.finished_here:
            return None
        per_trial = (time.monotonic() - self.started) / self.finished_here
        return per_trial * (self.total - self.completed)

    def trial_done(self, record: TrialRecord) -> None:
        self._count(record)
        self.finished_here += 1
        self.progress.update(self.rows[record.framework], advance=1, **self._fields(record.framework))
        self.progress.update(self.rows[OVERALL], advance=1, **self._fields(None))
        if self.enabled and not self.live:
            verdict = "INFRA" if record.status == "infra_error" else "pass" if record.passed else "FAIL"
            why = record.infra_error or (record.score.reason if record.score and not record.passed else "")
            eta = self.eta_s()
            clock = f"elapsed {duration(time.monotonic() - self.started)}" + (
                f", ETA {duration(eta)}" if eta is not None and self.completed < self.total else ""
            )
            line = (
                f"[{self.completed}/{self.total}] {verdict:<5} {record.trial_id} {record.wall_s:.2f}s"
                f"  ({sum(self.passed.values())} passed; {clock})" + (f"  {why}" if why else "")
            )
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()
        if self.enabled and exc_type is None:
            self.console.print(
                f"{self.completed}/{self.total} trials, {sum(self.passed.values())} passed, "
                f"in {duration(time.monotonic() - self.started)}",
                markup=False,
                highlight=False,
            )
