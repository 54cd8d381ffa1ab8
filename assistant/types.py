"""The frozen dataclasses that carry data between ingest, retrieval, generation and the UI."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def chunk_id(source: str, start: int, end: int, text: str) -> str:
    """Content id of a chunk: a hash of its source, span and text (stable across runs)."""
    digest = hashlib.sha256(f"{source}\x00{start}\x00{end}\x00{text}".encode("utf-8"))
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage of one source document.

    Attributes:
        id: `chunk_id(source, start, end, text)`.
        source: Path of the file relative to the ingested root, with '/' separators.
        text: The passage text; always exactly `document_text[start:end]` (chunks never
            span removed boilerplate).
        start: Character offset of the passage's first character in the document text.
        end: Character offset one past its last character.
        line_start: 1-based line of `start`.
        line_end: 1-based line of `end - 1`.
        ordinal: Position of the chunk within its document (0-based).
        title: Document title (first heading or first non-empty line).
        page: 1-based PDF page of `start`, else None.
    """

    id: str
    source: str
    text: str
    start: int
    end: int
    line_start: int
    line_end: int
    ordinal: int
    title: str = ""
    page: int | None = None


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score (higher is better)."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None


@dataclass(frozen=True)
class Citation:
    """One `[n]` marker of an answer, verified against a retrieved passage.

    Attributes:
        n: The marker number as shown in the answer text.
        source: File path relative to the ingested root.
        start: Character offset of `quote` in the document text.
        end: One past the last character of `quote`.
        lines: 1-based (first, last) line of the quote.
        quote: The exact supporting text (document_text[start:end]).
        chunk_id: The passage the quote lies in.
        page: PDF page, else None.
    """

    n: int
    source: str
    start: int
    end: int
    lines: tuple[int, int]
    quote: str
    chunk_id: str
    page: int | None = None


@dataclass(frozen=True)
class Answer:
    """What `ask()` returns.

    Attributes:
        text: The answer with inline `[n]` markers (unsupported sentences removed).
        citations: Verified citations, one per marker number used in `text`.
        hits: The retrieved passages, best first.
        abstained: True when the documents do not answer the question.
        unsupported: Draft sentences removed because no passage supports them.
        model: Name of the model (or "extractive").
        backend: The backend that produced the final text.
        question: The question as asked.
        query: The standalone query used for retrieval (after follow-up rewriting).
        timings: Seconds: "retrieval", "first_token", "generation", "total".
        tokens: Counts: "prompt", "completion".
        notices: Things the user should know (fallback used, question truncated...).
        repaired: How many citations were added or corrected by verification.
    """

    text: str
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    abstained: bool = False
    unsupported: tuple[str, ...] = ()
    model: str = ""
    backend: str = ""
    question: str = ""
    query: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    repaired: int = 0

    def to_dict(self) -> dict:
        """A JSON-ready dict (used by `--json`, feedback logs and eval reports)."""
        return {
            "text": self.text,
            "abstained": self.abstained,
            "citations": [
                {"n": c.n, "source": c.source, "start": c.start, "end": c.end,
                 "lines": list(c.lines), "quote": c.quote, "chunk_id": c.chunk_id, "page": c.page}
                for c in self.citations
            ],
            "hits": [
                {"source": h.chunk.source, "chunk_id": h.chunk.id, "score": h.score,
                 "lines": [h.chunk.line_start, h.chunk.line_end], "text": h.chunk.text}
                for h in self.hits
            ],
            "unsupported": list(self.unsupported),
            "model": self.model,
            "backend": self.backend,
            "question": self.question,
            "query": self.query,
            "timings": dict(self.timings),
            "tokens": dict(self.tokens),
            "notices": list(self.notices),
            "repaired": self.repaired,
        }
