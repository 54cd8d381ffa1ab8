"""The answer path, top to bottom (`answer`, at the end, runs the steps in order).

    question --read_question--> Question
             --retrieve--------> hits (chunks)
             --with_continuations-> hits, and the chunk that a hit ending in ":" introduces
             --rank_sentences--> scored sentences
             --build_passages--> numbered passages          (below the floor: abstain)
             --prompt_messages-> the model's draft, streamed
             --verify_sentence-> a verdict per sentence      (each shown as soon as it passes)
             --assemble--------> Answer

Every step is a function of its inputs; `answer_stream` runs them in order and is the only
place that keeps state while the draft streams (the verdicts so far and the citation numbers).
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from assistant.errors import EmptyQuestionError, ModelError, QuestionTooLongError
from assistant.generation.llm import yes_probability
from assistant.generation.prompts import render
from assistant.generation.tokens import count_tokens
from assistant.grounding.conversation import previous_turn, standalone_query
from assistant.grounding.evidence import (
    Passage,
    Sentence,
    asked_kind,
    build_passages,
    is_yes_no,
    rank_sentences,
    with_continuations,
    without_instructions,
)
from assistant.grounding.sentences import sentence_spans
from assistant.grounding.verify import MARKER, Verdict, split_draft, states_kind, verify_sentence, yes_no_lead
from assistant.protocols import ChatModel, Embedder
from assistant.retrieval.lexical import refresh_lexical_index
from assistant.retrieval.retrieve import retrieve
from assistant.retrieval.store import Store
from assistant.settings import Settings
from assistant.types import DONT_SAY, UNSURE_YES, Answer, Citation, Hit, SentenceTrace, Trace

RELEVANCE_FLOOR = 0.30  # best sentence below this: the documents do not answer (see evals)
EXTRACTIVE_SPREAD = 0.08  # extra extractive sentences must score within this of the best
MAX_CHARS_PER_TOKEN = 16  # a reply longer than max_answer_tokens * this ignored its token limit


@dataclass(frozen=True)
class Question:
    """A question ready to answer.

    Attributes:
        text: As asked, cleaned (control characters and runs of spaces removed).
        asked: Without its sentences addressed to the assistant: what answers are checked against.
        query: The standalone retrieval query (a follow-up gets the names it refers to).
        follow_up: The prompt line recalling the previous turn ("" when there is none).
        yes_no: It asks for yes or no.
        kind: The kind of thing it asks for, when its form says so ("number", "name"; `asked_kind`).
    """

    text: str
    asked: str
    query: str
    follow_up: str = ""
    yes_no: bool = False
    kind: str | None = None


def clean_question(question: str, settings: Settings) -> str:
    """Normalise a question; raise a typed error for an empty or oversized one."""
    if not isinstance(question, str):
        raise EmptyQuestionError("the question must be text")
    text = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in question)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise EmptyQuestionError("the question is empty: type a question about your documents")
    if len(text) > settings.max_question_tokens * 8 or count_tokens(text) > settings.max_question_tokens:
        raise QuestionTooLongError(
            f"the question is too long (limit {settings.max_question_tokens} tokens): ask about one thing at a time"
        )
    return text


def read_question(question: str, history: Sequence[dict] | None, settings: Settings) -> Question:
    """Step 1: the cleaned question, what it asks, and how to search for it."""
    text = clean_question(question, settings)
    asked = without_instructions(text)
    query = standalone_query(asked, history)
    previous, lead = previous_turn(history) if query != asked else ("", "")
    follow_up = render("followup_context", previous=previous, answer=lead) if previous else ""
    return Question(text, asked, query, follow_up, is_yes_no(asked), asked_kind(asked))


def find_passages(
    question: Question, store: Store, embedder: Embedder, settings: Settings, sources: Sequence[str] | None = None
) -> tuple[list[Hit], list[Sentence], list[Passage]]:
    """Steps 2-4: the retrieved chunks, their sentences scored, and the passages to show."""
    hits = retrieve(store, question.query, top_k=settings.top_k, sources=sources)
    index = refresh_lexical_index(store)
    sentences = rank_sentences(question.query, with_continuations(hits, index), embedder, index)
    passages = build_passages(
        sentences,
        budget_tokens=settings.context_tokens,
        max_passages=settings.max_passages,
        radius=settings.passage_radius,
    )
    return hits, sentences, passages


def relevant_enough(passages: Sequence[Passage]) -> bool:
    """Is the best passage relevant enough to try answering (`RELEVANCE_FLOOR`)?"""
    return bool(passages) and max(p.score for p in passages) >= RELEVANCE_FLOOR


def prompt_messages(passages: Sequence[Passage] | str, question: Question | str, follow_up: str = "") -> list[dict]:
    """Step 5: the chat messages for one question.

    Everything before the last message (system prompt and two worked examples: a cited answer
    and NOT_FOUND) is the same for every question, so llama.cpp reuses its KV cache for that
    prefix and only the passages and the question are prefilled per question.
    """
    shown = passages if isinstance(passages, str) else numbered(passages)
    if isinstance(question, Question):
        follow_up = question.follow_up
        asked = render("yes_no_question", question=question.text) if question.yes_no else question.text
    else:
        asked = question
    return [
        {"role": "system", "content": render("system")},
        {"role": "user", "content": render("example_question")},
        {"role": "assistant", "content": render("example_answer").strip()},
        {"role": "user", "content": render("example_question_2")},
        {"role": "assistant", "content": render("example_answer_2").strip()},
        {"role": "user", "content": render("question", passages=shown, context=follow_up, question=asked)},
    ]


def check_messages(messages: Sequence[dict], question: str, passages: str, claim: str) -> list[dict]:
    """The model check's chat: the answer prompt's fixed prefix, then the passages the claim is
    checked against, the question, the claim and one yes/no question.

    It shares the fixed prefix (system prompt and worked examples) with the answer prompt, so
    a local model (and `llama_cpp.server`) re-reads only the last message.
    """
    return [
        *messages[:-1],
        {"role": "user", "content": render("check", passages=passages, question=question, answer=claim)},
    ]


def model_check(
    model: ChatModel, messages: Sequence[dict], question: str, passages: str, claim: str, threshold: float
) -> tuple[bool, float]:
    """Step 6b: ask the model whether `passages` state `claim` and it answers `question`.

    Returns (passed, P(yes)): the share of yes in the model's first-token probabilities of
    yes and no (`llm.yes_probability`), which must reach `threshold`.
    """
    p = yes_probability(model, check_messages(messages, question, passages, claim))
    return p >= threshold, p


def lead_probability(
    model: ChatModel, messages: Sequence[dict], question: Question, settings: Settings
) -> float | None:
    """Step 5a: for a yes/no question, the model's P(yes) for the first word of its answer to
    `messages` (the answer prompt itself, so llama.cpp reuses the prompt for the draft).

    None when not asked: the question is not yes/no, `Settings.yes_floor` is 0, or the model
    cannot report probabilities (one sampled token would only repeat its draft's lead).

    Raises:
        ModelError: The model failed.
    """
    if not question.yes_no or settings.yes_floor <= 0 or not callable(getattr(model, "yes_probability", None)):
        return None
    return yes_probability(model, messages)


def with_yes_check(verdict: Verdict, p_yes: float, floor: float) -> Verdict:
    """`verdict` with the "yes" check added: its answer opens with "Yes", and that needs the
    model's P(yes) for its first word (`p_yes`) to reach `floor`."""
    why = f"the model's Yes is unsure (P(yes) {p_yes:.2f} < {floor:.2f})"
    return with_check(verdict, "yes", p_yes >= floor, why, p_yes)


def with_check(verdict: Verdict, name: str, passed: bool, reason: str, score: float | None = None) -> Verdict:
    """A claim's `verdict` with the check `name` added (`reason`: why it failed; `score`: its
    graded result, when it has one). Other verdicts are returned as they are."""
    if verdict.kind != "claim" or verdict.checks is None:
        return verdict
    checks = verdict.checks
    reasons = dict(checks.reasons) | ({} if passed else {name: reason})
    scores = dict(checks.scores) | ({} if score is None else {name: score})
    passed_by = {**checks.passed, name: passed}
    return replace(verdict, checks=replace(checks, passed=passed_by, reasons=reasons, scores=scores))


def kind_checked(verdicts: Iterable[Verdict], question: Question) -> Iterator[Verdict]:
    """Step 6c: when the question asks for a number or a name (`Question.kind`), the answer
    must state one (`states_kind`) in a sentence that passed. The verdicts pass through from
    the first such sentence on; those before it wait for it, and fail "kind" when the draft
    ends without one ("Jim died in April." for "How old was Jim when he died?"). A sentence
    that states one itself always passes "kind" (whatever else it failed), so that the trace
    blames its own failed checks."""
    if question.kind is None:
        yield from verdicts
        return
    held: list[tuple[Verdict, bool]] = []
    stated = False
    for verdict in verdicts:
        if stated:
            yield with_check(verdict, "kind", True, "")
            continue
        own = verdict.kind == "claim" and states_kind(verdict.text, question.kind, question.asked)
        held.append((verdict, own))
        if own and verdict.kept:
            stated = True
            yield from (with_check(v, "kind", True, "") for v, _ in held)
    if not stated:
        why = f"the question asks for a {question.kind} and the answer states none"
        yield from (with_check(v, "kind", own, why) for v, own in held)


def numbered(passages: Sequence[Passage]) -> str:
    """Passages as the model sees them: "[n] text", one per line (a sentence wrapped over
    several lines of its document is shown on one)."""
    return "\n".join(f"[{p.n}] " + " ".join(line.strip() for line in p.text.splitlines()) for p in passages)


def with_model_check(verdict: Verdict, passed: bool, p_yes: float | None) -> Verdict:
    """`verdict` with the model check's result (and its P(yes), None when not asked) added."""
    assert verdict.checks is not None
    why = "not asked: the model failed" if p_yes is None else f"the model says no (P(yes) {p_yes:.2f})"
    return with_check(verdict, "model", passed, why, p_yes)


def complete_sentences(draft: str, done: int) -> tuple[str, int]:
    """The sentences of `draft` after offset `done` that are complete (another one has begun,
    and not with a citation marker, which belongs to the sentence before), and the new offset."""
    spans = sentence_spans(draft, done)
    if len(spans) >= 2 and not draft[spans[-1][0] :].lstrip().startswith("["):
        return draft[done : spans[-1][0]], spans[-1][0]
    return "", done


class Citations:
    """Citation numbers in order of first use, one per supporting sentence."""

    def __init__(self) -> None:
        self.numbers: dict[tuple[str, int], int] = {}
        self.sentences: list[Sentence] = []

    def mark(self, text: str, support: Sequence[Sentence]) -> str:
        """`text` with the markers of `support` before its final punctuation."""
        numbers = []
        for s in support:
            key = (s.source, s.start)
            if key not in self.numbers:
                self.numbers[key] = len(self.numbers) + 1
                self.sentences.append(s)
            numbers.append(self.numbers[key])
        return with_markers(text, sorted(set(numbers)))

    def all(self) -> tuple[Citation, ...]:
        return tuple(s.citation(n) for n, s in enumerate(self.sentences, 1))


def with_markers(text: str, numbers: Sequence[int]) -> str:
    """`text` with `[n]` markers before its final punctuation ("... opened [1][2].")."""
    markers = "".join(f"[{n}]" for n in numbers)
    return f"{text[:-1]} {markers}{text[-1]}" if text[-1:] in ".!?" else f"{text} {markers}"


def sentence_trace(verdict: Verdict) -> SentenceTrace:
    """A verdict as the trace records it."""
    checks = verdict.checks
    return SentenceTrace(
        text=verdict.text,
        kind=verdict.kind,
        kept=verdict.kept,
        checks=dict(checks.passed) if checks else {},
        reasons=dict(checks.reasons) if checks else {},
        scores=dict(checks.scores) if checks else {},
        support=tuple((s.source, s.text) for s in verdict.support),
        repaired=verdict.repaired,
    )


def abstention_text(hits: Sequence[Hit], why: str = DONT_SAY) -> str:
    """What an abstaining answer says: why there is no answer, and where the closest passages are."""
    text = why
    near: list[str] = []
    for h in hits[:3]:
        label = f"{h.chunk.source} (lines {h.chunk.line_start}-{h.chunk.line_end})"
        if label not in near:
            near.append(label)
    if near:
        text += " The closest passages are in " + ", ".join(near) + "."
    return text


@dataclass(frozen=True)
class Context:
    """What the answer of one question was made from (steps 1-4), for `assemble`."""

    question: Question
    hits: tuple[Hit, ...]
    passages: tuple[Passage, ...]
    t0: float
    retrieval: float = 0.0  # seconds spent on steps 1-4


def assemble(
    context: Context,
    *,
    kept: Sequence[str],
    citations: Citations,
    verdicts: Sequence[Verdict],
    draft: str,
    abstained_by: str | None,
    model: str,
    backend: str,
    timings: dict[str, float],
    tokens: dict[str, int] | None = None,
    notices: Sequence[str] = (),
    why: str = DONT_SAY,
) -> Answer:
    """Step 7: the final `Answer` (`why`: what an abstaining one says first)."""
    timings = {**timings, "total": time.perf_counter() - context.t0}
    abstained = abstained_by is not None
    removed = [v for v in verdicts if v.kind == "claim" and not v.kept]
    trace = Trace(
        abstained_by, tuple(numbered([p]) for p in context.passages), draft, tuple(sentence_trace(v) for v in verdicts)
    )
    return Answer(
        text=abstention_text(context.hits, why) if abstained else " ".join(kept),
        citations=() if abstained else citations.all(),
        hits=context.hits,
        abstained=abstained,
        unsupported=tuple(v.text for v in removed),
        removed_why=tuple(v.checks.reason if v.checks else "" for v in removed),
        model=model,
        backend=backend,
        question=context.question.text,
        query=context.question.query,
        timings=timings,
        tokens=dict(tokens or {}),
        notices=tuple(notices),
        repaired=sum(v.repaired for v in verdicts if v.kept),
        trace=trace,
    )


@dataclass
class Draft:
    """The model's reply as it streams (filled in by `draft_verdicts`).

    Attributes:
        text: The reply so far.
        first_token: Seconds from the question to the reply's first piece.
        stopped: The error that cut the reply short, if one did after a sentence passed.
    """

    text: str = ""
    first_token: float | None = None
    stopped: ModelError | None = None


def draft_verdicts(
    context: Context,
    model: ChatModel,
    messages: Sequence[dict],
    settings: Settings,
    draft: Draft,
    p_yes: float | None = None,
) -> Iterator[Verdict]:
    """Steps 5-6a: stream the model's reply into `draft` and yield the lexical verdict on each
    sentence as soon as it is complete. When the first claim opens with "Yes", every claim
    gets the "yes" check (`with_yes_check`): `p_yes` (`lead_probability`) must reach
    `Settings.yes_floor`, for all of them, as the rest of such an answer argues for that Yes.

    Raises:
        ModelError: The model failed before any sentence passed, or replied with nothing.
    """
    question, passages = context.question, context.passages
    checks = (*settings.checks, *settings.model_decides)  # the model settles the second kind
    done, passed = 0, False
    says_yes: bool | None = None  # decided at the first claim

    def verdicts(segment: str) -> Iterator[Verdict]:
        nonlocal passed, says_yes
        for sentence in split_draft(segment):
            verdict = verify_sentence(sentence, passages, question.asked, yes_no=question.yes_no, checks=checks)
            if says_yes is None and verdict.kind == "claim":
                says_yes = p_yes is not None and yes_no_lead(verdict.text)[0] == "Yes"
            if says_yes and p_yes is not None:
                verdict = with_yes_check(verdict, p_yes, settings.yes_floor)
            passed = passed or verdict.kept
            yield verdict

    try:
        for piece in model.stream(messages, max_tokens=settings.max_answer_tokens, temperature=0.0):
            if draft.first_token is None:
                draft.first_token = time.perf_counter() - context.t0
            draft.text += piece
            if len(draft.text) > settings.max_answer_tokens * MAX_CHARS_PER_TOKEN:
                # An endpoint that ignores max_tokens would stream forever: stop here.
                raise ModelError(
                    f"the reply ran past {len(draft.text):,} characters (more than {settings.max_answer_tokens} tokens)"
                )
            segment, done = complete_sentences(draft.text, done)
            yield from verdicts(segment)
    except ModelError as e:
        if not passed:
            raise
        draft.stopped = e  # what completed before the failure stays
        return
    yield from verdicts(draft.text[done:])
    if not draft.text.strip():
        raise ModelError("the model returned an empty reply")


def model_checked(
    verdicts: Sequence[Verdict], model: ChatModel, messages: Sequence[dict], question: Question, settings: Settings
) -> Iterator[Verdict]:
    """Step 6b for every claim (`Settings.model_check`): each verdict with the model check
    added (`settled`), one at a time, so that a sentence is shown before the next one is checked.

    Raises:
        ModelError: The model failed to answer a check.
    """
    for verdict in verdicts:
        if verdict.kind == "claim" and verdict.checks is not None:
            verdict = settled(verdict, model, messages, question, settings)
        yield verdict


def in_doubt(verdict: Verdict, doubtful: Collection[str]) -> bool:
    """Did `verdict` fail only checks of `doubtful` (so the model check settles it)?"""
    checks = verdict.checks
    if verdict.kind != "claim" or checks is None or checks.ok or not doubtful:
        return False
    return all(ok or name in doubtful for name, ok in checks.passed.items())


def settled(
    verdict: Verdict, model: ChatModel, messages: Sequence[dict], question: Question, settings: Settings
) -> Verdict:
    """Step 6b: `verdict` with the model check added. A sentence in doubt (`in_doubt`) that
    the model says the passages state is kept: its failed checks no longer count."""
    assert verdict.checks is not None
    threshold = settings.model_check_threshold
    passed, p_yes = model_check(model, messages, question.text, numbered(verdict.passages), verdict.text, threshold)
    checked = with_model_check(verdict, passed, p_yes)
    checks = checked.checks
    assert checks is not None
    if passed and in_doubt(verdict, settings.model_decides):
        failed = {name for name, ok in checks.passed.items() if not ok}
        checked = replace(checked, checks=replace(checks, off=checks.off | failed))
    return checked


def doubts_settled(
    verdicts: Iterable[Verdict], model: ChatModel, messages: Sequence[dict], question: Question, settings: Settings
) -> Iterator[Verdict]:
    """The verdicts in order, each sentence in doubt (`in_doubt`) settled by the model. From
    the first one on, the rest of the draft is read first: one model cannot write and check at
    the same time.

    Raises:
        ModelError: The model failed to answer a check.
    """
    verdicts = iter(verdicts)
    for verdict in verdicts:
        if in_doubt(verdict, settings.model_decides):
            for later in [verdict, *verdicts]:
                if in_doubt(later, settings.model_decides):
                    later = settled(later, model, messages, question, settings)
                yield later
            return
        yield verdict


def generate(context: Context, model: ChatModel, settings: Settings, notices: list[str]) -> Iterator[str | Answer]:
    """Steps 5-7 with a model: draft, check every sentence, yield the sentences that pass in
    order (so what streams is the answer), then the `Answer`.

    The lexical checks run as each sentence completes, so a sentence that passes is shown at
    once. With the model check on, sentences wait for the draft to end: one model cannot
    write and check at the same time.
    """
    messages = prompt_messages(context.passages, context.question)
    t_gen = time.perf_counter()
    draft = Draft()
    p_yes = lead_probability(model, messages, context.question, settings)
    stream: Iterable[Verdict] = draft_verdicts(context, model, messages, settings, draft, p_yes)
    drafted: list[Verdict] = []
    if settings.model_check:
        drafted = list(stream)
        stream = model_checked(drafted, model, messages, context.question, settings)
    else:
        stream = doubts_settled(stream, model, messages, context.question, settings)
    if "kind" in settings.checks:
        stream = kind_checked(stream, context.question)
    citations, kept, verdicts = Citations(), [], []
    timings = {"retrieval": context.retrieval}
    try:
        for verdict in stream:
            verdicts.append(verdict)
            if verdict.kept:
                kept.append(citations.mark(verdict.text, verdict.support))
                timings.setdefault("first_sentence", time.perf_counter() - context.t0)
                yield kept[-1] + " "
    except ModelError as e:  # only a model check fails here once something was shown
        if not kept:
            raise
        draft.stopped = e  # the sentences not checked yet are not shown
        verdicts += [
            with_model_check(v, False, None) if v.kind == "claim" and v.checks else v for v in drafted[len(verdicts) :]
        ]
    if draft.stopped is not None:
        notices.append(f"The model stopped early ({draft.stopped}); the answer may be incomplete.")
    if kept and any(v.kind == "decline" for v in verdicts):
        notices.append("The documents may not answer every part of the question.")
    claims = [v for v in verdicts if v.kind == "claim"]
    unsure = not kept and any(v.checks and "yes" in v.checks.reasons for v in claims)
    timings.update(first_token=draft.first_token or 0.0, generation=time.perf_counter() - t_gen)
    tokens = {"prompt": sum(count_tokens(m["content"]) for m in messages), "completion": count_tokens(draft.text)}
    yield assemble(
        context,
        kept=kept,
        citations=citations,
        verdicts=verdicts,
        draft=draft.text,
        abstained_by=None if kept else ("checks" if claims else "model"),
        model=model.name,
        backend=settings.backend,
        timings=timings,
        tokens=tokens,
        notices=notices,
        why=UNSURE_YES if unsure else DONT_SAY,
    )


def extractive(context: Context, sentences: Sequence[Sentence], notices: Sequence[str]) -> Iterator[str | Answer]:
    """Step 5-7 without a model: the best sentences themselves, quoted and cited (not those of
    a chunk fetched only to continue another, `Hit.continues`)."""
    ranked = sorted((s for s in sentences if not s.hit.continues), key=lambda s: -s.score)[:3]
    best = ranked[0].score if ranked else 0.0
    chosen = [s for s in ranked if s.score >= max(RELEVANCE_FLOOR, best - EXTRACTIVE_SPREAD)]
    citations = Citations()
    kept: list[str] = []
    timings = {"retrieval": context.retrieval, "first_token": time.perf_counter() - context.t0}
    for s in chosen:
        # A document's own "[2]" or "[99]" would read as one of our citations: leave it out
        # of the answer text (the citation's quote keeps the sentence exactly).
        text = MARKER.sub("", s.text).strip()
        if text:
            kept.append(citations.mark(text, [s]))
            timings.setdefault("first_sentence", time.perf_counter() - context.t0)
            yield kept[-1] + " "
    yield assemble(
        context,
        kept=kept,
        citations=citations,
        verdicts=(),
        draft="",
        abstained_by=None if kept else "floor",
        model="extractive",
        backend="extractive",
        timings=timings,
        notices=notices,
    )


def answer(
    question: Question,
    store: Store,
    embedder: Embedder,
    model: ChatModel | None,
    settings: Settings,
    *,
    sources: Sequence[str] | None = None,
    notices: Sequence[str] = (),
    t0: float | None = None,
) -> Iterator[str | Answer]:
    """The whole answer path: each verified sentence as it passes, then the `Answer`.

    Args:
        question: From `read_question` (step 1).
        store: The open index.
        embedder: The embedder the index was built with.
        model: The chat model; None answers with quoted sentences (the extractive backend).
        settings: Budgets, top_k, the model check.
        sources: Restrict retrieval to these files.
        notices: Notices so far (a model that could not be loaded).
        t0: When the question arrived (`time.perf_counter()`), for the timings.
    """
    t0 = time.perf_counter() if t0 is None else t0
    hits, sentences, passages = find_passages(question, store, embedder, settings, sources)  # steps 2-4
    context = Context(question, tuple(hits), tuple(passages), t0, time.perf_counter() - t0)
    shown = list(notices)
    if not relevant_enough(passages):
        yield abstain_at_floor(context, settings)
    elif model is None:
        yield from extractive(context, sentences, shown)
    else:
        try:
            yield from generate(context, model, settings, shown)  # steps 5-7
        except ModelError as e:  # before anything was shown: quote the passages instead
            shown.append(f"The model failed ({e}); showing an extractive answer (quoted sentences) instead.")
            yield from extractive(context, sentences, shown)


def abstain_at_floor(context: Context, settings: Settings) -> Answer:
    """The answer when no passage is relevant enough: the documents don't say."""
    return assemble(
        context,
        kept=(),
        citations=Citations(),
        verdicts=(),
        draft="",
        abstained_by="floor",
        model="",
        backend=settings.backend,
        timings={"retrieval": context.retrieval},
    )
