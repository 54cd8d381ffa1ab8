"""Loading files: exact text for .txt/.md/.rst, visible text for HTML, pages for PDF, slides for
.pptx, paragraphs and tables for .docx, chapters in spine order for .epub, and reasons for every
file that must be skipped."""

from __future__ import annotations

import io
import pathlib
import random
import time
import zipfile
from pathlib import Path

import pytest
from format_files import make_docx, make_epub, make_pdf, make_pptx, make_rich_pptx

from ingest.loaders import SUPPORTED_SUFFIXES, Document, SkipFile, load_document, page_label

LIMIT = 1_000_000


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def skip_reason(path: Path, max_bytes: int = LIMIT) -> str:
    with pytest.raises(SkipFile) as info:
        load_document(path, max_bytes=max_bytes)
    assert info.value.reason == str(info.value)
    return info.value.reason


# --- plain text and Markdown -------------------------------------------------------------


def test_text_is_kept_exactly(tmp_path: Path) -> None:
    content = "  First line with trailing space \r\nSecond\tline\r\n\r\n\nLast line without newline "
    doc = load_document(write(tmp_path, "a.txt", content), max_bytes=LIMIT)
    assert doc.text == content
    assert doc.kind == "text"
    assert doc.title == "First line with trailing space"
    assert doc.pages == ()
    assert doc.page_at(5) is None


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "bom.txt", b"\xef\xbb\xbfHello \xe2\x80\x9cworld\xe2\x80\x9d"), max_bytes=LIMIT)
    assert doc.text == "Hello “world”"


def test_latin1_text(tmp_path: Path) -> None:
    content = "Café à Zürich: naïve façade, 5 °C.\nÉté très chaud.\n"
    doc = load_document(write(tmp_path, "latin.txt", content, "latin-1"), max_bytes=LIMIT)
    assert doc.text == content


def test_cp1252_text(tmp_path: Path) -> None:
    content = "“Smart quotes” — and an em dash… cost €5.\n"
    doc = load_document(write(tmp_path, "win.txt", content, "cp1252"), max_bytes=LIMIT)
    assert doc.text == content


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-16-le", "utf-32"])
def test_utf16_and_utf32_with_bom(tmp_path: Path, codec: str) -> None:
    content = "Kim Jong Un — 김정은 — met Putin.\r\nSecond line."
    data = content.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    elif codec == "utf-16-le":
        data = b"\xff\xfe" + data
    doc = load_document(write(tmp_path, "u.txt", data), max_bytes=LIMIT)
    assert doc.text == content


def test_markdown_title_is_first_h1_outside_code(tmp_path: Path) -> None:
    content = "Intro text\n\n```\n# not a heading\n```\n\n#   Real   Title  ##\n\nBody.\n"
    doc = load_document(write(tmp_path, "n.md", content), max_bytes=LIMIT)
    assert doc.title == "Real Title"
    assert doc.kind == "markdown"
    assert doc.text == content


def test_markdown_without_heading_uses_first_line(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "n.markdown", "\n\n  Just   text here \nmore"), max_bytes=LIMIT)
    assert doc.title == "Just text here"


def test_title_is_capped(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "long.txt", "x" * 500), max_bytes=LIMIT)
    assert doc.title == "x" * 200


def test_path_with_spaces_and_unicode(tmp_path: Path) -> None:
    path = write(tmp_path, "my docs/Überblick — 北朝鮮 notes.MD", "# Überblick\n\nText.\n")
    doc = load_document(path, max_bytes=LIMIT)
    assert doc.title == "Überblick"
    assert doc.kind == "markdown"


def test_line_at_counts_every_newline_style() -> None:
    doc = Document(text="a\nb\r\nc\rd\n\ne", title="", kind="text")
    expected = {0: 1, 1: 1, 2: 2, 3: 2, 4: 2, 5: 3, 6: 3, 7: 4, 8: 4, 9: 5, 10: 6}
    assert {i: doc.line_at(i) for i in expected} == expected
    assert doc.line_at(len(doc.text) + 10) == 6  # past the end: the last line


# --- files to skip -----------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    assert "empty" in skip_reason(write(tmp_path, "empty.txt", b""))


def test_whitespace_only_file(tmp_path: Path) -> None:
    assert "empty" in skip_reason(write(tmp_path, "blank.md", " \n\t\r\n  \n"))
    assert "empty" in skip_reason(write(tmp_path, "bom-only.txt", b"\xff\xfe"))


def test_binary_with_txt_name(tmp_path: Path) -> None:
    png_like = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    assert "binary" in skip_reason(write(tmp_path, "image.txt", png_like))


def test_binary_without_nul_bytes(tmp_path: Path) -> None:
    rng = random.Random(7)
    noise = bytes(rng.randrange(1, 256) for _ in range(4096))
    reason = skip_reason(write(tmp_path, "noise.md", noise))
    assert "binary" in reason or "decode" in reason


def test_control_characters_mean_binary(tmp_path: Path) -> None:
    data = b"ab\x01\x02\x03\x04cd\x05\x06" * 200
    assert "binary" in skip_reason(write(tmp_path, "ctl.txt", data))


def test_oversize_file_is_skipped_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "big.txt", "word " * 100)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(pathlib.Path, "open", no_open)
    monkeypatch.setattr("builtins.open", no_open)
    reason = skip_reason(path, max_bytes=100)
    assert "too large" in reason


def test_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "edge.txt", "a" * 100)
    assert load_document(path, max_bytes=100).text == "a" * 100


@pytest.mark.parametrize("name", ["report.odt", "data.csv", "Makefile", "archive.tar.gz", "old.doc"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    assert "unsupported" in skip_reason(write(tmp_path, name, "plain text"))


def test_supported_suffixes() -> None:
    expected = {".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".pdf", ".docx", ".pptx", ".epub"}
    assert expected <= SUPPORTED_SUFFIXES


def test_vanished_file(tmp_path: Path) -> None:
    assert "vanished" in skip_reason(tmp_path / "gone.txt")


def test_directory_with_txt_name(tmp_path: Path) -> None:
    (tmp_path / "folder.txt").mkdir()
    assert "not a regular file" in skip_reason(tmp_path / "folder.txt")


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, where chmod 000 does not stop reading: simulate the error.
    path = write(tmp_path, "secret.txt", "text")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pathlib.Path, "open", denied)
    assert "permission" in skip_reason(path)


# --- HTML --------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><title>Seoul &amp; Kyiv — talks</title>
<style>body { color: red; } .secret { display: none }</style>
<script>var leaked = "SCRIPT_TEXT"; if (a < b) { document.write("</div>"); }</script>
<meta charset="utf-8"></head>
<body>
<nav><a href="/">Home</a> <a href="/world">NAV_TEXT</a></nav>
<article>
  <h1>South   Korea
      weighs arms</h1>
  <p>Seoul said it may send <b>weapons</b>&nbsp;to Ukraine &mdash; officials&#8217; words.</p>
  <p>Second paragraph.<br>After a break.</p>
  <div hidden>HIDDEN_TEXT</div>
  <ul><li>First item</li><li>Second item</li></ul>
  <noscript>NOSCRIPT_TEXT</noscript>
  <form><label>FORM_TEXT</label><input name="q"></form>
</article>
<aside>ASIDE_TEXT</aside>
<footer>© FOOTER_TEXT</footer>
</body></html>
"""


def test_html_visible_text_only(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "page.html", HTML), max_bytes=LIMIT)
    assert doc.kind == "html"
    assert doc.title == "Seoul & Kyiv — talks"
    for hidden in [
        "SCRIPT_TEXT",
        "leaked",
        "color: red",
        "NAV_TEXT",
        "HIDDEN_TEXT",
        "NOSCRIPT_TEXT",
        "FORM_TEXT",
        "ASIDE_TEXT",
        "FOOTER_TEXT",
        "<",
        "&",
    ]:
        assert hidden not in doc.text, hidden
    lines = doc.text.split("\n")
    assert "South Korea weighs arms" in lines
    assert "Seoul said it may send weapons to Ukraine — officials’ words." in lines
    assert "Second paragraph." in lines and "After a break." in lines
    assert "First item" in lines and "Second item" in lines
    assert doc.text == doc.text.strip()
    assert "\n\n\n" not in doc.text


def test_html_without_closing_head_and_without_title(tmp_path: Path) -> None:
    page = "<html><head><meta charset=utf-8><script>x=1</script><p>Body text here.</p><p>More.</p>"
    doc = load_document(write(tmp_path, "bare.htm", page), max_bytes=LIMIT)
    assert doc.text.split("\n\n") == ["Body text here.", "More."]
    assert doc.title == "Body text here."


def test_html_in_legacy_encoding(tmp_path: Path) -> None:
    page = '<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head><body><p>\x93Hi\x94</p></body></html>'
    doc = load_document(write(tmp_path, "legacy.html", page.encode("latin-1")), max_bytes=LIMIT)
    assert doc.title == "Café"
    assert doc.text == "“Hi”"


def test_html_with_only_script_is_skipped(tmp_path: Path) -> None:
    page = "<html><head><title>T</title><script>var x = 'lots of code';</script></head><body></body></html>"
    assert "no visible text" in skip_reason(write(tmp_path, "empty.html", page))


# --- PDF ---------------------------------------------------------------------------------


def test_pdf_pages_and_offsets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "two pages.pdf",
        make_pdf(
            [
                ["Page one title", "North Korea sent troops."],
                ["Second page text.", "More on page two."],
            ]
        ),
    )
    doc = load_document(path, max_bytes=LIMIT)
    assert doc.kind == "pdf"
    assert doc.title == "Page one title"
    assert len(doc.pages) == 2 and doc.pages[0] == 0
    first, second = doc.text[: doc.pages[1]], doc.text[doc.pages[1] :]
    assert "North Korea sent troops." in first and "Second page" not in first
    assert second.startswith("Second page text.")
    assert first.endswith("\n\n")
    assert doc.page_at(doc.text.index("North Korea")) == 1
    assert doc.page_at(doc.pages[1] - 1) == 1
    assert doc.page_at(doc.pages[1]) == 2
    assert doc.page_at(doc.text.index("More on page two")) == 2
    assert doc.page_at(len(doc.text) - 1) == 2


def test_pdf_is_readable_by_pypdf_itself(tmp_path: Path) -> None:
    # Guards the hand-written fixture: if it were invalid, the page test would prove nothing.
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(make_pdf([["alpha"], ["beta"], ["gamma"]])), strict=True)
    assert [p.extract_text().strip() for p in reader.pages] == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n" + b"garbage that is not a pdf at all\n" * 20,
        b"This is not even a PDF header.\n" * 10,
        None,  # a valid PDF cut in half
    ],
)
def test_broken_pdf(tmp_path: Path, data: bytes | None) -> None:
    if data is None:
        whole = make_pdf([["alpha beta"], ["gamma"]])
        data = whole[: len(whole) // 2]
    reason = skip_reason(write(tmp_path, "broken.pdf", data))
    assert "PDF" in reason


def test_encrypted_pdf(tmp_path: Path) -> None:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf([["secret text"]]))))
    writer.encrypt(user_password="hunter2", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    assert "encrypted" in skip_reason(write(tmp_path, "locked.pdf", out.getvalue()))


def test_pdf_with_no_text_is_skipped(tmp_path: Path) -> None:
    assert "no extractable text" in skip_reason(write(tmp_path, "scan.pdf", make_pdf([[], []])))


# --- reStructuredText --------------------------------------------------------------------


def test_rst_is_kept_exactly_with_its_first_section_title(tmp_path: Path) -> None:
    content = (
        ".. comment: not a title\n\n"
        "   indented literal\n   ----------------\n\n"
        "=================\n  Flood Defences\n=================\n\n"
        "Intro with *emphasis* and ``code``.\n\nLevels\n------\n\nThe wall is 4 m high.\n"
    )
    doc = load_document(write(tmp_path, "guide.rst", content), max_bytes=LIMIT)
    assert doc.kind == "rst"
    assert doc.text == content  # markup left in, offsets point into the file
    assert doc.title == "Flood Defences"
    assert doc.pages == () and doc.page_at(3) is None


def test_rst_without_title_uses_first_line(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "notes.RST", "Just a note.\n\nNo sections here.\n"), max_bytes=LIMIT)
    assert doc.title == "Just a note."


# --- Word (.docx) ------------------------------------------------------------------------


def test_docx_paragraphs_headings_and_tables_in_document_order(tmp_path: Path) -> None:
    doc = load_document(make_docx(tmp_path / "survey.docx"), max_bytes=LIMIT)
    assert doc.kind == "docx"
    assert doc.title == "Bridge Survey 2024"
    assert doc.pages == () and doc.page_at(0) is None
    lines = doc.text.split("\n")
    expected = [
        "Bridge Survey 2024",
        "The survey covered every bridge in the district.",
        "Findings",  # a heading is its own line
        "Most bridges were in good repair.",
        "Bridge | Built | State",  # a table row is a line, cells joined by " | "
        "North Gate | 1931 | good",
        "Mill Lane | 1888, closed",  # a merged cell's text once
        "The Mill Lane bridge needs new bearings.",
        "Next steps",
        "Repairs start in spring.",
    ]
    assert [line for line in lines if line] == expected
    assert "Findings\n\nMost bridges" in doc.text  # blocks apart, so a heading never runs into text


def test_docx_with_no_text_is_skipped(tmp_path: Path) -> None:
    import docx

    path = tmp_path / "blank.docx"
    word = docx.Document()
    word.add_paragraph("   ")
    word.save(path)
    assert "no text" in skip_reason(path)


# --- PowerPoint (.pptx) ------------------------------------------------------------------


def test_pptx_slides_are_kept_like_pdf_pages(tmp_path: Path) -> None:
    doc = load_document(make_rich_pptx(tmp_path / "harbour plan.pptx"), max_bytes=LIMIT)
    assert doc.kind == "pptx" and doc.page_label == "slide"
    assert doc.title == "Harbour Plan"
    assert len(doc.pages) == 5 and doc.pages[0] == 0  # the empty slide 3 keeps its place
    slides = [doc.text[a:b] for a, b in zip(doc.pages, [*doc.pages[1:], len(doc.text)])]
    assert slides[0] == "Harbour Plan\nWhy the harbour needs a new quay.\nWho pays for it.\n\n"
    assert slides[1] == "Costs\nItem | Cost\nQuay wall | 4.2 million\n\n"  # a table, row by row
    assert slides[2].strip() == ""
    assert slides[3] == "Timeline\nConstruction of the quay starts in May 2026.\n\n"  # text inside a group
    assert slides[4] == "Questions"
    assert doc.page_at(doc.text.index("Construction of the quay")) == 4
    assert doc.page_at(doc.text.index("4.2 million")) == 2
    assert doc.page_at(len(doc.text) - 1) == 5


def test_page_label_depends_on_the_kind() -> None:
    assert page_label("decks/Q3 review.PPTX") == "slide"
    assert page_label("report.pdf") == "page"
    assert page_label("notes.txt") == "page"
    assert Document(text="x", title="", kind="pdf", pages=(0,)).page_label == "page"


def test_pptx_of_2000_slides_loads_every_slide_in_linear_time(tmp_path: Path) -> None:
    started = time.perf_counter()
    path = make_pptx(tmp_path / "huge.pptx", [f"Point {i} of the review." for i in range(1, 2001)])
    built = time.perf_counter() - started
    started = time.perf_counter()
    doc = load_document(path, max_bytes=20_000_000)
    loaded = time.perf_counter() - started
    assert len(doc.pages) == 2000
    for n in (1, 4, 999, 1234, 2000):
        offset = doc.text.index(f"Point {n} of the review.")
        assert offset == doc.pages[n - 1]
        assert doc.page_at(offset) == n and doc.page_at(offset + 10) == n
    print(f"2,000-slide deck: built in {built:.1f} s, loaded in {loaded:.1f} s")  # about 1 s to load here


# --- EPUB --------------------------------------------------------------------------------

CHAPTERS = [
    ("intro", "Introduction", "<p>The river rises in the hills.</p><script>HIDDEN()</script>"),
    ("mouth", "The Mouth", "<p>It meets the sea at the old port.</p><p>Ships wait there.</p>"),
    ("middle", "The Middle Reaches", "<nav>NAV_TEXT</nav><p>It widens past the mills.</p>"),
]


def test_epub_chapters_in_spine_order(tmp_path: Path) -> None:
    path = make_epub(tmp_path / "river.epub", CHAPTERS, spine=["intro", "middle", "mouth"])
    doc = load_document(path, max_bytes=LIMIT)
    assert doc.kind == "epub" and doc.title == "The River Book" and doc.pages == ()
    assert doc.text == (
        "Introduction\n\nThe river rises in the hills.\n\n"
        "The Middle Reaches\n\nIt widens past the mills.\n\n"
        "The Mouth\n\nIt meets the sea at the old port.\n\nShips wait there."
    )  # spine order, not manifest order; scripts, navigation and the <head> left out


def test_epub_with_font_obfuscation_only_is_read(tmp_path: Path) -> None:
    path = make_epub(tmp_path / "fonts.epub", CHAPTERS, spine=["intro"], encrypted=["OEBPS/fonts/serif.otf"])
    assert "The river rises" in load_document(path, max_bytes=LIMIT).text


# --- damaged and locked packages ---------------------------------------------------------


def _junk_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("junk.bin", bytes(random.Random(3).randrange(256) for _ in range(2000)))
    return out.getvalue()


# The start of an OLE compound file: what Office writes for a password-protected document.
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(random.Random(5).randrange(256) for _ in range(4000))


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("junk.docx", _junk_zip(), "broken .docx"),
        ("locked.docx", OLE, "not a valid .docx (damaged or password-protected)"),
        ("noise.pptx", bytes(random.Random(9).randrange(256) for _ in range(5000)), "not a valid .pptx"),
        ("locked.pptx", OLE, "not a valid .pptx (damaged or password-protected)"),
        ("junk.pptx", _junk_zip(), "broken .pptx"),
        ("junk.epub", _junk_zip(), "not a valid .epub (META-INF/container.xml is missing)"),
        ("text.epub", b"This is not a zip file at all.\n" * 10, "not a valid .epub"),
    ],
)
def test_damaged_packages_are_skipped_with_a_reason(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    assert expected in skip_reason(write(tmp_path, name, data))


def test_truncated_docx_and_pptx_are_skipped(tmp_path: Path) -> None:
    whole = make_docx(tmp_path / "whole.docx").read_bytes()
    assert "docx" in skip_reason(write(tmp_path, "cut.docx", whole[: len(whole) // 2]))
    deck = make_pptx(tmp_path / "deck.pptx", ["One", "Two"]).read_bytes()
    assert "pptx" in skip_reason(write(tmp_path, "cut.pptx", deck[: len(deck) // 2]))


def test_a_docx_named_pptx_is_skipped(tmp_path: Path) -> None:
    data = make_docx(tmp_path / "real.docx").read_bytes()
    assert "broken .pptx" in skip_reason(write(tmp_path, "fake.pptx", data))


def test_epub_without_spine_is_skipped(tmp_path: Path) -> None:
    path = make_epub(tmp_path / "nospine.epub", CHAPTERS, spine=None)
    assert skip_reason(path) == "not a valid .epub (its package document has no spine, the reading order)"


def test_epub_with_encrypted_chapters_is_skipped(tmp_path: Path) -> None:
    path = make_epub(tmp_path / "drm.epub", CHAPTERS, spine=["intro"], encrypted=["OEBPS/text/intro.xhtml"])
    assert "encrypted EPUB" in skip_reason(path)


def test_epub_with_a_missing_chapter_is_skipped(tmp_path: Path) -> None:
    path = make_epub(tmp_path / "gap.epub", CHAPTERS, spine=["intro", "ghost"])
    assert load_document(path, max_bytes=LIMIT).text.startswith("Introduction")  # an unknown idref is ignored
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("intro.xhtml"):
                dst.writestr(info, src.read(info))
    assert "OEBPS/text/intro.xhtml is missing" in skip_reason(write(tmp_path, "hole.epub", out.getvalue()))


def test_zip_bomb_is_refused_before_unpacking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ingest.loaders._MAX_UNPACKED_BYTES", 10_000)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b" " * 50_000)
    assert "unpacks to 50,000 bytes" in skip_reason(write(tmp_path, "bomb.docx", out.getvalue()))
