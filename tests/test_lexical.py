"""The BM25 index is updated, not rebuilt, when the store changes: only added chunks are fetched
and tokenized, and the result is exactly the index a full build over the same chunks gives.
Real local Chroma and real ingests, the hash embedder."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from assistant.retrieval import lexical
from assistant.retrieval.lexical import LexicalIndex, refresh_lexical_index
from assistant.retrieval.store import Store, local_state_dir
from assistant.settings import Settings
from assistant.types import Chunk, chunk_id
from ingest import ingest

QUERIES = [
    "How many North Korean troops were sent to Russia?",
    "South Korea weapons for Ukraine, artillery shells",
    "What did the president of South Korea say?",
    "sourdough bread wild yeast",
    "crates of rice at the depot",
    "Zanzibar",
    "the of and",  # stopwords only: no score at all
]


def make_chunk(source: str, text: str, *, title: str = "") -> Chunk:
    return Chunk(
        id=chunk_id(source, 0, len(text), text),
        source=source,
        text=text,
        start=0,
        end=len(text),
        line_start=1,
        line_end=1,
        ordinal=0,
        title=title,
    )


def full_build(store: Store) -> LexicalIndex:
    """What the old code did after every change: every chunk fetched and tokenized."""
    return LexicalIndex.build(store.iter_chunks(), str(store.state()["version"]))


def assert_same_index(got: LexicalIndex, want: LexicalIndex) -> None:
    """Same rows, terms, weights, documents and titles; same scores and results for QUERIES."""
    assert got.version == want.version
    assert [c.id for c in got.chunks] == [c.id for c in want.chunks]
    assert list(got.vocab.items()) == list(want.vocab.items())
    assert got.weights.shape == want.weights.shape and (got.weights != want.weights).nnz == 0
    assert got.sources == want.sources and np.array_equal(got.source_ids, want.source_ids)
    assert np.array_equal(got.starts, want.starts)
    assert got.titles == want.titles
    for q in QUERIES:
        a, b = got.scores(q), want.scores(q)
        assert (a is None) == (b is None), q
        if a is not None:
            assert np.allclose(a, b, rtol=0.0, atol=0.0), q  # exactly equal
        assert [(c.id, s) for c, s in got.search(q, 8)] == [(c.id, s) for c, s in want.search(q, 8)], q


class Spy:
    """Counts full builds, chunks fetched by id and chunks tokenized."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.builds = 0
        self.fetched: list[str] = []
        self.tokenized = 0


@pytest.fixture
def spy(monkeypatch) -> Spy:
    spy = Spy()
    real_build = LexicalIndex.build.__func__
    real_get = Store.get_chunks
    real_count = lexical._count_terms

    def build(cls, chunks, version=""):
        spy.builds += 1
        return real_build(cls, chunks, version)

    def get_chunks(self, ids):
        spy.fetched += list(ids)
        return real_get(self, ids)

    def count_terms(chunks, vocab):
        spy.tokenized += len(chunks)
        return real_count(chunks, vocab)

    monkeypatch.setattr(LexicalIndex, "build", classmethod(build))
    monkeypatch.setattr(Store, "get_chunks", get_chunks)
    monkeypatch.setattr(lexical, "_count_terms", count_terms)
    return spy


@pytest.fixture
def synced(settings: Settings, hash_embedder, seeds_copy: Path, spy: Spy) -> Store:
    """The seed articles ingested (which builds the index); the spy reset afterwards."""
    lexical._cache.clear()
    ingest([seeds_copy], settings=settings, embedder=hash_embedder)
    assert spy.builds == 1
    spy.reset()
    return Store.open(settings, hash_embedder)


def sync(store: Store, folder: Path) -> LexicalIndex:
    """Ingest `folder` (which brings the index up to date) and return the index."""
    ingest([folder], settings=store.settings, embedder=store.embedder)
    return refresh_lexical_index(store)


# ---- updates equal full builds ---------------------------------------------------------------


def test_adding_files_fetches_and_tokenizes_only_their_chunks(synced: Store, seeds_copy: Path, spy: Spy) -> None:
    before = refresh_lexical_index(synced)
    (seeds_copy / "bread.txt").write_text(
        "Sourdough\n\nSourdough bread is made by fermenting dough with wild yeast and lactobacilli.\n"
    )
    (seeds_copy / "depot.txt").write_text("Depot\n\nThe depot in town stores 70 crates of rice.\n")
    index = sync(synced, seeds_copy)
    new_ids = synced.chunk_ids("bread.txt") | synced.chunk_ids("depot.txt")
    assert spy.builds == 0
    assert sorted(spy.fetched) == sorted(new_ids) and spy.tokenized == len(new_ids) == 2
    assert len(index.chunks) == len(before.chunks) + 2
    assert index.search("sourdough wild yeast", 1)[0][0].source == "bread.txt"
    assert_same_index(index, full_build(synced))


def test_removing_a_file_drops_its_rows(synced: Store, seeds_copy: Path, spy: Spy) -> None:
    before = refresh_lexical_index(synced)
    gone = sorted(p.name for p in seeds_copy.iterdir())[1]
    n_gone = len(synced.chunk_ids(gone))
    (seeds_copy / gone).unlink()
    index = sync(synced, seeds_copy)
    assert spy.builds == 0 and spy.fetched == [] and spy.tokenized == 0
    assert gone in before.sources and gone not in index.sources
    assert len(index.chunks) == len(before.chunks) - n_gone
    assert_same_index(index, full_build(synced))


def test_modifying_a_file_fetches_only_its_new_chunks(synced: Store, seeds_copy: Path, spy: Spy) -> None:
    path = sorted(seeds_copy.iterdir())[4]
    old_ids = synced.chunk_ids(path.name)
    text = path.read_text(encoding="utf-8")
    middle = text.index(". ", len(text) // 2) + 2
    path.write_text(text[:middle] + "The envoy flew on to Zanzibar. " + text[middle:], encoding="utf-8")
    index = sync(synced, seeds_copy)
    new_ids = synced.chunk_ids(path.name)
    assert spy.builds == 0
    assert sorted(spy.fetched) == sorted(new_ids - old_ids) and spy.tokenized == len(new_ids - old_ids)
    assert 0 < len(spy.fetched) < len(new_ids)  # the chunks before the edit were kept
    assert not any(c.id in old_ids - new_ids for c in index.chunks)
    assert index.search("Zanzibar", 1)[0][0].source == path.name
    assert_same_index(index, full_build(synced))


def test_the_title_table_is_recomputed(settings: Settings, hash_embedder, spy: Spy) -> None:
    store = Store.open(settings, hash_embedder, create=True)

    def write(*chunks: Chunk) -> None:
        store.upsert_chunks(list(chunks), hash_embedder.embed([c.text for c in chunks]))
        store.bump_version()

    bakes = [make_chunk(f"bake{i}.txt", f"Sourdough\nLoaf {i} rose overnight.", title="Sourdough") for i in range(3)]
    notes = [
        make_chunk(f"note{i}.txt", f"Note {i}\nThe depot stores {i} crates of rice.", title=f"Note {i}")
        for i in range(6)
    ]
    write(*bakes, *notes)
    lexical._cache.clear()
    index = refresh_lexical_index(store)
    spy.reset()

    def named(index: LexicalIndex) -> list[str]:
        return [index.sources[d] for d in index.named_documents("a slice of sourdough")]

    assert named(index) == ["bake0.txt", "bake1.txt", "bake2.txt"]
    fourth = make_chunk("bake3.txt", "Sourdough\nLoaf 3 fell flat.", title="Sourdough")
    write(fourth)  # a title shared by four documents no longer names any
    index = refresh_lexical_index(store)
    assert named(index) == [] and spy.fetched == [fourth.id]
    assert_same_index(index, full_build(store))
    store.delete_chunks([fourth.id])
    store.bump_version()
    index = refresh_lexical_index(store)
    assert named(index) == ["bake0.txt", "bake1.txt", "bake2.txt"]
    assert_same_index(index, full_build(store))
    assert spy.builds == 2  # the two reference builds above, no other


def test_the_saved_index_of_another_version_is_updated(synced: Store, spy: Spy, monkeypatch) -> None:
    """A new process (nothing in memory) updates the saved index; no chunk is read but the new ones."""
    refresh_lexical_index(synced)
    added = [
        make_chunk("extra.txt", "Pyongyang shipped artillery shells by rail.", title="Shells"),
        make_chunk("extra2.txt", "Seoul weighed sending howitzers to Kyiv.", title="Howitzers"),
    ]
    synced.upsert_chunks(added, synced.embedder.embed([c.text for c in added]))
    synced.bump_version()
    lexical._cache.clear()
    monkeypatch.setattr(Store, "iter_chunks", lambda self: pytest.fail("read every chunk"))
    index = refresh_lexical_index(synced)
    assert spy.builds == 0 and sorted(spy.fetched) == sorted(c.id for c in added) and spy.tokenized == 2
    assert index.search("howitzers", 1)[0][0].source == "extra2.txt"

    version = synced.bump_version()  # a version change with the same chunks: nothing is read
    spy.reset()
    assert refresh_lexical_index(synced).version == version
    assert spy.fetched == [] and spy.tokenized == 0 and spy.builds == 0
    lexical._cache.clear()  # the saved index is at the new version too
    assert refresh_lexical_index(synced).version == version and spy.builds == 0
    monkeypatch.undo()
    assert_same_index(refresh_lexical_index(synced), full_build(synced))


# ---- full builds when an update cannot help ------------------------------------------------------


@pytest.mark.parametrize("damage", ["missing", "garbage", "older format", "not an index", "older layout"])
def test_no_usable_saved_index_means_a_full_build(synced: Store, spy: Spy, damage: str) -> None:
    index = refresh_lexical_index(synced)
    added = make_chunk("extra.txt", "Pyongyang shipped artillery shells by rail.", title="Shells")
    synced.upsert_chunks([added], synced.embedder.embed([added.text]))
    synced.bump_version()
    lexical._cache.clear()
    path = local_state_dir(synced.settings) / "bm25.pkl"
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"not a pickle")
    elif damage == "older format":
        path.write_bytes(pickle.dumps((lexical._FORMAT - 1, index)))
    elif damage == "older layout":  # pickled when the class lived in a module since moved
        path.write_bytes(b"cassistant.lexical\nLexicalIndex\n.")
    else:
        path.write_bytes(pickle.dumps((lexical._FORMAT, {"version": index.version})))
    rebuilt = refresh_lexical_index(synced)
    assert spy.builds == 1 and spy.fetched == []
    assert rebuilt.search("artillery shells", 1)[0][0].source == "extra.txt"
    assert_same_index(rebuilt, full_build(synced))


def test_changing_most_chunks_means_a_full_build(synced: Store, spy: Spy) -> None:
    n = len(refresh_lexical_index(synced).chunks)
    added = [make_chunk(f"bulk/{i}.txt", f"Bulk note {i} about crates of rice.") for i in range(n + 1)]
    synced.upsert_chunks(added, synced.embedder.embed([c.text for c in added]))
    synced.bump_version()
    index = refresh_lexical_index(synced)
    assert spy.builds == 1 and spy.fetched == []
    assert len(index.chunks) == 2 * n + 1
    assert_same_index(index, full_build(synced))


# ---- the canonical order -------------------------------------------------------------------


def test_a_build_does_not_depend_on_the_order_of_its_chunks(synced: Store) -> None:
    chunks = list(synced.iter_chunks())
    forward, backward = LexicalIndex.build(chunks, "v"), LexicalIndex.build(chunks[::-1], "v")
    assert_same_index(backward, forward)
    duplicate = make_chunk("zz.txt", chunks[0].text, title=chunks[0].title)  # ties with chunks[0]
    with_tie = LexicalIndex.build([duplicate, *chunks], "v")
    assert_same_index(forward.updated(np.ones(len(chunks), dtype=bool), [duplicate], "v"), with_tie)
