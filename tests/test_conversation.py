"""Turning what the user typed into questions: two-part questions."""

from __future__ import annotations

import pytest

from assistant.conversation import question_parts


@pytest.mark.parametrize("question, parts", [
    ("Which air defence system is Seoul considering, and through which country has it routed weapons?",
     ["Which air defence system is Seoul considering?", "Through which country has it routed weapons?"]),
    # Two asks sharing one verb: each part gets the verb.
    ("Besides troops, what personnel and how many containers has North Korea sent to Russia?",
     ["Besides troops, what personnel has North Korea sent to Russia?",
      "How many containers has North Korea sent to Russia?"]),
    ("Who is Dr. Lee and what does he say about NATO?", ["Who is Dr. Lee?", "What does he say about NATO?"]),
])
def test_a_question_asking_two_things_is_split(question: str, parts: list[str]) -> None:
    assert question_parts(question) == parts


@pytest.mark.parametrize("question", [
    "What do Seoul and Kyiv say about the deployment?",  # "and" joins names, not asks
    "Which two agencies, one South Korean and one Ukrainian, gave estimates?",
    "How many troops were sent?",
    "Seoul and Kyiv, and what else?",  # no question before the "and"
    "What did Seoul send, and when, and why?",  # three asks: left whole
])
def test_a_question_asking_one_thing_is_left_whole(question: str) -> None:
    assert question_parts(question) == [question]
