"""Real .docx, .pptx, .epub and .pdf files for tests, built with python-docx, python-pptx, zipfile
and (the PDF) by hand."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path


def make_docx(path: Path) -> Path:
    """A report: a title, headings, paragraphs, and a table (with a merged cell) between them."""
    import docx

    word = docx.Document()
    word.add_heading("Bridge Survey 2024", level=0)
    word.add_paragraph("The survey covered every bridge in the district.")
    word.add_heading("Findings", level=1)
    word.add_paragraph("Most bridges were in good repair.")
    table = word.add_table(rows=3, cols=3)
    for r, row in enumerate([["Bridge", "Built", "State"], ["North Gate", "1931", "good"], ["Mill Lane", "1888", ""]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(2, 1).merge(table.cell(2, 2)).text = "1888, closed"
    word.add_paragraph("The Mill Lane bridge needs new bearings.")
    word.add_heading("Next steps", level=2)
    word.add_paragraph("Repairs start in spring.")
    word.save(path)
    return path


def make_pptx(path: Path, slides: Sequence[str | None]) -> Path:
    """A deck with one title-only slide per entry (None: a slide without any text)."""
    import pptx

    deck = pptx.Presentation()
    layout = deck.slide_layouts[5]  # "Title Only"
    blank = deck.slide_layouts[6]
    for text in slides:
        if text is None:
            deck.slides.add_slide(blank)
        else:
            deck.slides.add_slide(layout).shapes.title.text = text
    deck.save(path)
    return path


def make_rich_pptx(path: Path) -> Path:
    """Five slides: titles, bullet text, a table, a grouped text box, an empty slide (3)."""
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    title_only, title_body, blank = deck.slide_layouts[5], deck.slide_layouts[1], deck.slide_layouts[6]
    s1 = deck.slides.add_slide(title_body)
    s1.shapes.title.text = "Harbour Plan"
    s1.placeholders[1].text_frame.text = "Why the harbour needs a new quay.\nWho pays for it."
    s2 = deck.slides.add_slide(title_only)
    s2.shapes.title.text = "Costs"
    table = s2.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for (r, c), value in {(0, 0): "Item", (0, 1): "Cost", (1, 0): "Quay wall", (1, 1): "4.2 million"}.items():
        table.cell(r, c).text = value
    deck.slides.add_slide(blank)
    s4 = deck.slides.add_slide(title_only)
    s4.shapes.title.text = "Timeline"
    group = s4.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
    box.text_frame.text = "Construction of the quay starts in May 2026."
    s5 = deck.slides.add_slide(title_only)
    s5.shapes.title.text = "Questions"
    deck.save(path)
    return path


_CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>
"""

_CHAPTER = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title>
<style>p {{ margin: 0 }}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def make_epub(
    path: Path,
    chapters: Sequence[tuple[str, str, str]],
    spine: Sequence[str] | None,
    *,
    title: str = "The River Book",
    encrypted: Sequence[str] = (),
) -> Path:
    """An EPUB 3 written with zipfile: mimetype, container.xml, content.opf, one XHTML per chapter.

    Args:
        path: Where to write it.
        chapters: (manifest id, chapter title, body XHTML), in manifest order.
        spine: The reading order as manifest ids; None writes no spine at all.
        title: The book's dc:title.
        encrypted: Zip names listed in META-INF/encryption.xml.
    """
    items = "\n".join(
        f'<item id="{cid}" href="text/{cid}.xhtml" media-type="application/xhtml+xml"/>' for cid, _, _ in chapters
    )
    spine_xml = "" if spine is None else "<spine>" + "".join(f'<itemref idref="{i}"/>' for i in spine) + "</spine>"
    opf = f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="id">urn:uuid:12345</dc:identifier><dc:title>{title}</dc:title><dc:language>en</dc:language>
  </metadata>
  <manifest>{items}</manifest>
  {spine_xml}
</package>
"""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", _CONTAINER, compress_type=zipfile.ZIP_DEFLATED)
        if encrypted:
            refs = "".join(
                f'<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"><CipherData>'
                f'<CipherReference URI="{name}"/></CipherData></EncryptedData>'
                for name in encrypted
            )
            z.writestr(
                "META-INF/encryption.xml",
                f'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container">{refs}</encryption>',
            )
        z.writestr("OEBPS/content.opf", opf, compress_type=zipfile.ZIP_DEFLATED)
        for cid, chapter_title, body in chapters:
            z.writestr(
                f"OEBPS/text/{cid}.xhtml",
                _CHAPTER.format(title=chapter_title, body=body),
                compress_type=zipfile.ZIP_DEFLATED,
            )
    path.write_bytes(out.getvalue())
    return path


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
