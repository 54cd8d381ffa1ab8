"""Loaders for the public benchmark data in `../shared/benchmarks/` (see its README.md).

The data is read in place, never copied into the project. Each loader returns frozen
dataclasses and applies the README's tune/test split:

* HotpotQA (dev, 500 questions): questions 1-250 tune, 251-500 test; the retrieval corpus
  pools every paragraph of all 500 questions (title + text, deduplicated).
* HaluEval QA (first 1,000 lines): lines 1-500 tune, 501-1000 test; each item yields a
  faithful and a hallucinated (knowledge, question, answer) triple.
* CLAP NQ (dev, 300 answerable + 300 unanswerable): the first 150 of each file tune, the
  last 150 test; the corpus pools the 600 gold passages of both files (deduplicated).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_ROOT",
    "SPLITS",
    "BenchmarkDataMissing",
    "ClapNQ",
    "ClapNQQuestion",
    "HaluEvalItem",
    "HaluEvalTriple",
    "HotpotQA",
    "HotpotQuestion",
    "Paragraph",
    "check_root",
    "halueval_triples",
    "load_clapnq",
    "load_halueval",
    "load_hotpotqa",
    "paragraph_key",
]

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
"""`shared/benchmarks` beside the project root."""

SPLITS = ("tune", "test")

HOTPOTQA_FILE = Path("hotpotqa-dev500") / "dev_subsampled.jsonl"
HALUEVAL_FILE = Path("halueval-qa") / "qa_data_first1000.jsonl"
CLAPNQ_ANSWERABLE_FILE = Path("clapnq-dev") / "clapnq_dev_answerable.jsonl"
CLAPNQ_UNANSWERABLE_FILE = Path("clapnq-dev") / "clapnq_dev_unanswerable.jsonl"


class BenchmarkDataMissing(FileNotFoundError):
    """The benchmark folder or one of its files is absent."""


@dataclass(frozen=True)
class Paragraph:
    """One document of a pooled corpus.

    Attributes:
        key: `paragraph_key(title, text)`, a content hash (stable across runs).
        title: The Wikipedia page title.
        text: The paragraph text.
    """

    key: str
    title: str
    text: str

    @property
    def document(self) -> str:
        """Title and text as one document, the way it is indexed."""
        return f"{self.title}\n{self.text}"


def paragraph_key(title: str, text: str) -> str:
    """Content id of a paragraph: a hash of its title and text."""
    return hashlib.sha256(f"{title}\x00{text}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class HotpotQuestion:
    """A HotpotQA question with its gold answer spans and the keys of its 2 supporting paragraphs."""

    id: str
    question: str
    answers: tuple[str, ...]
    gold_keys: tuple[str, ...]


@dataclass(frozen=True)
class HotpotQA:
    """The questions of one split and the pooled corpus of all 500 questions."""

    questions: tuple[HotpotQuestion, ...]
    corpus: tuple[Paragraph, ...]


@dataclass(frozen=True)
class HaluEvalTriple:
    """One (knowledge, question, answer, label) case for the faithfulness checker.

    Attributes:
        item: 1-based line number of the source item.
        label: "faithful" (the right answer) or "hallucinated".
    """

    item: int
    knowledge: str
    question: str
    answer: str
    label: str

    @property
    def faithful(self) -> bool:
        """True for the right answer."""
        return self.label == "faithful"


@dataclass(frozen=True)
class HaluEvalItem:
    """One HaluEval QA line: a knowledge snippet, a question, a right and a hallucinated answer."""

    line: int
    knowledge: str
    question: str
    right_answer: str
    hallucinated_answer: str

    @property
    def triples(self) -> tuple[HaluEvalTriple, HaluEvalTriple]:
        """The faithful and the hallucinated triple of this item."""
        return (
            HaluEvalTriple(self.line, self.knowledge, self.question, self.right_answer, "faithful"),
            HaluEvalTriple(self.line, self.knowledge, self.question, self.hallucinated_answer, "hallucinated"),
        )


@dataclass(frozen=True)
class ClapNQQuestion:
    """A CLAP NQ question.

    Attributes:
        id: The dataset id.
        question: The question (`input`).
        answerable: From which file it came.
        answer: The long gold answer (`output[0].answer`), None when unanswerable.
        gold_key: Key of its gold passage in the pooled corpus.
    """

    id: str
    question: str
    answerable: bool
    answer: str | None
    gold_key: str


@dataclass(frozen=True)
class ClapNQ:
    """The questions of one split (answerable first, then unanswerable) and the pooled corpus."""

    questions: tuple[ClapNQQuestion, ...]
    corpus: tuple[Paragraph, ...]


def check_root(root: str | Path | None = None) -> Path:
    """The benchmarks folder (default `DEFAULT_ROOT`).

    Raises:
        BenchmarkDataMissing: It does not exist.
    """
    path = Path(root) if root is not None else DEFAULT_ROOT
    if not path.is_dir():
        raise BenchmarkDataMissing(
            f"benchmark data folder not found: {path} (expected the shared benchmarks beside the "
            "project root, see shared/benchmarks/README.md)"
        )
    return path


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise BenchmarkDataMissing(f"benchmark file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def _halves(rows: list, split: str, size: int) -> list:
    # The README's split: the first `size` rows tune, the last `size` rows test.
    return rows[:size] if split == "tune" else rows[-size:]


class _Pool:
    """Builds a deduplicated corpus in first-seen order."""

    def __init__(self) -> None:
        self._by_key: dict[str, Paragraph] = {}

    def add(self, title: str, text: str) -> str:
        key = paragraph_key(title, text)
        self._by_key.setdefault(key, Paragraph(key, title, text))
        return key

    def paragraphs(self) -> tuple[Paragraph, ...]:
        return tuple(self._by_key.values())


def load_hotpotqa(split: str = "test", root: str | Path | None = None) -> HotpotQA:
    """Load HotpotQA (distractor dev, 500 questions) for pooled retrieval and answering.

    Args:
        split: "tune" (questions 1-250 in file order) or "test" (251-500).
        root: The benchmarks folder (default `DEFAULT_ROOT`).

    Returns:
        The split's 250 questions and the corpus pooling the paragraphs of all 500 questions.

    Raises:
        BenchmarkDataMissing: The folder or file is absent.
        ValueError: Unknown split.
    """
    _check_split(split)
    rows = _read_jsonl(check_root(root) / HOTPOTQA_FILE)
    pool = _Pool()
    questions: list[HotpotQuestion] = []
    for row in rows:
        gold = []
        for ctx in row["contexts"]:
            key = pool.add(ctx["title"], ctx["paragraph_text"])
            if ctx.get("is_supporting"):
                gold.append(key)
        answers = row["answers_objects"][0]["spans"] if row.get("answers_objects") else []
        questions.append(
            HotpotQuestion(
                id=str(row["question_id"]),
                question=row["question_text"],
                answers=tuple(answers),
                gold_keys=tuple(dict.fromkeys(gold)),
            )
        )
    return HotpotQA(tuple(_halves(questions, split, len(questions) // 2)), pool.paragraphs())


def load_halueval(split: str = "test", root: str | Path | None = None) -> tuple[HaluEvalItem, ...]:
    """Load HaluEval QA items (each a faithful/hallucinated pair of triples).

    Args:
        split: "tune" (lines 1-500) or "test" (lines 501-1000).
        root: The benchmarks folder (default `DEFAULT_ROOT`).

    Returns:
        500 items; `item.triples` gives the two (knowledge, question, answer, label) cases,
        and `halueval_triples(items)` flattens them.

    Raises:
        BenchmarkDataMissing: The folder or file is absent.
        ValueError: Unknown split.
    """
    _check_split(split)
    rows = _read_jsonl(check_root(root) / HALUEVAL_FILE)
    items = [
        HaluEvalItem(
            line=i,
            knowledge=row["knowledge"].strip(),
            question=row["question"].strip(),
            right_answer=row["right_answer"].strip(),
            hallucinated_answer=row["hallucinated_answer"].strip(),
        )
        for i, row in enumerate(rows, start=1)
    ]
    return tuple(_halves(items, split, len(items) // 2))


def halueval_triples(items: tuple[HaluEvalItem, ...]) -> Iterator[HaluEvalTriple]:
    """Both triples of every item, faithful first."""
    for item in items:
        yield from item.triples


def load_clapnq(split: str = "test", root: str | Path | None = None) -> ClapNQ:
    """Load CLAP NQ for the abstention benchmark.

    Args:
        split: "tune" (the first 150 of each file) or "test" (the last 150 of each file).
        root: The benchmarks folder (default `DEFAULT_ROOT`).

    Returns:
        300 questions (answerable first) and the pooled gold passages of all 600 questions,
        deduplicated by content.

    Raises:
        BenchmarkDataMissing: The folder or a file is absent.
        ValueError: Unknown split.
    """
    _check_split(split)
    base = check_root(root)
    pool = _Pool()
    selected: list[ClapNQQuestion] = []
    for name, answerable in ((CLAPNQ_ANSWERABLE_FILE, True), (CLAPNQ_UNANSWERABLE_FILE, False)):
        rows = _read_jsonl(base / name)
        questions = []
        for row in rows:
            passage = row["passages"][0]
            key = pool.add(passage.get("title", ""), passage["text"])
            outputs = row.get("output") or []
            answer = (outputs[0].get("answer") if outputs else None) or None
            questions.append(
                ClapNQQuestion(
                    id=str(row["id"]),
                    question=row["input"],
                    answerable=answerable,
                    answer=answer if answerable else None,
                    gold_key=key,
                )
            )
        selected.extend(_halves(questions, split, len(questions) // 2))
    return ClapNQ(tuple(selected), pool.paragraphs())
