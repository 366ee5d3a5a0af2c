"""The ``text2sql`` tool: question -> relevant schema -> SQL from a chat model -> parser check -> ``query``.

The model is any OpenAI-compatible Chat Completions endpoint named by configuration
(``AFBENCH_TEXT2SQL_BASE_URL``, ``AFBENCH_TEXT2SQL_MODEL``, optional ``AFBENCH_TEXT2SQL_API_KEY`` and
``AFBENCH_TEXT2SQL_TIMEOUT``). Whatever the model writes goes through the same read-only layers as a
hand-written query; a write is refused before it reaches SQLite. When a generated query fails with a syntax
or SQL error the model gets one chance to repair it, with SQLite's message.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field

from tools._http import user_agent
from tools.errors import ErrorCode, ToolError
from tools.sql.database import resolve_database
from tools.sql.models import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    QueryResult,
    RetrievalMethod,
    TableInfo,
    Text2SQLRequest,
    Text2SQLResult,
    parse_request,
)
from tools.sql.query import db_path_argument, execute_readonly
from tools.sql.readonly import validate_sql
from tools.sql.schema import catalogue, check_question, rank_tables, render_tables, with_neighbours

RETRIEVED_TABLES = 4
MAX_SCHEMA_TABLES = 8
REPAIRABLE = frozenset({ErrorCode.SYNTAX_ERROR, ErrorCode.SQL_ERROR})

SYSTEM_PROMPT = (
    "You translate questions about a SQLite database into SQL. Reply with exactly one SQLite SELECT "
    "statement (WITH ... SELECT is allowed) and nothing else: no explanation, no markdown. Never write "
    "INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, PRAGMA, ATTACH or more than one statement. Use only the "
    "tables and columns in the schema given, with SQLite functions (strftime, date, substr, ...). Give "
    "result columns clear names and add ORDER BY / LIMIT when the question asks for a top or a ranking."
)


class Text2SQLSettings(BaseModel):
    """Where the SQL-writing model lives; any OpenAI-compatible Chat Completions endpoint."""

    base_url: str = Field(description="API root, e.g. 'http://127.0.0.1:8000/v1' (POST {base_url}/chat/completions).")
    model: str = Field(description="Model name sent in the request.")
    api_key: str | None = Field(default=None, description="Bearer token, if the endpoint needs one.", repr=False)
    timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for the model's reply.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Text2SQLSettings | None:
        """Settings from ``AFBENCH_TEXT2SQL_*`` variables; None when base URL or model is not set."""
        env = os.environ if environ is None else environ
        base_url = env.get("AFBENCH_TEXT2SQL_BASE_URL", "").strip()
        model = env.get("AFBENCH_TEXT2SQL_MODEL", "").strip()
        if not base_url or not model:
            return None
        timeout_text = env.get("AFBENCH_TEXT2SQL_TIMEOUT", "").strip()
        try:
            timeout = float(timeout_text) if timeout_text else 60.0
        except ValueError:
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"AFBENCH_TEXT2SQL_TIMEOUT must be a number of seconds, got {timeout_text!r}",
            ) from None
        return cls(base_url=base_url, model=model, api_key=env.get("AFBENCH_TEXT2SQL_API_KEY") or None, timeout=timeout)


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def extract_sql(reply: str) -> str:
    """The SQL in a model reply: the first ``` fenced block if there is one, else the whole reply."""
    text = _THINKING.sub("", reply).strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(2).strip()
    return text


def _upstream(message: str, **details: Any) -> ToolError:
    return ToolError(ErrorCode.UPSTREAM_ERROR, message, stage="model", **details)


async def complete(settings: Text2SQLSettings, messages: list[dict[str, str]]) -> str:
    """One Chat Completions call (temperature 0); returns the reply text or raises UPSTREAM_ERROR/TIMEOUT."""
    url = settings.base_url.rstrip("/") + "/chat/completions"
    headers = {"User-Agent": user_agent()}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    payload = {"model": settings.model, "messages": messages, "temperature": 0}
    try:
        async with httpx.AsyncClient(timeout=settings.timeout, headers=headers) as client:
            response = await client.post(url, json=payload)
    except httpx.TimeoutException:
        raise ToolError(
            ErrorCode.TIMEOUT,
            f"The text-to-SQL model at {url} did not answer within {settings.timeout:g} s",
            stage="model",
        ) from None
    except httpx.HTTPError as exc:
        raise _upstream(f"Cannot reach the text-to-SQL model at {url}: {exc.__class__.__name__}: {exc}") from None
    if response.status_code >= 400:
        raise _upstream(
            f"The text-to-SQL model answered HTTP {response.status_code}: {response.text[:300]}",
            status=response.status_code,
        )
    try:
        body = response.json()
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise _upstream(
            f"The text-to-SQL model's reply is not a Chat Completions response: {response.text[:300]}"
        ) from None
    if not isinstance(content, str) or not content.strip():
        raise _upstream("The text-to-SQL model returned an empty reply instead of SQL")
    return content


def _schema_for(path: Path, question: str) -> tuple[list[TableInfo], RetrievalMethod]:
    matches, method = rank_tables(path, question, RETRIEVED_TABLES)
    schema = catalogue(path).schema
    if matches:
        tables = with_neighbours(schema, [m.table for m in matches], MAX_SCHEMA_TABLES)
    else:  # nothing matched lexically: show what fits rather than nothing
        tables = schema.tables[:MAX_SCHEMA_TABLES]
    return tables, method


def _user_prompt(question: str, schema_text: str) -> str:
    return f"Database schema:\n\n{schema_text}\n\nQuestion: {question}\n\nSQL:"


async def text2sql(
    question: str,
    db_path: str | os.PathLike[str] | None = None,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    settings: Text2SQLSettings | None = None,
) -> Text2SQLResult:
    """Answer a question about a SQLite database in plain words: writes one SELECT with a language model,
    checks it is read-only, runs it and returns the SQL together with the rows.

    Returns the generated ``sql``, the ``tables_used`` (whose schema the model saw) and the query
    ``result`` (columns, rows, truncated). Fails with ``not_configured`` when no text-to-SQL model is set
    up: then look at the database with the ``sql_schema`` tool and write the SELECT yourself for the
    ``sql_query`` tool. ``db_path`` defaults to the Kestrel Systems sample database.
    """
    request = parse_request(
        Text2SQLRequest, question=question, db_path=db_path_argument(db_path), max_rows=max_rows, timeout_s=timeout_s
    )
    check_question(request.question)
    settings = settings or Text2SQLSettings.from_env()
    if settings is None:
        raise ToolError(
            ErrorCode.NOT_CONFIGURED,
            "No text-to-SQL model is configured (set AFBENCH_TEXT2SQL_BASE_URL and AFBENCH_TEXT2SQL_MODEL). "
            "Use the 'sql_schema' tool to see the tables and columns, then write one SELECT for the 'sql_query' tool.",
        )

    path = await asyncio.to_thread(resolve_database, request.db_path)
    tables, method = await asyncio.to_thread(_schema_for, path, request.question)
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": _user_prompt(request.question, render_tables(tables))},
    ]
    attempts = 0
    while True:
        attempts += 1
        reply = await complete(settings, messages)
        sql = extract_sql(reply)
        try:
            if not sql:
                raise ToolError(ErrorCode.SYNTAX_ERROR, "The model's reply contained no SQL")
            tree = validate_sql(sql)  # a write stops here, before any connection is opened
            result: QueryResult = await asyncio.to_thread(
                execute_readonly, sql, path, max_rows=request.max_rows, timeout_s=request.timeout_s, tree=tree
            )
        except ToolError as exc:
            exc.details.setdefault("sql", sql)
            if exc.code not in REPAIRABLE or attempts >= 2:
                raise
            messages += [
                {"role": "assistant", "content": reply},
                {
                    "role": "user",
                    "content": f"That SQL failed: {exc.message}\nReply with one corrected SQLite SELECT only.",
                },
            ]
            continue
        return Text2SQLResult(
            question=request.question,
            sql=sql,
            tables_used=[t.name for t in tables],
            retrieval_method=method,
            model=settings.model,
            attempts=attempts,
            result=result,
        )
