"""Token counts the gateway records when a backend reports none: tiktoken cl100k, offline.

The prompt side counts each message's role, text and tool calls plus the offered tools' JSON, with
OpenAI's documented per-message overhead; the completion side counts the text and each tool call's name and
arguments. The numbers are comparable between frameworks (one tokenizer, one rule), not billing-exact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from benchmark.gateway.completions import ToolCallOut
from benchmark.scripted.messages import content_text
from tools._tokens import count_tokens

# Agents resend the same system prompts, tool schemas and earlier turns on every call of a conversation, so
# most texts have been counted before: counting each once keeps the gateway's cost per call flat.
_count = lru_cache(maxsize=4096)(count_tokens)

PER_MESSAGE = 3  # <|start|>role ... <|end|>
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>


def prompt_tokens(messages: Sequence[Any], tools: Sequence[Any]) -> int:
    total = REPLY_PRIMING
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += PER_MESSAGE + _count(str(message.get("role", "")))
        total += _count(content_text(message.get("content")))
        if message.get("tool_calls"):
            total += _count(json.dumps(message["tool_calls"], ensure_ascii=False))
        if isinstance(message.get("name"), str):
            total += _count(message["name"])
    if tools:
        total += _count(json.dumps(list(tools), ensure_ascii=False))
    return total


def completion_tokens(content: str | None, tool_calls: Sequence[ToolCallOut]) -> int:
    total = _count(content or "")
    for call in tool_calls:
        total += _count(call.name) + _count(call.arguments)
    return total
