"""Hybrid retrieval: dense (Chroma + embedder), BM25 and document titles, fused by reciprocal
rank, then one hop along the titles a top passage mentions.

Why the last two steps (measured on HotpotQA, pooled, see bench/retrieval_quality.py):
- A question often names the documents it is about ("Which band had more members, Letters to
  Cleo or Screaming Trees?"). Documents whose title the question mentions form a third ranking.
- A multi-hop question needs a second passage that only the first one leads to ("the woman who
  portrayed Corliss Archer" -> the film's passage names Shirley Temple -> her passage). When
  the question names fewer than two documents, the best passage mentioned by each of the top
  `HOPS` hits (by title, ranked by BM25 relevance to the question) is placed right after it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from assistant.retrieval.embedder import vectors
from assistant.retrieval.lexical import LexicalIndex, refresh_lexical_index
from assistant.retrieval.store import Store
from assistant.types import Chunk, Hit

RRF_K = 60
_CANDIDATES = 4  # each retriever proposes top_k * this many before fusion ...
_MIN_CANDIDATES = 40  # ... but at least this many (more candidates, better fusion)
NAMED_WEIGHT = 1.0  # weight of the "documents the question names" ranking in the fusion
HOPS = 2  # follow the titles mentioned by this many top hits
_OVERLAP = 0.5  # a chunk mostly inside a better one (same source) is dropped


def fuse(
    rankings: Sequence[Sequence[Chunk]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[Chunk, float]]:
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


def retrieve(store: Store, query: str, *, top_k: int = 6, sources: Sequence[str] | None = None) -> list[Hit]:
    """The `top_k` best chunks for `query` from dense, lexical and title retrieval, fused.

    Chunks that mostly repeat a better-ranked chunk (overlapping spans) are dropped.

    Args:
        store: An open `Store`.
        query: A standalone query.
        top_k: How many hits to return.
        sources: Restrict to these source files.
    """
    n = max(top_k * _CANDIDATES, _MIN_CANDIDATES)
    vector = vectors.embed(store.embedder, [query])[0].tolist()
    dense = store.query(vector, n, sources)
    index = refresh_lexical_index(store)
    bm25 = index.scores(query)
    mask = index.allowed(sources)
    lexical = index.top(bm25, n, mask)
    named = named_chunks(index, query, bm25, mask)
    dense_scores = {c.id: s for c, s in dense}
    lexical_scores = {c.id: s for c, s in lexical}
    fused = fuse([[c for c, _ in dense], [c for c, _ in lexical], named], [1.0, 1.0, NAMED_WEIGHT])
    hops = HOPS if len(named) < 2 else 0  # a question naming two documents is about those
    hits: list[Hit] = []
    for chunk, score in fused:
        if len(hits) >= top_k + hops:
            break
        if not any(_overlap(chunk, h.chunk) > _OVERLAP for h in hits):
            hits.append(Hit(chunk, score, dense_scores.get(chunk.id), lexical_scores.get(chunk.id)))
    if hops:
        hits = follow_links(index, hits, bm25, mask, hops)
    return hits[:top_k]


def named_chunks(
    index: LexicalIndex, query: str, bm25: np.ndarray | None, mask: np.ndarray | None = None
) -> list[Chunk]:
    """The best chunk of each document whose title `query` mentions, best BM25 first."""
    rows = [index.best_row(d, bm25) for d in index.named_documents(query)]
    if mask is not None:
        rows = [r for r in rows if mask[r]]
    if bm25 is not None:
        rows.sort(key=lambda r: -bm25[r])  # stable: first mention first on a tie
    return [index.chunks[r] for r in rows]


def follow_links(
    index: LexicalIndex, hits: list[Hit], bm25: np.ndarray | None, mask: np.ndarray | None, hops: int
) -> list[Hit]:
    """Place after each of the first `hops` hits the best chunk of a document it mentions.

    "Best" is the highest BM25 score for the question (the first mentioned on a tie). The
    inserted hit takes its parent's fused score, so scores stay in best-first order.
    """
    out: list[Hit] = []
    placed: set[str] = set()
    for pos, parent in enumerate(hits):
        if parent.chunk.id not in placed and not any(_overlap(parent.chunk, h.chunk) > _OVERLAP for h in out):
            out.append(parent)
            placed.add(parent.chunk.id)
        if pos >= hops:
            continue
        rows = [index.row(h.chunk.id) for h in [parent, *out]]
        exclude = {index.document_of(r) for r in rows if r is not None}
        candidates = [index.best_row(d, bm25) for d in index.named_documents(parent.chunk.text, exclude)]
        candidates = [r for r in candidates if mask is None or mask[r]]
        if not candidates:
            continue
        best = max(candidates, key=lambda r: bm25[r]) if bm25 is not None else candidates[0]
        chunk = index.chunks[best]
        if chunk.id in placed or any(_overlap(chunk, h.chunk) > _OVERLAP for h in out):
            continue
        lexical = float(bm25[best]) if bm25 is not None and bm25[best] > 0 else None
        out.append(Hit(chunk, parent.score, None, lexical))
        placed.add(chunk.id)
    return out
