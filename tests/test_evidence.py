"""The passages shown to the model (`build_passages`): neighbours, merging, budgets."""

from __future__ import annotations

import pytest

from assistant.generation.tokens import count_tokens
from assistant.grounding.evidence import Sentence, build_passages, is_yes_no
from assistant.grounding.sentences import sentence_spans
from assistant.settings import Settings
from assistant.types import Chunk, Hit

DOC = (
    "Intro line about the library and what it does.\n"
    "You can switch verification off for a quick test.\n"
    "\n"
    "```python\n"
    'client.get("https://example.org", verify=False)\n'
    "```\n"
    "\n"
    "Other settings are described in the next section of the guide.\n"
)


def sentences_of(text: str, scores: dict[str, float]) -> list[Sentence]:
    """Every sentence of `text` as one chunk's, scored by `scores` (by a prefix; else 0.1)."""
    chunk = Chunk(id="c", source="guide.md", text=text, start=0, end=len(text), line_start=1, line_end=9, ordinal=0)
    hit = Hit(chunk, 1.0)
    out = []
    for s, e in sentence_spans(text):
        score = next((v for k, v in scores.items() if text[s:e].startswith(k)), 0.1)
        out.append(Sentence(text[s:e], hit, s, e, score))
    return out


def budget(sentences: list[Sentence], first: str, last: str) -> int:
    """The token cost of the run of `sentences` from the one starting `first` to the one
    starting `last`: a budget that holds that window and nothing more."""
    texts = [s.text for s in sentences]
    lo = next(k for k, t in enumerate(texts) if t.startswith(first))
    hi = next(k for k, t in enumerate(texts) if t.startswith(last))
    return sum(count_tokens(t) + 1 for t in texts[lo : hi + 1]) + 4


def test_a_neighbour_is_reached_past_a_code_fence() -> None:
    # The best sentence's next line is a fence marker, which says nothing; the window reaches
    # past it to the code line it introduces.
    ranked = sentences_of(DOC, {"You can switch": 0.9})
    [passage] = build_passages(ranked, budget_tokens=budget(ranked, "Intro", "client.get"), radius=1)
    assert "verify=False" in passage.text
    assert passage.sentences[0].text.startswith("Intro line")
    assert "Other settings" not in passage.text


def test_radius_zero_shows_the_sentence_alone() -> None:
    ranked = sentences_of(DOC, {"You can switch": 0.9})
    [passage] = build_passages(ranked, budget_tokens=budget(ranked, "You can", "You can"), radius=0)
    assert passage.text == "You can switch verification off for a quick test."


def test_short_lines_are_reached_past_at_most_twice() -> None:
    text = "The answer is in the line below, after some markup.\n" + "`x`\n" * 5 + "A line far below.\n"
    ranked = sentences_of(text, {"The answer": 0.9})
    [passage] = build_passages(
        ranked, budget_tokens=budget(ranked, "The answer", "The answer") + 3 * (count_tokens("`x`") + 1), radius=1
    )
    # two bare lines reached past, the third counts as the neighbour: the far line stays out
    assert [s.text for s in passage.sentences] == [
        "The answer is in the line below, after some markup.",
        "`x`",
        "`x`",
        "`x`",
    ]


def test_windows_that_touch_merge_and_the_best_passage_comes_first() -> None:
    text = "Alpha sentence number one here.\nBravo sentence number two here.\nCharlie sentence three here.\n"
    ranked = sentences_of(text, {"Alpha": 0.5, "Charlie": 0.8})
    passages = build_passages(ranked, budget_tokens=400, radius=1)
    assert len(passages) == 1 and len(passages[0].sentences) == 3
    far = text.replace("\n", "\n\n\n\n\n")  # more than MAX_GAP apart: no sentence follows another
    ranked = sentences_of(far, {"Alpha": 0.5, "Charlie": 0.8})
    apart = build_passages(
        ranked, budget_tokens=budget(ranked, "Alpha", "Alpha") + budget(ranked, "Charlie", "Charlie"), radius=1
    )
    assert [p.text[:5] for p in apart] == ["Charl", "Alpha"]


def test_what_the_model_is_shown_is_set_from_the_environment() -> None:
    settings = Settings.from_env({"RAG_CONTEXT_TOKENS": "600", "RAG_MAX_PASSAGES": "8", "RAG_PASSAGE_RADIUS": "0"})
    assert (settings.context_tokens, settings.max_passages, settings.passage_radius) == (600, 8, 0)
    for name, value in (("RAG_PASSAGE_RADIUS", "-1"), ("RAG_MAX_PASSAGES", "0"), ("RAG_CONTEXT_TOKENS", "0")):
        with pytest.raises(ValueError, match="passage_radius at least 0"):
            Settings.from_env({name: value})


def test_a_question_offering_a_choice_is_not_yes_no() -> None:
    assert is_yes_no("Did the museum reopen in May?")
    assert is_yes_no("Has the tram line opened, or not?")
    assert not is_yes_no("Was the museum or the library opened first?")
    assert not is_yes_no("Is the director Ana Ruiz or Tomas Vidal?")
    assert not is_yes_no("Which opened first, the museum or the library?")  # not yes/no-shaped either


def test_a_wrapped_sentence_is_cited_whole_and_shown_on_one_line() -> None:
    from assistant.pipeline import numbered

    text = (
        "If no type is given, the library will attempt to guess the content type based\n"
        "  on the file name, with unknown extensions defaulting to a generic binary type.\n"
        "Other settings are described in the next section of the guide.\n"
    )
    ranked = sentences_of(text, {"If no type": 0.9})
    [passage] = build_passages(ranked, budget_tokens=budget(ranked, "If no type", "If no type"), radius=0)
    [sentence] = passage.sentences
    assert sentence.text.endswith("generic binary type.")  # the quote is the whole sentence...
    assert text[sentence.start : sentence.end] == sentence.text  # ...exactly as in the document
    first, last = sentence.citation(1).lines
    assert last == first + 1
    assert numbered([passage]) == (
        "[1] If no type is given, the library will attempt to guess the content type based "
        "on the file name, with unknown extensions defaulting to a generic binary type."
    )
