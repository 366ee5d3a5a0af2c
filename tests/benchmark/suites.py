"""Suite YAML the benchmark tests share: one calculator task, the smallest one every path can run (a routed
turn, one MCP tool call, a number in the answer), written as an item of a suite's ``tasks:`` list."""

from __future__ import annotations

CALCULATOR_TASK = """
  - id: calculator-percent
    category: calculator
    description: A percentage with the calculator.
    turns:
      - user: What is 15% of 240?
        expect:
          route: operational_agent
          tool_calls:
            - name: calculator
              arguments:
                expression: {contains: "240"}
          answer:
            - number: 36
        script:
          steps:
            - call: calculator
              arguments: {expression: "15% of 240"}
          answer: "15% of 240 is {calculator.formatted}."
"""


def suite_text(name: str, *tasks: str) -> str:
    """A suite file's text: its ``name`` and the given task items."""
    return f"name: {name}\ntasks:" + "".join(tasks)
