"""The ``query`` tool: run one read-only SELECT against a SQLite file, with row, size and time limits.

The SQL passes the parser check (:func:`tools.sql.readonly.validate_sql`), then runs on a read-only
connection (:func:`open_readonly`) with :func:`readonly_authorizer` installed: three layers, each enough on
its own to stop a write. The blocking SQLite work runs in a worker thread so the tool is async.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Literal

from sqlglot import exp

from tools.errors import ErrorCode, ToolError
from tools.sql.database import database_name, resolve_database
from tools.sql.models import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    BlobValue,
    CellValue,
    QueryRequest,
    QueryResult,
    parse_request,
)
from tools.sql.readonly import describe_denial, open_readonly, readonly_authorizer, validate_sql

MAX_RESULT_BYTES = 4_000_000  # rough JSON size of all returned cells
MAX_VALUE_BYTES = 1_000_000  # SQLite refuses to build a longer string or blob (randomblob(1e9) and friends)
MAX_BLOB_BYTES_SHOWN = 4096
_PROGRESS_EVERY = 1000  # SQLite VM instructions between deadline checks


def db_path_argument(db_path: str | os.PathLike[str] | None) -> str | None:
    """Tool functions accept paths too; the request models hold text."""
    return os.fspath(db_path) if isinstance(db_path, os.PathLike) else db_path


def decode_text(raw: bytes) -> str:
    """``text_factory`` that survives TEXT cells holding invalid UTF-8 (common in imported data)."""
    return raw.decode("utf-8", errors="replace")


def _cell(value: Any) -> CellValue:
    if isinstance(value, bytes):
        shown = value[:MAX_BLOB_BYTES_SHOWN]
        return BlobValue(
            blob_base64=base64.b64encode(shown).decode("ascii"),
            size_bytes=len(value),
            truncated=len(shown) < len(value),
        )
    if isinstance(value, int | float | str) or value is None:
        return value
    return str(value)


def _cell_size(value: CellValue) -> int:
    if isinstance(value, BlobValue):
        return len(value.blob_base64) + 40
    return len(value) + 2 if isinstance(value, str) else 8


def _table_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return [str(name) for (name,) in rows]


def _columns_of(conn: sqlite3.Connection, tables: list[str]) -> dict[str, list[str]]:
    known = {name.lower(): name for name in _table_names(conn)}
    found: dict[str, list[str]] = {}
    for table in tables:
        real = known.get(table.lower())
        if real:
            found[real] = [str(r[0]) for r in conn.execute("SELECT name FROM pragma_table_info(?)", (real,))]
    return found


def _sql_error(exc: sqlite3.Error, conn: sqlite3.Connection, tree: exp.Expression) -> ToolError:
    """Turn an SQLite compile or runtime error into SQL_ERROR with hints that help fix the query."""
    text = str(exc)
    conn.set_authorizer(None)
    conn.set_progress_handler(None, 0)
    if "syntax error" in text or "incomplete input" in text or text.startswith("unrecognized token"):
        return ToolError(ErrorCode.SYNTAX_ERROR, f"SQLite could not parse the SQL: {text}", sqlite_error=text)
    if text.startswith("no such table"):
        tables = _table_names(conn)
        return ToolError(
            ErrorCode.SQL_ERROR,
            f"SQLite error: {text}. Tables in this database: {', '.join(tables)}",
            sqlite_error=text,
            tables=tables,
        )
    if text.startswith("no such column") or "has no column named" in text:
        referenced = sorted({table.name for table in tree.find_all(exp.Table) if table.name})
        columns = _columns_of(conn, referenced)
        hint = "; ".join(f"{table}({', '.join(cols)})" for table, cols in columns.items())
        return ToolError(
            ErrorCode.SQL_ERROR,
            f"SQLite error: {text}." + (f" Columns of the tables used: {hint}" if hint else ""),
            sqlite_error=text,
            columns=columns,
        )
    return ToolError(ErrorCode.SQL_ERROR, f"SQLite error: {text}", sqlite_error=text)


def execute_readonly(
    sql: str,
    path: Path,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    tree: exp.Expression | None = None,
) -> QueryResult:
    """Blocking core of :func:`run_query`: all three layers, limits and error mapping. ``path`` must exist."""
    tree = tree if tree is not None else validate_sql(sql)
    started = time.monotonic()
    deadline = started + timeout_s
    try:
        conn = open_readonly(path)
    except sqlite3.Error as exc:
        raise ToolError(
            ErrorCode.SQL_ERROR, f"Cannot open {database_name(path)!r}: {exc}", database=database_name(path)
        ) from None
    denials: list[str] = []

    def authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        decision = readonly_authorizer(action, arg1, arg2, db, trigger)
        if decision != sqlite3.SQLITE_OK:
            denials.append(describe_denial(action, arg1, arg2))
        return decision

    try:
        conn.text_factory = decode_text
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.set_authorizer(authorizer)
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_EVERY)
        try:
            cursor = conn.execute(sql)
            columns = [str(d[0]) for d in cursor.description or ()]
            rows: list[list[CellValue]] = []
            size = 0
            truncated_reason: Literal["max_rows", "max_bytes"] | None = None
            while (raw := cursor.fetchone()) is not None:
                if len(rows) == max_rows:
                    truncated_reason = "max_rows"
                    break
                row = [_cell(value) for value in raw]
                size += sum(_cell_size(value) for value in row)
                if size > MAX_RESULT_BYTES and rows:
                    truncated_reason = "max_bytes"
                    break
                rows.append(row)
        except sqlite3.ProgrammingError as exc:
            if "one statement" in str(exc):
                raise ToolError(
                    ErrorCode.READ_ONLY_VIOLATION,
                    "Rejected more than one statement: only a single read-only SELECT may run.",
                    rejected="multiple statements",
                ) from None
            raise ToolError(ErrorCode.SQL_ERROR, f"SQLite error: {exc}", sqlite_error=str(exc)) from None
        except sqlite3.Error as exc:
            name = getattr(exc, "sqlite_errorname", "")
            if denials:
                raise ToolError(
                    ErrorCode.READ_ONLY_VIOLATION,
                    f"Rejected {denials[0]}: SQLite's authorizer allows only reads (SELECT, column reads, "
                    "ordinary functions).",
                    rejected=denials[0],
                ) from None
            if name == "SQLITE_READONLY" or name.startswith("SQLITE_READONLY_"):
                raise ToolError(
                    ErrorCode.READ_ONLY_VIOLATION,
                    f"Rejected a write: the database is opened read-only ({exc}).",
                    rejected="write",
                ) from None
            if name == "SQLITE_INTERRUPT" or str(exc) == "interrupted":
                raise ToolError(
                    ErrorCode.TIMEOUT,
                    f"The query ran longer than the {timeout_s:g} s limit and was stopped; add WHERE filters, "
                    "aggregate in SQL, or avoid unbounded recursive CTEs.",
                    timeout_s=timeout_s,
                ) from None
            if name == "SQLITE_NOTADB":
                raise ToolError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{database_name(path)!r} is not a SQLite database",
                    database=database_name(path),
                ) from None
            if name == "SQLITE_TOOBIG" or "too big" in str(exc):
                raise ToolError(
                    ErrorCode.RESULT_TOO_LARGE,
                    f"A value in the result exceeds {MAX_VALUE_BYTES:,} bytes ({exc})",
                    limit=MAX_VALUE_BYTES,
                ) from None
            raise _sql_error(exc, conn, tree) from None
    finally:
        conn.close()
    return QueryResult(
        database=database_name(path),
        sql=sql,
        columns=columns,
        rows=rows,
        row_count=len(rows),
        truncated=truncated_reason is not None,
        truncated_reason=truncated_reason,
        max_rows=max_rows,
        elapsed_ms=round((time.monotonic() - started) * 1000, 3),
    )


async def run_query(
    sql: str,
    db_path: str | os.PathLike[str] | None = None,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> QueryResult:
    """Run one read-only SQLite SELECT and return its columns and rows.

    Use it after looking at the schema (table and column names). ``sql`` is exactly one SELECT statement;
    ``WITH`` (including ``WITH RECURSIVE``) is allowed. INSERT/UPDATE/DELETE, CREATE/DROP/ALTER, PRAGMA,
    ATTACH, transactions, several statements and functions such as load_extension are rejected with
    ``read_only_violation``. At most ``max_rows`` rows come back (default 200, up to 1000) and ``truncated``
    is true when there were more: aggregate or add LIMIT rather than paging through raw rows. A query running
    past ``timeout_s`` seconds (default 5) fails with ``timeout``. Errors name the problem: ``syntax_error``
    with position, ``sql_error`` with SQLite's message and the real table or column names. BLOB cells come
    back as ``{"blob_base64", "size_bytes", "truncated"}``. ``db_path`` defaults to the Kestrel Systems
    sample database.
    """
    request = parse_request(
        QueryRequest, sql=sql, db_path=db_path_argument(db_path), max_rows=max_rows, timeout_s=timeout_s
    )
    tree = validate_sql(request.sql)

    def work() -> QueryResult:
        path = resolve_database(request.db_path)
        return execute_readonly(request.sql, path, max_rows=request.max_rows, timeout_s=request.timeout_s, tree=tree)

    return await asyncio.to_thread(work)
