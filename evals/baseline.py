"""A naive retrieval-augmented baseline, run beside docchat on the same questions.

What a first RAG prototype does, and nothing more:

* **chunks**: each document's paragraphs (split on blank lines) packed in order into chunks of
  at most `CHUNK_CHARS` characters; a longer paragraph is cut at sentence ends, and a sentence
  longer than that is cut hard;
* **retrieval**: the chunks embedded once per docs folder with the pipeline's embedder, held in
  memory with numpy, and the `TOP_K` nearest chunks by cosine (dot product of unit vectors);
* **generation**: one prompt through the pipeline's own `ChatModel` (`prompts/baseline_*.txt`):
  a short system message, then the numbered passages and the question, asking for `[n]`
  citations and for "I don't know" when the passages lack the answer;
* **reading the reply**: a decline is any reply that says the passages do not give the answer
  (`evals.metrics.is_decline`); the cited files are the passages of the in-range `[n]` markers.

No verification, no abstention threshold, no query rewriting.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.generation.prompts import template
from assistant.protocols import ChatModel, Embedder, Message
from assistant.settings import Settings
from evals.metrics import is_decline, marker_numbers, split_sentences

__all__ = [
    "CHUNK_CHARS",
    "MAX_TOKENS",
    "TOP_K",
    "BaselineReply",
    "NaiveBaseline",
    "Passage",
    "PassageIndex",
    "cited_numbers",
    "load_passages",
    "numbered",
    "pack_chunks",
    "paragraphs",
    "prompt_messages",
    "split_paragraph",
    "trailing_markers",
]

CHUNK_CHARS = 800
TOP_K = 5
MAX_TOKENS = 256

_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")
# A line that opens with its markers, the list style small models use: "[2] Fired on 1 November."
_LINE_LABEL_RE = re.compile(r"^[ \t]*((?:\[\d+(?:\s*,\s*\d+)*\][ \t]*)+)(\S.*?)[ \t]*$", re.MULTILINE)


# --------------------------------------------------------------------------- chunks


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a document: the text split on blank lines, stripped, empty ones dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip() for p in _BLANK_LINE_RE.split(text) if p.strip()]


def split_paragraph(paragraph: str, limit: int = CHUNK_CHARS) -> list[str]:
    """A long paragraph as pieces of at most `limit` characters, cut at sentence ends.

    Consecutive sentences are packed into one piece while they fit; a sentence longer than
    `limit` is cut every `limit` characters.
    """
    units = [s[i : i + limit] for s in split_sentences(paragraph) for i in range(0, len(s), limit)]
    return _pack(units, limit, " ")


def _pack(units: Sequence[str], limit: int, joiner: str) -> list[str]:
    """Units joined in order into pieces of at most `limit` characters (no unit is longer)."""
    pieces: list[str] = []
    current = ""
    for unit in units:
        joined = f"{current}{joiner}{unit}" if current else unit
        if len(joined) <= limit:
            current = joined
        else:
            pieces.append(current)
            current = unit
    if current:
        pieces.append(current)
    return pieces


def pack_chunks(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """A document's paragraphs packed in order into chunks of at most `limit` characters.

    A paragraph that fits in `limit` is never split; a longer one is split by `split_paragraph`.
    """
    units = [piece for p in paragraphs(text) for piece in ([p] if len(p) <= limit else split_paragraph(p, limit))]
    return _pack(units, limit, "\n\n")


@dataclass(frozen=True)
class Passage:
    """One baseline chunk: the file it comes from (relative to the docs folder) and its text."""

    source: str
    text: str


def _files(docs_dir: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(docs_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return found


def load_passages(docs_dir: str | Path, limit: int = CHUNK_CHARS) -> list[Passage]:
    """Every supported document under `docs_dir` (read by the ingest loaders) as chunks, in
    file order; files the loaders skip (unsupported, empty, binary) are skipped here too."""
    from ingest.loaders import SkipFile, load_document  # the same text the pipeline indexes

    root = Path(docs_dir)
    passages = []
    for path in _files(root):
        try:
            document = load_document(path, max_bytes=Settings().max_file_bytes)
        except SkipFile:
            continue
        source = path.relative_to(root).as_posix()
        passages += [Passage(source, chunk) for chunk in pack_chunks(document.text, limit)]
    return passages


def _unit_rows(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class PassageIndex:
    """The chunks of one docs folder and their unit vectors, searched by cosine in memory."""

    def __init__(self, passages: Sequence[Passage], vectors: np.ndarray) -> None:
        self.passages = tuple(passages)
        self.vectors = vectors

    @classmethod
    def build(cls, docs_dir: str | Path, embedder: Embedder, limit: int = CHUNK_CHARS) -> PassageIndex:
        """Chunk and embed every document under `docs_dir`."""
        passages = load_passages(docs_dir, limit)
        vectors = _unit_rows(embedder.embed([p.text for p in passages])) if passages else np.zeros((0, 1))
        return cls(passages, vectors)

    def search(self, question: str, embedder: Embedder, top_k: int = TOP_K) -> list[Passage]:
        """The `top_k` passages nearest to the question, best first (ties in document order)."""
        if not self.passages:
            return []
        query = _unit_rows(embedder.embed([question]))[0]
        order = np.argsort(-(self.vectors @ query), kind="stable")[:top_k]
        return [self.passages[i] for i in order]


# --------------------------------------------------------------------------- answers


def numbered(passages: Sequence[Passage]) -> str:
    """The passages as the baseline shows them: `[1] text`, a blank line between."""
    return "\n\n".join(f"[{n}] {p.text}" for n, p in enumerate(passages, start=1))


def prompt_messages(question: str, passages: Sequence[Passage]) -> list[Message]:
    """The baseline's chat: the system message and one user message with the numbered passages."""
    return [
        {"role": "system", "content": template("baseline_system", "evals").strip()},
        {
            "role": "user",
            "content": template("baseline_question", "evals").format(passages=numbered(passages), question=question),
        },
    ]


def trailing_markers(text: str) -> str:
    """The reply with each line's opening markers moved to the line's end.

    `evals.metrics.citation_scores` gives a sentence's leading marker to the sentence before it
    ("The bridge opened. [1] Then..."); a line labelled "[2] Fired on 1 November." cites passage
    2 for its own text, so the label is moved where that reading expects it.
    """
    return _LINE_LABEL_RE.sub(lambda m: f"{m.group(2)} {m.group(1).strip()}", text)


def cited_numbers(text: str, n_passages: int) -> tuple[int, ...]:
    """The marker numbers of a reply that name a passage (1..n_passages), in order, no repeats."""
    return tuple(n for n in marker_numbers(text) if 1 <= n <= n_passages)


@dataclass(frozen=True)
class BaselineReply:
    """The baseline's reply to one question.

    Attributes:
        text: The model's reply, as written.
        passages: The retrieved passages, numbered from 1 in the prompt.
        cited: The in-range marker numbers of the reply.
        declined: The reply says the passages do not give the answer (or is empty).
        first_token: Seconds from handling the question (retrieval included) to the first
            piece of the reply; None when nothing came.
        total: Seconds for the whole question.
        error: The model error, when the call failed.
    """

    text: str
    passages: tuple[Passage, ...]
    cited: tuple[int, ...]
    declined: bool
    first_token: float | None
    total: float
    error: str | None = None

    @property
    def cited_files(self) -> list[str]:
        """The files of the cited passages, in citation order, without repeats."""
        return list(dict.fromkeys(self.passages[n - 1].source for n in self.cited))

    def citations(self) -> list[dict]:
        """The citations in `Answer.to_dict()` form: `{"n", "source", "quote"}` (quote = passage)."""
        return [{"n": n, "source": self.passages[n - 1].source, "quote": self.passages[n - 1].text} for n in self.cited]


class NaiveBaseline:
    """The naive baseline over any docs folder, with one in-memory index per folder.

    Attributes:
        model: The chat model (the same object the pipeline answers with).
        embedder: The embedder (the same one the pipeline retrieves with).
    """

    name = "naive"

    def __init__(
        self,
        model: ChatModel,
        embedder: Embedder,
        *,
        top_k: int = TOP_K,
        chunk_chars: int = CHUNK_CHARS,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        """Configure the baseline; nothing is embedded until the first question on a folder."""
        self.model = model
        self.embedder = embedder
        self.top_k = top_k
        self.chunk_chars = chunk_chars
        self.max_tokens = max_tokens
        self._indexes: dict[Path, PassageIndex] = {}

    def index(self, docs_dir: str | Path) -> PassageIndex:
        """The folder's index, built on first use and kept for the run."""
        key = Path(docs_dir).resolve()
        if key not in self._indexes:
            self._indexes[key] = PassageIndex.build(key, self.embedder, self.chunk_chars)
        return self._indexes[key]

    def answer(self, question: str, docs_dir: str | Path) -> BaselineReply:
        """Retrieve, prompt and read the reply; a model error is kept in the reply, not raised."""
        index = self.index(docs_dir)  # built before the clock starts: once per run, not per question
        t0 = time.perf_counter()
        passages = index.search(question, self.embedder, self.top_k)
        pieces: list[str] = []
        first: float | None = None
        error = None
        try:
            for piece in self.model.stream(
                prompt_messages(question, passages), max_tokens=self.max_tokens, temperature=0.0
            ):
                if piece and first is None:
                    first = time.perf_counter() - t0
                pieces.append(piece)
        except ModelError as e:
            error = f"{type(e).__name__}: {e}"
        text = "".join(pieces).strip()
        declined = error is None and (not text or is_decline(text))
        return BaselineReply(
            text, tuple(passages), cited_numbers(text, len(passages)), declined, first, time.perf_counter() - t0, error
        )
