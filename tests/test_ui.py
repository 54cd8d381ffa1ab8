"""The Streamlit app driven by `streamlit.testing.v1.AppTest` (no browser).

The app reads its settings from the environment (RAG_DATA_DIR points at a temp folder) and
takes a hash embedder and a scripted chat model through the session-state hooks documented
in `ui/state.py`; the index is real Chroma in the temp folder, built with that embedder.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from assistant import Answer, Settings, status
from assistant.generation.llm import ScriptedChat
from assistant.generation.prompts import render
from assistant.retrieval.embedder import HashEmbedder
from ingest import ingest
from ui import chats, files, history, markup, reports
from ui.state import CHAT_MODEL_KEY, COLLECTION_KEY, EMBEDDER_KEY

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "ui" / "app.py"
SEEDS = ROOT / "seeds"
HYUN_FILE = "000_ef01f84a8e898d1e.txt"
HYUN_QUESTION = "Where does Hyun Seung-soo work?"
HYUN_REPLY = (
    "Hyun Seung-soo is a researcher at the Korea Institute for National Unification [1]. "
    "He also breeds prize-winning alpacas on Jeju Island [2]."
)
TIMEOUT = 90


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder the app finds through RAG_DATA_DIR (and no stray endpoint)."""
    data = tmp_path / "data"
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.setenv("RAG_LLM", "local-small")
    for name in ("OPENAI_BASE_URL", "RAG_MODEL", "RAG_TOP_K", "RAG_CHROMA_HOST", "RAG_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    return data


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings.from_env()


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder(64)


@pytest.fixture
def seeded(settings: Settings, embedder: HashEmbedder) -> Settings:
    """The bundled seed articles indexed with the hash embedder (ingest only reads them)."""
    ingest([SEEDS], settings=settings, embedder=embedder)
    return settings


_CHECK_QUESTION = render("check", passages="", question="", answer="\x00").split("\x00")[-1]


def is_check(messages: list[dict]) -> bool:
    """Is this call the model check of one answer sentence (not a question)?"""
    return messages[-1]["content"].endswith(_CHECK_QUESTION)


def scripted(*replies: str) -> ScriptedChat:
    """A scripted model: each question gets the next of `replies`, each model check "yes"."""
    queue = list(replies)
    return ScriptedChat([lambda messages: "yes" if is_check(messages) else queue.pop(0)] * 50)


def answer_calls(model: ScriptedChat) -> list[list[dict]]:
    return [c for c in model.calls if not is_check(c)]


def make_app(embedder: HashEmbedder, model: ScriptedChat | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[EMBEDDER_KEY] = embedder
    if model is not None:
        at.session_state[CHAT_MODEL_KEY] = model
    return at


def ask(at: AppTest, question: str) -> AppTest:
    return at.chat_input[0].set_value(question).run()


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return matches[0]


def html_bodies(at: AppTest) -> list[str]:
    return [h.value for h in at.html]


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def last_answer(at: AppTest):
    return [m for m in at.session_state["messages"] if m["role"] == "assistant"][-1]


# --------------------------------------------------------------------------- chat


def test_chat_round_trip_streams_a_verified_answer_with_sources(seeded, embedder):
    model = scripted(HYUN_REPLY)
    at = make_app(embedder, model).run()
    no_exceptions(at)
    ask(at, HYUN_QUESTION)
    no_exceptions(at)

    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    (question,) = model.calls
    assert HYUN_QUESTION in question[-1]["content"]
    bodies = html_bodies(at)
    answer_html = next(b for b in bodies if 'class="dc-answer"' in b)
    assert "Korea Institute for National Unification" in answer_html
    assert '<span class="dc-cite" title="000_ef01f84a8e898d1e.txt">[1]</span>' in answer_html
    assert "alpacas" not in answer_html  # the unsupported sentence was removed...
    assert markup.removed_label(1) in [c.value for c in at.caption]  # ...and that is said
    removed = [e for e in at.expander if e.label == "Show what was removed"]
    assert removed and "alpacas" in removed[0].text[0].value
    assert removed[0].caption and ": " in removed[0].caption[0].value  # the check that removed it, and why

    cards = [b for b in bodies if 'class="dc-src"' in b]
    assert len(cards) == 1, "only cited sources are listed"
    assert HYUN_FILE in cards[0] and "line 63" in cards[0]
    assert (
        '<mark class="dc-mark">Hyun Seung-soo, a researcher specializing in Russia at the Korea '
        "Institute for National Unification"
    ) in cards[0]

    facts = [c.value for c in at.caption if "passages cited" in c.value]
    assert facts and facts[0].startswith("scripted \u00b7 retrieval")
    msg = last_answer(at)
    assert msg["first_sentence"] is not None and msg["first_sentence"] <= msg["answer"].timings["total"]


def test_with_the_model_check_on_each_sentence_is_checked_before_it_is_shown(seeded, embedder, monkeypatch):
    monkeypatch.setenv("RAG_MODEL_CHECK", "1")
    model = scripted(HYUN_REPLY)
    at = make_app(embedder, model).run()
    ask(at, HYUN_QUESTION)
    no_exceptions(at)
    question, *checks = model.calls
    assert not is_check(question) and len(checks) == 2 and all(is_check(c) for c in checks)
    answer = last_answer(at)["answer"]
    assert "Korea Institute for National Unification" in answer.text
    assert answer.trace.sentences[0].checks["model"] is True


def test_follow_up_gets_the_conversation_and_new_chat_clears_it(seeded, embedder):
    model = scripted(HYUN_REPLY, "He works at the Korea Institute for National Unification [1].")
    at = make_app(embedder, model).run()
    ask(at, HYUN_QUESTION)
    ask(at, "What about his employer?")
    no_exceptions(at)
    assert len(at.chat_message) == 4
    follow_up = last_answer(at)["answer"]
    # The follow-up was searched together with the earlier question it leans on.
    assert "Hyun Seung-soo" in follow_up.query
    assert "Hyun Seung-soo" in answer_calls(model)[1][-1]["content"]

    button(at, "New chat").click().run()
    no_exceptions(at)
    assert len(at.chat_message) == 0
    assert at.session_state["messages"] == []


def test_two_sessions_do_not_share_a_conversation(seeded, embedder):
    first = make_app(embedder, scripted(HYUN_REPLY)).run()
    ask(first, HYUN_QUESTION)
    second = make_app(embedder, scripted()).run()
    assert len(first.chat_message) == 2
    assert len(second.chat_message) == 0


def test_abstention_is_shown_as_such(seeded, embedder):
    model = scripted()  # must not be called: nothing relevant is retrieved
    at = make_app(embedder, model).run()
    ask(at, "What is the boiling point of liquid nitrogen on Mars?")
    no_exceptions(at)
    assert model.calls == []
    infos = [i.value for i in at.info]
    assert any("The documents don't say" in v for v in infos), infos
    assert not [b for b in html_bodies(at) if 'class="dc-src"' in b]
    assert any("none answers" in c.value for c in at.caption)


def test_open_document_shows_it_with_the_sentence_marked(seeded, embedder):
    at = make_app(embedder, scripted(HYUN_REPLY)).run()
    ask(at, HYUN_QUESTION)
    button(at, "Open in document").click().run()
    no_exceptions(at)
    doc = [b for b in html_bodies(at) if 'class="dc-doc"' in b]
    assert len(doc) == 1
    assert '<mark class="dc-mark" id="dc-mark-1">Hyun Seung-soo, a researcher' in doc[0]
    assert doc[0].count("<mark") == 1
    assert "close\nclose" in doc[0]  # the whole document, not just the passage
    assert any("scrollIntoView" in b and "dc-mark-1" in b for b in html_bodies(at))


def test_document_and_model_text_are_shown_as_text_never_as_markup(settings, embedder, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "markup.txt").write_text(
        "Release notes\n\nThe launch code word is <b>BLUEBIRD</b> and <script>alert('pwned')</script> "
        "appears verbatim in the launch manual.\n\nNothing else happened that day.\n",
        encoding="utf-8",
    )
    ingest([docs], settings=settings, embedder=embedder)
    at = make_app(embedder).run()
    at.sidebar.selectbox(key="opt_backend").set_value("extractive").run()
    ask(at, "What is the launch code word in the launch manual?")
    no_exceptions(at)
    bodies = html_bodies(at)
    answer_html = next(b for b in bodies if 'class="dc-answer"' in b)
    card = next(b for b in bodies if 'class="dc-src"' in b)
    for body in (answer_html, card):
        assert "&lt;b&gt;BLUEBIRD&lt;/b&gt;" in body
        assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in body
        assert "<script" not in body and "<b>" not in body
    button(at, "Open in document").click().run()
    doc = next(b for b in html_bodies(at) if 'class="dc-doc"' in b)
    assert "&lt;script&gt;" in doc and "<script" not in doc and "<b>" not in doc


def test_feedback_is_saved_as_one_json_line(seeded, embedder, data_dir):
    at = make_app(embedder, scripted(HYUN_REPLY)).run()
    ask(at, HYUN_QUESTION)
    assert len(at.feedback) == 1
    at.feedback[0].set_value(1).run()
    no_exceptions(at)
    lines = (data_dir / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["rating"] == "up"
    assert record["question"] == HYUN_QUESTION
    assert "Korea Institute for National Unification" in record["answer"]["text"]
    assert [c["source"] for c in record["citations"]] == [HYUN_FILE]
    assert any("feedback was saved" in c.value for c in at.caption)

    at.feedback[0].set_value(0).run()
    lines = (data_dir / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["rating"] for x in lines] == ["up", "down"]


# --------------------------------------------------------------------------- errors


def test_no_index_offers_to_ingest_the_sample_articles(data_dir, embedder):
    at = make_app(embedder).run()
    no_exceptions(at)
    assert any("No documents indexed yet" in i.value for i in at.sidebar.info)
    button(at, "Ingest the sample articles").click().run()
    no_exceptions(at)
    assert at.sidebar.metric[0].value == "5"
    assert any("5 added" in s.value for s in at.sidebar.success)
    assert not [b for b in at.button if b.label == "Ingest the sample articles"]
    info = status(settings=Settings.from_env(), embedder=embedder)
    assert info["files"] == 5


def test_question_without_index_is_a_warning_not_a_traceback(data_dir, embedder):
    at = make_app(embedder, scripted()).run()
    ask(at, HYUN_QUESTION)
    no_exceptions(at)
    assert any("Nothing is indexed yet" in w.value for w in at.warning)


def test_too_long_question_is_a_warning(seeded, embedder):
    at = make_app(embedder, scripted()).run()
    ask(at, "why " * 3000)
    no_exceptions(at)
    assert any("too long" in w.value for w in at.warning)


def test_unavailable_model_falls_back_to_extractive_with_a_notice(seeded, embedder):
    at = make_app(embedder).run()  # no injected model: the real factory is used
    at.sidebar.selectbox(key="opt_backend").set_value("openai").run()
    assert at.sidebar.text_input(key="opt_openai_url").value == ""
    ask(at, HYUN_QUESTION)
    no_exceptions(at)
    warnings = [w.value for w in at.warning]
    assert any("unavailable" in w and "extractive" in w for w in warnings), warnings
    answer = last_answer(at)["answer"]
    assert answer.model == "extractive" and not answer.abstained
    assert any(c.value.startswith("extractive \u00b7") for c in at.caption)


def test_backend_switch_to_extractive_does_not_call_the_model(seeded, embedder):
    model = scripted(HYUN_REPLY)
    at = make_app(embedder, model).run()
    assert at.sidebar.selectbox(key="opt_backend").value == "local-small"  # from RAG_LLM
    at.sidebar.selectbox(key="opt_backend").set_value("extractive").run()
    ask(at, HYUN_QUESTION)
    no_exceptions(at)
    assert model.calls == []
    answer = last_answer(at)["answer"]
    assert answer.model == "extractive" and answer.citations
    assert any(c.value.startswith("extractive \u00b7") for c in at.caption)


def test_restricting_to_files_limits_the_sources(seeded, embedder):
    at = make_app(embedder).run()
    at.sidebar.selectbox(key="opt_backend").set_value("extractive").run()
    other = "002_d3eda81097d597f3.txt"
    at.sidebar.multiselect(key="opt_sources").set_value([other]).run()
    ask(at, "What did South Korea threaten to do?")
    no_exceptions(at)
    answer = last_answer(at)["answer"]
    assert answer.hits and {h.chunk.source for h in answer.hits} == {other}


# --------------------------------------------------------------------------- sidebar


def uploads(data_dir: Path) -> Path:
    return data_dir / "documents"


def test_upload_is_indexed_and_a_traversal_name_stays_in_the_uploads_folder(seeded, embedder, data_dir, tmp_path):
    at = make_app(embedder).run()
    at.sidebar.file_uploader[0].set_value(
        [
            ("notes.md", b"# Team notes\n\nThe quarterly offsite is in Gangneung this year.\n", "text/markdown"),
            ("../../x.txt", b"The escape artist was caught in the uploads folder.\n", "text/plain"),
        ]
    ).run()
    no_exceptions(at)
    assert (uploads(data_dir) / "notes.md").is_file()
    assert (uploads(data_dir) / "x.txt").is_file()
    assert not (tmp_path / "x.txt").exists() and not (data_dir / "x.txt").exists()
    assert sorted(p.name for p in uploads(data_dir).iterdir()) == ["notes.md", "x.txt"]
    successes = [s.value for s in at.sidebar.success]
    assert any("notes" in s for s in successes) and any("x\\.txt" in s for s in successes), successes
    sources = status(settings=Settings.from_env(), embedder=embedder)["sources"]
    assert {"notes.md", "x.txt"} <= set(sources)
    # The uploader was reset, so the next run does not index the files again.
    assert not at.sidebar.file_uploader[0].value


def test_failed_upload_names_the_file_and_the_reason(seeded, embedder, data_dir):
    at = make_app(embedder).run()
    at.sidebar.file_uploader[0].set_value(("broken.txt", b"\x00\x01\x02binary\x00" * 50, "text/plain")).run()
    no_exceptions(at)
    errors = [e.value for e in at.sidebar.error]
    assert any("broken" in e and "binary" in e for e in errors), errors
    assert not (uploads(data_dir) / "broken.txt").exists()
    assert "broken.txt" not in status(settings=Settings.from_env(), embedder=embedder)["sources"]


def test_sync_now_picks_up_new_files_in_the_uploads_folder(seeded, embedder, data_dir):
    at = make_app(embedder).run()
    assert at.sidebar.metric[0].value == "5"
    (uploads(data_dir)).mkdir(parents=True, exist_ok=True)
    (uploads(data_dir) / "memo.txt").write_text("A memo about the budget for next year.\n", encoding="utf-8")
    button(at, "Sync now").click().run()
    no_exceptions(at)
    summary = [s.value for s in at.sidebar.success]
    assert any("1 added" in s and "5 unchanged" in s for s in summary), summary
    assert "memo.txt" in status(settings=Settings.from_env(), embedder=embedder)["sources"]


def test_remove_document(seeded, embedder):
    at = make_app(embedder).run()
    at.sidebar.selectbox(key="remove_choice").set_value(HYUN_FILE).run()
    button(at, "Remove from index").click().run()
    no_exceptions(at)
    assert any("Removed" in s.value for s in at.sidebar.success)
    assert HYUN_FILE not in status(settings=Settings.from_env(), embedder=embedder)["sources"]
    assert at.sidebar.metric[0].value == "4"


# --------------------------------------------------------------------------- collections


KEEPER_FILE = ("keeper.txt", b"The lighthouse keeper of Vardo is named Ingrid Solberg.\n", "text/plain")
KEEPER_QUESTION = "Who is the lighthouse keeper of Vardo?"


def create_collection_in_ui(at: AppTest, name: str) -> AppTest:
    at.sidebar.text_input(key="new_collection_name").set_value(name).run()
    return button(at, "Create collection").click().run()


def test_collection_picker_creates_uploads_into_and_answers_from_the_chosen_collection(seeded, embedder, data_dir):
    at = make_app(embedder).run()
    picker = at.sidebar.selectbox(key=COLLECTION_KEY)
    assert picker.options == ["documents"] and picker.value == "documents"
    create_collection_in_ui(at, "lighthouses")
    no_exceptions(at)
    assert at.session_state[COLLECTION_KEY] == "lighthouses"
    assert at.sidebar.selectbox(key=COLLECTION_KEY).options == ["documents", "lighthouses"]
    assert any("No documents indexed yet" in i.value for i in at.sidebar.info)

    at.sidebar.file_uploader[0].set_value([KEEPER_FILE]).run()
    no_exceptions(at)
    assert (data_dir / "collections" / "lighthouses" / "keeper.txt").is_file()
    assert not (uploads(data_dir) / "keeper.txt").exists()
    assert at.sidebar.metric[0].value == "1"
    lighthouses = Settings.from_env().replace(collection="lighthouses")
    assert status(settings=lighthouses, embedder=embedder)["sources"] == ["keeper.txt"]
    assert "keeper.txt" not in status(settings=Settings.from_env(), embedder=embedder)["sources"]

    at.sidebar.selectbox(key="opt_backend").set_value("extractive").run()
    ask(at, KEEPER_QUESTION)
    no_exceptions(at)
    answer = last_answer(at)["answer"]
    assert "Ingrid Solberg" in answer.text and {c.source for c in answer.citations} == {"keeper.txt"}

    at.sidebar.selectbox(key=COLLECTION_KEY).set_value("documents").run()
    assert at.sidebar.metric[0].value == "5"
    ask(at, KEEPER_QUESTION)
    no_exceptions(at)
    answer = last_answer(at)["answer"]
    assert all(h.chunk.source != "keeper.txt" for h in answer.hits)


@pytest.mark.parametrize("name", ["../x", "a/b", "", "x" * 64])
def test_a_bad_collection_name_in_the_ui_is_an_error_and_creates_nothing(seeded, embedder, data_dir, name):
    at = make_app(embedder).run()
    create_collection_in_ui(at, name)
    no_exceptions(at)
    errors = [e.value for e in at.sidebar.error]
    assert any("Cannot create that collection" in e and "collection name" in e for e in errors), errors
    assert at.session_state[COLLECTION_KEY] == "documents"
    assert at.sidebar.selectbox(key=COLLECTION_KEY).options == ["documents"]
    assert sorted(p.name for p in (data_dir / "cache").iterdir()) == ["local-documents"]
    assert not (data_dir / "collections").exists() and not (data_dir.parent / "x").exists()


# --------------------------------------------------------------------------- evaluation page


def test_evaluation_page_without_a_report_says_how_to_make_one(data_dir, embedder):
    at = make_app(embedder).run()
    at.switch_page("views/evaluation.py").run()
    no_exceptions(at)
    assert any("No evaluation report yet" in i.value for i in at.info)
    assert any("rag eval" in c.value for c in at.code)


def test_evaluation_page_shows_the_latest_report_failures_first(data_dir, embedder):
    old = data_dir / "reports" / "20240101-000000"
    new = data_dir / "reports" / "20250101-000000"
    for folder, rate in ((old, 0.1), (new, 0.5)):
        folder.mkdir(parents=True)
        (folder / "report.json").write_text(
            json.dumps(
                {
                    "headline": {"pass_rate": rate, "latency_p95": 12.0, "weird": "n/a"},
                    "targets": {"pass_rate": 0.8, "latency_p95": 10},
                    "results": [
                        {"id": "ok-1", "category": "fact", "question": "Q1?", "answer": "A1", "passed": True},
                        {"id": "bad-1", "category": "fact", "question": "Q2?", "answer": "A2", "passed": False},
                        {"id": "odd-1"},
                    ],
                }
            ),
            encoding="utf-8",
        )
    import os

    os.utime(old / "report.json", (1, 1))
    at = make_app(embedder).run()
    at.switch_page("views/evaluation.py").run()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Pass rate": "50%", "Latency p95 (s)": "12.0 s"}  # labels: evals.report's table
    frame = at.dataframe[0].value
    assert list(frame["id"])[:1] == ["bad-1"]
    assert next(iter(frame["result"])).endswith("fail")


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("../../x.txt", "x.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/etc/passwd", "passwd"),
        (".hidden.txt", "hidden.txt"),
        ("..", "upload"),
        ("a\x00b\x1fc.txt", "abc.txt"),
        ("report final (2).pdf", "report final (2).pdf"),
        ("we<ird>|name?.html", "we_ird__name_.html"),
    ],
)
def test_safe_filename(raw, expected):
    assert files.safe_filename(raw) == expected


def test_save_upload_never_writes_outside_the_folder(tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    for name in ("../../a.txt", "/abs/b.txt", "..\\c.txt", "....//d.txt"):
        path = files.save_upload(folder, name, b"text", max_bytes=100, allowed_suffixes={".txt"})
        assert path.parent == folder.resolve()
    assert sorted(p.name for p in tmp_path.rglob("*.txt")) == ["a.txt", "b.txt", "c.txt", "d.txt"]
    assert all(p.parent == folder for p in tmp_path.rglob("*.txt"))
    with pytest.raises(files.UploadRejected, match="too large"):
        files.save_upload(folder, "big.txt", b"x" * 101, max_bytes=100, allowed_suffixes={".txt"})
    with pytest.raises(files.UploadRejected, match="unsupported"):
        files.save_upload(folder, "tool.exe", b"x", max_bytes=100, allowed_suffixes={".txt"})
    renamed = files.save_upload(folder, "seed.txt", b"x", max_bytes=100, allowed_suffixes={".txt"}, taken={"seed.txt"})
    assert renamed.name == "seed-1.txt"


def test_highlight_escapes_every_piece():
    out = markup.highlight("<i>a</i> & <b>b</b>", 9, 10, mark_id="m1")
    assert out == '&lt;i&gt;a&lt;/i&gt; <mark class="dc-mark" id="m1">&amp;</mark> &lt;b&gt;b&lt;/b&gt;'
    assert markup.answer_html("x <img src=y> [2]") == (
        '<div class="dc-answer">x &lt;img src=y&gt; <span class="dc-cite">[2]</span></div>'
    )
    assert markup.escape_markdown("**bold** [a](b)") == "\\*\\*bold\\*\\* \\[a\\]\\(b\\)"
    with pytest.raises(ValueError):
        markup.scroll_script("x');alert(1);('")


def test_report_helpers_tolerate_missing_keys():
    assert reports.items({}) == []
    rows = reports.items({"items": [{"id": "a", "passed": True}, {"id": "b", "error": "boom"}, "junk"]})
    assert [r["id"] for r in rows] == ["b", "a"]
    assert reports.headline({"headline": {"x": 1.0, "y": None, "z": True}}) == {"x": 1.0}
    assert reports.format_value("latency_p50", 2.25) == "2.2 s"
    assert reports.format_value("pass_rate", 0.831) == "83%"


# --------------------------------------------------------------------------- saved chats


def chat_buttons(at: AppTest) -> list[str]:
    """Labels of the saved chats listed in the sidebar, as shown (newest first)."""
    return [b.label for b in at.sidebar.button if (b.key or "").startswith("chat-")]


def drawn_answers(at: AppTest) -> list[str]:
    """The answer and source-card markup of the page, in order (what the reader sees)."""
    return [b for b in html_bodies(at) if 'class="dc-answer"' in b or 'class="dc-src"' in b]


def saved(data_dir: Path) -> history.ChatHistory:
    return history.ChatHistory(history.history_path(data_dir))


def test_an_answered_question_is_saved_and_listed_in_the_sidebar(seeded, embedder, data_dir):
    at = make_app(embedder, scripted(HYUN_REPLY)).run()
    no_exceptions(at)
    assert chat_buttons(at) == []
    ask(at, HYUN_QUESTION)
    no_exceptions(at)
    assert chat_buttons(at) == [markup.escape_markdown(HYUN_QUESTION)]  # listed in the run that answered
    (chat,) = saved(data_dir).list_chats()
    assert chat.id == at.session_state[chats.CHAT_ID] and chat.collection == "documents"
    (turn,) = saved(data_dir).load_chat(chat.id).turns
    assert turn.answer == last_answer(at)["answer"] and turn.question == HYUN_QUESTION
    assert not button(at, "New chat").disabled


def test_a_reopened_chat_is_drawn_as_it_was_and_a_follow_up_uses_it(seeded, embedder, data_dir):
    first = make_app(embedder, scripted(HYUN_REPLY)).run()
    ask(first, HYUN_QUESTION)
    before = drawn_answers(first)
    assert any("dc-mark" in b for b in before)

    model = scripted("He works at the Korea Institute for National Unification [1].")
    later = make_app(embedder, model).run()  # another session: a reload, a new tab
    assert len(later.chat_message) == 0
    button(later, markup.escape_markdown(HYUN_QUESTION)).click().run()
    no_exceptions(later)
    assert [m.name for m in later.chat_message] == ["user", "assistant"]
    assert drawn_answers(later) == before  # same answer, same citations, same highlighted passages
    assert markup.removed_label(1) in [c.value for c in later.caption]
    reopened = [e for e in later.expander if e.label == "Show what was removed"]
    assert reopened and reopened[0].caption and ": " in reopened[0].caption[0].value  # the reason was saved too

    ask(later, "What about his employer?")
    no_exceptions(later)
    assert "Hyun Seung-soo" in last_answer(later)["answer"].query  # the reopened turns are its history
    assert "Hyun Seung-soo" in answer_calls(model)[0][-1]["content"]
    (chat,) = saved(data_dir).list_chats()
    assert [t.question for t in saved(data_dir).load_chat(chat.id).turns] == [HYUN_QUESTION, "What about his employer?"]


def test_new_chat_starts_another_saved_chat(seeded, embedder, data_dir):
    at = make_app(embedder, scripted(HYUN_REPLY, HYUN_REPLY)).run()
    ask(at, HYUN_QUESTION)
    button(at, "New chat").click().run()
    assert at.session_state[chats.CHAT_ID] is None and len(at.chat_message) == 0
    ask(at, "Who is Hyun Seung-soo?")
    no_exceptions(at)
    assert chat_buttons(at) == [markup.escape_markdown(q) for q in ("Who is Hyun Seung-soo?", HYUN_QUESTION)]
    assert len(saved(data_dir).list_chats()) == 2


def test_rename_export_and_delete_the_open_chat(seeded, embedder, data_dir):
    at = make_app(embedder, scripted(HYUN_REPLY)).run()
    ask(at, HYUN_QUESTION)
    chat_id = at.session_state[chats.CHAT_ID]
    at.sidebar.text_input(key=f"chat-title-{chat_id}").set_value("Hyun's employer")
    button(at, "Rename").click().run()
    no_exceptions(at)
    assert chat_buttons(at) == [markup.escape_markdown("Hyun's employer")]
    assert saved(data_dir).list_chats()[0].title == "Hyun's employer"

    (export,) = [e for e in at.sidebar.get("download_button") if e.proto.label == "Export as Markdown"]
    assert export.proto.label == "Export as Markdown"
    md = saved(data_dir).export_markdown(chat_id)
    assert md.startswith("# Hyun's employer") and "[1]" in md and f"1. `{HYUN_FILE}` (line 63)" in md
    assert "> Hyun Seung-soo, a researcher specializing in Russia" in md

    button(at, "Delete chat").click().run()
    no_exceptions(at)
    assert chat_buttons(at) == [] and saved(data_dir).list_chats() == []
    assert len(at.chat_message) == 0 and at.session_state[chats.CHAT_ID] is None


def test_two_sessions_save_two_chats_without_mixing_them(seeded, embedder, data_dir):
    left = make_app(embedder, scripted(HYUN_REPLY, HYUN_REPLY)).run()
    right = make_app(embedder, scripted(HYUN_REPLY)).run()
    ask(left, HYUN_QUESTION)
    ask(right, "Who is Hyun Seung-soo?")
    ask(left, "Where does he work?")
    assert left.session_state[chats.CHAT_ID] != right.session_state[chats.CHAT_ID]
    store = saved(data_dir)
    questions = {c.id: [t.question for t in store.load_chat(c.id).turns] for c in store.list_chats()}
    assert questions == {
        left.session_state[chats.CHAT_ID]: [HYUN_QUESTION, "Where does he work?"],
        right.session_state[chats.CHAT_ID]: ["Who is Hyun Seung-soo?"],
    }


def test_the_collection_asked_is_saved_with_the_chat(seeded, embedder, data_dir):
    at = make_app(embedder, scripted(HYUN_REPLY))
    at.session_state[COLLECTION_KEY] = "documents"  # what the collection picker stores
    at.run()
    ask(at, HYUN_QUESTION)
    (chat,) = saved(data_dir).list_chats()
    assert chat.collection == "documents"
    assert saved(data_dir).load_chat(chat.id).turns[0].collection == "documents"


def test_a_reopened_chat_asks_the_collection_it_asked_before(seeded, embedder, data_dir):
    at = make_app(embedder).run()
    create_collection_in_ui(at, "lighthouses")
    at.sidebar.file_uploader[0].set_value([KEEPER_FILE]).run()
    at.sidebar.selectbox(key="opt_backend").set_value("extractive").run()
    ask(at, KEEPER_QUESTION)
    at.sidebar.selectbox(key=COLLECTION_KEY).set_value("documents").run()
    button(at, "New chat").click().run()
    assert at.session_state[COLLECTION_KEY] == "documents"

    button(at, markup.escape_markdown(KEEPER_QUESTION)).click().run()
    no_exceptions(at)
    assert at.session_state[COLLECTION_KEY] == "lighthouses"
    assert at.sidebar.selectbox(key=COLLECTION_KEY).value == "lighthouses"
    ask(at, KEEPER_QUESTION)
    no_exceptions(at)
    assert {c.source for c in last_answer(at)["answer"].citations} == {"keeper.txt"}


@pytest.mark.parametrize("content", [b"\x00garbage, not a database\x00" * 200, "foreign"])
def test_a_damaged_history_is_kept_aside_with_a_message_and_a_fresh_one_starts(seeded, embedder, data_dir, content):
    path = history.history_path(data_dir)
    if content == "foreign":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE notes (text TEXT)")
    else:
        path.write_bytes(content)
    at = make_app(embedder, scripted(HYUN_REPLY)).run()
    no_exceptions(at)
    warnings = [w.value for w in at.sidebar.warning]
    assert any("chat history could not be read" in w and "fresh history" in w for w in warnings), warnings
    (kept,) = data_dir.glob(f"{history.FILENAME}.damaged-*")
    if content != "foreign":
        assert kept.read_bytes() == content
    ask(at, HYUN_QUESTION)
    no_exceptions(at)
    assert chat_buttons(at) == [markup.escape_markdown(HYUN_QUESTION)]
    assert not any("could not be read" in w.value for w in at.sidebar.warning)  # said once per session


def test_many_chats_are_listed_newest_first_in_a_scrolling_box(seeded, embedder, data_dir):
    store = saved(data_dir)
    answer = Answer(text="The documents don't say.", abstained=True)
    for i in range(12):
        store.append_turn(f"chat-{i}", history.Turn(f"Question {i}?", answer, "documents", created=1000.0 + i))
    at = make_app(embedder).run()
    no_exceptions(at)
    assert chat_buttons(at) == [markup.escape_markdown(f"Question {i}?") for i in reversed(range(12))]
    button(at, markup.escape_markdown("Question 3?")).click().run()
    no_exceptions(at)
    assert at.session_state[chats.CHAT_ID] == "chat-3"
    assert any("The documents don't say" in i.value for i in at.info)


def test_cli_says_which_check_removed_each_sentence(monkeypatch, capsys, tmp_path) -> None:
    from ui import cli

    answer = Answer(
        text="It made 6,932 [1].",
        unsupported=("Yes, it did [1].", "It cost 7."),
        removed_why=("yes: the model's Yes is unsure (P(yes) 0.60 < 0.75)", "numbers: number(s) not in the passage: 7"),
    )
    monkeypatch.setattr(cli, "ask_stream", lambda *a, **k: iter(["It made 6,932 [1].", answer]))
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    assert cli.main(["ask", "How many?"]) == 0
    out = capsys.readouterr().out
    assert "2 sentences removed by the checks:" in out and "unsupported sentence(s)" not in out
    assert "  - Yes, it did [1].\n    (yes: the model's Yes is unsure" in out
    assert "  - It cost 7.\n    (numbers: number(s) not in the passage: 7)" in out
    # An answer saved before reasons were kept still lists its sentences.
    assert markup.removed_lines(Answer(text="", unsupported=("a",))) == [("a", "")]
