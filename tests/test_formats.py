"""Word, PowerPoint, reStructuredText and EPUB files through the real ingest, retrieval and the
UI's citation labels (hash embedder, real Chroma, extractive backend)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from format_files import make_docx, make_epub, make_pdf, make_pptx, make_rich_pptx

from assistant import Citation, ask, document_text
from assistant.retrieval.store import Store
from assistant.settings import Settings
from ingest import ingest
from ingest.loaders import load_document
from ui import files, markup

RST = "River Works\n===========\n\nThe weir at Eastbridge was rebuilt in *1997*.\n\nIt holds back 3 m of water.\n"
CHAPTERS = [
    ("one", "Chapter One", "<p>The ferry to Holm Island leaves at dawn.</p>"),
    ("two", "Chapter Two", "<p>The lighthouse keeper counted forty ships that winter.</p>"),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_docx(docs / "survey.docx")
    make_rich_pptx(docs / "harbour.pptx")
    (docs / "weir.rst").write_text(RST, encoding="utf-8")
    make_epub(docs / "island.epub", CHAPTERS, spine=["one", "two"])
    return docs


def test_ingest_indexes_all_four_formats_with_exact_offsets(settings: Settings, hash_embedder, folder: Path) -> None:
    report = ingest([folder], settings=settings, embedder=hash_embedder)
    assert report.skipped == ()
    assert report.added == 4
    store = Store.open(settings, hash_embedder)
    kinds = {source: record.kind for source, record in store.files().items()}
    assert kinds == {"survey.docx": "docx", "harbour.pptx": "pptx", "weir.rst": "rst", "island.epub": "epub"}
    texts = {source: load_document(folder / source, max_bytes=settings.max_file_bytes).text for source in kinds}
    by_source: dict[str, list] = {}
    for chunk in store.iter_chunks():
        by_source.setdefault(chunk.source, []).append(chunk)
        assert texts[chunk.source][chunk.start : chunk.end] == chunk.text  # offsets index the extracted text
        assert (chunk.page is not None) == (chunk.source == "harbour.pptx")
    assert set(by_source) == set(kinds)
    joined = {source: " ".join(c.text for c in chunks) for source, chunks in by_source.items()}
    assert "North Gate | 1931 | good" in joined["survey.docx"]
    assert "Construction of the quay starts in May 2026." in joined["harbour.pptx"]
    assert "rebuilt in *1997*" in joined["weir.rst"]
    assert "forty ships" in joined["island.epub"]
    for source, text in texts.items():
        # "Open in document" shows the stored text, or reads the file again: both are this text.
        assert document_text(source, settings=settings, embedder=hash_embedder) == text
        assert files.read_document(folder / source, settings.max_file_bytes) == text


def test_a_citation_into_a_deck_says_slide(settings: Settings, hash_embedder, folder: Path) -> None:
    ingest([folder], settings=settings, embedder=hash_embedder)
    answer = ask(
        "When does construction of the quay start?",
        settings=settings.replace(backend="extractive"),
        embedder=hash_embedder,
    )
    assert not answer.abstained and "May 2026" in answer.text
    cited = next(c for c in answer.citations if "May 2026" in c.quote)
    assert cited.source == "harbour.pptx" and cited.page == 4
    deck = load_document(folder / "harbour.pptx", max_bytes=settings.max_file_bytes)
    assert deck.text[cited.start : cited.end] == cited.quote
    assert deck.page_at(cited.start) == 4
    label = markup.line_label(cited)
    assert label.endswith("\u00b7 slide 4") and "page" not in label
    assert "slide 4" in markup.source_card_html(cited, markup.citation_passage(cited, answer.hits))


def test_a_quote_on_the_second_page_of_a_chunk_cites_that_page(
    settings: Settings, hash_embedder, tmp_path: Path
) -> None:
    # A PDF chunk may run on from one page to the next (a sentence can): the citation names the
    # page its quote is on, not the page the chunk starts on. Also after the store's round trip.
    docs = tmp_path / "pdf"
    docs.mkdir()
    pages = [["Ferry timetable.", "The morning ferry leaves at six."], ["The evening ferry returns at nine."]]
    (docs / "ferry.pdf").write_bytes(make_pdf(pages))
    ingest([docs], settings=settings, embedder=hash_embedder)
    [chunk] = list(Store.open(settings, hash_embedder).iter_chunks())
    doc = load_document(docs / "ferry.pdf", max_bytes=settings.max_file_bytes)
    assert chunk.page == 1 and chunk.page_starts == (doc.pages[1],)
    answer = ask(
        "When does the evening ferry return?", settings=settings.replace(backend="extractive"), embedder=hash_embedder
    )
    cited = next(c for c in answer.citations if "evening ferry" in c.quote)
    assert cited.page == doc.page_at(cited.start) == 2
    assert markup.line_label(cited).endswith("page 2")


def test_a_sentence_wrapped_over_lines_of_a_pdf_is_cited_whole(
    settings: Settings, hash_embedder, tmp_path: Path
) -> None:
    # PDF text keeps the page's visual lines; a sentence wrapped over two of them is one quote.
    docs = tmp_path / "pdf"
    docs.mkdir()
    lines = [
        "Harbour notes.",
        "The evening ferry returns from the island at nine o'clock on weekdays and",
        "at ten o'clock on Sundays, when the harbour office also stays open later.",
    ]
    (docs / "ferry.pdf").write_bytes(make_pdf([lines]))
    ingest([docs], settings=settings, embedder=hash_embedder)
    answer = ask(
        "When does the evening ferry return on Sundays?",
        settings=settings.replace(backend="extractive"),
        embedder=hash_embedder,
    )
    cited = next(c for c in answer.citations if "evening ferry" in c.quote)
    assert cited.quote.startswith("The evening ferry returns") and cited.quote.endswith("stays open later.")
    assert cited.lines[1] == cited.lines[0] + 1


def test_the_page_label_follows_the_document_kind() -> None:
    def cite(source: str, page: int | None) -> Citation:
        return Citation(n=1, source=source, start=0, end=5, lines=(3, 3), quote="Hello", chunk_id="c", page=page)

    assert markup.line_label(cite("talks/Review.PPTX", 12)) == "line 3 \u00b7 slide 12"
    assert markup.line_label(cite("report.pdf", 2)) == "line 3 \u00b7 page 2"
    assert markup.line_label(cite("notes.md", None)) == "line 3"


def test_a_2000_slide_deck_is_ingested_with_progress_inside_the_file(
    settings: Settings, hash_embedder, tmp_path
) -> None:
    docs = tmp_path / "deck"
    docs.mkdir()
    make_pptx(docs / "review.pptx", [f"Point {i} of the review: item {i * 7} was checked." for i in range(1, 2001)])
    calls: list[tuple[int, int, str]] = []
    report = ingest([docs], settings=settings, embedder=hash_embedder, progress=lambda *a: calls.append(a))
    assert report.added == 1 and report.skipped == ()
    store = Store.open(settings, hash_embedder)
    chunks = list(store.iter_chunks())
    assert len(chunks) >= 2000 and {c.page for c in chunks} == set(range(1, 2001))  # a chunk never crosses a slide
    inside = [item for done, total, item in calls if done == 0 and "chunks" in item]
    assert len(inside) >= len(chunks) // 256 and inside[-1].endswith(f"{len(chunks):,}/{len(chunks):,} chunks")
    assert calls[-1][:2] == (1, 1)


def test_rag_ingest_and_ask_on_the_four_formats_cite_slide_n(
    settings: Settings, folder: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import assistant.api
    import ingest.sync
    from assistant.retrieval.embedder import HashEmbedder
    from ui import cli

    monkeypatch.setattr(assistant.api, "MiniLMEmbedder", lambda: HashEmbedder(64))
    monkeypatch.setattr(ingest.sync, "MiniLMEmbedder", lambda: HashEmbedder(64))
    for name in ("RAG_COLLECTION", "RAG_CHROMA_HOST", "RAG_TOP_K"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("RAG_LLM", "extractive")
    assert cli.main(["ingest", "--collection", "office", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Indexed 4 files" in out, out
    assert cli.main(["ask", "--collection", "office", "When does construction of the quay start?"]) == 0
    out = capsys.readouterr().out
    assert "May 2026" in out and re.search(r'harbour\.pptx, line \d+, slide 4: "', out), out
