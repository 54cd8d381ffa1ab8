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


INTRO = (
    "SOCKS proxies need an extra package installed first.\n"
    "You can now configure a client to use a proxy with the SOCKS protocol:\n"
    "\n"
    "```python\n"
    "httpx.Client(proxy='socks5://user:pass@host:port')\n"
    "```\n"
    "\n"
    "Other settings are described in the next section of the guide.\n"
)


def test_a_sentence_that_introduces_the_next_brings_it_along() -> None:
    # A sentence ending in ":" says what comes next: its window reaches on to the code line,
    # even at radius 0, and no further.
    ranked = sentences_of(INTRO, {"You can now": 0.9})
    [passage] = build_passages(ranked, budget_tokens=budget(ranked, "You can now", "httpx.Client"), radius=0)
    assert passage.sentences[0].text.startswith("You can now")
    assert passage.text.endswith("httpx.Client(proxy='socks5://user:pass@host:port')")
    plain = sentences_of(INTRO.replace("protocol:", "protocol."), {"You can now": 0.9})
    [alone] = build_passages(plain, budget_tokens=budget(plain, "You can now", "You can now"), radius=0)
    assert alone.text == "You can now configure a client to use a proxy with the SOCKS protocol."


def chunked(text: str, spans: list[tuple[str, str]], ordinals: list[int]) -> list[Sentence]:
    """The sentences of chunks of `text`, each from the line starting with its span's first
    string to the end of the line starting with its second, numbered `ordinals`; all scored
    0.1 but the "You can now" line (0.9)."""
    out = []
    for (first, last), ordinal in zip(spans, ordinals):
        start = text.index(first)
        end = text.index("\n", text.index(last))
        chunk = Chunk(f"c{ordinal}", "guide.md", text[start:end], start, end, 1, 9, ordinal)
        hit = Hit(chunk, 1.0)
        for s, e in sentence_spans(chunk.text):
            said = chunk.text[s:e]
            out.append(Sentence(said, hit, start + s, start + e, 0.9 if said.startswith("You can now") else 0.1))
    return out


def test_a_sentence_ending_in_a_colon_continues_into_the_next_chunk() -> None:
    # Ingest cuts a chunk before a code block and leaves its fence out, so the code line's
    # chunk starts further on than white space: the ":" sentence still reaches on into it.
    spans = [("SOCKS proxies", "You can now"), ("httpx.Client", "httpx.Client")]  # the fences in no chunk
    ranked = chunked(INTRO, spans, [0, 1])
    assert ranked[2].start - ranked[1].end > 3  # more than white space between the two
    room = budget(ranked, "You can now", "httpx.Client")
    [passage] = build_passages(ranked, budget_tokens=room, radius=0)
    assert passage.text.endswith("SOCKS protocol: httpx.Client(proxy='socks5://user:pass@host:port')")
    apart = chunked(INTRO, spans, [0, 2])  # chunks of the same document that are not next to each other
    [alone] = build_passages(apart, budget_tokens=room, radius=0)
    assert alone.text.endswith("SOCKS protocol:")
    ended = INTRO.replace("protocol:", "protocol.")  # a sentence that introduces nothing
    [alone] = build_passages(chunked(ended, spans, [0, 1]), budget_tokens=room, radius=1)
    assert alone.text.endswith("SOCKS protocol.")


def test_a_hit_that_ends_introducing_brings_its_next_chunk() -> None:
    from assistant.grounding.evidence import with_continuations
    from assistant.retrieval.lexical import LexicalIndex

    def chunk(source: str, ordinal: int, text: str) -> Chunk:
        return Chunk(f"{source}{ordinal}", source, text, 100 * ordinal, 100 * ordinal + len(text), 1, 1, ordinal)

    guide = [chunk("guide.md", k, text) for k, text in enumerate(("Set it up like this:", "setup(x=1)", "Then:"))]
    other = chunk("other.md", 0, "Nothing to add here.")
    index = LexicalIndex.build([*guide, other])
    got = with_continuations([Hit(guide[0], 0.5), Hit(other, 0.4), Hit(guide[2], 0.3)], index)
    assert [h.chunk.id for h in got] == ["guide.md0", "other.md0", "guide.md2", "guide.md1"]
    assert [h.continues for h in got] == [False, False, False, True]
    again = with_continuations([Hit(guide[0], 0.5), Hit(guide[1], 0.4)], index)
    assert [h.chunk.id for h in again] == ["guide.md0", "guide.md1"]  # already there: not twice


def test_an_ingested_guide_shows_the_code_its_sentence_introduces(tmp_path, settings, hash_embedder) -> None:
    # Real ingest and retrieval. A fence line seen before in the document is left out of
    # every chunk (as repeated boilerplate is), so the chunk holding the ":" sentence ends before the
    # code block; the passage shown for a question about that sentence still holds the code.
    from assistant.pipeline import find_passages, numbered, read_question
    from assistant.retrieval.lexical import refresh_lexical_index
    from assistant.retrieval.store import Store
    from ingest import ingest

    docs = tmp_path / "docs"
    docs.mkdir()
    filler = " ".join(f"Paragraph {k} explains one more unrelated detail of the client setup." for k in range(8))
    other = "Any client takes a timeout:\n\n```python\nhttpx.Client(timeout=5.0)\n```\n"
    (docs / "guide.md").write_text(f"# Proxies\n\n{other}\n{filler}\n\n{INTRO}\n{filler}\n", encoding="utf-8")
    settings = settings.replace(top_k=1, passage_radius=0, max_passages=1)
    ingest([docs], settings=settings, embedder=hash_embedder)
    store = Store.open(settings, hash_embedder)
    ends = [c.text for c in refresh_lexical_index(store).chunks if c.text.endswith("SOCKS protocol:")]
    assert ends, "the chunker no longer ends a chunk before the code block; this test needs rewriting"
    question = read_question("How do I configure a client to use a proxy with the SOCKS protocol?", None, settings)
    hits, sentences, [passage] = find_passages(question, store, hash_embedder, settings)
    assert hits[0].chunk.text.endswith("SOCKS protocol:")
    assert numbered([passage]).endswith("SOCKS protocol: httpx.Client(proxy='socks5://user:pass@host:port')")
    assert passage.sentences[-1].citation(1).quote == "httpx.Client(proxy='socks5://user:pass@host:port')"
    # Without a model the answer quotes retrieved sentences, never one of the chunk fetched
    # only to continue another, however well it scores.
    from dataclasses import replace

    from assistant.pipeline import Context, extractive

    continued = {s.text for s in sentences if s.hit.continues}
    assert "httpx.Client(proxy='socks5://user:pass@host:port')" in continued
    boosted = [replace(s, score=0.99) if s.hit.continues else s for s in sentences]
    *_, quoted = extractive(Context(question, tuple(hits), (passage,), 0.0, 0.0), boosted, [])
    assert quoted.citations and not {c.quote for c in quoted.citations} & continued
