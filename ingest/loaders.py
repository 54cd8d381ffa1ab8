"""Turn one file into a `Document`: its text (which every chunk offset refers to) and metadata.

Plain text and Markdown keep the decoded file content exactly, so that a citation's offsets and
line numbers point into the file a person can open. HTML is reduced to its visible text and PDF
to its pages' text; there the offsets refer to that extracted text.

Anything that should not be ingested (binary, empty, too large, undecodable, encrypted...)
raises `SkipFile` with a reason a person can read; the ingest command reports and continues.
"""

from __future__ import annotations

import bisect
import codecs
import io
import re
import stat
from dataclasses import dataclass
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["SUPPORTED_SUFFIXES", "Document", "SkipFile", "load_document"]

_KINDS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_KINDS)
"""File name suffixes (lower case, with the dot) that `load_document` accepts."""

_TITLE_MAX = 200
_PAGE_SEPARATOR = "\n\n"
# Control characters that do not occur in text files (tab, LF, VT, FF, CR and ESC are allowed).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_MAX_CONTROL_SHARE = 0.01


class SkipFile(Exception):
    """A file that cannot or should not be ingested.

    Attributes:
        reason: Why, phrased for a person ("binary file", "encrypted PDF", ...).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Document:
    """The text of one source file and how to map offsets back to lines and pages.

    Attributes:
        text: The document text; every chunk's `start`/`end` are offsets into it. For
            .txt/.md it is the decoded file content exactly (a UTF-8 BOM dropped).
        title: First Markdown heading, HTML `<title>`, or first non-empty line.
        kind: "text", "markdown", "html" or "pdf".
        pages: For PDF, the offset in `text` where each page starts (page i+1 starts at
            `pages[i]`); empty for other kinds.
    """

    text: str
    title: str
    kind: str
    pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """1-based page holding `offset`, or None when the document has no pages."""
        if not self.pages:
            return None
        return max(1, bisect.bisect_right(self.pages, offset))

    def line_at(self, offset: int) -> int:
        """1-based line holding `offset` (a line ends at "\\n", "\\r\\n" or a lone "\\r")."""
        return bisect.bisect_right(self._line_starts, offset)

    @cached_property
    def _line_starts(self) -> list[int]:
        # cached_property writes to the instance __dict__, which a frozen dataclass allows.
        return [0] + [m.end() for m in _LINE_BREAK_RE.finditer(self.text)]


def load_document(path: Path, *, max_bytes: int) -> Document:
    """Read and decode one file.

    Args:
        path: The file to read.
        max_bytes: Larger files are skipped (checked before reading).

    Returns:
        The document.

    Raises:
        SkipFile: Unsupported extension, binary content, empty, too large, undecodable,
            encrypted or broken PDF, or unreadable file.
    """
    path = Path(path)
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        shown = path.suffix or "(none)"
        raise SkipFile(f"unsupported file type {shown}")
    data = _read_bytes(path, max_bytes)
    if not data.strip():
        raise SkipFile("empty file")
    if kind == "pdf":
        return _load_pdf(data)
    text = _decode(data, html=kind == "html")
    if kind == "html":
        text, title = _html_to_text(text)
        if not text.strip():
            raise SkipFile("HTML page has no visible text")
        return Document(text=text, title=title or _first_line(text), kind=kind)
    if not text.strip():
        raise SkipFile("empty file (only whitespace)")
    title = _markdown_title(text) if kind == "markdown" else ""
    return Document(text=text, title=title or _first_line(text), kind=kind)


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SkipFile("not a regular file")
        if info.st_size > max_bytes:
            raise SkipFile(f"file too large ({info.st_size:,} bytes; the limit is {max_bytes:,})")
        with path.open("rb") as fh:
            # The file may have grown since stat(): never read more than the limit allows.
            data = fh.read(max_bytes + 1)
    except SkipFile:
        raise
    except FileNotFoundError as e:
        raise SkipFile("file vanished before it could be read") from e
    except PermissionError as e:
        raise SkipFile("permission denied") from e
    except OSError as e:
        raise SkipFile(f"cannot read file: {e.strerror or e}") from e
    if len(data) > max_bytes:
        raise SkipFile(f"file too large (over {max_bytes:,} bytes)")
    return data


# --- decoding ---------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _decode(data: bytes, *, html: bool = False) -> str:
    """Decode bytes that should be text; raise SkipFile when they are not."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as e:
                raise SkipFile(f"invalid {codec.upper()} text despite its byte-order mark") from e
            _check_text(text)
            return text
    if b"\x00" in data:
        raise SkipFile("binary file (contains NUL bytes)")
    candidates = ["utf-8"]
    if html:
        declared = _META_CHARSET_RE.search(data[:4096])
        if declared:
            candidates.append(declared.group(1).decode("ascii"))
    candidates += ["cp1252", "latin-1"]
    for codec in candidates:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        if codec == "utf-8" or _looks_like_legacy_text(text):
            _check_text(text)
            return text
    raise SkipFile("cannot decode the text (not UTF-8, UTF-16 or a Western legacy encoding)")


def _check_text(text: str) -> None:
    controls = len(_CONTROL_RE.findall(text))
    if controls and controls > _MAX_CONTROL_SHARE * len(text):
        raise SkipFile("binary file (too many control characters)")


def _looks_like_legacy_text(text: str) -> bool:
    """True when a cp1252/latin-1 decoding reads like text rather than binary noise."""
    sample = text[:200_000]  # enough to judge, and keeps huge files fast
    if not sample:
        return False
    plausible = sum(
        1
        for ch in sample
        if ch.isalnum() or ch.isspace() or (ch.isprintable() and ord(ch) < 0x80) or ch in "«»‘’“”–—…€£§°·"
    )
    return plausible >= 0.95 * len(sample)


# --- titles -----------------------------------------------------------------------------

_MD_HEADING_RE = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line[:_TITLE_MAX]
    return ""


def _markdown_title(text: str) -> str:
    in_fence = False
    for line in text.splitlines():
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            m = _MD_HEADING_RE.match(line)
            if m:
                return " ".join(m.group(1).split())[:_TITLE_MAX]
    return ""


# --- HTML -------------------------------------------------------------------------------

# Elements whose content is never visible article text.
_SKIP_TAGS = frozenset(
    """script style noscript template head nav footer aside form iframe object embed svg
    canvas select button datalist dialog menu""".split()
)
_VOID_TAGS = frozenset("area base br col embed hr img input keygen link meta param source track wbr".split())
# Elements that start a new line of text.
_BLOCK_TAGS = frozenset(
    """address article blockquote body br caption dd details div dl dt fieldset figcaption
    figure h1 h2 h3 h4 h5 h6 header hr html li main ol p pre section summary table tbody td
    tfoot th thead tr ul""".split()
)
_INLINE_SPACE_RE = re.compile(r"[^\S\n]+")
_ANY_SPACE_RE = re.compile(r"\s+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


class _VisibleTextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip_stack: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
            return
        if tag == "body" or (tag in _BLOCK_TAGS and self._skip_stack == ["head"]):
            # The body has begun, whether or not </head> was written.
            self._skip_stack.clear()
        hidden = any(
            name == "hidden"
            or (name == "aria-hidden" and (value or "").lower() == "true")
            or (name == "style" and re.search(r"display\s*:\s*none", value or "", re.I))
            for name, value in attrs
        )
        if tag not in _VOID_TAGS and (tag in _SKIP_TAGS or hidden):
            self._skip_stack.append(tag)
        if tag in _BLOCK_TAGS and not self._skip_stack:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <div/>: never opens an element.
        if tag in _BLOCK_TAGS and not self._skip_stack:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if tag in self._skip_stack:
            # Close the element and anything left unclosed inside it.
            while self._skip_stack and self._skip_stack.pop() != tag:
                pass
            return
        if tag in _BLOCK_TAGS and not self._skip_stack:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip_stack:
            # Source line breaks are layout, not structure: only block elements break lines.
            self.parts.append(_ANY_SPACE_RE.sub(" ", data))


def _html_to_text(markup: str) -> tuple[str, str]:
    """Visible text (one block element per line, blank line between blocks) and the title."""
    parser = _VisibleTextParser()
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError) as e:  # html.parser gives up on some malformed input
        raise SkipFile(f"malformed HTML: {e}") from e
    raw = "".join(parser.parts)
    lines = [_INLINE_SPACE_RE.sub(" ", line).strip() for line in raw.split("\n")]
    text = _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip("\n")
    title = " ".join("".join(parser.title_parts).split())[:_TITLE_MAX]
    return text, title


# --- PDF --------------------------------------------------------------------------------


def _load_pdf(data: bytes) -> Document:
    import pypdf  # imported here: only PDF ingest pays for it

    if b"%PDF-" not in data[:1024]:
        raise SkipFile("not a PDF (missing %PDF header)")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Owner-password-only PDFs open with an empty user password; others are locked.
            try:
                unlocked = reader.decrypt("")
            except Exception as e:  # pypdf raises assorted errors, e.g. a missing AES backend
                raise SkipFile(f"encrypted PDF ({e})") from e
            if not unlocked:
                raise SkipFile("encrypted PDF (password required)")
        page_texts = [page.extract_text() or "" for page in reader.pages]
    except SkipFile:
        raise
    except Exception as e:  # broken files surface as PyPdfError and many others
        raise SkipFile(f"broken PDF: {type(e).__name__}: {e}") from e
    if not page_texts:
        raise SkipFile("PDF has no pages")
    if not any(t.strip() for t in page_texts):
        raise SkipFile("PDF has no extractable text (scanned images?)")
    starts: list[int] = []
    offset = 0
    for i, page_text in enumerate(page_texts):
        if i:
            offset += len(_PAGE_SEPARATOR)
        starts.append(offset)
        offset += len(page_text)
    text = _PAGE_SEPARATOR.join(page_texts)
    return Document(text=text, title=_first_line(text), kind="pdf", pages=tuple(starts))
