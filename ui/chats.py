"""Saved chats in the Streamlit app: the sidebar list, reopening, renaming, deleting, export.

The storage is `ui/history.py` (one SQLite file in `RAG_DATA_DIR`, shared by every session);
this module is the glue. Each browser session (each tab) keeps its own conversation in
`st.session_state[MESSAGES]` and the id of the chat it belongs to in `st.session_state[CHAT_ID]`
(None until its first answer is saved), so two tabs write two chats and never mix them.
"""

from __future__ import annotations

import functools
import re

import streamlit as st

from assistant import Settings
from ui import markup
from ui.history import ChatHistory, ChatSummary, HistoryError, Turn, history_path, new_chat_id
from ui.state import COLLECTION_KEY

MESSAGES = "messages"  # the conversation of this session (see ui/views/chat.py)
CHAT_ID = "chat_id"  # the saved chat this session's conversation belongs to, or None
_ERROR = "chats_error"
_NOTICE_SHOWN = "chats_recovery_shown"
_LABEL_LIMIT = 48
_SCROLL_AFTER = 8  # more chats than this scroll inside a box of fixed height


@st.cache_resource(show_spinner=False)
def _shared_history(path: str) -> ChatHistory:
    # One object per file and process: its lock makes the first check of the file happen once.
    return ChatHistory(path)


def history(settings: Settings) -> ChatHistory:
    """The chat history of `settings.data_dir` (shared by every session of this process)."""
    return _shared_history(str(history_path(settings.data_dir)))


# --------------------------------------------------------------------------- session actions


def new_chat() -> None:
    """on_click of "New chat": an empty conversation that is not saved until its first answer."""
    st.session_state[MESSAGES] = []
    st.session_state[CHAT_ID] = None
    st.session_state.pop("pending_question", None)


def save_answer(msg: dict, settings: Settings) -> None:
    """Save a finished answer (`msg` as built by the chat page) to this session's chat.

    Problems (a refused question, a stopped answer) are not saved. A history that cannot be
    written is reported under the answer; the answer itself is still shown.
    """
    if "answer" not in msg:
        return
    chat_id = st.session_state.get(CHAT_ID) or new_chat_id()
    turn = Turn(
        question=msg["question"],
        answer=msg["answer"],
        collection=settings.collection,  # the picker's choice (ui/views/chat.py)
        notices=tuple(msg.get("notices", ())),
        first_sentence=msg.get("first_sentence"),
        id=msg["id"],
    )
    try:
        history(settings).append_turn(chat_id, turn)
    except HistoryError as e:
        st.warning(markup.escape_markdown(f"This answer was not saved to your chats: {e}"))
        return
    st.session_state[CHAT_ID] = chat_id


def turn_messages(turn: Turn) -> list[dict]:
    """A saved turn as the chat page's two messages (question, answer), ready to redraw and
    to pass on as the history of a follow-up question."""
    answer = {
        "id": turn.id,
        "role": "assistant",
        "content": turn.answer.text,
        "question": turn.question,
        "answer": turn.answer,
    }
    if turn.notices:
        answer["notices"] = list(turn.notices)
    if turn.first_sentence is not None:
        answer["first_sentence"] = turn.first_sentence
    return [{"role": "user", "content": turn.question}, answer]


def open_chat(chat_id: str, settings: Settings) -> None:
    """on_click of a listed chat: make it this session's conversation."""
    try:
        chat = history(settings).load_chat(chat_id)
    except HistoryError as e:
        st.session_state[_ERROR] = f"Could not open the chat: {e}"
        return
    if chat is None:
        st.session_state[_ERROR] = "That chat no longer exists (it was deleted in another tab)."
        return
    st.session_state[MESSAGES] = [m for t in chat.turns for m in turn_messages(t)]
    st.session_state[CHAT_ID] = chat_id
    st.session_state.pop("pending_question", None)
    # Follow-ups go to the collection its last question asked (the picker falls back to the app's own
    # collection when that one was deleted since; "This chat" then says so).
    st.session_state[COLLECTION_KEY] = chat.turns[-1].collection if chat.turns else chat.summary.collection


def rename_chat(chat_id: str, settings: Settings) -> None:
    """on_click of "Rename": the title typed in this chat's title box."""
    title = st.session_state.get(f"chat-title-{chat_id}", "")
    try:
        history(settings).rename_chat(chat_id, title)
    except ValueError:
        st.session_state[_ERROR] = "A chat needs a title."
    except HistoryError as e:
        st.session_state[_ERROR] = f"Could not rename the chat: {e}"


def delete_chat(chat_id: str, settings: Settings) -> None:
    """on_click of "Delete chat": remove it from the history and start a new chat."""
    try:
        history(settings).delete_chat(chat_id)
    except HistoryError as e:
        st.session_state[_ERROR] = f"Could not delete the chat: {e}"
        return
    if st.session_state.get(CHAT_ID) == chat_id:
        new_chat()


# --------------------------------------------------------------------------- sidebar


def sidebar_section(where, settings: Settings) -> None:
    """ "New chat", the saved chats (newest first) and the open chat's actions, drawn in
    `where` (a sidebar container made before the rest of the sidebar, filled after the
    question of this run was answered, so a chat saved in this run is already listed)."""
    with where:
        st.button(
            "New chat",
            icon=":material/edit_square:",
            width="stretch",
            on_click=new_chat,
            disabled=not st.session_state.get(MESSAGES),
        )
        store = history(settings)
        try:
            recovery = store.prepare()
            chats = store.list_chats()
        except HistoryError as e:
            st.error(markup.escape_markdown(f"Chats are not being saved: {e}"))
            return
        if recovery is not None and st.session_state.get(_NOTICE_SHOWN) != str(recovery.kept):
            st.session_state[_NOTICE_SHOWN] = str(recovery.kept)
            st.warning(
                markup.escape_markdown(
                    f"The chat history could not be read ({recovery.reason}). It was kept as "
                    f"{recovery.kept.name} in the data folder, and a fresh history was started."
                ),
                icon=":material/history:",
            )
        if error := st.session_state.pop(_ERROR, None):
            st.error(markup.escape_markdown(error))
        if chats:
            chat_list(chats, settings)
            current = next((c for c in chats if c.id == st.session_state.get(CHAT_ID)), None)
            if current is not None:
                chat_actions(current, settings)


def chat_list(chats: list[ChatSummary], settings: Settings) -> None:
    """One button per saved chat, titled by its first question (or its new title)."""
    st.subheader("Chats", divider="gray")
    box = st.container(height=320 if len(chats) > _SCROLL_AFTER else "content", key="chats-list")
    current = st.session_state.get(CHAT_ID)
    for chat in chats:
        box.button(
            markup.escape_markdown(short_label(chat.title)),
            key=f"chat-{chat.id}",
            help=markup.escape_markdown(chat.title) if len(chat.title) > _LABEL_LIMIT else None,
            icon=":material/forum:" if chat.id == current else ":material/chat_bubble_outline:",
            type="secondary" if chat.id == current else "tertiary",
            width="stretch",
            on_click=open_chat,
            args=(chat.id, settings),
        )


def chat_actions(chat: ChatSummary, settings: Settings) -> None:
    """Rename, export and delete the open chat."""
    with st.expander("This chat", icon=":material/settings:"):
        st.caption(f"Asked collection `{chat.collection}`")
        now = settings.collection
        if now != chat.collection:
            st.caption(f"New questions go to `{now}`, the collection chosen now.")
        key = f"chat-title-{chat.id}"
        st.session_state.setdefault(key, chat.title)
        st.text_input("Title", key=key, max_chars=200)
        st.button("Rename", key=f"rename-{chat.id}", on_click=rename_chat, args=(chat.id, settings))
        st.download_button(
            "Export as Markdown",
            data=functools.partial(export_markdown, chat.id, settings),  # made on click, not every run
            file_name=markdown_filename(chat.title),
            mime="text/markdown",
            key=f"export-{chat.id}",
            icon=":material/download:",
            on_click="ignore",
        )
        st.button(
            "Delete chat",
            key=f"delete-{chat.id}",
            icon=":material/delete:",
            on_click=delete_chat,
            args=(chat.id, settings),
        )


def export_markdown(chat_id: str, settings: Settings) -> str:
    """The chat's Markdown export; a history that cannot be read gives a file that says so."""
    try:
        return history(settings).export_markdown(chat_id) or "This chat no longer exists.\n"
    except HistoryError as e:
        return f"This chat could not be exported: {e}\n"


def short_label(title: str) -> str:
    """A chat title short enough for one line of the sidebar."""
    return title if len(title) <= _LABEL_LIMIT else title[: _LABEL_LIMIT - 1].rstrip() + "\u2026"


def markdown_filename(title: str) -> str:
    """A safe file name for a chat's Markdown export."""
    stem = re.sub(r"[^\w-]+", "-", title, flags=re.UNICODE).strip("-_")[:60].strip("-_")
    return f"{stem or 'chat'}.md"
