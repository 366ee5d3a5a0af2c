"""The bundled document corpus: Markdown files with YAML front matter under ``tools/data/corpus``.

Half legal (contracts, data protection, employment, public-law summaries), half operational (product FAQs,
runbooks, programming how-tos) for the fictional company Kestrel Systems Ltd. Search indexes all of it;
RAG indexes the legal half.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tools._paths import CORPUS_DIR
from tools.errors import ErrorCode, ToolError

CATEGORIES = ("legal", "operational")


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    source: str
    category: str
    body: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split ``---`` YAML front matter from a Markdown body; no front matter gives ``({}, text)``."""
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end == -1:
        return {}, text
    try:
        meta = yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError as exc:
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"malformed front matter: {exc}") from None
    if not isinstance(meta, dict):
        raise ToolError(ErrorCode.INVALID_ARGUMENT, "front matter must be a mapping of keys to values")
    body_start = text.find("\n", end + 4)
    return meta, text[body_start + 1 :] if body_start != -1 else ""


def read_markdown(path: Path, default_category: str = "") -> Document:
    """Read one Markdown document; id defaults to the file stem and title to the first heading."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"cannot read {path.name}: {exc}", path=str(path)) from None
    try:
        meta, body = split_front_matter(text)
    except ToolError as exc:
        raise ToolError(exc.code, f"{path.name}: {exc.message}", path=str(path)) from None
    title = str(meta.get("title") or _first_heading(body) or path.stem)
    return Document(
        id=str(meta.get("id") or path.stem),
        title=title,
        source=str(meta.get("source") or path.name),
        category=str(meta.get("category") or default_category),
        body=body.strip(),
        path=path,
        metadata={k: v for k, v in meta.items() if k not in {"id", "title", "source", "category"}},
    )


def _first_heading(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip() or None
    return None


def corpus_files(root: Path = CORPUS_DIR, category: str | None = None) -> list[Path]:
    folders = [root / category] if category else [root / name for name in CATEGORIES]
    return sorted(path for folder in folders if folder.is_dir() for path in folder.glob("*.md"))


@lru_cache(maxsize=4)
def load_corpus(root: Path = CORPUS_DIR, category: str | None = None) -> tuple[Document, ...]:
    """All bundled documents (optionally one category), in a stable order."""
    return tuple(read_markdown(path, default_category=path.parent.name) for path in corpus_files(root, category))
