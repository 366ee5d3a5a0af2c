"""Token counts the gateway records when a backend reports none: tiktoken cl100k, offline.

The prompt side counts each message's role, text and tool calls plus the offered tools' JSON, with
OpenAI's documented per-message overhead; the completion side counts the text and each tool call's name and
arguments. The numbers are comparable between frameworks (one tokenizer, one rule), not billing-exact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from benchmark.gateway.completions import ToolCallOut
from benchmark.scripted.messages import content_text
from tools._tokens import count_tokens

PER_MESSAGE = 3  # <|start|>role ... <|end|>
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>


def prompt_tokens(messages: Sequence[Any], tools: Sequence[Any]) -> int:
    total = REPLY_PRIMING
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += PER_MESSAGE + count_tokens(str(message.get("role", "")))
        total += count_tokens(content_text(message.get("content")))
        if message.get("tool_calls"):
            total += count_tokens(json.dumps(message["tool_calls"], ensure_ascii=False))
        if isinstance(message.get("name"), str):
            total += count_tokens(message["name"])
    if tools:
        total += count_tokens(json.dumps(list(tools), ensure_ascii=False))
    return total


def completion_tokens(content: str | None, tool_calls: Sequence[ToolCallOut]) -> int:
    total = count_tokens(content or "")
    for call in tool_calls:
        total += count_tokens(call.name) + count_tokens(call.arguments)
    return total
