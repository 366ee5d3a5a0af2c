"""Reports of a run, rebuilt from its directory alone: ``summary.json``, ``report.md`` and a self-contained
``report.html`` (inline CSS and SVG, no scripts, nothing fetched), and the comparison of two runs."""

from benchmark.report.compare import Comparison, compare_runs, render_comparison
from benchmark.report.summary import build_summary
from benchmark.report.write import ReportPaths, write_reports

__all__ = ["Comparison", "ReportPaths", "build_summary", "compare_runs", "render_comparison", "write_reports"]
