"""Suite YAML the benchmark tests share, each task written as an item of a suite's ``tasks:`` list: one
calculator task, the smallest one every path can run (a routed turn, one MCP tool call, a number in the
answer), and a two-turn weather task whose follow-up needs the first turn (conversation memory)."""

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

WEATHER_TWO_TURNS = """
  - id: weather-london-then-paris
    category: multi-turn
    turns:
      - user: What's the weather in London right now?
        expect:
          route: operational_agent
          tool_calls:
            - name: weather
              arguments:
                location: {contains: london}
          answer:
            - number: 19.8
              tolerance: 0.05
        script:
          steps:
            - call: weather
              arguments: {location: "London, UK"}
          answer: "London is at {weather.current.temperature}{weather.unit_labels.temperature}."
      - user: And in Paris?
        expect:
          route: operational_agent
          tool_calls:
            - name: weather
              arguments:
                location: {contains: paris}
          answer:
            - number: 22.7
              tolerance: 0.05
        script:
          requires_context: [London]
          steps:
            - call: weather
              arguments: {location: "Paris, France"}
          answer: "Paris is at {weather.current.temperature}{weather.unit_labels.temperature}."
"""


def suite_text(name: str, *tasks: str) -> str:
    """A suite file's text: its ``name`` and the given task items."""
    return f"name: {name}\ntasks:" + "".join(tasks)
