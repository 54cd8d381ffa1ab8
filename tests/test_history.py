"""The chat history store (`ui/history.py`) on real SQLite files in a temp folder."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from assistant.types import Answer, Chunk, Citation, Hit, SentenceTrace, Trace
from ui import history
from ui.history import ChatHistory, HistoryError, Turn


def make_answer(text: str = "He works at the institute [1].", *, page: int | None = 3) -> Answer:
    chunk = Chunk(
        id="c1",
        source="notes/a.pdf",
        text="Intro. He works at the institute.\nMore.",
        start=100,
        end=139,
        line_start=7,
        line_end=8,
        ordinal=2,
        title="A title of the notes",
        page=page,
    )
    citation = Citation(
        n=1,
        source="notes/a.pdf",
        start=107,
        end=133,
        lines=(7, 7),
        quote="He works at the institute.",
        chunk_id="c1",
        page=page,
    )
    sentence = SentenceTrace(
        text="He works at the institute.",
        kind="claim",
        kept=True,
        checks={"words": True, "model": False},
        reasons={"model": "said no"},
        support=(("notes/a.pdf", "He works at the institute."),),
        repaired=True,
        scores={"model": 0.25},
    )
    return Answer(
        text=text,
        citations=(citation,),
        hits=(Hit(chunk, 0.8, dense_score=0.7, lexical_score=None),),
        unsupported=("He likes tea.",),
        model="scripted",
        backend="local",
        question="Where does he work?",
        query="Where does he work?",
        timings={"retrieval": 0.01, "total": 1.5},
        tokens={"prompt": 100, "completion": 12},
        notices=("The question was shortened.",),
        repaired=1,
        trace=Trace(abstained_by=None, passages=("[1] Intro.",), draft=text, sentences=(sentence,)),
    )


def turn(question: str, created: float, **kw) -> Turn:
    return Turn(question=question, answer=make_answer(), collection="documents", created=created, **kw)


@pytest.fixture
def store(tmp_path: Path) -> ChatHistory:
    return ChatHistory(history.history_path(tmp_path / "data"))


# --------------------------------------------------------------------------- answers as JSON


def test_answer_round_trips_through_json_unchanged():
    for answer in (make_answer(), make_answer(page=None), Answer(text="The documents don't say.", abstained=True)):
        data = json.loads(json.dumps(history.answer_to_dict(answer)))
        assert history.answer_from_dict(data) == answer


def test_answer_from_dict_ignores_unknown_keys_and_fills_missing_ones():
    data = history.answer_to_dict(make_answer())
    data["from_the_future"] = 1
    data["citations"][0]["colour"] = "red"
    del data["repaired"]
    answer = history.answer_from_dict(data)
    assert answer.repaired == 0 and answer.citations == make_answer().citations


# --------------------------------------------------------------------------- the store


def test_create_append_list_and_load(store):
    first = store.create_chat("Empty chat", "documents")
    second = history.new_chat_id()
    store.append_turn(second, turn("Where does he work?", 1000.0, notices=("fallback used",), first_sentence=0.4))
    store.append_turn(second, turn("And since when?", 1001.0))
    assert [c.id for c in store.list_chats()] == [first, second]  # the empty chat was created just now
    chat = store.load_chat(second)
    assert chat is not None and chat.summary.title == "Where does he work?"
    assert [t.question for t in chat.turns] == ["Where does he work?", "And since when?"]
    assert chat.turns[0].answer == make_answer()
    assert chat.turns[0].notices == ("fallback used",) and chat.turns[0].first_sentence == 0.4
    assert store.load_chat(first).turns == ()
    assert store.load_chat("no-such-chat") is None


def test_a_loaded_turn_equals_the_saved_one(store):
    saved = turn("Where does he work?", 1000.0, notices=("n",), first_sentence=0.25)
    store.append_turn("chat-1", saved)
    (loaded,) = store.load_chat("chat-1").turns
    assert loaded == saved


def test_chats_are_listed_most_recently_active_first(store):
    store.append_turn("old", turn("old question", 100.0))
    store.append_turn("new", turn("new question", 200.0))
    assert [c.title for c in store.list_chats()] == ["new question", "old question"]
    store.append_turn("old", turn("old follow-up", 300.0))
    assert [c.id for c in store.list_chats()] == ["old", "new"]
    assert store.list_chats()[0].title == "old question"  # titled by the first question


def test_rename_and_delete(store):
    store.append_turn("a", turn("first", 100.0))
    store.append_turn("b", turn("second", 200.0))
    store.rename_chat("a", "  Renamed   chat ")
    assert {c.id: c.title for c in store.list_chats()} == {"a": "Renamed chat", "b": "second"}
    with pytest.raises(ValueError):
        store.rename_chat("a", "   ")
    store.delete_chat("a")
    assert [c.id for c in store.list_chats()] == ["b"]
    assert store.load_chat("a") is None
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM turns WHERE chat_id = 'a'").fetchone()[0] == 0
    store.delete_chat("a")  # deleting twice is harmless


def test_export_markdown_has_answers_numbered_citations_and_quotes(store):
    store.append_turn("a", turn("Where does he work?", 100.0, notices=("The local model is unavailable.",)))
    md = store.export_markdown("a")
    assert md.startswith("# Where does he work?\n")
    assert "## 1. Where does he work?" in md
    assert "He works at the institute [1]." in md
    assert "1. `notes/a.pdf` (line 7, page 3)" in md
    assert "   > He works at the institute." in md
    assert "> **Note:** The local model is unavailable." in md
    assert "He likes tea" not in md  # removed sentences are not exported
    assert store.export_markdown("missing") is None


def test_export_names_a_deck_s_pages_slides_as_the_ui_does(store):
    answer = make_answer()
    (c,) = answer.citations
    deck = dataclasses.replace(c, source="talks/review.pptx", page=4)
    store.append_turn("d", Turn("What is on slide four?", dataclasses.replace(answer, citations=(deck,)), "documents"))
    assert "1. `talks/review.pptx` (line 7, slide 4)" in store.export_markdown("d")


def test_the_file_carries_the_schema_version(store):
    store.prepare()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == history.APPLICATION_ID


def test_history_survives_a_new_process_object(store):
    store.append_turn("a", turn("kept?", 100.0))
    again = ChatHistory(store.path)
    assert again.prepare() is None
    assert [t.question for t in again.load_chat("a").turns] == ["kept?"]


# --------------------------------------------------------------------------- damaged or foreign files


def kept_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{history.FILENAME}.damaged-*"))


def test_a_file_that_is_not_sqlite_is_kept_and_a_fresh_history_starts(tmp_path):
    path = history.history_path(tmp_path)
    junk = b"this is not a database, just some bytes " * 100
    path.write_bytes(junk)
    store = ChatHistory(path)
    recovery = store.prepare()
    assert recovery is not None and "not an SQLite database" in recovery.reason
    (kept,) = kept_files(tmp_path)
    assert recovery.kept == kept and kept.read_bytes() == junk  # never deleted
    assert store.list_chats() == []
    store.append_turn("a", turn("works again?", 1.0))
    assert [c.title for c in ChatHistory(path).list_chats()] == ["works again?"]


def test_a_foreign_sqlite_file_is_kept_and_a_fresh_history_starts(tmp_path):
    path = history.history_path(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE chats (x TEXT)")
        conn.execute("INSERT INTO chats VALUES ('someone else''s data')")
    store = ChatHistory(path)
    recovery = store.prepare()
    assert recovery is not None and "without docchat's chat tables" in recovery.reason
    (kept,) = kept_files(tmp_path)
    with sqlite3.connect(kept) as conn:
        assert conn.execute("SELECT x FROM chats").fetchall() == [("someone else's data",)]
    assert store.list_chats() == []


def test_a_history_of_another_version_is_kept(tmp_path, store):
    store.append_turn("a", turn("q", 1.0))
    with sqlite3.connect(store.path) as conn:
        conn.execute("PRAGMA user_version = 99")
    recovery = ChatHistory(store.path).prepare()
    assert recovery is not None and "another version (99" in recovery.reason
    assert len(kept_files(store.path.parent)) == 1


def test_an_empty_file_is_simply_used(tmp_path):
    path = history.history_path(tmp_path)
    path.write_bytes(b"")
    store = ChatHistory(path)
    assert store.prepare() is None
    assert kept_files(tmp_path) == []


def test_an_unwritable_folder_is_a_history_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(HistoryError):
        ChatHistory(blocker / "sub" / history.FILENAME).list_chats()


def test_a_file_damaged_while_in_use_is_kept_and_the_answer_goes_to_a_fresh_history(store):
    store.append_turn("a", turn("before", 1.0))
    store.path.write_bytes(b"overwritten by something else " * 200)
    store.append_turn("b", turn("after", 2.0))  # checked again, moved aside, retried
    assert [c.title for c in store.list_chats()] == ["after"]
    assert store.recovery is not None and store.recovery.kept.read_bytes().startswith(b"overwritten")


def test_a_history_removed_while_in_use_is_created_again(store):
    store.append_turn("a", turn("before", 1.0))
    store.path.unlink()
    assert store.list_chats() == []
    store.append_turn("b", turn("after", 2.0))
    assert [c.id for c in store.list_chats()] == ["b"] and kept_files(store.path.parent) == []


def test_a_locked_file_is_an_error_not_a_damaged_file(store):
    store.append_turn("a", turn("q", 1.0))
    busy = ChatHistory(store.path, timeout=0.1)
    assert busy.prepare() is None
    with closing(sqlite3.connect(store.path, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(HistoryError, match="locked"):
            ChatHistory(store.path, timeout=0.1).prepare()  # the first check of the file
        with pytest.raises(HistoryError, match="locked"):
            busy.append_turn("a", turn("gives up", 2.0))
        holder.execute("ROLLBACK")
    assert kept_files(store.path.parent) == []
    busy.append_turn("a", turn("then works", 3.0))
    assert [t.question for t in busy.load_chat("a").turns] == ["q", "then works"]


# --------------------------------------------------------------------------- concurrency


def test_two_threads_writing_two_chats_do_not_mix(tmp_path):
    path = history.history_path(tmp_path)
    errors: list[BaseException] = []

    def write(chat_id: str, store: ChatHistory) -> None:
        try:
            for i in range(40):
                store.append_turn(chat_id, turn(f"{chat_id} question {i}", 1000.0 + i))
        except BaseException as e:
            errors.append(e)

    shared = ChatHistory(path)
    threads = [
        threading.Thread(target=write, args=("left", shared)),
        threading.Thread(target=write, args=("right", shared)),
        threading.Thread(target=write, args=("other", ChatHistory(path))),  # another "process"
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for chat_id in ("left", "right", "other"):
        chat = shared.load_chat(chat_id)
        assert [t.question for t in chat.turns] == [f"{chat_id} question {i}" for i in range(40)]
    assert sorted(c.id for c in shared.list_chats()) == ["left", "other", "right"]
