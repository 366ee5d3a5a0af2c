"""Read the files RAG can index (Markdown with YAML front matter, plain text, PDF) into :class:`SourceDocument`.

Every failure names the file and carries a specific code: a missing file is ``NOT_FOUND``, an extension we
cannot read is ``UNSUPPORTED_OPERATION``, an empty file (or a PDF without extractable text) is
``EMPTY_INPUT``, a file over :data:`MAX_FILE_BYTES` is ``INPUT_TOO_LARGE`` and anything unreadable (bad
UTF-8, broken front matter, a corrupt or encrypted PDF) is ``INVALID_ARGUMENT``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tools.corpus import read_markdown
from tools.errors import ErrorCode, ToolError

MAX_FILE_BYTES = 20 * 1024 * 1024
MARKDOWN_SUFFIXES = (".md", ".markdown")
TEXT_SUFFIXES = (".txt",)
PDF_SUFFIXES = (".pdf",)
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES + TEXT_SUFFIXES + PDF_SUFFIXES

DocumentFormat = Literal["markdown", "text", "pdf"]


@dataclass(frozen=True)
class DocumentPart:
    """A stretch of a document's text; PDFs have one per page (``page`` is 1-based), other formats one."""

    text: str
    page: int | None = None


@dataclass(frozen=True)
class SourceDocument:
    """One loaded file: metadata for citations plus its text, ready to chunk."""

    id: str
    title: str
    source: str
    path: Path
    format: DocumentFormat
    parts: tuple[DocumentPart, ...]
    sha256: str
    category: str = ""
    topic: str = ""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ToolError(ErrorCode.NOT_FOUND, f"{path.name}: no such file ({path})", path=str(path))
    if not path.is_file():
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"{path.name}: not a regular file ({path})", path=str(path))
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ToolError(
            ErrorCode.UNSUPPORTED_OPERATION,
            f"{path.name}: unsupported file type {path.suffix or '(no extension)'!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}",
            path=str(path),
            supported=list(SUPPORTED_SUFFIXES),
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"{path.name}: cannot read: {exc}", path=str(path)) from None
    if size == 0:
        raise ToolError(ErrorCode.EMPTY_INPUT, f"{path.name}: file is empty", path=str(path))
    if size > MAX_FILE_BYTES:
        raise ToolError(
            ErrorCode.INPUT_TOO_LARGE,
            f"{path.name}: file is {size} bytes; the limit is {MAX_FILE_BYTES}",
            path=str(path),
            limit=MAX_FILE_BYTES,
        )


def _empty(path: Path, what: str) -> ToolError:
    return ToolError(ErrorCode.EMPTY_INPUT, f"{path.name}: {what}", path=str(path))


def _humanise(stem: str) -> str:
    words = stem.replace("_", " ").replace("-", " ").split()
    return " ".join(words).capitalize() if words else stem


def _load_markdown(path: Path, digest: str) -> SourceDocument:
    document = read_markdown(path)  # raises INVALID_ARGUMENT naming the file for bad UTF-8 or front matter
    if not document.body.strip():
        raise _empty(path, "no text after the front matter")
    return SourceDocument(
        id=document.id,
        title=document.title,
        source=document.source,
        path=path,
        format="markdown",
        parts=(DocumentPart(document.body),),
        sha256=digest,
        category=document.category,
        topic=str(document.metadata.get("topic") or ""),
    )


def _load_text(path: Path, digest: str) -> SourceDocument:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            f"{path.name}: not UTF-8 text (byte {exc.start} cannot be decoded)",
            path=str(path),
        ) from None
    except OSError as exc:
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"{path.name}: cannot read: {exc}", path=str(path)) from None
    if not text.strip():
        raise _empty(path, "contains only whitespace")
    return SourceDocument(
        id=path.stem,
        title=_humanise(path.stem),
        source=path.name,
        path=path,
        format="text",
        parts=(DocumentPart(text.strip()),),
        sha256=digest,
    )


def _load_pdf(path: Path, digest: str) -> SourceDocument:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs recoverable damage as warnings; the caller only cares whether text came out.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise ToolError(ErrorCode.INVALID_ARGUMENT, f"{path.name}: PDF is encrypted", path=str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata_title = reader.metadata.title if reader.metadata else None
    except ToolError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT, f"{path.name}: not a readable PDF ({exc})", path=str(path)
        ) from None
    parts = tuple(DocumentPart(text.strip(), page=number) for number, text in enumerate(pages, 1) if text.strip())
    if not parts:
        raise _empty(path, "PDF has no extractable text (scanned pages need OCR first)")
    title = str(metadata_title).strip() if metadata_title and str(metadata_title).strip() else _humanise(path.stem)
    return SourceDocument(
        id=path.stem, title=title, source=path.name, path=path, format="pdf", parts=parts, sha256=digest
    )


def load_document(path: str | Path) -> SourceDocument:
    """Load one ``.md``/``.markdown``, ``.txt`` or ``.pdf`` file; raises ``ToolError`` naming the file."""
    path = Path(path).expanduser().resolve()
    _check_file(path)
    try:
        digest = file_sha256(path)
    except OSError as exc:
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"{path.name}: cannot read: {exc}", path=str(path)) from None
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return _load_markdown(path, digest)
    if suffix in TEXT_SUFFIXES:
        return _load_text(path, digest)
    return _load_pdf(path, digest)


def expand_sources(sources: Iterable[str | Path]) -> list[Path]:
    """Files named directly plus supported files found (recursively) in named folders; sorted, no repeats.

    Files given by name must exist and have a supported extension; inside folders, other files and hidden
    entries are skipped so a corpus folder may hold notes or evaluation files beside its documents.
    """
    found: set[Path] = set()
    for source in sources:
        path = Path(source).expanduser().resolve()
        if path.is_dir():
            for candidate in path.rglob("*"):
                relative = candidate.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if candidate.is_file() and candidate.suffix.lower() in SUPPORTED_SUFFIXES:
                    found.add(candidate)
        else:
            _check_file(path)
            found.add(path)
    return sorted(found)


def load_documents(paths: Sequence[Path]) -> list[SourceDocument]:
    """Load files in order; two files with the same document id are an ``INVALID_ARGUMENT`` error."""
    documents: list[SourceDocument] = []
    seen: dict[str, Path] = {}
    for path in paths:
        document = load_document(path)
        if document.id in seen:
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"document id {document.id!r} is used by both {seen[document.id].name} and {path.name}",
                doc_id=document.id,
                paths=[str(seen[document.id]), str(path)],
            )
        seen[document.id] = path
        documents.append(document)
    return documents
