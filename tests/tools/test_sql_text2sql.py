"""text2sql against a fake OpenAI-compatible model served over a real loopback socket: the request carries
the relevant schema and the question, the reply's SQL is checked and run, writes never execute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loopback import free_port, serve_in_thread
from tests.tools.sql_fakes import CHINOOK, CHINOOK_MISSING, FakeChatModel, Reply, copy_database, unchanged
from tools.errors import ErrorCode, ToolError
from tools.sql import Text2SQLSettings, build_sample_db, run_query, text2sql
from tools.sql.text2sql import extract_sql

TOP_CUSTOMER_SQL = (
    "SELECT c.company_name, ROUND(SUM(oi.quantity * oi.unit_price_gbp * (1 - oi.discount_pct / 100)), 2) AS revenue "
    "FROM order_items oi JOIN orders o ON o.order_id = oi.order_id JOIN customers c ON c.customer_id = o.customer_id "
    "WHERE o.status != 'cancelled' GROUP BY c.customer_id ORDER BY revenue DESC LIMIT 1"
)


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeChatModel, str]]:
    model = FakeChatModel()
    with serve_in_thread(model.app) as base_url:
        yield model, base_url + "/v1"


@pytest.fixture
def model(fake: tuple[FakeChatModel, str]) -> FakeChatModel:
    fake[0].script()
    return fake[0]


@pytest.fixture
def settings(fake: tuple[FakeChatModel, str]) -> Text2SQLSettings:
    return Text2SQLSettings(base_url=fake[1], model="fake-sql-1", api_key="test-key", timeout=5)


@pytest.fixture(scope="module")
def sample_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample_db(tmp_path_factory.mktemp("master") / "kestrel.sqlite")


@pytest.fixture
def db(sample_master: Path, tmp_path: Path) -> Path:
    return copy_database(sample_master, tmp_path / "db")


async def test_happy_path(model: FakeChatModel, settings: Text2SQLSettings, db: Path) -> None:
    model.script(TOP_CUSTOMER_SQL)
    question = "Which customer generated the most revenue?"
    answer = await text2sql(question, db, settings=settings)

    assert answer.question == question
    assert answer.sql == TOP_CUSTOMER_SQL
    assert answer.result.rows[0][0] == "Harrowgate Water Services Ltd"
    assert answer.result.columns == ["company_name", "revenue"]
    assert answer.model == "fake-sql-1" and answer.attempts == 1
    assert {"customers", "orders", "order_items"} <= set(answer.tables_used)

    (request,) = model.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer test-key"
    body = request["json"]
    assert body["model"] == "fake-sql-1" and body["temperature"] == 0
    system, user = body["messages"]
    assert system["role"] == "system" and "SELECT" in system["content"]
    assert question in user["content"]
    assert "CREATE TABLE customers (" in user["content"]
    assert "company_name TEXT NOT NULL" in user["content"]
    assert "order_id INTEGER NOT NULL REFERENCES orders(order_id)" in user["content"]
    for table in answer.tables_used:
        assert f"CREATE TABLE {table} (" in user["content"]


async def test_fenced_reply(model: FakeChatModel, settings: Text2SQLSettings, db: Path) -> None:
    sql = "SELECT COUNT(*) AS overdue FROM invoices WHERE status = 'overdue';"
    model.script(f"Here is the query:\n```sql\n{sql}\n```\nIt counts overdue invoices.")
    answer = await text2sql("How many invoices are overdue?", db, settings=settings)
    assert answer.sql == sql
    assert answer.result.rows == (await run_query(sql, db)).rows
    (overdue,) = answer.result.rows[0]
    assert isinstance(overdue, int) and overdue > 0
    assert "CREATE TABLE invoices (" in model.user_prompt()


@pytest.mark.parametrize(
    "reply",
    [
        "DELETE FROM orders",
        "```sql\nDELETE FROM customers WHERE 1 = 1;\n```",
        "SELECT 1; DROP TABLE orders",
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT COUNT(*) FROM d",
        "UPDATE invoices SET status = 'paid'",
        "ATTACH DATABASE 'evil.db' AS evil",
    ],
)
async def test_model_writing_is_refused_and_never_run(
    model: FakeChatModel, settings: Text2SQLSettings, db: Path, reply: str
) -> None:
    model.script(reply, TOP_CUSTOMER_SQL)
    with unchanged(db), pytest.raises(ToolError) as caught:
        await text2sql("Remove all the orders", db, settings=settings)
    assert caught.value.code is ErrorCode.READ_ONLY_VIOLATION
    assert len(model.requests) == 1  # a write is not "repaired" by asking again


async def test_model_http_500_is_upstream_error(model: FakeChatModel, settings: Text2SQLSettings, db: Path) -> None:
    model.script(Reply(status=500, body={"error": {"message": "model overloaded"}}))
    with pytest.raises(ToolError) as caught:
        await text2sql("How many orders?", db, settings=settings)
    assert caught.value.code is ErrorCode.UPSTREAM_ERROR
    assert caught.value.details["status"] == 500
    assert "model overloaded" in caught.value.message
    assert "test-key" not in caught.value.message


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=200, body={"object": "error"}),
        Reply(status=200, body="plain text, not JSON"),
        Reply(status=200, body={"choices": []}),
        Reply(content="   "),
        Reply(status=401, body={"error": {"message": "invalid api key"}}),
    ],
)
async def test_malformed_model_replies(
    model: FakeChatModel, settings: Text2SQLSettings, db: Path, reply: Reply
) -> None:
    model.script(reply)
    with pytest.raises(ToolError) as caught:
        await text2sql("How many orders?", db, settings=settings)
    assert caught.value.code is ErrorCode.UPSTREAM_ERROR


async def test_unreachable_model(db: Path) -> None:
    settings = Text2SQLSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", timeout=2)
    with pytest.raises(ToolError) as caught:
        await text2sql("How many orders?", db, settings=settings)
    assert caught.value.code is ErrorCode.UPSTREAM_ERROR


async def test_slow_model_times_out(model: FakeChatModel, fake: tuple[FakeChatModel, str], db: Path) -> None:
    model.script(Reply(content="SELECT 1", delay_s=2))
    settings = Text2SQLSettings(base_url=fake[1], model="m", timeout=0.3)
    with pytest.raises(ToolError) as caught:
        await text2sql("How many orders?", db, settings=settings)
    assert caught.value.code is ErrorCode.TIMEOUT
    assert caught.value.details["stage"] == "model"


async def test_failed_sql_gets_one_repair(model: FakeChatModel, settings: Text2SQLSettings, db: Path) -> None:
    model.script("SELECT SUM(revenue) FROM orders", "SELECT COUNT(*) AS n FROM orders")
    answer = await text2sql("How many orders are there?", db, settings=settings)
    assert answer.attempts == 2 and answer.sql == "SELECT COUNT(*) AS n FROM orders"
    (orders,) = answer.result.rows[0]
    assert isinstance(orders, int) and orders > 1000
    repair = model.requests[1]["json"]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "SELECT SUM(revenue) FROM orders"}
    assert "no such column: revenue" in repair[-1]["content"]


async def test_repair_that_fails_again_reports_the_sql_error(
    model: FakeChatModel, settings: Text2SQLSettings, db: Path
) -> None:
    model.script("SELECT * FROM sales", "SELECT * FROM sales_orders")
    with pytest.raises(ToolError) as caught:
        await text2sql("Show sales", db, settings=settings)
    assert caught.value.code is ErrorCode.SQL_ERROR
    assert caught.value.details["sql"] == "SELECT * FROM sales_orders"
    assert len(model.requests) == 2


async def test_not_configured(monkeypatch: pytest.MonkeyPatch, db: Path) -> None:
    for name in ("AFBENCH_TEXT2SQL_BASE_URL", "AFBENCH_TEXT2SQL_MODEL", "AFBENCH_TEXT2SQL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ToolError) as caught:
        await text2sql("How many orders?", db)
    assert caught.value.code is ErrorCode.NOT_CONFIGURED
    assert "'sql_schema' tool" in caught.value.message and "'sql_query' tool" in caught.value.message


async def test_settings_from_environment(
    monkeypatch: pytest.MonkeyPatch, model: FakeChatModel, fake: tuple[FakeChatModel, str], db: Path
) -> None:
    monkeypatch.setenv("AFBENCH_TEXT2SQL_BASE_URL", fake[1] + "/")
    monkeypatch.setenv("AFBENCH_TEXT2SQL_MODEL", "env-model")
    monkeypatch.delenv("AFBENCH_TEXT2SQL_API_KEY", raising=False)
    model.script("SELECT name FROM regions ORDER BY region_id LIMIT 1")
    answer = await text2sql("Which region comes first?", db)
    assert answer.model == "env-model"
    assert answer.result.rows == [["London & South East"]]
    assert "authorization" not in model.requests[0]["headers"]

    monkeypatch.setenv("AFBENCH_TEXT2SQL_TIMEOUT", "soon")
    with pytest.raises(ToolError) as caught:
        Text2SQLSettings.from_env()
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("question", "code"),
    [("", ErrorCode.EMPTY_INPUT), ("x" * 2001, ErrorCode.INPUT_TOO_LARGE), (7, ErrorCode.INVALID_ARGUMENT)],
)
async def test_bad_questions_make_no_request(
    model: FakeChatModel, settings: Text2SQLSettings, db: Path, question: object, code: ErrorCode
) -> None:
    with pytest.raises(ToolError) as caught:
        await text2sql(question, db, settings=settings)  # type: ignore[arg-type]
    assert caught.value.code is code
    assert model.requests == []


async def test_missing_database(model: FakeChatModel, settings: Text2SQLSettings, tmp_path: Path) -> None:
    with pytest.raises(ToolError) as caught:
        await text2sql("How many orders?", tmp_path / "none.sqlite", settings=settings)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert model.requests == []


@pytest.mark.skipif(not CHINOOK.is_file(), reason=CHINOOK_MISSING)
async def test_chinook(model: FakeChatModel, settings: Text2SQLSettings) -> None:
    model.script("```\nSELECT COUNT(*) FROM Invoice\n```")
    answer = await text2sql("How many invoices are there?", CHINOOK, settings=settings)
    assert answer.result.rows == [[412]]
    assert "CREATE TABLE Invoice (" in model.user_prompt()


@pytest.mark.parametrize(
    ("reply", "sql"),
    [
        ("SELECT 1", "SELECT 1"),
        ("  SELECT 1;\n", "SELECT 1;"),
        ("```sql\nSELECT 2\n```", "SELECT 2"),
        ("```SQLite\nSELECT 3\n```", "SELECT 3"),
        ("```\nSELECT 4\n```", "SELECT 4"),
        ("Sure:\n```sql\nSELECT 5\n```\nand also\n```sql\nSELECT 6\n```", "SELECT 5"),
        ("<think>maybe DELETE?</think>\nSELECT 7", "SELECT 7"),
        ("```sql\nSELECT 8", "SELECT 8"),
    ],
)
def test_extract_sql(reply: str, sql: str) -> None:
    assert extract_sql(reply) == sql
