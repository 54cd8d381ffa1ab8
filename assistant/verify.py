"""Citation checking: parse `[n]` markers, verify each sentence against what it cites, repair.

The model's citations are never trusted. A sentence is supported by a set of evidence
sentences when every number and name in it appears there, it does not add a negation the
evidence lacks, and its content overlaps the evidence (lexically or semantically).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from assistant.lexical import tokenize
from assistant.sentences import sentence_spans

MARKER = re.compile(r"\s*\[(\d+(?:\s*[-,–]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+(?:\s*[-,–]\s*\d+)*\])+\s*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[A-Z][\w'’-]*")
_WORD = re.compile(r"[\w'’-]+")  # a word as written, with its apostrophes and hyphens
_NEGATION = re.compile(r"\b(not|no|never|none|neither|nor|cannot|can't|won't|didn't|doesn't|isn't|wasn't)\b",
                       re.IGNORECASE)
_NAME_STOP = frozenset("""
The A An In On At By For From To Of And But Or It Its This That These Those He She They We I
According However Also Yes No Based As If When While After Before During Some Many Most
There Both Each Other Such Only Not Even Still Then Thus So Since Because Although Though
What Which Who Whom Whose Where Why How Here Their Our Your My His Her Its One Two Three
""".split())

Similarity = Callable[[str, Sequence[str]], float]


@dataclass(frozen=True)
class DraftSentence:
    """A sentence of the model's draft: its text without markers and the numbers it cited."""

    text: str
    markers: tuple[int, ...]


def split_draft(draft: str) -> list[DraftSentence]:
    """Split a draft answer into sentences and their `[n]` markers.

    A marker right after a sentence's final period (`... troops. [2]`) belongs to that
    sentence, even when the splitter put it at the start of the next one. `[1-3]` and
    `[1, 2]` expand to each number.
    """
    sentences: list[DraftSentence] = []
    for s, e in sentence_spans(draft):
        text = draft[s:e]
        lead = _LEADING_MARKERS.match(text)
        if lead and sentences:
            prev = sentences[-1]
            sentences[-1] = DraftSentence(prev.text, tuple(dict.fromkeys(prev.markers + tuple(_markers(lead.group(0))))))
            text = text[lead.end():]
        markers = _markers(text)
        clean = MARKER.sub("", text).strip()
        if clean:
            sentences.append(DraftSentence(clean, tuple(dict.fromkeys(markers))))
    return sentences


def _markers(text: str) -> list[int]:
    out: list[int] = []
    for m in MARKER.finditer(text):
        for part in re.split(r"\s*,\s*", m.group(1)):
            if re.search(r"[-–]", part):
                ends = [int(x) for x in re.split(r"\s*[-–]\s*", part) if x]
                if len(ends) == 2 and 0 < ends[1] - ends[0] < 20:
                    out.extend(range(ends[0], ends[1] + 1))
                    continue
                out.extend(ends)  # "[3-1]", "[1-2-3]": each number as written
            else:
                out.append(int(part))
    return out


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def _names(text: str) -> list[str]:
    names = []
    for m in _NAME.finditer(text):
        word = m.group(0).strip("'’-")
        if word in _NAME_STOP:
            continue
        names.append(word)
    return names


def _words(text: str) -> set[str]:
    """The lower-cased words of `text`, with and without a possessive ("korea's", "korea")."""
    words = {w.lower().replace("’", "'") for w in _WORD.findall(text)}
    return words | {w.split("'")[0] for w in words}


def _has_word_prefix(word: str, evidence_words: set[str]) -> bool:
    w = word.lower().replace("’", "'")
    w = w[:-2] if w.endswith("'s") else w
    if w in evidence_words:
        return True
    stem = w[: max(4, len(w) - 2)]  # Korean ~ Korea, Russian ~ Russia
    return any(e.startswith(stem) for e in evidence_words)


@dataclass(frozen=True)
class Support:
    """A support verdict: `ok`, and when not, why."""

    ok: bool
    reason: str = ""
    overlap: float = 0.0


_FRAGMENT_TERMS = 2  # an answer with fewer non-numeric content words is read with its question,
# Words that shape a question rather than state a fact ("how many", "what kind of", "help
# most"), and answer-type words the fragment itself fills ("in which city" -> "Brussels",
# "by what year" -> "2027", "roughly how many" -> "600,000"). Index forms (plurals folded).
_QUESTION_SHAPE = frozenset("""many much long often kind type sort name named called mean means happen
happened happening according currently year month date time city country place location town region
number amount figure total roughly approximately around exactly estimated percentage
could would should might must shall said says told tell give gave given reportedly allegedly
already recently still ever just most least""".split())


_FRAGMENT_WORDS = 4  # ... and an answer this short ("Vassily Nebenzia.") is one too


def _is_fragment(sentence: str, terms: set[str]) -> bool:
    """A short answer that only means something as the answer to its question: a bare
    number or name ("South Korean President Yoon Suk Yeol."), or a few words."""
    named = set(tokenize(" ".join(_names(sentence))))
    return (len([t for t in terms if not t.isdigit() and t not in named]) < _FRAGMENT_TERMS
            or len(_WORD.findall(sentence)) <= _FRAGMENT_WORDS)


_ECHO_TOLERANCE = 4  # at most 1 in 4 (and 1 of 3) of a fragment's question words may be absent


_SUFFIX = re.compile(r"(?:ing|ed|es|e|s|er|ly)$")


def _stem(word: str) -> str:
    """A crude stem: "warned", "warning", "warns" -> "warn"."""
    stem = _SUFFIX.sub("", word)
    return stem if len(stem) >= 4 else word


# Words news text uses for one another ("the first group of personnel sent to help" is "the first
# shipment of advisers dispatched to assist"), and irregular forms the crude stem misses.
_SAME_SENSE = [
    "send sent dispatch deploy deployment",
    "help assist support aid",
    "personnel troop soldier force adviser advisor",
    "group batch wave contingent shipment",
    "begin began begun start outbreak",
]
_SENSE = {_stem(w): k for k, family in enumerate(_SAME_SENSE) for w in family.split()}


def _present(term: str, present: set[str]) -> bool:
    """Is `term`, a word sharing its stem ("teach" ~ "teaches", "warned" ~ "warning"), or a word of
    the same sense ("sent" ~ "dispatched", `_SAME_SENSE`) in `present`?"""
    if term in present:
        return True
    if len(term) > 5 and any(p.startswith(term[:5]) for p in present):
        return True
    if len(term) >= 4 and any(p.startswith(term) for p in present):
        return True
    stem = _stem(term)
    if len(stem) >= 4 and any(_stem(p) == stem for p in present):
        return True
    sense = _SENSE.get(stem)
    return sense is not None and any(_SENSE.get(_stem(p)) == sense for p in present)


def _share_present(terms: set[str], present: set[str]) -> float:
    """The share of `terms` (not empty) that are `_present` in `present`."""
    return sum(1 for t in terms if _present(t, present)) / len(terms)


def check_support(sentence: str, evidence: Sequence[str], *,
                  similarity: Similarity | None = None, min_overlap: float = 0.5,
                  min_similarity: float = 0.6, question: str | None = None,
                  context: Mapping[str, str] | None = None) -> Support:
    """Is `sentence` supported by the `evidence` texts taken together?

    Args:
        sentence: An answer sentence (markers already removed).
        evidence: The texts it cites.
        similarity: Optional semantic similarity (sentence, evidence) -> cosine; lets a
            paraphrase pass when lexical overlap is low.
        min_overlap: Share of the sentence's content words that must appear in the evidence.
        min_similarity: Cosine that counts as a paraphrase.
        question: The question answered. A short fragment ("12,000.") is checked as the
            claim "question + fragment"; and a sentence that repeats a question word the
            cited text lacks ("... were killed" when the text says "arrived") is not
            supported: the model restated the question instead of the evidence.
        context: Every evidence sentence the model was shown -> that sentence with its
            neighbours in the document. A fragment's question words may come from the
            neighbours of the sentence holding the answer ("These pilots were sent to
            Vladivostok" after "North Korean fighter pilots ..."), but not from another
            shown sentence: that is an answer stitched together from two places.
    """
    if not evidence:
        return Support(False, "cites nothing")
    joined = " ".join(evidence)
    missing_numbers = _numbers(sentence) - _numbers(joined)
    if missing_numbers:
        return Support(False, f"number(s) not in the cited text: {', '.join(sorted(missing_numbers))}")
    words = _words(joined)
    missing_names = [n for n in _names(sentence) if not _has_word_prefix(n, words)]
    if missing_names:
        return Support(False, f"name(s) not in the cited text: {', '.join(missing_names)}")
    if _NEGATION.search(sentence) and not _NEGATION.search(joined):
        return Support(False, "negates what the cited text says")
    misquoted = _misattributed_quote(sentence, evidence)
    if misquoted:
        return Support(False, misquoted)
    terms = set(tokenize(sentence))
    present = set(tokenize(joined))
    if question and _is_fragment(sentence, terms):
        # A fragment ("12,000.") only means something with its question, so the question's
        # own words must be in the cited text too ("killed" when the text says "arrived"),
        # and in the same sentence as the answer itself: "12,000" from "up to 12,000 soldiers
        # could arrive" and "killed" from another sentence do not make "12,000 were killed".
        asked = _asked(question)
        terms |= asked
        reason, echoed = _question_gap(sentence, evidence, question, context or {})
        if reason:
            return Support(False, reason)
        terms -= echoed
    elif question:
        # The words a sentence adds to its question are its answer: most of them must be in
        # the cited text. ("Yoon's mantra is 'peace through strength'" citing a passage about
        # Yoon's foreign policy that never says "peace" passes on overlap alone.)
        novel = {t for t in terms - set(tokenize(question)) if not t.isdigit()}
        if novel:
            found = _share_present(novel, present)
            if found < min_overlap:
                missing = sorted(t for t in novel if not _present(t, present))
                return Support(False, f"the answering word(s) are not in the cited text: {', '.join(missing)}")
    if not terms:
        return Support(False, "no content")
    overlap = _share_present(terms, present)
    if overlap >= min_overlap:
        return Support(True, "", overlap)
    if similarity is not None and similarity(sentence, evidence) >= min_similarity:
        return Support(True, "paraphrase", overlap)
    return Support(False, f"only {overlap:.0%} of its words are in the cited text", overlap)


_POSSESSED = re.compile(r"\b(?:his|her|its|their)\s+([\w-]+)", re.IGNORECASE)


def _asked(question: str) -> set[str]:
    """The question's words an answer to it must be about (not its shape: "how many", "city").

    A word after "his", "her", "its" or "their" names something the question refers back to
    ("How many soldiers did his agency say ...?": the agency is the directorate named earlier),
    not something the answer's source must call that way.
    """
    referred = set(tokenize(" ".join(_POSSESSED.findall(question))))
    return {t for t in tokenize(question) if len(t) >= 4 and t not in _QUESTION_SHAPE and t not in referred}


def _paraphrased(echoed: set[str], question: str) -> int:
    """How many paraphrases the missing question words `echoed` make: two lower-case words next
    to each other in the question count once ("think tank" for "Center"), a name each."""
    count, paired = 0, False  # paired: the previous word is missing, lower-case and unpaired
    for word in _WORD.findall(question):
        tokens = tokenize(word)
        missing = bool(tokens) and tokens[0] in echoed
        joins = missing and paired and word[0].islower()
        count += missing and not joins
        paired = missing and word[0].islower() and not joins
    return count


def _question_gap(sentence: str, evidence: Sequence[str], question: str,
                  context: Mapping[str, str]) -> tuple[str, set[str]]:
    """Why `sentence` does not answer `question` ("" if it does), and the question words its
    cited text lacks.

    The question's words must be in the cited text, in the sentence holding the answer's
    numbers and names or its neighbours. A quarter of them may be missing, counting a
    paraphrase of several words once: a question paraphrases ("think tank" for "Center")
    and a name often stands a sentence away from what it did.
    """
    asked = _asked(question)
    joined = " ".join(evidence)
    holding = _holding_answer(sentence, evidence)
    around = set(tokenize(" ".join(context.get(t, t) for t in holding) if holding else joined))
    echoed = {t for t in asked if not _present(t, around)}
    if holding and not any(_holds_all(sentence, context.get(t, t)) for t in holding):
        return "the answer's numbers and names come from different passages", echoed
    if holding and _numbers(sentence):
        # A number is where answers get stitched together: "12,000 [soldiers could arrive]"
        # + "[600,000 casualties, including] killed" read as "12,000 were killed". (Names
        # are not held to this: questions paraphrase what a person did, "warned" for
        # "advised", and that word often turns up in some other passage.)
        # Short words ("think", "said") are too common to tell.
        # (Other shown sentences with the same number back it up; they are not "elsewhere".)
        also_holding = set(_holding_answer(sentence, list(context)))
        elsewhere = set(tokenize(" ".join(t for t in context if t not in holding and t not in also_holding)))
        backing = set(tokenize(" ".join(context[t] for t in also_holding)))
        stitched = sorted(t for t in echoed if len(t) >= 6 and _present(t, elsewhere) and not _present(t, backing))
        if stitched:
            return f"the question's word(s) {', '.join(stitched)} are in other passages than the answer", echoed
    allowed = max(1, len(asked) // _ECHO_TOLERANCE)
    if _paraphrased(echoed, question) > allowed:
        return f"the question's word(s) are not in the cited text: {', '.join(sorted(echoed))}", echoed
    return "", echoed


def restates(sentence: str, question: str) -> bool:
    """Does `sentence` only say back what the question says ("Kim called the governments."
    for "What did Kim call the governments?"), in the same words or other forms of them?"""
    asked = {_stem(t) for t in tokenize(question)}
    return all(_stem(t) in asked for t in tokenize(sentence))


def answers_number_question(sentence: str, evidence: Sequence[str], question: str,
                            context: Mapping[str, str] | None = None) -> bool:
    """Does `sentence` give the number a "how many" question asks for, from a cited sentence
    that speaks of what was asked (the check fragments get, for any wording)?

    An answer to "how many were killed" must come from a sentence that speaks of killing,
    not from "up to 12,000 soldiers could arrive" copied whole.
    """
    numbers = _numbers(sentence)
    if not numbers:
        return False
    # Only the numbers are bound to one passage here: a full sentence may take its names from
    # another cited passage ("According to the National Intelligence Service, ... 12,000").
    reason, echoed = _question_gap(" ".join(sorted(numbers)), evidence, question, context or {})
    # What is counted may not be paraphrased away: "13,000 containers ... sent to Russia" is
    # no count of the "special forces" sent there.
    return not reason and not (_counted(question) & echoed)


_NOT_COUNTED = frozenset("had has have were was did do does will would could can are is in of to from at by for".split())


def _counted(question: str) -> set[str]:
    """The lower-case words naming what a "how many" question counts ("How many special forces
    had ...?" -> special, force); empty for other questions."""
    m = re.search(r"\bhow (?:many|much)\b(.*)", question, re.IGNORECASE)
    words: list[str] = []
    for word in _WORD.findall(m.group(1) if m else ""):
        if word.lower() in _NOT_COUNTED:
            break
        words.append(word)
    return {t for w in words if w[:1].islower() for t in tokenize(w)}


def covers_question(texts: Sequence[str], question: str) -> bool:
    """Do `texts` (an answer's sentences and the passages they cite, with their neighbours)
    speak of what the question asks about: all but a third of its words?

    Each sentence may be true to its source and the whole still miss the question: asked what
    Zelensky said, an answer quoting what Seoul said is true and no answer.
    """
    asked = _asked(question)
    if not asked:
        return True
    present = set(tokenize(" ".join(texts)))
    missing = [t for t in asked if not _present(t, present)]
    return len(missing) <= max(1, len(asked) // 3)


CAPITALISED_RUN = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*")  # "Secretary-General Mark Rutte"
# Words of the names of institutions, places and peoples: "National Intelligence Service" names
# no one. (A title before a name, "Secretary-General Mark Rutte", leaves the name.)
_NOT_PERSONAL = frozenset("""
Service Agency Ministry Directorate Center Centre Institute University College School Council Office
Department Committee Commission Organization Organisation Association Nations Union Forces Force Army
Navy Command News Times Post Press Group Party Assembly Government Administration Intelligence
National Security Defense Defence Foreign Affairs Headquarters Studies Foundation Bank Fund Court
Parliament Senate Congress Republic People's Peoples Democratic Federation Alliance Treaty Agreement
Korea Korean Koreans Russia Russian Russians Ukraine Ukrainian Ukrainians China Chinese Japan Japanese
United States America American Americans North South East West Europe European NATO UN EU
""".split()) | _NAME_STOP


def names_someone(text: str) -> bool:
    """Does `text` give a person's name: two or more capitalised words in a row that are not
    words of institutions or places ("Kim Hong-kyun", "President Yoon Suk Yeol")?"""
    for m in CAPITALISED_RUN.finditer(text):
        run = 0
        for word in m.group(0).split():
            run = 0 if word.strip(".,'’") in _NOT_PERSONAL else run + 1
            if run >= 2:
                return True
    return False


_DENIAL = re.compile(r"\b(den(y|ies|ied|ial)|refrain(s|ed)?|refus(e|es|ed)|reject(s|ed)?|dismiss(es|ed)?|"
                     r"nothing|nobody|without)\b", re.IGNORECASE)


def denies(text: str) -> bool:
    """Does `text` say no: a negation ("could not confirm") or a denial ("denied", "refrained")?"""
    return bool(_NEGATION.search(text) or _DENIAL.search(text))


_SILENCE = re.compile(
    r"\bsaid nothing\b|\bno comment\b|\bunconfirmed\b|\bdeclin\w* to (?:comment|confirm|say)\b|"
    r"\brefrain\w* from (?:\w+ )?(?:confirm|comment)|"
    r"\b(?:could|can|did|do|does|would|has|have|had)(?:\s+not|n't)\s+(?:\w+\s+)?(?:confirm|comment)|"
    r"\bnot (?:yet )?(?:been )?confirmed\b", re.IGNORECASE)


def stance(text: str) -> str:
    """What `text` says to a yes/no question: "silent" (it "said nothing", "could not confirm"),
    "no" (a denial or negation) or "yes"."""
    if _SILENCE.search(text):
        return "silent"
    return "no" if denies(text) else "yes"


def takes_a_stance(text: str, question: str) -> bool:
    """Does `text` itself answer the yes/no `question` one way or the other: does it deny or
    stay silent, or use the verb the question asks about ("supplied" for "Has South Korea
    supplied weapons ...?")? A sentence only about the topic ("By sending troops, North Korea
    could gain ...") takes none."""
    if stance(text) != "yes":
        return True
    asked = [w for w in _WORD.findall(question) if w[:1].islower() and w.lower().endswith("ed")]
    present = set(tokenize(text))
    return any(_present(t, present) for w in asked for t in tokenize(w))


_QUOTE = re.compile(r"[\"“”]([^\"“”]{12,})[\"“”]")


def _squash(text: str) -> str:
    return " ".join(re.findall(r"[\w]+", text.lower().replace("’", "'")))


def _misattributed_quote(sentence: str, evidence: Sequence[str]) -> str:
    """Why a quotation in `sentence` is not backed by one cited text ("" when it is).

    A quotation must be in one cited text, word for word, and the names outside the quotation
    (who said it) must be in that same text: otherwise the words of one person, found in one
    passage, get put into the mouth of someone named in another.
    """
    for m in _QUOTE.finditer(sentence):
        quoted = _squash(m.group(1))
        if len(quoted.split()) < 3:
            continue
        holders = [t for t in evidence if quoted in _squash(t)]
        if not holders:
            return "the quotation is not in the cited text"
        outside = _names(sentence[:m.start()] + " " + sentence[m.end():])
        for text in holders:
            words = _words(text)
            if all(_has_word_prefix(n, words) for n in outside):
                break
        else:
            return "the quotation's speaker is not in the text that has the quotation"
    return ""


def share_held(sentence: str, text: str) -> float:
    """The share of `sentence`'s words (numbers and names included) that `text` holds."""
    terms = set(tokenize(sentence))
    return _share_present(terms, set(tokenize(text))) if terms else 0.0


def _holds_all(fragment: str, text: str) -> bool:
    """Does `text` contain every number and name of `fragment`?"""
    low = text.lower()
    return _numbers(fragment) <= _numbers(text) and all(n.lower() in low for n in _names(fragment))


def taken_from(sentence: str, texts: Sequence[str]) -> list[str]:
    """The texts holding every number and name of `sentence`: where it was taken from (none
    when it has no number or name to tell)."""
    if not _numbers(sentence) and not _names(sentence):
        return []
    return [t for t in texts if _holds_all(sentence, t)]


def _holding_answer(fragment: str, evidence: Sequence[str]) -> list[str]:
    """The cited texts that contain a fragment answer's numbers or names (its anchors)."""
    numbers = _numbers(fragment)
    names = [n.lower() for n in _names(fragment)]
    if not numbers and not names:
        return []
    out = []
    for text in evidence:
        low = text.lower()
        if (numbers & _numbers(text)) or any(n in low for n in names):
            out.append(text)
    return out
