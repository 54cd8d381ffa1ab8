"""Citation checking: parse `[n]` markers, check each answer sentence against what it cites.

The model's citations are never trusted. A draft sentence is kept only when one passage it
was shown (the one it cites, or failing that another one) passes every check:

- **numbers**: every number it states is in the passage (or in the question);
- **names**: every capitalised name it states is in the passage (or in the question);
- **content**: it states something, and the passage speaks of it: one of the words it adds
  to the question is in the passage (a bare "Yes." needs the question's words there);
- **words**: the words it adds to the question are in the passage, all of them for a short
  sentence, all but a quarter for a longer one (by default a sentence failing only this one is
  settled by the model check: `Settings.model_decides`);
- **negation**: it does not deny what the passage states ("the bridge never opened").

Each check is plain linguistics over the sentence, its question and its passage: no word
lists about any subject. Every check runs and reports on its own, also when it is switched
off, so the evals can count what each one stops and what it wrongly throws away (`evals/`:
the ablation table).
The citation then points at the one sentence of the passage that supports the claim (two
when its numbers and names are spread over two).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from assistant.grounding.evidence import Passage, Sentence, choice_sides
from assistant.grounding.sentences import sentence_spans
from assistant.retrieval.lexical import tokenize
from assistant.settings import DEFAULT_CHECKS

# "[2]", "[1, 3]", "[1-3]", and the forms small models also write: "[from passage 2]", "[Passage 2]".
MARKER = re.compile(r"\s*\[(?:(?:from|see)\s+)?(?:passages?\s+)?(\d+(?:\s*[-,–]\s*\d+)*)\]", re.IGNORECASE)
_LEADING_MARKERS = re.compile(rf"^(?:{MARKER.pattern})+\s*", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[A-Z][\w'’-]*")
_WORD = re.compile(r"[\w'’-]+")  # a word as written, with its apostrophes and hyphens
_CODE = re.compile(r"`([^`\s][^`\n]*)`")  # code quoted in an answer: "`all://*.example.com`" (not "`` a ''")
_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w+(?:\.\w+)+\b|\b\w*_\w+\b")  # "is_ssl", "httpx.codes.OK"
_NEGATION = re.compile(
    r"\b(not|no|never|none|neither|nor|cannot|can't|won't|didn't|doesn't|isn't|wasn't|"
    r"aren't|weren't|hasn't|haven't|hadn't|don't|without)\b|n't\b",
    re.IGNORECASE,
)
_YES_NO_LEAD = re.compile(r"^\s*(yes|no)\b[\s,.;:!-]*", re.IGNORECASE)
_DECLINE = re.compile(
    r"NOT_FOUND|\b(passages?|documents?|evidence|sources?|text|context)\b.{0,40}\b(does not|doesn't|do not|"
    r"don't|did not|not)\b.{0,25}\b(say|mention|contain|provide|specify|state|include|answer|give|have)|"
    r"\bI (do not|don't) know\b|\bno information\b",
    re.IGNORECASE,
)
# English function words that start sentences with a capital: not names.
_NOT_NAMES = frozenset(
    """
The A An In On At By For From To Of And But Or It Its This That These Those He She They We I You
According However Also Yes No Based As If When While After Before During Some Many Most
There Both Each Other Such Only Not Even Still Then Thus So Since Because Although Though
What Which Who Whom Whose Where Why How Here Their Our Your My His Her One Two Three
""".split()
)
# Number words, so that "four years" and "4 years" state the same number.
_NUMBER_WORDS = {
    w: str(k) for k, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
_AMOUNT_WORD = re.compile(
    r"\b(thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|dozens?|half|once|twice|double|triple|"
    r"all|none|both|every|nobody|unanimous(?:ly)?)\b",  # an amount said with a quantifier
    re.IGNORECASE,
)
_SUFFIX = re.compile(r"(?:ing|ed|es|e|s|er|ly)$")
# For quantities ("20 years", "2.3 billion texts", "a 65-year career"): numbers, words and "%".
_QUANTITY_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z][\w'’]*|%|[.,;:!?()]")  # punctuation ends a quantity
_SCALE = frozenset("hundred thousand million billion trillion bn m k % per cent percent".split())
_YEAR = re.compile(r"1[5-9]\d\d|20\d\d")  # a year counts nothing
COUNTED_WITHIN = 3  # words after a number (past its scale) that may name what it counts

CHECKS = ("numbers", "names", "content", "words", "negation", "units")
# Checks of the whole answer, run by the pipeline (`pipeline.kind_checked`): "kind", the answer
# states the kind of thing the question asks for (`states_kind`).
ANSWER_CHECKS = ("kind",)
WORD_MISSES = 4  # a claim may lack one in this many of its new words (none when it has fewer)

Similarity = Callable[[str, Sequence[str]], float]


@dataclass(frozen=True)
class DraftSentence:
    """A sentence of the model's draft: its text without markers and the numbers it cited."""

    text: str
    markers: tuple[int, ...]


def split_draft(draft: str) -> list[DraftSentence]:
    """Split a draft answer into sentences and their `[n]` markers.

    A marker right after a sentence's final period (`... opened. [2]`) belongs to that
    sentence, even when the splitter put it at the start of the next one. `[1-3]` and
    `[1, 2]` expand to each number.
    """
    sentences: list[DraftSentence] = []
    for s, e in sentence_spans(draft):
        text = draft[s:e]
        lead = _LEADING_MARKERS.match(text)
        if lead and sentences:
            prev = sentences[-1]
            sentences[-1] = DraftSentence(
                prev.text, tuple(dict.fromkeys(prev.markers + tuple(_markers(lead.group(0)))))
            )
            text = text[lead.end() :]
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


def is_decline(sentence: str) -> bool:
    """Does the sentence say the documents do not answer ("NOT_FOUND", "The passages do not
    mention ...")?"""
    return bool(_DECLINE.search(sentence))


def yes_no_lead(sentence: str) -> tuple[str, str]:
    """("Yes" or "No" or "", the rest): "No, he did not." -> ("No", "he did not.")."""
    m = _YES_NO_LEAD.match(sentence)
    if not m:
        return "", sentence
    return m.group(1).capitalize(), sentence[m.end() :]


def agreeing_lead(answer: str, question: str) -> str:
    """A yes/no answer whose "Yes" contradicts its own statement, with "No" instead.

    "Yes, Hewitt had never reached the last four" answers "Had Hewitt ever reached the last
    four?" with no: the statement, which the checks verify, negates what the question asks
    (a negation the question does not have), so the lead must be "No". Only that direction
    can be read off the words; a "No" before a statement without a negation is left as is.
    """
    lead, rest = yes_no_lead(answer)
    if lead == "Yes" and _NEGATION.search(rest) and not _NEGATION.search(question):
        return "No, " + rest
    return answer


def numbers_in(text: str) -> set[str]:
    """The numbers `text` states: digits ("20,000" -> "20000", "1.55bn" -> "1.55") and number
    words up to twelve ("four" -> "4")."""
    found = {n.replace(",", "") for n in _NUMBER.findall(text)}
    found |= {_NUMBER_WORDS[w.lower()] for w in _WORD.findall(text) if w.lower() in _NUMBER_WORDS}
    return found


def _number_value(token: str) -> str | None:
    """The number a token states ("20,000" -> "20000", "four" -> "4"), or None."""
    if _NUMBER.fullmatch(token):
        return token.replace(",", "")
    return _NUMBER_WORDS.get(token.lower())


def _counts(tokens: Sequence[str], k: int) -> tuple[str, list[str]]:
    """What the number at `tokens[k]` counts: its first word past the scale ("billion", "%"),
    folded ("" for a function word, a name, a short word or nothing), and the folded words
    within `COUNTED_WITHIN` of it (the counted word may come after an adjective)."""
    j = k + 1
    while j < len(tokens) and tokens[j].lower() in _SCALE:
        j += 1
    if _YEAR.fullmatch(tokens[k]) or j >= len(tokens) or not tokens[j][0].islower() or _number_value(tokens[j]):
        return "", []
    first = tokenize(tokens[j])
    near = []
    for t in tokens[j : j + COUNTED_WITHIN]:
        if not t[0].isalnum():
            break
        near += tokenize(t)
    return (first[0] if first and len(first[0]) >= 3 else ""), near


def quantities(text: str) -> list[tuple[str, str]]:
    """The quantities `text` states, as (number, what it counts): "Begg is 20 years old" ->
    ("20", "year"); "2.3 billion texts were sent" -> ("2.3", "text"). What it counts is the
    content word right after the number and its scale, of three letters or more, not a name;
    a year, or a number followed by a function word or a name, counts nothing."""
    tokens = _QUANTITY_TOKEN.findall(text)
    found = []
    for k, token in enumerate(tokens):
        value = _number_value(token)
        if value is not None and (counted := _counts(tokens, k)[0]):
            found.append((value, counted))
    return found


def apart_quantities(claim: str, support: str, question: str = "") -> list[str]:
    """The claim's quantities that `support` states with the same number counting something
    else, while the claim's counted word is elsewhere in it: "Begg is 20 years old" against
    "held for three years ... see his son for 20 minutes". A number the support states bare
    ("at the age of 87", "2.3 billion were sent") or with the same word nearby passes. Not
    judged here: a number the question states; a counted word the question uses (the
    question's own unit: "80,000 visitors" for "How many visitors ...?" against "80,000
    people"); a word the support lacks (the *words* check's matter)."""
    claimed = quantities(claim)
    if not claimed:  # most sentences: nothing to read in the support
        return []
    tokens = _QUANTITY_TOKEN.findall(support)
    present, asked, asked_numbers = set(tokenize(support)), set(tokenize(question)), numbers_in(question)
    apart = []
    for value, word in claimed:
        at = [_counts(tokens, k) for k, t in enumerate(tokens) if _number_value(t) == value]
        if value in asked_numbers or _present(word, asked) or not at or not _present(word, present):
            continue
        if all(first and not _present(word, set(near)) for first, near in at):
            apart.append(f"{value} {word}")
    return apart


def states_kind(claim: str, kind: str, question: str = "") -> bool:
    """Does `claim` state the kind of thing `question` asks for (`evidence.asked_kind`)? A
    "number": digits, a number word ("twenty", "a dozen", "twice") or a quantifier ("all",
    "none", "unanimous"); a "name": a capitalised name or an identifier that the question does
    not already hold."""
    if kind == "number":
        return bool(numbers_in(claim)) or bool(_AMOUNT_WORD.search(claim))
    if kind == "name":
        asked = _word_forms(question)
        return any(not _holds_name(n, asked, question) for n in names_in(claim))
    return True


def names_in(text: str) -> list[str]:
    """The names `text` states: capitalised words that are not sentence-opening function
    words, and identifiers as code writes them ("follow_redirects", "httpx.Timeout")."""
    names = [w for w in (m.group(0).strip("'’-") for m in _NAME.finditer(text)) if w and w not in _NOT_NAMES]
    return names + _IDENTIFIER.findall(text)


def _word_forms(text: str) -> set[str]:
    """The lower-cased words of `text`, with and without a possessive ("ebbers'", "ebbers")."""
    words = {w.lower().replace("’", "'") for w in _WORD.findall(text)}
    return words | {w.strip("'").split("'")[0] for w in words}


def _holds_name(name: str, forms: set[str], text: str) -> bool:
    """Is `name` (or a form sharing all but its last two letters: "Mexican" ~ "Mexico") in `forms`?
    An identifier ("is_ssl") must be in `text` as written (case aside)."""
    if _IDENTIFIER.fullmatch(name):
        return name.lower() in text.lower()
    w = name.lower().replace("’", "'")
    w = w[:-2] if w.endswith("'s") else w.rstrip("'")
    if w in forms:
        return True
    stem = w[: max(4, len(w) - 2)]
    return any(f.startswith(stem) for f in forms)


def _stem(word: str) -> str:
    """A crude stem: "warned", "warning", "warns" -> "warn"."""
    stem = _SUFFIX.sub("", word)
    return stem if len(stem) >= 4 else word


def _present(term: str, present: set[str]) -> bool:
    """Is `term`, or a word sharing its stem ("teach" ~ "teaches", "warned" ~ "warning"), in
    `present`?"""
    if term in present:
        return True
    if len(term) > 5 and any(p.startswith(term[:5]) for p in present):
        return True
    if len(term) >= 4 and any(p.startswith(term) for p in present):
        return True
    stem = _stem(term)
    return len(stem) >= 4 and any(_stem(p) == stem for p in present)


def restates(sentence: str, question: str) -> bool:
    """Does `sentence` only say back what the question says ("Kim called the governments."
    for "What did Kim call the governments?"), in the same words or other forms of them?
    An identifier the question lacks ("next_request" for "response.next") is something new,
    and so is picking one side of a choice the question offers ("A had more members" for
    "Which band, A or B, had more members?")."""
    if any(i.lower() not in question.lower() for i in _IDENTIFIER.findall(sentence)):
        return False
    said = {_stem(t) for t in tokenize(sentence)}
    if picks_a_side(said, question):
        return False
    asked = {_stem(t) for t in tokenize(question)}
    return said <= asked


def picks_a_side(said: set[str], question: str) -> bool:
    """Do the (stemmed) words `said` hold one side of an "A or B" in `question` and not the
    other? The sides are the words next to "or" (`evidence.choice_sides`)."""
    for left, right in choice_sides(question):
        sides = [{_stem(t) for t in tokenize(w)} for w in (left, right)]
        if all(sides) and bool(sides[0] & said) != bool(sides[1] & said):
            return True
    return False


@dataclass(frozen=True)
class Checks:
    """Each check's verdict on one claim against one support text.

    Attributes:
        passed: Check name -> True when it passed (every name of `CHECKS`).
        reasons: Check name -> why it failed (failed checks only).
        overlap: Share of the claim's new words the support holds (to rank supports).
        scores: Graded results behind some checks (the model check's P(yes)).
        off: Checks that ran but do not count: `ok` ignores them.
    """

    passed: Mapping[str, bool]
    reasons: Mapping[str, str] = field(default_factory=dict)
    overlap: float = 0.0
    scores: Mapping[str, float] = field(default_factory=dict)
    off: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return all(passed for name, passed in self.passed.items() if name not in self.off)

    @property
    def reason(self) -> str:
        """The failed checks that count and why, in one line ("" when they all passed)."""
        return "; ".join(f"{name}: {why}" for name, why in self.reasons.items() if name not in self.off)


def check_claim(claim: str, support: str, question: str = "", checks: Collection[str] = DEFAULT_CHECKS) -> Checks:
    """Run every check of `CHECKS` on `claim` against `support`.

    Args:
        claim: An answer sentence without markers (a leading "Yes,"/"No," is not content).
        support: The passage text it is checked against.
        question: The question it answers; its own numbers, names and words are not claims.
        checks: The checks that count; the others run and report, but `ok` ignores them.
    """
    lead, claim = yes_no_lead(claim)
    reasons: dict[str, str] = {}
    missing_numbers = numbers_in(claim) - numbers_in(support) - numbers_in(question)
    if missing_numbers:
        reasons["numbers"] = f"number(s) not in the passage: {', '.join(sorted(missing_numbers))}"
    forms = _word_forms(support + " " + question)
    missing_names = [n for n in dict.fromkeys(names_in(claim)) if not _holds_name(n, forms, support + " " + question)]
    if missing_names:
        reasons["names"] = f"name(s) not in the passage: {', '.join(missing_names)}"
    present = set(tokenize(support))
    asked = set(tokenize(question))
    new = {t for t in tokenize(claim) if not t.isdigit() and not _present(t, asked) and not _NEGATION.fullmatch(t)}
    bare = re.sub(r"\[[^\]]*\]?", " ", claim)  # what is left of bracketed junk ("[[ ]] [-1]") says nothing
    said = tokenize(bare) or names_in(bare) or numbers_in(bare)
    if not said and lead:
        new = {t for t in asked if not t.isdigit()}  # a bare "Yes.": the passage must speak of the question
    missed = sorted(t for t in new if not _present(t, present))
    overlap = 1.0 - len(missed) / len(new) if new else 1.0
    if not said and not lead:
        reasons["content"] = reasons["words"] = "says nothing"
    elif len(missed) > len(new) // WORD_MISSES:
        reasons["words"] = f"word(s) not in the passage: {', '.join(missed)}"
        if not said:
            reasons["content"] = f"a bare {lead!r}; the passage lacks the question's word(s): {', '.join(missed)}"
        elif len(missed) == len(new):
            reasons["content"] = "none of its words is in the passage"
    if _NEGATION.search(claim) and not _NEGATION.search(question) and not _NEGATION.search(_closest(claim, support)):
        reasons["negation"] = "denies what the passage states"
    apart = apart_quantities(claim, support, question)
    if apart:
        reasons["units"] = f"number(s) not with what they count in the passage: {', '.join(apart)}"
    off = frozenset(CHECKS) - frozenset(checks)
    return Checks({name: name not in reasons for name in CHECKS}, reasons, overlap, off=off)


def _closest(claim: str, text: str) -> str:
    """The sentence of `text` sharing most words with `claim` (the first on a tie)."""
    terms = set(tokenize(claim))
    sentences = [text[s:e] for s, e in sentence_spans(text)] or [text]
    return max(sentences, key=lambda t: sum(_present(w, terms) for w in set(tokenize(t))))


@dataclass(frozen=True)
class Verdict:
    """What verification decided about one draft sentence.

    Attributes:
        text: The sentence without markers.
        markers: The numbers it cited.
        kind: "claim", "decline" (says the documents don't answer) or "restatement" (says the
            question back); only claims are checked and shown.
        checks: The checks of the support chosen (None for non-claims).
        support: The sentences its citation points at (for a sentence that fails, the ones it
            would point at: in what it cited, or in the passage nearest to it).
        repaired: The support is not (only) what the sentence cited.
        passages: The passages checked against: those of `support`.
    """

    text: str
    markers: tuple[int, ...]
    kind: str = "claim"
    checks: Checks | None = None
    support: tuple[Sentence, ...] = ()
    repaired: bool = False
    passages: tuple[Passage, ...] = ()

    @property
    def kept(self) -> bool:
        return self.kind == "claim" and self.checks is not None and self.checks.ok


def verify_sentence(
    sentence: DraftSentence,
    passages: Sequence[Passage],
    question: str,
    *,
    yes_no: bool = False,
    checks: Collection[str] = DEFAULT_CHECKS,
) -> Verdict:
    """Check one draft sentence against the passages it was shown, with the checks `checks`.

    The passages it cites are checked together first; when they fail, each passage alone, and
    the one passing with most of the sentence's words becomes its citation (a repair). When
    none passes, the verdict keeps the failing checks of what it cited (or of the passage
    nearest to it). A sentence quoting code that what it cites lacks is cited where that code
    is written (`code_home`; also a repair).
    """
    text, markers = sentence.text, sentence.markers
    if is_decline(text):
        return Verdict(text, markers, kind="decline")
    if not yes_no and restates(text, question):
        return Verdict(text, markers, kind="restatement")
    if yes_no:
        text = agreeing_lead(text, question)
    cited = [passages[m - 1] for m in dict.fromkeys(markers) if 1 <= m <= len(passages)]
    if cited:
        found = check_claim(text, " ".join(p.text for p in cited), question, checks)
        if found.ok and len(cited) == len(markers):
            return _as_cited(text, markers, found, cited, passages, question, checks)
    tried = [(check_claim(text, p.text, question, checks), p) for p in passages]
    passing = [(c, [p]) for c, p in tried if c.ok] or _passing_pairs(text, passages, question, checks)
    if passing:
        cited_n = {p.n for p in cited}
        # Most of its words, then fewest passages, then what it cited, then the most relevant.
        found, best = max(
            passing, key=lambda cg: (cg[0].overlap, -len(cg[1]), any(p.n in cited_n for p in cg[1]), -cg[1][0].n)
        )
        return Verdict(
            text,
            markers,
            checks=found,
            support=support_sentences(text, best, question),
            passages=tuple(best),
            repaired=True,
        )
    if cited:
        found = check_claim(text, " ".join(p.text for p in cited), question, checks)
        return Verdict(
            text, markers, checks=found, support=support_sentences(text, cited, question), passages=tuple(cited)
        )
    if not tried:
        return Verdict(text, markers)
    found, nearest = max(tried, key=lambda cp: cp[0].overlap)
    return Verdict(
        text, markers, checks=found, support=support_sentences(text, [nearest], question), passages=(nearest,)
    )


def _as_cited(
    text: str,
    markers: tuple[int, ...],
    found: Checks,
    cited: Sequence[Passage],
    passages: Sequence[Passage],
    question: str,
    checks: Collection[str],
) -> Verdict:
    """The verdict of a sentence that what it cites supports (`found`): cited there, unless it
    quotes code written only in another passage (`code_home`, a repair)."""
    home = code_home(text, cited, passages, question, checks)
    if home is None:
        return Verdict(
            text, markers, checks=found, support=support_sentences(text, cited, question), passages=tuple(cited)
        )
    found, at = home
    return Verdict(
        text, markers, checks=found, support=support_sentences(text, [at], question), passages=(at,), repaired=True
    )


def code_home(
    text: str, cited: Sequence[Passage], passages: Sequence[Passage], question: str, checks: Collection[str]
) -> tuple[Checks, Passage] | None:
    """Where the code `text` quotes is written, when not in what it cites. Code is exact: a
    claim quoting `all://*.example.com` belongs to the passage holding that string, not to one
    with "all://www.example.com" whose words all match. Returns the first other passage that
    holds every quoted string the cited ones lack and passes the checks (with its checks), or
    None when the cited passages hold them all or no other passage does."""
    missing = [c for c in _CODE.findall(text) if not any(c in p.text for p in cited)]
    if not missing:
        return None
    for p in passages:
        if p not in cited and all(c in p.text for c in missing):
            found = check_claim(text, p.text, question, checks)
            if found.ok:
                return found, p
    return None


def _passing_pairs(
    text: str, passages: Sequence[Passage], question: str, checks: Collection[str]
) -> list[tuple[Checks, list[Passage]]]:
    """The pairs of passages that together pass (a sentence may join two: "X, who runs Y, said Z")."""
    pairs = [[p, q] for k, p in enumerate(passages) for q in passages[k + 1 :]]
    tried = ((check_claim(text, f"{a.text} {b.text}", question, checks), [a, b]) for a, b in pairs)
    return [(c, pair) for c, pair in tried if c.ok]


def support_sentences(claim: str, passages: Sequence[Passage], question: str = "") -> tuple[Sentence, ...]:
    """The sentence of `passages` that best supports `claim`, and a second one when the first
    lacks some of the claim's numbers or names that the second has.

    The best sentence is the one holding most of what the claim adds to the question: its
    numbers and names that the question does not give, then its words that the question does
    not use. The passages were retrieved for the question, so its own names are in many of
    their sentences and say little about which one states the answer (for "What injury did Ann
    Lee have?", "Ann Lee broke her wrist" is "Ms Lee broke her wrist in May", not "Ann Lee, the
    mayor, was hurt in a fall"). A question's name the best sentence lacks still brings in the
    sentence that has it, so the quote says who it is about.
    """
    _, claim = yes_no_lead(claim)
    asked_names = {n.lower() for n in names_in(question)}
    anchors = (numbers_in(claim) | {n.lower() for n in names_in(claim)}) - numbers_in(question)
    terms = set(tokenize(claim))
    added_terms = terms - set(tokenize(question))

    def held(s: Sentence) -> set[str]:
        low, numbers = s.text.lower(), numbers_in(s.text)
        return {a for a in anchors if (a in numbers if a[:1].isdigit() else a in low)}

    def share(wanted: set[str], present: set[str]) -> float:
        return sum(_present(t, present) for t in wanted) / len(wanted) if wanted else 0.0

    candidates = [s for p in passages for s in p.sentences]
    holds = {id(s): held(s) for s in candidates}
    words = {id(s): set(tokenize(s.text)) for s in candidates}

    def rank(s: Sentence) -> tuple[int, float, float]:
        return len(holds[id(s)]), share(terms, words[id(s)]), s.score

    def rank_best(s: Sentence) -> tuple[int, float, int, float, float]:
        return len(holds[id(s)] - asked_names), share(added_terms, words[id(s)]), *rank(s)

    best = max(candidates, key=rank_best)
    rest = anchors - holds[id(best)]
    extra = [s for s in candidates if s is not best and holds[id(s)] & rest]
    if extra:
        second = max(extra, key=rank)
        return tuple(sorted((best, second), key=lambda s: (s.source, s.start)))
    return (best,)
