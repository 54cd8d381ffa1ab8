"""Document-set benchmarks: a folder of documents and questions about them, scored by its README.

A docset is a folder holding `questions.jsonl` and `docs/` (`../shared/benchmarks/bbc-news/` and
`../shared/benchmarks/tech-docs/`, read in place). Every question line has the keys `id`,
`split` ("tune" or "test"), `kind` (fact, multi, yesno, unanswerable), `question`, `answers`,
`also`, `sources` and `answerable`. The whole `docs/` folder is indexed for both halves.

This module holds what is specific to docsets and free of models:

* `load_docset`: the questions of one half or both, and where the documents are;
* `score_reply`: one reply scored exactly as the set's README says (`RULES`);
* `system_metrics`: the headline numbers of one system (docchat or the baseline) over the rows
  of one half;
* the trace analysis of docchat's answers (`Answer.to_dict()["trace"]`): drafts that were right
  before the checks (`loss_accounting`) and the answers recomputed with one check switched off
  (`ablation`), both without generating anything again. Only a draft's claims count (sentences
  of kind "claim", or without a kind): declines and restatements are not checked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from evals.benchmarks import SPLITS, BenchmarkDataMissing, check_root
from evals.metrics import abstention_scores, is_decline, mean, percentile, source_accuracy, strip_markers

__all__ = [
    "ALL_CHECKS",
    "DOCSETS",
    "KINDS",
    "NO_CHECKS",
    "RULES",
    "SHIPPED",
    "SPLIT_CHOICES",
    "Docset",
    "DocsetQuestion",
    "Rules",
    "Score",
    "ablation",
    "abstention_score",
    "answer_ok",
    "check_names",
    "claims_text",
    "docset_collection",
    "draft_outcomes",
    "halves",
    "has_trace",
    "is_claim",
    "is_docset_folder",
    "kept_claims",
    "load_docset",
    "loss_accounting",
    "recompute",
    "row_question",
    "score_reply",
    "shipped_off",
    "stops_and_kills",
    "system_metrics",
    "yes_no_word",
]

DOCSETS = ("bbc-news", "tech-docs")
SPLIT_CHOICES = (*SPLITS, "both")
KINDS = ("fact", "multi", "yesno", "unanswerable")
QUESTIONS_FILE = "questions.jsonl"
DOCS_FOLDER = "docs"

SHIPPED = "shipped"
"""Ablation row: the answers as docchat gave them."""
ALL_CHECKS = "all checks"
"""Ablation row: recomputed from the traces, a sentence kept when every check passes."""
NO_CHECKS = "no checks"
"""Ablation row: recomputed from the traces, every draft sentence kept."""


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class DocsetQuestion:
    """One line of a docset's `questions.jsonl`."""

    id: str
    split: str
    kind: str
    question: str
    answers: tuple[str, ...]
    also: tuple[str, ...]
    sources: tuple[str, ...]
    answerable: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DocsetQuestion:
        """Read a question line (or a report row that carries the same keys)."""
        return cls(
            id=str(row["id"]),
            split=str(row["split"]),
            kind=str(row["kind"]),
            question=str(row["question"]),
            answers=tuple(row.get("answers") or ()),
            also=tuple(row.get("also") or ()),
            sources=tuple(row.get("sources") or ()),
            answerable=bool(row["answerable"]),
        )

    def to_row(self) -> dict[str, Any]:
        """The question's keys for a report row (`category` is the kind)."""
        return {
            "id": self.id,
            "split": self.split,
            "kind": self.kind,
            "category": self.kind,
            "question": self.question,
            "answers": list(self.answers),
            "also": list(self.also),
            "sources": list(self.sources),
            "answerable": self.answerable,
        }


row_question = DocsetQuestion.from_row


@dataclass(frozen=True)
class Rules:
    """How a docset's README scores a reply.

    Attributes:
        name: The docset whose README these rules follow.
        digit_commas: Remove commas between digits before matching (bbc-news's `norm`).
        citation_in_correct: A correct answer must also cite a gold file (bbc-news); otherwise
            the citation is reported separately (tech-docs).
    """

    name: str
    digit_commas: bool
    citation_in_correct: bool

    def norm(self, text: str) -> str:
        """Lower-case, and for bbc-news remove commas between digits ("6,932" -> "6932")."""
        text = text.lower()
        return re.sub(r"(?<=\d),(?=\d)", "", text) if self.digit_commas else text


RULES = {
    "bbc-news": Rules("bbc-news", digit_commas=True, citation_in_correct=True),
    "tech-docs": Rules("tech-docs", digit_commas=False, citation_in_correct=False),
}
"""The scoring rules of each docset. A docset folder of another name is scored like bbc-news
(the stricter rules)."""


@dataclass(frozen=True)
class Docset:
    """A docset: its folder, scoring rules and the questions of the halves asked for.

    Attributes:
        name: "bbc-news", "tech-docs" or the folder's name.
        folder: The folder holding `questions.jsonl` and `docs/`.
        rules: How replies are scored.
        questions: The questions of the selected halves, in file order.
    """

    name: str
    folder: Path
    rules: Rules
    questions: tuple[DocsetQuestion, ...]

    @property
    def docs_dir(self) -> Path:
        """The folder to index (all documents, for both halves)."""
        return self.folder / DOCS_FOLDER


def halves(split: str) -> tuple[str, ...]:
    """The halves a `--split` value covers: ("tune",), ("test",) or ("tune", "test").

    Raises:
        ValueError: Unknown split.
    """
    if split not in SPLIT_CHOICES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_CHOICES)}")
    return SPLITS if split == "both" else (split,)


def is_docset_folder(path: str | Path) -> bool:
    """True for a folder holding `questions.jsonl` and a `docs/` folder."""
    folder = Path(path)
    return (folder / QUESTIONS_FILE).is_file() and (folder / DOCS_FOLDER).is_dir()


def load_docset(dataset: str | Path, split: str = "test", root: str | Path | None = None) -> Docset:
    """Load a docset's questions for one half or both (never printing or filtering their text).

    Args:
        dataset: "bbc-news" or "tech-docs" (read from the benchmarks folder), or the path of a
            folder in the same format.
        split: "tune", "test" or "both".
        root: The benchmarks folder (default `evals.benchmarks.DEFAULT_ROOT`).

    Returns:
        The docset with the questions of the selected halves.

    Raises:
        BenchmarkDataMissing: The benchmarks folder, `questions.jsonl` or `docs/` is absent.
        ValueError: Unknown split, or a question line without the docset keys.
    """
    wanted = halves(split)
    name = str(dataset)
    folder = check_root(root) / name if name in DOCSETS else Path(dataset)
    if not folder.is_dir():
        raise BenchmarkDataMissing(f"docset folder not found: {folder}")
    if not (folder / QUESTIONS_FILE).is_file():
        raise BenchmarkDataMissing(f"benchmark file not found: {folder / QUESTIONS_FILE}")
    if not (folder / DOCS_FOLDER).is_dir():
        raise BenchmarkDataMissing(f"docs folder not found: {folder / DOCS_FOLDER}")
    questions = []
    with (folder / QUESTIONS_FILE).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                question = DocsetQuestion.from_row(json.loads(line))
            except (KeyError, ValueError) as e:
                raise ValueError(f"{folder / QUESTIONS_FILE}:{number}: not a docset question ({e})") from e
            if question.split in wanted:
                questions.append(question)
    label = name if name in DOCSETS else folder.name
    return Docset(label, folder, RULES.get(label, RULES["bbc-news"]), tuple(questions))


def docset_collection(docset: Docset) -> str:
    """The Chroma collection a docset is indexed into: `eval_<name>_<hash of its docs folder>`.

    The hash keeps two folders of the same name (another `--benchmarks-dir`, a test folder) from
    sharing one collection, since a sync only removes files from the folder it syncs.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", docset.name.lower()).strip("_") or "docset"
    digest = hashlib.sha256(str(docset.docs_dir.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"eval_{slug[:40]}_{digest}"


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Score:
    """One reply scored by a docset's rules.

    Attributes:
        answer_ok: The answer strings are there (None for unanswerable items).
        source_ok: A gold file is cited (None for unanswerable items).
        correct: The item is right: for unanswerable items, declined; otherwise the answer (and
            for bbc-news the citation) is right and the system did not decline.
        declined: The system said the documents do not answer.
    """

    answer_ok: bool | None
    source_ok: bool | None
    correct: bool
    declined: bool


_YES_NO_RE = re.compile(r"\b(yes|no)\b")


def yes_no_word(normalized: str) -> str | None:
    """The first whole word "yes" or "no" of a normalised answer, else None.

    Substring matching does not work for "no", which occurs inside "not" and "November".
    """
    found = _YES_NO_RE.search(normalized)
    return found.group(1) if found else None


def answer_ok(question: DocsetQuestion, rules: Rules, text: str) -> bool:
    """Does `text` hold the item's answer, by the docset's matching rules (`[n]` markers ignored)?"""
    said = rules.norm(strip_markers(text))  # markers are not content
    if question.kind == "yesno":
        word = yes_no_word(said)
        return word is not None and word in {rules.norm(a) for a in question.answers}
    return any(rules.norm(a) in said for a in question.answers) and all(rules.norm(a) in said for a in question.also)


def score_reply(question: DocsetQuestion, rules: Rules, text: str, declined: bool, cited_files: Iterable[str]) -> Score:
    """Score one reply as the docset's README says.

    Args:
        question: The question with its gold strings and files.
        rules: The docset's rules (`RULES`).
        text: The reply; `[n]` markers are removed before matching.
        declined: The system said the documents do not answer.
        cited_files: The files the reply cites (paths or base names).

    Returns:
        The score. A declined answerable item is wrong (answer and source not ok); an
        unanswerable item is right exactly when declined.
    """
    if not question.answerable:
        return Score(None, None, declined, declined)
    if declined:
        return Score(False, False, False, True)
    said_ok = answer_ok(question, rules, text)
    source_ok = bool(source_accuracy(list(cited_files), question.sources))
    correct = said_ok and (source_ok or not rules.citation_in_correct)
    return Score(said_ok, source_ok, correct, False)


# --------------------------------------------------------------------------- headline


def _field(row: Mapping, prefix: str, name: str) -> Any:
    return row.get(prefix + name)


def system_metrics(rows: Sequence[Mapping], prefix: str = "") -> dict[str, float | None]:
    """The headline numbers of one system over the rows of one half.

    Args:
        rows: Report rows with the question's keys and the system's fields (`declined`,
            `answer_ok`, `source_ok`, `correct`, `first_visible`, `latency`, `judged`).
        prefix: "" for docchat's fields, "baseline_" for the baseline's.

    Returns:
        `n`; over answerable items `correctness`, `answer_accuracy`, `source_cited_all` (a gold
        file cited, declines count as not) and `false_declines`; `source_cited_answered` (over
        the answerable items it answered); `declined_unanswerable`; abstention precision and
        recall (positive = declined, gold positives = unanswerable); `accuracy_<kind>` per kind
        present; `faithfulness` (share of judged answer sentences the judge supports, pooled);
        `latency_first_visible_p50` and `latency_p50` (seconds).
    """
    answerable = [r for r in rows if r.get("answerable")]
    unanswerable = [r for r in rows if not r.get("answerable")]
    answered = [r for r in answerable if not _field(r, prefix, "declined")]
    abst = abstention_scores((bool(r.get("answerable")), bool(_field(r, prefix, "declined"))) for r in rows)
    judged = [_field(r, prefix, "judged") for r in rows if _field(r, prefix, "judged")]
    supported, total = sum(j[0] for j in judged), sum(j[1] for j in judged)
    metrics: dict[str, float | None] = {
        "n": float(len(rows)),
        "correctness": mean(float(bool(_field(r, prefix, "correct"))) for r in answerable),
        "answer_accuracy": mean(float(bool(_field(r, prefix, "answer_ok"))) for r in answerable),
        "source_cited_answered": mean(float(bool(_field(r, prefix, "source_ok"))) for r in answered),
        "source_cited_all": mean(float(bool(_field(r, prefix, "source_ok"))) for r in answerable),
        "declined_unanswerable": mean(float(bool(_field(r, prefix, "declined"))) for r in unanswerable),
        "false_declines": mean(float(bool(_field(r, prefix, "declined"))) for r in answerable),
        "abstention_precision": abst.precision,
        "abstention_recall": abst.recall,
    }
    for kind in KINDS:
        of_kind = [r for r in rows if r.get("kind") == kind]
        if of_kind:
            metrics[f"accuracy_{kind}"] = mean(float(bool(_field(r, prefix, "correct"))) for r in of_kind)
    metrics["faithfulness"] = supported / total if total else None
    metrics["latency_first_visible_p50"] = percentile(
        [v for r in rows if (v := _field(r, prefix, "first_visible")) is not None], 50
    )
    metrics["latency_p50"] = percentile([v for r in rows if (v := _field(r, prefix, "latency")) is not None], 50)
    return metrics


# --------------------------------------------------------------------------- traces


def is_claim(sentence: Mapping) -> bool:
    """A sentence that says something: kind "claim", or, without a kind, not a decline ("the
    documents don't say"). Declines and restatements of the question are not checked."""
    kind = sentence.get("kind")
    return kind == "claim" if kind is not None else not is_decline(str(sentence.get("text", "")))


def _sentences(draft: Mapping) -> list[Mapping]:
    """A draft's claims."""
    return [s for s in draft.get("sentences") or [] if is_claim(s)]


def has_trace(trace: Mapping | None) -> bool:
    """True for a trace that records something: an abstention cause, or a draft with text or
    sentences (an answer without one carries an empty default trace)."""
    if not trace:
        return False
    drafts = trace.get("drafts") or []
    return bool(trace.get("abstained_by")) or any(d.get("text") or d.get("sentences") for d in drafts)


def kept_claims(trace: Mapping) -> list[Mapping]:
    """The claims a traced answer kept (shipped), over all its drafts."""
    return [s for d in trace.get("drafts") or [] for s in _sentences(d) if s.get("kept")]


def _files(sentences: Iterable[Mapping]) -> list[str]:
    files = (
        PurePosixPath(str(s.get("source", "")).replace("\\", "/")).name
        for sentence in sentences
        for s in sentence.get("support") or []
    )
    return list(dict.fromkeys(f for f in files if f))


def claims_text(sentences: Iterable[Mapping]) -> str:
    """Trace sentences (claims) joined into the answer text they make."""
    return " ".join(str(s.get("text", "")) for s in sentences)


def check_names(traces: Iterable[Mapping | None]) -> list[str]:
    """Every check name that appears in the traces' sentences, in first-seen order."""
    names: dict[str, None] = {}
    for trace in traces:
        for draft in (trace or {}).get("drafts") or []:
            for sentence in _sentences(draft):
                names.update(dict.fromkeys(sentence.get("checks") or {}))
    return list(names)


def _kept(sentence: Mapping, off: frozenset[str] | None) -> bool:
    """Is the sentence kept: as shipped (`off` None), or when every check not in `off` passes."""
    if off is None:
        return bool(sentence.get("kept"))
    return all(ok for name, ok in (sentence.get("checks") or {}).items() if name not in off)


def recompute(trace: Mapping, off: frozenset[str] | None) -> list[Mapping]:
    """The sentences an answer keeps with the checks in `off` switched off (none kept = abstain).

    `off` None keeps the sentences as shipped; an empty set recomputes with every check on.
    An answer that abstained at the relevance floor or because the model said so keeps nothing
    whatever the checks.
    """
    if trace.get("abstained_by") in ("floor", "model"):
        return []
    return [s for draft in trace.get("drafts") or [] for s in _sentences(draft) if _kept(s, off)]


def _score_sentences(question: DocsetQuestion, rules: Rules, sentences: Sequence[Mapping]) -> Score:
    """Score claims as an answer (their support files as citations); no claim is a decline."""
    return score_reply(question, rules, claims_text(sentences), not sentences, _files(sentences))


def _score_row(rules: Rules, row: Mapping, sentences: Sequence[Mapping]) -> Score:
    return _score_sentences(row_question(row), rules, sentences)


def draft_outcomes(row: Mapping, rules: Rules) -> list[dict[str, bool]]:
    """Per draft of a row's trace: `correct` (all its sentences, unfiltered, with the files of
    their support as citations) and `kept_correct` (only the sentences it kept)."""
    question = row_question(row)
    outcomes = []
    trace = row.get("trace")
    for draft in trace.get("drafts") or [] if has_trace(trace) else []:
        sentences = _sentences(draft)
        kept = [s for s in sentences if s.get("kept")]
        outcomes.append(
            {
                "correct": _score_sentences(question, rules, sentences).correct,
                "kept_correct": _score_sentences(question, rules, kept).correct,
            }
        )
    return outcomes


def _judged(sentences: Iterable[Mapping]) -> tuple[int, int]:
    verdicts = [s["judge"] for s in sentences if s.get("judge") is not None]
    return sum(bool(v) for v in verdicts), len(verdicts)


def loss_accounting(rows: Sequence[Mapping], rules: Rules) -> dict[str, float | int | None] | None:
    """Where docchat's answers are lost, from the traces of one half's rows.

    Args:
        rows: Report rows with `trace` (judge verdicts under `judge` per sentence, when judged).
        rules: The docset's rules.

    Returns:
        None when no row has a trace. Otherwise: `traced` (rows with a trace); `correct_drafts`
        (drafts of answerable items that would score correct with all their sentences);
        `false_rejections` (of those, drafts whose kept sentences do not score correct on an
        item whose shipped answer is wrong) and `false_rejection_share`; `kept_sentences`,
        `kept_unsupported` (kept sentences the judge rejects), `answered_unanswerable` and
        `false_acceptances` (their sum); `abstained_by_floor`, `_model`, `_checks`.
    """
    traced = [r for r in rows if has_trace(r.get("trace"))]
    if not traced:
        return None
    correct_drafts = false_rejections = 0
    for row in traced:
        if not row.get("answerable"):
            continue
        for outcome in draft_outcomes(row, rules):
            if outcome["correct"]:
                correct_drafts += 1
                false_rejections += not outcome["kept_correct"] and not row.get("correct")
    kept = [s for r in traced for s in kept_claims(r["trace"])]
    supported, judged = _judged(kept)
    answered_unanswerable = sum(1 for r in traced if not r.get("answerable") and not r.get("declined"))
    by = [r["trace"].get("abstained_by") for r in traced]
    return {
        "traced": len(traced),
        "correct_drafts": correct_drafts,
        "false_rejections": false_rejections,
        "false_rejection_share": false_rejections / correct_drafts if correct_drafts else None,
        "kept_sentences": len(kept),
        "kept_unsupported": judged - supported,
        "answered_unanswerable": answered_unanswerable,
        "false_acceptances": judged - supported + answered_unanswerable,
        "abstained_by_floor": by.count("floor"),
        "abstained_by_model": by.count("model"),
        "abstained_by_checks": by.count("checks"),
    }


def _row_score(row: Mapping) -> Score:
    return Score(row.get("answer_ok"), row.get("source_ok"), bool(row.get("correct")), bool(row.get("declined")))


def shipped_off(rows: Sequence[Mapping]) -> frozenset[str]:
    """The checks that did not count in the shipped answers: those a kept claim failed.

    Every check runs on every claim, but some only report (the *words* check, which the model
    settles). A check a kept claim failed cannot have counted; one that no kept claim failed
    is taken to count (if it did not, treating it as counting changes no kept sentence).
    """
    return frozenset(
        name
        for row in rows
        for s in kept_claims(row["trace"])
        for name, ok in (s.get("checks") or {}).items()
        if not ok
    )


def _configuration(name: str, outcomes: Sequence[tuple[Mapping, Score, Sequence[Mapping]]]) -> dict[str, Any]:
    answerable = [score for row, score, _ in outcomes if row.get("answerable")]
    unanswerable = [score for row, score, _ in outcomes if not row.get("answerable")]
    kept = [s for _, _, sentences in outcomes for s in sentences]
    supported, judged = _judged(kept)
    return {
        "configuration": name,
        "n": len(outcomes),
        "correctness": mean(float(s.correct) for s in answerable),
        "answer_accuracy": mean(float(bool(s.answer_ok)) for s in answerable if s.answer_ok is not None),
        "declined_unanswerable": mean(float(s.declined) for s in unanswerable),
        "false_declines": mean(float(s.declined) for s in answerable),
        "kept_sentences": len(kept),
        "faithfulness": supported / judged if judged else None,
    }


def stops_and_kills(
    rows: Sequence[Mapping], stricter: Sequence[Score], looser: Sequence[Score]
) -> dict[str, list[str]]:
    """What the checks that one configuration runs and another does not do, item by item.

    Args:
        rows: The items, in the order of the scores.
        stricter: Each item's score with the checks on.
        looser: Each item's score with them off.

    Returns:
        `stopped`: ids of items the looser configuration answers wrongly (an answer to an
        unanswerable question, or a wrong answer) that the stricter one answers rightly or
        declines; `killed`: ids of items the looser one gets right and the stricter one not.
    """
    stopped, killed = [], []
    for row, strict, loose in zip(rows, stricter, looser, strict=True):
        if not loose.declined and not loose.correct and (strict.correct or strict.declined):
            stopped.append(str(row.get("id")))
        if loose.correct and not strict.correct:
            killed.append(str(row.get("id")))
    return {"stopped": stopped, "killed": killed}


Scorer = Callable[[Mapping, Sequence[Mapping]], Score]
"""Scores a row's answer made of the given kept claims (none kept: a decline)."""


def abstention_score(row: Mapping, sentences: Sequence[Mapping]) -> Score:
    """A `Scorer` for sets scored on declining alone (CLAP NQ): an answerable question is right
    when answered, an unanswerable one when declined."""
    declined = not sentences
    return Score(None, None, declined != bool(row.get("answerable")), declined)


def ablation(rows: Sequence[Mapping], scoring: Rules | Scorer) -> list[dict[str, Any]] | None:
    """Correctness and faithfulness of the shipped answers with one check switched off (or on)
    at a time, recomputed from the traces.

    Args:
        rows: One half's report rows; only rows with a trace count.
        scoring: The docset's rules, or a `Scorer` for another set (`abstention_score`); with
            a scorer the shipped row is scored like the others, from the claims the answer kept.

    Returns:
        None when no row has a trace. Otherwise one dict per configuration: `SHIPPED` (the
        answers as given), `ALL_CHECKS`, `NO_CHECKS`, then `without <check>` for each check
        that counted in the shipped answers (`shipped_off`) and `with <check>` for each that
        only reported; each with `n`, `correctness`, `answer_accuracy`,
        `declined_unanswerable`, `false_declines`, `kept_sentences` and `faithfulness` (share
        of kept sentences the judge supports). Every row but `SHIPPED` also has `stopped` and
        `killed` (`stops_and_kills`): what the checks it differs by from the shipped answers
        stop and kill, the row's checks against the shipped ones or the other way round.
    """
    traced = [r for r in rows if has_trace(r.get("trace"))]
    if not traced:
        return None
    score = scoring if callable(scoring) else partial(_score_row, scoring)
    names = check_names(r["trace"] for r in traced)
    off_shipped = shipped_off(traced)
    as_shipped = [score(r, recompute(r["trace"], None)) for r in traced]
    if callable(scoring):
        shipped = [(r, s, kept_claims(r["trace"])) for r, s in zip(traced, as_shipped)]
    else:
        shipped = [(r, _row_score(r), kept_claims(r["trace"])) for r in traced]
    table = [_configuration(SHIPPED, shipped)]
    configurations = [(ALL_CHECKS, frozenset()), (NO_CHECKS, frozenset(names))]
    configurations += [(f"without {n}", off_shipped | {n}) for n in names if n not in off_shipped]
    configurations += [(f"with {n}", off_shipped - {n}) for n in names if n in off_shipped]
    for label, off in configurations:
        outcomes = []
        for row in traced:
            kept = recompute(row["trace"], off)
            outcomes.append((row, score(row, kept), kept))
        scores = [s for _, s, _ in outcomes]
        stricter, looser = (scores, as_shipped) if off <= off_shipped else (as_shipped, scores)
        table.append(_configuration(label, outcomes) | stops_and_kills(traced, stricter, looser))
    return table
