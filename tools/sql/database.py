"""Which SQLite file a tool call reads: the caller's path, or the bundled Kestrel sample database."""

from __future__ import annotations

from pathlib import Path

from tools.errors import ErrorCode, ToolError


def database_name(path: Path) -> str:
    """How results and messages name a database: its file name, never its path (a tool's answer must not
    tell a caller where the server keeps its files)."""
    return path.name


def resolve_database(database: str | Path | None) -> Path:
    """Absolute path of an existing SQLite file; ``None`` means the sample database (built on first use).

    Never creates anything at a caller's path: a missing file is ``NOT_FOUND``, a folder ``INVALID_ARGUMENT``.
    """
    if database is None:
        # imported here so `python -m tools.sql.sample_db` does not find its module already loaded
        from tools.sql.sample_db import default_database_path

        return default_database_path()
    if isinstance(database, str) and not database.strip():
        raise ToolError(ErrorCode.EMPTY_INPUT, "database path is empty; omit it to use the sample database")
    path = Path(database).expanduser()
    if not path.exists():
        raise ToolError(ErrorCode.NOT_FOUND, f"No database file at {str(path)!r}", database=str(path))
    if not path.is_file():
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            f"{str(path)!r} is not a file (a SQLite database file is needed)",
            database=str(path),
        )
    return path.resolve()


def check_database(database: str | Path) -> Path:
    """``resolve_database``, then proof that the file is a readable SQLite database (for a server to refuse
    a wrong ``--sql-database`` at start instead of failing every call). Raises ToolError naming the path."""
    import sqlite3

    from tools.sql.readonly import open_readonly

    path = resolve_database(database)
    try:
        conn = open_readonly(path)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT, f"{str(path)!r} is not a readable SQLite database ({exc})", database=str(path)
        ) from None
    return path
