"""Retrieval around the models: fusion, dedupe, source filter, titles, one hop, and the BM25
index kept in step with the store version. Real local Chroma, the hash embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.retrieval import lexical
from assistant.retrieval.embedder import HashEmbedder
from assistant.retrieval.lexical import LexicalIndex, ensure_lexical_index, refresh_lexical_index, title_words
from assistant.retrieval.retrieve import fuse, retrieve
from assistant.retrieval.store import Store, local_state_dir
from assistant.settings import Settings
from assistant.types import Chunk, chunk_id


def make_chunk(source: str, text: str, *, title: str = "", start: int = 0, ordinal: int = 0) -> Chunk:
    end = start + len(text)
    return Chunk(
        id=chunk_id(source, start, end, text),
        source=source,
        text=text,
        start=start,
        end=end,
        line_start=1,
        line_end=1,
        ordinal=ordinal,
        title=title,
    )


def c(name: str) -> Chunk:
    return make_chunk(name, f"text of {name}")


# ---- fusion -------------------------------------------------------------------------------


def test_fuse_sums_reciprocal_ranks_with_weights() -> None:
    a, b, x = c("a"), c("b"), c("x")
    fused = dict((ch.source, s) for ch, s in fuse([[a, b], [b, x]], [1.0, 2.0], k=60))
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 2 / 61)
    assert fused["x"] == pytest.approx(2 / 62)
    assert [ch.source for ch, _ in fuse([[a, b], [b, x]], [1.0, 2.0])] == ["b", "x", "a"]


def test_fuse_breaks_ties_by_id_and_handles_empty_rankings() -> None:
    a, b = c("a"), c("b")
    first = [ch.id for ch, _ in fuse([[a], [b]])]
    assert first == sorted([a.id, b.id])  # equal scores: deterministic order
    assert fuse([[], []]) == []


# ---- a small real store --------------------------------------------------------------------

CORPUS = {
    "kiss.txt": (
        "Kiss and Tell (1945 film)",
        "Kiss and Tell is a 1945 American comedy film starring then 17-year-old Shirley Temple as Corliss Archer.",
    ),
    "temple.txt": (
        "Shirley Temple",
        "Shirley Temple Black was an American actress who later served as Chief of Protocol "
        "of the United States and as an ambassador.",
    ),
    "archer.txt": (
        "Meet Corliss Archer",
        "Meet Corliss Archer was a radio comedy program about the teenager Corliss Archer.",
    ),
    "terrier.txt": (
        "Manchester Terrier",
        "The Manchester Terrier is a breed of dog of the smooth-haired terrier type.",
    ),
    "toy.txt": (
        "Toy Manchester Terrier",
        "The Toy Manchester Terrier is a small breed of dog, a toy variety of terrier.",
    ),
    "collie.txt": ("Scotch Collie", "The Scotch Collie is a landrace breed of dog whose ancestors include setters."),
    "bread.txt": ("Sourdough", "Sourdough bread is made by fermenting dough with wild yeast and lactobacilli."),
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    settings = Settings(data_dir=tmp_path / "data", backend="extractive")
    embedder = HashEmbedder(64)
    st = Store.open(settings, embedder, create=True)
    chunks = [make_chunk(src, f"{title}\n{text}", title=title) for src, (title, text) in CORPUS.items()]
    st.upsert_chunks(chunks, embedder.embed([ch.text for ch in chunks]))
    st.bump_version()
    lexical._cache.clear()
    return st


def sources(hits) -> list[str]:
    return [h.chunk.source for h in hits]


def test_source_filter_applies_to_every_ranking(store: Store) -> None:
    hits = retrieve(
        store, "Which dog, the Manchester Terrier or the Scotch Collie?", top_k=5, sources=["collie.txt", "bread.txt"]
    )
    assert hits and set(sources(hits)) <= {"collie.txt", "bread.txt"}
    assert sources(hits)[0] == "collie.txt"
    # a linked document outside the filter is not followed either
    hits = retrieve(store, "the film Kiss and Tell starring Corliss Archer", top_k=5, sources=["kiss.txt"])
    assert sources(hits) == ["kiss.txt"]


def test_overlapping_chunks_of_one_source_are_deduplicated(store: Store) -> None:
    text = "Sourdough bread rises slowly. Sourdough needs a starter of wild yeast."
    whole = make_chunk("bread2.txt", text, title="Bread notes")
    inner = make_chunk("bread2.txt", text[:40], title="Bread notes", start=0, ordinal=1)
    store.upsert_chunks([whole, inner], store.embedder.embed([whole.text, inner.text]))
    store.bump_version()
    hits = retrieve(store, "sourdough bread wild yeast starter", top_k=6)
    kept = [h.chunk.id for h in hits if h.chunk.source == "bread2.txt"]
    assert len(kept) == 1


def test_scores_are_best_first_and_hits_unique(store: Store) -> None:
    hits = retrieve(
        store,
        "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?",
        top_k=6,
    )
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert len({h.chunk.id for h in hits}) == len(hits)


# ---- titles and the hop ----------------------------------------------------------------------


def test_title_words_drop_disambiguation() -> None:
    assert title_words("Kiss and Tell (1945 film)") == ("kiss", "and", "tell")
    assert title_words("2014 S/S") == ("2014", "s", "s")


def test_named_documents_prefers_the_longest_mention(store: Store) -> None:
    index = refresh_lexical_index(store)
    named = [index.sources[d] for d in index.named_documents("Is the Toy Manchester Terrier small?")]
    assert named == ["toy.txt"]
    named = [index.sources[d] for d in index.named_documents("the Manchester Terrier or the Scotch Collie")]
    assert named == ["terrier.txt", "collie.txt"]


def test_generic_titles_name_nothing() -> None:
    chunks = [make_chunk(f"{i}.md", f"notes {i} about topic {i}", title="Introduction") for i in range(5)]
    chunks += [make_chunk("x.md", "the word notes appears everywhere", title="Notes")]
    chunks += [make_chunk(f"n{i}.md", f"more notes {i}", title=f"Other {i}") for i in range(3000)]
    index = LexicalIndex.build(chunks)
    assert index.named_documents("What does the introduction say?") == []  # shared by 5 documents
    assert index.named_documents("Where are the notes?") == []  # a common one-word title


def test_question_naming_two_documents_gets_both_on_top(store: Store) -> None:
    hits = retrieve(
        store, "Which dog's ancestors include setters: the Manchester Terrier or the Scotch Collie?", top_k=3
    )
    assert set(sources(hits)[:2]) == {"terrier.txt", "collie.txt"}


def test_one_hop_brings_the_passage_the_top_hit_leads_to(store: Store) -> None:
    question = "What government position was held by the actress of the 1945 film Kiss and Tell?"
    hits = retrieve(store, question, top_k=3)
    assert sources(hits)[:2] == ["kiss.txt", "temple.txt"]
    assert hits[1].score == hits[0].score  # placed after its parent, keeping best-first order


def test_no_hop_without_mentions(store: Store) -> None:
    hits = retrieve(store, "wild yeast fermenting dough", top_k=2)
    assert sources(hits)[0] == "bread.txt"


# ---- the BM25 index follows the store version ----------------------------------------------


def test_lexical_index_is_updated_only_when_the_version_changes(store: Store, monkeypatch) -> None:
    builds = []
    real_build = LexicalIndex.build.__func__

    def counting_build(cls, chunks, version=""):
        builds.append(version)
        return real_build(cls, chunks, version)

    monkeypatch.setattr(LexicalIndex, "build", classmethod(counting_build))
    first = refresh_lexical_index(store)
    assert refresh_lexical_index(store) is first and len(builds) == 1

    lexical._cache.clear()  # a new process: the saved index is loaded, not rebuilt
    again = refresh_lexical_index(store)
    assert again.version == first.version and len(builds) == 1

    new = make_chunk("new.txt", "Pyongyang shipped artillery shells by rail.", title="Shells")
    store.upsert_chunks([new], store.embedder.embed([new.text]))
    assert refresh_lexical_index(store).version == first.version  # not bumped: not updated
    version = store.bump_version()
    updated = refresh_lexical_index(store)
    assert updated.version == version and len(builds) == 1  # updated, not rebuilt
    assert updated.search("artillery shells", 1)[0][0].source == "new.txt"


def test_ensure_does_not_load_a_current_index(store: Store, monkeypatch) -> None:
    refresh_lexical_index(store)
    lexical._cache.clear()
    monkeypatch.setattr(lexical.pickle, "load", lambda f: pytest.fail("loaded a current index"))
    ensure_lexical_index(store)  # the sidecar says it is current
    store.bump_version()
    monkeypatch.undo()
    ensure_lexical_index(store)  # stale: rebuilt and saved
    saved = (local_state_dir(store.settings) / "bm25.pkl.version").read_text()
    assert saved.endswith(store.state()["version"])


def test_damaged_saved_index_is_rebuilt(store: Store) -> None:
    refresh_lexical_index(store)
    lexical._cache.clear()
    (local_state_dir(store.settings) / "bm25.pkl").write_bytes(b"not a pickle")
    assert refresh_lexical_index(store).search("sourdough", 1)[0][0].source == "bread.txt"


def test_empty_store_and_unknown_words() -> None:
    index = LexicalIndex.build([])
    assert index.search("anything", 3) == [] and index.named_documents("anything") == []
    index = LexicalIndex.build([c("a")])
    assert index.search("zzz qqq", 3) == []


def test_a_stale_index_in_memory_loads_what_another_process_saved(store: Store, monkeypatch) -> None:
    refresh_lexical_index(store)  # this process holds the index at the current version
    version = store.bump_version()  # an ingest elsewhere ...
    lexical._save(lexical._index_path(store), LexicalIndex.build(store.iter_chunks(), version))  # ... a warm-up
    monkeypatch.setattr(LexicalIndex, "build", classmethod(lambda cls, *a, **k: pytest.fail("rebuilt")))
    assert refresh_lexical_index(store).version == version


class _Counting(HashEmbedder):
    """A hash embedder that records what it was asked to embed."""

    def __init__(self, dimension: int = 64) -> None:
        super().__init__(dimension)
        self.asked: list[str] = []

    def embed(self, texts):
        self.asked.extend(texts)
        return super().embed(texts)


def test_vector_cache_embeds_only_texts_it_has_not_seen() -> None:
    from assistant.retrieval.embedder import VectorCache

    cache, emb = VectorCache(), _Counting()
    first = cache.embed(emb, ["Seoul sent shells.", "Kyiv asked for air defence."])
    again = cache.embed(emb, ["Kyiv asked for air defence.", "Pyongyang sent troops.", "Pyongyang sent troops."])
    assert emb.asked == ["Seoul sent shells.", "Kyiv asked for air defence.", "Pyongyang sent troops."]
    assert again.shape == (3, 64) and (again[0] == first[1]).all() and (again[1] == again[2]).all()
    direct = HashEmbedder().embed(["Pyongyang sent troops."])[0]
    assert abs(float(again[1] @ again[1]) - 1.0) < 1e-5 and max(abs(a - b) for a, b in zip(again[1], direct)) < 1e-6
    assert cache.embed(emb, []).shape == (0, 64)


def test_vector_cache_keeps_embedders_apart_and_drops_the_least_recent() -> None:
    from assistant.retrieval.embedder import VectorCache

    cache = VectorCache(capacity=2)
    small, large = _Counting(16), _Counting(64)
    assert cache.embed(small, ["a b"]).shape == (1, 16)
    assert cache.embed(large, ["a b"]).shape == (1, 64)  # same text, another embedder: embedded again
    assert large.asked == ["a b"]
    cache.embed(small, ["a b"])  # now the most recent; large's "a b" is the oldest
    cache.embed(small, ["c d"])  # over capacity: large's "a b" goes
    cache.embed(large, ["a b"])
    cache.embed(small, ["a b"])
    assert large.asked == ["a b", "a b"] and small.asked == ["a b", "c d", "a b"]
