"""Text-to-SQL tools over any SQLite file, with a bundled Kestrel Systems Ltd sample database.

* :func:`describe_schema` - tables, columns, keys, indexes, row counts and sample values;
* :func:`relevant_tables` - the tables that fit a question (dense embeddings or BM25);
* :func:`run_query` - one read-only SELECT with row, size and time limits;
* :func:`text2sql` - a question answered by a configured chat model's SELECT, checked and run.

Every query passes three independent read-only layers (:mod:`tools.sql.readonly`). With no ``db_path`` the
tools use the sample database, built deterministically on first use (:mod:`tools.sql.sample_db`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.sql import models
from tools.sql.models import (
    BlobValue,
    ColumnInfo,
    ForeignKeyInfo,
    IndexInfo,
    QueryRequest,
    QueryResult,
    RelevantTablesRequest,
    SchemaInfo,
    SchemaRequest,
    TableInfo,
    TableMatch,
    Text2SQLRequest,
    Text2SQLResult,
)
from tools.sql.query import run_query
from tools.sql.readonly import open_readonly, readonly_authorizer, validate_sql
from tools.sql.schema import describe_schema, relevant_tables, render_tables
from tools.sql.text2sql import Text2SQLSettings, text2sql

if TYPE_CHECKING:
    from tools.sql.sample_db import build_sample_db, content_hash, default_database_path

_SAMPLE_DB_NAMES = frozenset({"build_sample_db", "content_hash", "default_database_path"})


def __getattr__(name: str) -> Any:
    # sample_db loads on first use, so `python -m tools.sql.sample_db` runs it fresh rather than a second copy
    if name in _SAMPLE_DB_NAMES:
        from tools.sql import sample_db

        return getattr(sample_db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BlobValue",
    "ColumnInfo",
    "ForeignKeyInfo",
    "IndexInfo",
    "QueryRequest",
    "QueryResult",
    "RelevantTablesRequest",
    "SchemaInfo",
    "SchemaRequest",
    "TableInfo",
    "TableMatch",
    "Text2SQLRequest",
    "Text2SQLResult",
    "Text2SQLSettings",
    "build_sample_db",
    "content_hash",
    "default_database_path",
    "describe_schema",
    "models",
    "open_readonly",
    "readonly_authorizer",
    "relevant_tables",
    "render_tables",
    "run_query",
    "text2sql",
    "validate_sql",
]
