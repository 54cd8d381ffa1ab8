"""Follow-up questions: turning a question that leans on earlier turns into a standalone query."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.grounding.verify import MARKER
from assistant.retrieval.lexical import tokenize
from assistant.types import NO_ANSWER

CAPITALISED_RUN = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*")  # "Secretary-General Mark Rutte"

_ANAPHORA = re.compile(
    r"\b(he|she|him|her|his|hers|they|them|their|it|its|this|that|these|those|there|then|"
    r"the same|the former|the latter|what about|how about|and)\b",
    re.IGNORECASE,
)
_MAX_ANSWER_WORDS = 30
_BARE_WORDS = 1  # a follow-up this bare ("Who wrote it?") is searched with the previous question's words
_THING = re.compile(r"\b(it|this|that|these|those)\b", re.IGNORECASE)


def is_follow_up(question: str) -> bool:
    """True when the question refers back (pronouns, "what about ...") or is very short."""
    return bool(_ANAPHORA.search(question)) or len(re.findall(r"\w+", question)) <= 4


def previous_turn(history: Sequence[dict] | None) -> tuple[str, str]:
    """The last user question and the lead of the assistant's answer to it ('' if none).

    The answer lead is its first sentence, without citation markers, cut to 30 words; an
    abstention contributes nothing.
    """
    question = answer = ""
    for message in history or ():
        content = str(message.get("content") or "")
        if message.get("role") == "user":
            question, answer = content, ""
        elif message.get("role") == "assistant" and not content.startswith(NO_ANSWER):
            answer = content
    if answer:
        answer = MARKER.sub("", answer).strip()
        first = re.split(r"(?<=[.!?])\s+", answer, maxsplit=1)[0]
        answer = " ".join(first.split()[:_MAX_ANSWER_WORDS])
    return question, answer


_NOT_NAMES = frozenset(
    """The A An In On At By For From To Of And But Or It Its This That These Those He She They
We I Who What Which Where When Why How Is Are Was Were Do Does Did According""".split()
)
_MAX_NAME_WORDS = 12


def referents(*texts: str) -> list[str]:
    """Capitalised names in `texts`, in order, without duplicates or function words."""
    names: list[str] = []
    for text in texts:
        for m in CAPITALISED_RUN.finditer(text):
            words = [w for w in m.group(0).split() if w not in _NOT_NAMES]
            name = " ".join(words).strip(".")
            if name and name not in names:
                names.append(name)
    out, count = [], 0
    for name in names:
        count += len(name.split())
        if count > _MAX_NAME_WORDS:
            break
        out.append(name)
    return out


def standalone_query(question: str, history: Sequence[dict] | None) -> str:
    """The retrieval query for a question in a conversation.

    A follow-up ("Where does he teach?") is searched together with the names in the
    previous question and in the lead of its answer, which is where the person or thing it
    refers to is named ("Where does he teach? Mason Richey"). Only names are added, so the
    current question still decides which sentences are relevant. A question that stands on
    its own is searched as is.
    """
    if not history or not is_follow_up(question):
        return question
    prev_q, prev_a = previous_turn(history)
    names = [n for n in referents(prev_a, prev_q) if n.lower() not in question.lower()]
    if len(tokenize(question)) <= _BARE_WORDS and _THING.search(question):
        # "Who wrote it?": the question is nearly all reference, and "it" may be a thing the
        # previous question named without a capital ("a report"): its words are searched too.
        # ("Where does he teach?" has a person, whom the names find.)
        have = set(tokenize(question + " " + " ".join(names)))
        names += [w for w in dict.fromkeys(tokenize(prev_q)) if w not in have and len(w) > 2]
    return f"{question} {' '.join(names)}" if names else question
