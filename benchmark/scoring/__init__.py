"""Scoring: a trial against its task's expectations, and the metrics that compare frameworks.

Tool use is scored on the MCP server's log, never on what a build says it did.
"""

from benchmark.scoring.answers import check_answer
from benchmark.scoring.loc import count_loc
from benchmark.scoring.numbers import numbers_in
from benchmark.scoring.stats import pass_hat_k, percentile, wilson_interval
from benchmark.scoring.tool_calls import CallMatch, match_calls
from benchmark.scoring.trial import score_trial

__all__ = [
    "CallMatch",
    "check_answer",
    "count_loc",
    "match_calls",
    "numbers_in",
    "pass_hat_k",
    "percentile",
    "score_trial",
    "wilson_interval",
]
