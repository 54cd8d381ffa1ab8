"""Hybrid retrieval: dense (Chroma + embedder) and BM25, fused by reciprocal rank."""

from __future__ import annotations

import re
from typing import Sequence

from assistant.lexical import refresh_lexical_index
from assistant.store import Store
from assistant.types import Chunk, Hit

RRF_K = 60
_CANDIDATES = 4  # each retriever proposes top_k * this many before fusion


def fuse(rankings: Sequence[Sequence[Chunk]], weights: Sequence[float] | None = None,
         k: int = RRF_K) -> list[tuple[Chunk, float]]:
    """Reciprocal rank fusion of several best-first rankings; returns (chunk, score) best first."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for ranking, w in zip(rankings, weights):
        for rank, chunk in enumerate(ranking):
            scores[chunk.id] = scores.get(chunk.id, 0.0) + w / (k + rank + 1)
            chunks[chunk.id] = chunk
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))
    return [(chunks[cid], scores[cid]) for cid in order]


def _overlap(a: Chunk, b: Chunk) -> float:
    """Share of the shorter chunk's span covered by the other (same source only)."""
    if a.source != b.source:
        return 0.0
    inter = min(a.end, b.end) - max(a.start, b.start)
    return max(0, inter) / max(1, min(a.end - a.start, b.end - b.start))


def retrieve(store: Store, query: str, *, top_k: int = 6,
             sources: Sequence[str] | None = None) -> list[Hit]:
    """The `top_k` best chunks for `query` from dense and lexical retrieval, fused.

    Chunks that mostly repeat a better-ranked chunk (overlapping spans) are dropped.

    Args:
        store: An open `Store`.
        query: A standalone query.
        top_k: How many hits to return.
        sources: Restrict to these source files.
    """
    n = top_k * _CANDIDATES
    vector = store.embedder.embed([query])[0]
    dense = store.query(vector, n, sources)
    lexical = refresh_lexical_index(store).search(query, n, sources)
    dense_scores = {c.id: s for c, s in dense}
    lexical_scores = {c.id: s for c, s in lexical}
    fused = fuse([[c for c, _ in dense], [c for c, _ in lexical]])
    hits: list[Hit] = []
    for chunk, score in fused:
        if any(_overlap(chunk, h.chunk) > 0.5 for h in hits):
            continue
        hits.append(Hit(chunk, score, dense_scores.get(chunk.id), lexical_scores.get(chunk.id)))
        if len(hits) == top_k:
            break
    return hits


_ANAPHORA = re.compile(
    r"\b(he|she|him|her|his|hers|they|them|their|it|its|this|that|these|those|there|then|"
    r"the same|the former|the latter|what about|how about|and)\b", re.IGNORECASE)


def standalone_query(question: str, history: Sequence[dict] | None) -> str:
    """The retrieval query for a question in a conversation.

    A follow-up that leans on earlier turns ("Where does he work?") is searched together with
    the previous user question, so the person or thing it refers to is part of the query.
    A question that stands on its own is searched as is.
    """
    if not history:
        return question
    previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
    if not previous:
        return question
    words = re.findall(r"\w+", question)
    if _ANAPHORA.search(question) or len(words) <= 4:
        return f"{previous[-1]} {question}"
    return question
