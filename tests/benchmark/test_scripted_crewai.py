"""The scripted model on request shapes the CrewAI build sends: a conversational Flow's router step passes the
conversation as a JSON document (``json.dumps``, so non-ASCII text arrives as ``\\u`` escapes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmark.scripted import reply
from benchmark.system import default_spec
from benchmark.tasks.models import Task

SPEC = default_spec()
MUNICH = "What's the weather like in München?"
QUOTED = 'Is "net 30" in the MSA?'

TASK = Task.model_validate(
    {
        "id": "json-router",
        "category": "test",
        "turns": [
            {
                "user": MUNICH,
                "expect": {"route": "operational_agent"},
                "script": {"steps": [{"call": "weather", "arguments": {"location": "Munich"}}], "answer": "ok"},
            },
            {
                "user": QUOTED,
                "expect": {"route": "legal_expert"},
                "script": {"steps": [{"call": "rag_search", "arguments": {"query": "net 30"}}], "answer": "ok"},
            },
        ],
    }
)

ROUTE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "Route",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"route": {"type": "string", "enum": ["legal_expert", "operational_agent"]}},
            "required": ["route"],
            "additionalProperties": False,
        },
    },
}


def router_request(history: list[dict[str, str]]) -> dict[str, Any]:
    """The body crewai 1.15's ``Flow._build_router_messages`` sends: routes prompt, then the context as JSON."""
    context = {
        "system_prompt": None,
        "current_user_message": history[-1]["content"],
        "message_history": history,
        "events": [],
        "last_intent": None,
        "available_routes": ["legal_expert", "operational_agent"],
    }
    routes = "Routes:\n- legal_expert: Contracts ...\n- operational_agent: Calculations ..."
    return {
        "model": "afbench-scripted",
        "messages": [
            {"role": "system", "content": f"{SPEC.orchestrator_instructions}\n\n{routes}"},
            {"role": "user", "content": json.dumps(context, default=str)},
        ],
        "response_format": ROUTE_FORMAT,
    }


def test_router_finds_a_non_ascii_turn_inside_a_json_context() -> None:
    body = router_request([{"role": "user", "content": MUNICH}])
    assert "München" not in body["messages"][1]["content"]  # escaped as \u00fc
    answer = reply(TASK, body)
    assert json.loads(answer.content or "") == {"route": "operational_agent"}


def test_router_finds_the_latest_turn_with_quotes_after_a_json_escaped_history() -> None:
    history = [
        {"role": "user", "content": MUNICH},
        {"role": "assistant", "content": "It is 21.5°C in Munich."},
        {"role": "user", "content": QUOTED},
    ]
    answer = reply(TASK, router_request(history))
    assert json.loads(answer.content or "") == {"route": "legal_expert"}


def _follow_up(earlier: str, needed: str) -> Task:
    return Task.model_validate(
        {
            "id": "json-router-memory",
            "category": "test",
            "turns": [
                {"user": earlier, "expect": {"route": "operational_agent"}, "script": {"answer": "Done."}},
                {
                    "user": "And tomorrow?",
                    "expect": {"route": "operational_agent"},
                    "script": {"answer": "ok", "requires_context": [needed]},
                },
            ],
        }
    )


@pytest.mark.parametrize(
    ("earlier", "needed"),
    [(MUNICH, "München"), ("What is £1,249.99 plus 20% VAT?", "£1,249.99"), ("Convert 98.6 °F to Celsius.", "°F")],
)
def test_router_sees_required_context_in_a_json_escaped_history(earlier: str, needed: str) -> None:
    history = [
        {"role": "user", "content": earlier},
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": "And tomorrow?"},
    ]
    body = router_request(history)
    assert needed not in body["messages"][1]["content"]  # the history arrives JSON-escaped
    answer = reply(_follow_up(earlier, needed), body)
    assert answer.turn == 1
    assert json.loads(answer.content or "") == {"route": "operational_agent"}
