"""Schema introspection, table retrieval (lexical and dense) and the deterministic sample database build."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.tools.sql_fakes import copy_database, sha256_file
from tools.embeddings import dense_available
from tools.errors import ErrorCode, ToolError
from tools.sql import (
    build_sample_db,
    content_hash,
    default_database_path,
    describe_schema,
    relevant_tables,
    render_tables,
    run_query,
)
from tools.sql import sample_db as sample_module
from tools.sql.sample_db import BUILD_VERSION, stored_build_version
from tools.sql.sample_schema import SCHEMA_DOCS, TABLE_ORDER
from tools.sql.schema import name_words

# Pinned so that any change to the generated content is deliberate: when this fails, bump
# tools.sql.sample_db.BUILD_VERSION (so cached copies are rebuilt) and update both values here.
PINNED_BUILD_VERSION = 1
PINNED_CONTENT_HASH = "57f0306f834fdf7a926cc37ee50719b7eb9aaaac2abb1d8c4606422ceaa4e3f4"

needs_dense = pytest.mark.skipif(not dense_available(), reason="embedding stack (extra 'rag') not installed")


@pytest.fixture(scope="module")
def sample_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample_db(tmp_path_factory.mktemp("master") / "kestrel.sqlite")


@pytest.fixture
def plain_db(tmp_path: Path) -> Path:
    """A database nobody documented: CamelCase names, no _schema_docs, a composite foreign key, a BLOB."""
    path = tmp_path / "plain.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE CustomerAccount (AccountId INTEGER PRIMARY KEY, DisplayName TEXT NOT NULL, Notes TEXT);
        CREATE TABLE SalesOrderLine (
            OrderNo INTEGER, LineNo INTEGER, AccountId INTEGER REFERENCES CustomerAccount,
            UnitPrice NUMERIC DEFAULT 0, Thumbnail BLOB, PRIMARY KEY (OrderNo, LineNo)
        );
        CREATE TABLE ShipmentEvent (
            EventId INTEGER PRIMARY KEY, OrderNo INTEGER, LineNo INTEGER, CarrierCode TEXT,
            FOREIGN KEY (OrderNo, LineNo) REFERENCES SalesOrderLine (OrderNo, LineNo)
        );
        CREATE VIEW BigSpenders AS SELECT AccountId FROM SalesOrderLine WHERE UnitPrice > 100;
        """
    )
    conn.execute("INSERT INTO CustomerAccount VALUES (1, 'Ågård Fisk AS', ?)", ("x" * 500,))
    conn.execute("INSERT INTO SalesOrderLine VALUES (10, 1, 1, 250, ?)", (b"\x89PNG" * 10,))
    conn.commit()
    conn.close()
    return path


# -- sample database build -------------------------------------------------------------------------------


def test_two_builds_have_identical_content(tmp_path: Path, sample_master: Path) -> None:
    again = build_sample_db(tmp_path / "again.sqlite")
    assert content_hash(again) == content_hash(sample_master)
    assert stored_build_version(again) == BUILD_VERSION


def test_content_is_pinned_to_the_build_version(sample_master: Path) -> None:
    assert (BUILD_VERSION, content_hash(sample_master)) == (PINNED_BUILD_VERSION, PINNED_CONTENT_HASH), (
        "sample data changed: bump BUILD_VERSION and update the pinned values in this test"
    )


def test_content_hash_sees_a_single_changed_value(sample_master: Path, tmp_path: Path) -> None:
    copy = copy_database(sample_master, tmp_path / "edited")
    conn = sqlite3.connect(copy)
    conn.execute("UPDATE order_items SET quantity = quantity + 1 WHERE order_item_id = 2000")
    conn.commit()
    conn.close()
    assert content_hash(copy) != content_hash(sample_master)


def test_build_is_atomic_and_leaves_no_temp_files(
    tmp_path: Path, sample_master: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out" / "sample.sqlite"
    build_sample_db(target)
    assert sorted(os.listdir(target.parent)) == ["sample.sqlite"]
    before = sha256_file(target)

    def broken(conn: sqlite3.Connection, rows: object) -> None:
        conn.execute("CREATE TABLE half_written (a)")
        raise RuntimeError("disk full")

    monkeypatch.setattr(sample_module, "_write", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_sample_db(target)
    assert sha256_file(target) == before  # the previous database survives a failed build
    assert sorted(os.listdir(target.parent)) == ["sample.sqlite"]


def test_default_database_path_builds_once_and_rebuilds_stale_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_master: Path
) -> None:
    monkeypatch.setenv("AFBENCH_CACHE_DIR", str(tmp_path))
    path = default_database_path()
    assert path == tmp_path / "sample.sqlite"
    assert content_hash(path) == content_hash(sample_master)
    stamp = path.stat().st_mtime_ns
    assert default_database_path() == path and path.stat().st_mtime_ns == stamp  # no rebuild when current

    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {BUILD_VERSION + 1}")
    conn.commit()
    conn.close()
    assert stored_build_version(path) == BUILD_VERSION + 1
    default_database_path()
    assert stored_build_version(path) == BUILD_VERSION

    path.write_bytes(b"garbage, not a database")
    default_database_path()
    assert content_hash(path) == content_hash(sample_master)


def test_cli_builds_to_the_given_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.sqlite"
    assert sample_module.main(["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and content_hash(out) in printed


async def test_sample_size_and_integrity(sample_master: Path) -> None:
    schema = await describe_schema(sample_master, sample_values=0)
    counts = {t.name: t.row_count for t in schema.tables}
    assert 3000 <= sum(c or 0 for c in counts.values()) <= 20_000
    assert counts["regions"] == 12 and counts["products"] == 8
    conn = sqlite3.connect(sample_master)
    try:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


async def _top_two(db: Path, sql: str) -> list[list[object]]:
    rows = (await run_query(sql, db)).rows
    assert len(rows) == 2
    return [list(r) for r in rows]


async def test_planted_facts_hold_with_clear_margins(sample_master: Path) -> None:
    revenue = "SUM(oi.quantity * oi.unit_price_gbp * (1 - oi.discount_pct / 100))"
    (top, top_rev), (_, second_rev) = await _top_two(
        sample_master,
        f"SELECT c.company_name, {revenue} FROM order_items oi JOIN orders o USING (order_id) "
        "JOIN customers c USING (customer_id) WHERE o.status != 'cancelled' GROUP BY c.customer_id "
        "ORDER BY 2 DESC LIMIT 2",
    )
    assert top == "Harrowgate Water Services Ltd" and top_rev > 1.5 * second_rev  # type: ignore[operator]

    (month, n), (_, n2) = await _top_two(
        sample_master, "SELECT strftime('%Y-%m', order_date), COUNT(*) FROM orders GROUP BY 1 ORDER BY 2 DESC LIMIT 2"
    )
    assert month == "2024-03" and n > n2 + 10  # type: ignore[operator]

    (product, units), (_, units2) = await _top_two(
        sample_master,
        "SELECT p.name, SUM(oi.quantity) FROM order_items oi JOIN products p USING (product_id) "
        "JOIN orders o USING (order_id) WHERE o.status != 'cancelled' GROUP BY p.product_id ORDER BY 2 DESC LIMIT 2",
    )
    assert product == "Kestrel Beacon B200" and units > 1.3 * units2  # type: ignore[operator]

    (ticketed, tickets), (_, tickets2) = await _top_two(
        sample_master,
        "SELECT p.name, COUNT(*) FROM support_tickets t JOIN products p USING (product_id) "
        "GROUP BY p.product_id ORDER BY 2 DESC LIMIT 2",
    )
    assert ticketed == "Kestrel Hub H1" and tickets > 1.5 * tickets2  # type: ignore[operator]

    (region, customers), (_, customers2) = await _top_two(
        sample_master,
        "SELECT r.name, COUNT(*) FROM customers c JOIN regions r USING (region_id) GROUP BY r.region_id "
        "ORDER BY 2 DESC LIMIT 2",
    )
    assert region == "London & South East" and customers > 1.5 * customers2  # type: ignore[operator]


async def test_invoice_arithmetic_is_consistent(sample_master: Path) -> None:
    mismatches = await run_query(
        "SELECT COUNT(*) FROM invoices WHERE ABS(total_gbp - net_amount_gbp - vat_gbp) > 0.011 "
        "OR ABS(vat_gbp - net_amount_gbp * 0.2) > 0.011",
        sample_master,
    )
    assert mismatches.rows == [[0]]
    overpaid = await run_query(
        "SELECT COUNT(*) FROM invoices i WHERE (SELECT SUM(amount_gbp) FROM payments p "
        "WHERE p.invoice_id = i.invoice_id) > i.total_gbp + 0.011",
        sample_master,
    )
    assert overpaid.rows == [[0]]


# -- describe_schema -------------------------------------------------------------------------------------


async def test_describe_sample_schema(sample_master: Path) -> None:
    schema = await describe_schema(sample_master)
    assert schema.documented is True
    assert [t.name for t in schema.tables] == list(TABLE_ORDER)  # definition order, catalogue hidden

    order_items = schema.table("order_items")
    assert order_items.description and "Order lines" in order_items.description
    keys = {(tuple(fk.columns), fk.references_table, tuple(fk.references_columns)) for fk in order_items.foreign_keys}
    assert keys == {(("order_id",), "orders", ("order_id",)), (("product_id",), "products", ("product_id",))}
    cascade = next(fk for fk in order_items.foreign_keys if fk.references_table == "orders")
    assert cascade.on_delete == "CASCADE"

    manager = next(fk for fk in schema.table("employees").foreign_keys if fk.columns == ["manager_id"])
    assert (manager.references_table, manager.references_columns) == ("employees", ["employee_id"])

    orders = schema.table("orders")
    assert orders.row_count == (await run_query("SELECT COUNT(*) FROM orders", sample_master)).rows[0][0]
    order_id = orders.column("order_id")
    assert order_id.primary_key and order_id.type == "INTEGER"
    status = orders.column("status")
    assert status.not_null and set(status.sample_values) <= {"pending", "shipped", "delivered", "cancelled"}
    assert status.sample_values and len(status.sample_values) <= 3
    assert orders.column("shipping_gbp").default == "0"
    index_names = {i.name: i for i in orders.indexes}
    assert index_names["idx_orders_date"].columns == ["order_date"] and not index_names["idx_orders_date"].unique
    unique_order = next(i for i in schema.table("invoices").indexes if i.columns == ["order_id"])
    assert unique_order.unique and unique_order.origin == "unique_constraint"

    assert "Kestrel Beacon B100" in schema.table("products").column("name").sample_values


async def test_every_sample_column_is_documented(sample_master: Path) -> None:
    schema = await describe_schema(sample_master, sample_values=0)
    for table in schema.tables:
        assert table.description == SCHEMA_DOCS[table.name][0]
        undocumented = [c.name for c in table.columns if not c.description]
        assert undocumented == [], f"{table.name}: {undocumented}"


async def test_describe_selected_tables(sample_master: Path) -> None:
    schema = await describe_schema(sample_master, tables=["Orders", "regions"], sample_values=0)
    assert [t.name for t in schema.tables] == ["orders", "regions"]
    assert all(c.sample_values == [] for t in schema.tables for c in t.columns)

    with pytest.raises(ToolError) as caught:
        await describe_schema(sample_master, tables=["orders", "clients"])
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert "'clients'" in caught.value.message and "customers" in caught.value.message


async def test_describe_undocumented_database(plain_db: Path) -> None:
    schema = await describe_schema(plain_db)
    assert schema.documented is False
    assert [t.name for t in schema.tables] == ["CustomerAccount", "SalesOrderLine", "ShipmentEvent", "BigSpenders"]
    assert schema.table("BigSpenders").kind == "view"
    assert all(t.description is None for t in schema.tables)

    account = schema.table("CustomerAccount")
    assert account.column("DisplayName").sample_values == ["Ågård Fisk AS"]
    (long_note,) = account.column("Notes").sample_values
    assert isinstance(long_note, str) and len(long_note) == 60 and long_note.endswith("…")

    line = schema.table("SalesOrderLine")
    assert [c.name for c in line.columns if c.primary_key] == ["OrderNo", "LineNo"]
    assert line.column("Thumbnail").sample_values == ["<blob 40 bytes>"]
    (implicit,) = line.foreign_keys  # REFERENCES CustomerAccount without a column: its primary key
    assert implicit.references_columns == ["AccountId"]
    (composite,) = schema.table("ShipmentEvent").foreign_keys
    assert composite.columns == ["OrderNo", "LineNo"] and composite.references_columns == ["OrderNo", "LineNo"]
    assert "FOREIGN KEY (OrderNo, LineNo) REFERENCES SalesOrderLine(OrderNo, LineNo)" in render_tables(schema.tables)


async def test_describe_schema_gives_up_on_counting_an_endless_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "endless.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE VIEW Numbers AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c"
    )
    conn.close()
    monkeypatch.setattr("tools.sql.schema.COUNT_TIME_LIMIT_S", 0.2)
    (numbers,) = (await describe_schema(path)).tables
    assert numbers.kind == "view" and numbers.row_count is None
    assert numbers.column("n").sample_values == [1, 2, 3]


async def test_describe_schema_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as missing:
        await describe_schema(tmp_path / "missing.sqlite")
    assert missing.value.code is ErrorCode.NOT_FOUND
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(ToolError) as too_many:
        await describe_schema(tmp_path / "missing.sqlite", sample_values=11)
    assert too_many.value.code is ErrorCode.INVALID_ARGUMENT
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"\x00" * 4096 + b"junk" * 100)
    with pytest.raises(ToolError) as not_db:
        await describe_schema(junk)
    assert not_db.value.code is ErrorCode.INVALID_ARGUMENT


async def test_render_tables_is_compact_create_text(sample_master: Path) -> None:
    schema = await describe_schema(sample_master, tables=["order_items", "products"])
    text = render_tables(schema.tables)
    assert "CREATE TABLE order_items (" in text
    assert "order_id INTEGER NOT NULL REFERENCES orders(order_id)" in text
    assert "'Kestrel Beacon B100'" in text  # sample values help the model spell filters
    assert "quantity * unit_price_gbp * (1 - discount_pct / 100)" in text


def test_name_words() -> None:
    assert name_words("InvoiceLine") == "invoice line"
    assert name_words("order_items") == "order items"
    assert name_words("HTTPRequestLog") == "http request log"
    assert name_words("customerID2") == "customer id2"


# -- relevant_tables -------------------------------------------------------------------------------------

QUESTIONS = [
    ("How many invoices are overdue?", "invoices"),
    ("What is the average satisfaction score of support tickets?", "support_tickets"),
    ("Which department has the highest average salary?", "departments"),
    ("Which region has the most customers?", "regions"),
    ("How much money did we receive by bank transfer?", "payments"),
    ("Which product sells the most units?", "products"),
]


@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
async def test_relevant_tables_lexical(sample_master: Path, question: str, expected: str) -> None:
    matches = await relevant_tables(sample_master, question, k=3, method="lexical")
    assert expected in [m.table for m in matches][:2]
    assert all(m.method == "lexical" for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


@pytest.mark.dense
@needs_dense
@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
async def test_relevant_tables_dense(sample_master: Path, question: str, expected: str) -> None:
    matches = await relevant_tables(sample_master, question, k=3, method="dense")
    assert expected in [m.table for m in matches][:2]
    assert all(m.method == "dense" for m in matches) and len(matches) == 3


async def test_relevant_tables_auto_reports_the_method(sample_master: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tools.sql.schema.dense_available", lambda: False)
    (first, *_) = await relevant_tables(sample_master, "overdue invoices")
    assert first.method == "lexical" and first.table == "invoices"
    assert first.description and "Invoices" in first.description
    assert "due_date" in first.columns


async def test_relevant_tables_without_shared_words_is_empty_lexically(sample_master: Path) -> None:
    assert await relevant_tables(sample_master, "zyxxy quorble", k=3, method="lexical") == []


async def test_relevant_tables_on_an_undocumented_database_uses_names(plain_db: Path) -> None:
    matches = await relevant_tables(plain_db, "Which carrier shipped each event?", k=2, method="lexical")
    assert matches[0].table == "ShipmentEvent"
    matches = await relevant_tables(plain_db, "total unit price of sales order lines", k=2, method="lexical")
    assert matches[0].table == "SalesOrderLine"
    matches = await relevant_tables(plain_db, "Which customer account has the longest display name?", method="lexical")
    assert matches[0].table == "CustomerAccount"


async def test_retrieval_cache_follows_file_changes(plain_db: Path) -> None:
    assert await relevant_tables(plain_db, "warehouse stock levels", method="lexical") == []
    conn = sqlite3.connect(plain_db)
    conn.execute("CREATE TABLE WarehouseStock (Sku TEXT, Quantity INTEGER)")
    conn.commit()
    conn.close()
    matches = await relevant_tables(plain_db, "warehouse stock levels", method="lexical")
    assert matches[0].table == "WarehouseStock"


@pytest.mark.parametrize(
    ("question", "k", "method", "code"),
    [
        ("", 3, "auto", ErrorCode.EMPTY_INPUT),
        ("   ", 3, "auto", ErrorCode.EMPTY_INPUT),
        ("x" * 2001, 3, "auto", ErrorCode.INPUT_TOO_LARGE),
        ("orders", 0, "auto", ErrorCode.INVALID_ARGUMENT),
        ("orders", 21, "auto", ErrorCode.INVALID_ARGUMENT),
        ("orders", 3, "fuzzy", ErrorCode.INVALID_ARGUMENT),
        (42, 3, "auto", ErrorCode.INVALID_ARGUMENT),
    ],
)
async def test_relevant_tables_bad_input(
    sample_master: Path, question: object, k: int, method: str, code: ErrorCode
) -> None:
    with pytest.raises(ToolError) as caught:
        await relevant_tables(sample_master, question, k=k, method=method)  # type: ignore[arg-type]
    assert caught.value.code is code


async def test_relevant_tables_missing_database(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as caught:
        await relevant_tables(tmp_path / "none.sqlite", "orders")
    assert caught.value.code is ErrorCode.NOT_FOUND
