"""bench/draft_consistency.py: the reordered prompt, the agreement signals, stops and kills, and
the second draft asked of a scripted model."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is scripts, not a package

from assistant.generation.llm import ScriptedChat
from assistant.settings import Settings
from bench.draft_consistency import agreement, group, measure, reversed_passages, tradeoffs


def test_passages_are_reversed_and_numbered_again():
    shown = ["[2] The bridge opened in May.", "[5] It cost 7 million.\nIt was late."]
    assert reversed_passages(shown) == "[1] It cost 7 million.\nIt was late.\n[2] The bridge opened in May."


def test_agreement_reads_the_facts_the_answer_hinges_on():
    same = agreement("Anna Berg won in 2004.", "In 2004 Anna Berg won the race.")
    assert same["facts"] == 1.0 and same["f1"] > 0.5 and not same["declined"]
    other = agreement("Anna Berg won in 2004.", "Carl Dahl won in 2006.")
    assert other["facts"] == 0.0 and not other["declined"]
    assert agreement("Anna Berg won in 2004.", "NOT_FOUND")["declined"]


def _row(answerable: bool, correct: bool, declined: bool = False) -> dict:
    trace = {"passages": ["[1] The bridge opened in May."]}
    return {"id": "q", "answerable": answerable, "correct": correct, "declined": declined, "trace": trace}


def test_groups_and_tradeoffs():
    assert group(_row(False, False)) == "stop" and group(_row(True, True)) == "keep"
    assert group(_row(True, False)) is None and group(_row(False, True, declined=True)) is None
    rows = [
        {"group": "stop", "f1": 0.1, "facts": 0.0, "declined": True},
        {"group": "keep", "f1": 0.9, "facts": 1.0, "declined": False},
        {"group": "keep", "f1": 0.35, "facts": 1.0, "declined": False},
    ]
    table = {(t["signal"], t["threshold"]): (t["stops"], t["kills"]) for t in tradeoffs(rows)}
    assert table[("f1", 0.2)] == (1, 0) and table[("f1", 0.4)] == (1, 1) and table[("facts", 0.8)] == (1, 0)
    assert table[("declined", None)] == (1, 0)


def test_the_second_draft_sees_the_passages_reversed():
    model = ScriptedChat(["It opened in May [2]."])
    row = {**_row(True, True), "question": "When did it open?", "answer": "In May [1]."}
    row["trace"]["passages"] = ["[1] The bridge opened in May.", "[2] It cost 7 million."]
    out = measure(row, model, Settings())
    (messages,) = model.calls
    assert "[1] It cost 7 million.\n[2] The bridge opened in May." in messages[-1]["content"]
    assert out["second"] == "It opened in May." and out["f1"] > 0 and out["group"] == "keep"
