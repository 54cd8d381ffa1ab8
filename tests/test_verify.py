"""Citation parsing, support checks and repair, on hand-made cases."""

from __future__ import annotations

import pytest

from assistant.verify import check_support, covers_question, names_someone, split_draft, stance, takes_a_stance

EVIDENCE = [
    "Last week, South Korean intelligence said North Korea had already sent about 1,500 special forces to Russia.",
    "North Korea planned to deploy a total of 12,000 elite troops.",
    "Yonhap also reported that Seoul may send military and intelligence personnel to Ukraine.",
]


def test_split_draft_markers_and_ranges() -> None:
    draft = "North Korea sent 1,500 troops [1]. It planned 12,000 [2][3]. Seoul may send staff. [1-2] Done [1, 3]."
    got = split_draft(draft)
    assert [s.markers for s in got] == [(1,), (2, 3), (1, 2), (1, 3)]
    assert got[0].text == "North Korea sent 1,500 troops."
    assert all("[" not in s.text for s in got)


def test_supported_sentence() -> None:
    v = check_support("North Korea sent about 1,500 special forces to Russia.", [EVIDENCE[0]])
    assert v.ok, v.reason


def test_contradicted_number_fails() -> None:
    v = check_support("North Korea sent about 15,000 special forces to Russia.", [EVIDENCE[0]])
    assert not v.ok and "15000" in v.reason


def test_name_absent_from_evidence_fails() -> None:
    v = check_support("Japan sent about 1,500 special forces to Russia.", [EVIDENCE[0]])
    assert not v.ok and "Japan" in v.reason


def test_added_negation_fails() -> None:
    v = check_support("Seoul will not send military personnel to Ukraine.", [EVIDENCE[2]])
    assert not v.ok and "negat" in v.reason


def test_unrelated_sentence_fails_and_nothing_cited_fails() -> None:
    assert not check_support("The population of Brazil is large.", EVIDENCE).ok
    assert not check_support("North Korea sent troops.", []).ok


def test_combined_evidence_supports_what_neither_does_alone() -> None:
    s = "North Korea sent 1,500 special forces and planned 12,000 elite troops."
    assert not check_support(s, [EVIDENCE[0]]).ok
    assert not check_support(s, [EVIDENCE[1]]).ok
    assert check_support(s, EVIDENCE[:2]).ok


def test_paraphrase_passes_with_similarity() -> None:
    s = "Seoul might dispatch staff over to help Ukraine."
    assert not check_support(s, [EVIDENCE[2]]).ok
    assert check_support(s, [EVIDENCE[2]], similarity=lambda a, b: 0.9).ok


def test_fragment_answer_is_read_with_its_question() -> None:
    q = "How many North Korean soldiers have been killed in Ukraine so far?"
    v = check_support("12,000.", [EVIDENCE[1]], question=q)
    assert not v.ok and "killed" in v.reason
    ok = check_support("About 1,500.", [EVIDENCE[0]], question="How many special forces had North Korea sent to Russia?")
    assert ok.ok, ok.reason


def test_full_sentences_may_paraphrase_the_question() -> None:
    # "works" is the question's word, the text says "researcher at": a full sentence is judged
    # on its own words, only fragments borrow the question's.
    q = "Where does Hyun Seung-soo work?"
    evidence = ["Hyun Seung-soo, a researcher specializing in Russia at the Korea Institute for National Unification, said so."]
    assert check_support("Hyun Seung-soo works at the Korea Institute for National Unification.", evidence, question=q).ok
    assert not check_support("Moscow.", evidence, question=q).ok


def test_fragment_answers_fill_the_answer_type_the_question_asks_for() -> None:
    # "year", "city", "roughly" shape the question; the fragment is what fills them.
    year = check_support("2027", ["Yoon's goal is to make South Korea the world's fourth-largest defense "
                                  "exporter by 2027."],
                         question="By what year does Yoon aim to make South Korea the world's fourth-largest defense exporter?")
    assert year.ok, year.reason
    city = check_support("Brussels.", ["A South Korean delegation has arrived in Brussels to brief NATO officials."],
                         question="In which city did the South Korean delegation brief NATO officials?")
    assert city.ok, city.reason
    # "give", like "say", is how the question asks for the figure, not what the source says.
    wave = ["NATO Secretary-General Mark Rutte stated that North Korea has dispatched an initial wave of troops, "
            "estimated to be between 10,000 and 12,000."]
    asked = "What lower bound did NATO's Secretary-General give for the initial wave?"
    bound = check_support("10,000 to 12,000.", wave, question=asked)
    assert bound.ok, bound.reason
    assert covers_question(wave, asked)
    # ...but a content word of the question still has to be there.
    moved = check_support("Brussels.", ["A South Korean delegation has arrived in Brussels."],
                          question="In which city did the South Korean delegation brief NATO officials?")
    assert not moved.ok and "brief" in moved.reason


def test_fragment_and_question_words_must_come_from_the_same_sentence() -> None:
    q = "How many North Korean soldiers have been killed in Ukraine so far?"
    arrive = "Up to 12,000 North Korean soldiers could arrive in Ukraine's war zone."
    killed = "Russia has suffered 600,000 casualties, including killed and wounded soldiers."
    shown = {arrive: arrive, killed: killed}
    v = check_support("12,000.", [arrive, killed], question=q, context=shown)
    assert not v.ok and "killed" in v.reason and "other passages" in v.reason
    v = check_support("12,000.", [arrive], question=q, context=shown)  # re-aligned to one sentence
    assert not v.ok and "killed" in v.reason
    # The same two texts do support a full sentence whose parts each come from one of them.
    assert check_support("12,000 North Korean soldiers could arrive, and Russia has 600,000 casualties.",
                         [arrive, killed]).ok


def test_a_quotation_must_be_in_the_cited_text_with_its_speaker() -> None:
    named = "Pyongyang's news agency criticized President Zelensky's peace plan."
    quote = "Now, he says, Washington and Seoul must consider “the redeployment of tactical nuclear weapons”."
    moved = check_support('President Zelensky said "the redeployment of tactical nuclear weapons" is needed.',
                          [named, quote])
    assert not moved.ok and "speaker" in moved.reason
    invented = check_support('Zelensky said "Seoul must send tanks at once".', [named, quote])
    assert not invented.ok and "quotation" in invented.reason
    right = check_support('Washington and Seoul must consider "the redeployment of tactical nuclear weapons".', [quote])
    assert right.ok, right.reason


def test_the_words_a_sentence_adds_to_its_question_must_be_cited() -> None:
    q = "What is President Yoon's foreign policy mantra?"
    policy = "President Yoon has taken a more assertive approach to foreign policy since taking office."
    mantra = "Arming Ukraine could feed into President Yoon's foreign policy mantra of “peace through strength”."
    claim = "President Yoon's foreign policy mantra is peace through strength."
    v = check_support(claim, [policy], question=q)
    assert not v.ok and "peace" in v.reason
    assert check_support(claim, [mantra], question=q).ok


def test_a_bare_name_is_read_with_its_question() -> None:
    q = "Who is the Russian ambassador to South Korea who was warned by Seoul?"
    un = "Russia's ambassador to the United Nations, Vassily Nebenzia, dismissed the claims."
    seoul = "Seoul summoned the Russian ambassador to South Korea, Georgy Zinoviev, and warned him."
    v = check_support("Vassily Nebenzia.", [un, seoul], question=q)
    assert not v.ok and "warned" in v.reason
    assert check_support("Georgy Zinoviev.", [un, seoul], question=q).ok


def test_a_fragment_may_lean_on_the_sentences_around_its_answer() -> None:
    q = "To which city were North Korean fighter pilots allegedly sent?"
    before = "North Korean fighter pilots have reportedly been dispatched to Russia."
    sent = "These pilots were allegedly sent to Vladivostok, a major city in the Russian Far East."
    alone = {sent: sent}
    assert not check_support("Vladivostok.", [sent], question=q, context=alone).ok
    around = {sent: f"{before} {sent}"}
    v = check_support("Vladivostok.", [sent], question=q, context=around)
    assert v.ok, v.reason


def test_a_fragment_stitched_from_two_passages_fails() -> None:
    q = "When did North Korea and Russia sign their mutual defense agreement?"
    june = "Putin and Kim met last June in Pyongyang, where they signed an agreement on mutual defense."
    year = "A major defense agreement was signed between North Korea and Russia in 2023."
    shown = {june: june, year: year}
    v = check_support("June 2023.", [june, year], question=q, context=shown)
    assert not v.ok and "different passages" in v.reason
    assert check_support("2023.", [year], question=q, context={year: year}).ok
    # The price of the stitching rule: with the June sentence shown too, "2023." alone fails,
    # since the question's "mutual" is only in the June sentence ...
    the = q.replace("their", "the")
    assert not check_support("2023.", [year], question=the, context=shown).ok
    # ... unless "their mutual" refers back to something, which the source need not call so.
    assert check_support("2023.", [year], question=q, context=shown).ok


def test_question_words_match_other_forms_of_the_same_word() -> None:
    q = "Who is the Russian ambassador to South Korea who was warned by Seoul?"
    text = ("The vice foreign minister advised the Russian ambassador to South Korea, Georgy Zinoviev, "
            "of the consequences. The South is now making clear that warning was no pro forma protest.")
    v = check_support("Georgy Zinoviev.", [text], question=q)
    assert v.ok, v.reason


def test_a_long_bare_name_is_still_read_with_its_question() -> None:
    # Six words, all of them a name: it answers "who leads the delegation" only if the cited
    # text says so.
    q = "Who leads the South Korean delegation to NATO headquarters by name?"
    text = "South Korean President Yoon Suk Yeol has also been engaging with NATO leadership on the issue."
    v = check_support("South Korean President Yoon Suk Yeol.", [text], question=q)
    assert not v.ok and "delegation" in v.reason


def test_an_answer_must_speak_of_what_the_question_asks_about() -> None:
    from assistant.verify import covers_question
    q = "What did President Zelensky say in response to South Korea's offer of weapons?"
    seoul = ("South Korea has responded with alarm to news of the first shipment of 1,200 North Korean "
             "military advisers to Ukraine.")
    assert not covers_question([seoul], q)
    said = "President Zelensky welcomed South Korea's offer of weapons in his response on Monday."
    assert covers_question([said], q)
    # a follow-up's few words are easily covered, and one may be missing
    assert covers_question(["Hunter Slingbaum and Kaitlyn King wrote the report."], "Who wrote it?")
    # "most" shapes the question ("help most"); the source need not say it
    q = "Against what kind of threats would it help most?"
    assert covers_question(["This system could bolster Ukraine's air defence, particularly against lower-tier "
                            "ballistic missile threats."], q)
    assert not covers_question(["The system is made in South Korea and helps exports most."], q)


def test_saying_the_question_back_in_other_word_forms_is_no_answer() -> None:
    from assistant.verify import restates
    q = "What did Kim Yo Jong call the South Korean and Ukrainian governments?"
    assert restates("Kim Yo Jong called the South Korean and Ukrainian governments.", q)
    assert not restates("Kim Yo Jong called the South Korean and Ukrainian governments lunatics.", q)


def test_what_a_follow_up_refers_back_to_need_not_be_named_so_in_the_source() -> None:
    # "his agency" is the directorate of the earlier turn; the news agency in another shown
    # passage is not where the answer's question word comes from.
    q = "How many North Korean soldiers did his agency say could arrive in Russia?"
    gur = ("According to Ukraine's Defense Intelligence Directorate (GUR), North Korean troops are expected "
           "to arrive in Russia's Kursk region imminently, with up to 12,000 soldiers.")
    yonhap = "South Korea will consider sending Ukraine weapons, according to Yonhap news agency."
    shown = {gur: gur, yonhap: yonhap}
    assert check_support("12,000.", [gur], question=q, context=shown).ok
    # Without the pronoun the agency is something the answer must speak of.
    v = check_support("12,000.", [gur], question=q.replace("his agency", "the news agency"), context=shown)
    assert not v.ok and "agency" in v.reason


def test_a_full_sentence_may_name_its_source_from_another_passage() -> None:
    from assistant.verify import answers_number_question
    q = "According to South Korea's National Intelligence Service, how many North Korean troops will be deployed?"
    total = "South Korean intelligence said North Korea planned to deploy a total of 12,000 elite troops."
    nis = "According to South Korea's National Intelligence Service, the total could reach 10,000."
    vanguard = "The vanguard of 12,000 that the National Intelligence Service says will be deployed."
    answer = "According to South Korea's National Intelligence Service, North Korea will deploy 12,000 troops."
    # The figure comes from one passage and the agency's name from another: that is a sentence
    # citing two passages, not a stitched fragment. And the agency's words are in a passage
    # that has the same figure, so they back the answer up.
    shown = {total: total, nis: nis, vanguard: vanguard}
    assert answers_number_question(answer, [total, nis], q, shown)
    # Without the backing passage, the agency's words are only beside another figure.
    del shown[vanguard]
    assert not answers_number_question(answer, [total, nis], q, shown)


def test_a_two_word_paraphrase_counts_once_and_names_each() -> None:
    q = "Which Washington think tank published a report on South Korea's defense industry?"
    text = ("“South Korea has emerged as a force in the global defense industry,” a report issued by the "
            "Stimson Center at Washington says.")
    # "think tank" is the source's "Center", "published" its "issued": two paraphrases, within
    # the quarter of nine question words that may be missing. Three would not be.
    assert check_support("The Stimson Center at Washington.", [text], question=q).ok
    v = check_support("The Stimson Center at Washington.", [text], question=q.replace("defense", "weapons"))
    assert not v.ok and "weapon" in v.reason
    # A name is one word a time: "North Korean" missing is two misses.
    q = "How many North Korean soldiers arrived in Kursk?"
    v = check_support("12,000.", ["Up to 12,000 soldiers arrived in Kursk from the Far East."], question=q)
    assert not v.ok and "korean" in v.reason and "north" in v.reason


def test_what_a_how_many_question_counts_must_be_in_the_source() -> None:
    from assistant.verify import answers_number_question
    q = "How many special forces had North Korea already sent to Russia?"
    containers = "Over 13,000 containers of military supplies have been sent from North Korea to Russia."
    forces = "North Korea had already sent about 1,500 special forces to Russia."
    # One phrase missing of six words is within the tolerance, but it is the thing counted.
    assert not answers_number_question(containers, [containers], q, {containers: containers})
    assert answers_number_question(forces, [forces], q, {forces: forces})


@pytest.mark.parametrize("text, named", [
    ("Kim Hong-kyun warned him.", True),
    ("NATO Secretary-General Mark Rutte confirmed it.", True),  # a title, then a name
    ("The delegation is led by officials from the National Intelligence Service.", False),
    ("The United Nations Security Council met in New York.", True),  # "New York" reads as a name
    ("South Korea and North Korea.", False),
    ("Officials said so.", False),
])
def test_names_someone_tells_a_person_from_an_institution(text: str, named: bool) -> None:
    assert names_someone(text) is named


@pytest.mark.parametrize("text, expected", [
    ("North Korea has said nothing about sending troops to Ukraine.", "silent"),
    ("U.S. and NATO officials said they could not confirm the troop buildup.", "silent"),
    ("North Korea refrains from officially confirming their dispatch.", "silent"),
    ("North Korean officials denied the reports.", "no"),
    ("Seoul has refrained from sending weapons.", "no"),
    ("NATO Secretary-General Mark Rutte confirmed the intelligence.", "yes"),
])
def test_stance_tells_silence_from_denial(text: str, expected: str) -> None:
    assert stance(text) == expected


def test_a_sentence_only_about_the_topic_takes_no_stance() -> None:
    question = "Has Seoul supplied weapons to Ukraine?"
    assert takes_a_stance("Seoul has only supplied weapons to third parties such as Poland.", question)
    assert takes_a_stance("Seoul has refrained from sending weapons.", question)
    assert not takes_a_stance("By sending weapons, Seoul could gain influence, analysts said.", question)


def test_a_question_may_use_other_words_of_the_same_sense() -> None:
    evidence = ["Seoul reacted to the first shipment of 1,200 North Korean military advisers dispatched to assist "
                "Russian forces."]
    asked = "How many North Korean personnel were in the first group sent to help Russia?"
    v = check_support("1,200.", evidence, question=asked)
    assert v.ok, v.reason
    # Words of another sense stay missing: advisers who "arrived" were not "killed".
    killed = check_support("1,200.", evidence, question="How many North Korean personnel were killed in the first "
                                                        "battle fought near Kursk?")
    assert not killed.ok and "killed" in killed.reason
