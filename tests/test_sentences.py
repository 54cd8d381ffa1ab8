"""Sentence spans for news prose: exact offsets, abbreviations, quotes, line breaks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.grounding.sentences import sentence_spans

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def test_splits_plain_sentences() -> None:
    assert sentences("One fish. Two fish! Red fish? Blue fish.") == [
        "One fish.",
        "Two fish!",
        "Red fish?",
        "Blue fish.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "U.S. and NATO officials said they could not confirm it.",
        "Robert Wood, the U.S. deputy ambassador to the U.N. Security Council, spoke.",
        "Mr. Kim agreed to provide Russia with shells.",
        "Dr. Lee and Gen. Park met Lt. Col. Smith on St. Patrick's Day.",
        "Messrs. Putin and Kim also met last June at Pyongyang.",
        "It happened on Jan. 5 and again on Feb. 12 near the border.",
        "Ask for Room No. 5 at Acme Inc. in Seoul.",
        "J. Smith and Kim Jong Un met in Pyongyang.",
        "About 1,500 special forces and 12,000 elite troops, or 3.5 percent, were sent.",
        "(U.S. President Joe) Biden spoke about it.",
        "“Is it true?” he asked the minister.",
        "Exports rose, e.g. tanks and howitzers, to Poland.",
    ],
)
def test_does_not_split_inside_a_sentence(text: str) -> None:
    assert sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Kim said they won. “So it seems easy,” Engel said.",
            ["Kim said they won.", "“So it seems easy,” Engel said."],
        ),
        (
            "He promised “gradual countermeasures.” The council met.",
            ["He promised “gradual countermeasures.”", "The council met."],
        ),
        (
            'It is an action that could change the landscape." Then he left.',
            ['It is an action that could change the landscape."', "Then he left."],
        ),
        (
            "She called it ‘lunacy.’ Officials agreed.",
            ["She called it ‘lunacy.’", "Officials agreed."],
        ),
        ("Why now? Nobody knows!", ["Why now?", "Nobody knows!"]),
        ("They went to the U.S. The talks failed.", ["They went to the U.S.", "The talks failed."]),
        ("He works at Acme Inc. The firm is large.", ["He works at Acme Inc.", "The firm is large."]),
        ("Troops numbered 12,000. Some left.", ["Troops numbered 12,000.", "Some left."]),
        ("Wait... What happened?", ["Wait...", "What happened?"]),
        ("Thank you, Dr. Lee. South Korea appealed.", ["Thank you, Dr. Lee.", "South Korea appealed."]),
    ],
)
def test_splits_at_real_boundaries(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_line_breaks_end_a_sentence() -> None:
    text = "Strategic changes\nBut some analysts disagree\n\nLong-term postponement\r\nEnd"
    assert sentences(text) == [
        "Strategic changes",
        "But some analysts disagree",
        "Long-term postponement",
        "End",
    ]


WRAPPED = (
    "If no type is given, the library will attempt to guess the content type based\n"
    "on the file name, with unknown extensions defaulting to a generic binary type. The\n"
    "timeout applies to every network operation, which means that a stalled connection\r\n"
    "  raises an error rather than hanging.\n"
)


def test_wrapped_prose_lines_are_one_sentence() -> None:
    assert sentences(WRAPPED) == [
        "If no type is given, the library will attempt to guess the content type based\n"
        "on the file name, with unknown extensions defaulting to a generic binary type.",
        "The\ntimeout applies to every network operation, which means that a stalled connection\r\n"
        "  raises an error rather than hanging.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        # The line ends a sentence, or opens a list.
        "The client follows redirects only when it is asked to do so explicitly.\nthen it stops",
        "These are the options that the client accepts when it is created:\nfollow_redirects",
        # The next line does not begin with a lowercase letter.
        "The quick reference below lists every option that the client accepts and\nTimeouts",
        # Short lines, code, headings and table rows are not wrapped prose.
        "import httpx\nimport truststore",
        "ctx = ssl.create_default_context(cafile=certifi.where(), capath=None)\nclient = httpx.Client()",
        "# Configuring the timeouts and the limits of the connection pool for the client\nclient = 1",
        "| option name | what it does to every request that the client sends out |\n| a | b |",
    ],
)
def test_other_line_breaks_still_end_a_sentence(text: str) -> None:
    assert len(sentences(text)) == 2


def test_offsets_are_absolute_within_a_range() -> None:
    text = "Skip this. Keep this one. And this. Skip too."
    start = text.index("Keep")
    end = text.index(" Skip too")
    spans = sentence_spans(text, start, end)
    assert [text[s:e] for s, e in spans] == ["Keep this one.", "And this."]
    assert spans[0][0] == start


def test_odd_ranges() -> None:
    assert sentence_spans("") == []
    assert sentence_spans("   \n\n  ") == []
    assert sentence_spans("abc", 2, 1) == []
    assert sentence_spans("abc", -5, 99) == [(0, 3)]
    assert sentence_spans("Hello.\xa0") == [(0, 6)]  # non-breaking space stripped


def test_seed_sentences() -> None:
    text = (SEEDS / "000_ef01f84a8e898d1e.txt").read_text(encoding="utf-8")
    got = sentences(text)
    assert (
        "Last week, South Korean intelligence said North Korea had already sent about 1,500 "
        "special forces to Russia to join the war in Ukraine and planned to deploy a total of "
        "12,000 elite troops."
    ) in got
    assert "“They won't look very strong unless they react in some way." in got
    assert any(s.startswith("U.S. and NATO officials said") and s.endswith("use in Ukraine.") for s in got)
    assert "But Kim Jong Un’s perspective is much broader,” Hyun said." in got


def test_is_fast_on_pathological_input() -> None:
    texts = ["." * 200_000 + "x", "a. " * 100_000, "!" * 100_000, "“" * 100_000 + ". A"]
    started = time.perf_counter()
    for text in texts:
        sentence_spans(text)
    assert time.perf_counter() - started < 5


_ALPHABET = st.sampled_from(
    [
        *list("abcXYZ019 ,;:.!?…\"'“”‘’()-\n\r\t\xa0\u2028"),
        "U.S.",
        "Mr.",
        "Dr. ",
        "Jan. ",
        " No. 5",
        "Inc.",
        "J. ",
        "... ",
        "1,500",
        "3.5",
        "\n\n",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_ALPHABET, max_size=80).map("".join) | st.text(max_size=120),
    st.integers(min_value=-3, max_value=130),
    st.integers(min_value=-3, max_value=130) | st.none(),
)
def test_spans_properties(text: str, start: int, end: int | None) -> None:
    spans = sentence_spans(text, start, end)
    lo = min(max(start, 0), len(text))
    hi = len(text) if end is None else min(max(end, lo), len(text))
    prev_end = lo
    for s, e in spans:
        assert lo <= prev_end <= s < e <= hi  # ordered, non-overlapping, non-empty, in range
        piece = text[s:e]
        assert not piece[0].isspace() and not piece[-1].isspace()
        # A line break inside a sentence is a wrapped line: the next begins in lowercase.
        for line in piece.splitlines()[1:]:
            assert line.strip()[:1].islower(), piece
        prev_end = e
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
    for i in range(lo, hi):
        if not text[i].isspace():
            assert i in covered, (text, i)
