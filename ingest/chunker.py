"""Split a document into retrievable chunks of whole sentences.

Chunks are packed from the sentences of one content block at a time (see
`ingest.clean.content_blocks`), so a chunk never spans removed boilerplate. Each chunk is an
exact slice of the document text: `doc.text[c.start:c.end] == c.text`, which is what lets a
citation point at the very characters it quotes. Consecutive chunks of a block share a few
whole sentences so that a fact cut at a chunk edge is still retrievable whole. A slide deck's
chunks never cross a slide (`Document.separate_pages`), so the slide a citation names is the
one its sentence is on.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from assistant.generation.tokens import count_tokens
from assistant.grounding.sentences import sentence_spans
from assistant.types import Chunk, chunk_id
from ingest.clean import content_blocks
from ingest.loaders import Document

__all__ = ["chunk_document"]


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of an over-long sentence) and its token count."""

    start: int
    end: int
    tokens: int


def chunk_document(
    doc: Document,
    source: str,
    *,
    chunk_tokens: int = 160,
    overlap_tokens: int = 32,
) -> list[Chunk]:
    """Chunk `doc` into passages of whole sentences.

    Args:
        doc: The loaded document.
        source: Its path relative to the ingested root, with '/' separators.
        chunk_tokens: Maximum cl100k tokens per chunk (never exceeded).
        overlap_tokens: Tokens of whole trailing sentences that a chunk shares with the next
            one (at most this many; when the previous chunk has several sentences and its last
            one alone is longer, that one sentence is shared anyway if it fits).

    Returns:
        The chunks in document order, with `ordinal` 0..n-1.

    Raises:
        ValueError: `chunk_tokens` < 1, or `overlap_tokens` negative or not smaller than it.
    """
    if chunk_tokens < 1:
        raise ValueError("chunk_tokens must be at least 1")
    if not 0 <= overlap_tokens < chunk_tokens:
        raise ValueError("overlap_tokens must be at least 0 and smaller than chunk_tokens")
    text = doc.text
    spans: list[tuple[int, int]] = []
    for block_start, block_end in content_blocks(text):
        for start, end in _page_pieces(doc, block_start, block_end):
            units = _units(text, start, end, chunk_tokens)
            spans.extend(_pack(text, units, chunk_tokens, overlap_tokens))

    chunks = []
    for ordinal, (start, end) in enumerate(spans):
        passage = text[start:end]
        chunks.append(
            Chunk(
                id=chunk_id(source, start, end, passage),
                source=source,
                text=passage,
                start=start,
                end=end,
                line_start=doc.line_at(start),
                line_end=doc.line_at(end - 1),
                ordinal=ordinal,
                title=doc.title,
                page=doc.page_at(start),
                page_starts=tuple(p for p in doc.pages if start < p < end),
            )
        )
    return chunks


def _page_pieces(doc: Document, start: int, end: int) -> list[tuple[int, int]]:
    """`[start, end)` cut where a page starts when the document's pages are separate units
    (slides), so that a chunk, and every citation into it, is on one page; else uncut."""
    if not doc.separate_pages:
        return [(start, end)]
    cuts = [start]
    i = bisect.bisect_right(doc.pages, start)
    while i < len(doc.pages) and doc.pages[i] < end:
        cuts.append(doc.pages[i])
        i += 1
    cuts.append(end)
    return list(itertools.pairwise(cuts))


def _units(text: str, start: int, end: int, budget: int) -> list[_Unit]:
    """The sentences of `text[start:end]`, over-long ones split into pieces within `budget`."""
    units = []
    for s, e in sentence_spans(text, start, end):
        tokens = count_tokens(text[s:e])
        if tokens <= budget:
            units.append(_Unit(s, e, tokens))
        else:
            units.extend(_split_long(text, s, e, budget))
    return units


def _split_long(text: str, start: int, end: int, budget: int) -> list[_Unit]:
    """Split one over-long sentence at whitespace (or, for a giant word, anywhere)."""
    pieces: list[_Unit] = []
    words = _word_spans(text, start, end)
    i = 0
    while i < len(words):
        if count_tokens(text[words[i][0] : words[i][1]]) > budget:
            # A single "word" over the budget (a URL, base64...): cut it by characters.
            pieces.extend(_split_chars(text, words[i][0], words[i][1], budget))
            i += 1
            continue
        # Binary search for the most words that fit. Every word is at least one token, so
        # no more than `budget` words can fit, which bounds the slices we count.
        lo, hi = i, min(len(words) - 1, i + budget - 1)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(text[words[i][0] : words[mid][1]]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        piece = text[words[i][0] : words[lo][1]]
        pieces.append(_Unit(words[i][0], words[lo][1], count_tokens(piece)))
        i = lo + 1
    return pieces


def _word_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    i = start
    while i < end:
        while i < end and text[i].isspace():
            i += 1
        j = i
        while j < end and not text[j].isspace():
            j += 1
        if j > i:
            spans.append((i, j))
        i = j
    return spans


def _split_chars(text: str, start: int, end: int, budget: int) -> list[_Unit]:
    pieces = []
    while start < end:
        # Longest prefix within budget, by binary search (token counts grow with length).
        lo, hi = start + 1, end
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(text[start:mid]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(_Unit(start, lo, count_tokens(text[start:lo])))
        start = lo
    return pieces


def _pack(text: str, units: list[_Unit], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing of consecutive units into spans of at most `budget` tokens."""
    spans: list[tuple[int, int]] = []
    n = len(units)
    i = 0
    j = _extend(text, units, i, budget) if n else 0  # units[i:j] form the chunk
    while i < n:
        spans.append((units[i].start, units[j - 1].end))
        if j >= n:
            break
        k = _overlap_start(text, units, i, j, overlap)
        next_j = _extend(text, units, k, budget)
        if next_j <= j:  # the overlap would leave no room for new text
            k, next_j = j, _extend(text, units, j, budget)
        i, j = k, next_j
    return spans


def _extend(text: str, units: list[_Unit], i: int, budget: int) -> int:
    """End index j > i such that units[i:j] is the longest run fitting `budget` tokens."""
    j = i + 1
    # The sum of unit counts (plus one per gap) is a close estimate that avoids counting
    # hopeless candidates; the exact count of the slice decides, because BPE may merge
    # across a sentence boundary either way.
    estimate = units[i].tokens
    while j < len(units):
        estimate += units[j].tokens + 1
        if estimate > budget + 8:
            break
        if count_tokens(text[units[i].start : units[j].end]) > budget:
            break
        j += 1
    return j


def _overlap_start(text: str, units: list[_Unit], i: int, j: int, overlap: int) -> int:
    """Start index of the chunk after units[i:j]: j moved back over shared trailing units."""
    if overlap <= 0 or j - i < 2:
        return j
    k = j
    # Whole trailing sentences totalling at most `overlap` tokens, never the whole chunk.
    while k - 1 > i and count_tokens(text[units[k - 1].start : units[j - 1].end]) <= overlap:
        k -= 1
    # At least one sentence of a multi-sentence chunk (the caller drops it if it leaves no
    # room for new text).
    return min(k, j - 1)
