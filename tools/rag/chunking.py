"""Split documents into retrieval chunks: Markdown heading sections first, then token windows with overlap.

Sizes are counted in cl100k tokens (:func:`tools._tokens.encoding`). A window never cuts inside a UTF-8
character and prefers to end at a paragraph, sentence or word boundary in its last quarter, so chunks read
as text. Each chunk keeps its heading path ("Termination > Notice"; "Page 3" for PDFs) and its embedded text
is prefixed with the document title and that path, so a chunk deep in a section still says what it is about.
Chunk ids are stable for unchanged files: ``f"{doc_id}#{n}"`` with ``n`` counting from 0 through the document.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from tools._tokens import encoding
from tools.errors import ErrorCode, ToolError
from tools.rag.loaders import SourceDocument

DEFAULT_CHUNK_TOKENS = 200
DEFAULT_OVERLAP_TOKENS = 40
MIN_CHUNK_TOKENS = 16
MAX_CHUNK_TOKENS = 2000
SECTION_SEPARATOR = " > "

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*$")


@dataclass(frozen=True)
class ChunkingParams:
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS

    def __post_init__(self) -> None:
        if not MIN_CHUNK_TOKENS <= self.chunk_tokens <= MAX_CHUNK_TOKENS:
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"chunk_tokens must be between {MIN_CHUNK_TOKENS} and {MAX_CHUNK_TOKENS}, got {self.chunk_tokens}",
            )
        if not 0 <= self.overlap_tokens <= self.chunk_tokens // 2:
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"overlap_tokens must be between 0 and half of chunk_tokens ({self.chunk_tokens // 2}), "
                f"got {self.overlap_tokens}",
            )


@dataclass(frozen=True)
class Section:
    path: tuple[str, ...]
    text: str
    page: int | None = None

    @property
    def name(self) -> str:
        return SECTION_SEPARATOR.join(self.path)


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    n: int
    section: str
    page: int | None
    text: str
    embed_text: str
    tokens: int


def _clean_heading(text: str) -> str:
    # Drop inline emphasis/code markers: "**Notice**" and "`Notice`" both cite as "Notice".
    return re.sub(r"[*_`]+", "", text).strip()


def markdown_sections(body: str, title: str = "") -> list[Section]:
    """Sections of a Markdown body under their heading path; headings in fenced code are text.

    A heading that repeats the document title (the usual ``# Title`` line) is left out of paths, so
    sections read "Termination > Notice" rather than "Master Services Agreement > Termination > Notice".
    Headings with no text of their own produce no section; their names live on in their subsections' paths.
    """
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence: str | None = None

    def flush() -> None:
        text = "\n".join(lines).strip()
        if text:
            sections.append(Section(tuple(name for _, name in stack), text))
        lines.clear()

    for line in body.splitlines():
        fence = _FENCE.match(line)
        if fence:
            marker = fence.group(1)
            in_fence = None if in_fence == marker else in_fence or marker
            lines.append(line)
            continue
        heading = None if in_fence else _HEADING.match(line)
        if heading is None:
            lines.append(line)
            continue
        flush()
        level, name = len(heading.group(1)), _clean_heading(heading.group(2))
        while stack and stack[-1][0] >= level:
            stack.pop()
        if name and name.casefold() != title.strip().casefold():
            stack.append((level, name))
    flush()
    return sections


def document_sections(document: SourceDocument) -> list[Section]:
    """Markdown splits by headings; a text file is one section; a PDF page is a section named "Page n"."""
    if document.format == "markdown":
        return [s for part in document.parts for s in markdown_sections(part.text, document.title)]
    sections = []
    for part in document.parts:
        path = (f"Page {part.page}",) if part.page is not None else ()
        sections.append(Section(path, part.text, part.page))
    return sections


def _cut_points(tokens: list[int]) -> tuple[list[int], list[int], bytes]:
    """Byte offset of every token boundary, the boundary indices that fall between characters, and the bytes."""
    enc = encoding()
    pieces = [enc.decode_single_token_bytes(token) for token in tokens]
    offsets = [0]
    for piece in pieces:
        offsets.append(offsets[-1] + len(piece))
    data = b"".join(pieces)
    # A UTF-8 continuation byte is 0b10xxxxxx: a boundary before one would split a character.
    valid = [i for i, offset in enumerate(offsets) if offset == len(data) or (data[offset] & 0xC0) != 0x80]
    return offsets, valid, data


def _is_paragraph_break(before: bytes, after: bytes) -> bool:
    return before.endswith(b"\n") or after.startswith(b"\n")


def _is_sentence_break(before: bytes, after: bytes) -> bool:
    return after[:1].isspace() and bool(_SENTENCE_END.search(before.rstrip().decode("utf-8", "ignore")))


def _is_word_break(before: bytes, after: bytes) -> bool:
    return after[:1].isspace() or before[-1:].isspace()


def _best_end(start: int, limit: int, valid: list[int], offsets: list[int], data: bytes) -> int:
    """The boundary to end a window at: latest paragraph, sentence, then word break in the last quarter."""
    lo, hi = bisect_right(valid, start), bisect_right(valid, limit)
    if lo == hi:
        return limit
    last = valid[hi - 1]
    if last == len(offsets) - 1:
        return last
    tail = valid[max(lo, bisect_left(valid, start + (limit - start) * 3 // 4)) : hi]
    for accept in (_is_paragraph_break, _is_sentence_break, _is_word_break):
        for i in reversed(tail):
            offset = offsets[i]
            if accept(data[max(offsets[start], offset - 8) : offset], data[offset : offset + 1]):
                return i
    return last


def token_windows(text: str, params: ChunkingParams) -> list[str]:
    """``text`` cut into pieces of at most ``chunk_tokens`` tokens, each overlapping the previous by about
    ``overlap_tokens`` (the overlap starts at a word boundary near that point)."""
    enc = encoding()
    tokens = enc.encode(text, disallowed_special=())
    if len(tokens) <= params.chunk_tokens:
        return [text.strip()] if text.strip() else []
    offsets, valid, data = _cut_points(tokens)
    pieces: list[str] = []
    start = 0
    while True:
        end = _best_end(start, min(start + params.chunk_tokens, len(tokens)), valid, offsets, data)
        piece = data[offsets[start] : offsets[end]].decode("utf-8", "ignore").strip()
        # Re-encoding a slice can merge tokens differently at its edges; shrink until it truly fits.
        while len(enc.encode(piece, disallowed_special=())) > params.chunk_tokens and end > start + 1:
            earlier = bisect_left(valid, end) - 1
            end = valid[earlier] if earlier >= 0 and valid[earlier] > start else end - 1
            piece = data[offsets[start] : offsets[end]].decode("utf-8", "ignore").strip()
        if piece:
            pieces.append(piece)
        if end >= len(tokens):
            return pieces
        wanted = max(end - params.overlap_tokens, start + 1)
        first = bisect_left(valid, wanted)
        nearby = [i for i in valid[first : first + 9] if i < end]
        word_starts = [i for i in nearby if data[offsets[i] : offsets[i] + 1].isspace()]
        start = word_starts[0] if word_starts else (nearby[0] if nearby else end)


def embed_text(title: str, section: str, text: str) -> str:
    header = SECTION_SEPARATOR.join(part for part in (title, section) if part)
    return f"{header}\n{text}" if header else text


def chunk_document(document: SourceDocument, params: ChunkingParams | None = None) -> list[Chunk]:
    """All chunks of one document, numbered in reading order."""
    params = params or ChunkingParams()
    chunks: list[Chunk] = []
    for section in document_sections(document):
        for piece in token_windows(section.text, params):
            n = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=f"{document.id}#{n}",
                    doc_id=document.id,
                    n=n,
                    section=section.name,
                    page=section.page,
                    text=piece,
                    embed_text=embed_text(document.title, section.name, piece),
                    tokens=len(encoding().encode(piece, disallowed_special=())),
                )
            )
    return chunks
