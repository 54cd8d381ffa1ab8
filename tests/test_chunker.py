"""Chunking: exact offsets, token budget, sentence boundaries, overlap, no boilerplate."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.generation.tokens import count_tokens
from assistant.grounding.sentences import sentence_spans
from assistant.types import chunk_id
from ingest.chunker import chunk_document
from ingest.clean import content_blocks
from ingest.loaders import Document, load_document

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SEED_FILES = sorted(SEEDS.glob("*.txt"))

# Every boilerplate line of the five seeds, or a distinctive phrase of it.
SEED_BOILERPLATE = [
    "Leave a Reply",
    "Leave a Comment",
    "Your email address will not be published",
    "Required fields are marked",
    "Read : North Korea Releases Pics",
    "The Charm of Korean Boys",
    "Discover more from Earthlings",
    "Subscribe now to keep reading",
    "Continue reading",
    "All rights reserved",
    "Use of this site constitutes acceptance",
    "protected by copyright law",
    "The New York Sun",
    "Sign in or",
    "Create a free account",
    "By continuing you agree",
    "Image source: twitter KyivPost",
    "Read also:",
    "Russian Army Enlists North Koreans in New Battalion",
    "AP/Ahn Young-joon",
]


def load_seed(path: Path) -> Document:
    return load_document(path, max_bytes=10_000_000)


def line_of(text: str, offset: int) -> int:
    """1-based line of `offset`, counting "\r\n", "\r" and "\n" as line ends (as editors do)."""
    return len(re.findall(r"\r\n|\r|\n", text[:offset])) + 1


def check_invariants(doc: Document, chunks: list, source: str, budget: int) -> None:
    """What every chunking must satisfy, whatever the input."""
    blocks = content_blocks(doc.text)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.text and not c.text[0].isspace() and not c.text[-1].isspace()
        assert count_tokens(c.text) <= budget
        assert c.id == chunk_id(source, c.start, c.end, c.text)
        assert c.source == source and c.title == doc.title
        assert c.line_start == line_of(doc.text, c.start)
        assert c.line_end == line_of(doc.text, c.end - 1)
        assert c.page == doc.page_at(c.start)
        # Inside exactly one content block: never across removed boilerplate.
        assert any(s <= c.start and c.end <= e for s, e in blocks)
    assert len({c.id for c in chunks}) == len(chunks)
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)

    # Every non-whitespace character of every content block lies in some chunk, and every
    # sentence that fits the budget lies whole in some chunk.
    for s, e in blocks:
        for ss, se in sentence_spans(doc.text, s, e):
            if count_tokens(doc.text[ss:se]) <= budget:
                assert any(c.start <= ss and se <= c.end for c in chunks), doc.text[ss:se]
    covered = bytearray(len(doc.text))
    for c in chunks:
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    for s, e in blocks:
        for i in range(s, e):
            assert covered[i] or doc.text[i].isspace()


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name[:3])
@pytest.mark.parametrize("budget,overlap", [(160, 32), (60, 16), (25, 8)])
def test_seed_chunks(path: Path, budget: int, overlap: int) -> None:
    doc = load_seed(path)
    source = f"seeds/{path.name}"
    chunks = chunk_document(doc, source, chunk_tokens=budget, overlap_tokens=overlap)
    assert len(chunks) >= 2
    check_invariants(doc, chunks, source, budget)
    for c in chunks:
        for phrase in SEED_BOILERPLATE:
            assert phrase not in c.text, (phrase, c.text)


def test_seed_chunks_end_at_sentence_boundaries() -> None:
    doc = load_seed(SEEDS / "000_ef01f84a8e898d1e.txt")
    ends = {e for _, e in sentence_spans(doc.text)}
    starts = {s for s, _ in sentence_spans(doc.text)}
    for c in chunk_document(doc, "a.txt"):
        assert c.start in starts and c.end in ends


def test_ids_are_stable_across_runs() -> None:
    for path in SEED_FILES:
        first = chunk_document(load_seed(path), f"seeds/{path.name}")
        second = chunk_document(load_seed(path), f"seeds/{path.name}")
        assert [c.id for c in first] == [c.id for c in second]
        assert first == second
    other = chunk_document(load_seed(SEED_FILES[0]), "elsewhere/x.txt")
    assert {c.id for c in other}.isdisjoint(c.id for c in chunk_document(load_seed(SEED_FILES[0]), "seeds/x.txt"))


def test_article_content_is_kept() -> None:
    doc = load_seed(SEEDS / "002_d3eda81097d597f3.txt")
    joined = "\n".join(c.text for c in chunk_document(doc, "s.txt"))
    assert "With North Korea Aiding Russia in Ukraine War, South Korea Threatens To Arm Kyiv" in joined
    assert "Seongnam, South Korea, September 25, 2024." in joined
    assert "a crucial step in escalation that Washington would like to avoid." in joined
    doc = load_seed(SEEDS / "000_ef01f84a8e898d1e.txt")
    texts = [c.text for c in chunk_document(doc, "s.txt")]
    title = "South Korea threatens to send weapons and personnel to Ukraine"
    assert sum(t.count(title) for t in texts) == 1  # the repeated title is indexed once


def test_overlap_is_whole_trailing_sentences() -> None:
    sentences = [f"Sentence number {i} talks about topic {i} in some detail." for i in range(40)]
    text = " ".join(sentences)
    doc = Document(text=text, title="t", kind="text")
    chunks = chunk_document(doc, "o.txt", chunk_tokens=60, overlap_tokens=20)
    check_invariants(doc, chunks, "o.txt", 60)
    assert len(chunks) >= 5
    spans = sentence_spans(text)
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.start < nxt.start <= prev.end  # overlapping (or adjacent) and advancing
        shared = text[nxt.start : prev.end]
        assert shared, "consecutive multi-sentence chunks must share a sentence"
        assert nxt.start in {s for s, _ in spans}
        assert count_tokens(shared) <= 20 or len(sentence_spans(shared)) == 1


def test_overlap_keeps_one_sentence_even_when_longer_than_overlap() -> None:
    sentences = [
        f"Report {i} says that the delegation in Brussels discussed troops, shells and drones at length."
        for i in range(20)
    ]
    assert all(count_tokens(s) > 10 for s in sentences)
    text = " ".join(sentences)
    doc = Document(text=text, title="t", kind="text")
    chunks = chunk_document(doc, "o.txt", chunk_tokens=80, overlap_tokens=10)
    check_invariants(doc, chunks, "o.txt", 80)
    for prev, nxt in itertools.pairwise(chunks):
        assert len(sentence_spans(prev.text)) > 1
        assert sentence_spans(text, nxt.start, prev.end) == [(nxt.start, prev.end)]  # one sentence


def test_no_overlap_when_disabled() -> None:
    text = " ".join(f"Short sentence {i}." for i in range(100))
    doc = Document(text=text, title="t", kind="text")
    chunks = chunk_document(doc, "o.txt", chunk_tokens=30, overlap_tokens=0)
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.start > prev.end


def test_long_sentence_is_split_at_whitespace() -> None:
    words = [f"w{i}" for i in range(600)]
    text = "Intro sentence here. " + " ".join(words) + ". Closing sentence."
    doc = Document(text=text, title="t", kind="text")
    chunks = chunk_document(doc, "l.txt", chunk_tokens=50, overlap_tokens=10)
    check_invariants(doc, chunks, "l.txt", 50)
    assert len(chunks) > 10
    for c in chunks:  # pieces start and end at word edges
        assert c.start == 0 or text[c.start - 1].isspace()
        assert c.end == len(text) or text[c.end].isspace()


def test_giant_word_is_split_by_characters() -> None:
    text = "Before. " + "ab1" * 3000 + " After."
    doc = Document(text=text, title="t", kind="text")
    chunks = chunk_document(doc, "g.txt", chunk_tokens=40, overlap_tokens=5)
    check_invariants(doc, chunks, "g.txt", 40)


def test_pdf_pages_are_recorded() -> None:
    page1 = "First page sentence one. First page sentence two."
    page2 = "Second page sentence one. Second page sentence two."
    doc = Document(text=page1 + "\n\n" + page2, title="t", kind="pdf", pages=(0, len(page1) + 2))
    chunks = chunk_document(doc, "p.pdf", chunk_tokens=8, overlap_tokens=0)
    check_invariants(doc, chunks, "p.pdf", 8)
    assert [c.page for c in chunks] == [1, 1, 2, 2]
    assert [c.line_start for c in chunks] == [1, 1, 3, 3]


def test_a_chunk_never_crosses_a_slide_but_may_cross_a_pdf_page() -> None:
    slides = ["Budget review.", "", "Costs rose by four percent.", "Hiring stops in June."]
    starts = tuple(itertools.accumulate([0] + [len(s) + 2 for s in slides[:-1]]))
    text = "\n\n".join(slides)
    deck = Document(text=text, title="t", kind="pptx", pages=starts)
    chunks = chunk_document(deck, "d.pptx", chunk_tokens=100, overlap_tokens=10)
    check_invariants(deck, chunks, "d.pptx", 100)
    assert [(c.text, c.page) for c in chunks] == [
        ("Budget review.", 1),
        ("Costs rose by four percent.", 3),  # slide 2 has no text
        ("Hiring stops in June.", 4),
    ]
    # A PDF's sentence may run on to the next page: there one chunk holds all the pages.
    pdf = Document(text=text, title="t", kind="pdf", pages=starts)
    [whole] = chunk_document(pdf, "d.pdf", chunk_tokens=100, overlap_tokens=10)
    assert whole.text == text
    # ... and knows where each later page starts in it, so a quote's page can be told.
    assert whole.page_starts == starts[1:]
    assert [whole.page_at(s) for s in starts] == [1, 2, 3, 4]
    assert whole.page_at(starts[2] - 1) == 2


def test_empty_and_boilerplate_only_documents() -> None:
    assert chunk_document(Document(text="", title="", kind="text"), "e.txt") == []
    junk = "close\n\nLeave a Reply\nYour email address will not be published.\n© 2024 Foo. All rights reserved."
    assert chunk_document(Document(text=junk, title="", kind="text"), "j.txt") == []


@pytest.mark.parametrize("budget,overlap", [(0, 0), (10, 10), (10, -1), (10, 20)])
def test_bad_arguments(budget: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_document(
            Document(text="Hi.", title="", kind="text"), "x.txt", chunk_tokens=budget, overlap_tokens=overlap
        )


_PROSE = st.sampled_from(
    [
        "North Korea sent 1,500 troops to Russia.",
        "U.S. officials said Mr. Kim agreed on Jan. 5.",
        "“It is significant,” Hyun said.",
        "Why would Seoul wait?",
        "Strategic changes",
        "The vote was 3.5 to 1!",
        "Kim Jong Un met Putin in Vladivostok last September and discussed artillery shells.",
    ]
)
_BOILERPLATE = st.sampled_from(
    [
        "close",
        "Leave a Reply",
        "Your email address will not be published. Required fields are marked *",
        "Read : Ten things you did not know about Seoul",
        "Subscribe now to keep reading and get access to the full archive.",
        "© 2024 Example Media. All rights reserved.",
        "Sign in or Create a free account",
        "Advertisement",
    ]
)
_LONG = st.lists(
    st.sampled_from(["alpha", "beta,", "gamma", "1,200", "déjà", "—", "vu"]), min_size=50, max_size=200
).map(lambda ws: " ".join(ws) + ".")
_PARAGRAPH = st.lists(_PROSE | _LONG, min_size=1, max_size=6).map(" ".join)
_LINE = _PARAGRAPH | _BOILERPLATE | st.just("") | st.text(max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_LINE, max_size=25),
    st.sampled_from(["\n", "\n\n", "\r\n"]),
    st.sampled_from([(20, 5), (40, 10), (80, 0), (160, 32)]),
)
def test_chunking_properties(lines: list[str], newline: str, sizes: tuple[int, int]) -> None:
    budget, overlap = sizes
    doc = Document(text=newline.join(lines), title="T", kind="text")
    chunks = chunk_document(doc, "docs/r.txt", chunk_tokens=budget, overlap_tokens=overlap)
    check_invariants(doc, chunks, "docs/r.txt", budget)
    for c in chunks:
        assert "Leave a Reply" not in c.text
        assert "All rights reserved" not in c.text
        assert "Required fields are marked" not in c.text


# --- boilerplate detection (ingest.clean) ------------------------------------------------


def block_texts(text: str) -> list[str]:
    return [text[s:e] for s, e in content_blocks(text)]


@pytest.mark.parametrize(
    "sentence",
    [
        "Share prices fell 3% on Monday after the announcement.",
        "Follow-up talks are planned for next week in Brussels.",
        "Login attempts rose sharply during the attack.",
        "Subscribers to the service were notified by email.",
        "Meta changed its privacy policy in May, regulators said.",
        "Read the full statement below, the ministry urged.",
        "Photo-sharing apps were banned in the North.",
        "Image-recognition software flagged the convoy.",
        "Users must create an account and agree to be tracked, critics warned, calling the rule a massive "
        "overreach by the state.",
        "Strategic changes",
    ],
)
def test_real_sentences_are_not_boilerplate(sentence: str) -> None:
    text = f"Opening paragraph of the article.\n\n{sentence}\n\nClosing paragraph of the article."
    assert block_texts(text) == [text]


def test_boilerplate_splits_blocks_and_is_trimmed() -> None:
    text = (
        "close\n\nTitle of the story\n\n\nTitle of the story\n\nFirst paragraph.\n\n"
        "Advertisement\n\nSecond paragraph.\n\nRelated: Another headline entirely\n"
        "Third paragraph.\nPhoto: Jane Doe/Reuters\nFourth paragraph.\n"
        "Share this article\nSite Name\n\nLeave a Reply\nName *\nEmail *\n"
        "© 2024 Site Name. Privacy Policy\nPrivacy Policy | Terms of Use\n"
    )
    assert block_texts(text) == [
        "Title of the story",
        "First paragraph.",
        "Second paragraph.",
        "Third paragraph.",
        "Fourth paragraph.",
    ]


def test_link_intro_takes_the_headline_below_it() -> None:
    text = "Body text here.\nRead also:\n\nA Headline About Something Else\nMore body text."
    assert block_texts(text) == ["Body text here.", "More body text."]


def test_trailing_photo_credit_is_cut_from_a_caption() -> None:
    text = "Soldiers parade in Seoul, September 25, 2024. AP/Ahn Young-joon, file\nNext paragraph."
    assert block_texts(text) == ["Soldiers parade in Seoul, September 25, 2024.", "Next paragraph."]


def test_heading_at_end_of_plain_document_is_kept() -> None:
    # Only a footer makes a trailing label boilerplate; a plain note keeps its last line.
    text = "Shopping list\nmilk\neggs"
    assert block_texts(text) == [text]
