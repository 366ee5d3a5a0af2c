"""Live progress of a run: a rich progress bar per framework with its pass count, or one plain line per
trial when stderr is not a terminal (CI logs)."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from benchmark.records import TrialRecord


class RunProgress:
    def __init__(self, totals: dict[str, int], done: Sequence[TrialRecord], enabled: bool = True) -> None:
        self.console = Console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.enabled = enabled
        self.totals = totals
        self.passed = {name: 0 for name in totals}
        self.failed = {name: 0 for name in totals}
        self.infra = {name: 0 for name in totals}
        self.progress = Progress(
            TextColumn("[bold]{task.fields[framework]:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[passed]} passed[/] [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[infra]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.live,
        )
        self.rows: dict[str, TaskID] = {}
        for record in done:
            self._count(record)
        for name, total in totals.items():
            completed = self.passed[name] + self.failed[name] + self.infra[name]
            self.rows[name] = self.progress.add_task(
                name, total=total, completed=completed, framework=name, **self._fields(name)
            )

    def _count(self, record: TrialRecord) -> None:
        if record.framework not in self.totals:
            return
        if record.status == "infra_error":
            self.infra[record.framework] += 1
        elif record.passed:
            self.passed[record.framework] += 1
        else:
            self.failed[record.framework] += 1

    def _fields(self, name: str) -> dict[str, Any]:
        infra = f"[yellow]{self.infra[name]} infra errors[/]" if self.infra[name] else ""
        return {"passed": self.passed[name], "failed": self.failed[name], "infra": infra}

    def trial_done(self, record: TrialRecord) -> None:
        self._count(record)
        self.progress.update(self.rows[record.framework], advance=1, **self._fields(record.framework))
        if self.enabled and not self.live:
            verdict = "INFRA" if record.status == "infra_error" else "pass" if record.passed else "FAIL"
            why = record.infra_error or (record.score.reason if record.score and not record.passed else "")
            line = f"{verdict:<5} {record.trial_id} {record.wall_s:.2f}s" + (f"  {why}" if why else "")
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()
