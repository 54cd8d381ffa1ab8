"""Turn one file into a `Document`: its text (which every chunk offset refers to) and metadata.

Plain text, Markdown and reStructuredText keep the decoded file content exactly (markup left
in), so that a citation's offsets and line numbers point into the file a person can open. HTML
is reduced to its visible text, PDF to its pages' text, Word (.docx) to its paragraphs and table
rows, PowerPoint (.pptx) to its slides' text and EPUB to its chapters' visible text in reading
(spine) order; there the offsets refer to that extracted text, which is also what the UI shows
when it opens the document. PDF pages and slides are recorded as `Document.pages`.

Anything that should not be ingested (binary, empty, too large, undecodable, encrypted...)
raises `SkipFile` with a reason a person can read; the ingest command reports and continues.
"""

from __future__ import annotations

import bisect
import codecs
import io
import posixpath
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote
from xml.etree import ElementTree

__all__ = ["SUPPORTED_SUFFIXES", "Document", "SkipFile", "load_document", "page_label"]

_KINDS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".rst": "rst",
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".epub": "epub",
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_KINDS)
"""File name suffixes (lower case, with the dot) that `load_document` accepts."""

# What one of `Document.pages` is called in citations ("page 3", "slide 3"), by kind.
_PAGE_LABELS = {"pptx": "slide"}
# Kinds whose pages are separate units: no sentence runs on from one to the next (a PDF's may).
_SEPARATE_PAGE_KINDS = frozenset({"pptx"})
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
            .txt/.md/.rst it is the decoded file content exactly (a UTF-8 BOM dropped).
        title: First Markdown or reStructuredText heading, HTML `<title>`, first Word heading,
            first slide title, EPUB title, or else the first non-empty line.
        kind: "text", "markdown", "rst", "html", "pdf", "docx", "pptx" or "epub".
        pages: For PDF, the offset in `text` where each page starts (page i+1 starts at
            `pages[i]`); for .pptx the same for slides; empty for other kinds.
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

    @property
    def page_label(self) -> str:
        """What a page of this document is called: "slide" for a deck, else "page"."""
        return _PAGE_LABELS.get(self.kind, "page")

    @property
    def separate_pages(self) -> bool:
        """True when no text runs on from one page to the next (slides), so a chunk is cut where
        a page starts and its page is the page of every sentence in it."""
        return self.kind in _SEPARATE_PAGE_KINDS

    def line_at(self, offset: int) -> int:
        """1-based line holding `offset` (a line ends at "\\n", "\\r\\n" or a lone "\\r")."""
        return bisect.bisect_right(self._line_starts, offset)

    @cached_property
    def _line_starts(self) -> list[int]:
        # cached_property writes to the instance __dict__, which a frozen dataclass allows.
        return [0] + [m.end() for m in _LINE_BREAK_RE.finditer(self.text)]


def page_label(source: str) -> str:
    """What a page (`Citation.page`) of the file `source` is called: "slide" for a deck, else "page".

    Args:
        source: The file's name or path (only its suffix matters, as for `load_document`).
    """
    return _PAGE_LABELS.get(_KINDS.get(PurePosixPath(source).suffix.lower(), ""), "page")


def load_document(path: Path, *, max_bytes: int) -> Document:
    """Read and decode one file.

    Args:
        path: The file to read.
        max_bytes: Larger files are skipped (checked before reading).

    Returns:
        The document.

    Raises:
        SkipFile: Unsupported extension, binary content, empty, too large, undecodable,
            encrypted or broken PDF/Office/EPUB file, or unreadable file.
    """
    path = Path(path)
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        shown = path.suffix or "(none)"
        raise SkipFile(f"unsupported file type {shown}")
    data = _read_bytes(path, max_bytes)
    if not data.strip():
        raise SkipFile("empty file")
    if kind in _BINARY_LOADERS:
        return _BINARY_LOADERS[kind](data)
    text = _decode(data, html=kind == "html")
    if kind == "html":
        text, title = _html_to_text(text)
        if not text.strip():
            raise SkipFile("HTML page has no visible text")
        return Document(text=text, title=title or _first_line(text), kind=kind)
    if not text.strip():
        raise SkipFile("empty file (only whitespace)")
    title = _markdown_title(text) if kind == "markdown" else _rst_title(text) if kind == "rst" else ""
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


# A section adornment: one punctuation character repeated (=====, -----, ~~~~~ ...).
_RST_ADORNMENT_RE = re.compile(r"""^([!-/:-@\[-`{-~])\1+[ \t]*$""")


def _rst_title(text: str) -> str:
    """The first reStructuredText section title: a line underlined (and maybe overlined) by an
    adornment at least as long as it."""
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        line, title = lines[i], lines[i].strip()
        overlined = i > 0 and _RST_ADORNMENT_RE.match(lines[i - 1]) is not None
        if (
            title
            and (overlined or not line[:1].isspace())  # else indented: a quote or literal block
            and not _RST_ADORNMENT_RE.match(line)
            and _RST_ADORNMENT_RE.match(lines[i + 1])
            and len(lines[i + 1].rstrip()) >= len(title)
        ):
            return " ".join(title.split())[:_TITLE_MAX]
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
    text, starts = _join_pages(page_texts)
    return Document(text=text, title=_first_line(text), kind="pdf", pages=starts)


def _join_pages(page_texts: list[str]) -> tuple[str, tuple[int, ...]]:
    """The pages' texts joined by `_PAGE_SEPARATOR`, and the offset where each page starts."""
    starts: list[int] = []
    offset = 0
    for i, page_text in enumerate(page_texts):
        if i:
            offset += len(_PAGE_SEPARATOR)
        starts.append(offset)
        offset += len(page_text)
    return _PAGE_SEPARATOR.join(page_texts), tuple(starts)


# --- zip packages: .docx, .pptx, .epub ---------------------------------------------------

# The declared unpacked size of a package's parts; more is a zip bomb, not a document.
_MAX_UNPACKED_BYTES = 1 << 30
_BLOCK_SEPARATOR = "\n\n"
_CELL_SEPARATOR = " | "


def _open_zip(data: bytes, label: str) -> zipfile.ZipFile:
    """Open a package (every format here is a zip); a file that is not one is skipped.

    Password-protected Office files are not zips (they are OLE compound files holding an
    encrypted package), so they end up here too.
    """
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        unpacked = sum(info.file_size for info in package.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as e:
        raise SkipFile(f"not a valid {label} (damaged or password-protected)") from e
    if unpacked > _MAX_UNPACKED_BYTES:
        raise SkipFile(f"{label} unpacks to {unpacked:,} bytes (the limit is {_MAX_UNPACKED_BYTES:,})")
    return package


def _package_error(error: Exception, stream: io.BytesIO) -> str:
    """A parser's error, phrased for a person: python-docx and python-pptx name the file they
    were given in a wrong-kind error, which here is a stream ("<_io.BytesIO object at 0x...>")."""
    message = str(error).replace(f"file '{stream}'", "the file")
    return message if isinstance(error, ValueError) else f"{type(error).__name__}: {message}"


def _clean_line(text: str) -> str:
    """One line of extracted text: inner line breaks and runs of spaces become one space."""
    return " ".join(text.split())


def _table_lines(rows: list[list[str | None]]) -> list[str]:
    """Table rows as lines, cells joined by " | "; rows without any text are left out.

    Args:
        rows: Per row, the text of each cell, or None for a position covered by the merged
            cell to its left (its text is given once).
    """
    lines = []
    for row in rows:
        cells = [_clean_line(text) for text in row if text is not None]
        if any(cells):
            lines.append(_CELL_SEPARATOR.join(cells).strip())
    return lines


# --- Word (.docx) -----------------------------------------------------------------------


def _load_docx(data: bytes) -> Document:
    _open_zip(data, ".docx").close()
    import docx  # imported here: only .docx ingest pays for it

    stream = io.BytesIO(data)
    try:
        blocks, title = _docx_blocks(docx.Document(stream))
    except Exception as e:  # broken packages surface as KeyError, XML and package errors...
        raise SkipFile(f"broken .docx: {_package_error(e, stream)}") from e
    if not blocks:
        raise SkipFile(".docx has no text")
    text = _BLOCK_SEPARATOR.join(blocks)
    return Document(text=text, title=title or _first_line(text), kind="docx")


def _docx_blocks(word) -> tuple[list[str], str]:  # word: docx.document.Document
    """Paragraphs (headings too, each its own block) and tables, in document order; the first
    heading or Title-styled paragraph."""
    from docx.enum.style import WD_STYLE_TYPE
    from docx.table import Table

    # Style ids of headings, found once: `Paragraph.style` looks its style up by scanning every
    # style, which made a 20,000-paragraph file take 15 s.
    headings = {
        style.style_id
        for style in word.styles
        if style.type == WD_STYLE_TYPE.PARAGRAPH and (style.name == "Title" or (style.name or "").startswith("Heading"))
    }
    blocks: list[str] = []
    title = ""
    for item in word.iter_inner_content():
        if isinstance(item, Table):
            lines = _table_lines(_docx_rows(item))
            if lines:
                blocks.append("\n".join(lines))
            continue
        paragraph = item.text.strip()
        if not paragraph:
            continue
        if not title and item._p.style in headings:  # the paragraph's style id (None: the default)
            title = _clean_line(paragraph)[:_TITLE_MAX]
        blocks.append(paragraph)
    return blocks, title


def _docx_rows(table) -> list[list[str | None]]:  # table: docx.table.Table
    """Cell texts per row; a cell merged across columns is given once, across rows once (at its top)."""
    rows: list[list[str | None]] = []
    tops: dict[int, object] = {}  # id -> <w:tc> of cells already given (kept alive, so ids stay unique)
    for row in table.rows:
        cells: list[str | None] = []
        previous = None
        for cell in row.cells:
            tc = cell._tc  # python-docx repeats a merged cell: the same <w:tc> marks the repeats
            if cell is previous:
                cells.append(None)
            elif id(tc) in tops:
                cells.append("")
            else:
                tops[id(tc)] = tc
                cells.append(cell.text)
            previous = cell
        rows.append(cells)
    return rows


# --- PowerPoint (.pptx) -----------------------------------------------------------------


def _load_pptx(data: bytes) -> Document:
    _open_zip(data, ".pptx").close()
    import pptx  # imported here: only .pptx ingest pays for it

    stream = io.BytesIO(data)
    try:
        deck = pptx.Presentation(stream)
        slide_texts = [_slide_text(slide.shapes) for slide in deck.slides]
        first_title = deck.slides[0].shapes.title if slide_texts else None
    except Exception as e:  # broken packages surface as KeyError, XML and package errors...
        raise SkipFile(f"broken .pptx: {_package_error(e, stream)}") from e
    if not slide_texts:
        raise SkipFile("presentation has no slides")
    if not any(slide_texts):
        raise SkipFile("presentation has no text (pictures only?)")
    # Slides are kept like PDF pages, an empty slide too, so that slide numbers stay right.
    text, starts = _join_pages(slide_texts)
    title = _clean_line(first_title.text_frame.text)[:_TITLE_MAX] if first_title is not None else ""
    return Document(text=text, title=title or _first_line(text), kind="pptx", pages=starts)


def _slide_text(shapes) -> str:  # shapes: a slide's or a group's shape collection
    """The text of every text frame and table on a slide (groups included), in the slide's
    shape order; paragraphs and table rows one per line."""
    from pptx.shapes.group import GroupShape

    parts: list[str] = []
    for shape in shapes:
        if isinstance(shape, GroupShape):
            inner = _slide_text(shape.shapes)
        elif shape.has_text_frame:
            # python-pptx writes a line break inside a paragraph as a vertical tab.
            lines = (line.strip() for line in shape.text_frame.text.replace("\v", "\n").split("\n"))
            inner = "\n".join(line for line in lines if line)
        elif shape.has_table:
            # A cell covered by a merged one is left out (its text is the merged cell's).
            rows = [[None if cell.is_spanned else cell.text for cell in row.cells] for row in shape.table.rows]
            inner = "\n".join(_table_lines(rows))
        else:
            continue
        if inner:
            parts.append(inner)
    return "\n".join(parts)


# --- EPUB -------------------------------------------------------------------------------

_EPUB_CONTAINER = "META-INF/container.xml"
_EPUB_ENCRYPTION = "META-INF/encryption.xml"
_EPUB_CHAPTER_TYPES = frozenset({"application/xhtml+xml", "text/html"})


def _load_epub(data: bytes) -> Document:
    """The chapters' visible text in reading (spine) order, a blank line between chapters."""
    with _open_zip(data, ".epub") as package:
        chapters, book_title = _epub_spine(package)
        locked = _epub_encrypted_parts(package)
        texts = []
        for name in chapters:
            if name in locked:
                raise SkipFile("encrypted EPUB (DRM-protected)")
            try:
                text, _ = _html_to_text(_decode(_epub_part(package, name), html=True))
            except SkipFile as e:
                raise SkipFile(f"damaged .epub: chapter {name}: {e.reason}") from e
            if text:
                texts.append(text)
    if not texts:
        raise SkipFile("EPUB has no visible text")
    text = _BLOCK_SEPARATOR.join(texts)
    return Document(text=text, title=book_title or _first_line(text), kind="epub")


def _epub_spine(package: zipfile.ZipFile) -> tuple[list[str], str]:
    """The zip names of the book's (X)HTML content documents in spine order, and its title."""
    container = _epub_xml(package, _EPUB_CONTAINER)
    rootfile = next((el.get("full-path") for el in container.iter() if _local_name(el) == "rootfile"), None)
    if not rootfile:
        raise SkipFile(f"not a valid .epub (no package document named in {_EPUB_CONTAINER})")
    opf = _epub_xml(package, rootfile)
    spine = [el.get("idref") for el in opf.iter() if _local_name(el) == "itemref"]
    if not spine:
        raise SkipFile("not a valid .epub (its package document has no spine, the reading order)")
    items = {el.get("id"): el for el in opf.iter() if _local_name(el) == "item"}
    base = posixpath.dirname(rootfile)
    chapters = []
    for idref in spine:
        item = items.get(idref)
        if item is not None and item.get("media-type") in _EPUB_CHAPTER_TYPES and item.get("href"):
            href = unquote(item.get("href", "").split("#")[0])
            chapters.append(posixpath.normpath(posixpath.join(base, href)))
    if not chapters:
        raise SkipFile("not a valid .epub (its spine lists no XHTML chapters)")
    title = next((_clean_line(el.text or "") for el in opf.iter() if _local_name(el) == "title"), "")
    return chapters, title[:_TITLE_MAX]


def _epub_encrypted_parts(package: zipfile.ZipFile) -> set[str]:
    """Zip names that META-INF/encryption.xml says are encrypted (DRM; often only fonts)."""
    try:
        package.getinfo(_EPUB_ENCRYPTION)
    except KeyError:
        return set()
    refs = _epub_xml(package, _EPUB_ENCRYPTION).iter()
    return {posixpath.normpath(unquote(el.get("URI", ""))) for el in refs if _local_name(el) == "CipherReference"}


def _epub_part(package: zipfile.ZipFile, name: str) -> bytes:
    try:
        return package.read(name)
    except KeyError as e:
        raise SkipFile(f"not a valid .epub ({name} is missing)") from e
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, ValueError, EOFError) as e:
        # A bad CRC, an unknown compression method, a zip-encrypted entry...
        raise SkipFile(f"damaged .epub: cannot unpack {name}: {e}") from e


def _epub_xml(package: zipfile.ZipFile, name: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(_epub_part(package, name))
    except ElementTree.ParseError as e:
        raise SkipFile(f"not a valid .epub ({name} is not well-formed XML: {e})") from e


def _local_name(element: ElementTree.Element) -> str:
    """An element's tag without its namespace (EPUB 2 and 3 files vary in how they use them)."""
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rpartition("}")[2]


# Formats read from bytes by their own parser rather than decoded as text.
_BINARY_LOADERS = {"pdf": _load_pdf, "docx": _load_docx, "pptx": _load_pptx, "epub": _load_epub}
