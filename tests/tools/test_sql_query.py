"""The ``query`` tool: reads work, every write or escape attempt fails with the exact code and leaves the file
byte-identical with nothing new beside it, and each of the three read-only layers stops writes on its own."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlglot import exp

from tests.tools.sql_fakes import copy_database, sha256_file, unchanged
from tools.errors import ErrorCode, ToolError
from tools.sql import QueryRequest, build_sample_db, open_readonly, readonly_authorizer, run_query, validate_sql
from tools.sql.query import execute_readonly
from tools.sql.readonly import MAX_SQL_CHARS

RO = ErrorCode.READ_ONLY_VIOLATION
# SQLite words a denial differently at compile time, at run time and inside a virtual table constructor
DENIED = "not authorized|authorization denied|vtable constructor failed"


@pytest.fixture(scope="module")
def sample_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample_db(tmp_path_factory.mktemp("master") / "kestrel.sqlite")


@pytest.fixture
def db(sample_master: Path, tmp_path: Path) -> Path:
    return copy_database(sample_master, tmp_path / "attack")


async def _error(sql: object, db_path: Path | str | None, **kwargs: object) -> ToolError:
    with pytest.raises(ToolError) as caught:
        await run_query(sql, db_path, **kwargs)  # type: ignore[arg-type]
    return caught.value


# -- reads -----------------------------------------------------------------------------------------------


async def test_select_returns_columns_and_rows(db: Path) -> None:
    result = await run_query("SELECT region_id, name FROM regions ORDER BY region_id LIMIT 2", db)
    assert result.columns == ["region_id", "name"]
    assert result.rows == [[1, "London & South East"], [2, "South West"]]
    assert result.row_count == 2
    assert result.truncated is False
    assert result.database == db.name  # a name, never the server's path
    json.loads(result.model_dump_json())  # JSON-friendly end to end


async def test_cte_answers_the_planted_top_customer(db: Path) -> None:
    sql = """
        WITH revenue AS (
            SELECT o.customer_id, SUM(oi.quantity * oi.unit_price_gbp * (1 - oi.discount_pct / 100)) AS total
            FROM order_items oi JOIN orders o ON o.order_id = oi.order_id
            WHERE o.status != 'cancelled'
            GROUP BY o.customer_id
        )
        SELECT c.company_name, ROUND(r.total, 2) AS revenue_gbp
        FROM revenue r JOIN customers c ON c.customer_id = r.customer_id
        ORDER BY r.total DESC LIMIT 1
    """
    result = await run_query(sql, db)
    assert result.columns == ["company_name", "revenue_gbp"]
    assert result.rows[0][0] == "Harrowgate Water Services Ltd"


async def test_recursive_cte_walks_the_org_chart(db: Path) -> None:
    sql = """
        WITH RECURSIVE chain(employee_id, depth) AS (
            SELECT employee_id, 0 FROM employees WHERE manager_id IS NULL
            UNION ALL
            SELECT e.employee_id, chain.depth + 1 FROM employees e JOIN chain ON e.manager_id = chain.employee_id
        )
        SELECT MAX(depth), COUNT(*), (SELECT COUNT(*) FROM employees) FROM chain
    """
    (max_depth, reached, total), *_ = (await run_query(sql, db)).rows
    assert max_depth == 3  # CEO -> Head of Sales -> Regional Sales Manager -> Sales Representative
    assert reached == total  # everyone reports up to the CEO


async def test_set_operations_are_queries(db: Path) -> None:
    union = await run_query("SELECT 1 AS n UNION SELECT 2 ORDER BY n", db)
    intersect = await run_query("SELECT region_id FROM regions INTERSECT SELECT region_id FROM customers", db)
    except_ = await run_query("SELECT region_id FROM regions EXCEPT SELECT region_id FROM regions", db)
    assert union.rows == [[1], [2]]
    assert intersect.row_count > 0
    assert except_.rows == []


async def test_sqlite_specific_read_syntax_runs(db: Path) -> None:
    result = await run_query(
        "SELECT strftime('%Y-%m', order_date) AS month, COUNT(*) FILTER (WHERE status = 'cancelled') AS cancelled, "
        "iif(COUNT(*) > 50, 'busy', 'quiet') AS load, json_extract('{\"a\": 1}', '$.a') AS a "
        "FROM orders INDEXED BY idx_orders_date WHERE order_date GLOB '2024-03-*' GROUP BY month",
        db,
    )
    assert result.rows[0][0] == "2024-03"
    assert result.rows[0][2] == "busy"
    assert result.rows[0][3] == 1


async def test_row_limit_and_truncated_flag(db: Path) -> None:
    default = await run_query("SELECT * FROM orders", db)
    assert default.row_count == 200 and default.truncated and default.truncated_reason == "max_rows"
    biggest = await run_query("SELECT order_id FROM orders ORDER BY order_id", db, max_rows=1000)
    assert biggest.row_count == 1000 and biggest.truncated
    assert biggest.rows[-1] == [1000]
    exact = await run_query("SELECT * FROM regions", db, max_rows=12)
    assert exact.row_count == 12 and exact.truncated is False and exact.truncated_reason is None
    one_short = await run_query("SELECT * FROM regions", db, max_rows=11)
    assert one_short.row_count == 11 and one_short.truncated


@pytest.mark.parametrize("max_rows", [0, -5, 1001])
async def test_row_limit_out_of_range(db: Path, max_rows: int) -> None:
    error = await _error("SELECT 1", db, max_rows=max_rows)
    assert error.code is ErrorCode.INVALID_ARGUMENT
    assert "max_rows" in error.message


async def test_slow_recursive_cte_times_out(db: Path) -> None:
    endless = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT COUNT(*) FROM c"
    with unchanged(db):
        error = await _error(endless, db, timeout_s=0.2)
    assert error.code is ErrorCode.TIMEOUT
    assert "0.2 s" in error.message


async def test_timeout_also_covers_fetching_rows(db: Path) -> None:
    # the first row arrives at once; the second needs a count over a huge cross join
    slow = "SELECT 1 AS n UNION ALL SELECT COUNT(*) FROM order_items a, order_items b, order_items c"
    error = await _error(slow, db, timeout_s=0.2)
    assert error.code is ErrorCode.TIMEOUT


async def test_blob_and_unicode_values_are_json_friendly(db: Path) -> None:
    result = await run_query("SELECT x'00ff10' AS raw, 'naïve ☃ Zürich' AS text, NULL AS empty, 1.5 AS real", db)
    raw, text, nothing, real = result.rows[0]
    assert raw is not None and not isinstance(raw, str | int | float)
    assert raw.model_dump() == {"blob_base64": "AP8Q", "size_bytes": 3, "truncated": False}
    assert (text, nothing, real) == ("naïve ☃ Zürich", None, 1.5)
    dumped = json.loads(result.model_dump_json())
    assert dumped["rows"][0][0]["blob_base64"] == "AP8Q"


async def test_huge_value_is_refused_not_built(db: Path) -> None:
    error = await _error("SELECT randomblob(50000000)", db)
    assert error.code is ErrorCode.RESULT_TOO_LARGE


async def test_injection_inside_a_string_literal_stays_data(db: Path) -> None:
    with unchanged(db):
        result = await run_query("SELECT * FROM regions WHERE name = 'x''; DROP TABLE regions; --'", db)
    assert result.rows == []


async def test_trailing_semicolon_and_comments_are_fine(db: Path) -> None:
    result = await run_query("-- count\nSELECT COUNT(*) FROM regions; -- done", db)
    assert result.rows == [[12]]


# -- write and escape attempts through the tool ----------------------------------------------------------

WRITES = [
    "INSERT INTO regions VALUES (99, 'Atlantis', 'GB', 'UK')",
    "INSERT INTO regions SELECT region_id + 100, name || 'x', country, territory FROM regions",
    "UPDATE customers SET credit_limit_gbp = 0",
    "UPDATE orders SET status = 'cancelled' RETURNING *",
    "DELETE FROM orders",
    "DROP TABLE customers",
    "DROP VIEW IF EXISTS v",
    "CREATE TABLE evil (a)",
    "CREATE TEMP TABLE evil AS SELECT * FROM customers",
    "CREATE INDEX idx_evil ON orders (status)",
    "CREATE VIEW v AS SELECT 1",
    "CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM orders; END",
    "CREATE VIRTUAL TABLE f USING fts5(x)",
    "ALTER TABLE customers ADD COLUMN x TEXT",
    "ALTER TABLE customers RENAME TO clients",
    "REPLACE INTO regions VALUES (1, 'x', 'GB', 'UK')",
    "INSERT OR REPLACE INTO regions VALUES (1, 'x', 'GB', 'UK')",
    "ATTACH DATABASE '/tmp/x.db' AS x",
    "ATTACH DATABASE '{folder}/x.db' AS x",
    "DETACH DATABASE main",
    "PRAGMA writable_schema=1",
    "PRAGMA journal_mode=DELETE",
    "PRAGMA journal_mode=WAL",
    "PRAGMA user_version = 7",
    "PRAGMA query_only = OFF",
    "PRAGMA table_info(orders)",
    "VACUUM",
    "VACUUM INTO '/tmp/y'",
    "VACUUM INTO '{folder}/y.sqlite'",
    "REINDEX",
    "ANALYZE",
    "EXPLAIN DELETE FROM orders",
    "BEGIN; DELETE FROM orders",
    "BEGIN IMMEDIATE",
    "SAVEPOINT s1",
    "COMMIT",
    "SELECT load_extension('x')",
    "select LOAD_EXTENSION('/tmp/evil.so', 'init')",
    "SELECT \"load_extension\"('x')",
    "SELECT readfile('/etc/passwd')",
    "SELECT writefile('{folder}/z.txt', 'x')",
    "SELECT edit('x')",
    "SELECT fts3_tokenizer('simple')",
    "SELECT * INTO backup FROM orders",
    # mixed case
    "dElEtE FrOm orders",
    "SeLeCt 1; DrOp TaBlE customers",
    "InSeRt InTo regions VALUES (99, 'x', 'GB', 'UK')",
    # comment tricks
    "SELECT 1 /* */; DELETE FROM orders",
    "-- \n DELETE FROM orders",
    "/* SELECT */ DELETE FROM orders",
    "SELECT 1; -- harmless\n DELETE FROM orders",
    "SELECT 1 /* ; */ ; UPDATE orders SET status = 'x'",
    # stacked statements
    "SELECT 1; DROP TABLE x",
    "SELECT * FROM orders; UPDATE orders SET status = 'x'",
    "SELECT 1 UNION SELECT 2; DELETE FROM orders",
    "SELECT 1\x00; DELETE FROM orders",
    # writable CTEs
    "WITH x AS (SELECT 1) DELETE FROM orders",
    "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
    "WITH x AS (SELECT 1) INSERT INTO regions SELECT 99, 'x', 'GB', 'UK'",
    "WITH x AS (SELECT 1) UPDATE orders SET status = 'cancelled'",
]
# Table-valued functions make SQLite ask for UPDATE on sqlite_master, which the authorizer refuses; the
# parser sees an ordinary SELECT, so these are stopped by the authorizer alone.
TABLE_VALUED = [
    "SELECT * FROM pragma_table_info('orders')",
    "SELECT value FROM json_each('[1, 2]')",
]

# Look-alike characters make the statement unparseable (by sqlglot and SQLite alike), never a write.
HOMOGLYPHS = [
    "ＤＥＬＥＴＥ FROM orders",  # fullwidth letters
    "DΕLETE FROM orders",  # Greek capital epsilon
    "SELECT 1; DЕLETE FROM orders",  # Cyrillic Е
    "DEL\u200bETE FROM orders",  # zero-width space
    "SELECT 1 \u037e DELETE FROM orders",  # Greek question mark looks like ';'
    "SELECT 1；DELETE FROM orders",  # fullwidth semicolon
]


@pytest.mark.parametrize("template", [*WRITES, *TABLE_VALUED])
async def test_write_attempts_are_rejected_and_change_nothing(db: Path, template: str) -> None:
    sql = template.format(folder=db.parent)
    existed = {p: Path(p).exists() for p in ("/tmp/x.db", "/tmp/y")}
    with unchanged(db):
        error = await _error(sql, db)
    assert error.code is RO, error.message
    assert error.details.get("rejected")
    assert {p: Path(p).exists() for p in existed} == existed


@pytest.mark.parametrize("sql", HOMOGLYPHS)
async def test_homoglyph_tricks_are_syntax_errors(db: Path, sql: str) -> None:
    with unchanged(db):
        error = await _error(sql, db)
    assert error.code is ErrorCode.SYNTAX_ERROR, error.message


async def test_rejection_names_what_was_rejected(db: Path) -> None:
    stacked = await _error("SELECT 1; DROP TABLE x", db)
    assert "2 statements" in stacked.message and "DROP" in stacked.message
    cte = await _error("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", db)
    assert "CTE 'd'" in cte.message
    extension = await _error("SELECT load_extension('x')", db)
    assert "load_extension()" in extension.message
    pragma = await _error("PRAGMA writable_schema=1", db)
    assert "PRAGMA" in pragma.message


# -- each layer alone ------------------------------------------------------------------------------------

LAYER_WRITES = [
    "DELETE FROM orders",
    "INSERT INTO regions VALUES (99, 'x', 'GB', 'UK')",
    "UPDATE customers SET credit_limit_gbp = 0",
    "DROP TABLE payments",
    "CREATE TABLE evil (a)",
    "CREATE TEMP TABLE evil (a)",
    "ALTER TABLE customers ADD COLUMN x",
    "CREATE INDEX idx_evil ON orders (status)",
    "ATTACH DATABASE '{folder}/x.db' AS x",
    "VACUUM INTO '{folder}/y.sqlite'",
    "PRAGMA user_version = 9",
    "REINDEX",
]


@pytest.mark.parametrize("template", [*LAYER_WRITES, *[w for w in WRITES if "{folder}" not in w]])
def test_parser_layer_alone_rejects(template: str) -> None:
    with pytest.raises(ToolError) as caught:
        validate_sql(template.format(folder="/tmp"))
    assert caught.value.code is RO


@pytest.mark.parametrize("sql", ["SELECT 1", "WITH a AS (SELECT 1) SELECT * FROM a", "SELECT 1 UNION ALL SELECT 2"])
def test_parser_layer_accepts_queries(sql: str) -> None:
    assert isinstance(validate_sql(sql), exp.Select | exp.Union)


@pytest.mark.parametrize("template", LAYER_WRITES)
def test_authorizer_alone_stops_writes_on_a_writable_connection(db: Path, template: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)  # read-write, no query_only, no parser
    try:
        conn.set_authorizer(readonly_authorizer)
        with unchanged(db), pytest.raises(sqlite3.DatabaseError, match=DENIED):
            conn.execute(template.format(folder=db.parent))
    finally:
        conn.close()


def test_authorizer_alone_still_allows_reads(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.set_authorizer(readonly_authorizer)
        recursive = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) SELECT SUM(n) FROM c"
        assert conn.execute(recursive).fetchone() == (15,)
        assert conn.execute("SELECT COUNT(*), MAX(order_date) FROM orders").fetchone()[0] > 1000
        for sql in ["SELECT load_extension('x')", *TABLE_VALUED]:
            with pytest.raises(sqlite3.DatabaseError, match=DENIED):
                conn.execute(sql)
    finally:
        conn.close()


@pytest.mark.parametrize("template", LAYER_WRITES)
def test_readonly_connection_alone_stops_writes(db: Path, template: str) -> None:
    conn = open_readonly(db)  # no authorizer, no parser check
    try:
        with unchanged(db), pytest.raises(sqlite3.OperationalError):
            conn.execute(template.format(folder=db.parent))
    finally:
        conn.close()
    assert not (db.parent / "x.db").exists()
    assert not (db.parent / "y.sqlite").exists()


def test_readonly_connection_never_creates_a_file(tmp_path: Path) -> None:
    for name in ("missing.sqlite", "evil.sqlite?mode=rwc", "we#ird%20name.sqlite"):
        with pytest.raises(sqlite3.OperationalError):
            open_readonly(tmp_path / name).execute("SELECT 1 FROM sqlite_master").fetchall()
    assert list(tmp_path.iterdir()) == []


def test_readonly_connection_quotes_odd_file_names(sample_master: Path, tmp_path: Path) -> None:
    odd = tmp_path / "odd?mode=rw&x#y%41.sqlite"
    odd.write_bytes(sample_master.read_bytes())
    conn = open_readonly(odd)
    try:
        assert conn.execute("SELECT COUNT(*) FROM regions").fetchone() == (12,)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM regions")
    finally:
        conn.close()


def test_lower_layers_catch_a_write_the_parser_let_through(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a parser blind spot: the authorizer refuses; with it also disabled, the connection refuses."""
    with unchanged(db), pytest.raises(ToolError) as by_authorizer:
        execute_readonly("DELETE FROM orders", db, tree=exp.Select())
    assert by_authorizer.value.code is RO
    assert "DELETE" in by_authorizer.value.message

    monkeypatch.setattr("tools.sql.query.readonly_authorizer", lambda *args: sqlite3.SQLITE_OK)
    with unchanged(db), pytest.raises(ToolError) as by_connection:
        execute_readonly("DELETE FROM orders", db, tree=exp.Select())
    assert by_connection.value.code is RO
    assert "read-only" in by_connection.value.message
    with unchanged(db), pytest.raises(ToolError) as stacked:
        execute_readonly("SELECT 1; DELETE FROM orders", db, tree=exp.Select())
    assert stacked.value.code is RO


# -- errors ----------------------------------------------------------------------------------------------


async def test_unknown_table_lists_the_real_tables(db: Path) -> None:
    error = await _error("SELECT * FROM clients", db)
    assert error.code is ErrorCode.SQL_ERROR
    assert "no such table: clients" in error.message
    assert "customers" in error.message and "support_tickets" in error.message
    assert "customers" in error.details["tables"]


async def test_unknown_column_lists_the_columns_of_the_tables_used(db: Path) -> None:
    error = await _error("SELECT revenue FROM orders", db)
    assert error.code is ErrorCode.SQL_ERROR
    assert "no such column: revenue" in error.message
    assert "order_date" in error.details["columns"]["orders"]


async def test_syntax_error_carries_the_position(db: Path) -> None:
    error = await _error("SELECT name FROM regions WHERE (region_id = 1", db)
    assert error.code is ErrorCode.SYNTAX_ERROR
    assert error.details["line"] == 1 and isinstance(error.details["column"], int)
    assert "line 1" in error.message


@pytest.mark.parametrize("sql", ["", "   \n\t", ";", "-- only a comment"])
async def test_empty_sql(db: Path, sql: str) -> None:
    assert (await _error(sql, db)).code is ErrorCode.EMPTY_INPUT


async def test_sql_size_limit(db: Path) -> None:
    at_limit = "SELECT 1" + " " * (MAX_SQL_CHARS - len("SELECT 1"))
    assert (await run_query(at_limit, db)).rows == [[1]]
    error = await _error(at_limit + " ", db)
    assert error.code is ErrorCode.INPUT_TOO_LARGE
    assert error.details == {"length": MAX_SQL_CHARS + 1, "limit": MAX_SQL_CHARS}


async def test_deeply_nested_sql_is_refused_cleanly(db: Path) -> None:
    error = await _error("SELECT " + "(" * 5000 + "1" + ")" * 5000, db)
    assert error.code is ErrorCode.INPUT_TOO_LARGE
    deep = await _error("SELECT " + "1 + " * 4000 + "1", db)  # parses, but beyond SQLite's expression depth
    assert deep.code is ErrorCode.SQL_ERROR


@pytest.mark.parametrize("sql", [123, None, ["SELECT 1"], b"SELECT 1"])
async def test_wrong_type_for_sql(db: Path, sql: object) -> None:
    error = await _error(sql, db)
    assert error.code is ErrorCode.INVALID_ARGUMENT
    assert "sql" in error.message


def test_request_model_validates_types_and_ranges() -> None:
    with pytest.raises(ValidationError):
        QueryRequest(sql=123)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        QueryRequest(sql="SELECT 1", max_rows=5000)
    with pytest.raises(ValidationError):
        QueryRequest(sql="SELECT 1", timeout_s=0)
    with pytest.raises(ValidationError):
        QueryRequest(sql="SELECT 1", dbpath="x")  # type: ignore[call-arg]
    assert QueryRequest(sql="SELECT 1").max_rows == 200
    schema = QueryRequest.model_json_schema()
    assert schema["properties"]["max_rows"]["maximum"] == 1000


async def test_missing_database_is_not_found_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    error = await _error("SELECT 1", missing)
    assert error.code is ErrorCode.NOT_FOUND
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


async def test_directory_or_non_database_file(tmp_path: Path) -> None:
    assert (await _error("SELECT 1", tmp_path)).code is ErrorCode.INVALID_ARGUMENT
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database " * 200)
    before = sha256_file(text)
    assert (await _error("SELECT * FROM sqlite_master", text)).code is ErrorCode.INVALID_ARGUMENT
    assert sha256_file(text) == before


async def test_default_database_is_the_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AFBENCH_CACHE_DIR", str(tmp_path))
    result = await run_query("SELECT name FROM products WHERE sku = 'KB-B200'")
    assert result.rows == [["Kestrel Beacon B200"]]
    assert result.database == "sample.sqlite"
