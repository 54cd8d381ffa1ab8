"""The naive baseline: chunk packing, retrieval, the prompt, reading replies (declines, citations),
timing, and a seeds run with the baseline beside docchat (scripted model, hash embedder)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from assistant.errors import ModelTimeoutError
from assistant.generation.llm import Interrupted, ScriptedChat
from assistant.retrieval.embedder import HashEmbedder
from assistant.settings import Settings
from evals.baseline import (
    CHUNK_CHARS,
    NaiveBaseline,
    Passage,
    PassageIndex,
    cited_numbers,
    load_passages,
    pack_chunks,
    paragraphs,
    prompt_messages,
    split_paragraph,
    trailing_markers,
)
from evals.metrics import citation_scores, is_decline
from evals.run import load_items, run_eval

SENTENCE = "The council approved the new budget after a long debate on Tuesday evening. "  # 76 chars


# --------------------------------------------------------------------------- chunks


def test_paragraphs_split_on_blank_lines() -> None:
    text = "Title\r\n\r\nFirst line\nsame paragraph.\n \t\nSecond.\n\n\n\nThird.\n"
    assert paragraphs(text) == ["Title", "First line\nsame paragraph.", "Second.", "Third."]


def test_chunks_pack_whole_paragraphs_in_order_within_the_limit() -> None:
    paras = [f"Paragraph {i}. " + "word " * (20 + 37 * i % 90) for i in range(12)]
    paras = [p.strip() for p in paras]
    chunks = pack_chunks("\n\n".join(paras))
    assert all(len(c) <= CHUNK_CHARS for c in chunks)
    assert "\n\n".join(chunks) == "\n\n".join(paras)  # nothing lost, nothing reordered
    for p in paras:  # each fits, so each sits whole in exactly one chunk
        assert sum(p in c.split("\n\n") for c in chunks) == 1
    assert len(chunks) < len(paras)  # small paragraphs share chunks
    # Packing is greedy: a chunk is only closed when the next paragraph would not fit.
    for a, b in itertools.pairwise(chunks):
        assert len(a) + 2 + len(b.split("\n\n")[0]) > CHUNK_CHARS


def test_a_long_paragraph_is_cut_at_sentence_ends() -> None:
    long = (SENTENCE * 25).strip()  # 25 sentences, about 1,900 characters
    pieces = split_paragraph(long)
    assert len(pieces) == 3 and all(len(p) <= CHUNK_CHARS for p in pieces)
    assert all(p.endswith("evening.") and p.startswith("The council") for p in pieces)
    assert " ".join(pieces) == long
    chunks = pack_chunks(f"Short intro.\n\n{long}\n\nShort outro.")
    assert chunks[0].startswith("Short intro.\n\nThe council") and chunks[-1].endswith("Short outro.")
    assert all(len(c) <= CHUNK_CHARS for c in chunks)


def test_a_sentence_longer_than_the_limit_is_cut_hard() -> None:
    monster = "x" * 2000 + "."
    chunks = pack_chunks(f"Before.\n\n{monster}\n\nAfter.")
    assert all(len(c) <= CHUNK_CHARS for c in chunks)
    assert "".join(c for c in chunks if c.startswith("x")).replace("\n\nAfter.", "") == monster
    assert [len(p) for p in split_paragraph(monster, 800)] == [800, 800, 401]


def test_load_passages_reads_supported_files_relative_to_the_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("Alpha one.\n\nAlpha two.", encoding="utf-8")
    (tmp_path / "sub" / "b.md").write_text("# Bee\n\nBee text.", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / ".hidden.txt").write_text("secret", encoding="utf-8")
    passages = load_passages(tmp_path)
    assert passages == [Passage("a.txt", "Alpha one.\n\nAlpha two."), Passage("sub/b.md", "# Bee\n\nBee text.")]


def test_index_returns_the_nearest_passages_first(tmp_path: Path) -> None:
    (tmp_path / "cats.txt").write_text("Cats purr and chase mice.", encoding="utf-8")
    (tmp_path / "ships.txt").write_text("Ships sail across the ocean with cargo.", encoding="utf-8")
    (tmp_path / "rain.txt").write_text("Rain falls on the hills in spring.", encoding="utf-8")
    embedder = HashEmbedder(256)
    index = PassageIndex.build(tmp_path, embedder)
    assert next(p.source for p in index.search("Which ships sail the ocean with cargo?", embedder, 2)) == "ships.txt"
    assert len(index.search("anything", embedder, 5)) == 3


# --------------------------------------------------------------------------- replies

DECLINES = [
    "I don't know, the passages do not contain the answer.",
    "I don't know.",
    "The passages do not contain information about Lord Callaghan's son.",
    "The provided passages do not mention the name of the buyer.",
    "The documents don't say how many connections a Client keeps.",
    "None of the passages mention the default pool size.",
    "There is no information in the passages about the price Bates paid.",
    "The context does not provide the default maximum number of connections.",
    "I cannot answer this question based on the given passages.",
    "The answer is not provided in the passages.",
    "This information is not mentioned in the provided passages.",
    "Unfortunately, the passages provided do not specify the age of Moazzam Begg.",
    "Based on the passages, it is not possible to determine the publisher.",
    "I'm sorry, but I couldn't find that in the passages.",
    "NOT_FOUND",
]
ANSWERS = [
    "No, Callaghan did not call an early general election in the autumn of 1978 [1].",
    "The minister said the report does not mention any new taxes [2].",
    "Sony did not provide a release date for Europe [3].",
    "The company said it had no information about the buyer [2].",
    "httpx does not follow redirects by default; pass follow_redirects=True [1].",
    "According to the passages, the price was not disclosed, but analysts estimated 156m [1].",
    "The text states that HTTP/2 is not enabled by default [3].",
    "The client cannot determine the encoding, so it falls back to utf-8 [1].",
    "Nobody knows the exact figure; the article says 26 billion [1].",
]


@pytest.mark.parametrize("reply", DECLINES)
def test_declines_are_recognised(reply: str) -> None:
    assert is_decline(reply)


@pytest.mark.parametrize("reply", ANSWERS)
def test_answers_with_negations_are_not_declines(reply: str) -> None:
    assert not is_decline(reply)


def test_cited_numbers_are_range_checked_and_read_every_form() -> None:
    assert cited_numbers("A [2][1]. B [1, 3]. C [4,5].", 5) == (2, 1, 3, 4, 5)
    assert cited_numbers("Out of range [0] and [6] and [99], in range [5].", 5) == (5,)
    assert cited_numbers("No markers, just 2024 and (1).", 5) == ()
    assert cited_numbers("[3]", 2) == ()


def test_line_labels_cite_their_own_line() -> None:
    reply = "[1] Suspended on 25 September.\n[2][3] Fired on 1 November.\nSee [1] too. [2]"
    moved = trailing_markers(reply)
    assert moved == "Suspended on 25 September. [1]\nFired on 1 November. [2][3]\nSee [1] too. [2]"
    passages = {1: "suspended on 25 September", 2: "fired on 1 November", 3: "other"}

    def supports(claim: str, texts: list[str]) -> bool:
        return any(claim.lower().rstrip(".") in t.lower() for t in texts)

    two = "[1] Suspended on 25 September.\n[2] Fired on 1 November."
    assert citation_scores(trailing_markers(two), passages, supports).recall == 1.0
    untreated = citation_scores(two, passages, supports).sentences  # "[2]" read as the first line's
    assert [v.cited for v in untreated] == [(1, 2), ()] and not untreated[1].supported


def test_prompt_is_data_with_numbered_passages() -> None:
    messages = prompt_messages("Who won?", [Passage("a.txt", "Alpha."), Passage("b.txt", "Beta.")])
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "[1] Alpha.\n\n[2] Beta." in user and "Question: Who won?" in user
    assert "I don't know" in user and "[1]" in user
    assert is_decline("I don't know, the passages do not contain the answer.")  # the phrase it asks for
    template = Path(__file__).resolve().parents[1] / "evals" / "prompts" / "baseline_question.txt"
    assert "{passages}" in template.read_text(encoding="utf-8")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i, topic in enumerate(
        [
            "tigers hunt at night",
            "rivers flood in spring",
            "markets fell on Monday",
            "the cup final ended 3-1",
            "the budget passed",
            "a new phone launched",
        ]
    ):
        (folder / f"doc_{i}.txt").write_text(f"Headline {i}\n\nIt is reported that {topic}.", encoding="utf-8")
    return folder


def test_answer_maps_markers_to_files_and_times_the_first_token(docs: Path) -> None:
    model = ScriptedChat(["Tigers hunt at night [1], says [1][7] and [0]."], name="scripted", piece_size=3)
    baseline = NaiveBaseline(model, HashEmbedder(256))
    reply = baseline.answer("When do tigers hunt?", docs)
    assert len(reply.passages) == 5 and reply.passages[0].source == "doc_0.txt"
    assert reply.cited == (1,) and reply.cited_files == ["doc_0.txt"]
    assert reply.citations() == [{"n": 1, "source": "doc_0.txt", "quote": reply.passages[0].text}]
    assert not reply.declined and reply.error is None
    assert reply.first_token is not None and 0 <= reply.first_token <= reply.total
    assert model.options == [{"max_tokens": 256, "temperature": 0.0, "stop": None}]
    assert "When do tigers hunt?" in model.calls[0][-1]["content"]
    # The index is built once per folder and reused.
    assert baseline.index(docs) is baseline.index(str(docs))


def test_declines_empty_replies_and_model_errors(docs: Path) -> None:
    model = ScriptedChat(
        [
            "The passages do not mention lions.",
            "",
            ModelTimeoutError("slow"),
            Interrupted("Partial answer", ModelTimeoutError("cut")),
        ]
    )
    baseline = NaiveBaseline(model, HashEmbedder(64))
    assert baseline.answer("Lions?", docs).declined
    assert baseline.answer("Lions?", docs).declined  # said nothing
    failed = baseline.answer("Lions?", docs)
    assert not failed.declined and failed.error and failed.first_token is None
    cut = baseline.answer("Lions?", docs)
    assert cut.text == "Partial answer" and cut.error and not cut.declined


# --------------------------------------------------------------------------- beside docchat on seeds


def test_seeds_run_with_the_baseline(tmp_path: Path) -> None:
    items = [i for i in load_items("seeds") if i["id"] in ("fact-01", "oos-01", "multiturn-04")]
    dataset = tmp_path / "tiny.jsonl"
    dataset.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")

    def reply(messages: list[dict]) -> str:
        if "using only the passages above" in messages[-1]["content"]:  # the baseline's prompt
            return "I don't know, the passages do not contain the answer."
        return "NOT_FOUND"

    model = ScriptedChat([reply] * 50, name="scripted")
    report = run_eval(
        dataset,
        backend="openai",
        baseline="naive",
        judge="rules",
        settings=Settings(data_dir=tmp_path / "data"),
        embedder=HashEmbedder(64),
        chat_model=model,
        out=tmp_path / "reports",
        charts=True,
    )
    rows = report["results"]
    assert len(rows) == 3
    for row in rows:
        assert row["baseline_declined"] and row["baseline_answer"].startswith("I don't know")
        assert row["baseline_passed"] == (not row["answerable"])
        assert len(row["baseline_passages"]) == 5
    baseline_calls = [c for c in model.calls if "using only the passages above" in c[-1]["content"]]
    assert len(baseline_calls) == 3  # one per item; a multi-turn item is asked its last turn alone
    assert "What did she call" in baseline_calls[-1][-1]["content"]
    entry = report["comparison"]["halves"]["all"]
    assert entry["baseline"]["abstention_recall"] == 1.0 and entry["baseline"]["pass_rate"] == pytest.approx(1 / 3)
    assert "pass_rate_baseline" in report["headline"] and "hit_at_5" in report["headline"]
    folder = Path(report["report_dir"])
    assert (folder / "comparison.png").is_file()
    assert "docchat beside the naive baseline: all (3 items)" in (folder / "report.md").read_text(encoding="utf-8")
