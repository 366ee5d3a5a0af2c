"""Shared helpers for the RAG tests: a hand-written PDF, small documents, and a counting embedder.

The counting embedder is a real (if crude) embedding: hashed bag of stemmed words, L2-normalised, so texts
sharing words are close. It lets index and persistence tests run without loading MiniLM and count exactly
which texts were embedded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def make_pdf(path: Path, pages: Sequence[Sequence[str]], title: str | None = None) -> Path:
    """Write a valid PDF whose pages hold the given lines in Helvetica; ``title`` goes in the Info dict."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{' '.join(f'{i} 0 R' for i in page_ids)}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for lines, page_id in zip(pages, page_ids, strict=True):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_id + 1} 0 R >>".encode()
        )
        body = "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({escape(line)}) Tj T*" for line in lines) + " ET"
        stream = body.encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info_id = None
    if title is not None:
        objects.append(f"<< /Title ({escape(title)}) >>".encode("latin-1"))
        info_id = len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {info_id} 0 R" if info_id else "") + " >>"
    out += b"trailer\n" + trailer.encode() + b"\nstartxref\n%d\n%%%%EOF\n" % xref
    path.write_bytes(bytes(out))
    return path


def write_markdown(folder: Path, doc_id: str, title: str, body: str, **meta: str) -> Path:
    """A corpus-style Markdown file with YAML front matter."""
    front = {"id": doc_id, "title": title, "source": f"{title} v1", "category": "legal", **meta}
    header = "\n".join(f'{key}: "{value}"' for key, value in front.items())
    path = folder / f"{doc_id}.md"
    path.write_text(f"---\n{header}\n---\n{body}", encoding="utf-8")
    return path


# Four short, clearly distinct documents: each question in the tests paraphrases exactly one of them.
FIXTURE_DOCS: dict[str, tuple[str, str]] = {
    "fx-notice": (
        "Employment policy: resignation notice periods",
        "# Resignation\n\n## Notice\nEmployees who resign must give one month of written notice to their line "
        "manager. Senior staff must give three months. Notice starts on the day after the letter is received.\n\n"
        "## Garden leave\nThe company may place a departing employee on garden leave for all or part of the "
        "notice period, on full pay.",
    ),
    "fx-breach": (
        "Data protection: reporting a personal data breach",
        "# Breach reporting\n\n## Deadlines\nA suspected personal data breach must be reported to Security "
        "Operations within 4 hours of discovery. The regulator is notified within 72 hours when the breach is "
        "likely to harm people.\n\n## Records\nEvery breach is written in the breach register and kept for five "
        "years.",
    ),
    "fx-liability": (
        "Master services agreement: limitation of liability",
        "# Liability\n\n## Cap\nEach party's total liability in any contract year is capped at the fees paid in "
        "the twelve months before the claim.\n\n## Exclusions\nNeither party is liable for loss of profit, "
        "revenue or goodwill, or for indirect or consequential loss.",
    ),
    "fx-leave": (
        "Employment policy: annual holiday entitlement",
        "# Annual leave\n\n## Entitlement\nFull-time staff receive 25 days of paid holiday each year plus public "
        "holidays. Up to five unused days may be carried over into the next year.\n\n## Booking\nHoliday is "
        "booked in the HR portal at least two weeks ahead and approved by the line manager.",
    ),
}


def write_fixture_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {doc_id: write_markdown(folder, doc_id, title, body) for doc_id, (title, body) in FIXTURE_DOCS.items()}


_WORD = re.compile(r"\w+")


class CountingEmbedder:
    """Hashed bag-of-words embedder (384-dim, normalised) that records every text it is asked to embed."""

    dimensions = 384

    def __init__(self, name: str = "test/hashed-bow") -> None:
        self.name = name
        self.calls: list[list[str]] = []

    @property
    def texts_embedded(self) -> int:
        return sum(len(call) for call in self.calls)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word[:5].encode(), digest_size=4).digest(), "little")
                out[row, bucket % self.dimensions] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


def hit_docs(result: Any) -> list[str]:
    return [hit.doc_id for hit in result.hits]
