"""Writing a run's reports from its directory: ``summary.json``, ``report.md``, ``report.html``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from benchmark.records import RESULTS_FILE, read_run_info, read_trials
from benchmark.report.markdown import render_markdown
from benchmark.report.page import render_html
from benchmark.report.summary import build_summary


@dataclass(frozen=True)
class ReportPaths:
    summary: Path
    markdown: Path
    html: Path


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_reports(run_dir: Path) -> ReportPaths:
    """(Re)build the three reports from ``run.json`` and ``results.jsonl``."""
    info = read_run_info(run_dir)
    trials = read_trials(run_dir / RESULTS_FILE)
    summary = build_summary(info, trials)
    paths = ReportPaths(run_dir / "summary.json", run_dir / "report.md", run_dir / "report.html")
    _write(paths.summary, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _write(paths.markdown, render_markdown(summary))
    _write(paths.html, render_html(summary, trials))
    return paths
