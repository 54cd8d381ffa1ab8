"""Exact, idempotent, crash-safe sync of document folders into the index.

Order of writes for a changed file, so that a kill -9 at any moment converges on re-run:
1. its manifest record is written with status "pending" (and the new content hash);
2. chunks not already stored are embedded and upserted (ids are content hashes, so a
   re-run re-embeds only what is missing);
3. stale chunks of that file are deleted;
4. the record is marked "done".
A record that is not "done", or whose hash differs from the file, is processed again. A
removed file loses its chunks first and its record last, so no chunk is ever orphaned.

The store version is bumped (marked "writing") before the first write of a sync and again
(not writing) after the last, so no client trusts a cache built on a half-written store:
BM25 indexes and this client's copy of the manifest (`manifest.pkl`, used only while the
version is the one it was saved at) are keyed by that version. An unchanged file is
recognised by its size and mtime when it was last modified well before it was hashed (see
`FileRecord.checked_ns`); otherwise it is hashed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import pickle
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import IngestLockedError, NoDocumentsError
from assistant.protocols import Embedder
from assistant.retrieval import store as store_module
from assistant.retrieval.embedder import MiniLMEmbedder
from assistant.retrieval.store import FileRecord, Store, describe_location, local_state_dir
from assistant.settings import Settings
from assistant.types import Chunk
from ingest.chunker import chunk_document
from ingest.loaders import SUPPORTED_SUFFIXES, Document, SkipFile, load_document

SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"
_GROUP_CHUNKS = 256  # embed this many chunks per batch across files (keeps the model busy)
_MAX_STORED_TEXT = 2_000_000  # larger documents are shown from disk instead of the store
# A file modified this close to when it was hashed may change again within the same mtime
# tick (coarse timestamps) without its size or mtime changing: it is always re-hashed.
_RACY_NS = 2_000_000_000
_MANIFEST_FORMAT = 1

ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class IngestReport:
    """What an ingest run did.

    Attributes:
        added: Files indexed for the first time.
        updated: Files whose content changed (or whose previous run was interrupted).
        removed: Files deleted from disk (or now unreadable) whose chunks were deleted.
        unchanged: Files skipped because their content hash matched.
        chunks: Total chunks in the index after the run.
        embedded: Chunks embedded in this run (0 on a no-op re-run).
        skipped: (file, reason) for files that could not be ingested.
        seconds: Wall time.
        files: Files in the index after the run.
        location: Where the index lives.
    """

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks: int = 0
    embedded: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    files: int = 0
    location: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form (for `--json`)."""
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "skipped": [list(s) for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "files": self.files,
            "location": self.location,
        }


@dataclass
class _Job:
    source: str
    root: str
    path: Path
    sha256: str
    stat: os.stat_result
    is_new: bool
    checked_ns: int = 0
    doc: Document | None = None
    chunks: list[Chunk] = field(default_factory=list)
    existing: set[str] = field(default_factory=set)


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """Hold the per-store ingest lock; a second ingest gets `IngestLockedError` at once.

    The lock is a file lock in this client's cache folder: it serialises ingests on one
    machine. Ingests from several machines into one Chroma server are not serialised; they
    stay consistent per file because every write is idempotent (see the module docstring).
    """
    path = local_state_dir(settings) / "ingest.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise IngestLockedError(
                f"another ingest is running on this store (pid {holder}); wait for it to finish"
            ) from e
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _walk(root: Path) -> Iterator[Path]:
    """Files under `root`, sorted, hidden entries skipped, symlinked dirs not followed."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _targets(paths: Sequence[str | Path]) -> tuple[list[tuple[Path, Path, bool]], list[Path]]:
    """(file, root, from_folder) for every file named or found, and the folders walked."""
    found: list[tuple[Path, Path, bool]] = []
    folders: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            root = p.resolve()
            folders.append(root)
            found.extend((f, root, True) for f in _walk(root))
        elif p.is_file():
            found.append((p.resolve(), p.resolve().parent, False))
        else:
            raise NoDocumentsError(f"{raw}: no such file or folder")
    return found, folders


def ingest(
    paths: Sequence[str | Path] | None = None,
    *,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Sync files and folders into the index.

    Args:
        paths: Files and folders to ingest (default: the bundled `seeds/`). A folder is synced
            exactly: files deleted from it since the last run are removed from the index.
        settings: Defaults to `Settings.from_env()`.
        embedder: Defaults to the bundled MiniLM.
        rebuild: Drop the index first and rebuild it from scratch (the recovery for a
            corrupted store).
        progress: Called as `progress(done, total, source)` after each file.

    Returns:
        An `IngestReport`.

    Raises:
        NoDocumentsError: A path does not exist, or no file was found.
        IngestLockedError: Another ingest is running on this store.
        StoreError: The vector store cannot be opened or written.
    """
    settings = settings or Settings.from_env()
    embedder = embedder or MiniLMEmbedder()
    t0 = time.perf_counter()
    found, folders = _targets(list(paths) if paths else [SEEDS_DIR])
    with ingest_lock(settings):
        if rebuild:
            Store.drop(settings)
        store = Store.open(settings, embedder, create=True)
        manifest, state = _read_manifest(store)
        if not found and not any(r.root == str(f) for f in folders for r in manifest.values()):
            raise NoDocumentsError("no files found in " + ", ".join(str(f) for f in folders))
        return _sync(store, manifest, found, folders, embedder, settings, progress, t0, state)


def remove_documents(
    sources: Sequence[str], *, settings: Settings | None = None, embedder: Embedder | None = None
) -> int:
    """Remove documents from the index (their files on disk are left alone).

    Returns:
        How many of `sources` were indexed and are now removed.
    """
    settings = settings or Settings.from_env()
    embedder = embedder or MiniLMEmbedder()
    with ingest_lock(settings):
        store = Store.open(settings, embedder)
        known = store.files()
        removed = [s for s in sources if s in known]
        if removed:
            store.bump_version(writing=True)
        for source in removed:
            store.delete_file(source)
        if removed:
            store.bump_version(writing=False)
            from assistant.retrieval.lexical import refresh_lexical_index

            refresh_lexical_index(store)
        return len(removed)


def create_collection(*, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
    """Create the empty collection `settings.collection`, built for `embedder` (a no-op when
    it exists with that embedder).

    Raises:
        IngestLockedError: An ingest into that collection is running.
        EmbedderMismatchError: It exists, built with another embedder.
        StoreError: The vector store cannot be opened or written.
    """
    settings = settings or Settings.from_env()
    with ingest_lock(settings):
        Store.open(settings, embedder or MiniLMEmbedder(), create=True)


def delete_collection(*, settings: Settings | None = None) -> None:
    """Delete the collection `settings.collection`: its chunks, its manifest and this
    client's caches of it (the other collections, and the files on disk, are left alone).

    Raises:
        NoIndexError: There is no such collection.
        IngestLockedError: An ingest into it is running.
        StoreError: The vector store cannot be reached or written.
    """
    settings = settings or Settings.from_env()
    with ingest_lock(settings):
        try:
            store_module.delete_collection(settings)
        finally:  # also for an unknown name: the lock made its cache folder
            store_module.remove_local_state(settings)


def _sync(
    store: Store,
    manifest: dict[str, FileRecord],
    found: list[tuple[Path, Path, bool]],
    folders: list[Path],
    embedder: Embedder,
    settings: Settings,
    progress: ProgressFn | None,
    t0: float,
    state: dict | None = None,
) -> IngestReport:
    skipped: list[tuple[str, str]] = []
    jobs: list[_Job] = []
    seen: set[str] = set()
    refreshed: list[FileRecord] = []
    unchanged = removed = 0
    total = len(found)
    guard = _WriteGuard(store)
    for i, (path, root, _) in enumerate(found):
        source = _relative(path, root)
        seen.add(source)
        rec = manifest.get(source)
        try:
            if any("\ud800" <= ch <= "\udfff" for ch in source):
                # Bytes that are not UTF-8 in a name (os.fsdecode's surrogates) cannot be stored
                # in Chroma or printed: report the name with U+FFFD in their place.
                source = os.fsencode(source).decode("utf-8", "replace")
                raise SkipFile("the file name is not valid UTF-8; rename the file")
            checked_ns = time.time_ns()  # before the stat: see FileRecord.checked_ns
            st = path.stat()
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise SkipFile(f"unsupported file type {path.suffix or '(none)'}")
            if not stat.S_ISREG(st.st_mode):  # a FIFO or /dev/zero would block hashing forever
                raise SkipFile("not a regular file")
            if st.st_size > settings.max_file_bytes:
                raise SkipFile(f"larger than the {settings.max_file_bytes:,}-byte limit")
            trusted = _unchanged_by_stat(rec, str(root), st)
            digest = rec.sha256 if trusted else _sha256(path)
        except (SkipFile, OSError) as e:
            skipped.append((source, getattr(e, "reason", None) or str(e)))
            continue
        if rec and rec.status == "done" and rec.sha256 == digest and rec.root == str(root):
            unchanged += 1
            if not trusted and st.st_mtime_ns < checked_ns - _RACY_NS:
                # Same content, new mtime or a hash taken too soon after an edit: record the
                # stat now, so the next sync can skip hashing this file.
                refreshed.append(
                    dataclasses.replace(rec, size=st.st_size, mtime_ns=st.st_mtime_ns, checked_ns=checked_ns)
                )
            if progress:
                progress(i + 1, total, source)
            continue
        jobs.append(_Job(source, str(root), path, digest, st, is_new=rec is None, checked_ns=checked_ns))

    # Files that vanished from a synced folder, or that can no longer be read.
    skipped_sources = {s for s, _ in skipped}
    for source, rec in manifest.items():
        gone = any(rec.root == str(f) for f in folders) and source not in seen
        if gone or (source in skipped_sources and rec.root in {str(r) for _, r, _ in found}):
            guard.begin()
            store.delete_file(source)
            removed += 1

    added = updated = embedded = 0
    done = total - len(jobs)
    group: list[_Job] = []
    # While the model embeds one group, the previous group is written to the store by a
    # background thread (one group at a time, in order, each in crash-safe order).
    writer = _GroupWriter(store)

    def submit(group: list[_Job]) -> int:
        """Embed `group` (showing progress inside it) and hand it to the writer."""
        guard.begin()
        on_batch = _chunk_progress(progress, done, total, group)
        return writer.submit(group, _embed_group(store, group, embedder, on_batch))

    try:
        for job in jobs:
            try:
                job.doc = load_document(job.path, max_bytes=settings.max_file_bytes)
            except SkipFile as e:
                skipped.append((job.source, e.reason))
                if not job.is_new:
                    guard.begin()
                    store.delete_file(job.source)
                    removed += 1
                continue
            job.chunks = chunk_document(
                job.doc, job.source, chunk_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap_tokens
            )
            if not job.chunks:
                skipped.append((job.source, "no text content after removing boilerplate"))
                if not job.is_new:
                    guard.begin()
                    store.delete_file(job.source)
                    removed += 1
                continue
            group.append(job)
            if sum(len(j.chunks) for j in group) >= _GROUP_CHUNKS:
                embedded += submit(group)
                done += len(group)
                if progress:
                    progress(done, total, group[-1].source)
                group = []
            if job.is_new:
                added += 1
            else:
                updated += 1
        if group:
            embedded += submit(group)
        writer.wait()
    finally:
        writer.close()
    if progress:
        progress(total, total, "")
    if guard.started:
        state = {"version": store.bump_version(writing=False)}
        manifest = store.files()
    elif refreshed:
        store.update_file_stats(refreshed)  # chunks and the version are untouched
        manifest = {**manifest, **{r.source: r for r in refreshed}}
    _save_manifest(store, state or {}, manifest)
    # Keep this client's BM25 index in step now, so the first question does not pay for it
    # (a no-op when it already is, without even loading it).
    from assistant.retrieval.lexical import ensure_lexical_index

    ensure_lexical_index(store)
    return IngestReport(
        added=added,
        updated=updated,
        removed=removed,
        unchanged=unchanged,
        chunks=store.count(),
        embedded=embedded,
        skipped=tuple(skipped),
        seconds=time.perf_counter() - t0,
        files=len(manifest),
        location=describe_location(settings),
    )


class _WriteGuard:
    """Bumps the store version, marked "writing", once before the first write of a sync."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.started = False

    def begin(self) -> None:
        if not self.started:
            self.store.bump_version(writing=True)
            self.started = True


def _relative(path: Path, root: Path) -> str:
    """`path` relative to `root` with '/' separators (string slicing: cheap for 10,000 files)."""
    full, base = str(path), str(root)
    if full.startswith(base) and full[len(base) : len(base) + 1] == os.sep:
        rel = full[len(base) + 1 :]
        return rel if os.sep == "/" else rel.replace(os.sep, "/")
    return path.relative_to(root).as_posix()


def _unchanged_by_stat(rec: FileRecord | None, root: str, st: os.stat_result) -> bool:
    """True when the record vouches for the file without hashing it: same root, size and
    mtime, and that mtime was already old when the recorded hash was taken."""
    return (
        rec is not None
        and rec.status == "done"
        and rec.root == root
        and rec.size == st.st_size
        and rec.mtime_ns == st.st_mtime_ns
        and rec.mtime_ns < rec.checked_ns - _RACY_NS
    )


def _manifest_cache(store: Store) -> Path:
    return local_state_dir(store.settings) / "manifest.pkl"


def _read_manifest(store: Store) -> tuple[dict[str, FileRecord], dict]:
    """The manifest and the store state it belongs to.

    Read from this client's copy when the store version is still the one it was saved at
    (no client has written since), else from the store. The state is read first, so a write
    that starts meanwhile changes the version and the copy saved from this read is not used.
    """
    state = store.state()
    version = str(state.get("version", ""))
    if version and not state.get("writing"):
        try:
            with open(_manifest_cache(store), "rb") as f:
                fmt, saved_version, records = pickle.load(f)
            if fmt == _MANIFEST_FORMAT and saved_version == version:
                return records, state
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError):
            pass  # missing or damaged: read the store
    return store.files(), state


def _save_manifest(store: Store, state: dict, manifest: dict[str, FileRecord]) -> None:
    """Save this client's copy of the manifest, keyed by the store version it matches."""
    path = _manifest_cache(store)
    version = str(state.get("version", ""))
    if not version or state.get("writing"):  # another client is writing (or crashed doing so)
        with contextlib.suppress(OSError):
            path.unlink()
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump((_MANIFEST_FORMAT, version, manifest), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def _embed_group(
    store: Store, group: list[_Job], embedder: Embedder, on_batch: Callable[[int, int], None] | None = None
) -> tuple[list[Chunk], list]:
    """The group's chunks that are not stored yet, and their vectors (reads, never writes).

    They are embedded `_GROUP_CHUNKS` at a time, calling `on_batch(embedded, total)` after
    each, so one file of thousands of chunks (a 2,000-slide deck) shows progress too.
    """
    existing = store.chunk_ids_by_source([j.source for j in group])
    for job in group:
        job.existing = existing.get(job.source, set())
    todo = [c for j in group for c in j.chunks if c.id not in j.existing]
    vectors: list = []
    for start in range(0, len(todo), _GROUP_CHUNKS):
        vectors.extend(embedder.embed([_embedding_text(c) for c in todo[start : start + _GROUP_CHUNKS]]))
        if on_batch and len(todo) > _GROUP_CHUNKS:
            on_batch(len(vectors), len(todo))
    return todo, vectors


def _chunk_progress(
    progress: ProgressFn | None, done: int, total: int, group: list[_Job]
) -> Callable[[int, int], None] | None:
    """Progress within one group of files: "deck.pptx: 512/2,000 chunks" beside the file count."""
    if progress is None:
        return None
    return lambda embedded, chunks: progress(done, total, f"{group[-1].source}: {embedded:,}/{chunks:,} chunks")


def _store_group(store: Store, group: list[_Job], embedded: tuple[list[Chunk], list]) -> None:
    """Write an embedded group: records "pending", new chunks, stale chunks out, "done"."""
    todo, vectors = embedded
    store.put_files(
        [_record(j, "pending") for j in group],
        [j.doc.text if len(j.doc.text) <= _MAX_STORED_TEXT else None for j in group],
    )
    if todo:
        store.upsert_chunks(todo, vectors)
    for job in group:
        stale = job.existing - {c.id for c in job.chunks}
        if stale:
            store.delete_chunks(stale)
    store.set_file_status([_record(j, "done") for j in group])  # the rest was written with "pending"


class _GroupWriter:
    """Runs `_store_group` in one background thread, one group at a time, in order.

    `submit` first waits for the previous group (so at most one is in flight and its error,
    if any, surfaces in the caller); `close` waits for the last one, so no write outlives
    `ingest()` and its lock.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, group: list[_Job], embedded: tuple[list[Chunk], list]) -> int:
        self.wait()

        def run() -> None:
            try:
                _store_group(self.store, group, embedded)
            except BaseException as e:  # re-raised in the ingesting thread by wait()
                self._error = e

        self._thread = threading.Thread(target=run, name="ingest-writer", daemon=True)
        self._thread.start()
        return len(embedded[0])

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _embedding_text(chunk: Chunk) -> str:
    """What the embedder sees: the title gives a passage its topic (helps short chunks)."""
    return f"{chunk.title}\n{chunk.text}" if chunk.title and not chunk.text.startswith(chunk.title) else chunk.text


def _record(job: _Job, status: str) -> FileRecord:
    assert job.doc is not None
    return FileRecord(
        source=job.source,
        root=job.root,
        sha256=job.sha256,
        size=job.stat.st_size,
        mtime_ns=job.stat.st_mtime_ns,
        n_chunks=len(job.chunks),
        status=status,
        title=job.doc.title,
        kind=job.doc.kind,
        ingested_at=time.time(),
        checked_ns=job.checked_ns,
    )
