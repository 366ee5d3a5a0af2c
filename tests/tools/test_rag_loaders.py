"""RAG loaders: Markdown front matter, text, PDF pages, folder expansion, and each bad file's exact error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.rag_fixtures import make_pdf, write_markdown
from tools.errors import ErrorCode, ToolError
from tools.rag.loaders import MAX_FILE_BYTES, expand_sources, load_document, load_documents


def _error(path: Path) -> ToolError:
    with pytest.raises(ToolError) as caught:
        load_document(path)
    return caught.value


def test_markdown_front_matter_fields(tmp_path: Path) -> None:
    path = write_markdown(tmp_path, "msa-cap", "Liability cap", "# Liability cap\n\nCapped at fees.", topic="msa")
    document = load_document(path)
    assert (document.id, document.title, document.source) == ("msa-cap", "Liability cap", "Liability cap v1")
    assert (document.category, document.topic, document.format) == ("legal", "msa", "markdown")
    assert document.parts[0].text == "# Liability cap\n\nCapped at fees."
    assert document.path == path.resolve()
    assert len(document.sha256) == 64


def test_markdown_without_front_matter_defaults_to_stem_and_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "cookie-policy.md"
    path.write_text("# Cookies we use\n\nOnly essential cookies.", encoding="utf-8")
    document = load_document(path)
    assert document.id == "cookie-policy"
    assert document.title == "Cookies we use"


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "visitor_log-rules.txt"
    path.write_text("\ufeffVisitors sign in at reception.\n", encoding="utf-8")
    document = load_document(path)
    assert (document.id, document.title, document.format) == ("visitor_log-rules", "Visitor log rules", "text")
    assert document.parts[0].text == "Visitors sign in at reception."


def test_pdf_pages_are_kept(tmp_path: Path) -> None:
    pages = [["Welcome to Kestrel."], [], ["Expenses are paid monthly."]]
    path = make_pdf(tmp_path / "handbook.pdf", pages, "Staff handbook")
    document = load_document(path)
    assert document.title == "Staff handbook"
    assert document.format == "pdf"
    # The blank page 2 yields no part, but page numbers stay true to the file.
    assert [(part.page, part.text) for part in document.parts] == [
        (1, "Welcome to Kestrel."),
        (3, "Expenses are paid monthly."),
    ]


def test_pdf_without_title_uses_the_file_name(tmp_path: Path) -> None:
    document = load_document(make_pdf(tmp_path / "travel_policy.pdf", [["Book economy."]]))
    assert (document.id, document.title) == ("travel_policy", "Travel policy")


@pytest.mark.parametrize(
    ("name", "content", "code", "needle"),
    [
        ("notes.docx", b"PK\x03\x04", ErrorCode.UNSUPPORTED_OPERATION, "unsupported file type '.docx'"),
        ("Makefile", b"all:", ErrorCode.UNSUPPORTED_OPERATION, "(no extension)"),
        ("empty.md", b"", ErrorCode.EMPTY_INPUT, "file is empty"),
        ("blank.txt", b"  \n\t\n", ErrorCode.EMPTY_INPUT, "only whitespace"),
        ("front-only.md", b"---\nid: x\ntitle: X\n---\n\n", ErrorCode.EMPTY_INPUT, "no text after the front matter"),
        ("latin1.txt", "caf\xe9".encode("latin-1"), ErrorCode.INVALID_ARGUMENT, "not UTF-8"),
        ("latin1.md", "caf\xe9".encode("latin-1"), ErrorCode.INVALID_ARGUMENT, "latin1.md"),
        ("bad-yaml.md", b"---\ntitle: [unclosed\n---\nBody", ErrorCode.INVALID_ARGUMENT, "front matter"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", ErrorCode.INVALID_ARGUMENT, "not a readable PDF"),
    ],
)
def test_bad_files_raise_specific_errors_naming_the_file(
    tmp_path: Path, name: str, content: bytes, code: ErrorCode, needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    error = _error(path)
    assert error.code == code
    assert name in error.message
    assert needle in error.message


def test_pdf_without_text_is_empty(tmp_path: Path) -> None:
    error = _error(make_pdf(tmp_path / "scan.pdf", [[], []]))
    assert error.code == ErrorCode.EMPTY_INPUT
    assert "scan.pdf" in error.message and "OCR" in error.message


def test_missing_file_and_folder_given_as_file(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.md").code == ErrorCode.NOT_FOUND
    (tmp_path / "folder.md").mkdir()
    assert _error(tmp_path / "folder.md").code == ErrorCode.INVALID_ARGUMENT


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no real disk use
    error = _error(path)
    assert error.code == ErrorCode.INPUT_TOO_LARGE
    assert error.details["limit"] == MAX_FILE_BYTES


def test_unicode_names_and_text(tmp_path: Path) -> None:
    path = tmp_path / "política-de-privacidad.md"
    path.write_text("# Política\n\nLos datos se guardan en la UE. 日本語も大丈夫。", encoding="utf-8")
    document = load_document(path)
    assert document.id == "política-de-privacidad"
    assert "日本語" in document.parts[0].text


def test_expand_sources_skips_unsupported_and_hidden_files_in_folders(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("A", encoding="utf-8")
    (tmp_path / "eval.yaml").write_text("questions: []", encoding="utf-8")
    (tmp_path / ".hidden.md").write_text("H", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("B", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.md").write_text("C", encoding="utf-8")
    found = expand_sources([tmp_path, tmp_path / "a.md"])
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in found] == ["a.md", "sub/b.txt"]


def test_expand_sources_rejects_named_unsupported_file(tmp_path: Path) -> None:
    (tmp_path / "eval.yaml").write_text("questions: []", encoding="utf-8")
    with pytest.raises(ToolError) as caught:
        expand_sources([tmp_path / "eval.yaml"])
    assert caught.value.code == ErrorCode.UNSUPPORTED_OPERATION


def test_duplicate_document_ids_are_rejected(tmp_path: Path) -> None:
    first = write_markdown(tmp_path, "dup", "One", "Text one.")
    second = tmp_path / "other.md"
    second.write_text("---\nid: dup\ntitle: Two\n---\nText two.", encoding="utf-8")
    with pytest.raises(ToolError) as caught:
        load_documents([first, second])
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert "'dup'" in caught.value.message and "other.md" in caught.value.message
