"""Compact evidence: the retrieved sentences most relevant to the question.

The model sees numbered sentences, not whole chunks: a prompt a small CPU model can prefill
in a few seconds, and citations that point at one exact sentence of one file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from assistant.embedder import vectors
from assistant.lexical import LexicalIndex, idf_weight, tokenize
from assistant.protocols import Embedder
from assistant.sentences import sentence_spans
from assistant.tokens import count_tokens
from assistant.types import Citation, Hit

# Sentences in a document that address an AI are data, but a model may obey them; they are
# never offered as evidence (see "Documents are data" in the README).
_INSTRUCTION = re.compile(
    r"(ignore|disregard|forget)\s+(all\s+|any\s+|the\s+|your\s+)*(previous|prior|above|earlier|system)?\s*"
    r"(instructions|prompts?|rules)|system prompt|you are (now )?an? (ai|assistant|language model)|"
    r"\b(as an ai|language model)\b|^\s*(assistant|system)\s*:|answer (that|with)\b|"
    r"\bnew instructions?\b|\b(do|must|should) not cite\b|\bsystem override\b|\bdeveloper mode\b",
    re.IGNORECASE)


_ASKS_NUMBER = re.compile(r"\bhow (many|much|long|far|old)\b|\bwhat (number|percentage|share|amount)\b", re.I)
_ASKS_TIME = re.compile(r"\bwhen\b|\b(what|which) (year|date|month|day)\b", re.I)
_ASKS_NAME = re.compile(r"\bby name\b|\bname of\b|^\s*name\b|\bwhat (is|was|are|were) (his|her|their) names?\b", re.I)
_ASKS_YES_NO = re.compile(r"^\s*(has|have|had|did|does|do|is|are|was|were|will|would|can|could)\b", re.I)
_HAS_NUMBER = re.compile(r"\d")
_HAS_TIME = re.compile(r"\b(1[89]\d\d|20\d\d|January|February|March|April|May|June|July|August|September|"
                       r"October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|"
                       r"yesterday|today|last (week|month|year)|earlier this (week|month|year))\b", re.I)
ANSWER_TYPE_BONUS = 0.12


def asks_for(question: str) -> str:
    """What kind of thing the question asks for: "number", "time", "name" (of someone: "by
    name", "the name of"), "yes-no" or "" (anything)."""
    if _ASKS_NUMBER.search(question):
        return "number"
    if _ASKS_TIME.search(question):
        return "time"
    if _ASKS_NAME.search(question):
        return "name"
    if _ASKS_YES_NO.search(question):
        return "yes-no"
    return ""


def has_time(text: str) -> bool:
    """Does `text` hold a date or time expression ("June", "2023", "last week")?"""
    return bool(_HAS_TIME.search(text))


def answer_type_bonus(question: str, sentence: str) -> float:
    """A bonus for sentences holding the kind of thing the question asks for (a number, a time)."""
    kind = asks_for(question)
    if kind == "number":
        return ANSWER_TYPE_BONUS if _HAS_NUMBER.search(sentence) else 0.0
    if kind == "time":
        return ANSWER_TYPE_BONUS if has_time(sentence) else 0.0
    return 0.0


def looks_like_instruction(text: str) -> bool:
    """True for text that tries to instruct the assistant (prompt injection in a document)."""
    return bool(_INSTRUCTION.search(text))


def without_instructions(question: str) -> str:
    """The question without its sentences addressed to the assistant ("SYSTEM OVERRIDE: ...").

    Used as the retrieval query: orders to the assistant are not what the user wants to
    find, and they would drag the question's relevance below the floor. The whole question
    is returned when nothing else is left.
    """
    kept = [question[s:e] for s, e in sentence_spans(question) if not looks_like_instruction(question[s:e])]
    return " ".join(kept).strip() or question


@dataclass(frozen=True)
class Evidence:
    """One numbered evidence sentence.

    Attributes:
        text: The sentence, exactly as in the document.
        hit: The retrieved chunk it comes from.
        start: Offset of the sentence in the document text.
        end: One past its end.
        score: Relevance to the question (0..1, higher is better).
        dense: Cosine similarity to the question.
        coverage: idf-weighted share of the question's terms the sentence contains.
    """

    text: str
    hit: Hit
    start: int
    end: int
    score: float
    dense: float
    coverage: float

    def citation(self, n: int) -> Citation:
        """This sentence as citation number `n`."""
        chunk = self.hit.chunk
        first = chunk.line_start + chunk.text.count("\n", 0, self.start - chunk.start)
        last = first + self.text.count("\n")
        return Citation(n=n, source=chunk.source, start=self.start, end=self.end,
                        lines=(first, last), quote=self.text, chunk_id=chunk.id, page=chunk.page)


def term_coverage(query_terms: Sequence[str], text: str, index: LexicalIndex | None) -> float:
    """idf-weighted share of `query_terms` present in `text` (1.0 = every term)."""
    if not query_terms:
        return 0.0
    present = set(tokenize(text))
    weights = {t: (idf_weight(t, index) if index else 1.0) or 0.5 for t in set(query_terms)}
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


def select_evidence(query: str, hits: Sequence[Hit], embedder: Embedder, *,
                    budget_tokens: int, index: LexicalIndex | None = None,
                    max_sentences: int = 6) -> list[Evidence]:
    """Rank the sentences of `hits` by relevance to `query`; keep the best within the budget.

    Returns evidence best first. Sentences that read as instructions to an AI are dropped.
    """
    seen: set[tuple[str, int]] = set()
    candidates: list[tuple[str, Hit, int, int]] = []
    for hit in hits:
        c = hit.chunk
        for s, e in sentence_spans(c.text):
            key = (c.source, c.start + s)
            text = c.text[s:e]
            if key in seen or len(text) < 12 or looks_like_instruction(text):
                continue
            seen.add(key)
            candidates.append((text, hit, c.start + s, c.start + e))
    if not candidates:
        return []
    matrix = vectors.embed(embedder, [query] + [t for t, *_ in candidates])
    dense = matrix[1:] @ matrix[0]
    terms = tokenize(query)
    ranked = []
    for (text, hit, start, end), sim in zip(candidates, dense):
        cov = term_coverage(terms, text, index)
        score = 0.55 * float(sim) + 0.45 * cov + answer_type_bonus(query, text)
        ranked.append(Evidence(text, hit, start, end, score, float(sim), cov))
    ranked.sort(key=lambda ev: -ev.score)
    chosen: list[Evidence] = []
    used = 0
    for ev in ranked:
        cost = count_tokens(ev.text) + 3
        if used + cost > budget_tokens and chosen:
            continue
        chosen.append(ev)
        used += cost
        if len(chosen) == max_sentences:
            break
    return chosen


def reading_order(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The evidence best first, except that sentences following each other in a document are
    kept together, in the document's order.

    A small model reads "... according to lawmaker Kim Joon-hyung. Kim ... said he plans to
    introduce legislation" far better in that order than ranked, where the second sentence may
    come first and "Kim" and "he" have nobody to refer to. Regrouping whole documents in text
    order was tried: it pushed the best sentence down, and the 0.5B model then answered
    NOT_FOUND to questions it had answered.
    """
    ordered: list[Evidence] = []
    placed: set[int] = set()
    for k, ev in enumerate(evidence):
        if k in placed:
            continue
        run = [k]
        grew = True
        while grew:  # extend the run with sentences right before or after it in the text
            grew = False
            for j, other in enumerate(evidence):
                if j in placed or j in run:
                    continue
                first, last = evidence[run[0]], evidence[run[-1]]
                if _adjacent(other, first):
                    run.insert(0, j)
                    grew = True
                elif _adjacent(last, other):
                    run.append(j)
                    grew = True
        placed.update(run)
        ordered.extend(evidence[j] for j in run)
    return ordered


def _adjacent(a: Evidence, b: Evidence) -> bool:
    """Does `b` follow `a` directly (only white space between them) in the same chunk?"""
    chunk = a.hit.chunk
    if b.hit.chunk.id != chunk.id or not a.end <= b.start:
        return False
    return not chunk.text[a.end - chunk.start:b.start - chunk.start].strip()
