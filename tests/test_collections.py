"""Several collections of documents side by side: each its own Chroma collections, BM25 cache
and manifest copy; names checked by one function before anything is created.

The index is real Chroma in a temp folder, built with the hash embedder; the CLI runs in
process with the hash embedder in place of MiniLM (only the plumbing around it is tested here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SEEDS

import assistant.api
import ingest.sync as ingest_sync
from assistant import (
    DEFAULT_COLLECTION,
    InvalidCollectionNameError,
    NoIndexError,
    UserError,
    ask,
    list_collections,
    status,
    validate_collection_name,
)
from assistant.retrieval.embedder import HashEmbedder
from assistant.retrieval.store import local_state_dir
from assistant.settings import Settings
from ingest import create_collection, delete_collection, ingest
from ui import cli

KEEPER = "The lighthouse keeper of Vardo is named Ingrid Solberg. She has kept the lamp since 1998.\n"
KEEPER_QUESTION = "Who is the lighthouse keeper of Vardo?"

BAD_NAMES = [
    "",
    "   ",
    "ab",
    "x" * 64,
    "x" * 10_000,
    "../x",
    "..",
    "a/b",
    "a\\b",
    "/etc",
    "a b",
    "a..b",
    "-abc",
    "abc_",
    ".hidden",
    "caf\u00e9s",
    "a:b",
    "192.168.1.1",
    "notes__files",
    "nul\x00byte",
]


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keeper.txt").write_text(KEEPER, encoding="utf-8")
    return folder


@pytest.fixture
def two_collections(settings: Settings, hash_embedder, notes: Path) -> Settings:
    """The seeds in the default collection, `notes/` in the collection "notes"."""
    ingest([SEEDS], settings=settings, embedder=hash_embedder)
    ingest([notes], settings=settings.replace(collection="notes"), embedder=hash_embedder)
    return settings


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["abc", "documents", "My-Docs_2.v1", "a" * 63, "eval_seeds", "x1.y"])
def test_good_names_pass(name: str) -> None:
    assert validate_collection_name(name) == name
    assert Settings(collection=name).collection == name


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_names_are_a_typed_error_everywhere_and_create_nothing(name: str, tmp_path: Path, notes: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(InvalidCollectionNameError) as raised:
        validate_collection_name(name)
    assert isinstance(raised.value, UserError) and isinstance(raised.value, ValueError)
    message = str(raised.value)
    assert "collection name" in message and len(message) < 300
    with pytest.raises(InvalidCollectionNameError):
        Settings(data_dir=data, collection=name)
    with pytest.raises(InvalidCollectionNameError):
        Settings(data_dir=data).replace(collection=name)
    if name:  # an empty RAG_COLLECTION means "the default"
        with pytest.raises(InvalidCollectionNameError):
            Settings.from_env({"RAG_DATA_DIR": str(data), "RAG_COLLECTION": name})
    assert not data.exists()


def test_default_collection_is_unchanged() -> None:
    assert DEFAULT_COLLECTION == "documents" == Settings().collection == Settings.from_env({}).collection


# --------------------------------------------------------------------------- library


def test_collections_are_separate_indexes(two_collections: Settings, hash_embedder) -> None:
    notes = two_collections.replace(collection="notes")
    answer = ask(KEEPER_QUESTION, settings=notes, embedder=hash_embedder)
    assert not answer.abstained and "Ingrid Solberg" in answer.text
    assert {c.source for c in answer.citations} == {"keeper.txt"}
    assert {h.chunk.source for h in answer.hits} == {"keeper.txt"}

    default = ask(KEEPER_QUESTION, settings=two_collections, embedder=hash_embedder)
    assert all(h.chunk.source != "keeper.txt" for h in default.hits)
    assert "Ingrid" not in default.text

    assert status(settings=notes, embedder=hash_embedder)["sources"] == ["keeper.txt"]
    assert len(status(settings=two_collections, embedder=hash_embedder)["sources"]) == 5

    # Each collection has its own cache folder: BM25 index and manifest copy.
    for cfg, key in ((two_collections, "local-documents"), (notes, "local-notes")):
        folder = local_state_dir(cfg)
        assert folder == cfg.data_dir / "cache" / key
        assert (folder / "bm25.pkl").is_file() and (folder / "manifest.pkl").is_file()


def test_list_collections_counts_files_and_chunks(two_collections: Settings, hash_embedder) -> None:
    listed = {c.name: c for c in list_collections(settings=two_collections)}
    assert sorted(listed) == ["documents", "notes"]
    assert (listed["notes"].files, listed["notes"].chunks) == (1, 1)
    assert listed["documents"].files == 5
    assert listed["documents"].chunks == status(settings=two_collections, embedder=hash_embedder)["chunks"]
    assert listed["notes"].embedder == "hash-64" and listed["notes"].dimension == 64


def test_an_empty_store_has_no_collections(settings: Settings) -> None:
    assert list_collections(settings=settings) == []


def test_create_collection_makes_an_empty_listed_collection(settings: Settings, hash_embedder) -> None:
    fresh = settings.replace(collection="fresh")
    create_collection(settings=fresh, embedder=hash_embedder)
    create_collection(settings=fresh, embedder=hash_embedder)  # a no-op the second time
    (summary,) = list_collections(settings=settings)
    assert (summary.name, summary.files, summary.chunks) == ("fresh", 0, 0)
    assert status(settings=fresh, embedder=hash_embedder)["files"] == 0


def test_delete_collection_leaves_the_others(two_collections: Settings, hash_embedder, notes: Path) -> None:
    cfg = two_collections.replace(collection="notes")
    before = ask("Where does Hyun Seung-soo work?", settings=two_collections, embedder=hash_embedder)
    delete_collection(settings=cfg)
    assert [c.name for c in list_collections(settings=two_collections)] == ["documents"]
    assert not (two_collections.data_dir / "cache" / "local-notes").exists()
    with pytest.raises(NoIndexError, match=r"no collection 'notes'.*rag ingest --collection notes"):
        ask(KEEPER_QUESTION, settings=cfg, embedder=hash_embedder)
    after = ask("Where does Hyun Seung-soo work?", settings=two_collections, embedder=hash_embedder)
    assert (after.text, after.citations) == (before.text, before.citations)
    assert (notes / "keeper.txt").is_file()  # the files are not touched
    with pytest.raises(NoIndexError, match="no collection 'notes'"):
        delete_collection(settings=cfg)
    # The name can be used again: a fresh index, every file embedded anew.
    again = ingest([notes], settings=cfg, embedder=hash_embedder)
    assert (again.added, again.embedded) == (1, 1)


def test_existing_data_folder_keeps_working(settings: Settings, hash_embedder) -> None:
    """A data folder made before collections (default collection, `cache/local-documents`) is
    the default collection as it is: nothing to migrate, nothing re-embedded."""
    ingest([SEEDS], settings=settings, embedder=hash_embedder)
    same = Settings.from_env({"RAG_DATA_DIR": str(settings.data_dir)})
    again = ingest([SEEDS], settings=same, embedder=hash_embedder)
    assert (again.unchanged, again.embedded) == (5, 0)
    assert sorted(p.name for p in (settings.data_dir / "cache").iterdir()) == ["local-documents"]


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def run_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys):
    """`rag ARGS` in process on the test's data folder, with the hash embedder."""
    monkeypatch.setattr(assistant.api, "MiniLMEmbedder", lambda: HashEmbedder(64))
    monkeypatch.setattr(ingest_sync, "MiniLMEmbedder", lambda: HashEmbedder(64))
    for name in ("RAG_COLLECTION", "RAG_CHROMA_HOST", "RAG_TOP_K", "RAG_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("RAG_LLM", "extractive")

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_cli_collections_round_trip(run_cli, notes: Path) -> None:
    code, out, _ = run_cli("ingest", str(SEEDS))
    assert code == 0 and "(collection documents)" in out
    code, out, _ = run_cli("ingest", "--collection", "notes", str(notes))
    assert code == 0 and "Indexed 1 files" in out and "(collection notes)" in out

    code, out, err = run_cli("ask", "--collection", "notes", KEEPER_QUESTION)
    assert code == 0 and "Ingrid Solberg" in out and "keeper.txt" in out, err
    code, out, _ = run_cli("ask", KEEPER_QUESTION)
    assert code == 0 and "keeper.txt" not in out

    code, out, _ = run_cli("status")
    assert code == 0 and "(collection documents)" in out
    assert "* documents" in out and "notes      1 files, 1 chunks (hash-64)" in out
    code, out, _ = run_cli("status", "--json")
    listed = {c["name"]: c for c in json.loads(out)["collections"]}
    assert listed["notes"]["files"] == 1 and listed["documents"]["files"] == 5

    code, out, _ = run_cli("collections", "list", "--json")
    assert [c["name"] for c in json.loads(out)] == ["documents", "notes"]
    code, out, _ = run_cli("collections", "delete", "notes")
    assert code == 0 and "Deleted collection 'notes'" in out
    code, out, _ = run_cli("collections", "list")
    assert code == 0 and "documents" in out and "notes" not in out
    code, _, err = run_cli("collections", "delete", "notes")
    assert code == 2 and err.startswith("error: no collection 'notes'")


def test_cli_status_of_a_missing_collection_lists_the_others(run_cli, notes: Path) -> None:
    assert run_cli("ingest", "--collection", "notes", str(notes))[0] == 0
    code, out, _ = run_cli("status")
    assert code == 2 and "collection 'documents' does not exist" in out and "notes" in out
    code, out, _ = run_cli("collections", "list")
    assert code == 0 and "notes" in out


@pytest.mark.parametrize(
    "args",
    [
        ("ingest", "--collection", "../x"),
        ("ask", "--collection", "a/b", "hello?"),
        ("status", "--collection", ""),
        ("collections", "delete", "../x"),
        ("collections", "delete", "x" * 100),
    ],
    ids=lambda a: " ".join(a)[:40],
)
def test_cli_bad_name_is_one_error_line_and_creates_nothing(run_cli, args, notes: Path, settings: Settings) -> None:
    code, out, err = run_cli(*args, *([str(notes)] if args[0] == "ingest" else []))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "collection name" in err and err.count("\n") == 1
    assert not settings.data_dir.exists() and not (notes.parent / "x").exists()
