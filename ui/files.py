"""Files the UI writes: uploaded documents and the feedback log.

An upload can never write outside the uploads folder: its name is reduced to a safe base name
(`safe_filename`) and the resolved destination is checked to be a direct child of the folder.
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

from assistant import Answer
from ingest.loaders import SkipFile, load_document

_UNSAFE_CHARS = re.compile(r"[^\w .()+,=@-]", re.UNICODE)
_MAX_NAME = 120


class UploadRejected(Exception):
    """An upload that is not written (too large, unsupported type...); `str()` says why."""


def read_document(path: Path | None, max_bytes: int) -> str | None:
    """A document's text as ingest reads it, or None when there is no such file any more or
    it cannot be read (the caller says the document is not available)."""
    if path is None:
        return None
    try:
        return load_document(path, max_bytes=max_bytes).text
    except (SkipFile, OSError):
        return None


def uploads_dir(data_dir: Path, collection: str | None = None) -> Path:
    """The folder uploaded documents are saved in (created when missing): `documents/` for the
    app's own collection (`collection` None, where uploads always went), `collections/<name>/`
    for another one, so syncing one collection's folder never picks up another's files.

    `collection` must be a validated name (`Settings.collection`): a plain file name.
    """
    path = Path(data_dir) / "documents" if collection is None else Path(data_dir) / "collections" / collection
    path.mkdir(parents=True, exist_ok=True)
    return path


def feedback_path(data_dir: Path) -> Path:
    """The JSON-lines file thumbs up/down are appended to."""
    return Path(data_dir) / "feedback.jsonl"


def safe_filename(name: str, *, default_stem: str = "upload") -> str:
    """Reduce an uploaded file's name to a safe base name.

    Takes only the last path component (of `/` or `\\` paths), drops control characters,
    `..` and leading dots or spaces, replaces other unusual characters with `_` and limits
    the length (keeping the suffix). Never returns an empty name, `.` or `..`.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = text.replace("\\", "/").split("/")[-1]
    text = text.replace("..", "")
    text = _UNSAFE_CHARS.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip().lstrip(". ").rstrip(" ")
    stem, dot, suffix = text.rpartition(".")
    if not dot:
        stem, suffix = text, ""
    suffix = suffix[:16]
    stem = stem.strip(" .") or default_stem
    budget = _MAX_NAME - (len(suffix) + 1 if suffix else 0)
    stem = stem[:budget].rstrip(" .") or default_stem
    return f"{stem}.{suffix}" if suffix else stem


def save_upload(
    folder: Path, name: str, data: bytes, *, max_bytes: int, allowed_suffixes: Iterable[str], taken: Iterable[str] = ()
) -> Path:
    """Write an uploaded file into `folder` under a safe name; return its path.

    Args:
        folder: The uploads folder.
        name: The name the browser sent (untrusted).
        data: The file's bytes.
        max_bytes: Larger uploads are refused.
        allowed_suffixes: Lower-case suffixes with the dot (e.g. `SUPPORTED_SUFFIXES`).
        taken: Names already indexed from elsewhere (e.g. the seeds); a clash gets a
            numbered name instead, so an upload never shadows another document.

    Raises:
        UploadRejected: Too large, unsupported type, or no safe place to write it.
    """
    if len(data) > max_bytes:
        raise UploadRejected(f"file too large ({len(data):,} bytes; the limit is {max_bytes:,})")
    clean = safe_filename(name)
    suffix = Path(clean).suffix.lower()
    if suffix not in set(allowed_suffixes):
        raise UploadRejected(f"unsupported file type {suffix or '(none)'}")
    root = Path(folder).resolve()
    taken = set(taken)
    candidate, i = clean, 1
    while candidate in taken:
        candidate = f"{Path(clean).stem}-{i}{Path(clean).suffix}"
        i += 1
    dest = root / candidate
    if dest.resolve().parent != root or dest.is_dir():
        raise UploadRejected("no safe place to save this file")
    if dest.is_symlink():
        dest.unlink()
    # Write to a temporary name, then rename: a half-written file is never ingested.
    tmp = root / f".{candidate}.part"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, dest)
    return dest


def feedback_record(rating: str, answer: Answer, *, question: str) -> dict:
    """The JSON record saved for one thumbs up/down."""
    data = answer.to_dict()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rating": rating,
        "question": question,
        "answer": data,
        "citations": data["citations"],
    }


def append_jsonl(path: Path, record: Mapping) -> None:
    """Append one JSON line to `path` (folder created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, default=str)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
