"""Helpers for the SQL tool tests: a scripted fake OpenAI-compatible chat model and file-integrity checks.

The fake speaks the real Chat Completions protocol over HTTP (serve it with
:func:`tests.loopback.serve_in_thread`); tests script its replies and read back the requests it received.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

CHINOOK = Path(__file__).resolve().parents[3] / "shared/data/chinook/Chinook_Sqlite.sqlite"
CHINOOK_MISSING = f"Chinook database not found at {CHINOOK} (the shared data folder beside the repository)"


@dataclass
class Reply:
    """One scripted answer: assistant ``content`` (a normal completion) or a raw ``status``/``body``."""

    content: str | None = None
    status: int = 200
    body: Any = None
    delay_s: float = 0.0


def completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_735_689_600,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class FakeChatModel:
    """Answers ``POST /v1/chat/completions`` with scripted replies, recording every request."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])

    def script(self, *replies: Reply | str) -> None:
        self.replies = [Reply(content=r) if isinstance(r, str) else r for r in replies]
        self.requests = []

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"path": request.url.path, "headers": dict(request.headers), "json": body})
        if not self.replies:
            return JSONResponse({"error": {"message": "no scripted reply left"}}, status_code=500)
        reply = self.replies.pop(0)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.content is not None:
            return JSONResponse(completion(reply.content, body.get("model", "")))
        if isinstance(reply.body, str):
            return PlainTextResponse(reply.body, status_code=reply.status)
        return JSONResponse(reply.body, status_code=reply.status)

    def user_prompt(self, index: int = 0) -> str:
        messages = self.requests[index]["json"]["messages"]
        return "\n".join(m["content"] for m in messages if m["role"] == "user")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_database(source: Path, folder: Path) -> Path:
    """A private copy to attack, alone in ``folder`` so stray -journal/-wal or new files are easy to spot."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copyfile(source, target)
    return target


@contextmanager
def unchanged(path: Path) -> Iterator[None]:
    """Assert ``path`` keeps its exact bytes and its folder gains no file (journal, WAL, attached db, ...)."""
    before_hash = sha256_file(path)
    before_files = sorted(os.listdir(path.parent))
    yield
    assert sha256_file(path) == before_hash, f"{path} was modified"
    assert sorted(os.listdir(path.parent)) == before_files, "files appeared or vanished beside the database"
