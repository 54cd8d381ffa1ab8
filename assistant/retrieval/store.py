"""The one module that talks to Chroma.

Two collections per index:
- `<collection>`: one record per chunk (id = content hash, embedding, text, offsets as metadata).
- `<collection>__files`: one record per ingested file (the sync manifest: content hash, status,
  chunk count, and the document text so any client of a shared server can show it), plus one
  `__state__` record whose `version` changes on every write (clients update their BM25
  index when it differs from the version they built it at).

Each collection of documents (`Settings.collection`, checked by `validate_collection_name`)
is such a pair; `list_collections` finds the pairs, `delete_collection` drops one.

Chroma distances become similarity scores in exactly one place: `_similarity`.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import EmbedderMismatchError, NoIndexError, StoreError
from assistant.protocols import Embedder
from assistant.settings import DEFAULT_COLLECTION, MANIFEST_SUFFIX, Settings
from assistant.types import Chunk

INDEX_FORMAT = 1
_STATE_ID = "__state__"
_PAGE = 2000  # records per `get` page; Chroma caps the size of one request
_ID_PAGE = 50_000  # ids per page when reading ids alone: each page rescans its offset, so few pages


@dataclass(frozen=True)
class CollectionSummary:
    """One collection of documents in the store, as `rag status` lists it.

    Attributes:
        name: The collection name (`Settings.collection`).
        files: Files in its manifest.
        chunks: Chunks in its index.
        embedder: Name of the embedder that built it.
        dimension: That embedder's dimension.
    """

    name: str
    files: int
    chunks: int
    embedder: str
    dimension: int


@dataclass(frozen=True)
class FileRecord:
    """A manifest entry: what is indexed for one source file.

    Attributes:
        source: Path relative to the ingested root ('/' separators); the key.
        root: Absolute path of the folder it was ingested from.
        sha256: Content hash of the file bytes.
        size: File size in bytes.
        mtime_ns: Modification time when ingested.
        n_chunks: Number of chunks the file produced.
        status: "pending" while its chunks are being written, "done" after.
        title: Document title.
        kind: Loader kind (text, markdown, html, pdf).
        ingested_at: Unix time of the last write.
        checked_ns: Wall-clock time (ns) just before `size` and `mtime_ns` were read and the
            file hashed. A later sync trusts an unchanged size and mtime to mean unchanged
            content (and skips hashing) only for a file last modified well before this, so
            an edit within the same timestamp tick as the hashed version is never missed.
            0 (records written before this field existed) means "always hash".
    """

    source: str
    root: str
    sha256: str
    size: int
    mtime_ns: int
    n_chunks: int
    status: str
    title: str = ""
    kind: str = "text"
    ingested_at: float = 0.0
    checked_ns: int = 0


def _similarity(distance: float) -> float:
    """Cosine distance (0..2) to a similarity score, higher is better."""
    return 1.0 - float(distance)


def _chunk_metadata(chunk: Chunk) -> dict:
    more = {"page_starts": ",".join(map(str, chunk.page_starts))} if chunk.page_starts else {}
    return {
        "source": chunk.source,
        "start": chunk.start,
        "end": chunk.end,
        "line_start": chunk.line_start,
        "line_end": chunk.line_end,
        "ordinal": chunk.ordinal,
        "title": chunk.title,
        "page": -1 if chunk.page is None else chunk.page,
        **more,
    }


def _chunk_from(record_id: str, text: str, meta: dict) -> Chunk:
    page = int(meta.get("page", -1))
    return Chunk(
        id=record_id,
        source=str(meta["source"]),
        text=text,
        start=int(meta["start"]),
        end=int(meta["end"]),
        line_start=int(meta["line_start"]),
        line_end=int(meta["line_end"]),
        ordinal=int(meta["ordinal"]),
        title=str(meta.get("title", "")),
        page=None if page < 0 else page,
        page_starts=tuple(int(p) for p in str(meta.get("page_starts", "")).split(",") if p),
    )


def describe_location(settings: Settings) -> str:
    """Where the store lives, for messages and `rag status`."""
    if settings.chroma_host:
        return f"chroma server http://{settings.chroma_host}:{settings.chroma_port}"
    return f"local folder {(settings.data_dir / 'chroma').resolve()}"


# Chroma shares one "system" per local folder in a process, and starts it without a lock:
# threads opening the same folder at once can get it half-started ("Could not connect to
# tenant"). Local clients are therefore created one at a time.
_local_client_lock = threading.Lock()


def _forget_local_system(path: Path, *, force: bool = False) -> None:
    """Make Chroma drop its in-process handle on a local folder.

    Chroma caches that handle even when starting it failed (a corrupted folder), and every
    later client of the folder would get the broken one, so a rebuild could not recover
    in-process. Unless `force`, a handle still used by open clients is kept.
    """
    try:
        from chromadb.api.shared_system_client import SharedSystemClient as shared
    except ImportError:  # pragma: no cover - a Chroma without this cache needs nothing
        return
    key = str(path)
    if not force and shared._identifier_to_refcount.get(key, 0) > 0:
        return
    system = shared._identifier_to_system.pop(key, None)
    shared._identifier_to_refcount.pop(key, None)
    if system is not None:
        try:
            system.stop()
        except Exception:  # a half-started system may not stop cleanly; it is forgotten anyway
            pass


@functools.lru_cache(maxsize=1)
def _chroma_settings():
    """Chroma's client settings, built once: building them reads the environment and `.env`
    through pydantic-settings, about 20 ms, which every question paid (bench/answer.py).
    Clients get a copy: Chroma writes the path or host into the settings it is given."""
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def _make_client(settings: Settings):
    try:
        import chromadb
    except ImportError as e:  # pragma: no cover - chromadb is a hard dependency
        raise StoreError("chromadb is not installed") from e
    chroma_settings = _chroma_settings().model_copy()
    where = describe_location(settings)
    path = settings.data_dir / "chroma"
    try:
        if settings.chroma_host:
            client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
            client.heartbeat()
            return client
        path.mkdir(parents=True, exist_ok=True)
        with _local_client_lock:
            try:
                return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            except Exception:
                _forget_local_system(path)
                raise
    except Exception as e:  # Chroma raises many unrelated types for "cannot open"
        hint = (
            "is `chroma run` up?"
            if settings.chroma_host
            else "if the folder is corrupted, run `rag ingest --rebuild` to rebuild it from the documents"
        )
        raise StoreError(f"cannot open the vector store ({where}): {e}; {hint}") from e


def _open_collections(settings: Settings, embedder: Embedder, create: bool) -> tuple[Any, Any, Any]:
    """The Chroma client and the index's two collections, checked against `embedder` (see
    `Store.open`)."""
    client = _make_client(settings)
    name = settings.collection
    try:
        if create:
            chunks = client.get_or_create_collection(
                name,
                embedding_function=None,
                metadata={
                    "hnsw:space": "cosine",
                    "embedder": embedder.name,
                    "dimension": embedder.dimension,
                    "format": INDEX_FORMAT,
                },
            )
            files = client.get_or_create_collection(f"{name}{MANIFEST_SUFFIX}", embedding_function=None)
        else:
            existing = _collection_names(client)
            if name not in existing or f"{name}{MANIFEST_SUFFIX}" not in existing:
                raise NoIndexError(_no_index_message(settings))
            chunks = client.get_collection(name, embedding_function=None)
            files = client.get_collection(f"{name}{MANIFEST_SUFFIX}", embedding_function=None)
    except NoIndexError:
        raise
    except Exception as e:
        raise StoreError(
            f"cannot open collection {name!r} in {describe_location(settings)}: {e}; "
            "run `rag ingest --rebuild` to rebuild it"
        ) from e
    meta = chunks.metadata or {}
    if meta.get("embedder") != embedder.name or int(meta.get("dimension", -1)) != embedder.dimension:
        raise EmbedderMismatchError(
            f"the index was built with {meta.get('embedder')!r} ({meta.get('dimension')} dims) but "
            f"{embedder.name!r} ({embedder.dimension} dims) was asked to use it; use the same "
            "embedder or rebuild with `rag ingest --rebuild`"
        )
    return client, chunks, files


def _no_index_message(settings: Settings) -> str:
    if settings.collection == DEFAULT_COLLECTION:
        return f"no index yet in {describe_location(settings)}: run `rag ingest` first"
    name = settings.collection
    return (
        f"no collection {name!r} in {describe_location(settings)}: "
        f"run `rag ingest --collection {name} PATH` first (`rag collections list` shows the others)"
    )


def _collection_names(client) -> set[str]:
    return {c if isinstance(c, str) else c.name for c in client.list_collections()}


def list_collections(settings: Settings) -> list[CollectionSummary]:
    """Every collection of documents in the store of `settings`, by name.

    A collection counts when both its Chroma collections exist and it records its embedder
    (so other Chroma collections on a shared server are left out). Counting needs no embedder.

    Raises:
        StoreError: Chroma cannot be reached or read.
    """
    client = _make_client(settings)
    try:
        names = _collection_names(client)
        out = []
        for name in sorted(names):
            if f"{name}{MANIFEST_SUFFIX}" not in names:
                continue
            chunks = client.get_collection(name, embedding_function=None)
            meta = chunks.metadata or {}
            if "embedder" not in meta:
                continue
            files = client.get_collection(f"{name}{MANIFEST_SUFFIX}", embedding_function=None)
            has_state = bool(files.get(ids=[_STATE_ID], include=[])["ids"])
            out.append(
                CollectionSummary(
                    name, files.count() - has_state, chunks.count(), str(meta["embedder"]), int(meta["dimension"])
                )
            )
        return out
    except Exception as e:
        raise StoreError(f"cannot list the collections in {describe_location(settings)}: {e}") from e


def delete_collection(settings: Settings) -> None:
    """Delete the collection `settings.collection` (its chunks and its manifest).

    Unlike `Store.drop` it never removes the local folder: the other collections live there.

    Raises:
        NoIndexError: There is no such collection.
        StoreError: Chroma cannot be reached or written.
    """
    client = _make_client(settings)
    name = settings.collection
    try:
        existing = _collection_names(client) & {name, f"{name}{MANIFEST_SUFFIX}"}
    except Exception as e:
        raise StoreError(f"cannot list the collections in {describe_location(settings)}: {e}") from e
    if not existing:
        raise NoIndexError(f"no collection {name!r} in {describe_location(settings)}")
    # The manifest first: were this interrupted, a later ingest into the name re-embeds every
    # file instead of trusting records of chunks that are gone (and a re-run finishes it).
    for part in sorted(existing, key=lambda n: not n.endswith(MANIFEST_SUFFIX)):
        try:
            client.delete_collection(part)
        except Exception as e:
            raise StoreError(f"cannot delete collection {part!r} in {describe_location(settings)}: {e}") from e


def _drop(settings: Settings) -> None:
    """See `Store.drop`."""
    try:
        client = _make_client(settings)
    except StoreError:
        if settings.chroma_host:
            raise
        import shutil

        with _local_client_lock:
            _forget_local_system(settings.data_dir / "chroma", force=True)
            shutil.rmtree(settings.data_dir / "chroma", ignore_errors=True)
        return
    for name in (settings.collection, f"{settings.collection}{MANIFEST_SUFFIX}"):
        try:
            client.delete_collection(name)
        except Exception:  # absent is fine: the goal is "not there"
            pass


class _Manifest:
    """The sync manifest (one record per ingested file) and the index's shared state, in the
    `<collection>__files` collection: the half of `Store` that describes files, not chunks."""

    settings: Settings
    _chunks: Any
    _files: Any

    def _call(self, what: str, fn, *args, **kwargs):
        """`fn(*args, **kwargs)`, with any Chroma failure raised as a `StoreError`."""
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            raise StoreError(f"vector store failed to {what} ({describe_location(self.settings)}): {e}") from e

    def files(self) -> dict[str, FileRecord]:
        """The manifest: every ingested file by source path."""
        records: dict[str, FileRecord] = {}
        offset = 0
        while True:
            got = self._call("read the manifest", self._files.get, limit=_PAGE, offset=offset, include=["metadatas"])
            for rid, meta in zip(got["ids"], got["metadatas"]):
                if rid != _STATE_ID:
                    records[rid] = FileRecord(**{k: meta[k] for k in FileRecord.__dataclass_fields__ if k in meta})
            if len(got["ids"]) < _PAGE:
                return records
            offset += _PAGE

    def put_files(self, records: Sequence[FileRecord], texts: Sequence[str | None] | None = None) -> None:
        """Write manifest records (with the document text, when given, for display)."""
        if not records:
            return
        docs = [t or "" for t in texts] if texts is not None else None
        for i in range(0, len(records), _PAGE):  # Chroma caps the size of one request
            part = records[i : i + _PAGE]
            kwargs = {"documents": docs[i : i + _PAGE]} if docs is not None else {}
            self._call(
                "write the manifest",
                self._files.upsert,
                ids=[r.source for r in part],
                embeddings=[[0.0] for _ in part],
                metadatas=[{k: getattr(r, k) for k in FileRecord.__dataclass_fields__} for r in part],
                **kwargs,
            )

    def update_file_stats(self, records: Sequence[FileRecord]) -> None:
        """Update only `size`, `mtime_ns` and `checked_ns` of existing manifest records (a
        metadata merge, several times cheaper than rewriting them with `put_files`)."""
        self._merge_fields(records, ("size", "mtime_ns", "checked_ns"))

    def set_file_status(self, records: Sequence[FileRecord]) -> None:
        """Update only `status` and `ingested_at` of manifest records written by `put_files`
        (marking them "done" without rewriting their text)."""
        self._merge_fields(records, ("status", "ingested_at"))

    def _merge_fields(self, records: Sequence[FileRecord], fields: Sequence[str]) -> None:
        """Merge `fields` of `records` into their manifest records, a page at a time."""
        for i in range(0, len(records), _PAGE):
            part = records[i : i + _PAGE]
            self._call(
                "update the manifest",
                self._files.update,
                ids=[r.source for r in part],
                metadatas=[{f: getattr(r, f) for f in fields} for r in part],
            )

    def delete_file(self, source: str) -> None:
        """Delete a file's chunks, then its manifest record (in that order: never an orphan)."""
        self._call("delete chunks", self._chunks.delete, where={"source": source})
        self._call("delete from the manifest", self._files.delete, ids=[source])

    def document_text(self, source: str) -> str | None:
        """The stored text of an ingested document (offsets of its chunks refer to it)."""
        got = self._call("read a document", self._files.get, ids=[source], include=["documents"])
        docs = got.get("documents") or []
        return docs[0] if docs and docs[0] else None

    def state(self) -> dict:
        """The index's shared state: {"version": str, "updated_at": float, ...}."""
        got = self._call("read the index state", self._files.get, ids=[_STATE_ID], include=["metadatas"])
        if got["ids"]:
            return dict(got["metadatas"][0])
        return {"version": "", "updated_at": 0.0}

    def bump_version(self, **extra: object) -> str:
        """Mark the index as changed (BM25 indexes built at an older version are stale)."""
        version = uuid.uuid4().hex
        meta = {"version": version, "updated_at": time.time(), **extra}
        self._call("write the index state", self._files.upsert, ids=[_STATE_ID], embeddings=[[0.0]], metadatas=[meta])
        return version


class Store(_Manifest):
    """Chunks and the sync manifest in Chroma.

    Construct with `Store.open(settings, embedder, create=...)`.
    """

    def __init__(self, settings: Settings, embedder: Embedder, client, chunks, files) -> None:
        self.settings = settings
        self.embedder = embedder
        self._client = client
        self._chunks = chunks
        self._files = files

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder, *, create: bool = False) -> Store:
        """Open the index; create it when `create` is true.

        Raises:
            NoIndexError: The index does not exist and `create` is false.
            EmbedderMismatchError: The index was built with another embedder.
            StoreError: Chroma cannot be reached or opened.
        """
        client, chunks, files = _open_collections(settings, embedder, create)
        return cls(settings, embedder, client, chunks, files)

    @staticmethod
    def drop(settings: Settings) -> None:
        """Delete the index (both collections); for a local folder that Chroma cannot even
        open (corrupted), remove the folder itself."""
        _drop(settings)

    # ---- chunks ----------------------------------------------------------------------------

    def count(self) -> int:
        """Number of chunks in the index."""
        return int(self._call("count", self._chunks.count))

    def upsert_chunks(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        """Write chunks with their embeddings (idempotent: ids are content hashes)."""
        for i in range(0, len(chunks), _PAGE):
            part = chunks[i : i + _PAGE]
            self._call(
                "write chunks",
                self._chunks.upsert,
                ids=[c.id for c in part],
                documents=[c.text for c in part],
                embeddings=[list(e) for e in embeddings[i : i + _PAGE]],
                metadatas=[_chunk_metadata(c) for c in part],
            )

    def delete_chunks(self, ids: Iterable[str]) -> None:
        """Delete chunks by id."""
        ids = list(ids)
        for i in range(0, len(ids), _PAGE):
            self._call("delete chunks", self._chunks.delete, ids=ids[i : i + _PAGE])

    def chunk_ids(self, source: str) -> set[str]:
        """Ids of the chunks stored for one source file."""
        got = self._call("read chunk ids", self._chunks.get, where={"source": source}, include=[])
        return set(got["ids"])

    def chunk_ids_by_source(self, sources: Sequence[str]) -> dict[str, set[str]]:
        """Ids of the chunks stored for each of `sources` (one request per page of sources)."""
        out: dict[str, set[str]] = {s: set() for s in sources}
        sources = list(out)
        for i in range(0, len(sources), _PAGE // 4):
            part = sources[i : i + _PAGE // 4]
            where = {"source": part[0]} if len(part) == 1 else {"source": {"$in": part}}
            got = self._call("read chunk ids", self._chunks.get, where=where, include=["metadatas"])
            for rid, meta in zip(got["ids"], got["metadatas"]):
                out.setdefault(str(meta["source"]), set()).add(rid)
        return out

    def iter_chunks(self) -> Iterable[Chunk]:
        """Every chunk, page by page (for building the BM25 index)."""
        offset = 0
        while True:
            got = self._call(
                "read chunks", self._chunks.get, limit=_PAGE, offset=offset, include=["documents", "metadatas"]
            )
            for rid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                yield _chunk_from(rid, text, meta)
            if len(got["ids"]) < _PAGE:
                return
            offset += _PAGE

    def all_chunk_ids(self) -> list[str]:
        """The id of every chunk, page by page (ids only: no text, metadata or vector)."""
        ids: list[str] = []
        while True:
            got = self._call("read chunk ids", self._chunks.get, limit=_ID_PAGE, offset=len(ids), include=[])
            ids += got["ids"]
            if len(got["ids"]) < _ID_PAGE:
                return ids

    def get_chunks(self, ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order asked (missing ids are left out), `_PAGE` ids per request."""
        ids = list(ids)
        by_id: dict[str, Chunk] = {}
        for i in range(0, len(ids), _PAGE):
            got = self._call(
                "read chunks", self._chunks.get, ids=ids[i : i + _PAGE], include=["documents", "metadatas"]
            )
            by_id.update(
                (rid, _chunk_from(rid, t, m)) for rid, t, m in zip(got["ids"], got["documents"], got["metadatas"])
            )
        return [by_id[i] for i in ids if i in by_id]

    def query(
        self, embedding: Sequence[float], top_k: int, sources: Sequence[str] | None = None
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks to `embedding` as (chunk, similarity), best first."""
        where = None
        if sources:
            where = {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": list(sources)}}
        # No count() first: Chroma (1.x, local and server) returns fewer results when the
        # collection holds fewer than `top_k`, and none when it is empty.
        got = self._call(
            "query",
            self._chunks.query,
            query_embeddings=[list(embedding)],
            n_results=max(1, top_k),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        if not got["ids"] or not got["ids"][0]:
            return []
        return [
            (_chunk_from(rid, t, m), _similarity(d))
            for rid, t, m, d in zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])
        ]

    def info(self) -> dict:
        """What `rag status` prints."""
        files = self.files()
        return {
            "location": describe_location(self.settings),
            "collection": self.settings.collection,
            "embedder": self.embedder.name,
            "dimension": self.embedder.dimension,
            "files": len(files),
            "chunks": self.count(),
            "pending": sorted(s for s, r in files.items() if r.status != "done"),
            "last_sync": self.state().get("updated_at", 0.0),
            "sources": sorted(files),
        }


def _local_state_path(settings: Settings) -> Path:
    key = (settings.chroma_host and f"{settings.chroma_host}_{settings.chroma_port}") or "local"
    # The collection name is validated (`validate_collection_name`): a plain file name.
    return settings.data_dir / "cache" / f"{key}-{settings.collection}"


def local_state_dir(settings: Settings) -> Path:
    """Per-client cache folder (BM25 index, manifest copy, ingest lock) for this store location
    and collection: `data_dir/cache/<local or host_port>-<collection>/` (created when missing)."""
    path = _local_state_path(settings)
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_local_state(settings: Settings) -> None:
    """Delete this client's cache folder of `settings.collection` (after the collection is
    deleted; the caches are rebuilt from the store whenever needed)."""
    import shutil

    shutil.rmtree(_local_state_path(settings), ignore_errors=True)
