"""Pydantic inputs and outputs of the SQL tools (schema, relevant tables, query, text-to-SQL).

Field names of the request models match the keyword arguments of the tool functions, so a caller holding a
validated request can call ``await run_query(**request.model_dump())``. Descriptions double as the tools'
JSON schema for language models.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.errors import ErrorCode, ToolError

DEFAULT_MAX_ROWS = 200
MAX_ROWS_LIMIT = 1000
DEFAULT_TIMEOUT_S = 5.0
MAX_TIMEOUT_S = 30.0
MAX_QUESTION_CHARS = 2000

RetrievalMethod = Literal["dense", "lexical"]
ScalarValue = int | float | str | None

_DB_PATH_DESCRIPTION = (
    "Path to a SQLite database file. Omit it to use the bundled sample database of Kestrel Systems Ltd "
    "(customers, orders, products, invoices, employees, support tickets)."
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SchemaRequest(_Request):
    db_path: str | None = Field(default=None, description=_DB_PATH_DESCRIPTION)
    tables: list[str] | None = Field(
        default=None, description="Only describe these tables (exact names). Omit to describe every table."
    )
    sample_values: int = Field(default=3, ge=0, le=10, description="Distinct example values per column (0-10).")


class RelevantTablesRequest(_Request):
    question: str = Field(
        strict=True, description="A question in plain words, e.g. 'Which customer spent the most in 2024?'."
    )
    db_path: str | None = Field(default=None, description=_DB_PATH_DESCRIPTION)
    k: int = Field(default=3, ge=1, le=20, description="How many tables to return (1-20).")
    method: Literal["auto", "dense", "lexical"] = Field(
        default="auto",
        description="'dense' (semantic embeddings), 'lexical' (BM25 keywords) or 'auto': dense when the "
        "embedding model is installed, else lexical.",
    )


class QueryRequest(_Request):
    sql: str = Field(
        strict=True,
        description="Exactly one read-only SQLite SELECT statement (WITH ... SELECT allowed), at most 20,000 "
        "characters. Writes, PRAGMA, ATTACH and multiple statements are rejected.",
    )
    db_path: str | None = Field(default=None, description=_DB_PATH_DESCRIPTION)
    max_rows: int = Field(
        default=DEFAULT_MAX_ROWS,
        ge=1,
        le=MAX_ROWS_LIMIT,
        description=f"Most rows to return (1-{MAX_ROWS_LIMIT}); 'truncated' says when more were available.",
    )
    timeout_s: float = Field(
        default=DEFAULT_TIMEOUT_S,
        gt=0,
        le=MAX_TIMEOUT_S,
        description=f"Time limit for running the query in seconds (up to {MAX_TIMEOUT_S:g}).",
    )


class Text2SQLRequest(_Request):
    question: str = Field(
        strict=True,
        description="A question about the data in plain words, e.g. 'Which month of 2024 had the most orders?'.",
    )
    db_path: str | None = Field(default=None, description=_DB_PATH_DESCRIPTION)
    max_rows: int = Field(default=DEFAULT_MAX_ROWS, ge=1, le=MAX_ROWS_LIMIT, description="Most rows to return.")
    timeout_s: float = Field(
        default=DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S, description="Time limit for the generated query."
    )


class ColumnInfo(BaseModel):
    name: str
    type: str = Field(description="Declared type as written in the table definition ('' when none).")
    not_null: bool
    default: str | None = Field(default=None, description="Default value as SQL text, if any.")
    primary_key: bool
    description: str | None = Field(default=None, description="What the column holds, when documented.")
    sample_values: list[ScalarValue] = Field(
        default_factory=list, description="A few distinct non-NULL values; long text is cut and marked with '…'."
    )


class ForeignKeyInfo(BaseModel):
    columns: list[str] = Field(description="Columns of this table.")
    references_table: str
    references_columns: list[str] = Field(description="Matching columns of the referenced table.")
    on_update: str = "NO ACTION"
    on_delete: str = "NO ACTION"


class IndexInfo(BaseModel):
    name: str
    columns: list[str]
    unique: bool
    origin: Literal["index", "unique_constraint", "primary_key"] = Field(
        description="CREATE INDEX, a UNIQUE constraint or the PRIMARY KEY."
    )


class TableInfo(BaseModel):
    name: str
    kind: Literal["table", "view"]
    description: str | None = Field(default=None, description="What the table holds, when documented.")
    row_count: int | None = Field(description="Number of rows; None when counting took too long.")
    columns: list[ColumnInfo]
    foreign_keys: list[ForeignKeyInfo] = Field(default_factory=list)
    indexes: list[IndexInfo] = Field(default_factory=list)

    def column(self, name: str) -> ColumnInfo:
        for column in self.columns:
            if column.name.lower() == name.lower():
                return column
        raise KeyError(name)


class SchemaInfo(BaseModel):
    database: str = Field(description="File name of the database described (not its path).")
    documented: bool = Field(
        description="True when the database carries a _schema_docs description catalogue; otherwise "
        "descriptions are absent and retrieval uses table and column names."
    )
    tables: list[TableInfo]

    def table(self, name: str) -> TableInfo:
        for table in self.tables:
            if table.name.lower() == name.lower():
                return table
        raise KeyError(name)


class TableMatch(BaseModel):
    table: str
    score: float = Field(
        description="Relevance: cosine similarity for 'dense', BM25 score for 'lexical'; compare within one list."
    )
    method: RetrievalMethod = Field(description="How the table was found: 'dense' embeddings or 'lexical' BM25.")
    description: str | None = Field(default=None, description="Table description, when documented.")
    columns: list[str] = Field(description="Column names of the table.")


class BlobValue(BaseModel):
    """A BLOB cell, which JSON cannot hold as bytes."""

    blob_base64: str = Field(description="The bytes, base64-encoded (cut to the first 4096 bytes).")
    size_bytes: int
    truncated: bool


CellValue = int | float | str | BlobValue | None


class QueryResult(BaseModel):
    database: str = Field(description="File name of the database queried (not its path).")
    sql: str
    columns: list[str]
    rows: list[list[CellValue]]
    row_count: int = Field(description="Rows returned (after truncation).")
    truncated: bool = Field(description="True when the query produced more rows than were returned.")
    truncated_reason: Literal["max_rows", "max_bytes"] | None = None
    max_rows: int
    elapsed_ms: float


class Text2SQLResult(BaseModel):
    question: str
    sql: str = Field(description="The SELECT statement the model wrote, as executed.")
    tables_used: list[str] = Field(description="Tables whose schema was shown to the model.")
    retrieval_method: RetrievalMethod
    model: str
    attempts: int = Field(description="1, or 2 when the first SQL failed and the model repaired it.")
    result: QueryResult


RequestT = TypeVar("RequestT", bound=BaseModel)


def parse_request(model: type[RequestT], **values: Any) -> RequestT:
    """Validate tool arguments with ``model``; a type or range problem becomes ``INVALID_ARGUMENT``."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'input'}: {error['msg']}" for error in exc.errors()
        )
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            f"Invalid arguments: {problems}",
            errors=[{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()],
        ) from None
