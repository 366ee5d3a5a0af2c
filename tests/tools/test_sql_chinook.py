"""The SQL tools on Chinook, a real schema nobody on this project designed (CamelCase names, no
descriptions, 412 invoices). The file lives in the shared data folder beside the repository, never in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.sql_fakes import CHINOOK, CHINOOK_MISSING, copy_database, unchanged
from tools.embeddings import dense_available
from tools.errors import ErrorCode, ToolError
from tools.sql import describe_schema, relevant_tables, render_tables, run_query

pytestmark = pytest.mark.skipif(not CHINOOK.is_file(), reason=CHINOOK_MISSING)


async def test_describe_chinook() -> None:
    schema = await describe_schema(CHINOOK)
    assert schema.documented is False
    names = {t.name for t in schema.tables}
    assert {"Album", "Artist", "Customer", "Employee", "Invoice", "InvoiceLine", "Track", "PlaylistTrack"} <= names
    assert schema.table("Invoice").row_count == 412
    line = schema.table("InvoiceLine")
    assert {(fk.columns[0], fk.references_table) for fk in line.foreign_keys} == {
        ("InvoiceId", "Invoice"),
        ("TrackId", "Track"),
    }
    reports_to = next(fk for fk in schema.table("Employee").foreign_keys if fk.columns == ["ReportsTo"])
    assert (reports_to.references_table, reports_to.references_columns) == ("Employee", ["EmployeeId"])
    playlist_track = schema.table("PlaylistTrack")
    assert [c.name for c in playlist_track.columns if c.primary_key] == ["PlaylistId", "TrackId"]
    assert schema.table("Track").column("Name").type.upper().startswith("NVARCHAR")
    assert "CREATE TABLE InvoiceLine (" in render_tables([line])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Which artist has the most albums?", {"Album", "Artist"}),
        ("How many tracks are in each playlist?", {"PlaylistTrack", "Playlist"}),
        ("Which customer spent the most on invoices?", {"Invoice", "Customer"}),
        ("Which media type is most common for tracks?", {"MediaType", "Track"}),
    ],
)
async def test_relevant_tables_on_chinook(question: str, expected: set[str]) -> None:
    methods = ["lexical", "dense"] if dense_available() else ["lexical"]
    for method in methods:
        matches = await relevant_tables(CHINOOK, question, k=3, method=method)  # type: ignore[arg-type]
        assert expected <= {m.table for m in matches}, (method, [m.table for m in matches])


async def test_queries_on_chinook() -> None:
    count = await run_query("SELECT COUNT(*) AS invoices, ROUND(SUM(Total), 2) AS revenue FROM Invoice", CHINOOK)
    assert count.rows == [[412, 2328.6]]

    top = await run_query(
        "SELECT c.FirstName || ' ' || c.LastName AS customer, ROUND(SUM(i.Total), 2) AS spent "
        "FROM Invoice i JOIN Customer c ON c.CustomerId = i.CustomerId "
        "GROUP BY c.CustomerId ORDER BY spent DESC LIMIT 1",
        CHINOOK,
    )
    assert top.rows == [["Helena Holý", 49.62]]

    albums = await run_query(
        "WITH counts AS (SELECT ArtistId, COUNT(*) AS n FROM Album GROUP BY ArtistId) "
        "SELECT a.Name, n FROM counts JOIN Artist a USING (ArtistId) ORDER BY n DESC LIMIT 1",
        CHINOOK,
    )
    assert albums.rows == [["Iron Maiden", 21]]

    chain = await run_query(
        "WITH RECURSIVE boss(EmployeeId, depth) AS (SELECT EmployeeId, 0 FROM Employee WHERE ReportsTo IS NULL "
        "UNION ALL SELECT e.EmployeeId, depth + 1 FROM Employee e JOIN boss ON e.ReportsTo = boss.EmployeeId) "
        "SELECT MAX(depth) FROM boss",
        CHINOOK,
    )
    assert chain.rows == [[2]]

    tracks = await run_query("SELECT * FROM Track", CHINOOK)
    assert tracks.truncated and tracks.row_count == 200


async def test_chinook_unknown_table_hint() -> None:
    with pytest.raises(ToolError) as caught:
        await run_query("SELECT * FROM invoices", CHINOOK)
    assert caught.value.code is ErrorCode.SQL_ERROR
    assert "InvoiceLine" in caught.value.message


async def test_chinook_copy_survives_write_attempts(tmp_path: Path) -> None:
    copy = copy_database(CHINOOK, tmp_path / "chinook")
    with unchanged(copy):
        for sql in ["DELETE FROM Invoice", "UPDATE Track SET UnitPrice = 0", "DROP TABLE Album; SELECT 1"]:
            with pytest.raises(ToolError) as caught:
                await run_query(sql, copy)
            assert caught.value.code is ErrorCode.READ_ONLY_VIOLATION
