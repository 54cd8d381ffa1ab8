"""Docset evals (bbc-news, tech-docs): loading, the README scorers, per-half metrics, the trace-based
loss accounting and ablation, and `run_eval` end to end with a scripted model and a tiny docs folder."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from assistant.generation.llm import ScriptedChat
from assistant.retrieval.embedder import HashEmbedder
from assistant.settings import Settings
from evals import docsets
from evals import run as eval_run
from evals.benchmarks import DEFAULT_ROOT, BenchmarkDataMissing
from evals.docsets import (
    ALL_CHECKS,
    NO_CHECKS,
    RULES,
    SHIPPED,
    DocsetQuestion,
    ablation,
    load_docset,
    loss_accounting,
    score_reply,
    system_metrics,
    yes_no_word,
)
from evals.run import main, run_eval

BBC, TECH = RULES["bbc-news"], RULES["tech-docs"]


def question(
    kind: str = "fact",
    answers: tuple[str, ...] = ("6932",),
    also: tuple[str, ...] = (),
    sources: tuple[str, ...] = ("business_001.txt",),
    split: str = "tune",
    qid: str = "q-1",
) -> DocsetQuestion:
    answerable = kind != "unanswerable"
    return DocsetQuestion(
        qid,
        split,
        kind,
        "?",
        answers if answerable else (),
        also if answerable else (),
        sources if answerable else (),
        answerable,
    )


# --------------------------------------------------------------------------- scoring


def test_bbc_norm_removes_commas_between_digits_only() -> None:
    q = question(answers=("6932",))
    assert score_reply(q, BBC, "Profits were 6,932 million [1].", False, ["business_001.txt"]).correct
    # tech-docs is a plain lower-cased substring test: no digit normalisation.
    assert not score_reply(q, TECH, "Profits were 6,932 million [1].", False, ["business_001.txt"]).answer_ok
    # A gold string with a comma matches an answer without one, and a comma after a word stays.
    assert score_reply(question(answers=("6,932",)), BBC, "It was 6932.", False, ["business_001.txt"]).answer_ok
    assert not score_reply(question(answers=("a6",)), BBC, "It was a, 6.", False, ["business_001.txt"]).answer_ok


def test_yes_no_takes_the_first_whole_word() -> None:
    assert yes_no_word("nobody said yes") == "yes"  # "no" inside "nobody" is not the word
    assert yes_no_word("not in november; no, he did not") == "no"
    assert yes_no_word("he did not") is None
    yes, no = question("yesno", answers=("yes",)), question("yesno", answers=("no",))
    reply = "No, Callaghan did not call an election, yes [1]."
    assert score_reply(no, BBC, reply, False, ["business_001.txt"]).correct
    assert not score_reply(yes, BBC, reply, False, ["business_001.txt"]).answer_ok
    # "Not" and "November" contain "no" but are not the word "no".
    assert not score_reply(no, BBC, "Not until November [1].", False, ["business_001.txt"]).answer_ok


def test_also_strings_are_all_required() -> None:
    q = question("multi", answers=("25 September",), also=("1 November",))
    assert score_reply(
        q, BBC, "Suspended on 25 September, fired on 1 November [1][2].", False, ["business_001.txt"]
    ).correct
    missing = score_reply(q, BBC, "Suspended on 25 September [1].", False, ["business_001.txt"])
    assert not missing.answer_ok and missing.source_ok and not missing.correct


def test_markers_are_stripped_before_matching() -> None:
    q = question(answers=("26 billion",))
    assert score_reply(q, TECH, "The total was 26 [3] billion.", False, ["business_001.txt"]).answer_ok
    assert score_reply(q, TECH, "The total was 26 [1, 2] billion.", False, ["business_001.txt"]).answer_ok
    assert not score_reply(question(answers=("[1]",)), TECH, "See [1].", False, ["x"]).answer_ok


def test_sources_compare_base_names_and_only_bbc_needs_them_for_correct() -> None:
    q = question(sources=("politics_050.txt",))
    assert score_reply(q, BBC, "6932", False, ["docs/politics_050.txt"]).correct
    wrong_file = score_reply(q, BBC, "6932", False, ["politics_051.txt"])
    assert wrong_file.answer_ok and wrong_file.source_ok is False and not wrong_file.correct
    tech = score_reply(q, TECH, "6932", False, ["politics_051.txt"])
    assert tech.correct and tech.source_ok is False  # tech-docs reports the citation separately


def test_declines_and_unanswerable_items() -> None:
    declined = score_reply(question(), BBC, "6932 [1]", True, ["business_001.txt"])
    assert (declined.answer_ok, declined.source_ok, declined.correct, declined.declined) == (False, False, False, True)
    none = question("unanswerable")
    assert score_reply(none, BBC, "", True, []).correct
    answered = score_reply(none, TECH, "It is 10.", False, ["a.md"])
    assert not answered.correct and answered.answer_ok is None and answered.source_ok is None


# --------------------------------------------------------------------------- loading


def write_docset(folder: Path, rows: list[dict], docs: dict[str, str]) -> Path:
    (folder / "docs").mkdir(parents=True)
    for name, text in docs.items():
        (folder / "docs" / name).write_text(text, encoding="utf-8")
    (folder / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


DOCS = {
    "business_001.txt": "Acme profits rise\n\nAcme Corp said its profits rose to 6,932 million dollars in 2004. "
    "The chief executive, Jane Doe, said sales in Asia drove the growth.\n\n"
    "Acme shares rose 5% on Monday.\n",
    "sport_002.txt": "Riverside wins the cup\n\nRiverside won the county cup on 12 August after beating "
    "Hilltown 3-1. The captain, Tom Baker, scored twice.\n",
    "tech_003.txt": "Gadget launch delayed\n\nThe Zephyr phone launch was delayed until 1 November, "
    "its maker Orbital said.\n",
}


def _row(qid: str, split: str, kind: str, text: str, answers: list[str], also: list[str], sources: list[str]) -> dict:
    answerable = kind != "unanswerable"
    return {
        "id": qid,
        "split": split,
        "kind": kind,
        "question": text,
        "answers": answers,
        "also": also,
        "sources": sources,
        "answerable": answerable,
    }


QUESTIONS = [
    _row(
        "t-1",
        "tune",
        "fact",
        "How much profit did Acme Corp say it made in 2004?",
        ["6932 million"],
        [],
        ["business_001.txt"],
    ),
    _row("t-2", "tune", "unanswerable", "What is the population of Mars?", [], [], []),
    _row(
        "t-3",
        "tune",
        "multi",
        "On what date did Riverside win the county cup, and who was the captain?",
        ["12 August"],
        ["Tom Baker"],
        ["sport_002.txt"],
    ),
    _row(
        "s-1", "test", "fact", "Until when was the Zephyr phone launch delayed?", ["1 November"], [], ["tech_003.txt"]
    ),
    _row("s-2", "test", "yesno", "Did Riverside win the county cup?", ["yes"], [], ["sport_002.txt"]),
    _row("s-3", "test", "unanswerable", "Which orchestra played at the opening of the Louvre annex?", [], [], []),
]


@pytest.fixture
def tiny_docset(tmp_path: Path) -> Path:
    """A docset folder named like bbc-news (so bbc-news's rules apply) with three articles."""
    return write_docset(tmp_path / "sets" / "bbc-news", QUESTIONS, DOCS)


def test_load_docset_splits_and_rules(tiny_docset: Path) -> None:
    tune = load_docset(tiny_docset, "tune")
    assert [q.id for q in tune.questions] == ["t-1", "t-2", "t-3"]
    assert tune.rules is RULES["bbc-news"] and tune.docs_dir == tiny_docset / "docs"
    assert [q.id for q in load_docset(tiny_docset, "test").questions] == ["s-1", "s-2", "s-3"]
    assert len(load_docset(tiny_docset, "both").questions) == 6
    # Named datasets are read from the benchmarks folder given.
    assert load_docset("bbc-news", "tune", root=tiny_docset.parent).folder == tiny_docset
    with pytest.raises(ValueError, match="unknown split"):
        load_docset(tiny_docset, "all")
    other = write_docset(tiny_docset.parent / "mine", QUESTIONS[:1], DOCS)
    assert load_docset(other, "tune").rules is RULES["bbc-news"]  # an unknown name: the stricter rules
    assert docsets.docset_collection(load_docset(other)) != docsets.docset_collection(tune)


def test_missing_docset_data_is_typed(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkDataMissing):
        load_docset("tech-docs", root=tmp_path / "nowhere")
    (tmp_path / "tech-docs").mkdir()
    with pytest.raises(BenchmarkDataMissing, match=r"questions\.jsonl"):
        load_docset("tech-docs", root=tmp_path)


@pytest.mark.skipif(
    not (DEFAULT_ROOT / "bbc-news").is_dir() or not (DEFAULT_ROOT / "tech-docs").is_dir(),
    reason=f"shared benchmark data not found at {DEFAULT_ROOT} (../shared/benchmarks/bbc-news, tech-docs)",
)
def test_real_docsets_load_with_their_split_counts() -> None:
    """Counts only: the test half's questions and answers are never printed or inspected."""
    bbc = load_docset("bbc-news", "both")
    assert Counter(q.split for q in bbc.questions) == {"tune": 60, "test": 60}
    for half in ("tune", "test"):
        kinds = Counter(q.kind for q in bbc.questions if q.split == half)
        assert kinds == {"fact": 36, "multi": 8, "yesno": 4, "unanswerable": 12}
    assert len(list(bbc.docs_dir.glob("*.txt"))) == 40
    tech = load_docset("tech-docs", "both")
    assert Counter(q.split for q in tech.questions) == {"tune": 40, "test": 40}
    assert tech.rules is RULES["tech-docs"] and len(list(tech.docs_dir.glob("*.md"))) == 12
    assert len(load_docset("tech-docs", "test").questions) == 40


# --------------------------------------------------------------------------- metrics per half


def test_system_metrics_per_system() -> None:
    base = {"split": "test", "answers": [], "also": [], "sources": []}
    rows = [
        {
            **base,
            "kind": "fact",
            "answerable": True,
            "declined": False,
            "answer_ok": True,
            "source_ok": True,
            "correct": True,
            "judged": [2, 2],
            "first_visible": 1.0,
            "latency": 4.0,
            "baseline_declined": True,
            "baseline_answer_ok": False,
            "baseline_source_ok": False,
            "baseline_correct": False,
            "baseline_first_visible": 2.0,
            "baseline_latency": 3.0,
        },
        {
            **base,
            "kind": "multi",
            "answerable": True,
            "declined": False,
            "answer_ok": True,
            "source_ok": False,
            "correct": False,
            "judged": [1, 2],
            "first_visible": 3.0,
            "latency": 6.0,
            "baseline_declined": False,
            "baseline_answer_ok": True,
            "baseline_source_ok": True,
            "baseline_correct": True,
            "baseline_judged": [1, 1],
            "baseline_first_visible": 2.0,
            "baseline_latency": 5.0,
        },
        {
            **base,
            "kind": "fact",
            "answerable": True,
            "declined": True,
            "answer_ok": False,
            "source_ok": False,
            "correct": False,
            "judged": None,
            "first_visible": 5.0,
            "latency": 5.0,
            "baseline_declined": False,
            "baseline_answer_ok": False,
            "baseline_source_ok": False,
            "baseline_correct": False,
            "baseline_first_visible": 2.0,
            "baseline_latency": 5.0,
        },
        {
            **base,
            "kind": "unanswerable",
            "answerable": False,
            "declined": True,
            "correct": True,
            "first_visible": 2.0,
            "latency": 2.0,
            "baseline_declined": False,
            "baseline_correct": False,
            "baseline_first_visible": 2.0,
            "baseline_latency": 5.0,
        },
    ]
    docchat = system_metrics(rows)
    assert docchat["correctness"] == pytest.approx(1 / 3)
    assert docchat["answer_accuracy"] == pytest.approx(2 / 3)
    assert docchat["source_cited_answered"] == pytest.approx(1 / 2)  # of the two it answered
    assert docchat["source_cited_all"] == pytest.approx(1 / 3)
    assert docchat["declined_unanswerable"] == 1.0 and docchat["false_declines"] == pytest.approx(1 / 3)
    assert docchat["abstention_precision"] == 0.5 and docchat["abstention_recall"] == 1.0
    assert docchat["accuracy_fact"] == 0.5 and docchat["accuracy_multi"] == 0.0
    assert docchat["accuracy_unanswerable"] == 1.0 and "accuracy_yesno" not in docchat
    assert docchat["faithfulness"] == pytest.approx(3 / 4)  # pooled over judged sentences
    assert docchat["latency_first_visible_p50"] == 2.5 and docchat["latency_p50"] == 4.5
    baseline = system_metrics(rows, "baseline_")
    assert baseline["correctness"] == pytest.approx(1 / 3) and baseline["declined_unanswerable"] == 0.0
    assert baseline["abstention_precision"] == 0.0 and baseline["abstention_recall"] == 0.0
    assert baseline["faithfulness"] == 1.0 and baseline["latency_first_visible_p50"] == 2.0


# --------------------------------------------------------------------------- traces


def sentence(text: str, kept: bool, checks: dict[str, bool], source: str, judge: bool | None) -> dict:
    return {
        "text": text,
        "kept": kept,
        "checks": checks,
        "reasons": {name: f"{name} failed" for name, ok in checks.items() if not ok},
        "support": [{"source": source, "quote": "quoted sentence"}],
        "judge": judge,
    }


def traced_row(
    qid: str,
    kind: str,
    answers: list[str],
    sources: list[str],
    *,
    correct: bool,
    declined: bool,
    abstained_by: str | None,
    drafts: list[dict],
) -> dict:
    return {
        **_row(qid, "tune", kind, "?", answers, [], sources),
        "correct": correct,
        "declined": declined,
        "answer_ok": correct,
        "source_ok": correct,
        "trace": {"abstained_by": abstained_by, "drafts": drafts},
    }


ON = {"numbers": True, "names": True}


@pytest.fixture
def traced_rows() -> list[dict]:
    return [
        # A: right before the checks, the names check dropped it: a false rejection.
        traced_row(
            "A",
            "fact",
            ["6932"],
            ["a.txt"],
            correct=False,
            declined=True,
            abstained_by="checks",
            drafts=[
                {
                    "text": "It made 6,932 [1].",
                    "sentences": [
                        sentence("It made 6,932 [1].", False, {"numbers": True, "names": False}, "a.txt", True)
                    ],
                }
            ],
        ),
        # B: right, with one kept sentence the judge rejects.
        traced_row(
            "B",
            "fact",
            ["12 August"],
            ["b.txt"],
            correct=True,
            declined=False,
            abstained_by=None,
            drafts=[
                {
                    "text": "On 12 August [1]. It rained [1].",
                    "sentences": [
                        sentence("On 12 August [1].", True, ON, "b.txt", True),
                        sentence("It rained [1].", True, ON, "b.txt", False),
                    ],
                }
            ],
        ),
        # C: an unanswerable item answered.
        # A decline or a restatement is not a claim: never checked, never an answer.
        traced_row(
            "C",
            "unanswerable",
            [],
            [],
            correct=False,
            declined=False,
            abstained_by=None,
            drafts=[
                {
                    "text": "The price was 10. The documents don't say who set it.",
                    "sentences": [
                        sentence("The price was 10.", True, ON, "c.txt", False),
                        {"text": "The documents don't say who set it.", "kind": "decline", "kept": True, "checks": {}},
                    ],
                }
            ],
        ),
        # D: below the relevance floor.
        traced_row("D", "fact", ["x"], ["d.txt"], correct=False, declined=True, abstained_by="floor", drafts=[]),
        # E: a wrong sentence the numbers check dropped, then a right one.
        traced_row(
            "E",
            "fact",
            ["6932"],
            ["a.txt"],
            correct=True,
            declined=False,
            abstained_by=None,
            drafts=[
                {
                    "text": "Wrong 99 [1]. It made 6,932 [1].",
                    "sentences": [
                        sentence("Wrong 99 [1].", False, {"numbers": False, "names": True}, "a.txt", False),
                        sentence("It made 6,932 [1].", True, ON, "a.txt", True),
                    ],
                }
            ],
        ),
        # F: the model said the documents don't answer.
        traced_row(
            "F",
            "fact",
            ["y"],
            ["f.txt"],
            correct=False,
            declined=True,
            abstained_by="model",
            drafts=[
                {
                    "text": "The passages do not mention y.",
                    "sentences": [{"text": "The passages do not mention y.", "kept": False, "checks": {}}],
                }
            ],
        ),
        # G: an unanswerable item declined by the model (the sentence says so, without a kind).
        traced_row(
            "G",
            "unanswerable",
            [],
            [],
            correct=True,
            declined=True,
            abstained_by="model",
            drafts=[{"text": "I don't know.", "sentences": [{"text": "I don't know.", "kept": False, "checks": {}}]}],
        ),
    ]


def test_loss_accounting_on_hand_built_traces(traced_rows: list[dict]) -> None:
    losses = loss_accounting(traced_rows, BBC)
    assert losses == {
        "traced": 7,
        "correct_drafts": 3,
        "false_rejections": 1,
        "false_rejection_share": pytest.approx(1 / 3),
        "kept_sentences": 4,
        "kept_unsupported": 2,
        "answered_unanswerable": 1,
        "false_acceptances": 3,
        "abstained_by_floor": 1,
        "abstained_by_model": 2,
        "abstained_by_checks": 1,
    }
    assert loss_accounting([{**r, "trace": None} for r in traced_rows], BBC) is None
    # The default trace of an answer that recorded nothing counts as no trace.
    empty = {"abstained_by": None, "passages": [], "drafts": [{"text": "", "sentences": []}]}
    assert loss_accounting([{**r, "trace": empty} for r in traced_rows], BBC) is None


def test_ablation_recomputes_answers_from_traces(traced_rows: list[dict]) -> None:
    table = {row["configuration"]: row for row in ablation(traced_rows, BBC)}
    assert list(table) == [SHIPPED, ALL_CHECKS, NO_CHECKS, "without numbers", "without names"]
    assert table[SHIPPED]["correctness"] == pytest.approx(2 / 5)
    assert table[SHIPPED]["faithfulness"] == pytest.approx(2 / 4)
    assert table[ALL_CHECKS]["correctness"] == pytest.approx(2 / 5)  # B and E
    assert table[ALL_CHECKS]["kept_sentences"] == 4
    # No checks: A is answered too, and E keeps its wrong sentence beside the right one.
    assert table[NO_CHECKS]["correctness"] == pytest.approx(3 / 5)
    assert table[NO_CHECKS]["kept_sentences"] == 6 and table[NO_CHECKS]["faithfulness"] == pytest.approx(3 / 6)
    assert table["without numbers"]["kept_sentences"] == 5  # E's wrong sentence is back
    assert table["without numbers"]["correctness"] == pytest.approx(2 / 5)
    assert table["without names"]["correctness"] == pytest.approx(3 / 5)  # A is no longer rejected
    for row in table.values():
        assert row["n"] == 7 and row["declined_unanswerable"] == 0.5  # C answers, G declines, always
    # Stops and kills against the shipped answers: the names check loses A; numbers changes nothing.
    assert table["without names"]["killed"] == ["A"] and table["without names"]["stopped"] == []
    assert table["without numbers"]["killed"] == table["without numbers"]["stopped"] == []
    assert "stopped" not in table[SHIPPED]
    assert ablation([{**r, "trace": None} for r in traced_rows], BBC) is None


def test_ablation_counts_what_each_check_stops_and_kills_against_the_shipped_answers() -> None:
    words_only_reports = {"numbers": True, "words": False}
    numbers_fail = {"numbers": False, "words": True}
    rows = [
        # U: an unanswerable question; the numbers check dropped the answer.
        traced_row(
            "U",
            "unanswerable",
            [],
            [],
            correct=True,
            declined=True,
            abstained_by="checks",
            drafts=[
                {
                    "text": "It cost 5 [1].",
                    "sentences": [sentence("It cost 5 [1].", False, numbers_fail, "u.txt", None)],
                }
            ],
        ),
        # W: a wrong answer the numbers check dropped.
        traced_row(
            "W",
            "fact",
            ["7"],
            ["w.txt"],
            correct=False,
            declined=True,
            abstained_by="checks",
            drafts=[
                {"text": "It was 8 [1].", "sentences": [sentence("It was 8 [1].", False, numbers_fail, "w.txt", None)]}
            ],
        ),
        # K: a right answer kept although the words check failed: words only reports.
        traced_row(
            "K",
            "fact",
            ["6932"],
            ["k.txt"],
            correct=True,
            declined=False,
            abstained_by=None,
            drafts=[
                {
                    "text": "It made 6,932 [1].",
                    "sentences": [sentence("It made 6,932 [1].", True, words_only_reports, "k.txt", True)],
                }
            ],
        ),
    ]
    assert docsets.shipped_off(rows) == {"words"}
    table = {row["configuration"]: row for row in ablation(rows, BBC)}
    assert list(table) == [SHIPPED, ALL_CHECKS, NO_CHECKS, "without numbers", "with words"]
    assert table["without numbers"]["stopped"] == ["U", "W"] and table["without numbers"]["killed"] == []
    assert table["with words"]["stopped"] == [] and table["with words"]["killed"] == ["K"]
    assert table[ALL_CHECKS]["killed"] == ["K"] and table[NO_CHECKS]["stopped"] == ["U", "W"]
    assert table["without numbers"]["correctness"] == pytest.approx(1 / 2)  # W is answered, wrongly
    assert table["with words"]["correctness"] == 0.0


def test_ablation_of_a_set_scored_on_declining_alone() -> None:
    # CLAP NQ: an answerable question is right when answered, an unanswerable one when declined.
    numbers_fail = {"numbers": False, "names": True}
    dropped = [
        {"text": "It cost 5 [1].", "sentences": [sentence("It cost 5 [1].", False, numbers_fail, "x.txt", None)]}
    ]
    kept = [{"text": "It cost 5 [1].", "sentences": [sentence("It cost 5 [1].", True, ON, "x.txt", None)]}]
    rows = [
        {"id": "U", "answerable": False, "trace": {"abstained_by": "checks", "drafts": dropped}},
        {"id": "A", "answerable": True, "trace": {"abstained_by": "checks", "drafts": dropped}},
        {"id": "K", "answerable": True, "trace": {"abstained_by": None, "drafts": kept}},
    ]
    table = {row["configuration"]: row for row in ablation(rows, docsets.abstention_score)}
    assert table[SHIPPED]["correctness"] == 0.5 and table[SHIPPED]["declined_unanswerable"] == 1.0
    assert table[SHIPPED]["answer_accuracy"] is None  # nothing says whether an answer's words are right
    assert table["without numbers"]["stopped"] == ["U"] and table["without numbers"]["killed"] == ["A"]
    assert table["without numbers"]["correctness"] == 1.0 and table["without numbers"]["declined_unanswerable"] == 0.0
    assert table["without names"]["stopped"] == table["without names"]["killed"] == []


def test_stops_and_kills_compares_item_by_item() -> None:
    right, wrong = docsets.Score(True, True, True, False), docsets.Score(False, True, False, False)
    declined = docsets.Score(False, False, False, True)
    rows = [{"id": i} for i in "abcd"]
    stricter = [declined, right, declined, wrong]
    looser = [wrong, wrong, right, right]
    assert docsets.stops_and_kills(rows, stricter, looser) == {"stopped": ["a", "b"], "killed": ["c", "d"]}


# --------------------------------------------------------------------------- end to end with fakes

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "the",
    "a",
    "of",
    "on",
    "in",
    "what",
    "did",
    "was",
    "who",
    "and",
    "how",
    "much",
    "which",
    "it",
    "is",
    "at",
    "when",
    "until",
    "say",
    "to",
}


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower())) - _STOP


def scripted_reply(messages: list[dict]) -> str:
    """Answers docchat's prompt and the baseline's alike: quotes the numbered passage sentence that
    shares most words with the question and cites it, or declines when nothing shares two words."""
    prompt = messages[-1]["content"]
    body, _, rest = prompt.rpartition("Question:")
    asked = _words(rest.strip().splitlines()[0] if rest.strip() else "")
    best: tuple[int, str, str] = (0, "", "")
    for n, block in re.findall(r"^\[(\d+)\] (.*?)(?=^\[\d+\] |\Z)", body, re.M | re.S):
        for part in re.split(r"(?<=[.!?])\s+|\n+", block):
            overlap = len(asked & _words(part))
            if part.strip() and overlap > best[0]:
                best = (overlap, n, part.strip())
    if best[0] < 2:
        return "I don't know, the passages do not contain the answer."
    prefix = "Yes, " if re.match(r"\s*(did|is|was|has|does)\b", rest, re.I) else ""
    return f"{prefix}{best[2].rstrip('.')} [{best[1]}]."


def scripted_model() -> ScriptedChat:
    return ScriptedChat([scripted_reply] * 200, name="scripted")


class _Dict:
    def __init__(self, data: dict) -> None:
        self.data = data

    def to_dict(self) -> dict:
        return self.data


def without_trace(answer: Any) -> Any:
    """An `ask()` result as the pipeline gave it before traces existed."""
    data = answer.to_dict()
    data.pop("trace", None)
    data.get("timings", {}).pop("first_sentence", None)
    return _Dict(data)


def with_trace(answer: Any) -> Any:
    """An `ask()` result whose dict carries a trace in the rewritten pipeline's shape."""
    data = answer.to_dict()
    support = [{"source": c["source"], "quote": c["quote"]} for c in data["citations"]]
    if data["abstained"]:
        data["trace"] = {"abstained_by": "floor", "drafts": []}
    else:
        data["trace"] = {
            "abstained_by": None,
            "drafts": [
                {
                    "text": data["text"],
                    "sentences": [
                        {
                            "text": data["text"],
                            "kept": True,
                            "checks": {"numbers": True, "overlap": True},
                            "reasons": {},
                            "support": support,
                        },
                        {
                            "text": "It was founded in 1900.",
                            "kept": False,
                            "checks": {"numbers": False, "overlap": True},
                            "reasons": {"numbers": "1900 is not in the cited sentence"},
                            "support": support,
                        },
                    ],
                }
            ],
        }
    return _Dict(data)


def test_run_eval_docset_both_halves_with_the_baseline(tmp_path: Path, tiny_docset: Path, monkeypatch) -> None:
    real_ask = eval_run.ask
    monkeypatch.setattr(eval_run, "ask", lambda *a, **k: without_trace(real_ask(*a, **k)))
    report = run_eval(
        tiny_docset,
        backend="openai",
        split="both",
        baseline="naive",
        judge="rules",
        settings=Settings(data_dir=tmp_path / "data"),
        embedder=HashEmbedder(64),
        chat_model=scripted_model(),
        out=tmp_path / "reports",
        charts=True,
    )
    folder = Path(report["report_dir"])
    assert re.fullmatch(r"\d{8}-\d{6}-bbc-news", folder.name)
    comparison = report["comparison"]
    assert list(comparison["halves"]) == ["tune", "test"]
    for half, entry in comparison["halves"].items():
        assert entry["n"] == 3 and entry["losses"] is None and entry["ablation"] is None  # no traces yet
        for system in ("docchat", "baseline"):
            for metric, value in entry[system].items():
                if value is not None and metric != "n" and not metric.startswith("latency"):
                    assert 0.0 <= value <= 1.0, (half, system, metric)
    rows = {r["id"]: r for r in report["results"]}
    assert set(rows) == {q["id"] for q in QUESTIONS}
    for row in rows.values():
        for key in (
            "answer",
            "baseline_answer",
            "correct",
            "baseline_correct",
            "declined",
            "baseline_declined",
            "cited_files",
            "baseline_cited_files",
            "first_visible",
            "baseline_first_visible",
        ):
            assert key in row, key
        assert row["baseline_first_visible"] <= row["baseline_latency"]
        assert len(row["baseline_passages"]) <= 5
    # The baseline quotes the profit sentence and cites its file; bbc-news's norm drops the comma.
    assert rows["t-1"]["baseline_correct"] and rows["t-1"]["baseline_cited_files"] == ["business_001.txt"]
    assert rows["t-2"]["baseline_declined"] and rows["t-2"]["baseline_correct"]  # nothing about Mars
    assert rows["s-2"]["category"] == "yesno (test)"
    head = report["headline"]
    assert {"correctness_tune", "correctness_baseline_test", "latency_first_visible_p50_baseline_tune"} <= set(head)
    assert report["meta"]["baseline"] == "naive" and report["meta"]["split"] == "both"
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "## docchat beside the naive baseline: tune (3 items)" in md
    assert "## docchat beside the naive baseline: test (3 items)" in md
    assert md.index("docchat beside the naive baseline: tune") < md.index("## Headline")
    assert "Where docchat's answers are lost" not in md
    for chart in ("comparison.png", "first_visible.png", "categories.png"):
        assert (folder / chart).is_file(), chart
    assert not (folder / "ablation.png").exists() and not (folder / "headline.png").exists()


def test_run_eval_docset_reads_traces(tmp_path: Path, tiny_docset: Path, monkeypatch) -> None:
    real_ask = eval_run.ask
    monkeypatch.setattr(eval_run, "ask", lambda *a, **k: with_trace(real_ask(*a, **k)))
    judge = ScriptedChat(["yes"] * 200, name="scripted-judge")
    report = run_eval(
        tiny_docset,
        backend="openai",
        split="tune",
        judge="llm",
        judge_model=judge,
        settings=Settings(data_dir=tmp_path / "data"),
        embedder=HashEmbedder(64),
        chat_model=scripted_model(),
        out=tmp_path / "reports",
        charts=True,
    )
    entry = report["comparison"]["halves"]["tune"]
    assert entry["baseline"] is None
    assert entry["losses"]["traced"] == 3
    configurations = [row["configuration"] for row in entry["ablation"]]
    assert configurations == [SHIPPED, ALL_CHECKS, NO_CHECKS, "without numbers", "without overlap"]
    by_name = {row["configuration"]: row for row in entry["ablation"]}
    assert by_name[NO_CHECKS]["kept_sentences"] > by_name[ALL_CHECKS]["kept_sentences"]
    assert judge.calls, "every draft sentence is judged, kept or not"
    for row in report["results"]:
        for draft in row["trace"]["drafts"]:
            assert all(s["judge"] is True for s in draft["sentences"])
    folder = Path(report["report_dir"])
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "Where docchat's answers are lost: tune" in md and "Ablation, recomputed from the traces: tune" in md
    assert "| stops / kills |" in md
    assert (folder / "ablation.png").is_file()

    # Reanalysed in place from the stored rows: the same analysis, nothing answered again.
    (folder / "report.md").write_text("stale", encoding="utf-8")
    calls = len(judge.calls)
    assert main(["--reanalyse", str(folder), "--no-charts"]) == 0
    again = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert again["comparison"]["halves"]["tune"]["ablation"] == entry["ablation"]
    assert again["meta"]["reanalysed"] and len(judge.calls) == calls
    assert "| stops / kills |" in (folder / "report.md").read_text(encoding="utf-8")


def test_reanalyse_refuses_what_it_cannot_read(tmp_path: Path, capsys) -> None:
    assert main(["--reanalyse", str(tmp_path)]) == 2
    assert "no report.json" in capsys.readouterr().err
    (tmp_path / "report.json").write_text(json.dumps({"meta": {"dataset": "seeds"}, "results": []}), encoding="utf-8")
    assert main(["--reanalyse", str(tmp_path)]) == 2
    assert "only those can be reanalysed" in capsys.readouterr().err
    for damaged in (b'{"meta": ', b"\xff\xfe\x00garbage", b"[1, 2]"):
        (tmp_path / "report.json").write_bytes(damaged)
        assert main(["--reanalyse", str(tmp_path)]) == 2
        assert "not a readable report" in capsys.readouterr().err
        assert (tmp_path / "report.json").read_bytes() == damaged  # left as it was


def test_cli_docset_prints_side_by_side(tmp_path: Path, tiny_docset: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(eval_run, "_default_embedder", lambda: HashEmbedder(64))
    monkeypatch.setattr(eval_run, "_make_model", lambda settings, backend: scripted_model())
    code = main(
        [
            "--dataset",
            "bbc-news",
            "--benchmarks-dir",
            str(tiny_docset.parent),
            "--backend",
            "local-small",
            "--baseline",
            "naive",
            "--judge",
            "rules",
            "--split",
            "tune",
            "--out",
            str(tmp_path / "r"),
            "--quiet",
            "--no-charts",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    header = next(line for line in printed.splitlines() if "tune (3 items)" in line)
    assert "docchat" in header and "baseline" in header
    assert re.search(r"correctness\s+\d\.\d{3}\s+\d\.\d{3}", printed)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "seeds", "--split", "both"], "unknown split 'both'"),
        (["--dataset", "halueval", "--baseline", "naive", "--backend", "local-small"], "--baseline naive runs with"),
        (["--dataset", "hotpotqa", "--baseline", "naive", "--backend", "local-small"], "hotpotqa needs --limit N"),
        (["--baseline", "naive", "--backend", "extractive"], "the naive baseline needs a model"),
        (["--baseline", "smart"], "invalid choice"),
    ],
)
def test_cli_refuses_what_a_run_cannot_do(argv: list[str], message: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(eval_run, "_default_embedder", lambda: HashEmbedder(64))
    assert main([*argv, "--quiet", "--no-charts"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["bbc-news", "tech-docs"])
def test_missing_docset_data_exits_2(dataset: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    code = main(
        ["--dataset", dataset, "--backend", "extractive", "--benchmarks-dir", str(tmp_path / "nowhere"), "--quiet"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--benchmarks-dir" in err and str(tmp_path / "nowhere") in err
