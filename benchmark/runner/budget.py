"""A run's budget: ``--max-tokens`` (input + output, as the gateway measured them) and ``--max-cost`` (USD, from
the model profile's prices), counted over every finished trial of the run, those of earlier invocations too.

It is checked between trials: a lane starts no trial once the budget is spent, and trials already running
finish (so a run can go past its budget by what its last trials, one per lane, cost). The run then stops
cleanly: its trials are recorded as usual, ``run.json`` says why it stopped, and ``--resume`` with a larger
budget (or none) goes on where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.profiles import ModelProfile
from benchmark.records import TrialRecord


class BudgetError(ValueError):
    """A budget that cannot be applied (a cost limit without prices, a limit that is not positive)."""


@dataclass
class Budget:
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    tokens: int = 0
    cost_usd: float = 0.0

    @classmethod
    def for_run(
        cls, profile: ModelProfile, max_tokens: int | None, max_cost_usd: float | None, done: list[TrialRecord]
    ) -> Budget:
        if max_tokens is not None and max_tokens < 1:
            raise BudgetError(f"--max-tokens must be at least 1, got {max_tokens}")
        if max_cost_usd is not None:
            if max_cost_usd <= 0:
                raise BudgetError(f"--max-cost must be positive, got {max_cost_usd}")
            if not profile.priced:
                raise BudgetError(
                    f"--max-cost needs prices: the model profile '{profile.name}' has no price_input_per_1m and "
                    "price_output_per_1m (benchmark/models.yaml); use --max-tokens, or add the prices"
                )
        budget = cls(max_tokens, max_cost_usd)
        for record in done:
            budget.add(record)
        return budget

    def add(self, record: TrialRecord) -> None:
        self.tokens += record.tokens_in + record.tokens_out
        self.cost_usd += record.cost_usd or 0.0

    def reached(self) -> str | None:
        """Why no further trial may start, or None while the budget lasts."""
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"the token budget is spent ({self.tokens:,} of --max-tokens {self.max_tokens:,})"
        if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
            return f"the cost budget is spent (${self.cost_usd:.4f} of --max-cost ${self.max_cost_usd:g})"
        return None
