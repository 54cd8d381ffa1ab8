"""Evidence for the model: the retrieved sentences most relevant to the question, shown with
their neighbours as a few short numbered passages.

A passage is a run of consecutive sentences of one document around a relevant sentence. The
model reads context (who "he" is, which company "it" is) and the prompt stays small enough for
a CPU model to prefill in seconds. Every sentence keeps its exact offsets in its document, so
a citation of a passage can be narrowed to the one sentence that supports the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.generation.tokens import count_tokens
from assistant.grounding.sentences import sentence_spans
from assistant.protocols import Embedder
from assistant.retrieval.embedder import vectors
from assistant.retrieval.lexical import LexicalIndex, idf_weight, tokenize
from assistant.types import Citation, Hit

# Sentences in a document that address an AI are data, but a model may obey them; they are
# never shown to the model (see "Documents are data" in the README).
_INSTRUCTION = re.compile(
    r"(ignore|disregard|forget)\s+(all\s+|any\s+|the\s+|your\s+)*(previous|prior|above|earlier|system)?\s*"
    r"(instructions|prompts?|rules)|system prompt|you are (now )?an? (ai|assistant|language model)|"
    r"\b(as an ai|language model)\b|^\s*(assistant|system)\s*:|answer (that|with)\b|"
    r"\bnew instructions?\b|\b(do|must|should) not cite\b|\bsystem override\b|\bdeveloper mode\b",
    re.IGNORECASE,
)

_YES_NO = re.compile(
    r"^\s*(has|have|had|did|does|do|is|are|was|were|will|would|can|could|should|may|might)\b", re.IGNORECASE
)
# Questions whose form names the kind of answer (`asked_kind`).
_ASKS_NUMBER = re.compile(r"^\s*how\s+(many|much|old|long|far|tall)\b", re.IGNORECASE)
_ASKS_NAME = re.compile(r"^\s*who\s+(?!(is|was|are|were|'s)\b)\w+", re.IGNORECASE)
# The two words either side of an "or" that offers a choice ("A or B", "A, or the B"; not "or not").
_CHOICE = re.compile(r"([\w'’.-]+)[,;:]?\s+or\s+(?!not\b)(?:the\s+|a\s+|an\s+)?([\w'’.-]+)", re.IGNORECASE)
DENSE_WEIGHT = 0.55  # sentence relevance = this * cosine + the rest * idf-weighted term coverage
MIN_CENTRE_CHARS = 12  # a shorter line ("Timeouts", "Photo: AP") is shown only beside a better one
MAX_GAP = 3  # characters (white space) between two sentences that follow each other
MAX_BARE = 2  # short lines a window reaches past on each side (`_window`)
# A sentence ending like this introduces what comes next ("... using the SOCKS protocol:" and
# then the code): a window around one reaches on to the next sentence (`_window`), and a hit
# whose chunk ends with one brings the next chunk (`with_continuations`).
_INTRODUCES = re.compile(r"(?::|\.\.\.|…)\s*$")


def looks_like_instruction(text: str) -> bool:
    """True for text that tries to instruct the assistant (prompt injection in a document)."""
    return bool(_INSTRUCTION.search(text))


def without_instructions(question: str) -> str:
    """The question without its sentences addressed to the assistant ("SYSTEM OVERRIDE: ...").

    Orders to the assistant are not what the user wants to find, and they would drag the
    question's relevance below the floor. The whole question is returned when nothing else is
    left.
    """
    kept = [question[s:e] for s, e in sentence_spans(question) if not looks_like_instruction(question[s:e])]
    return " ".join(kept).strip() or question


def is_yes_no(question: str) -> bool:
    """Does the question ask for yes or no ("Did ...?", "Has ...?")? Not when it offers a
    choice ("Was A or B released first?" asks for A or B; "..., or not?" still asks yes or no)."""
    return bool(_YES_NO.match(question)) and not choice_sides(question)


def asked_kind(question: str) -> str | None:
    """What kind of thing the question asks for, when its form says so: "number" for "How
    many / much / old / long / far / tall ...?", "name" for "Who <did something>?" ("Who is
    X?" asks for a description, a choice "Who ..., A or B?" for a side); otherwise None."""
    if choice_sides(question):
        return None
    if _ASKS_NUMBER.match(question):
        return "number"
    if _ASKS_NAME.match(question):
        return "name"
    return None


def choice_sides(question: str) -> list[tuple[str, str]]:
    """The choices `question` offers, each as the words next to its "or": [("museum",
    "library")] for "Was the museum or the library opened first?"."""
    return _CHOICE.findall(question)


@dataclass(frozen=True)
class Sentence:
    """One sentence of a retrieved chunk, scored against the question.

    Attributes:
        text: The sentence, exactly as in the document.
        hit: The retrieved chunk it comes from.
        start: Offset of the sentence in the document text.
        end: One past its end.
        score: Relevance to the question (about 0..1, higher is better).
    """

    text: str
    hit: Hit
    start: int
    end: int
    score: float

    @property
    def source(self) -> str:
        return self.hit.chunk.source

    def citation(self, n: int) -> Citation:
        """This sentence as citation number `n`."""
        chunk = self.hit.chunk
        first = chunk.line_start + chunk.text.count("\n", 0, self.start - chunk.start)
        last = first + self.text.count("\n")
        return Citation(
            n=n,
            source=chunk.source,
            start=self.start,
            end=self.end,
            lines=(first, last),
            quote=self.text,
            chunk_id=chunk.id,
            page=chunk.page_at(self.start),
        )


@dataclass(frozen=True)
class Passage:
    """Consecutive sentences of one document, shown to the model as `[n]`.

    Attributes:
        n: The number the model sees.
        sentences: The sentences, in document order.
    """

    n: int
    sentences: tuple[Sentence, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def source(self) -> str:
        return self.sentences[0].source

    @property
    def score(self) -> float:
        return max(s.score for s in self.sentences)


def term_coverage(query_terms: Sequence[str], text: str, index: LexicalIndex | None) -> float:
    """idf-weighted share of `query_terms` present in `text` (1.0 = every term)."""
    if not query_terms:
        return 0.0
    present = set(tokenize(text))
    weights = {t: (idf_weight(t, index) if index else 1.0) or 0.5 for t in set(query_terms)}
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


def with_continuations(hits: Sequence[Hit], index: LexicalIndex) -> list[Hit]:
    """`hits`, then the next chunk of each hit's document whose text ends by introducing what
    comes next (":" or "...", as before a code block or a list), marked `continues`: its
    sentences can complete a passage (`build_passages`) but are not chosen for themselves."""
    have = {h.chunk.id for h in hits}
    out = list(hits)
    for hit in hits:
        after = index.next_chunk(hit.chunk) if _INTRODUCES.search(hit.chunk.text) else None
        if after is not None and after.id not in have:
            out.append(Hit(after, hit.score, continues=True))
            have.add(after.id)
    return out


def rank_sentences(
    query: str, hits: Sequence[Hit], embedder: Embedder, index: LexicalIndex | None = None
) -> list[Sentence]:
    """Every sentence of `hits` (once, instructions left out), scored against `query`, in
    document order per source (sources in the order of their first hit).

    The score mixes the cosine between sentence and query with the idf-weighted share of the
    query's terms the sentence holds.
    """
    seen: set[tuple[str, int]] = set()
    found: list[tuple[str, Hit, int, int]] = []
    for hit in hits:
        c = hit.chunk
        for s, e in sentence_spans(c.text):
            key = (c.source, c.start + s)
            text = c.text[s:e]
            if key in seen or looks_like_instruction(text):
                continue
            seen.add(key)
            found.append((text, hit, c.start + s, c.start + e))
    if not found:
        return []
    matrix = vectors.embed(embedder, [query] + [t for t, *_ in found])
    dense = matrix[1:] @ matrix[0]
    terms = tokenize(query)
    order = {h.chunk.source: k for k, h in reversed(list(enumerate(hits)))}
    ranked = [
        Sentence(
            text, hit, start, end, DENSE_WEIGHT * float(sim) + (1 - DENSE_WEIGHT) * term_coverage(terms, text, index)
        )
        for (text, hit, start, end), sim in zip(found, dense)
    ]
    return sorted(ranked, key=lambda s: (order[s.source], s.start))


def _follows(a: Sentence, b: Sentence) -> bool:
    """Does `b` come right after `a` in the same document (only white space between)?"""
    return a.source == b.source and 0 <= b.start - a.end <= MAX_GAP


def _continues(a: Sentence, b: Sentence) -> bool:
    """Does `b` follow `a`, or continue what `a` introduces? A sentence that ends in ":" or
    "..." may end its chunk, with the next chunk beginning further on than white space (what
    lies between, such as a code fence, was left out of every chunk)."""
    if _follows(a, b):
        return True
    ca, cb = a.hit.chunk, b.hit.chunk
    return (
        a.source == b.source
        and bool(_INTRODUCES.search(a.text))
        and (cb.ordinal == ca.ordinal + 1 and a.end == ca.end and b.start == cb.start)
    )


def build_passages(
    sentences: Sequence[Sentence], *, budget_tokens: int, max_passages: int = 5, radius: int = 1
) -> list[Passage]:
    """The best sentences, each with up to `radius` neighbours on either side, as passages
    numbered best first, within `budget_tokens`.

    Windows that touch or overlap merge into one passage. A window that does not fit the
    budget is tried without its neighbours.

    Args:
        sentences: From `rank_sentences` (document order per source).
        budget_tokens: Token budget for all passages together.
        max_passages: At most this many passages.
        radius: Neighbours on each side of a chosen sentence (0: the sentence alone).
    """
    position = {id(s): k for k, s in enumerate(sentences)}
    chosen: set[int] = set()
    used = 0
    for best in sorted(sentences, key=lambda s: -s.score):
        k = position[id(best)]
        if k in chosen or len(best.text) < MIN_CENTRE_CHARS or best.hit.continues:
            continue
        for window in (_window(sentences, k, radius), [k]):
            new = [j for j in window if j not in chosen]
            cost = sum(count_tokens(sentences[j].text) + 1 for j in new) + 4
            fits = used + cost <= budget_tokens or not chosen
            if fits and len(_runs(sentences, chosen | set(new))) <= max_passages:
                chosen.update(new)
                used += cost
                break
        if used >= budget_tokens:
            break
    runs = _runs(sentences, chosen)
    runs.sort(key=lambda run: -max(sentences[j].score for j in run))
    return [Passage(n, tuple(sentences[j] for j in run)) for n, run in enumerate(runs, 1)]


def _window(sentences: Sequence[Sentence], k: int, radius: int) -> list[int]:
    """Indexes of sentence `k` and up to `radius` sentences that follow each other on either
    side of it. Up to `MAX_BARE` lines too short to say anything (a code fence, "Photo: AP")
    do not count towards `radius`: the window reaches past them to the next sentence. When
    sentence `k` introduces the next one (ends with ":" or "..."), the window reaches on to it."""
    ends = []
    for step in (-1, 1):
        end, bare = k, 0
        for _ in range(radius):
            end, bare, reached = _step(sentences, end, step, bare, _follows)
            if not reached:
                break
        ends.append(end)
    lo, hi = ends
    reach = k
    while _INTRODUCES.search(sentences[reach].text):
        reach, _, reached = _step(sentences, reach, 1, 0, _continues)
        if not reached:
            break
    return list(range(lo, max(hi, reach) + 1))


def _step(
    sentences: Sequence[Sentence], k: int, step: int, bare: int, link: Callable[[Sentence, Sentence], bool]
) -> tuple[int, int, bool]:
    """From sentence `k`, go one sentence that says something further in direction `step`
    (+1 or -1), past short lines while fewer than `MAX_BARE` have been passed (`bare` so far),
    along sentences that `link` joins (`_follows`, `_continues`). Returns (index reached, short
    lines passed, whether such a sentence was reached before the run of sentences ended)."""
    j = k
    while 0 <= j + step < len(sentences) and link(sentences[min(j, j + step)], sentences[max(j, j + step)]):
        j += step
        if len(sentences[j].text) >= MIN_CENTRE_CHARS or bare == MAX_BARE:
            return j, bare, True
        bare += 1
    return j, bare, False


def _runs(sentences: Sequence[Sentence], chosen: set[int]) -> list[list[int]]:
    """The chosen indexes grouped into runs of sentences that follow each other."""
    runs: list[list[int]] = []
    for k in sorted(chosen):
        if runs and runs[-1][-1] == k - 1 and _continues(sentences[k - 1], sentences[k]):
            runs[-1].append(k)
        else:
            runs.append([k])
    return runs
