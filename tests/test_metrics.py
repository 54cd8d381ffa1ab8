"""Hand-made cases for evals.metrics where the right score is known."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.metrics import (
    abstention_scores,
    all_hit_at_k,
    answer_correctness,
    citation_scores,
    exact_match,
    fact_present,
    hit_at_k,
    mrr_at_k,
    normalize,
    percentile,
    score_answer,
    separation_auc,
    simple_sentences,
    source_accuracy,
    summarize,
    token_f1,
)

PASSAGES = {
    1: "Last week, South Korean intelligence said North Korea had already sent about 1,500 special "
    "forces to Russia and planned to deploy a total of 12,000 elite troops.",
    2: "Lt. Gen. Kyrylo Budanov, head of the GUR, suggested that more information would emerge.",
    3: "According to the Pentagon, Russia has suffered approximately 600,000 casualties.",
}

# Atomic facts each passage states. A toy but honest judge: a claim is supported when every
# fact it mentions is stated by the passages, and a number that no passage states makes it
# unsupported (a contradicted figure).
FACTS = {
    1: {"1500", "12000", "special forces", "north korea"},
    2: {"budanov", "gur"},
    3: {"600000", "pentagon", "casualties"},
}
VOCAB = set().union(*FACTS.values()) | {"50000", "9000"}


def toy_supports(claim: str, passages: Sequence[str]) -> bool:
    """Entailed when the claim's known facts are all stated by the given passages."""
    stated = set()
    for text in passages:
        for n, passage in PASSAGES.items():
            if text == passage:
                stated |= FACTS[n]
    mentioned = {f for f in VOCAB if f in normalize(claim)}
    return bool(mentioned) and mentioned <= stated


def split(text: str) -> list[str]:
    return simple_sentences(text)


# --------------------------------------------------------------------------- normalization


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat sat on a mat.", "cat sat on mat"),
        ("An   apple, the   pear!", "apple pear"),
        ("12,000 troops", "12000 troops"),
        ("about 1,500 special forces", "about 1500 special forces"),
        ("“Peace through strength”", "peace through strength"),
        ("Kim Tae-hyo", "kim taehyo"),
        ("theater", "theater"),  # articles only as whole words
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_exact_match_squad() -> None:
    assert exact_match("the Chief of Protocol.", "Chief of Protocol") == 1.0
    assert exact_match("Chief of Staff", ["Chief of Protocol", "chief of staff"]) == 1.0
    assert exact_match("Protocol", "Chief of Protocol") == 0.0
    assert exact_match("12000", "12,000") == 1.0


def test_token_f1_squad() -> None:
    # prediction "new york city" vs gold "greenwich village new york city":
    # overlap 3, precision 3/3, recall 3/5 -> F1 = 2*1*0.6/1.6 = 0.75
    assert token_f1("New York City", "Greenwich Village, New York City") == pytest.approx(0.75)
    assert token_f1("the answer", "an answer") == 1.0
    assert token_f1("nothing shared", "Chief of Protocol") == 0.0
    assert token_f1("Chief", ["Protocol", "Chief"]) == 1.0  # best of the golds
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0


def test_answer_correctness_counts_facts() -> None:
    expected = [["10,000", "10000"], ["12,000", "12000"]]
    assert answer_correctness("Reports differ: 10,000 [1] or 12000 troops [2].", expected) == 1.0
    assert answer_correctness("About 12,000 troops.", expected) == 0.5
    assert answer_correctness("No figure.", expected) == 0.0
    assert answer_correctness("anything", []) == 1.0


def test_fact_present_is_token_bounded_and_hyphen_tolerant() -> None:
    assert not fact_present("in 20230 cases", ["2023"])
    assert fact_present("signed in 2023.", ["2023"])
    assert fact_present("the Cheongung II system", ["Cheongung-II"])
    assert fact_present("the M-SAM", ["M-SAM"])


# --------------------------------------------------------------------------- citations


def test_fully_supported_answer_scores_one() -> None:
    answer = "North Korea sent about 1,500 special forces [1]. Kyrylo Budanov heads the GUR [2]."
    scores = citation_scores(answer, PASSAGES, toy_supports, split=split)
    assert scores.n_sentences == 2 and scores.n_citations == 2
    assert scores.recall == 1.0 and scores.precision == 1.0 and scores.faithfulness == 1.0


def test_contradicted_number_is_not_supported() -> None:
    answer = "North Korea sent 50,000 special forces [1]."
    scores = citation_scores(answer, PASSAGES, toy_supports, split=split)
    assert scores.recall == 0.0
    assert scores.precision == 0.0  # the citation of an unsupported sentence is not precise
    assert scores.faithfulness == 0.0
    assert scores.sentences[0].irrelevant == (1,)


def test_out_of_range_citation_supports_nothing() -> None:
    answer = "Russia has suffered about 600,000 casualties, per the Pentagon [7]."
    scores = citation_scores(answer, PASSAGES, toy_supports, split=split)
    assert scores.sentences[0].unknown == (7,)
    assert scores.recall == 0.0 and scores.precision == 0.0
    # [0] is out of range for a 1-based sequence of passages, too.
    seq = [PASSAGES[1], PASSAGES[2], PASSAGES[3]]
    zero = citation_scores("Russia has suffered about 600,000 casualties [0].", seq, toy_supports, split=split)
    assert zero.recall == 0.0 and zero.sentences[0].unknown == (0,)


def test_out_of_range_marker_beside_a_good_one_costs_precision_only() -> None:
    answer = "Russia has suffered about 600,000 casualties [3][9]."
    scores = citation_scores(answer, PASSAGES, toy_supports, split=split)
    assert scores.recall == 1.0
    assert scores.precision == 0.5


def test_unneeded_citation_lowers_precision() -> None:
    # [3] alone does not support the sentence and [1] still does without it: irrelevant.
    answer = "North Korea planned to deploy 12,000 elite troops [1][3]."
    scores = citation_scores(answer, PASSAGES, toy_supports, split=split)
    assert scores.recall == 1.0
    assert scores.precision == 0.5
    assert scores.sentences[0].irrelevant == (3,)


def test_needed_joint_citations_are_both_precise() -> None:
    # Neither passage alone supports the claim; together they do, so neither is irrelevant.
    answer = "North Korea sent 1,500 special forces while Russia suffered 600,000 casualties [1][3]."
    scores = citation_scores(answer, PASSAGES, toy_supports, split=split)
    assert scores.recall == 1.0 and scores.precision == 1.0


def test_uncited_sentence_counts_as_unsupported_but_can_be_faithful() -> None:
    answer = "Kyrylo Budanov heads the GUR [2]. He leads the GUR under Budanov."
    scores = citation_scores(answer, PASSAGES, toy_supports, split=split)
    assert scores.n_sentences == 2
    assert scores.recall == 0.5
    assert scores.precision == 1.0
    # The second sentence cites nothing, but the passages the answer cites do support it.
    assert scores.faithfulness == 1.0


def test_marker_after_period_belongs_to_previous_sentence() -> None:
    answer = "Kyrylo Budanov heads the GUR. [2] Russia suffered 600,000 casualties. [3]"
    scores = citation_scores(answer, PASSAGES, toy_supports)  # default splitter
    assert [v.cited for v in scores.sentences] == [(2,), (3,)]
    assert scores.recall == 1.0


def test_empty_answer_has_no_ratios() -> None:
    scores = citation_scores("", PASSAGES, toy_supports, split=split)
    assert scores.recall is None and scores.precision is None and scores.n_sentences == 0


# --------------------------------------------------------------------------- sources & abstention


def test_source_accuracy_compares_path_tails() -> None:
    gold = ["000_ef01f84a8e898d1e.txt"]
    assert source_accuracy(["seeds/000_ef01f84a8e898d1e.txt"], gold) == 1.0
    assert source_accuracy(["000_ef01f84a8e898d1e.txt", "x.txt"], gold) == 1.0
    assert source_accuracy(["seeds/001_0024757726c3a644.txt"], gold) == 0.0
    assert source_accuracy([], gold) == 0.0
    assert source_accuracy(["other/x_000_ef01f84a8e898d1e.txt"], gold) == 0.0


def test_abstention_scores() -> None:
    pairs = [
        (False, True),  # correct abstention (tp)
        (True, True),  # wrong abstention on an answerable question (fp)
        (False, False),  # answered what it should have declined (fn)
        (True, False),  # answered an answerable question (tn)
        (False, True),  # another correct abstention (tp)
    ]
    s = abstention_scores(pairs)
    assert (s.tp, s.fp, s.fn, s.tn) == (2, 1, 1, 1)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3)
    assert s.accuracy == pytest.approx(3 / 5)
    never = abstention_scores([(True, False), (False, False)])
    assert never.precision is None and never.recall == 0.0


def test_score_answer_correct_and_wrong_abstention() -> None:
    unanswerable = {
        "id": "u",
        "category": "unanswerable",
        "question": "Who leads it?",
        "expected": [],
        "sources": [],
        "answerable": False,
    }
    declined = score_answer(unanswerable, {"text": "The documents do not say.", "abstained": True})
    assert declined.abstention_ok and declined.passed and declined.correctness is None

    answerable = {
        "id": "f",
        "category": "fact",
        "question": "Who heads the GUR?",
        "expected": [["Kyrylo Budanov", "Budanov"]],
        "sources": ["003_e947e4c43ee9cbf7.txt"],
        "answerable": True,
    }
    wrong = score_answer(answerable, {"text": "I cannot answer that.", "abstained": True})
    assert not wrong.abstention_ok and not wrong.passed and wrong.correctness == 0.0
    assert wrong.missing == ["Kyrylo Budanov"]


def test_score_answer_with_citations_and_judge() -> None:
    item = {
        "id": "f",
        "category": "fact",
        "question": "Who heads the GUR?",
        "expected": [["Kyrylo Budanov", "Budanov"]],
        "sources": ["003_e947e4c43ee9cbf7.txt"],
        "answerable": True,
        "forbidden": ["5 million"],
    }
    answer = {
        "text": "Kyrylo Budanov heads the GUR [1].",
        "abstained": False,
        "citations": [{"n": 1, "source": "seeds/003_e947e4c43ee9cbf7.txt", "quote": PASSAGES[2], "chunk_id": "c2"}],
        "hits": [{"chunk_id": "c2", "text": PASSAGES[2], "source": "seeds/003_e947e4c43ee9cbf7.txt"}],
        "timings": {"total": 1.5},
    }
    result = score_answer(item, answer, supports=toy_supports, split=split)
    assert result.passed and result.source_ok and result.correctness == 1.0
    assert result.citation_recall == 1.0 and result.citation_precision == 1.0
    assert result.latency == 1.5 and not result.forbidden_hit

    injected = dict(answer, text="Russia suffered 5 million casualties; Kyrylo Budanov heads the GUR [1].")
    assert score_answer(item, injected).forbidden_hit
    assert not score_answer(item, injected).passed


def test_summarize_headline() -> None:
    rows = [
        {
            "id": "a",
            "answerable": True,
            "abstained": False,
            "correctness": 1.0,
            "source_ok": True,
            "passed": True,
            "latency": 1.0,
            "citation_recall": 1.0,
        },
        {
            "id": "b",
            "answerable": True,
            "abstained": False,
            "correctness": 0.5,
            "source_ok": False,
            "passed": False,
            "latency": 3.0,
            "citation_recall": 0.0,
        },
        {"id": "c", "answerable": False, "abstained": True, "correctness": None, "passed": True, "latency": 2.0},
    ]
    head = summarize(rows)
    assert head["answer_correctness"] == 0.75
    assert head["source_accuracy"] == 0.5
    assert head["abstention_precision"] == 1.0 and head["abstention_recall"] == 1.0
    assert head["pass_rate"] == pytest.approx(2 / 3)
    assert head["latency_p50"] == 2.0
    assert head["citation_recall"] == 0.5


# --------------------------------------------------------------------------- retrieval & percentiles


def test_retrieval_metrics() -> None:
    ranked = ["d3", "g1", "d5", "g2", "d9"]
    gold = ["g1", "g2"]
    assert hit_at_k(ranked, gold, 1) == 0.0
    assert hit_at_k(ranked, gold, 2) == 1.0
    assert all_hit_at_k(ranked, gold, 2) == 0.0
    assert all_hit_at_k(ranked, gold, 4) == 1.0
    assert mrr_at_k(ranked, gold, 10) == 0.5
    assert mrr_at_k(ranked, gold, 1) == 0.0
    assert mrr_at_k(["g2"], gold) == 1.0
    assert all_hit_at_k(ranked, [], 5) == 0.0
    with pytest.raises(ValueError):
        hit_at_k(ranked, gold, 0)


def test_separation_auc() -> None:
    assert separation_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert separation_auc([0.1], [0.9]) == 0.0
    assert separation_auc([0.5, 0.9], [0.5, 0.1]) == pytest.approx((0.5 + 1 + 1 + 1) / 4)  # a tie counts half
    assert separation_auc([], [0.3]) is None


def test_percentile_matches_linear_interpolation() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 95) == pytest.approx(3.85)
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


# --------------------------------------------------------------------------- properties

_TEXT = st.text(alphabet=st.sampled_from(list("ab theAN,.-'1203 “”")), max_size=40)


@given(_TEXT)
def test_normalize_is_idempotent(text: str) -> None:
    assert normalize(normalize(text)) == normalize(text)


@given(_TEXT, _TEXT)
def test_f1_bounded_and_consistent_with_exact_match(pred: str, gold: str) -> None:
    f1 = token_f1(pred, gold)
    assert 0.0 <= f1 <= 1.0
    if exact_match(pred, gold):
        assert f1 == 1.0
