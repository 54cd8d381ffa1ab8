"""BM25 over the chunks, persisted per client and kept in step with the store's version.

The index is built from the chunks in Chroma (the source of truth) and saved under the client's
cache folder with the store version it was built at. When that version changes (after an ingest
by this or another client; never per query) the index is updated, not rebuilt: the store's chunk
ids (ids only, cheap) are compared with the index's, only the added chunks are fetched and
tokenized, and removed ones are dropped. A chunk whose id is still stored is taken as unchanged:
ids hash a chunk's source, span and text, and sync never rewrites a stored id. The index keeps
each chunk's raw term counts, so the BM25 weights of every row (idf and the average length
depend on all chunks) are recomputed from them in a few vectorised steps. Without a usable
index (none saved, damaged, an older format) or when most chunks changed, it is built from
scratch.

Rows are kept in one canonical order (source, start offset, id) and terms in alphabetical order,
whatever order the chunks came in, so an updated index is identical to a full build over the
same chunks: same weights, same scores, same order among equal scores.

Besides the BM25 weights it keeps a small title table: which documents a text names by their
title ("... starring Shirley Temple ..." names the document titled "Shirley Temple"). Retrieval
uses it to find documents a question names and documents a retrieved passage leads to. It is
recomputed with the weights (whether a title names a document depends on the other documents).
"""

from __future__ import annotations

import math
import os
import pickle
import re
import tempfile
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

from assistant.retrieval.store import Store, local_state_dir
from assistant.types import Chunk

_FORMAT = 4  # 4: raw term counts kept for updates; canonical row and term order
_K1 = 1.2
_B = 0.75
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    """
a an and are as at be been but by did do does for from had has have he her his how i if in into is
it its me my of on or our she so than that the their them then there these they this to was we were
what when where which who whom why will with would you your about after also can could should
""".split()
)

# A title names a document only if it looks like a name: a few words, not only stopwords, not
# shared by many documents ("Introduction", "README"), and a one-word title must be a rare word.
MAX_TITLE_WORDS = 8
MAX_DOCUMENTS_PER_TITLE = 3
_RARE_SHARE = 0.002  # a one-word title's word may occur in at most this share of chunks (min 3)
# When more chunks than this share of the store were added or removed, the index is built anew
# (fetching and tokenizing the added chunks is most of the work either way).
MAX_CHANGED_SHARE = 0.5
_DISAMBIGUATION = re.compile(r"\s*\([^()]*\)\s*$")  # "Kiss and Tell (1945 film)"


def _fold(tok: str) -> str:
    """A word's index form: "" for a stopword, plural/possessive endings folded."""
    if tok in STOPWORDS:
        return ""
    if len(tok) > 4 and tok.endswith("ies"):
        return tok[:-3] + "y"
    if len(tok) > 3 and tok.endswith("s") and not tok.endswith("ss"):
        return tok[:-1]
    return tok


_folded: dict[str, str] = {}  # word -> index form; building an index sees each word many times


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords, with plural/possessive endings folded."""
    if len(_folded) > 1_000_000:  # bound the memo (a vocabulary rarely gets near this)
        _folded.clear()
    out = []
    for tok in _TOKEN.findall(text.lower()):
        folded = _folded.get(tok)
        if folded is None:
            folded = _folded[tok] = _fold(tok)
        if folded:
            out.append(folded)
    return out


def title_words(title: str) -> tuple[str, ...]:
    """The words a title is recognised by: lower-cased, without a trailing "(disambiguation)"."""
    return tuple(_TOKEN.findall(_DISAMBIGUATION.sub("", title).lower()))


@dataclass
class LexicalIndex:
    """A BM25 index (a sparse chunk x term matrix of precomputed BM25 weights) plus a title table.

    Build one with `build`; `updated` derives the index of a changed chunk set from it.

    Attributes:
        version: The store version it was built at.
        chunks: The chunks, in matrix row order (by source, start offset, id).
        vocab: Term -> column (terms in alphabetical order).
        weights: (n_chunks, n_terms) BM25 weights.
        counts: (n_chunks, n_terms) raw term counts (title and text), for `updated`.
        source_ids: Per chunk row, the index of its document in `sources`.
        sources: Document (source path) per id, sorted.
        starts: Per document id, its first chunk row, and the number of rows at the end: the
            rows of document d are `starts[d]:starts[d + 1]` (rows are sorted by source).
        titles: First title word -> [(title words, document ids)] for naming documents.
    """

    version: str
    chunks: list[Chunk]
    vocab: dict[str, int]
    weights: sparse.csc_matrix  # (n_chunks, n_terms)
    counts: sparse.csr_matrix = field(default_factory=lambda: sparse.csr_matrix((0, 0), dtype=np.int32))
    source_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    sources: list[str] = field(default_factory=list)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    titles: dict[str, list[tuple[tuple[str, ...], tuple[int, ...]]]] = field(default_factory=dict)

    @classmethod
    def build(cls, chunks: Iterable[Chunk], version: str = "") -> LexicalIndex:
        """Build from chunks (title included in each passage's terms)."""
        chunks = list(chunks)
        vocab: dict[str, int] = {}
        counts = _count_terms(chunks, vocab)
        return _assemble(version, chunks, counts, list(vocab))

    def updated(self, keep: np.ndarray, added: Sequence[Chunk], version: str) -> LexicalIndex:
        """A new index over this one's rows where `keep` is true plus the `added` chunks.

        Only the added chunks are tokenized. The result is identical to `build` over the same
        chunks.

        Args:
            keep: Boolean mask over this index's rows.
            added: Chunks not in this index.
            version: The store version the new index is at.
        """
        vocab = dict(self.vocab)
        new = _count_terms(added, vocab)  # may add terms: new columns at the end
        kept = self.counts[np.flatnonzero(keep)]
        kept = sparse.csr_matrix((kept.data, kept.indices, kept.indptr), shape=(kept.shape[0], len(vocab)))
        chunks = [c for c, k in zip(self.chunks, keep) if k] + list(added)
        return _assemble(version, chunks, sparse.vstack([kept, new], format="csr"), list(vocab))

    # ---- BM25 ------------------------------------------------------------------------------

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every chunk for `query` (None when no query term is in the index)."""
        terms = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not terms or not self.chunks:
            return None
        return np.asarray(self.weights[:, terms].sum(axis=1)).ravel()

    def allowed(self, sources: Sequence[str] | None) -> np.ndarray | None:
        """Boolean row mask for a source filter (None = every row)."""
        if not sources:
            return None
        wanted = {s for s in sources}
        ids = [i for i, s in enumerate(self.sources) if s in wanted]
        return np.isin(self.source_ids, np.asarray(ids, dtype=np.int32))

    def top(self, scores: np.ndarray | None, top_k: int, mask: np.ndarray | None = None) -> list[tuple[Chunk, float]]:
        """The `top_k` rows with a positive score, as (chunk, score), best first."""
        if scores is None:
            return []
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(top_k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((best, -scores[best]))]  # score, then row: deterministic
        return [(self.chunks[i], float(scores[i])) for i in best]

    def search(self, query: str, top_k: int, sources: Sequence[str] | None = None) -> list[tuple[Chunk, float]]:
        """The `top_k` best chunks for `query` as (chunk, bm25 score), best first."""
        return self.top(self.scores(query), top_k, self.allowed(sources))

    # ---- titles ----------------------------------------------------------------------------

    def named_documents(self, text: str, exclude: Iterable[int] = ()) -> list[int]:
        """Ids of the documents whose title `text` mentions, in order of first mention.

        Only maximal mentions count: in "... the Toy Manchester Terrier ..." a document titled
        "Manchester Terrier" is not named when one titled "Toy Manchester Terrier" exists.
        """
        if not self.titles:
            return []
        words = _TOKEN.findall(text.lower())
        spans: list[tuple[int, int, tuple[int, ...]]] = []
        for i, w in enumerate(words):
            for title, ids in self.titles.get(w, ()):
                n = len(title)
                if tuple(words[i : i + n]) == title:
                    spans.append((i, i + n, ids))
        if not spans:
            return []
        skip = set(exclude)
        out: list[int] = []
        for s, e, ids in spans:
            if any(s2 <= s and e <= e2 and e2 - s2 > e - s for s2, e2, _ in spans):
                continue  # inside a longer mention
            for d in ids:
                if d not in skip and d not in out:
                    out.append(d)
        return out

    def best_row(self, document: int, scores: np.ndarray | None) -> int:
        """The document's chunk row with the highest score (its first chunk on a tie)."""
        start, end = int(self.starts[document]), int(self.starts[document + 1])
        if scores is None or end - start == 1:
            return start
        return start + int(np.argmax(scores[start:end]))

    def row(self, chunk_id: str) -> int | None:
        """The matrix row of a chunk id (None if the chunk is not in this index)."""
        row_of = self.__dict__.get("_row_of")
        if row_of is None:
            row_of = self.__dict__["_row_of"] = {c.id: i for i, c in enumerate(self.chunks)}
        return row_of.get(chunk_id)

    def document_of(self, row: int) -> int:
        """The document id of a chunk row."""
        return int(self.source_ids[row])

    def next_chunk(self, chunk: Chunk) -> Chunk | None:
        """The chunk after `chunk` in its document (None: the last one, or not in this index)."""
        row = self.row(chunk.id)
        if row is None or row + 1 >= len(self.chunks) or self.source_ids[row + 1] != self.source_ids[row]:
            return None
        return self.chunks[row + 1]


def _count_terms(chunks: Sequence[Chunk], vocab: dict[str, int]) -> sparse.csr_matrix:
    """Per chunk, how often each term occurs in its title and text: a (chunks x vocab) matrix.

    Terms not in `vocab` are added to it (the next free column).
    """
    indptr, indices, data = [0], [], []
    for c in chunks:
        counts = Counter(tokenize(f"{c.title} {c.text}"))
        indices += [vocab.setdefault(t, len(vocab)) for t in counts]
        data += counts.values()
        indptr.append(len(indices))
    return sparse.csr_matrix(
        (np.asarray(data, dtype=np.int32), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
        shape=(len(chunks), len(vocab)),
    )


def _assemble(version: str, chunks: list[Chunk], counts: sparse.csr_matrix, terms: list[str]) -> LexicalIndex:
    """The index over `chunks` from their term counts (column j counts `terms[j]`).

    Rows are sorted by (source, start, id), unused terms dropped and the rest sorted: the order
    decides ties between equal scores and must not depend on how the chunks came in.
    """
    n = len(chunks)
    keys = [(c.source, c.start, c.id) for c in chunks]
    order = sorted(range(n), key=keys.__getitem__)
    chunks = [chunks[i] for i in order]
    if n:
        counts = counts[order]
    df = np.bincount(counts.indices, minlength=len(terms))
    used = sorted(np.flatnonzero(df).tolist(), key=terms.__getitem__)
    column = np.zeros(len(terms), dtype=np.int32)
    column[used] = np.arange(len(used), dtype=np.int32)
    counts = sparse.csr_matrix((counts.data, column[counts.indices], counts.indptr), shape=(n, len(used)))
    counts.sort_indices()
    vocab = {terms[j]: k for k, j in enumerate(used)}
    df = df[used]

    source_index: dict[str, int] = {}
    source_ids = np.fromiter(
        (source_index.setdefault(c.source, len(source_index)) for c in chunks), dtype=np.int32, count=n
    )
    sources = list(source_index)
    starts = np.searchsorted(source_ids, np.arange(len(sources) + 1))
    if n == 0 or not vocab:
        return LexicalIndex(
            version, chunks, vocab, sparse.csc_matrix((n, max(1, len(vocab)))), counts, source_ids, sources, starts, {}
        )
    lengths = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    rows = np.repeat(np.arange(n), np.diff(counts.indptr))
    tf = counts.data.astype(np.float64)
    idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
    avgdl = lengths.mean() or 1.0
    norm = _K1 * (1.0 - _B + _B * lengths[rows] / avgdl)
    w = idf[counts.indices] * tf * (_K1 + 1.0) / (tf + norm)
    weights = sparse.csr_matrix((w, counts.indices, counts.indptr), shape=counts.shape).tocsc()
    title_of = {d: chunks[row].title for d, row in enumerate(starts[:-1].tolist())}  # its first chunk
    titles = _title_table(title_of, vocab, df, n)
    return LexicalIndex(version, chunks, vocab, weights, counts, source_ids, sources, starts, titles)


def _title_table(
    title_of: dict[int, str], vocab: dict[str, int], df: np.ndarray, n_chunks: int
) -> dict[str, list[tuple[tuple[str, ...], tuple[int, ...]]]]:
    by_title: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for doc, title in title_of.items():
        words = title_words(title)
        if words and len(words) <= MAX_TITLE_WORDS and not all(w in STOPWORDS for w in words):
            by_title[words].append(doc)
    rare = max(3, int(_RARE_SHARE * n_chunks))
    table: dict[str, list[tuple[tuple[str, ...], tuple[int, ...]]]] = defaultdict(list)
    for words, docs in by_title.items():
        if len(docs) > MAX_DOCUMENTS_PER_TITLE:
            continue
        if len(words) == 1:
            terms = tokenize(words[0])
            if not terms or (terms[0] in vocab and df[vocab[terms[0]]] > rare):
                continue
        table[words[0]].append((words, tuple(docs)))
    return dict(table)


_cache: dict[str, LexicalIndex] = {}
_lock = threading.Lock()


def _index_path(store: Store) -> str:
    return str(local_state_dir(store.settings) / "bm25.pkl")


def refresh_lexical_index(store: Store) -> LexicalIndex:
    """Return this store's BM25 index, updating it only if the store version moved.

    The index this process holds is the one updated; without one, the saved index (whatever
    version it is at), and without a usable saved index a new one is built.
    """
    version = str(store.state().get("version", ""))
    path = _index_path(store)
    with _lock:
        index = _cache.get(path)
        if index is not None and index.version == version:
            return index
        if index is None or _saved_version(path) == f"{_FORMAT}:{version}":
            saved = _load(path)  # another process of this client may have updated it already
            if saved is not None and saved.version == version:
                _cache[path] = saved
                return saved
            if index is None:
                index = saved
        index = _update(store, index, version)
        _save(path, index)
        _cache[path] = index
        return index


def _update(store: Store, index: LexicalIndex | None, version: str) -> LexicalIndex:
    """`index` brought in step with the store's chunks, or a new build when that is as cheap."""
    if index is None:
        return LexicalIndex.build(store.iter_chunks(), version)
    ids = store.all_chunk_ids()
    stored = set(ids)
    keep = np.fromiter((c.id in stored for c in index.chunks), dtype=bool, count=len(index.chunks))
    known = {c.id for c in index.chunks}
    added = [i for i in ids if i not in known]
    removed = len(index.chunks) - int(keep.sum())
    if not added and not removed:
        return replace(index, version=version)
    if len(added) + removed > MAX_CHANGED_SHARE * len(ids):
        return LexicalIndex.build(store.iter_chunks(), version)
    return index.updated(keep, store.get_chunks(added), version)


def _saved_version(path: str) -> str | None:
    """The saved index's "format:version", from its sidecar (None without one)."""
    try:
        with open(path + ".version", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def _load(path: str) -> LexicalIndex | None:
    """The saved index, at whatever version (None if missing, damaged or of another format)."""
    try:
        with open(path, "rb") as f:
            fmt, index = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError, TypeError, ImportError):
        return None  # rebuilt from the store
    return index if fmt == _FORMAT and isinstance(index, LexicalIndex) else None


def ensure_lexical_index(store: Store) -> None:
    """Make sure this client's saved BM25 index is at the store's version.

    Unlike `refresh_lexical_index` it does not load a saved index that is already current
    (a small sidecar file records its version), so a no-op sync stays fast at any size.
    """
    version = str(store.state().get("version", ""))
    path = _index_path(store)
    with _lock:
        index = _cache.get(path)
        if index is not None and index.version == version:
            return
    if _saved_version(path) == f"{_FORMAT}:{version}" and os.path.exists(path):
        return
    refresh_lexical_index(store)


def _save(path: str, index: LexicalIndex) -> None:
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump((_FORMAT, index), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)  # atomic: readers never see half a file
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"{_FORMAT}:{index.version}")
    os.replace(tmp, path + ".version")


def idf_weight(term: str, index: LexicalIndex) -> float:
    """The idf of a term in the index (0 for unknown terms); used to weight query terms."""
    j = index.vocab.get(term)
    if j is None:
        return 0.0
    df = index.weights.indptr[j + 1] - index.weights.indptr[j]
    n = len(index.chunks)
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))
