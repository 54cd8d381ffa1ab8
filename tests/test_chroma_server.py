"""The store against a real Chroma server (`chroma run` on 127.0.0.1), with two clients.

Client A ingests (real MiniLM), re-syncs, changes a file and asks; client B uses another data
folder (so its own BM25 cache) against the same server, sees the same answer, and rebuilds its
BM25 index once A ingests more. Separate collections on the server are listed, answered from
and deleted one at a time (hash embedder). The server is always stopped, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SEEDS

from assistant import ask, list_collections, status
from assistant.errors import InvalidCollectionNameError, NoIndexError, StoreError
from assistant.retrieval.embedder import HashEmbedder, MiniLMEmbedder
from assistant.retrieval.lexical import refresh_lexical_index
from assistant.retrieval.store import Store, local_state_dir
from assistant.settings import Settings
from ingest import delete_collection, ingest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chroma_command() -> list[str]:
    """The `chroma` CLI of this venv (falls back to PATH)."""
    local = Path(sys.executable).parent / "chroma"
    return [str(local)] if local.exists() else [shutil.which("chroma") or "chroma"]


@contextlib.contextmanager
def start_chroma_server(path: Path, *, startup_timeout: float = 60.0) -> Iterator[tuple[str, int]]:
    """Run `chroma run --path PATH --host 127.0.0.1 --port P` until the block exits.

    Waits for `/api/v2/heartbeat`, always terminates the server afterwards, and puts the tail
    of its log in the error if it does not come up.

    Yields:
        (host, port).
    """
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="chroma-server-", suffix=".log")[1])
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*chroma_command(), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"chroma run exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2) as r:
                    if r.status == 200 and json.load(r):
                        break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"chroma run did not answer within {startup_timeout:g} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        with contextlib.suppress(OSError):
            log.unlink()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory) -> Iterator[tuple[str, int]]:
    with start_chroma_server(tmp_path_factory.mktemp("chroma-server")) as address:
        yield address


QUESTION = "Which professor at the Hankuk University of Foreign Studies explained South Korea's strong reaction?"
ADDED_FACT = "The Jeju summit on drone exports was chaired by admiral Park Ha-neul of the navy."
ADDED_QUESTION = "Who chaired the Jeju summit on drone exports?"
MORE_FACT = "The Ulsan shipyard agreed to build nine icebreakers for the Norwegian coast guard."
MORE_QUESTION = "How many icebreakers will the Ulsan shipyard build for the Norwegian coast guard?"
KEEPER_FACT = "The lighthouse keeper of Vardo is named Ingrid Solberg."
KEEPER_QUESTION = "Who is the lighthouse keeper of Vardo?"


def _answer_key(answer) -> tuple:
    return answer.text, tuple((c.source, c.start, c.end) for c in answer.citations)


@pytest.mark.slow
def test_two_clients_share_one_chroma_server(chroma_server, tmp_path: Path) -> None:
    host, port = chroma_server
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    for f in docs.iterdir():
        f.chmod(0o644)
    a = Settings(data_dir=tmp_path / "client-a", chroma_host=host, chroma_port=port, backend="extractive")
    b = Settings(data_dir=tmp_path / "client-b", chroma_host=host, chroma_port=port, backend="extractive")

    with pytest.raises(NoIndexError):
        status(settings=b)

    first = ingest([docs], settings=a)
    assert (first.added, first.files) == (5, 5) and first.embedded == first.chunks > 20
    assert first.location == f"chroma server http://{host}:{port}"

    again = ingest([docs], settings=a)
    assert (again.unchanged, again.embedded, again.added, again.updated) == (5, 0, 0, 0)

    changed = docs / "003_e947e4c43ee9cbf7.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + f"\n{ADDED_FACT}\n", encoding="utf-8")
    third = ingest([docs], settings=a)
    assert (third.updated, third.unchanged) == (1, 4)
    assert 0 < third.embedded < first.embedded

    info = status(settings=a)
    assert info["files"] == 5 and info["chunks"] == third.chunks and not info["pending"]
    assert info["location"].startswith("chroma server")

    seed_answer = ask(QUESTION, settings=a)
    assert "Richey" in seed_answer.text
    assert seed_answer.citations[0].source == "000_ef01f84a8e898d1e.txt"
    added_answer = ask(ADDED_QUESTION, settings=a)
    assert "Park Ha-neul" in added_answer.text
    assert added_answer.citations[0].source == changed.name

    # Client B: no ingest of its own, its own BM25 cache, the same answers.
    assert status(settings=b)["chunks"] == third.chunks
    assert _answer_key(ask(QUESTION, settings=b)) == _answer_key(seed_answer)
    assert _answer_key(ask(ADDED_QUESTION, settings=b)) == _answer_key(added_answer)
    cache_b = local_state_dir(b) / "bm25.pkl"
    assert cache_b.exists() and cache_b != local_state_dir(a) / "bm25.pkl"
    store_b = Store.open(b, MiniLMEmbedder())
    built_at = refresh_lexical_index(store_b).version
    assert built_at == store_b.state()["version"]

    # A ingests more: B notices the new version and rebuilds its BM25 index once.
    (docs / "more.txt").write_text(f"Shipyards\n\n{MORE_FACT}\n", encoding="utf-8")
    fourth = ingest([docs], settings=a)
    assert (fourth.added, fourth.unchanged) == (1, 5)
    stale_mtime = cache_b.stat().st_mtime_ns
    more_answer = ask(MORE_QUESTION, settings=b)
    assert "nine icebreakers" in more_answer.text and more_answer.citations[0].source == "more.txt"
    index_b = refresh_lexical_index(store_b)
    assert index_b.version == store_b.state()["version"] != built_at
    assert cache_b.stat().st_mtime_ns != stale_mtime  # rebuilt and saved by client B
    assert any(c.source == "more.txt" for c, _ in index_b.search("Ulsan icebreakers", 3))


def _server_collections(host: str, port: int) -> set[str]:
    import chromadb

    client = chromadb.HttpClient(host=host, port=port)
    return {c if isinstance(c, str) else c.name for c in client.list_collections()}


@pytest.mark.slow
def test_collections_on_a_chroma_server(chroma_server, tmp_path: Path) -> None:
    """Two collections side by side on one server: each answers from its own documents, has
    its own cache folder per client, and is deleted alone; a bad name touches nothing."""
    host, port = chroma_server
    emb = HashEmbedder(64)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keeper.txt").write_text(f"Lighthouses\n\n{KEEPER_FACT}\n", encoding="utf-8")
    base = Settings(data_dir=tmp_path / "client", chroma_host=host, chroma_port=port, backend="extractive")
    seeds = base.replace(collection="srv-seeds")
    lights = base.replace(collection="srv.lights")
    ingest([SEEDS], settings=seeds, embedder=emb)
    ingest([notes], settings=lights, embedder=emb)

    listed = {c.name: c for c in list_collections(settings=base)}
    assert (listed["srv-seeds"].files, listed["srv.lights"].files, listed["srv.lights"].chunks) == (5, 1, 1)
    assert listed["srv-seeds"].chunks == status(settings=seeds, embedder=emb)["chunks"]

    answer = ask(KEEPER_QUESTION, settings=lights, embedder=emb)
    assert "Ingrid Solberg" in answer.text and {c.source for c in answer.citations} == {"keeper.txt"}
    other = ask(KEEPER_QUESTION, settings=seeds, embedder=emb)
    assert all(h.chunk.source != "keeper.txt" for h in other.hits) and "Ingrid" not in other.text
    for cfg in (seeds, lights):
        folder = local_state_dir(cfg)
        assert folder.name == f"{host}_{port}-{cfg.collection}" and (folder / "bm25.pkl").is_file()

    before = _server_collections(host, port)
    with pytest.raises(InvalidCollectionNameError):
        ingest([notes], settings=base.replace(collection="../x"), embedder=emb)
    with pytest.raises(InvalidCollectionNameError):
        Settings(data_dir=tmp_path / "bad", chroma_host=host, chroma_port=port, collection="a/b")
    assert _server_collections(host, port) == before and not (tmp_path / "bad").exists()

    delete_collection(settings=lights)
    after = _server_collections(host, port)
    assert {"srv.lights", "srv.lights__files"} & after == set() and {"srv-seeds", "srv-seeds__files"} <= after
    assert "srv.lights" not in {c.name for c in list_collections(settings=base)}
    assert not local_state_dir(seeds).parent.joinpath(f"{host}_{port}-srv.lights").exists()
    with pytest.raises(NoIndexError, match=r"no collection 'srv\.lights'"):
        ask(KEEPER_QUESTION, settings=lights, embedder=emb)
    assert ask(KEEPER_QUESTION, settings=seeds, embedder=emb).text == other.text


def test_server_down_is_a_clear_store_error_quickly(tmp_path: Path) -> None:
    import chromadb  # noqa: F401 - import time is not what is measured

    settings = Settings(data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port(), backend="extractive")
    started = time.perf_counter()
    with pytest.raises(StoreError, match=r"chroma server http://127\.0\.0\.1:\d+.*chroma run"):
        Store.open(settings, MiniLMEmbedder())
    with pytest.raises(StoreError, match="chroma run"):
        ask(QUESTION, settings=settings)
    with pytest.raises(StoreError, match="chroma run"):
        ingest([SEEDS], settings=settings)
    assert time.perf_counter() - started < 10.0
