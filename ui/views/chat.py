"""The chat page: ask questions, read streamed answers whose sources can be checked.

Runs as a Streamlit page script (see `ui/app.py`). The conversation lives in
`st.session_state`, so every browser session (every tab) has its own.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from assistant import (
    Answer,
    EmptyQuestionError,
    InvalidCollectionNameError,
    NoIndexError,
    ProviderError,
    QuestionTooLongError,
    RagError,
    Settings,
    UserError,
    ask_stream,
    document_path,
    document_text,
    list_collections,
    status,
)
from assistant.settings import BACKENDS
from ingest import SEEDS_DIR, IngestReport, create_collection, ingest, remove_documents
from ingest.loaders import SUPPORTED_SUFFIXES
from ui import chats, files, markup, state

log = logging.getLogger("docchat.ui")

BACKEND_LABELS = {
    "local": "Local \u00b7 Qwen2.5 1.5B",
    "local-small": "Local small \u00b7 Qwen2.5 0.5B (faster)",
    "openai": "OpenAI-compatible endpoint",
    "extractive": "Extractive \u00b7 quotes only, no model",
}
SEED_SUGGESTIONS = (
    "How many troops did North Korea send?",
    "Where does Hyun Seung-soo work?",
    "Why might South Korea arm Ukraine?",
)
MESSAGES = chats.MESSAGES
AVATARS = {"user": ":material/person:", "assistant": ":material/auto_stories:"}
FLASH = "flash"


@dataclass(frozen=True)
class Options:
    """What the sidebar chose for answering."""

    settings: Settings
    top_k: int
    sources: tuple[str, ...]


# --------------------------------------------------------------------------- small helpers


def flash(kind: str, text: str) -> None:
    """Queue a message (success/info/warning/error) to show after the next rerun."""
    st.session_state.setdefault(FLASH, []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop(FLASH, []):
        getattr(st, kind)(markup.escape_markdown(text))


def ago(ts: float) -> str:
    """ "just now", "5 min ago", "3 h ago", or a date."""
    if not ts:
        return "never"
    delta = time.time() - ts
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def report_summary(report: IngestReport) -> str:
    parts = [
        f"{report.added} added",
        f"{report.updated} updated",
        f"{report.removed} removed",
        f"{report.unchanged} unchanged",
    ]
    return f"Synced in {report.seconds:.1f} s: " + ", ".join(parts) + f" \u00b7 {report.chunks} chunks in the index."


def run_ingest(paths: list[Path], cfg: Settings, emb, where, label: str) -> IngestReport | None:
    """Ingest `paths` with a progress bar in `where`; errors become flash messages."""
    bar = where.progress(0.0, text=label)

    def progress(done: int, total: int, source: str) -> None:
        bar.progress(
            min(1.0, done / total) if total else 1.0,
            text=f"{label} {done}/{total}" + (f" \u00b7 {source}" if source else ""),
        )

    try:
        report = ingest(paths, settings=cfg, embedder=emb, progress=progress)
    except RagError as e:
        flash("error", f"Indexing failed: {e}")
        return None
    finally:
        bar.empty()
    return report


def corpus_status(cfg: Settings, emb) -> tuple[dict | None, str | None]:
    """(status dict, None), (None, None) when nothing is indexed, or (None, error text)."""
    try:
        return status(settings=cfg, embedder=emb), None
    except NoIndexError:
        return None, None
    except RagError as e:
        return None, str(e)


# --------------------------------------------------------------------------- collections


def collection_picker(base: Settings, emb) -> Settings:
    """The sidebar's collection picker and "New collection" form; `base` for the chosen one.

    The choice is `st.session_state[state.COLLECTION_KEY]` ("opt_collection"): questions,
    uploads, syncs and removals use that collection. The app's own collection
    (`RAG_COLLECTION`, default "documents") is always offered, even before anything is in it.
    """
    try:
        names = {c.name for c in list_collections(settings=base)}
    except RagError:
        names = set()  # the Corpus section below shows the store's error
    names = sorted(names | {base.collection})
    if st.session_state.get(state.COLLECTION_KEY) not in names:
        st.session_state[state.COLLECTION_KEY] = base.collection
    sb = st.sidebar
    chosen = sb.selectbox(
        "Collection",
        names,
        key=state.COLLECTION_KEY,
        help="Each collection is a separate index: questions are answered from the chosen one only.",
    )
    with sb.expander("New collection", icon=":material/create_new_folder:"):
        st.text_input("Name", key="new_collection_name", placeholder="letters, digits, . _ - (3-63)")
        st.button("Create collection", key="create_collection", on_click=_create_collection, args=(base, emb))
    return base.replace(collection=chosen)


def _create_collection(base: Settings, emb) -> None:
    """on_click of "Create collection": create it (empty) and choose it."""
    name = str(st.session_state.get("new_collection_name") or "").strip()
    try:
        create_collection(settings=base.replace(collection=name), embedder=emb)
    except InvalidCollectionNameError as e:
        flash("error", f"Cannot create that collection: {e}")
        return
    except RagError as e:
        flash("error", f"Could not create collection {name}: {e}")
        return
    st.session_state[state.COLLECTION_KEY] = name
    st.session_state["new_collection_name"] = ""
    flash("success", f"Collection {name} is ready: add documents to it below.")


def collection_folders(cfg: Settings) -> tuple[Path, list[Path]]:
    """The chosen collection's uploads folder, and what "Sync now" syncs into it: the sample
    articles and the uploads for the app's own collection, only its uploads for another."""
    if cfg.collection == state.settings().collection:
        uploads = files.uploads_dir(cfg.data_dir)
        return uploads, [SEEDS_DIR, uploads]
    uploads = files.uploads_dir(cfg.data_dir, cfg.collection)
    return uploads, [uploads]


# --------------------------------------------------------------------------- sidebar


def sidebar(base: Settings, emb, info: dict | None, error: str | None) -> Options:
    """The sidebar: corpus facts and actions, answering options (the saved chats are drawn
    above them at the end of the run, `ui/chats.py`)."""
    sb = st.sidebar
    sb.subheader("Corpus", divider="gray")
    with sb:
        show_flash()
    if error:
        sb.error(markup.escape_markdown(error))
    elif info is None or not info.get("files"):
        sb.info("No documents indexed yet.")
    else:
        c1, c2 = sb.columns(2)
        c1.metric("Files", f"{info['files']:,}")
        c2.metric("Chunks", f"{info['chunks']:,}")
        sb.caption(
            f"Embedder: {markup.escape_markdown(str(info.get('embedder', '')))}  \n"
            f"Store: {markup.escape_markdown(str(info.get('location', '')))}  \n"
            f"Last sync: {ago(float(info.get('last_sync') or 0))}"
        )
        if info.get("pending"):
            sb.warning(f"{len(info['pending'])} file(s) were interrupted mid-sync: press Sync now.")

    uploads, synced = collection_folders(base)
    if sb.button(
        "Sync now",
        icon=":material/sync:",
        width="stretch",
        help=(
            "Index new and changed files of the sample articles and your uploads; drop deleted ones."
            if SEEDS_DIR in synced
            else "Index new and changed files uploaded to this collection; drop deleted ones."
        ),
    ):
        report = run_ingest(synced, base, emb, sb, "Syncing")
        if report is not None:
            flash("success", report_summary(report))
            for name, reason in report.skipped:
                flash("warning", f"Skipped {name}: {reason}")
        st.rerun()

    upload_section(base, emb, info, uploads)
    remove_section(base, emb, info, uploads)

    sb.subheader("Answering", divider="gray")
    st.session_state.setdefault("opt_backend", base.backend)
    backend = sb.selectbox("Model", BACKENDS, key="opt_backend", format_func=lambda b: BACKEND_LABELS.get(b, b))
    cfg = base.replace(backend=backend)
    if backend == "openai":
        st.session_state.setdefault("opt_openai_url", base.openai_base_url or "")
        st.session_state.setdefault("opt_openai_model", base.model or "")
        url = sb.text_input("Base URL", key="opt_openai_url", placeholder="http://127.0.0.1:8080/v1")
        model = sb.text_input("Model name", key="opt_openai_model", placeholder="first model the server lists")
        cfg = cfg.replace(openai_base_url=url.strip() or None, model=model.strip() or None)
    st.session_state.setdefault("opt_top_k", max(1, min(base.top_k, 20)))
    top_k = sb.slider("Passages to retrieve (top-k)", 1, 20, key="opt_top_k")
    sources = list((info or {}).get("sources") or [])
    st.session_state["opt_sources"] = [s for s in st.session_state.get("opt_sources", []) if s in sources]
    chosen = sb.multiselect("Only search these files", sources, key="opt_sources", placeholder="All files")
    return Options(cfg, int(top_k), tuple(chosen))


def upload_section(base: Settings, emb, info: dict | None, uploads: Path) -> None:
    sb = st.sidebar
    gen = st.session_state.setdefault("upload_gen", 0)
    limit_mb = max(1, math.ceil(base.max_file_bytes / (1024 * 1024)))
    kinds = sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES)
    uploaded = sb.file_uploader(
        "Add documents",
        type=kinds,
        accept_multiple_files=True,
        key=f"uploader-{gen}",
        max_upload_size=limit_mb,
        help=(
            "Text, Markdown, reStructuredText, HTML, PDF, Word (.docx), PowerPoint (.pptx) or EPUB, "
            f"up to {base.max_file_bytes:,} bytes each. They are indexed at once."
        ),
    )
    if not uploaded:
        return
    in_uploads = {p.name for p in uploads.iterdir() if p.is_file()}
    taken = set((info or {}).get("sources") or []) - in_uploads
    saved: dict[Path, str] = {}
    for f in uploaded:
        try:
            path = files.save_upload(
                uploads,
                f.name,
                f.getvalue(),
                max_bytes=base.max_file_bytes,
                allowed_suffixes=SUPPORTED_SUFFIXES,
                taken=taken,
            )
        except files.UploadRejected as e:
            flash("error", f"{f.name} was not added: {e}")
            continue
        except OSError as e:
            flash("error", f"{f.name} was not added: cannot save it ({e.strerror or e})")
            continue
        saved[path] = f.name
        taken.add(path.name)
    if saved:
        report = run_ingest(list(saved), base, emb, sb, "Indexing")
        if report is not None:
            skipped = {name: reason for name, reason in report.skipped}
            for path, original in saved.items():
                if path.name in skipped:
                    path.unlink(missing_ok=True)
                    flash("error", f"{original} was not added: {skipped[path.name]}")
                else:
                    renamed = f" as {path.name}" if path.name != original else ""
                    flash("success", f"Added {original}{renamed}.")
        else:
            for path in saved:
                path.unlink(missing_ok=True)
    st.session_state["upload_gen"] = gen + 1
    st.rerun()


def remove_section(base: Settings, emb, info: dict | None, uploads: Path) -> None:
    sources = list((info or {}).get("sources") or [])
    if not sources:
        return
    with st.sidebar.expander("Remove a document", icon=":material/delete:"):
        choice = st.selectbox(
            "Document",
            sources,
            index=None,
            key="remove_choice",
            placeholder="Choose a document",
            label_visibility="collapsed",
        )
        if st.button("Remove from index", disabled=choice is None, key="remove_button"):
            try:
                removed = remove_documents([choice], settings=base, embedder=emb)
            except RagError as e:
                flash("error", f"Could not remove {choice}: {e}")
            else:
                upload = uploads / choice
                if removed and upload.is_file() and upload.resolve().parent == uploads.resolve():
                    upload.unlink()
                    flash("success", f"Removed {choice} (and deleted the uploaded file).")
                elif removed:
                    flash(
                        "success",
                        f"Removed {choice} from the index. Sync now adds it back "
                        "while the file is still in its folder.",
                    )
                else:
                    flash("info", f"{choice} was not in the index.")
            st.session_state.pop("remove_choice", None)
            st.rerun()


def ask_later(question: str) -> None:
    """on_click of a suggested question: ask it in this run."""
    st.session_state["pending_question"] = question


# --------------------------------------------------------------------------- answers


@st.dialog("Source document", width="large")
def show_document(source: str, start: int, end: int, quote: str, label: str, n: int, cfg: Settings, emb) -> None:
    """The whole document with the cited span marked and scrolled into view."""
    st.markdown(f"**{markup.escape_markdown(source)}** \u00b7 citation [{n}] \u00b7 {label}")
    try:
        text = document_text(source, settings=cfg, embedder=emb)
        if text is None:  # too large to store at ingest: read the file where it was ingested
            text = files.read_document(document_path(source, settings=cfg, embedder=emb), cfg.max_file_bytes)
    except RagError as e:
        st.error(markup.escape_markdown(f"Cannot open {source}: {e}"))
        return
    if text is None:
        st.warning("This document is no longer available (it was removed or its file is gone).")
        return
    if text[start:end] != quote:  # the file changed since it was indexed: find the sentence again
        found = text.find(quote)
        if found < 0:
            st.caption("The cited sentence is no longer in this document (it changed since indexing).")
            start = end = 0
        else:
            start, end = found, found + len(quote)
    mark_id = f"dc-mark-{n}"
    st.html(markup.document_html(text, start, end, mark_id=mark_id))
    st.html(markup.scroll_script(mark_id), unsafe_allow_javascript=True)


def render_sources(msg: dict, cfg: Settings, emb) -> None:
    answer: Answer = msg["answer"]
    st.html('<div class="dc-sources-title">Sources</div>')
    for c in answer.citations:
        passage = markup.citation_passage(c, answer.hits)
        with st.container(border=True):
            st.html(markup.source_card_html(c, passage))
            if st.button("Open in document", key=f"open-{msg['id']}-{c.n}", icon=":material/article:", type="tertiary"):
                show_document(c.source, c.start, c.end, c.quote, markup.line_label(c), c.n, cfg, emb)


def save_feedback(msg_id: str) -> None:
    """on_change of a thumbs widget: append the rating, question and answer to feedback.jsonl."""
    value = st.session_state.get(f"fb-{msg_id}")
    msg = next((m for m in st.session_state.get(MESSAGES, []) if m.get("id") == msg_id), None)
    if value is None or msg is None or "answer" not in msg:
        return
    rating = "up" if value == 1 else "down"
    try:
        path = files.feedback_path(state.settings().data_dir)
        files.append_jsonl(path, files.feedback_record(rating, msg["answer"], question=msg["question"]))
    except (OSError, ValueError) as e:
        msg["feedback_error"] = f"Could not save feedback: {e}"
        return
    msg["feedback"] = rating


def render_assistant(msg: dict, cfg: Settings, emb) -> None:
    """Everything under one answer: notices, text, removed sentences, sources, facts, feedback."""
    problem = msg.get("problem")
    if problem:
        kind, text = problem
        getattr(st, kind)(markup.escape_markdown(text))
        return
    answer: Answer = msg["answer"]
    notices = list(dict.fromkeys([*msg.get("notices", []), *answer.notices]))
    for notice in notices:
        st.warning(markup.escape_markdown(notice), icon=":material/warning:")
    if answer.abstained:
        st.info(markup.abstention_markdown(answer.text), icon=":material/search_off:")
    else:
        st.html(markup.answer_html(answer.text, {c.n: c.source for c in answer.citations}))
    if answer.unsupported:
        st.caption(markup.removed_label(len(answer.unsupported)))
        with st.expander("Show what was removed", icon=":material/visibility_off:"):
            for sentence, why in markup.removed_lines(answer):
                st.text(sentence)
                if why:
                    st.caption(markup.escape_markdown(why))
    if answer.citations and not answer.abstained:
        render_sources(msg, cfg, emb)
    facts, thumbs = st.columns([5, 1], vertical_alignment="center")
    facts.caption(markup.facts_line(answer, msg.get("first_sentence")))
    with thumbs:
        st.feedback("thumbs", key=f"fb-{msg['id']}", on_change=save_feedback, args=(msg["id"],))
    if msg.get("feedback"):
        st.caption("Thanks \u2014 your feedback was saved.")
    if msg.get("feedback_error"):
        st.caption(markup.escape_markdown(msg["feedback_error"]))


def stream_answer(question: str, history: list[dict], opts: Options, emb) -> dict:
    """Ask, showing verified sentences as they arrive; return the finished chat message."""
    msg: dict = {"id": uuid.uuid4().hex[:12], "role": "assistant", "content": "", "question": question}
    box = st.empty()
    box.html(markup.thinking_html())
    choice = state.chat_model(opts.settings)
    if choice.notice:
        msg["notices"] = [choice.notice]
    t0 = time.perf_counter()
    text = ""
    answer: Answer | None = None
    try:
        for item in ask_stream(
            question,
            history=history,
            settings=opts.settings.replace(backend=choice.backend),
            top_k=opts.top_k,
            sources=list(opts.sources) or None,
            chat_model=choice.model,
            embedder=emb,
        ):
            if isinstance(item, Answer):
                answer = item
            else:
                msg.setdefault("first_sentence", time.perf_counter() - t0)
                text += item
                box.html(markup.answer_html(text, streaming=True))
    except (EmptyQuestionError, QuestionTooLongError) as e:
        msg["problem"] = ("warning", str(e).capitalize())
    except NoIndexError:
        msg["problem"] = ("warning", "Nothing is indexed yet: ingest the sample articles or upload documents first.")
    except UserError as e:
        msg["problem"] = ("warning", str(e))
    except ProviderError as e:
        msg["problem"] = ("error", f"A component failed while answering: {e}")
    except Exception as e:  # the page shows what failed instead of a traceback
        log.exception("answering %r failed", question)
        msg["problem"] = ("error", f"Something went wrong while answering ({type(e).__name__}: {e}).")
    box.empty()
    if answer is not None and "problem" not in msg:
        msg["answer"] = answer
        msg["content"] = answer.text
    elif "problem" not in msg:
        msg["problem"] = ("error", "No answer was produced.")
    return msg


def handle_question(question: str, opts: Options, emb) -> None:
    messages = st.session_state[MESSAGES]
    history = [{"role": m["role"], "content": m["content"]} for m in messages if m.get("content")]
    messages.append({"role": "user", "content": question})
    with st.chat_message("user", avatar=AVATARS["user"]):
        st.text(question)
    with st.chat_message("assistant", avatar=AVATARS["assistant"]):
        try:
            msg = stream_answer(question, history, opts, emb)
        except BaseException:
            # Streamlit stops the run (another question, a click) by raising from inside it:
            # keep the conversation readable and let the stop go on.
            messages.append(
                {
                    "id": uuid.uuid4().hex[:12],
                    "role": "assistant",
                    "content": "",
                    "question": question,
                    "problem": ("info", "Stopped before the answer was finished."),
                }
            )
            raise
        messages.append(msg)
        chats.save_answer(msg, opts.settings)
        render_assistant(msg, opts.settings, emb)


def onboarding(base: Settings, emb) -> None:
    """Shown while nothing is indexed: one click to index the bundled sample articles."""
    with st.container(border=True):
        st.markdown("#### No documents indexed yet")
        st.markdown(
            "Start with the bundled sample articles (five news stories about South Korea, "
            "Ukraine and North Korean troops in Russia), or add your own files in the sidebar."
        )
        if st.button("Ingest the sample articles", type="primary", icon=":material/download:"):
            report = run_ingest([SEEDS_DIR], base, emb, st, "Indexing the sample articles")
            if report is not None:
                flash("success", report_summary(report))
            st.rerun()


def suggestions(info: dict | None) -> None:
    """Example questions while the chat is empty (for the sample articles)."""
    seeds = {p.name for p in SEEDS_DIR.glob("*") if p.is_file()}
    if not info or not seeds & set(info.get("sources") or []):
        st.caption("Ask anything about your documents; answers cite the exact sentences they rest on.")
        return
    st.caption("Try one of these, or ask your own question below:")
    cols = st.columns(len(SEED_SUGGESTIONS))
    for col, q in zip(cols, SEED_SUGGESTIONS):
        col.button(q, key=f"suggest-{q}", width="stretch", on_click=ask_later, args=(q,))


# --------------------------------------------------------------------------- page


def main() -> None:
    try:
        base = state.settings()
    except ValueError as e:
        st.error(markup.escape_markdown(f"The configuration is invalid: {e}"))
        st.stop()
    emb = state.embedder()
    base = collection_picker(base, emb)
    st.session_state.setdefault(MESSAGES, [])
    info, error = corpus_status(base, emb)
    chats_box = st.sidebar.container()  # filled last, so a chat saved in this run is listed
    opts = sidebar(base, emb, info, error)

    st.title("Ask your documents")
    st.caption("Every answer cites the exact sentences it rests on. Sentences the sources don't support are removed.")
    if error is None and (info is None or not info.get("files")):
        onboarding(base, emb)

    # The input is pinned to the bottom wherever it is called; read it first so the
    # suggestions are not drawn in the very run that answers a question.
    typed = st.chat_input("Ask a question about your documents\u2026")
    question = typed if typed is not None else st.session_state.pop("pending_question", None)
    messages = st.session_state[MESSAGES]
    for msg in messages:
        with st.chat_message(msg["role"], avatar=AVATARS.get(msg["role"])):
            if msg["role"] == "user":
                st.text(msg["content"])
            else:
                render_assistant(msg, opts.settings, emb)
    if question is not None:
        handle_question(question, opts, emb)
    elif not messages and info and info.get("files"):
        suggestions(info)
    chats.sidebar_section(chats_box, base)


main()
