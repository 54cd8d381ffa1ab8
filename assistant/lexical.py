"""BM25 over the chunks, persisted per client and kept in step with the store's version.

The index is built from the chunks in Chroma (the source of truth), saved under the client's
cache folder with the store version it was built at, and rebuilt only when that version
changes (after an ingest by this or another client), never per query.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import sparse

from assistant.store import Store, local_state_dir
from assistant.types import Chunk

_FORMAT = 2
_K1 = 1.2
_B = 0.75
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset("""
a an and are as at be been but by did do does for from had has have he her his how i if in into is
it its me my of on or our she so than that the their them then there these they this to was we were
what when where which who whom why will with would you your about after also can could should
""".split())


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords, with plural/possessive endings folded."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        if tok in STOPWORDS:
            continue
        if len(tok) > 4 and tok.endswith("ies"):
            tok = tok[:-3] + "y"
        elif len(tok) > 3 and tok.endswith("s") and not tok.endswith("ss"):
            tok = tok[:-1]
        out.append(tok)
    return out


@dataclass
class LexicalIndex:
    """A BM25 index: a sparse chunk x term matrix of precomputed BM25 weights."""

    version: str
    chunks: list[Chunk]
    vocab: dict[str, int]
    weights: sparse.csc_matrix  # (n_chunks, n_terms)

    @classmethod
    def build(cls, chunks: Sequence[Chunk], version: str = "") -> "LexicalIndex":
        """Build from chunks (title included in each passage's terms)."""
        chunks = list(chunks)
        vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        lengths = np.zeros(len(chunks), dtype=np.float64)
        for i, c in enumerate(chunks):
            counts = Counter(tokenize(f"{c.title} {c.text}"))
            lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                rows.append(i)
                cols.append(vocab.setdefault(term, len(vocab)))
                tfs.append(tf)
        n = len(chunks)
        if n == 0 or not vocab:
            return cls(version, chunks, vocab, sparse.csc_matrix((n, max(1, len(vocab)))))
        rows_a, cols_a, tf_a = np.array(rows), np.array(cols), np.array(tfs, dtype=np.float64)
        df = np.bincount(cols_a, minlength=len(vocab))
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        avgdl = lengths.mean() or 1.0
        norm = _K1 * (1.0 - _B + _B * lengths[rows_a] / avgdl)
        w = idf[cols_a] * tf_a * (_K1 + 1.0) / (tf_a + norm)
        matrix = sparse.csc_matrix((w, (rows_a, cols_a)), shape=(n, len(vocab)))
        return cls(version, chunks, vocab, matrix)

    def search(self, query: str, top_k: int, sources: Sequence[str] | None = None) -> list[tuple[Chunk, float]]:
        """The `top_k` best chunks for `query` as (chunk, bm25 score), best first."""
        terms = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not terms or not self.chunks:
            return []
        scores = np.asarray(self.weights[:, terms].sum(axis=1)).ravel()
        if sources:
            allowed = set(sources)
            scores = scores * np.fromiter((c.source in allowed for c in self.chunks), dtype=bool,
                                          count=len(self.chunks))
        k = min(top_k, int((scores > 0).sum()))
        if k == 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.chunks[i], float(scores[i])) for i in best]


_cache: dict[str, LexicalIndex] = {}
_lock = threading.Lock()


def _index_path(store: Store) -> str:
    return str(local_state_dir(store.settings) / "bm25.pkl")


def refresh_lexical_index(store: Store) -> LexicalIndex:
    """Return this store's BM25 index, rebuilding it only if the store version moved."""
    version = str(store.state().get("version", ""))
    path = _index_path(store)
    with _lock:
        index = _cache.get(path)
        if index is None and os.path.exists(path):
            try:
                with open(path, "rb") as f:
                    fmt, index = pickle.load(f)
                if fmt != _FORMAT:
                    index = None
            except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError):
                index = None  # a damaged cache is rebuilt from the store
        if index is not None and index.version == version:
            _cache[path] = index
            return index
        index = LexicalIndex.build(store.iter_chunks(), version)
        _save(path, index)
        _cache[path] = index
        return index


def _save(path: str, index: LexicalIndex) -> None:
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump((_FORMAT, index), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)  # atomic: readers never see half a file


def idf_weight(term: str, index: LexicalIndex) -> float:
    """The idf of a term in the index (0 for unknown terms); used to weight query terms."""
    j = index.vocab.get(term)
    if j is None:
        return 0.0
    df = index.weights.indptr[j + 1] - index.weights.indptr[j]
    n = len(index.chunks)
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))
