"""bench/yes_no.py: the Yes or No docchat would show for a yes/no question, against gold."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is scripts, not a package

from assistant.generation.llm import ScriptedChat
from bench.yes_no import floor_effect, measure, shown_lead, summary, yes_no_items
from evals.benchmarks import DEFAULT_ROOT


def test_the_shown_lead_is_read_after_a_contradicting_yes_is_turned():
    q = "Had the bridge ever opened?"
    assert shown_lead(q, "Yes, the bridge opened in May [1].") == "yes"
    assert shown_lead(q, "Yes, the bridge never opened [1]. It was closed.") == "no"  # agreeing_lead
    assert shown_lead(q, "No [1]. The bridge stayed shut.") == "no"
    assert shown_lead(q, "The bridge opened in May [1].") == ""
    assert shown_lead(q, "") == ""


def test_measure_asks_with_the_answer_prompt_and_scores_the_lead():
    items = [
        ("Did the museum reopen?", "[1] The museum reopened on 4 May.", "yes"),
        ("Is the tram line finished?", "[1] Work on the tram line starts next year.", "no"),
        ("Was the renovation cheap?", "[1] The museum reopened.", "no"),
    ]
    model = ScriptedChat(["Yes, it reopened on 4 May [1].", "Yes, work starts next year [1].", "NOT_FOUND"])
    rows = measure(items, model)
    assert [r["right"] for r in rows] == [True, False, False]
    assert all(r["detected"] for r in rows)
    prompt = model.calls[0][-1]["content"]
    assert "[1] The museum reopened on 4 May." in prompt and "Begin with Yes or No" in prompt
    table = summary(rows)
    assert table["accuracy"] == pytest.approx(1 / 3)
    assert table["accuracy_yes"] == 1.0 and table["accuracy_no"] == 0.0
    assert table["no_lead"] == pytest.approx(1 / 3) and table["not_detected"] == 0
    assert all(r["p_yes"] is None for r in rows)  # a scripted model reports no probabilities


def test_the_floor_effect_counts_withheld_yes_by_gold():
    rows = [
        {"lead": "yes", "gold": "no", "p_yes": 0.6},  # wrong, withheld at 0.7 and 0.85: a stop
        {"lead": "yes", "gold": "yes", "p_yes": 0.8},  # right, withheld at 0.85 only: a kill
        {"lead": "yes", "gold": "yes", "p_yes": 0.95},  # right, kept
        {"lead": "no", "gold": "no", "p_yes": 0.1},  # a No is never withheld
        {"lead": "yes", "gold": "no", "p_yes": None},  # no probability: never withheld
    ]
    assert floor_effect(rows, 0.7) == {"floor": 0.7, "stops": 1, "kills": 0, "wrong_yes": 2, "right_yes": 2}
    assert floor_effect(rows, 0.85) == {"floor": 0.85, "stops": 1, "kills": 1, "wrong_yes": 2, "right_yes": 2}


@pytest.mark.skipif(not DEFAULT_ROOT.is_dir(), reason=f"benchmark data not found at {DEFAULT_ROOT}")
def test_yes_no_items_come_from_both_sets_with_their_passages():
    halueval = yes_no_items("halueval", "tune", None)
    assert len(halueval) == 27 and {g for *_, g in halueval} == {"yes", "no"}
    assert all(p.startswith("[1] ") for _, p, _ in halueval)
    hotpot = yes_no_items("hotpotqa", "test", None)
    assert len(hotpot) == 80
    assert all(p.startswith("[1] ") and "\n[2] " in p for _, p, _ in hotpot)  # both supporting paragraphs
