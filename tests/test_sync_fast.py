"""The fast paths of a re-sync are exact: size+mtime instead of hashing only when safe, and
this client's copy of the manifest only while no client has written since."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import ingest.sync as sync
from assistant.retrieval.store import Store, local_state_dir
from assistant.settings import Settings
from ingest import ingest, remove_documents

HOUR_NS = 3600 * 10**9


def write_old(path: Path, text: str) -> None:
    """Write a file whose mtime is an hour ago (edited long before any sync hashes it)."""
    path.write_text(text, encoding="utf-8")
    old = time.time_ns() - HOUR_NS
    os.utime(path, ns=(old, old))


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(4):
        write_old(folder / f"note{i}.txt", f"Note {i}\n\nThe depot in town {i} stores {i * 7} crates of rice.\n")
    return folder


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = sync._sha256

    def counting(path: Path) -> str:
        calls.append(path.name)
        return real(path)

    monkeypatch.setattr(sync, "_sha256", counting)
    return calls


def test_old_unchanged_files_are_not_hashed_again(settings: Settings, hash_embedder, docs: Path, hashes) -> None:
    ingest([docs], settings=settings, embedder=hash_embedder)
    assert len(hashes) == 4
    hashes.clear()
    report = ingest([docs], settings=settings, embedder=hash_embedder)
    assert (report.unchanged, report.embedded, report.files) == (4, 0, 4)
    assert hashes == []


def test_an_edit_keeping_size_and_mtime_is_found_when_it_was_recent(
    settings: Settings, hash_embedder, tmp_path: Path, hashes
) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    path = folder / "a.txt"
    path.write_text("Stock\n\nThe depot holds 111 crates.\n", encoding="utf-8")  # mtime: now
    ingest([folder], settings=settings, embedder=hash_embedder)
    st = path.stat()
    path.write_text("Stock\n\nThe depot holds 999 crates.\n", encoding="utf-8")  # same size ...
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the same mtime (one clock tick)
    report = ingest([folder], settings=settings, embedder=hash_embedder)
    assert report.updated == 1
    store = Store.open(settings, hash_embedder)
    assert any("999" in c.text for c in store.iter_chunks())


def test_a_touched_file_is_hashed_once_then_trusted(settings: Settings, hash_embedder, docs: Path, hashes) -> None:
    ingest([docs], settings=settings, embedder=hash_embedder)
    version = Store.open(settings, hash_embedder).state()["version"]
    newer = time.time_ns() - HOUR_NS // 2
    os.utime(docs / "note1.txt", ns=(newer, newer))  # touched, content unchanged
    hashes.clear()
    report = ingest([docs], settings=settings, embedder=hash_embedder)
    assert (report.unchanged, report.updated, report.embedded) == (4, 0, 0)
    assert hashes == ["note1.txt"]
    store = Store.open(settings, hash_embedder)
    assert store.files()["note1.txt"].mtime_ns == newer  # the stat was recorded ...
    assert store.state()["version"] == version  # ... without a new version (nothing to rebuild)
    hashes.clear()
    ingest([docs], settings=settings, embedder=hash_embedder)
    assert hashes == []


def test_the_manifest_copy_is_used_only_while_nobody_wrote(
    settings: Settings, hash_embedder, docs: Path, monkeypatch
) -> None:
    ingest([docs], settings=settings, embedder=hash_embedder)
    reads: list[int] = []
    real_files = Store.files

    def counting_files(self):
        reads.append(1)
        return real_files(self)

    monkeypatch.setattr(Store, "files", counting_files)
    ingest([docs], settings=settings, embedder=hash_embedder)
    assert reads == []  # served from this client's copy

    Store.open(settings, hash_embedder).bump_version()  # as another client's ingest does
    ingest([docs], settings=settings, embedder=hash_embedder)
    assert reads == [1]


def test_a_manifest_copy_from_an_older_layout_is_read_from_the_store(
    settings: Settings, hash_embedder, docs: Path
) -> None:
    """A copy pickled when the record classes lived in a module since moved (assistant.store
    before 2026-12-01) is ignored, not a crash: the first ingest after an upgrade works."""
    ingest([docs], settings=settings, embedder=hash_embedder)
    (local_state_dir(settings) / "manifest.pkl").write_bytes(b"cassistant.store\nFileRecord\n.")
    report = ingest([docs], settings=settings, embedder=hash_embedder)
    assert report.unchanged == 4 and report.added == 0


def test_a_crashed_writer_disables_the_copy(settings: Settings, hash_embedder, docs: Path) -> None:
    ingest([docs], settings=settings, embedder=hash_embedder)
    store = Store.open(settings, hash_embedder)
    # Another client starts writing (version bumped, "writing") ...
    store.bump_version(writing=True)
    # ... we sync meanwhile (nothing to do: our copy must not be saved at that version) ...
    assert ingest([docs], settings=settings, embedder=hash_embedder).unchanged == 4
    # ... then it removes a file's chunks and record and dies before its final bump.
    store.delete_file("note2.txt")
    report = ingest([docs], settings=settings, embedder=hash_embedder)
    assert report.added == 1 and report.files == 4  # the store was read, not the stale copy
    assert Store.open(settings, hash_embedder).state()["writing"] is False


def test_removed_documents_come_back_on_the_next_sync(settings: Settings, hash_embedder, docs: Path) -> None:
    ingest([docs], settings=settings, embedder=hash_embedder)
    assert remove_documents(["note3.txt"], settings=settings, embedder=hash_embedder) == 1
    report = ingest([docs], settings=settings, embedder=hash_embedder)
    assert report.added == 1 and report.files == 4
