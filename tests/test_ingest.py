"""Sync behaviour of `ingest()`: exact, idempotent, incremental, locked, crash-safe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, SEEDS

from assistant.errors import EmbedderMismatchError, IngestLockedError, NoDocumentsError, NoIndexError
from assistant.retrieval.embedder import HashEmbedder, MiniLMEmbedder
from assistant.retrieval.store import Store
from assistant.settings import Settings
from ingest import ingest
from ingest.sync import ingest_lock


def _store_state(settings: Settings, embedder) -> dict[str, tuple]:
    """Every chunk id -> (source, start, end, text), and every manifest record."""
    store = Store.open(settings, embedder)
    chunks = {c.id: (c.source, c.start, c.end, c.text) for c in store.iter_chunks()}
    files = {s: (r.sha256, r.n_chunks, r.status) for s, r in store.files().items()}
    return {"chunks": chunks, "files": files}


def test_real_ingest_then_noop_resync(seed_index: Settings) -> None:
    """Real MiniLM + real Chroma: the seeds are indexed; a second run embeds nothing."""
    store = Store.open(seed_index, MiniLMEmbedder())
    assert store.count() > 20
    assert sorted(store.files()) == sorted(p.name for p in SEEDS.iterdir())
    again = ingest([SEEDS], settings=seed_index)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 5)
    assert again.embedded == 0
    assert again.chunks == store.count()


def test_real_chunks_point_into_files(seed_index: Settings) -> None:
    """Every stored chunk's offsets cut its exact text out of the seed file."""
    store = Store.open(seed_index, MiniLMEmbedder())
    for chunk in store.iter_chunks():
        original = (SEEDS / chunk.source).read_text(encoding="utf-8")
        assert original[chunk.start : chunk.end] == chunk.text


def test_real_query_embedding_is_the_batch_embedding() -> None:
    """A single text (a query) takes a shorter path than `encode`; its vector must not change:
    the index was built with `encode`."""
    import numpy as np

    from assistant.retrieval import embedder as module

    texts = ["  Where does he teach? ", "x", "Le président a dit « non ». 北朝鮮", "word " * 400]
    embedder = MiniLMEmbedder()
    one = np.array([embedder.embed([t])[0] for t in texts])
    assert module._direct, "the one-text path is not in use"
    batch = np.array(embedder.embed(texts))  # several texts go through encode
    assert np.abs(one - batch).max() < 1e-5


def test_modify_delete_add(settings: Settings, hash_embedder, seeds_copy: Path) -> None:
    first = ingest([seeds_copy], settings=settings, embedder=hash_embedder)
    assert (first.added, first.files) == (5, 5)
    assert first.embedded == first.chunks

    changed = seeds_copy / "000_ef01f84a8e898d1e.txt"
    changed.write_text(
        changed.read_text(encoding="utf-8") + "\nA brand new closing paragraph about Seoul and Kyiv.\n",
        encoding="utf-8",
    )
    (seeds_copy / "001_0024757726c3a644.txt").unlink()
    (seeds_copy / "new.md").write_text(
        "# New note\n\nThe new note says the meeting moved to Busan.\n", encoding="utf-8"
    )
    second = ingest([seeds_copy], settings=settings, embedder=hash_embedder)
    assert (second.added, second.updated, second.removed, second.unchanged) == (1, 1, 1, 3)
    # only the changed file's new chunks and the new file were embedded, not the whole corpus
    assert 0 < second.embedded < first.embedded

    state = _store_state(settings, hash_embedder)
    sources = {s for s, *_ in state["chunks"].values()}
    assert "001_0024757726c3a644.txt" not in sources
    assert "001_0024757726c3a644.txt" not in state["files"]
    assert any("Busan" in t for *_, t in state["chunks"].values())

    # identical to a clean build of the same folder
    clean = Settings(data_dir=settings.data_dir.parent / "clean", backend="extractive")
    ingest([seeds_copy], settings=clean, embedder=hash_embedder)
    assert _store_state(clean, hash_embedder)["chunks"] == state["chunks"]


def test_rebuild_gives_same_chunks(settings: Settings, hash_embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings=settings, embedder=hash_embedder)
    before = _store_state(settings, hash_embedder)["chunks"]
    report = ingest([seeds_copy], settings=settings, embedder=hash_embedder, rebuild=True)
    assert report.added == 5 and report.embedded == report.chunks
    assert _store_state(settings, hash_embedder)["chunks"] == before


def test_embedder_mismatch_is_refused(settings: Settings, hash_embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings=settings, embedder=hash_embedder)
    with pytest.raises(EmbedderMismatchError, match="rebuild"):
        Store.open(settings, HashEmbedder(32))


def test_missing_index_and_paths(settings: Settings, hash_embedder, tmp_path: Path) -> None:
    with pytest.raises(NoIndexError, match="rag ingest"):
        Store.open(settings, hash_embedder)
    with pytest.raises(NoDocumentsError, match="no such"):
        ingest([tmp_path / "nope"], settings=settings, embedder=hash_embedder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoDocumentsError, match="no files"):
        ingest([empty], settings=settings, embedder=hash_embedder)


def test_skips_are_reported_not_fatal(settings: Settings, hash_embedder, tmp_path: Path) -> None:
    docs = tmp_path / "mixed"
    docs.mkdir()
    (docs / "good.txt").write_text("North Korea sent troops to Russia in October.\n", encoding="utf-8")
    (docs / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (docs / "empty.txt").write_bytes(b"")
    report = ingest([docs], settings=settings, embedder=hash_embedder)
    assert report.added == 1
    skipped = dict(report.skipped)
    assert set(skipped) == {"image.png", "binary.txt", "empty.txt"}
    assert all(reason for reason in skipped.values())


def test_second_ingest_is_refused_while_locked(settings: Settings, hash_embedder, seeds_copy: Path) -> None:
    with ingest_lock(settings), pytest.raises(IngestLockedError, match="another ingest"):
        ingest([seeds_copy], settings=settings, embedder=hash_embedder)
    assert ingest([seeds_copy], settings=settings, embedder=hash_embedder).added == 5


_KILLABLE = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from assistant.retrieval.embedder import HashEmbedder
    from assistant.settings import Settings
    from ingest import ingest
    from pathlib import Path
    import time

    class SlowHash(HashEmbedder):
        def embed(self, texts):
            time.sleep(0.01 * len(texts))  # slow enough to be killed mid-way
            return super().embed(texts)

    ingest([Path({docs!r})], settings=Settings(data_dir=Path({data!r})), embedder=SlowHash(64))
""")


def make_corpus(folder: Path, copies: int) -> None:
    """A folder of `copies` x 5 variants of the seeds (different content, so different chunks)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(copies):
        for seed in sorted(SEEDS.iterdir()):
            (folder / f"{i:03d}_{seed.name}").write_text(
                f"Copy {i}.\n" + seed.read_text(encoding="utf-8"), encoding="utf-8"
            )


def start_and_kill(docs: Path, data: Path, delay: float) -> bool:
    """Start an ingest subprocess, kill -9 it `delay` s after it opened the store; True if it
    was still running when killed."""
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE.format(root=str(ROOT), docs=str(docs), data=str(data))])
    deadline = time.monotonic() + 60
    while not (data / "chroma").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(delay)
    alive = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return alive


@pytest.mark.parametrize("delay", [0.3, 2.0, 5.0])
def test_kill9_mid_ingest_converges(tmp_path: Path, hash_embedder, delay: float) -> None:
    """A kill -9 during ingest, then a re-run, gives exactly the chunks of a clean run."""
    docs = tmp_path / "docs"
    make_corpus(docs, 12)
    data = tmp_path / "data"
    assert start_and_kill(docs, data, delay), "the ingest finished before it could be killed"
    settings = Settings(data_dir=data)
    ingest([docs], settings=settings, embedder=hash_embedder)
    clean = Settings(data_dir=tmp_path / "clean")
    ingest([docs], settings=clean, embedder=hash_embedder)
    assert _store_state(settings, hash_embedder) == _store_state(clean, hash_embedder)


def test_progress_shows_in_a_log_file_too_one_bar_per_phase(monkeypatch):
    """With stderr not a terminal (CI, `nohup ... > log`), tqdm alone would print nothing; the
    bar still writes each phase's start and end, and a new phase (answering after indexing)
    gets its own bar instead of being swallowed by the closed one."""
    import io

    from ingest.progress import progress_bar

    log = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    progress = progress_bar("eval")
    progress(0, 1, "indexing seeds/")
    for n in range(1, 4):
        progress(n, 3, f"file{n}.txt")
    for n in range(0, 75):
        progress(n, 74, f"item {n}")
    lines = [line for line in log.getvalue().replace("\r", "\n").splitlines() if line.strip()]
    assert any("3/3" in line and "file3.txt" in line for line in lines)
    assert any("74/74" in line and "item 74" in line for line in lines)
    assert len(lines) <= 6  # start and end of each phase, not a line per item
