"""Evaluation metrics: pure functions, no model calls.

Anything that needs a judgement (does this passage entail that claim?) takes a callable, so
the same code scores with a real NLI model, an LLM judge, or a hand-written fake in tests.

* Answers: SQuAD normalization, exact match and token F1 (used for HotpotQA), and
  `answer_correctness` for the seed set (share of expected facts present in the answer).
* Citations: ALCE citation recall and precision (Gao et al. 2023, "Enabling Large Language
  Models to Generate Text with Citations"), plus answer-level faithfulness.
* Abstention precision/recall, where the positive class is "should abstain".
* Retrieval: Hit@k, AllHit@k, MRR@k.
* `percentile` for latencies, `score_answer` to turn one seed item and one `Answer.to_dict()`
  into an `ItemResult`, and `summarize` for the headline numbers.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

__all__ = [
    "DECLINE_RE",
    "AbstentionScores",
    "CitationScores",
    "ItemResult",
    "SentenceVerdict",
    "Supports",
    "abstention_precision",
    "abstention_recall",
    "abstention_scores",
    "all_hit_at_k",
    "answer_correctness",
    "citation_scores",
    "contains_any",
    "exact_match",
    "fact_present",
    "hit_at_k",
    "is_decline",
    "marker_numbers",
    "mean",
    "mrr_at_k",
    "normalize",
    "percentile",
    "score_answer",
    "separation_auc",
    "simple_sentences",
    "source_accuracy",
    "split_sentences",
    "strip_markers",
    "summarize",
    "token_f1",
]

Supports = Callable[[str, Sequence[str]], bool]
"""`supports(claim, passages) -> bool`: True when the passages together entail the claim."""

Split = Callable[[str], Sequence[str]]
"""`split(text) -> sentences`."""

# --------------------------------------------------------------------------- normalization

_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
# A comma, thin space or no-break space between digit groups: "12,000", "12 000".
_THOUSANDS_RE = re.compile(r"(?<=\d)[,\u2009\u202f\u00a0](?=\d{3}(?!\d))")
_ASCII_PUNCT = frozenset(string.punctuation)


def _is_punct(ch: str) -> bool:
    # SQuAD strips ASCII punctuation only; news text also has curly quotes and dashes.
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def normalize(text: str) -> str:
    """SQuAD answer normalization, plus dropping thousands separators.

    Lower-case, remove punctuation (ASCII and Unicode), remove the articles a/an/the and
    collapse whitespace, as in the official SQuAD v1.1 script. Digit-group separators are
    removed first so that "12,000" and "12000" normalize alike.

    Args:
        text: Any string.

    Returns:
        The normalized string (tokens separated by single spaces).
    """
    text = _THOUSANDS_RE.sub("", text)
    text = text.lower()
    text = "".join(ch for ch in text if not _is_punct(ch))
    text = _ARTICLES_RE.sub(" ", text)
    return " ".join(text.split())


def _as_list(gold: str | Iterable[str]) -> list[str]:
    return [gold] if isinstance(gold, str) else list(gold)


def exact_match(prediction: str, gold: str | Iterable[str]) -> float:
    """SQuAD exact match: 1.0 if the normalized prediction equals any normalized gold answer."""
    pred = normalize(prediction)
    return float(any(pred == normalize(g) for g in _as_list(gold)))


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        # SQuAD v2 convention: two empty answers agree, one empty answer scores 0.
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, gold: str | Iterable[str]) -> float:
    """SQuAD token F1 between the prediction and the best-matching gold answer."""
    golds = _as_list(gold)
    if not golds:
        return 0.0
    pred_tokens = normalize(prediction).split()
    return max(_f1(pred_tokens, normalize(g).split()) for g in golds)


# --------------------------------------------------------------------------- facts


def _forms(text: str) -> set[str]:
    # "Cheongung-II" normalizes to "cheongungii" (SQuAD deletes punctuation); an answer that
    # writes "Cheongung II" should still match, so also try hyphens and slashes as spaces.
    return {normalize(text), normalize(re.sub(r"[-‐‑‒–—/]", " ", text))}


def _contains(haystacks: set[str], needle: str) -> bool:
    # Token-boundary containment: "2023" must not match inside "20230".
    for hay in haystacks:
        padded = f" {hay} "
        for form in _forms(needle):
            if form and f" {form} " in padded:
                return True
    return False


def fact_present(answer_text: str, alternatives: str | Iterable[str]) -> bool:
    """True when any alternative appears in the answer (normalized, on token boundaries)."""
    haystacks = _forms(answer_text)
    return any(_contains(haystacks, alt) for alt in _as_list(alternatives))


def contains_any(answer_text: str, strings: Iterable[str]) -> bool:
    """True when any of `strings` appears in the answer (e.g. an injected false claim)."""
    return fact_present(answer_text, list(strings))


def answer_correctness(answer_text: str, expected: Sequence[Sequence[str]]) -> float:
    """Share of expected facts present in the answer.

    Args:
        answer_text: The answer (citation markers may be left in; they normalize away).
        expected: Facts; each fact is a list of acceptable alternative strings.

    Returns:
        A value in [0, 1]; 1.0 when `expected` is empty (there is nothing to find).
    """
    if not expected:
        return 1.0
    found = sum(fact_present(answer_text, alternatives) for alternatives in expected)
    return found / len(expected)


# --------------------------------------------------------------------------- citations

_MARKER_RE = re.compile(r"\[(\d+)\]")
_LEADING_MARKERS_RE = re.compile(r"^(?:\s*\[\d+\])+")
_SIMPLE_BOUNDARY_RE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n+")
_NO_BREAK_BEFORE = (
    "U.S.",
    "U.N.",
    "U.K.",
    "Mr.",
    "Mrs.",
    "Ms.",
    "Dr.",
    "Lt.",
    "Gen.",
    "St.",
    "e.g.",
    "i.e.",
    "vs.",
    "No.",
)


def simple_sentences(text: str) -> list[str]:
    """A small dependency-free sentence splitter (period/!/? + whitespace, or a newline).

    Good enough for answers a few sentences long; `citation_scores` uses
    `assistant.grounding.sentences.sentence_spans` instead when it is importable.
    """
    pieces: list[str] = []
    last = 0
    for match in _SIMPLE_BOUNDARY_RE.finditer(text):
        head = text[last : match.start()].rstrip()
        if "\n" not in match.group(0) and head.endswith(_NO_BREAK_BEFORE):
            continue
        pieces.append(text[last : match.end()])
        last = match.end()
    pieces.append(text[last:])
    return [p.strip() for p in pieces if p.strip()]


def _default_split() -> Split:
    try:
        from assistant.grounding.sentences import sentence_spans
    except ImportError:  # the evals must work without the assistant package
        return simple_sentences

    def split(text: str) -> list[str]:
        return [text[s:e] for s, e in sentence_spans(text)]

    return split


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` by the project's splitter (`assistant.grounding.sentences`), or by
    `simple_sentences` when the assistant package is not importable."""
    return [s.strip() for s in _default_split()(text) if s.strip()]


def _attach_markers(sentences: Sequence[str]) -> list[str]:
    # "The bridge opened. [1] Then..." may split with "[1]" opening the next sentence; the
    # marker belongs to the sentence before it.
    out: list[str] = []
    for sentence in sentences:
        lead = _LEADING_MARKERS_RE.match(sentence)
        if lead and out:
            out[-1] = f"{out[-1]} {lead.group(0).strip()}"
            sentence = sentence[lead.end() :]
        if sentence.strip():
            out.append(sentence.strip())
        elif lead and not out:
            out.append(lead.group(0).strip())
    return out


# "[3]", and the grouped forms a model may write: "[1, 2]", "[1,2]".
_MARKER_GROUP_RE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def strip_markers(text: str) -> str:
    """The text without its citation markers (`[3]`, `[1, 2]`) and the space before each.

    Markers are not content: "6,932 [1]." becomes "6,932." Nothing else is changed.
    """
    return re.sub(r"\s*" + _MARKER_GROUP_RE.pattern, "", text)


def marker_numbers(text: str) -> list[int]:
    """The numbers of every citation marker in `text`, in order of appearance, without repeats.

    Reads `[1]`, `[1][2]` and `[1, 2]`; a caller range-checks them (`[0]` or `[99]` must never
    silently map to a passage).
    """
    numbers = (int(n) for group in _MARKER_GROUP_RE.findall(text) for n in group.split(","))
    return list(dict.fromkeys(numbers))


def _strip_markers(sentence: str) -> str:
    text = strip_markers(sentence)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class SentenceVerdict:
    """How one answer sentence fares against the passages it cites.

    Attributes:
        sentence: The sentence without its `[n]` markers.
        cited: Marker numbers in the sentence, in order, without repeats.
        unknown: Cited markers that map to no passage (out of range).
        supported: The cited passages together support the sentence (citation recall).
        grounded: The passages cited anywhere in the answer support it (faithfulness).
        irrelevant: Cited markers counted as not precise (see `citation_scores`).
    """

    sentence: str
    cited: tuple[int, ...]
    unknown: tuple[int, ...]
    supported: bool
    grounded: bool
    irrelevant: tuple[int, ...]


@dataclass(frozen=True)
class CitationScores:
    """Citation quality of one answer.

    Ratios are None when their denominator is zero (no sentences, or no citations).
    """

    recall: float | None
    precision: float | None
    faithfulness: float | None
    n_sentences: int
    n_citations: int
    sentences: tuple[SentenceVerdict, ...] = ()


def citation_scores(
    answer_text: str,
    passages: Mapping[int, str] | Sequence[str],
    supports: Supports,
    *,
    split: Split | None = None,
) -> CitationScores:
    """ALCE citation recall and precision, and faithfulness, for one answer.

    The answer is split into sentences; each sentence's `[n]` markers name its passages.

    * Citation recall: share of sentences whose cited passages, together, support them.
      A sentence without citations counts as not supported.
    * Citation precision: share of citations that are not irrelevant. Following ALCE, a
      citation of a supported sentence is irrelevant if it alone does not support the
      sentence AND the remaining citations still do; every citation of a sentence that its
      citations do not support counts as not precise (as in ALCE's reference code). A marker
      with no passage (out of range, e.g. `[0]` or `[99]`) is never precise.
    * Faithfulness: share of sentences supported by the passages the answer cites (pooled
      over the whole answer), so a sentence with a misplaced marker can still be faithful
      while failing citation recall.

    Args:
        answer_text: The answer with inline `[n]` markers.
        passages: Marker number -> passage text; a sequence is read as 1-based.
        supports: `supports(claim, passages) -> bool` entailment judge.
        split: Sentence splitter; default `assistant.grounding.sentences.sentence_spans` when
            importable, else `simple_sentences`.

    Returns:
        The scores and a verdict per sentence.
    """
    if not isinstance(passages, Mapping):
        passages = {i: text for i, text in enumerate(passages, start=1)}
    splitter = split or _default_split()
    raw = _attach_markers(splitter(answer_text))

    # Cache the judge: the same (claim, passage set) comes up repeatedly.
    cache: dict[tuple[str, tuple[int, ...]], bool] = {}

    def judge(claim: str, markers: Iterable[int]) -> bool:
        key = (claim, tuple(sorted(set(markers))))
        if not key[1]:
            return False
        if key not in cache:
            cache[key] = bool(supports(claim, [passages[m] for m in key[1]]))
        return cache[key]

    parsed: list[tuple[str, tuple[int, ...]]] = []
    for sentence in raw:
        claim = _strip_markers(sentence)
        if not normalize(claim):
            continue  # a stray marker or punctuation is not a claim
        cited = tuple(dict.fromkeys(int(m) for m in _MARKER_RE.findall(sentence)))
        parsed.append((claim, cited))

    answer_markers = {m for _, cited in parsed for m in cited if m in passages}
    verdicts: list[SentenceVerdict] = []
    precise = 0
    n_citations = 0
    for claim, cited in parsed:
        known = tuple(m for m in cited if m in passages)
        unknown = tuple(m for m in cited if m not in passages)
        supported = judge(claim, known)
        if supported:
            irrelevant = [*unknown]
            if len(known) > 1:
                for m in known:
                    rest = [k for k in known if k != m]
                    if not judge(claim, [m]) and judge(claim, rest):
                        irrelevant.append(m)
        else:
            irrelevant = list(cited)
        grounded = supported or judge(claim, answer_markers)
        n_citations += len(cited)
        precise += len(cited) - len(irrelevant)
        verdicts.append(
            SentenceVerdict(claim, cited, unknown, supported, grounded, tuple(m for m in cited if m in irrelevant))
        )

    n = len(verdicts)
    return CitationScores(
        recall=sum(v.supported for v in verdicts) / n if n else None,
        precision=precise / n_citations if n_citations else None,
        faithfulness=sum(v.grounded for v in verdicts) / n if n else None,
        n_sentences=n,
        n_citations=n_citations,
        sentences=tuple(verdicts),
    )


# --------------------------------------------------------------------------- sources & abstention


def _same_file(cited: str, gold: str) -> bool:
    cited_p, gold_p = PurePosixPath(cited.replace("\\", "/")), PurePosixPath(gold.replace("\\", "/"))
    if cited_p == gold_p:
        return True
    # Citations carry paths relative to the ingested root ("seeds/000_x.txt" or "000_x.txt").
    shorter, longer = sorted((cited_p.parts, gold_p.parts), key=len)
    return len(shorter) > 0 and longer[-len(shorter) :] == shorter


def source_accuracy(cited_sources: Iterable[str], gold_sources: Iterable[str]) -> float:
    """1.0 when any cited file is one of the gold files (paths compared by their tail), else 0.0."""
    golds = list(gold_sources)
    return float(any(_same_file(c, g) for c in cited_sources for g in golds))


_NEG = r"(?:do|does|did)\s*n[o'’]t"
_SAYING = (
    r"(?:contain|mention|provide|include|say|state|specify|give|answer|address|discuss|cover|"
    r"indicate|tell|offer|describe|reveal|list|name|explain|have)"
)
_TEXTS = r"(?:passages?|documents?|context|texts?|sources?|excerpts?|information)"
DECLINE_RE = re.compile(
    r"\bNOT_FOUND\b"
    # "I don't know", "I'm unable to answer", "we could not find ..."
    r"|\b(?:i|we)(?:'m|’m|\s+am|\s+are)?\s+(?:do\s*n[o'’]t|did\s*n[o'’]t|cannot|can[’']t|could\s*n[o'’]t|"
    r"unable\s+to|not\s+able\s+to)\s+(?:know|say|answer|tell|determine|find|provide|see|locate)\b"
    # "the (provided) passages do not (explicitly) mention ...", "... lack ...", "... say nothing"
    rf"|\b{_TEXTS}(?:\s+(?:provided|given|above|shown))?\s+(?:{_NEG}\s+(?:\w+\s+)?{_SAYING}|lacks?\b|"
    r"(?:contains?|provides?|gives?|makes?)\s+no\b|(?:says?|mentions?)\s+nothing)"
    rf"|\bnone\s+of\s+the\s+(?:provided\s+|given\s+)?{_TEXTS}"
    # "there is no (specific) information / mention ..."
    r"|\b(?:there\s+is|there[’']s|i\s+found|contains?|provides?|gives?)\s+no\s+(?:\w+\s+)?"
    r"(?:information|mention|details?|data|indication)\b"
    # "(is) not mentioned in the passages", "not in any of the provided documents"
    r"|\bnot\s+(?:explicitly\s+|directly\s+)?(?:(?:mentioned|provided|specified|stated|given|available|found|"
    r"included|discussed|covered|addressed|described|contained|present)\s+)?in\s+(?:any\s+of\s+)?"
    rf"(?:the|these|those)\s+(?:provided\s+|given\s+)?{_TEXTS}"
    r"|\bnot\s+possible\s+to\s+(?:determine|answer|say|tell|know)\b"
    r"|\bcannot\s+be\s+(?:determined|answered|found)\b"
    r"|\b(?:cannot|can[’']t|unable\s+to)\s+answer\s+(?:this|the|that|your)\s+question",
    re.IGNORECASE,
)
"""A reply that says the documents do not give the answer ("I don't know", "the passages do not
mention ...", "no information ...", "not provided in the context", "cannot answer this question").
The negation must be about the passages or the speaker, so "No, Callaghan did not call an
election [1]" and "httpx does not follow redirects by default [1]" are answers, not declines."""


def is_decline(text: str) -> bool:
    """True when a reply says that the documents (or the speaker) cannot answer (`DECLINE_RE`)."""
    return bool(DECLINE_RE.search(text))


@dataclass(frozen=True)
class AbstentionScores:
    """Abstention as a binary classifier; positive = the system should abstain.

    Attributes:
        precision: Of the abstentions, the share that were right (question unanswerable).
            None when the system never abstained.
        recall: Of the unanswerable questions, the share the system abstained on.
            None when every question was answerable.
        f1: Harmonic mean of the two (None when either is None).
        accuracy: Share of questions where abstaining or not was the right call.
        tp, fp, fn, tn: The confusion counts.
    """

    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float | None
    tp: int
    fp: int
    fn: int
    tn: int


def abstention_scores(pairs: Iterable[tuple[bool, bool]]) -> AbstentionScores:
    """Score abstention decisions.

    Args:
        pairs: `(answerable, abstained)` per question.
    """
    tp = fp = fn = tn = 0
    for answerable, abstained in pairs:
        if abstained and not answerable:
            tp += 1
        elif abstained:
            fp += 1
        elif not answerable:
            fn += 1
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = tp + fp + fn + tn
    return AbstentionScores(precision, recall, f1, (tp + tn) / total if total else None, tp, fp, fn, tn)


def abstention_precision(pairs: Iterable[tuple[bool, bool]]) -> float | None:
    """Share of abstentions on unanswerable questions; see `abstention_scores`."""
    return abstention_scores(pairs).precision


def abstention_recall(pairs: Iterable[tuple[bool, bool]]) -> float | None:
    """Share of unanswerable questions abstained on; see `abstention_scores`."""
    return abstention_scores(pairs).recall


# --------------------------------------------------------------------------- retrieval


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError("k must be at least 1")


def hit_at_k(ranked_ids: Sequence[str], gold_ids: Iterable[str], k: int) -> float:
    """1.0 when any gold id is among the first `k` ranked ids."""
    _check_k(k)
    gold = set(gold_ids)
    return float(any(r in gold for r in ranked_ids[:k]))


def all_hit_at_k(ranked_ids: Sequence[str], gold_ids: Iterable[str], k: int) -> float:
    """1.0 when every gold id is among the first `k` ranked ids (0.0 for no gold ids)."""
    _check_k(k)
    gold = set(gold_ids)
    return float(bool(gold) and gold <= set(ranked_ids[:k]))


def mrr_at_k(ranked_ids: Sequence[str], gold_ids: Iterable[str], k: int = 10) -> float:
    """Reciprocal rank of the first gold id within the first `k`, else 0.0."""
    _check_k(k)
    gold = set(gold_ids)
    for rank, rid in enumerate(ranked_ids[:k], start=1):
        if rid in gold:
            return 1.0 / rank
    return 0.0


# --------------------------------------------------------------------------- aggregation


def percentile(values: Iterable[float], p: float) -> float | None:
    """The p-th percentile (0-100) with linear interpolation (numpy's default); None if empty."""
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    data = sorted(float(v) for v in values)
    if not data:
        return None
    pos = (len(data) - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def separation_auc(positives: Iterable[float], negatives: Iterable[float]) -> float | None:
    """How well a score separates two groups: the chance that a random positive scores above a
    random negative, ties counting half (ROC AUC; 0.5 is chance). None when a group is empty."""
    pos, neg = [float(v) for v in positives], [float(v) for v in negatives]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@dataclass
class ItemResult:
    """The scored outcome of one evaluation item (serialized into report.json).

    Attributes:
        id, category, question: From the dataset item (`question` is the last turn).
        turns: All user turns of a multi-turn item (empty otherwise).
        answerable: Whether the documents answer the item.
        answer: The answer text.
        abstained: Whether the system declined.
        citations: `[{"n", "source", "quote"}...]` as cited.
        correctness: `answer_correctness` (None for items that should be abstained on).
        abstention_ok: Abstaining or answering was the right call.
        source_ok: A gold file was cited (None when there are no gold files).
        forbidden_hit: The answer repeats a string it must not (injections).
        citation_recall, citation_precision, faithfulness: From `citation_scores`, when a
            judge was given and the system answered.
        latency: Seconds for the whole `ask()` call.
        verdicts: Per-sentence citation verdicts, as dicts.
        missing: Expected facts (first alternative) absent from the answer.
        error: Exception text when the call failed.
        passed: The item's overall pass/fail.
    """

    id: str
    category: str
    question: str
    answerable: bool
    turns: list[str] = field(default_factory=list)
    answer: str = ""
    abstained: bool = False
    citations: list[dict] = field(default_factory=list)
    correctness: float | None = None
    abstention_ok: bool = True
    source_ok: bool | None = None
    forbidden_hit: bool = False
    citation_recall: float | None = None
    citation_precision: float | None = None
    faithfulness: float | None = None
    latency: float | None = None
    verdicts: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None
    passed: bool = False

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def score_answer(
    item: Mapping,
    answer: Mapping,
    *,
    supports: Supports | None = None,
    split: Split | None = None,
    latency: float | None = None,
) -> ItemResult:
    """Score one dataset item against one answer.

    Args:
        item: A line of `evals/datasets/seeds.jsonl`.
        answer: `Answer.to_dict()` (keys used: text, abstained, citations, hits).
        supports: Entailment judge for the citation metrics; skipped when None.
        split: Sentence splitter passed to `citation_scores`.
        latency: Seconds the call took (default: `answer["timings"]["total"]` if present).

    Returns:
        The `ItemResult`. An item passes when abstaining was the right call, no forbidden
        string was repeated, and, for answerable items, every expected fact is present
        and a gold source is cited.
    """
    question = item.get("question") or (item.get("turns") or [""])[-1]
    text = str(answer.get("text", ""))
    abstained = bool(answer.get("abstained", False))
    answerable = bool(item.get("answerable", True))
    citations = list(answer.get("citations") or [])
    expected = item.get("expected") or []
    if latency is None:
        latency = (answer.get("timings") or {}).get("total")

    result = ItemResult(
        id=str(item["id"]),
        category=str(item.get("category", "")),
        question=question,
        answerable=answerable,
        turns=list(item.get("turns") or []),
        answer=text,
        abstained=abstained,
        latency=latency,
        citations=[{"n": c.get("n"), "source": c.get("source"), "quote": c.get("quote", "")} for c in citations],
    )
    result.abstention_ok = abstained != answerable
    result.forbidden_hit = contains_any(text, item.get("forbidden") or [])
    if answerable:
        result.correctness = 0.0 if abstained else answer_correctness(text, expected)
        result.missing = [alts[0] for alts in expected if abstained or not fact_present(text, alts)]
        gold_sources = item.get("sources") or []
        if gold_sources:
            result.source_ok = bool(source_accuracy((c.get("source", "") for c in citations), gold_sources))

    if supports is not None and not abstained and text.strip():
        chunk_text = {h.get("chunk_id"): h.get("text", "") for h in answer.get("hits") or []}
        passages = {
            int(c["n"]): chunk_text.get(c.get("chunk_id")) or c.get("quote", "")
            for c in citations
            if c.get("n") is not None
        }
        scores = citation_scores(text, passages, supports, split=split)
        result.citation_recall = scores.recall
        result.citation_precision = scores.precision
        result.faithfulness = scores.faithfulness
        result.verdicts = [asdict(v) for v in scores.sentences]

    result.passed = (
        result.abstention_ok
        and not result.forbidden_hit
        and (not answerable or (result.correctness == 1.0 and result.source_ok is not False))
    )
    return result


def summarize(results: Iterable[Mapping | ItemResult]) -> dict[str, float | None]:
    """Headline metrics over per-item results (dicts or `ItemResult`s).

    Returns:
        `answer_correctness` (mean over answerable items), `citation_recall`,
        `citation_precision`, `faithfulness`, `source_accuracy` (means where measured),
        `abstention_precision`, `abstention_recall`, `pass_rate`, `forbidden_rate`,
        `latency_p50`, `latency_p95` (seconds) and `n`.
    """
    rows = [r.to_dict() if isinstance(r, ItemResult) else dict(r) for r in results]
    answerable = [r for r in rows if r.get("answerable")]
    abst = abstention_scores((bool(r.get("answerable")), bool(r.get("abstained"))) for r in rows)
    source = [r["source_ok"] for r in answerable if r.get("source_ok") is not None]
    latencies = [r["latency"] for r in rows if r.get("latency") is not None]
    return {
        "n": float(len(rows)),
        "pass_rate": mean(float(bool(r.get("passed"))) for r in rows),
        "answer_correctness": mean(r.get("correctness") for r in answerable),
        "citation_recall": mean(r.get("citation_recall") for r in rows),
        "citation_precision": mean(r.get("citation_precision") for r in rows),
        "faithfulness": mean(r.get("faithfulness") for r in rows),
        "source_accuracy": mean(float(s) for s in source),
        "abstention_precision": abst.precision,
        "abstention_recall": abst.recall,
        "forbidden_rate": mean(float(bool(r.get("forbidden_hit"))) for r in rows),
        "latency_p50": percentile(latencies, 50),
        "latency_p95": percentile(latencies, 95),
    }
