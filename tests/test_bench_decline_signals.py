"""bench/decline_signals.py: what it counts (stops and kills per threshold) and what it asks."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is scripts, not a package

from bench.decline_signals import SIGNALS, group, signal_messages, tradeoffs


def _row(answerable: bool, correct: bool, p_yes: float, declined: bool = False) -> dict:
    signals = {} if declined else {name: {"p_yes": p_yes, "seconds": 0.0} for name in SIGNALS}
    return {"answerable": answerable, "correct": correct, "declined": declined, "signals": signals}


def test_groups_answers_to_stop_and_to_keep():
    assert group(_row(False, False, 0.4)) == "stop"
    assert group(_row(True, True, 0.4)) == "keep"
    assert group(_row(True, False, 0.4)) is None  # a wrong answer to an answerable question: neither
    assert group(_row(False, True, 0.4, declined=True)) is None  # already declined


def test_tradeoffs_count_what_falls_below_each_threshold():
    rows = [_row(False, False, 0.52), _row(False, False, 0.62), _row(True, True, 0.57), _row(True, True, 0.8)]
    by_threshold = {t["threshold"]: t for t in tradeoffs(rows) if t["signal"] == "check"}
    assert (by_threshold[0.5]["stops"], by_threshold[0.5]["kills"]) == (0, 0)
    assert (by_threshold[0.55]["stops"], by_threshold[0.55]["kills"]) == (1, 0)
    assert (by_threshold[0.6]["stops"], by_threshold[0.6]["kills"]) == (1, 1)
    assert (by_threshold[0.65]["stops"], by_threshold[0.65]["kills"]) == (2, 1)


def test_every_signal_shares_the_answer_prompts_prefix():
    messages = [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "example"},
        {"role": "assistant", "content": "NOT_FOUND"},
        {"role": "user", "content": "Passages:\n[1] The bridge opened in May.\n\nQuestion: When did it open?"},
    ]
    chats = signal_messages(messages, "When did it open?", "[1] The bridge opened in May.", "In May.", "In May [1].")
    assert set(chats) == set(SIGNALS)
    for chat in chats.values():
        assert chat[:3] == messages[:3]
        assert "yes or no" in chat[-1]["content"]
    assert chats["answerable"][-1]["content"].startswith(messages[-1]["content"])  # the answer prompt, extended
    assert chats["follow_up"][-2] == {"role": "assistant", "content": "In May [1]."}
    assert "In May." in chats["check"][-1]["content"] and "In May." in chats["judge_style"][-1]["content"]
