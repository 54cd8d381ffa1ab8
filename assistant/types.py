"""The frozen dataclasses that carry data between ingest, retrieval, generation and the UI."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

# What an answer without sentences says first (then where the closest passages are).
DONT_SAY = "The documents don't say."
UNSURE_YES = "No answer is shown: the model was unsure of its Yes to this yes-or-no question."
NO_ANSWER = (DONT_SAY.rstrip("."), UNSURE_YES)  # a turn starting so answered nothing


def chunk_id(source: str, start: int, end: int, text: str) -> str:
    """Content id of a chunk: a hash of its source, span and text (stable across runs)."""
    digest = hashlib.sha256(f"{source}\x00{start}\x00{end}\x00{text}".encode())
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
        page: 1-based PDF page (or .pptx slide) of `start`, else None.
        page_starts: Document offsets inside the chunk where a later page starts (a PDF chunk
            may run on from one page to the next), so that `page_at` can tell a quote's page.
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
    page_starts: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The page of document offset `offset` inside this chunk (None without pages)."""
        if self.page is None:
            return None
        return self.page + bisect.bisect_right(self.page_starts, offset)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score (higher is better). `continues`: not retrieved
    for itself but because the chunk before it ends introducing it (`with_continuations`)."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    continues: bool = False


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
        page: The PDF page where the quote starts, or the .pptx slide; else None. (A chunk
            stored before `Chunk.page_starts` existed names the page its passage starts on.)
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
class SentenceTrace:
    """What verification decided about one sentence of a draft.

    Attributes:
        text: The sentence without markers.
        kind: "claim", "decline" or "restatement" (only claims are checked).
        kept: It was shown.
        checks: Check name -> passed, for the support chosen (every check runs).
        reasons: Check name -> why it failed.
        support: (source, quote) of the sentences it cites or would cite.
        repaired: Its citation was moved to another passage than it cited.
        scores: Graded results behind some checks (the model check's P(yes)).
    """

    text: str
    kind: str
    kept: bool
    checks: Mapping[str, bool] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    support: tuple[tuple[str, str], ...] = ()
    repaired: bool = False
    scores: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "kind": self.kind,
            "kept": self.kept,
            "checks": dict(self.checks),
            "reasons": dict(self.reasons),
            "scores": dict(self.scores),
            "repaired": self.repaired,
            "support": [{"source": s, "quote": q} for s, q in self.support],
        }


@dataclass(frozen=True)
class Trace:
    """How an answer was made: what the model saw, each draft, and each check's decisions.

    Attributes:
        abstained_by: "floor" (no passage relevant enough), "model" (it said the documents
            don't answer), "checks" (verification removed every sentence), or None.
        passages: The numbered passages the model was shown, as shown.
        draft: The model's reply, as written.
        sentences: The verdict on each of its sentences.
    """

    abstained_by: str | None = None
    passages: tuple[str, ...] = ()
    draft: str = ""
    sentences: tuple[SentenceTrace, ...] = ()

    def to_dict(self) -> dict:
        return {
            "abstained_by": self.abstained_by,
            "passages": list(self.passages),
            "drafts": [{"text": self.draft, "sentences": [s.to_dict() for s in self.sentences]}],
        }


@dataclass(frozen=True)
class Answer:
    """What `ask()` returns.

    Attributes:
        text: The answer with inline `[n]` markers (unsupported sentences removed).
        citations: Verified citations, one per marker number used in `text`.
        hits: The retrieved passages, best first.
        abstained: True when the documents do not answer the question.
        unsupported: Draft sentences removed by the checks (not shown).
        removed_why: Why each sentence of `unsupported` was removed: the checks it failed
            ("numbers: number(s) not in the passage: 7"), in the same order.
        model: Name of the model (or "extractive").
        backend: The backend that produced the final text.
        question: The question as asked.
        query: The standalone query used for retrieval (after follow-up rewriting).
        timings: Seconds: "retrieval", "first_token", "first_sentence" (the first verified
            sentence shown), "generation", "total".
        tokens: Counts: "prompt", "completion".
        notices: Things the user should know (fallback used, question truncated...).
        repaired: How many citations were added or corrected by verification.
        trace: How the answer was made (drafts, each check's decisions), for evals.
    """

    text: str
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    abstained: bool = False
    unsupported: tuple[str, ...] = ()
    removed_why: tuple[str, ...] = ()
    model: str = ""
    backend: str = ""
    question: str = ""
    query: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    repaired: int = 0
    trace: Trace = field(default_factory=Trace)

    def to_dict(self) -> dict:
        """A JSON-ready dict (used by `--json`, feedback logs and eval reports)."""
        return {
            "text": self.text,
            "abstained": self.abstained,
            "citations": [
                {
                    "n": c.n,
                    "source": c.source,
                    "start": c.start,
                    "end": c.end,
                    "lines": list(c.lines),
                    "quote": c.quote,
                    "chunk_id": c.chunk_id,
                    "page": c.page,
                }
                for c in self.citations
            ],
            "hits": [
                {
                    "source": h.chunk.source,
                    "chunk_id": h.chunk.id,
                    "score": h.score,
                    "lines": [h.chunk.line_start, h.chunk.line_end],
                    "text": h.chunk.text,
                }
                for h in self.hits
            ],
            "unsupported": list(self.unsupported),
            "removed_why": list(self.removed_why),
            "model": self.model,
            "backend": self.backend,
            "question": self.question,
            "query": self.query,
            "timings": dict(self.timings),
            "tokens": dict(self.tokens),
            "notices": list(self.notices),
            "repaired": self.repaired,
            "trace": self.trace.to_dict(),
        }
