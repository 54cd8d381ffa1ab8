"""Citation parsing and the checks of `assistant.grounding.verify`, on hand-made cases.

Passages here are about a museum and a software library: made-up text of two unrelated kinds,
so nothing below can pass by knowing a corpus.
"""

from __future__ import annotations

import pytest

from assistant.grounding.evidence import Passage, Sentence, asked_kind
from assistant.grounding.sentences import sentence_spans
from assistant.grounding.verify import (
    CHECKS,
    DraftSentence,
    apart_quantities,
    check_claim,
    is_decline,
    names_in,
    numbers_in,
    quantities,
    restates,
    split_draft,
    states_kind,
    support_sentences,
    verify_sentence,
    yes_no_lead,
)
from assistant.settings import Settings
from assistant.types import Chunk, Hit

MUSEUM = (
    "The city museum reopened on 4 May after a two-year renovation. Its director, Ana Ruiz, said "
    "visitor numbers doubled to 80,000 in the first month. The museum did not raise its prices."
)
LIBRARY = (
    "Use follow_redirects=True to follow redirects. By default httpx.Client does not follow them. "
    "The default timeout is five seconds."
)


def _passages(*texts: str) -> list[Passage]:
    """Each text as one passage, the only chunk of a file of its own."""
    out = []
    for n, text in enumerate(texts, 1):
        chunk = Chunk(
            id=f"c{n}", source=f"doc{n}.txt", text=text, start=0, end=len(text), line_start=1, line_end=1, ordinal=0
        )
        hit = Hit(chunk, 1.0)
        out.append(Passage(n, tuple(Sentence(text[s:e], hit, s, e, 0.5) for s, e in sentence_spans(text))))
    return out


def test_split_draft_markers_and_ranges() -> None:
    draft = "Visitors doubled [1]. It reopened in May [2][3]. Ana Ruiz said so. [1-2] Done [1, 3]."
    got = split_draft(draft)
    assert [s.markers for s in got] == [(1,), (2, 3), (1, 2), (1, 3)]
    assert got[0].text == "Visitors doubled."
    assert all("[" not in s.text for s in got)


def test_the_marker_forms_small_models_write_are_read() -> None:
    got = split_draft("The `follow_redirects` argument does it [from passage 2]. `h11` [Passage 3]")
    assert [s.markers for s in got] == [(2,), (3,)]
    assert got[1].text == "`h11`"


def test_a_supported_claim_passes_every_check() -> None:
    checks = check_claim(
        "Visitor numbers doubled to 80,000 in the first month.", MUSEUM, "How many visitors came in the first month?"
    )
    assert checks.ok, checks.reasons
    assert set(checks.passed) == set(CHECKS)


@pytest.mark.parametrize(
    "claim, failed",
    [
        ("Visitor numbers doubled to 90,000 in the first month.", "numbers"),
        ("Its director, Maria Lopez, said visitor numbers doubled.", "names"),
        ("The museum was demolished after the renovation.", "words"),
        ("The museum did not reopen on 4 May.", "negation"),
        ("The renovation took two months.", "units"),
    ],
)
def test_each_check_catches_its_own_kind_of_error(claim: str, failed: str) -> None:
    checks = check_claim(claim, MUSEUM, "What happened to the museum?")
    assert not checks.passed[failed], checks
    assert failed in checks.reasons


def test_every_check_reports_even_when_another_failed() -> None:
    checks = check_claim("Maria Lopez counted 90,000 visitors.", MUSEUM, "Who counted the visitors?")
    assert not checks.passed["numbers"] and not checks.passed["names"]
    assert checks.passed["negation"]


def test_the_question_s_own_numbers_names_and_words_are_not_claims() -> None:
    # "Ana Ruiz" and "2024" come from the question, "reported" too: only "80,000" is new.
    question = "How many visitors did Ana Ruiz report for 2024?"
    assert check_claim("Ana Ruiz reported 80,000 visitors for 2024.", MUSEUM, question).ok
    assert not check_claim("Ana Ruiz reported 80,000 visitors for 2024.", MUSEUM, "").ok


def test_a_negation_the_passage_also_states_is_not_a_contradiction() -> None:
    assert check_claim("The museum did not raise its prices.", MUSEUM, "Did prices rise?").ok


def test_a_quantity_is_a_number_and_the_word_it_counts() -> None:
    assert quantities("Ruiz is 20 years old and counted 2.3 billion visits, a 65-year record.") == [
        ("20", "year"),
        ("2.3", "visit"),
        ("65", "year"),
    ]
    # A year, a number before a function word, a name or punctuation counts nothing.
    assert quantities("In 1997 Ruiz sold 3 of them to Lopez, 4 Ruiz. The 5.") == []


@pytest.mark.parametrize(
    "claim, support, apart",
    [
        # The number counts something else there, and the claim's word is elsewhere: apart.
        ("Ruiz is 20 years old.", "Ruiz was held for three years. She saw her son for 20 minutes.", ["20 year"]),
        # A bare number, or the same word after an adjective, is together.
        ("Ruiz was 87 years old.", "Ruiz died at the age of 87. She worked for 56 years.", []),
        ("20,000 workers lost their jobs.", "20,000 skilled workers lost their jobs.", []),
        # The word is not in the support at all: the *words* check speaks, not this one.
        ("20,000 employees lost their jobs.", "20,000 workers lost their jobs. Prices rose.", []),
        # The number is not there: the *numbers* check speaks.
        ("Ruiz is 30 years old.", "Ruiz was held for three years.", []),
    ],
)
def test_units_catch_a_number_taken_from_another_quantity(claim: str, support: str, apart: list[str]) -> None:
    assert apart_quantities(claim, support) == apart
    assert check_claim(claim, support, "", checks=CHECKS).passed["units"] == (not apart)


def test_the_question_s_own_quantities_are_not_judged() -> None:
    support = "Ruiz was held for three years. She saw her son for 20 minutes."
    assert apart_quantities("For 20 years, Ruiz was held.", support, "What happened in the 20 years?") == []
    # The question's own unit: the answer counts in its words what the support counts in others.
    assert apart_quantities("80,000 visitors.", "About 80,000 people came in May. Visitors paid.", "") == [
        "80000 visitor"
    ]
    assert (
        apart_quantities("80,000 visitors.", "About 80,000 people came in May. Visitors paid.", "How many visitors?")
        == []
    )


@pytest.mark.parametrize(
    "question, kind",
    [
        ("How many visitors came?", "number"),
        ("how old was Ruiz when the museum reopened?", "number"),
        ("How long is the default timeout?", "number"),
        ("Who directs the museum?", "name"),
        ("Who is Ana Ruiz?", None),  # asks for a description
        ("Who reopened first, the museum or the library?", None),  # asks for a side
        ("How does the client follow redirects?", None),
        ("What is the default timeout?", None),
    ],
)
def test_the_form_of_a_question_can_say_what_kind_of_answer_it_wants(question: str, kind: str | None) -> None:
    assert asked_kind(question) == kind


def test_an_answer_states_the_kind_asked_for_or_not() -> None:
    assert states_kind("Visitor numbers doubled to 80,000.", "number")
    assert states_kind("It took twenty days.", "number") and states_kind("They came twice.", "number")
    assert states_kind("The vote must be unanimous.", "number")  # an amount said with a quantifier
    assert not states_kind("The museum reopened after a renovation.", "number")
    question = "Who directs the city museum?"
    assert states_kind("Its director is Ana Ruiz.", "name", question)
    assert not states_kind("The city museum is directed by its director.", "name", question)
    assert not states_kind("The City Museum's director.", "name", question)  # names the question holds


def test_number_words_and_digits_state_the_same_number() -> None:
    assert numbers_in("The default timeout is 5 seconds.") == numbers_in("five seconds")
    assert check_claim("The default timeout is 5 seconds.", LIBRARY, "What is the default timeout?").ok
    assert numbers_in("20,000 workers and €1.55bn") == {"20000", "1.55"}


def test_identifiers_must_be_in_the_passage_as_written() -> None:
    assert {"httpx.Timeout", "is_ssl"} <= set(names_in("Use `httpx.Timeout` or is_ssl."))
    question = "Which argument makes httpx follow redirects?"
    assert check_claim("The `follow_redirects` argument does it.", LIBRARY, question).ok
    wrong = check_claim("The `allow_redirects` argument does it.", LIBRARY, question)
    assert not wrong.passed["names"]


def test_a_bare_yes_or_no_is_checked_as_the_question_it_answers() -> None:
    assert yes_no_lead("No, he did not.") == ("No", "he did not.")
    assert yes_no_lead("Nobody came.") == ("", "Nobody came.")
    assert check_claim("Yes.", MUSEUM, "Did the museum reopen after the renovation?").ok
    assert not check_claim("Yes.", MUSEUM, "Did the orchestra tour Japan?").ok


def test_restating_the_question_is_no_answer_but_a_new_identifier_is() -> None:
    assert restates("Kim called the governments.", "What did Kim call the governments?")
    assert not restates("Kim called them cowards.", "What did Kim call the governments?")
    assert not restates(
        "The `response.next_request` attribute gives the next request.",
        "Which attribute gives the next request (requests calls it response.next)?",
    )


def test_picking_one_side_of_a_choice_is_an_answer() -> None:
    q = "Which band, Letters to Cleo or Screaming Trees, had more members?"
    assert not restates("Letters to Cleo had more members.", q)
    assert not restates("Screaming Trees had more members.", q)
    assert restates("Letters to Cleo or Screaming Trees had more members.", q)  # both sides: no choice made
    assert restates("The band had more members.", q)  # neither side
    assert not restates("Dinosaur came out first.", "Which came out first, Dinosaur or McFarland, USA")


@pytest.mark.parametrize(
    "text, declined",
    [
        ("NOT_FOUND", True),
        ("The passages do not mention the cost of the renovation.", True),
        ("The documents don't say who paid.", True),
        ("The museum did not raise its prices.", False),
        ("No, the passages show it reopened in May.", False),
    ],
)
def test_a_decline_is_told_from_a_negative_answer(text: str, declined: bool) -> None:
    assert is_decline(text) is declined


def test_a_correct_citation_is_kept_and_points_at_the_supporting_sentence() -> None:
    passages = _passages(MUSEUM, LIBRARY)
    v = verify_sentence(
        DraftSentence("Ana Ruiz said visitor numbers doubled to 80,000.", (1,)), passages, "How many visitors came?"
    )
    assert v.kept and not v.repaired
    assert [s.text for s in v.support] == [
        "Its director, Ana Ruiz, said visitor numbers doubled to 80,000 in the first month."
    ]


@pytest.mark.parametrize("markers", [(), (2,), (7,), (0,)])
def test_a_missing_wrong_or_out_of_range_citation_is_repaired(markers: tuple[int, ...]) -> None:
    passages = _passages(MUSEUM, LIBRARY)
    v = verify_sentence(DraftSentence("Visitor numbers doubled to 80,000.", markers), passages, "How many visitors?")
    assert v.kept and v.repaired
    assert v.support[0].source == "doc1.txt"


def test_a_sentence_joining_two_passages_is_cited_to_both() -> None:
    passages = _passages(MUSEUM, LIBRARY)
    claim = "Ana Ruiz reported 80,000 visitors, and the default timeout is five seconds."
    v = verify_sentence(DraftSentence(claim, (1,)), passages, "What happened?")
    assert v.kept and v.repaired
    assert {s.source for s in v.support} == {"doc1.txt", "doc2.txt"}


def test_a_claim_no_passage_supports_is_dropped_with_what_it_would_cite() -> None:
    passages = _passages(MUSEUM, LIBRARY)
    v = verify_sentence(DraftSentence("The museum closed for good in 2019.", (1,)), passages, "What happened?")
    assert not v.kept and v.kind == "claim"
    assert v.support and v.support[0].source == "doc1.txt"  # what it would have pointed at
    assert not v.checks.passed["numbers"]


def test_declines_and_restatements_are_not_claims() -> None:
    passages = _passages(MUSEUM)
    assert verify_sentence(DraftSentence("NOT_FOUND", ()), passages, "Who paid?").kind == "decline"
    restated = verify_sentence(DraftSentence("The museum reopened.", (1,)), passages, "When did the museum reopen?")
    assert restated.kind == "restatement" and not restated.kept
    # A yes/no question may be answered by saying it back.
    yes = verify_sentence(
        DraftSentence("Yes, the museum reopened.", (1,)), passages, "Did the museum reopen?", yes_no=True
    )
    assert yes.kept


def test_support_adds_a_second_sentence_for_numbers_the_first_lacks() -> None:
    passages = _passages(MUSEUM)
    support = support_sentences("The museum reopened on 4 May and had 80,000 visitors.", passages)
    assert len(support) == 2
    assert support[0].start < support[1].start


def test_support_is_the_sentence_with_what_the_claim_adds_to_the_question() -> None:
    passages = _passages("Ann Lee, the mayor, was hurt in a fall at home. Ms Lee broke her wrist in May.")
    claim = "Ann Lee broke her wrist."
    # Without the question, the sentence with her full name ranks first and stands alone.
    alone = support_sentences(claim, passages)
    assert [s.text for s in alone] == ["Ann Lee, the mayor, was hurt in a fall at home."]
    # The question gives the name; what the claim adds ("broke her wrist") decides, and the
    # sentence with the name the best one lacks ("Ann") comes along to say who it is.
    asked = support_sentences(claim, passages, "What injury did Ann Lee have?")
    assert [s.text for s in asked] == [
        "Ann Lee, the mayor, was hurt in a fall at home.",
        "Ms Lee broke her wrist in May.",
    ]
    # A claim about the question's names alone keeps the sentence that holds them.
    named = support_sentences("Ann Lee is the mayor.", passages, "Who is Ann Lee?")
    assert [s.text for s in named] == ["Ann Lee, the mayor, was hurt in a fall at home."]


def test_a_yes_that_its_own_statement_negates_becomes_no() -> None:
    passages = _passages("Hewitt had never reached the last four before this year.")
    question = "Had Hewitt ever reached the last four before?"
    v = verify_sentence(
        DraftSentence("Yes, Hewitt had never reached the last four.", (1,)), passages, question, yes_no=True
    )
    assert v.kept and v.text == "No, Hewitt had never reached the last four."
    # A question that itself negates, or a statement without a negation, is left as written.
    v = verify_sentence(
        DraftSentence("Yes, he had not reached it.", (1,)),
        passages,
        "Had Hewitt never reached the last four?",
        yes_no=True,
    )
    assert v.text.startswith("Yes")
    v = verify_sentence(DraftSentence("No, Hewitt reached the last four.", (1,)), passages, question, yes_no=True)
    assert v.text.startswith("No, Hewitt reached")


def test_a_check_switched_off_still_reports_but_does_not_count() -> None:
    # "demolished" is in no passage: "words" fails; with "words" not among the checks that
    # count, the claim passes, and the failure is still there for the evals to count.
    claim, question = "The museum was demolished after the renovation.", "What happened to the museum?"
    strict = check_claim(claim, MUSEUM, question, checks=CHECKS)
    default = check_claim(claim, MUSEUM, question)
    assert not strict.ok and "words" in strict.reason
    assert default.ok and default.reason == "" and default.passed["words"] is False
    assert not check_claim(claim, MUSEUM, question, checks=("words",)).ok


def test_content_fails_a_sentence_that_shares_no_word_with_its_passage() -> None:
    checks = check_claim("The weather was unusually warm and sunny.", MUSEUM, "What happened to the museum?")
    assert not checks.ok and checks.passed["content"] is False
    assert not check_claim("[[ ]] [-1]", MUSEUM, "What happened?").ok  # says nothing
    # A bare "Yes." needs the passage to speak of the question.
    assert not check_claim("Yes.", MUSEUM, "Did the zoo sell its elephants to a circus?").passed["content"]


def test_settings_name_the_checks_and_refuse_unknown_ones() -> None:
    settings = Settings.from_env({"RAG_CHECKS": "numbers, names", "RAG_MODEL_DECIDES": ""})
    assert settings.checks == ("numbers", "names") and settings.model_decides == ()
    with pytest.raises(ValueError, match="unknown check"):
        Settings.from_env({"RAG_CHECKS": "numbers,spelling"})
    # "kind" is a check of the whole answer: it can be required, not settled by the model.
    assert Settings.from_env({"RAG_CHECKS": "units,kind"}).checks == ("units", "kind")
    with pytest.raises(ValueError, match="unknown check"):
        Settings.from_env({"RAG_MODEL_DECIDES": "kind"})


def test_quoted_code_is_cited_where_it_is_written() -> None:
    # Every word of the claim is in passage 1 too, so the checks pass it there; only passage 2
    # holds the quoted pattern as written.
    near = 'Patterns such as "all://www.example.com" route requests for example.com to a proxy.'
    exact = 'Route strict subdomains of example.com through a proxy with "all://*.example.com" as the key.'
    passages = _passages(near, exact)
    question = "Which pattern routes strict subdomains of example.com through a proxy?"
    v = verify_sentence(DraftSentence("`all://*.example.com` routes strict subdomains.", (1,)), passages, question)
    assert v.kept and v.repaired
    assert [s.source for s in v.support] == ["doc2.txt"]
    # The cited passage holding the code as written keeps the citation.
    kept = verify_sentence(DraftSentence("`all://*.example.com` routes strict subdomains.", (2,)), passages, question)
    assert kept.kept and not kept.repaired and [s.source for s in kept.support] == ["doc2.txt"]
    # Code no passage holds as written: the citation stays where the model put it.
    loose = verify_sentence(
        DraftSentence("`all://example.com` routes requests for example.com.", (1,)), passages, question
    )
    assert loose.kept and not loose.repaired and [s.source for s in loose.support] == ["doc1.txt"]
