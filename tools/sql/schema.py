"""The ``schema`` tool and table retrieval: what is in a SQLite file, and which tables fit a question.

Introspection works on any SQLite file. Descriptions come from a ``_schema_docs(table_name, column_name,
description)`` catalogue when the database has one (the bundled sample does); otherwise retrieval falls back
to words taken from table and column names (``InvoiceLine`` -> "invoice line", ``unit_price`` -> "unit
price"). Retrieval is dense (MiniLM embeddings) when the embedding stack is installed, else BM25; table
embeddings are cached per (path, mtime, size) so a changed file is re-embedded.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tools._text import checked_text
from tools.embeddings import dense_available, get_embedder
from tools.errors import ErrorCode, ToolError
from tools.lexical import LexicalIndex
from tools.sql.database import database_name, resolve_database
from tools.sql.models import (
    MAX_QUESTION_CHARS,
    ColumnInfo,
    ForeignKeyInfo,
    IndexInfo,
    RelevantTablesRequest,
    RetrievalMethod,
    ScalarValue,
    SchemaInfo,
    SchemaRequest,
    TableInfo,
    TableMatch,
    parse_request,
)
from tools.sql.query import db_path_argument, decode_text
from tools.sql.readonly import open_readonly
from tools.sql.sample_schema import DOCS_TABLE

SAMPLE_TEXT_CHARS = 60
# A huge table or a slow view must not stall the tool: each COUNT(*) or sample query gets a second, and all
# of them together a few seconds; what does not finish is reported as unknown (row_count None, no samples).
COUNT_TIME_LIMIT_S = 1.0
INSPECT_TIME_LIMIT_S = 5.0
_CACHE_SIZE = 8

_INDEX_ORIGINS: dict[str, Literal["index", "unique_constraint", "primary_key"]] = {
    "c": "index",
    "u": "unique_constraint",
    "pk": "primary_key",
}


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def name_words(name: str) -> str:
    """Words of an identifier: ``InvoiceLine`` -> 'invoice line', ``order_items`` -> 'order items'."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return " ".join(part.lower() for part in re.split(r"[\s_\-.]+", spaced) if part)


def check_question(question: str) -> str:
    checked_text(question, "question", MAX_QUESTION_CHARS, empty_hint="ask about the data in plain words")
    return question


# -- introspection ---------------------------------------------------------------------------------------


def _sample(value: Any) -> ScalarValue:
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>"
    if isinstance(value, str) and len(value) > SAMPLE_TEXT_CHARS:
        return value[: SAMPLE_TEXT_CHARS - 1] + "…"
    return value if isinstance(value, int | float | str) or value is None else str(value)


def _bounded(conn: sqlite3.Connection, sql: str, budget_end: float) -> list[Any] | None:
    """Rows of ``sql``, or None when it fails or runs past :data:`COUNT_TIME_LIMIT_S` or ``budget_end``."""
    deadline = min(time.monotonic() + COUNT_TIME_LIMIT_S, budget_end)
    if deadline <= time.monotonic():
        return None
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.set_progress_handler(None, 0)


def _load_docs(conn: sqlite3.Connection) -> dict[str, tuple[str | None, dict[str, str]]] | None:
    present = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (DOCS_TABLE,)).fetchone()
    if not present:
        return None
    columns = {str(r[0]) for r in conn.execute("SELECT name FROM pragma_table_info(?)", (DOCS_TABLE,))}
    if not {"table_name", "column_name", "description"} <= columns:
        return None
    docs: dict[str, tuple[str | None, dict[str, str]]] = {}
    for table, column, text in conn.execute(
        f"SELECT table_name, column_name, description FROM {quote_identifier(DOCS_TABLE)}"
    ):
        if not isinstance(table, str) or not isinstance(text, str):
            continue
        table_doc, column_docs = docs.get(table.lower(), (None, {}))
        if column:
            column_docs[str(column).lower()] = text
        else:
            table_doc = text
        docs[table.lower()] = (table_doc, column_docs)
    return docs


def _list_tables(conn: sqlite3.Connection) -> list[tuple[str, Literal["table", "view"]]]:
    try:
        # table_list (SQLite 3.37+) tells shadow tables of full-text indexes apart from real ones
        listed = conn.execute("SELECT name, type FROM pragma_table_list WHERE schema = 'main'").fetchall()
        kinds = {str(name): str(kind) for name, kind in listed}
    except sqlite3.Error:
        kinds = {}
    rows = conn.execute(
        "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' "
        "ORDER BY rowid"
    ).fetchall()
    tables: list[tuple[str, Literal["table", "view"]]] = []
    for name, kind in rows:
        if name == DOCS_TABLE or kinds.get(name) == "shadow":
            continue
        tables.append((str(name), "view" if kind == "view" else "table"))
    return tables


def _foreign_keys(conn: sqlite3.Connection, table: str) -> list[ForeignKeyInfo]:
    grouped: dict[int, list[Any]] = {}
    for row in conn.execute(
        'SELECT id, seq, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq',
        (table,),
    ):
        grouped.setdefault(int(row[0]), []).append(row)
    keys = []
    for rows in grouped.values():
        target = str(rows[0][2])
        to_columns = [r[4] for r in rows]
        if any(c is None for c in to_columns):  # REFERENCES t without columns means t's primary key
            pk = conn.execute("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (target,))
            to_columns = [str(r[0]) for r in pk]
        keys.append(
            ForeignKeyInfo(
                columns=[str(r[3]) for r in rows],
                references_table=target,
                references_columns=[str(c) for c in to_columns],
                on_update=str(rows[0][5]),
                on_delete=str(rows[0][6]),
            )
        )
    return keys


def _indexes(conn: sqlite3.Connection, table: str) -> list[IndexInfo]:
    indexes = []
    for _, name, unique, origin, _partial in conn.execute(
        'SELECT seq, name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY seq', (table,)
    ):
        columns = [
            str(col) if col is not None else "<expression>"
            for (col,) in conn.execute("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (name,))
        ]
        indexes.append(
            IndexInfo(name=str(name), columns=columns, unique=bool(unique), origin=_INDEX_ORIGINS.get(origin, "index"))
        )
    return indexes


def _inspect(path: Path, only: list[str] | None, sample_values: int) -> SchemaInfo:
    try:
        conn = open_readonly(path)
    except sqlite3.Error as exc:
        raise ToolError(
            ErrorCode.SQL_ERROR, f"Cannot open {database_name(path)!r}: {exc}", database=database_name(path)
        ) from None
    try:
        conn.text_factory = decode_text
        try:
            docs = _load_docs(conn)
            listed = _list_tables(conn)
        except sqlite3.DatabaseError as exc:
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"{database_name(path)!r} is not a readable SQLite database: {exc}",
                database=database_name(path),
            ) from None
        if only is not None:
            by_name = {name.lower(): (name, kind) for name, kind in listed}
            missing = [t for t in only if t.lower() not in by_name]
            if missing:
                raise ToolError(
                    ErrorCode.NOT_FOUND,
                    f"No table named {', '.join(map(repr, missing))}. Tables: {', '.join(n for n, _ in listed)}",
                    missing=missing,
                    tables=[n for n, _ in listed],
                )
            listed = [by_name[t.lower()] for t in dict.fromkeys(only)]
        tables = []
        budget_end = time.monotonic() + INSPECT_TIME_LIMIT_S
        for name, kind in listed:
            table_doc, column_docs = (docs or {}).get(name.lower(), (None, {}))
            quoted = quote_identifier(name)
            columns = []
            for _, col, col_type, not_null, default, pk in conn.execute(
                'SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid', (name,)
            ).fetchall():
                samples: list[ScalarValue] = []
                if sample_values:
                    rows = _bounded(
                        conn,
                        f"SELECT DISTINCT {quote_identifier(col)} FROM {quoted} "
                        f"WHERE {quote_identifier(col)} IS NOT NULL LIMIT {int(sample_values)}",
                        budget_end,
                    )
                    samples = [_sample(r[0]) for r in rows or []]
                columns.append(
                    ColumnInfo(
                        name=str(col),
                        type=str(col_type or ""),
                        not_null=bool(not_null),
                        default=None if default is None else str(default),
                        primary_key=bool(pk),
                        description=column_docs.get(str(col).lower()),
                        sample_values=samples,
                    )
                )
            counted = _bounded(conn, f"SELECT COUNT(*) FROM {quoted}", budget_end)
            tables.append(
                TableInfo(
                    name=name,
                    kind=kind,
                    description=table_doc,
                    row_count=int(counted[0][0]) if counted else None,
                    columns=columns,
                    foreign_keys=_foreign_keys(conn, name) if kind == "table" else [],
                    indexes=_indexes(conn, name) if kind == "table" else [],
                )
            )
    finally:
        conn.close()
    return SchemaInfo(database=database_name(path), documented=docs is not None, tables=tables)


@dataclass
class _Catalogue:
    schema: SchemaInfo
    texts: list[str]
    lexical: tuple[LexicalIndex, LexicalIndex] | None = None  # (full texts, table names only)
    vectors: npt.NDArray[np.float32] | None = None


_catalogues: OrderedDict[tuple[str, int, int], _Catalogue] = OrderedDict()
_catalogue_lock = threading.Lock()


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)


def table_text(table: TableInfo) -> str:
    """Retrieval text of a table: its name as words, description, then columns with their descriptions."""
    words = name_words(table.name)
    # The name is the strongest signal of what a table is about; repeating it weighs it above the many
    # mentions of, say, "customer" in other tables' foreign-key column descriptions.
    parts = [f"{words}. {words} ({table.name})."]
    if table.description:
        parts.append(table.description)
    parts.append("Columns: " + ", ".join(name_words(c.name) for c in table.columns) + ".")
    documented = [f"{name_words(c.name)}: {c.description}" for c in table.columns if c.description]
    if documented:
        parts.append(" ".join(documented))
    if table.foreign_keys:
        parts.append("Linked to " + ", ".join(name_words(fk.references_table) for fk in table.foreign_keys) + ".")
    return " ".join(parts)


def catalogue(path: Path) -> _Catalogue:
    """Schema (3 samples per column) and retrieval texts of ``path``, cached per (path, mtime, size)."""
    key = _file_key(path)
    with _catalogue_lock:
        cached = _catalogues.get(key)
        if cached is not None:
            _catalogues.move_to_end(key)
            return cached
    schema = _inspect(path, None, 3)
    entry = _Catalogue(schema=schema, texts=[table_text(t) for t in schema.tables])
    with _catalogue_lock:
        entry = _catalogues.setdefault(key, entry)
        while len(_catalogues) > _CACHE_SIZE:
            _catalogues.popitem(last=False)
    return entry


_MEMO_SIZE = 4096
_text_vectors: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()


def _table_vectors(texts: list[str]) -> npt.NDArray[np.float32]:
    """Embeddings of table texts, memoised by text: copies of a database, or a file where one table
    changed, re-embed only what is new."""
    with _catalogue_lock:
        missing = [t for t in dict.fromkeys(texts) if t not in _text_vectors]
    if missing:
        fresh = get_embedder().encode(missing)
        with _catalogue_lock:
            _text_vectors.update(zip(missing, fresh, strict=True))
    with _catalogue_lock:
        vectors = [_text_vectors[t] for t in texts]
        for text in texts:
            _text_vectors.move_to_end(text)
        while len(_text_vectors) > _MEMO_SIZE:
            _text_vectors.popitem(last=False)
    return np.stack(vectors) if vectors else np.zeros((0, get_embedder().dimensions), dtype=np.float32)


def _dense_scores(entry: _Catalogue, question: str) -> npt.NDArray[np.float32]:
    embedder = get_embedder()
    if entry.vectors is None:
        entry.vectors = _table_vectors(entry.texts)
    query = embedder.encode([question])[0]
    return np.asarray(entry.vectors @ query, dtype=np.float32)


def _lexical_scores(entry: _Catalogue, question: str) -> npt.NDArray[np.float32]:
    if entry.lexical is None:
        names = [name_words(t.name) for t in entry.schema.tables]
        entry.lexical = (LexicalIndex(entry.texts), LexicalIndex(names))
    full, names_only = entry.lexical
    # Words like "customer" occur in every child table's foreign-key columns, so BM25 over the full texts
    # alone can rank the customers table below them; a match on the table's own name is added on top.
    return np.asarray(full.scores(question) + names_only.scores(question), dtype=np.float32)


def _rank(entry: _Catalogue, question: str, k: int, method: RetrievalMethod) -> list[TableMatch]:
    tables = entry.schema.tables
    if not tables:
        return []
    if method == "dense":
        scores = _dense_scores(entry, question)
        order = np.argsort(-scores, kind="stable")[:k]
        ranked = [(int(i), float(scores[i])) for i in order]
    else:
        scores = _lexical_scores(entry, question)
        order = np.argsort(-scores, kind="stable")[:k]
        ranked = [(int(i), float(scores[i])) for i in order if scores[i] > 0]
    return [
        TableMatch(
            table=tables[i].name,
            score=round(score, 6),
            method=method,
            description=tables[i].description,
            columns=[c.name for c in tables[i].columns],
        )
        for i, score in ranked
    ]


def choose_method(requested: Literal["auto", "dense", "lexical"]) -> RetrievalMethod:
    if requested == "auto":
        return "dense" if dense_available() else "lexical"
    return requested


def rank_tables(
    path: Path, question: str, k: int, method: Literal["auto", "dense", "lexical"] = "auto"
) -> tuple[list[TableMatch], RetrievalMethod]:
    """Blocking core of :func:`relevant_tables`; also returns the method used (even when nothing matched)."""
    chosen = choose_method(method)
    return _rank(catalogue(path), question, k, chosen), chosen


async def describe_schema(
    db_path: str | os.PathLike[str] | None = None,
    *,
    tables: list[str] | None = None,
    sample_values: int = 3,
) -> SchemaInfo:
    """Describe a SQLite database: tables and views with columns (type, NOT NULL, default, primary key,
    description, a few sample values), foreign keys, indexes and row counts.

    Call this before writing SQL for the ``sql_query`` tool to learn the exact table and column names and how
    tables join. ``tables`` limits the answer to the named tables (unknown names fail with ``not_found``
    listing the real ones). ``db_path`` defaults to the Kestrel Systems sample database.
    """
    request = parse_request(
        SchemaRequest, db_path=db_path_argument(db_path), tables=tables, sample_values=sample_values
    )

    def work() -> SchemaInfo:
        path = resolve_database(request.db_path)
        return _inspect(path, request.tables, request.sample_values)

    return await asyncio.to_thread(work)


async def relevant_tables(
    db_path: str | os.PathLike[str] | None,
    question: str,
    k: int = 3,
    *,
    method: Literal["auto", "dense", "lexical"] = "auto",
) -> list[TableMatch]:
    """The ``k`` tables most relevant to a natural-language question, best first.

    Each match carries its score, description, column names and the ``method`` used: 'dense' (semantic
    embeddings, when installed) or 'lexical' (BM25 over table and column names and descriptions). Lexical
    retrieval returns only tables sharing a word with the question, so the list can be shorter than ``k``
    or empty. ``db_path`` None means the Kestrel Systems sample database.
    """
    request = parse_request(
        RelevantTablesRequest, question=question, db_path=db_path_argument(db_path), k=k, method=method
    )
    check_question(request.question)

    def work() -> list[TableMatch]:
        path = resolve_database(request.db_path)
        return rank_tables(path, request.question, request.k, request.method)[0]

    return await asyncio.to_thread(work)


def _column_line(column: ColumnInfo, references: dict[str, str]) -> str:
    parts = [column.name]
    if column.type:
        parts.append(column.type)
    if column.primary_key:
        parts.append("PRIMARY KEY")
    if column.not_null and not column.primary_key:
        parts.append("NOT NULL")
    if column.name in references:
        parts.append(f"REFERENCES {references[column.name]}")
    line = " ".join(parts)
    notes = []
    if column.description:
        notes.append(column.description)
    if column.sample_values and not column.primary_key and column.name not in references:
        notes.append("e.g. " + ", ".join(repr(v) for v in column.sample_values))
    return line + (f"  -- {' '.join(notes)}" if notes else "")


def render_tables(tables: Iterable[TableInfo]) -> str:
    """Compact CREATE-like text of ``tables`` for a language model: types, keys, descriptions, samples."""
    blocks = []
    for table in tables:
        references = {}
        for fk in table.foreign_keys:
            if len(fk.columns) == 1:
                references[fk.columns[0]] = f"{fk.references_table}({fk.references_columns[0]})"
        header = f"-- {table.name}" + (f": {table.description}" if table.description else "")
        if table.row_count is not None:
            header += f" ({table.row_count} rows)"
        lines = [_column_line(c, references) for c in table.columns]
        for fk in table.foreign_keys:
            if len(fk.columns) > 1:
                target = f"{fk.references_table}({', '.join(fk.references_columns)})"
                lines.append(f"FOREIGN KEY ({', '.join(fk.columns)}) REFERENCES {target}")
        kind = "VIEW" if table.kind == "view" else "TABLE"
        body = ",\n".join(f"  {line}" for line in lines)
        blocks.append(f"{header}\nCREATE {kind} {table.name} (\n{body}\n);")
    return "\n\n".join(blocks)


def with_neighbours(schema: SchemaInfo, names: list[str], limit: int) -> list[TableInfo]:
    """``names`` plus the tables their foreign keys point to (needed for joins), in schema order."""
    wanted = {n.lower() for n in names}
    for name in names:
        for fk in schema.table(name).foreign_keys:
            if len(wanted) >= limit:
                break
            wanted.add(fk.references_table.lower())
    return [t for t in schema.tables if t.name.lower() in wanted]
