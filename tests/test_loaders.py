"""Loading files: exact text for .txt/.md, visible text for HTML, pages for PDF, and reasons
for every file that must be skipped."""

from __future__ import annotations

import io
import pathlib
import random
from pathlib import Path

import pytest

from ingest.loaders import SUPPORTED_SUFFIXES, Document, SkipFile, load_document

LIMIT = 1_000_000


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF written by hand: one Helvetica text line per entry, correct xref."""
    n = len(pages)
    font_id = 3 + 2 * n
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        ("<< /Type /Pages /Kids [" + " ".join(f"{3 + 2 * i} 0 R" for i in range(n)) + f"] /Count {n} >>").encode(),
    ]
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
        for line in lines:
            ops.append(f"{_pdf_string(line)} Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {4 + 2 * i} 0 R >>"
            ).encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")

    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n" % (len(objects) + 1))
    out.write(b"0000000000 65535 f \n")
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


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


@pytest.mark.parametrize("name", ["report.docx", "data.csv", "Makefile", "archive.tar.gz"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    assert "unsupported" in skip_reason(write(tmp_path, name, "plain text"))


def test_supported_suffixes() -> None:
    assert {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"} <= SUPPORTED_SUFFIXES


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
