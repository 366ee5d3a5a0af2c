"""The three independent read-only layers every SQL tool call passes through.

Each layer alone stops a write, so a bug or a parser blind spot in one is covered by the other two:

a. :func:`open_readonly` opens the file with ``mode=ro`` (SQLite refuses every write and never creates the
   file), sets ``PRAGMA query_only`` and allows zero attached databases (ATTACH would otherwise create a new
   file, and VACUUM INTO writes one);
b. :func:`readonly_authorizer`, installed with ``conn.set_authorizer``, lets SQLite compile only reads:
   SELECT, column reads, recursive CTEs and functions not on :data:`DENIED_FUNCTIONS`;
c. :func:`validate_sql` parses the text with sqlglot (SQLite dialect) and accepts exactly one query
   statement with no data-changing node anywhere in its tree (writable CTEs, ``RETURNING``, ``INTO``).

A prefix check ("starts with SELECT") is deliberately not a layer: comments, CTEs and stacked statements
defeat it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from tools._text import checked_text
from tools.errors import ErrorCode, ToolError

MAX_SQL_CHARS = 20_000

# Functions that reach outside the database or change SQLite's behaviour. Most exist only in the sqlite3
# shell or in extensions, but a database file cannot be trusted to not come with them.
DENIED_FUNCTIONS = frozenset(
    {
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
        "fts5",
        "sqlite_dbpage",
        "zipfile",
        "sqlar_compress",
        "sqlar_uncompress",
        "lsmode",
        "fsdir",
        "shell_add_schema",
    }
)

_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})

# Authorizer action codes share numbers with result codes (SQLITE_INSERT == SQLITE_TOOBIG), so name them
# from an explicit list rather than by scanning the module.
_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): name
    for name in (
        "CREATE_INDEX",
        "CREATE_TABLE",
        "CREATE_TEMP_INDEX",
        "CREATE_TEMP_TABLE",
        "CREATE_TEMP_TRIGGER",
        "CREATE_TEMP_VIEW",
        "CREATE_TRIGGER",
        "CREATE_VIEW",
        "DELETE",
        "DROP_INDEX",
        "DROP_TABLE",
        "DROP_TEMP_INDEX",
        "DROP_TEMP_TABLE",
        "DROP_TEMP_TRIGGER",
        "DROP_TEMP_VIEW",
        "DROP_TRIGGER",
        "DROP_VIEW",
        "INSERT",
        "PRAGMA",
        "READ",
        "SELECT",
        "TRANSACTION",
        "UPDATE",
        "ATTACH",
        "DETACH",
        "ALTER_TABLE",
        "REINDEX",
        "ANALYZE",
        "CREATE_VTABLE",
        "DROP_VTABLE",
        "FUNCTION",
        "SAVEPOINT",
        "RECURSIVE",
    )
    if hasattr(sqlite3, f"SQLITE_{name}")
}


def readonly_uri(path: Path) -> str:
    """``file:`` URI opening ``path`` read-only; the path is percent-quoted so ``?``/``#`` cannot add options."""
    return f"file:{quote(Path(path).resolve().as_posix())}?mode=ro"


def open_readonly(path: Path) -> sqlite3.Connection:
    """Layer a: a connection that cannot write, and cannot create ``path`` if it is missing.

    ``check_same_thread`` stays on: each tool call opens, uses and closes its connection in one worker thread.
    """
    conn = sqlite3.connect(readonly_uri(path), uri=True, isolation_level=None)
    try:
        # query_only also covers the TEMP database, which mode=ro alone leaves writable.
        conn.execute("PRAGMA query_only = ON")
        # An attached file is opened read-write (mode=ro applies to the main file only), so allow none;
        # VACUUM INTO needs an attachment slot too.
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    except BaseException:
        conn.close()
        raise
    return conn


def action_name(action: int) -> str:
    """Readable name of an authorizer action code, e.g. ``DELETE`` for ``sqlite3.SQLITE_DELETE``."""
    return _ACTION_NAMES.get(action, f"action {action}")


def readonly_authorizer(
    action: int, arg1: str | None, arg2: str | None, db_name: str | None, trigger: str | None
) -> int:
    """Layer b: the ``set_authorizer`` callback allowing only what a read-only SELECT compiles to."""
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        # for SQLITE_FUNCTION, arg2 is the function name
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def describe_denial(action: int, arg1: str | None, arg2: str | None) -> str:
    """What the authorizer refused, for error messages: ``DELETE on orders``, ``function readfile()``."""
    name = action_name(action)
    if action == sqlite3.SQLITE_FUNCTION:
        return f"function {arg2}()"
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        # SQLite asks this when it instantiates a table-valued function (json_each, pragma_table_info, ...)
        return "table-valued functions such as json_each() or pragma_*() (SQLite requests UPDATE on sqlite_master)"
    target = ".".join(part for part in (arg1, arg2) if part)
    return f"{name} on {target}" if target else name


def check_sql_text(sql: object) -> str:
    """Shared input checks for SQL text: a non-empty string of at most :data:`MAX_SQL_CHARS` characters."""
    checked_text(sql, "sql", MAX_SQL_CHARS, empty_hint="pass one SQLite SELECT statement")
    return str(sql)  # the original text, unstripped: error positions refer to it


# Node types that change data, schema, settings or connection state; none may appear anywhere in a query.
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Insert",
        "Update",
        "Delete",
        "Merge",
        "Create",
        "Drop",
        "Alter",
        "AlterColumn",
        "Command",
        "Pragma",
        "Attach",
        "Detach",
        "Transaction",
        "Commit",
        "Rollback",
        "Into",
        "Returning",
        "Analyze",
        "Set",
        "Use",
        "Copy",
        "LoadData",
        "Cache",
        "Uncache",
        "Refresh",
        "TruncateTable",
        "Grant",
        "Revoke",
        "Kill",
        "Describe",
        "Summarize",
        "Comment",
        "Export",
        "Install",
    )
    if isinstance(getattr(exp, name, None), type)
)
_QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)


def _violation(what: str, sql: str) -> ToolError:
    return ToolError(
        ErrorCode.READ_ONLY_VIOLATION,
        f"Rejected {what}: only a single read-only SELECT statement (CTEs allowed) may run.",
        rejected=what,
        sql=sql[:200],
    )


def _describe_node(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return f"{str(node.this).upper()} command"
    key = node.key.upper()
    return {"INTO": "SELECT ... INTO", "RETURNING": "RETURNING clause"}.get(key, f"{key} statement")


def _describe_root(root: exp.Expression, sql: str) -> str:
    """Name a rejected statement; sqlglot parses some (SAVEPOINT, REINDEX, END) as bare expressions."""
    if isinstance(root, (*_FORBIDDEN_NODES, exp.Values, exp.Subquery)):
        return _describe_node(root)
    try:
        keyword = Dialect.get_or_raise("sqlite").tokenize(sql)[0].text.upper()
    except (TokenError, IndexError):
        return _describe_node(root)
    return f"{keyword} statement"


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name()


def validate_sql(sql: str) -> exp.Expression:
    """Layer c: parse ``sql`` (SQLite dialect) and return its tree if it is exactly one read-only query.

    Raises ``SYNTAX_ERROR`` when sqlglot cannot parse it and ``READ_ONLY_VIOLATION`` for anything but one
    SELECT/UNION/INTERSECT/EXCEPT whose CTE bodies are also queries and which calls no denied function.
    """
    check_sql_text(sql)
    try:
        statements = sqlglot.parse(sql, read="sqlite")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line, col = first.get("line"), first.get("col")
        where = f" at line {line}, column {col}" if line is not None else ""
        description = first.get("description") or str(exc).splitlines()[0]
        raise ToolError(
            ErrorCode.SYNTAX_ERROR,
            f"Could not parse the SQL{where}: {description}",
            line=line,
            column=col,
            near=first.get("highlight"),
        ) from None
    except TokenError as exc:
        raise ToolError(ErrorCode.SYNTAX_ERROR, f"Could not tokenize the SQL: {exc}") from None
    except RecursionError:
        raise ToolError(
            ErrorCode.INPUT_TOO_LARGE, "The SQL is nested too deeply to check; flatten the parentheses or subqueries"
        ) from None
    # a trailing comment after the last ';' parses as an empty Semicolon statement
    semicolon = getattr(exp, "Semicolon", ())
    present = [s for s in statements if isinstance(s, exp.Expression) and not isinstance(s, semicolon)]
    if not present:
        raise ToolError(ErrorCode.EMPTY_INPUT, "sql contains no statement (only comments or semicolons)")
    if len(present) > 1:
        kinds = ", ".join(_describe_node(s) for s in present)
        raise _violation(f"{len(present)} statements ({kinds}); send exactly one", sql)
    root = present[0]
    for node in root.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise _violation(_describe_node(node), sql)
        if isinstance(node, exp.CTE) and not isinstance(node.this, _QUERY_ROOTS):
            raise _violation(f"CTE {node.alias!r} whose body is not a SELECT", sql)
        if isinstance(node, exp.Func) and _function_name(node).lower() in DENIED_FUNCTIONS:
            raise _violation(f"call to {_function_name(node).lower()}()", sql)
    if not isinstance(root, _QUERY_ROOTS):
        raise _violation(_describe_root(root, sql), sql)
    return root
