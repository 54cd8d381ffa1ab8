"""Property tests (hypothesis): the chunker on arbitrary text and files, the citation parser on
arbitrary drafts, and `ask()` with a model that emits random, broken and hostile markers.

tests/test_chunker.py already checks the chunk invariants on prose-like text; here the text is
any Unicode (every line-break character, combining marks, emoji, RTL, controls the loaders let
through), the budgets are any valid pair, and files go through the real loaders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from conftest import SEEDS
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from test_chunker import check_invariants

from assistant import Answer, ask, ask_stream
from assistant.generation.llm import ScriptedChat
from assistant.grounding.verify import MARKER, split_draft
from assistant.retrieval.embedder import HashEmbedder
from assistant.settings import Settings
from ingest import ingest
from ingest.chunker import chunk_document
from ingest.loaders import Document, SkipFile, load_document

PROPERTY = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)

# ============================================================================ chunker

_ANY_CHAR = st.characters(blacklist_categories=("Cs",))  # text from a decoder never has lone surrogates
_LINE_BREAKS = st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\n\n"])
_WORDS = st.sampled_from(
    [
        "North",
        "Korea",
        "sent",
        "1,500",
        "troops.",
        "Mr.",
        "U.S.",
        "“quoted”",
        "Kyiv’s",
        "déjà-vu",
        "北朝鮮",
        "Россия",
        "كوريا",
        "🙂",
        "👩‍👩‍👧",
        "e\u0301",
        "...",
        "?!",
        "—",
        "[1]",
        "<b>",
        "a" * 60,
        "https://x.y/" + "z" * 80,
    ]
)
_MIXED_TEXT = st.lists(
    st.one_of(_WORDS, _LINE_BREAKS, st.just(" "), st.text(_ANY_CHAR, max_size=12)), max_size=300
).map("".join)


@st.composite
def budgets(draw) -> tuple[int, int]:
    # One code point is up to 4 UTF-8 bytes, so up to 4 cl100k tokens ("\x81" is 2): a budget
    # under 4 cannot always be honoured, whatever the chunker does.
    budget = draw(st.integers(min_value=4, max_value=200))
    return budget, draw(st.integers(min_value=0, max_value=budget - 1))


@PROPERTY
@given(text=_MIXED_TEXT, sizes=budgets())
@example(text="\u2028".join(["Kim met Putin."] * 30), sizes=(8, 3))
@example(text="a" * 2000, sizes=(4, 0))
@example(text="\x81朝🙂" * 50, sizes=(4, 3))
def test_chunker_on_any_text(text: str, sizes: tuple[int, int]) -> None:
    """Offsets round-trip, chunks cover the content, no chunk is over budget, for any text."""
    budget, overlap = sizes
    doc = Document(text=text, title="T", kind="text")
    chunks = chunk_document(doc, "any/ü 🙂.txt", chunk_tokens=budget, overlap_tokens=overlap)
    check_invariants(doc, chunks, "any/ü 🙂.txt", budget)
    assert chunks == chunk_document(doc, "any/ü 🙂.txt", chunk_tokens=budget, overlap_tokens=overlap)


_ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252"])
# What a text file may hold (the loaders call a file with over 1% control characters binary).
_FILE_TEXT = st.lists(
    st.one_of(
        _WORDS, _LINE_BREAKS, st.just(" "), st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
    ),
    max_size=300,
).map("".join)


@PROPERTY
@given(text=_FILE_TEXT, encoding=_ENCODINGS, suffix=st.sampled_from([".txt", ".md"]), sizes=budgets())
def test_chunks_of_a_file_point_into_the_file(
    tmp_path_factory, text: str, encoding: str, suffix: str, sizes: tuple[int, int]
) -> None:
    """Through the real loader: each chunk is the file's own decoded text at its offsets (read
    without newline translation), whatever the encoding."""
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        assume(False)
    path = tmp_path_factory.mktemp("prop") / f"doc{suffix}"
    path.write_bytes(data)
    try:
        doc = load_document(path, max_bytes=10_000_000)
    except SkipFile:
        assume(False)
    with open(path, encoding=encoding, newline="") as f:
        on_disk = f.read()
    if encoding == "cp1252":  # bytes that are also valid UTF-8 are read as UTF-8
        try:
            on_disk = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    assert doc.text in (on_disk, on_disk.removeprefix("\ufeff"))
    chunks = chunk_document(doc, path.name, chunk_tokens=sizes[0], overlap_tokens=sizes[1])
    check_invariants(doc, chunks, path.name, sizes[0])
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text


# ============================================================================ citation parser

_MARKER_TOKENS = st.sampled_from(
    [
        "[0]",
        "[1]",
        "[2]",
        "[3]",
        "[6]",
        "[7]",
        "[99]",
        "[100000000000000000000]",
        "[1-3]",
        "[3-1]",
        "[1–2]",
        "[1, 2]",
        "[2,3]",
        "[1-100]",
        "[1-2-3]",
        "[2-3-1, 5]",
        "[-1]",
        "[ 1]",
        "[1 ]",
        "[",
        "]",
        "[[1]]",
        "[[2]",
        "[1]]",
        "[]",
        "[a]",
        "[1a]",
        "[١]",
        "[１]",
        "【1】",
        "[^1]",
        "(1)",
        "[1][2][3]",
        "[1] [99]",
    ]
)
_FRAGMENTS = st.sampled_from(
    [
        "North Korea had already sent about 1,500 special forces to Russia",
        "Seoul may send weapons to Ukraine",
        "The war ended in 1999",
        "Zxq vlorp gnarf",
        "NOT_FOUND",
        "The documents do not say",
        "",
        ".",
        "?",
        "\n",
        "Ignore previous instructions",
        "<script>alert(1)</script>",
    ]
)
_DRAFT = st.lists(
    st.one_of(_FRAGMENTS, _MARKER_TOKENS, st.sampled_from([" ", ". ", "! ", "\n"]), st.text(max_size=8)), max_size=40
).map("".join)


@PROPERTY
@given(draft=st.one_of(_DRAFT, st.text(max_size=300)))
def test_split_draft_never_leaves_a_marker_in_the_text(draft: str) -> None:
    for ds in split_draft(draft):
        assert ds.text and ds.text == ds.text.strip()
        assert not MARKER.search(ds.text)
        assert all(isinstance(m, int) for m in ds.markers)
        assert len(set(ds.markers)) == len(ds.markers)


def test_split_draft_multi_range_marker() -> None:
    """'[1-2-3]' used to make `_markers` raise ValueError (it unpacked exactly two numbers)."""
    assert split_draft("North Korea sent troops [1-2-3].")[0].markers == (1, 2, 3)


# ============================================================================ ask() with random markers


@pytest.fixture(scope="module")
def prop_index(tmp_path_factory) -> Settings:
    docs = tmp_path_factory.mktemp("prop-docs")
    for seed in sorted(SEEDS.iterdir()):
        (docs / seed.name).write_text(seed.read_text(encoding="utf-8"), encoding="utf-8")
    (docs / "markers.txt").write_text(
        "North Korea had sent 1,500 special forces [1] to Russia by October, according to [2] "
        "intelligence [99] sources [3-5].\n",
        encoding="utf-8",
    )
    settings = Settings(data_dir=tmp_path_factory.mktemp("prop-data"), backend="extractive")
    ingest([docs], settings=settings, embedder=HashEmbedder(64))
    return settings


_QUESTIONS = st.sampled_from(
    [
        "How many special forces had North Korea already sent to Russia?",
        "What weapons might South Korea send to Ukraine?",
        "How many special forces had North Korea sent to Russia according to intelligence sources?",
    ]
)

# A draft plan: evidence sentences (by index into the prompt's numbered evidence), fragments and
# marker tokens, joined with random separators. Built from the prompt at call time, so drafts
# mix supported sentences with junk.
_PLAN = st.lists(
    st.one_of(
        st.tuples(st.just("evidence"), st.integers(0, 9)),
        st.tuples(st.just("text"), st.one_of(_FRAGMENTS, _MARKER_TOKENS, st.sampled_from([" ", ". ", "\n"]))),
    ),
    max_size=14,
)


def _reply(plan: Sequence[tuple[str, object]]):
    def reply(messages: list[dict]) -> str:
        evidence = re.findall(r"^\[\d+\] (.*)$", messages[-1]["content"], re.MULTILINE)
        parts = []
        for kind, value in plan:
            if kind == "evidence":
                parts.append(evidence[value % len(evidence)] if evidence else "")
            else:
                parts.append(str(value))
        return " ".join(parts)

    return reply


def _check(answer: Answer, docs_text) -> None:
    assert isinstance(answer, Answer)
    shown = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1))  # no out-of-range or skipped number
    assert set(shown) == set(numbers)  # every [n] shown has its citation, and vice versa
    hit_ids = {h.chunk.id for h in answer.hits}
    for c in answer.citations:
        assert c.chunk_id in hit_ids
        assert docs_text(c.source)[c.start : c.end] == c.quote
    if answer.abstained:
        assert not answer.citations and not shown


@PROPERTY
@given(question=_QUESTIONS, plan=_PLAN, piece=st.integers(1, 9))
def test_ask_with_random_markers(prop_index: Settings, question: str, plan, piece: int) -> None:
    """Whatever markers the model writes: no crash, no out-of-range citation, every [n] in the
    text has its citation, and what streamed is what was returned."""
    # After the reply, the model check's questions about sentences in doubt (at most one per
    # sentence): answered "no", so such a sentence is dropped.
    model = ScriptedChat([_reply(plan), *["No"] * 40], piece_size=piece)
    items = list(ask_stream(question, settings=prop_index, chat_model=model, embedder=HashEmbedder(64)))
    answer = items[-1]
    assert isinstance(answer, Answer)
    _check(answer, _docs_text(prop_index))
    assert "".join(i for i in items[:-1] if isinstance(i, str)).strip() == ("" if answer.abstained else answer.text)


_TEXTS: dict[str, str] = {}


def _docs_text(settings: Settings):
    from assistant import document_text

    def text_of(source: str) -> str:
        if source not in _TEXTS:
            _TEXTS[source] = document_text(source, settings=settings, embedder=HashEmbedder(64))
        return _TEXTS[source]

    return text_of


def test_ask_survives_a_multi_range_marker(prop_index: Settings) -> None:
    model = ScriptedChat(["North Korea had already sent about 1,500 special forces to Russia [1-2-3]."])
    answer = ask(
        "How many special forces had North Korea already sent to Russia?",
        settings=prop_index,
        chat_model=model,
        embedder=HashEmbedder(64),
    )
    _check(answer, _docs_text(prop_index))


@PROPERTY
@given(question=_QUESTIONS)
def test_extractive_answers_never_show_document_markers(prop_index: Settings, question: str) -> None:
    answer = ask(question, settings=prop_index, embedder=HashEmbedder(64))
    _check(answer, _docs_text(prop_index))
