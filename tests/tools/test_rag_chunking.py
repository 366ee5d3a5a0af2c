"""Chunking: heading paths, token limits, overlap, stable ids, PDF pages and unicode safety."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from tests.tools.rag_fixtures import make_pdf, write_markdown
from tools._tokens import count_tokens
from tools.errors import ErrorCode, ToolError
from tools.rag.chunking import ChunkingParams, chunk_document, markdown_sections, token_windows
from tools.rag.loaders import load_document

LONG = " ".join(f"Clause {i} says the supplier shall give notice within {i + 3} days." for i in range(120))


def test_heading_paths_drop_the_title_heading_and_nest() -> None:
    body = (
        "# Master Services Agreement\n\nPreamble.\n\n## Termination\nEither party may end it.\n\n"
        "### Notice\nThirty days.\n\n### Cure period\nFourteen days.\n\n## Fees ##\nMonthly.\n\n"
        "## Empty heading\n### **Child** of empty\nText."
    )
    sections = markdown_sections(body, title="Master Services Agreement")
    assert [(s.name, s.text) for s in sections] == [
        ("", "Preamble."),
        ("Termination", "Either party may end it."),
        ("Termination > Notice", "Thirty days."),
        ("Termination > Cure period", "Fourteen days."),
        ("Fees", "Monthly."),
        ("Empty heading > Child of empty", "Text."),
    ]


def test_hashes_in_code_fences_and_hashtags_are_not_headings() -> None:
    body = "## Setup\n```bash\n# install\npip install x\n```\n#hashtag stays text\n## Next\nDone."
    sections = markdown_sections(body)
    assert [s.name for s in sections] == ["Setup", "Next"]
    assert "# install" in sections[0].text and "#hashtag" in sections[0].text


def test_windows_respect_the_token_limit_and_overlap() -> None:
    params = ChunkingParams(chunk_tokens=50, overlap_tokens=10)
    pieces = token_windows(LONG, params)
    assert len(pieces) > 10
    assert all(count_tokens(piece) <= 50 for piece in pieces)
    assert all(count_tokens(piece) >= 25 for piece in pieces[:-1]), "windows should be mostly full"
    for before, after in pairwise(pieces):
        # The next window starts inside the previous one: its first words (numbers included, so they are
        # unique in the text) are found at the end of the previous window.
        opening = " ".join(after.split()[:6])
        assert opening in before[-80:], (before[-80:], opening)
    # Nothing is lost: every clause appears in some window.
    assert all(f"Clause {i} " in " ".join(pieces) for i in range(120))


def test_windows_prefer_sentence_ends() -> None:
    pieces = token_windows(LONG, ChunkingParams(chunk_tokens=60, overlap_tokens=0))
    assert all(piece.endswith(".") for piece in pieces)


def test_zero_overlap_partitions_the_text() -> None:
    pieces = token_windows(LONG, ChunkingParams(chunk_tokens=40, overlap_tokens=0))
    assert " ".join(pieces).split() == LONG.split()


def test_short_text_is_one_window_and_blank_is_none() -> None:
    assert token_windows("  Short text.  ", ChunkingParams()) == ["Short text."]
    assert token_windows(" \n ", ChunkingParams()) == []


@pytest.mark.parametrize("text", ["日本語のテキストです。" * 200, "🎉🚀✨ émoji ñ " * 300, "x" * 5000])
def test_unicode_is_never_split_inside_a_character(text: str) -> None:
    pieces = token_windows(text, ChunkingParams(chunk_tokens=30, overlap_tokens=7))
    assert len(pieces) > 3
    assert all("\ufffd" not in piece for piece in pieces)
    assert all(count_tokens(piece) <= 30 for piece in pieces)
    joined = "".join(piece.replace(" ", "") for piece in pieces)
    assert set(joined) <= set(text.replace(" ", ""))


def test_chunks_carry_ids_sections_and_prefixed_embed_text(tmp_path: Path) -> None:
    body = f"# Supplier code\n\n## Notice\n{LONG}\n\n## Gifts\nNo gifts above £50."
    document = load_document(write_markdown(tmp_path, "sup-code", "Supplier code", body))
    chunks = chunk_document(document, ChunkingParams(chunk_tokens=80, overlap_tokens=16))
    assert [c.chunk_id for c in chunks] == [f"sup-code#{n}" for n in range(len(chunks))]
    assert {c.section for c in chunks} == {"Notice", "Gifts"}
    assert chunks[-1].section == "Gifts" and chunks[-1].text == "No gifts above £50."
    assert chunks[-1].embed_text == "Supplier code > Gifts\nNo gifts above £50."
    assert all(c.tokens == count_tokens(c.text) <= 80 for c in chunks)
    # Same input, same chunks: ids are stable across runs.
    assert chunk_document(document, ChunkingParams(chunk_tokens=80, overlap_tokens=16)) == chunks


def test_pdf_chunks_are_sectioned_by_page(tmp_path: Path) -> None:
    document = load_document(make_pdf(tmp_path / "terms.pdf", [["Page one terms."], ["Page two terms."]], "Terms"))
    chunks = chunk_document(document)
    assert [(c.section, c.page, c.chunk_id) for c in chunks] == [("Page 1", 1, "terms#0"), ("Page 2", 2, "terms#1")]
    assert chunks[1].embed_text == "Terms > Page 2\nPage two terms."


@pytest.mark.parametrize(("chunk_tokens", "overlap"), [(8, 0), (5000, 10), (100, 51), (100, -1)])
def test_invalid_params(chunk_tokens: int, overlap: int) -> None:
    with pytest.raises(ToolError) as caught:
        ChunkingParams(chunk_tokens, overlap)
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
