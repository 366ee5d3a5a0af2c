"""Lines of code of a build module: lines holding code, not blank, not only a comment, not a docstring.

Counted from Python's own tokenizer and syntax tree, so a ``#`` inside a string or a multi-line string that
is an ordinary value still counts, while module, class and function docstrings do not.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

_NOT_CODE = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
)


Span = tuple[tuple[int, int], tuple[int, int]]  # (line, byte column) of start and end


def _docstring_spans(tree: ast.AST) -> list[Span]:
    spans: list[Span] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
            and first.end_lineno is not None
            and first.end_col_offset is not None
        ):
            spans.append(((first.lineno, first.col_offset), (first.end_lineno, first.end_col_offset)))
    return spans


def count_source_loc(source: str) -> int:
    """Code lines in ``source``; raises SyntaxError for text that is not Python."""
    spans = _docstring_spans(ast.parse(source))
    lines = source.splitlines()

    def byte_column(row: int, column: int) -> int:  # ast counts UTF-8 bytes, tokenize counts characters
        return len(lines[row - 1][:column].encode("utf-8")) if row <= len(lines) else column

    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in _NOT_CODE:
            continue
        start = (token.start[0], byte_column(*token.start))
        end = (token.end[0], byte_column(*token.end))
        if token.type == tokenize.STRING and any(low <= start and end <= high for low, high in spans):
            continue
        code_lines.update(range(token.start[0], token.end[0] + 1))
    return len(code_lines)


def count_loc(path: Path) -> int:
    return count_source_loc(path.read_text(encoding="utf-8"))
