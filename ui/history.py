"""Saved conversations: every chat of the UI in one SQLite file, `RAG_DATA_DIR/history.sqlite3`.

No Streamlit here (the sidebar glue is `ui/chats.py`), so it can be tested alone.

- One transaction per answered question (`append_turn`): a crash loses at most the answer
  being written.
- A new connection per operation: Streamlit runs each browser session on its own thread, and
  two sessions (two tabs) write their own chats into the shared file without mixing them.
- Each turn keeps what is needed to redraw its answer exactly as it was: the `Answer`
  (text, citations with offsets and page, the retrieved passages, notices, timings, trace)
  as JSON, plus the collection it asked.
- The file carries `PRAGMA application_id` and `PRAGMA user_version`. A file that is not
  SQLite, is damaged, or is SQLite without this schema is never deleted: `ChatHistory.prepare`
  moves it aside (`history.sqlite3.damaged-<UTC time>`) and starts a fresh history.

Schema (user_version 1):

    chats(id TEXT PRIMARY KEY, title TEXT, collection TEXT, created REAL, updated REAL)
    turns(chat_id TEXT -> chats.id ON DELETE CASCADE, seq INTEGER, id TEXT, question TEXT,
          answer TEXT (JSON), notices TEXT (JSON list), collection TEXT,
          first_sentence REAL NULL, created REAL, PRIMARY KEY (chat_id, seq))
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
import threading
import time
import types
import typing
import uuid
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from assistant import Answer
from ui.markup import line_label

FILENAME = "history.sqlite3"
SCHEMA_VERSION = 1
APPLICATION_ID = 0x64636874  # "dcht": marks the file as a docchat chat history
_SCHEMA = """
CREATE TABLE chats (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    collection TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE turns (
    chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    notices TEXT NOT NULL,
    collection TEXT NOT NULL,
    first_sentence REAL,
    created REAL NOT NULL,
    PRIMARY KEY (chat_id, seq)
);
CREATE INDEX chats_by_update ON chats(updated);
"""
_TITLE_LIMIT = 200


class HistoryError(Exception):
    """The history file cannot be read or written (disk full, permissions, a damaged file)."""


def history_path(data_dir: Path) -> Path:
    """Where the chats of the UI live: `<data_dir>/history.sqlite3`."""
    return Path(data_dir) / FILENAME


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Turn:
    """One answered question of a chat.

    Attributes:
        question: The question as asked.
        answer: The answer as shown (citations, passages, notices, timings).
        collection: The collection it asked.
        notices: Notices the UI added (e.g. a model fallback), besides `answer.notices`.
        first_sentence: Seconds until the first verified sentence was shown, if measured.
        id: The UI's message id (keys of its widgets).
        created: When it was saved (epoch seconds).
    """

    question: str
    answer: Answer
    collection: str
    notices: tuple[str, ...] = ()
    first_sentence: float | None = None
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:12])
    created: float = dataclasses.field(default_factory=time.time)


@dataclass(frozen=True)
class ChatSummary:
    """A chat as listed: id, title (its first question unless renamed), collection, times."""

    id: str
    title: str
    collection: str
    created: float
    updated: float


@dataclass(frozen=True)
class Chat:
    """A saved chat with its turns, oldest first."""

    summary: ChatSummary
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Recovery:
    """A history file that could not be used and was kept beside the fresh one.

    Attributes:
        kept: Where the old file now is.
        reason: Why it was not used ("not a docchat history", "damaged: ...").
    """

    kept: Path
    reason: str


# --------------------------------------------------------------------------- answers as JSON


def answer_to_dict(answer: Answer) -> dict:
    """The whole `Answer` (nested citations, passages, trace) as JSON-ready data.

    Unlike `Answer.to_dict` (a summary for logs), nothing is left out: `answer_from_dict`
    rebuilds an equal `Answer`.
    """
    return _plain(answer)


def answer_from_dict(data: Mapping) -> Answer:
    """Rebuild an `Answer` from `answer_to_dict` output (unknown keys are ignored, missing
    ones take their defaults, so older and newer files still load)."""
    return _build(Answer, data)


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


_type_hints = functools.cache(typing.get_type_hints)


def _build(kind: object, value: object) -> object:
    """`value` (plain JSON data) converted to the annotated type `kind`."""
    if value is None:
        return None
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _type_hints(kind)
        names = {f.name for f in dataclasses.fields(kind) if f.init}
        return kind(**{k: _build(hints[k], v) for k, v in value.items() if k in names})
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _build(inner[0], value) if len(inner) == 1 else value
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in value)
        return tuple(_build(a, v) for a, v in zip(args, value)) if args else tuple(value)
    if origin in (dict, Mapping):
        return {k: _build(args[1], v) for k, v in value.items()} if args else dict(value)
    return value


# --------------------------------------------------------------------------- the store


class ChatHistory:
    """The chats in one SQLite file, shared by every session and thread of a process.

    The constructor only records the path (and how long to wait for another writer's lock);
    `prepare()` (called by every operation, and once really) creates or checks the file.
    """

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout  # seconds to wait for another writer's lock
        self.recovery: Recovery | None = None
        self._ready = False
        self._lock = threading.Lock()

    def prepare(self) -> Recovery | None:
        """Create the file, or check it is ours; move a damaged or foreign one aside.

        Returns:
            What was moved aside and why (also kept in `self.recovery`), or None.

        Raises:
            HistoryError: The folder or the file cannot be created or written, or another
                writer held its lock longer than `timeout` (the file is then left alone).
        """
        with self._lock:
            if not self._ready:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    problem = _check(self.path, self.timeout)
                    if problem is not None:
                        self.recovery = Recovery(_move_aside(self.path), problem)
                    with closing(_connect(self.path, self.timeout)) as conn:
                        _create_schema(conn)
                except (sqlite3.Error, OSError) as e:
                    raise HistoryError(f"cannot use the chat history {self.path}: {e}") from e
                self._ready = True
        return self.recovery

    def _run(self, statements: list[tuple[str, tuple]], *, write: bool = False) -> list[list[tuple]]:
        """Run `statements` in one transaction on a new connection; the rows of each.

        A failure other than a lock held too long makes the next `prepare()` check the file
        again (it may have been replaced, damaged or removed while in use) and is retried
        once, so an answer is still saved, into a fresh history if need be.
        """
        for attempt in (1, 2):
            self.prepare()
            try:
                with closing(_connect(self.path, self.timeout)) as conn:
                    # IMMEDIATE takes the write lock before max(seq) is read; a read
                    # transaction sees one snapshot across its statements.
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        rows = [conn.execute(sql, args).fetchall() for sql, args in statements]
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return rows
            except sqlite3.Error as e:
                busy = getattr(e, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
                if busy or attempt == 2:
                    verb = "written" if write else "read"
                    raise HistoryError(f"the chat history {self.path} cannot be {verb}: {e}") from e
                with self._lock:
                    self._ready = False
        raise AssertionError("unreachable")

    def create_chat(self, title: str, collection: str, *, chat_id: str | None = None) -> str:
        """Create an empty chat and return its id."""
        chat_id = chat_id or new_chat_id()
        now = time.time()
        sql = "INSERT INTO chats (id, title, collection, created, updated) VALUES (?, ?, ?, ?, ?)"
        self._run([(sql, (chat_id, _title(title), collection, now, now))], write=True)
        return chat_id

    def append_turn(self, chat_id: str, turn: Turn) -> None:
        """Save one answered question, in one transaction; the chat is created by its first
        turn (titled by its question) when it does not exist yet."""
        row = (
            turn.id,
            turn.question,
            json.dumps(answer_to_dict(turn.answer), ensure_ascii=False),
            json.dumps(list(turn.notices), ensure_ascii=False),
            turn.collection,
            turn.first_sentence,
            turn.created,
        )
        self._run(
            [
                (
                    "INSERT OR IGNORE INTO chats (id, title, collection, created, updated) VALUES (?, ?, ?, ?, ?)",
                    (chat_id, _title(turn.question), turn.collection, turn.created, turn.created),
                ),
                (
                    "INSERT INTO turns (chat_id, seq, id, question, answer, notices, collection, first_sentence, "
                    "created) SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM turns WHERE chat_id = ?",
                    (chat_id, *row, chat_id),
                ),
                ("UPDATE chats SET updated = MAX(updated, ?) WHERE id = ?", (turn.created, chat_id)),
            ],
            write=True,
        )

    def list_chats(self) -> list[ChatSummary]:
        """Every chat, the most recently active first."""
        sql = (
            "SELECT id, title, collection, created, updated FROM chats ORDER BY updated DESC, created DESC, rowid DESC"
        )
        (rows,) = self._run([(sql, ())])
        return [ChatSummary(*r) for r in rows]

    def load_chat(self, chat_id: str) -> Chat | None:
        """The chat with its turns (oldest first), or None when there is no such chat."""
        found, rows = self._run(
            [
                ("SELECT id, title, collection, created, updated FROM chats WHERE id = ?", (chat_id,)),
                (
                    "SELECT question, answer, notices, collection, first_sentence, id, created FROM turns "
                    "WHERE chat_id = ? ORDER BY seq",
                    (chat_id,),
                ),
            ]
        )
        if not found:
            return None
        try:
            turns = tuple(
                Turn(q, answer_from_dict(json.loads(a)), c, tuple(json.loads(n)), fs, i, t)
                for q, a, n, c, fs, i, t in rows
            )
        except (ValueError, TypeError, AttributeError) as e:
            raise HistoryError(f"chat {chat_id} in {self.path} cannot be read: {e}") from e
        return Chat(ChatSummary(*found[0]), turns)

    def rename_chat(self, chat_id: str, title: str) -> None:
        """Give a chat another title (blank titles are refused with ValueError)."""
        if not title.strip():
            raise ValueError("a chat title cannot be empty")
        self._run([("UPDATE chats SET title = ? WHERE id = ?", (_title(title), chat_id))], write=True)

    def delete_chat(self, chat_id: str) -> None:
        """Delete a chat and its turns (nothing happens for an unknown id)."""
        self._run(
            [("DELETE FROM turns WHERE chat_id = ?", (chat_id,)), ("DELETE FROM chats WHERE id = ?", (chat_id,))],
            write=True,
        )

    def export_markdown(self, chat_id: str) -> str | None:
        """The chat as Markdown (`chat_markdown`), or None when there is no such chat."""
        chat = self.load_chat(chat_id)
        return None if chat is None else chat_markdown(chat)


def new_chat_id() -> str:
    """A fresh random chat id."""
    return uuid.uuid4().hex


def _title(text: str) -> str:
    title = " ".join(text.split())
    return title if len(title) <= _TITLE_LIMIT else title[: _TITLE_LIMIT - 1].rstrip() + "\u2026"


# --------------------------------------------------------------------------- the file


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    # isolation_level=None: transactions are begun and ended explicitly (`ChatHistory._run`).
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _check(path: Path, timeout: float) -> str | None:
    """Why the file at `path` cannot be used as our history, or None (ours, empty or absent).

    Raises:
        sqlite3.OperationalError: It cannot be read now (locked by a writer, unreadable): not
            a reason to move it aside.
    """
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        with closing(sqlite3.connect(path, timeout=timeout)) as conn:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as e:
        return f"not an SQLite database, or damaged ({e})"
    if not tables and app_id == 0 and version == 0:
        return None  # an empty database: nothing to keep
    if app_id != APPLICATION_ID or not {"chats", "turns"} <= tables:
        return "an SQLite file without docchat's chat tables"
    if version != SCHEMA_VERSION:
        return f"a docchat history of another version ({version}; this version reads {SCHEMA_VERSION})"
    if integrity != "ok":
        return f"damaged ({integrity})"
    return None


def _move_aside(path: Path) -> Path:
    """Rename `path` (and its journal files, which belong to it) to `<name>.damaged-<UTC time>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while kept.exists():
        n += 1
        kept = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    path.rename(kept)
    for suffix in ("-journal", "-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(kept.with_name(kept.name + suffix))
    return kept


def _create_schema(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:  # another process won
        conn.execute("ROLLBACK")
        return
    for statement in filter(str.strip, _SCHEMA.split(";")):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.execute("COMMIT")


# --------------------------------------------------------------------------- export


def chat_markdown(chat: Chat) -> str:
    """A chat as Markdown: each question, its answer with `[n]` markers, and the numbered
    citations with their files, lines and quoted sentences."""
    s = chat.summary
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(s.created))
    out = [f"# {s.title}", "", f"_docchat chat \u00b7 collection `{s.collection}` \u00b7 started {stamp}_", ""]
    for i, turn in enumerate(chat.turns, 1):
        out += _turn_markdown(i, turn)
    return "\n".join(out).rstrip() + "\n"


def _turn_markdown(i: int, turn: Turn) -> list[str]:
    answer = turn.answer
    out = [f"## {i}. {' '.join(turn.question.split())}", ""]
    for notice in dict.fromkeys([*turn.notices, *answer.notices]):
        out += [f"> **Note:** {notice}", ""]
    out += [answer.text.strip() or "_(no answer)_", ""]
    if answer.citations and not answer.abstained:
        out += ["**Sources**", ""]
        for c in answer.citations:
            out.append(f"{c.n}. `{c.source}` ({line_label(c, separator=', ')})")
            out += [f"   > {line}" if line.strip() else "   >" for line in c.quote.splitlines()]
        out.append("")
    return out
