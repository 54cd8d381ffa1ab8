"""`ask()` and `ask_stream()`: retrieval, generation, citation verification, abstention."""

from __future__ import annotations

import re
import time
import unicodedata
from functools import partial
from itertools import chain
from typing import Callable, Iterator, Sequence

from assistant.embedder import MiniLMEmbedder, vectors
from assistant.errors import EmptyQuestionError, ModelError, NoIndexError, QuestionTooLongError
from assistant.evidence import (Evidence, asks_for, has_time, reading_order, select_evidence,
                                without_instructions)
from assistant.lexical import refresh_lexical_index, tokenize
from assistant.llm import make_chat_model
from assistant.prompts import render
from assistant.protocols import ChatModel, Embedder
from assistant.conversation import previous_turn, question_parts, standalone_query
from assistant.retrieve import retrieve
from assistant.sentences import sentence_spans
from assistant.settings import Settings
from assistant.store import Store
from assistant.tokens import count_tokens
from assistant.types import Answer, Citation, Hit
from assistant.verify import (MARKER, DraftSentence, Support, answers_number_question, check_support,
                             covers_question, names_someone, restates, share_held, split_draft, stance,
                             takes_a_stance, taken_from)

RELEVANCE_FLOOR = 0.30   # best evidence below this: the documents do not answer (see evals)
EXTRACTIVE_SPREAD = 0.08  # extra extractive sentences must score within this of the best
MISLEADING_SOURCES = 2  # a rejected answer found in more evidence sentences than this is not pinpointed
MAX_CHARS_PER_TOKEN = 16  # a reply longer than max_answer_tokens * this ignored its token limit
NOT_FOUND = "NOT_FOUND"
_ABSTAIN_SENTENCE = re.compile(
    r"NOT_FOUND|\b(evidence|documents?|sources?|text|passages?)\b.{0,40}\b(does not|doesn't|do not|don't|"
    r"not)\b.{0,20}\b(say|mention|contain|provide|specify|state|include|answer)", re.IGNORECASE)


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
            f"the question is too long (limit {settings.max_question_tokens} tokens): "
            "ask about one thing at a time")
    return text


def search(query: str, *, settings: Settings | None = None, top_k: int | None = None,
           sources: Sequence[str] | None = None, embedder: Embedder | None = None) -> list[Hit]:
    """Retrieve passages only (hybrid dense + BM25), best first; no generation."""
    settings = (settings or Settings.from_env()).replace(top_k=top_k)
    q = clean_question(query, settings)
    store = Store.open(settings, embedder or MiniLMEmbedder())
    return retrieve(store, q, top_k=settings.top_k, sources=sources)


def status(*, settings: Settings | None = None, embedder: Embedder | None = None) -> dict:
    """What is indexed: location, embedder, files, chunks, pending files, last sync, sources.

    Raises:
        NoIndexError: Nothing ingested yet.
    """
    return Store.open(settings or Settings.from_env(), embedder or MiniLMEmbedder()).info()


def document_text(source: str, *, settings: Settings | None = None,
                  embedder: Embedder | None = None) -> str | None:
    """The full text of an indexed document (citation offsets refer to it), or None."""
    settings = settings or Settings.from_env()
    store = Store.open(settings, embedder or MiniLMEmbedder())
    text = store.document_text(source)
    if text is None:
        record = store.files().get(source)
        if record is not None:
            from pathlib import Path
            path = Path(record.root) / source
            try:
                from ingest.loaders import load_document
                text = load_document(path, max_bytes=settings.max_file_bytes).text
            except Exception:  # the file may be gone or unreadable: the caller shows "not available"
                text = None
    return text


def ask(question: str, *, history: Sequence[dict] | None = None, settings: Settings | None = None,
        **options) -> Answer:
    """Answer `question` from the indexed documents, with verified citations.

    Args:
        question: The user's question.
        history: Earlier turns as `{"role": "user"|"assistant", "content": str}` dicts;
            used to resolve follow-ups ("Where does he work?").
        settings: Defaults to `Settings.from_env()`.
        **options: `backend`, `top_k`, `sources` (restrict to these files), `chat_model`
            (a `ChatModel` instance), `embedder`.

    Returns:
        An `Answer`: every sentence of `text` is backed by a `Citation`, or `abstained` is
        true and `text` says the documents don't answer.

    Raises:
        EmptyQuestionError, QuestionTooLongError: Bad question.
        NoIndexError: Nothing ingested yet.
        StoreError: The vector store failed.
    """
    answer = None
    for item in ask_stream(question, history=history, settings=settings, **options):
        if isinstance(item, Answer):
            answer = item
    assert answer is not None
    return answer


def ask_stream(question: str, *, history: Sequence[dict] | None = None,
               settings: Settings | None = None, backend: str | None = None,
               top_k: int | None = None, sources: Sequence[str] | None = None,
               chat_model: ChatModel | None = None,
               embedder: Embedder | None = None) -> Iterator[str | Answer]:
    """Like `ask()`, but yields verified answer sentences as they are produced, then the `Answer`.

    Only sentences that passed verification are yielded, so what the user sees streaming is
    what the final answer says.
    """
    t0 = time.perf_counter()
    settings = (settings or Settings.from_env()).replace(backend=backend, top_k=top_k)
    q = clean_question(question, settings)
    embedder = embedder or MiniLMEmbedder()
    store = Store.open(settings, embedder)
    if store.count() == 0:
        raise NoIndexError("the index is empty: run `rag ingest` first")
    asked = without_instructions(q)
    query = standalone_query(asked, history)
    parts = question_parts(query) if query == asked else [query]  # a follow-up is one question
    if len(parts) == 1:
        hits = retrieve(store, query, top_k=settings.top_k, sources=sources)
        evidence = select_evidence(query, hits, embedder, budget_tokens=settings.context_tokens,
                                   index=refresh_lexical_index(store))
        run = _Run(q, query, hits, reading_order(evidence), embedder, t0)
        if asks_for(run.asked) == "yes-no":
            run.more = partial(_more_evidence, store, query, hits, embedder, settings, sources)
    else:
        run = _two_part_run(q, query, parts, store, embedder, settings, sources, t0)
    run.timings["retrieval"] = time.perf_counter() - t0

    if not run.evidence or max(ev.score for ev in run.evidence) < RELEVANCE_FLOOR:
        yield run.finish(model="", backend=settings.backend, abstain=True)
        return

    model = chat_model if chat_model is not None else None
    notices: list[str] = []
    if model is None and settings.backend != "extractive":
        try:
            model = make_chat_model(settings, settings.backend)
        except ModelError as e:
            notices.append(f"The {settings.backend} model is unavailable ({e}); "
                           "showing an extractive answer (quoted sentences) instead.")
    if model is None:
        yield from run.extractive(notices)
        return
    try:
        yield from run.generate(model, settings, history, notices)
    except ModelError as e:
        if run.kept:
            notices.append(f"The model stopped early ({e}); the answer may be incomplete.")
            yield run.finish(model=model.name, backend=settings.backend, notices=notices)
        else:
            notices.append(f"The model failed ({e}); showing an extractive answer (quoted sentences) instead.")
            yield from run.extractive(notices)


YES_NO_DEPTH = 3  # yes/no questions look for the other account in top_k * this many passages


def _more_evidence(store: Store, query: str, hits: Sequence[Hit], embedder: Embedder, settings: Settings,
                   sources: Sequence[str] | None) -> list[Evidence]:
    """The sentences of the passages ranked after `hits` (to `top_k * YES_NO_DEPTH`), best first."""
    seen = {h.chunk.id for h in hits}
    deeper = [h for h in retrieve(store, query, top_k=settings.top_k * YES_NO_DEPTH, sources=sources)
              if h.chunk.id not in seen]
    return select_evidence(query, deeper, embedder, budget_tokens=1 << 30,
                           index=refresh_lexical_index(store), max_sentences=1 << 30)


def _two_part_run(question: str, query: str, parts: Sequence[str], store: Store, embedder: Embedder,
                  settings: Settings, sources: Sequence[str] | None, t0: float) -> _Run:
    """A `_Run` for a question of two parts (`question_parts`), each with its own evidence.

    Each part is searched on its own; the second with the first part's names when it refers
    back ("through which country has it routed weapons?"). The answer's hits alternate
    between the parts' hits.
    """
    queries = [parts[0], standalone_query(parts[1], [{"role": "user", "content": parts[0]}])]
    index = refresh_lexical_index(store)
    evidence: list[Evidence] = []
    at: dict[tuple[str, int], int] = {}  # (source, start) -> index in evidence: a sentence both parts use
    shown: list[list[int]] = []
    part_hits = []
    for part_query in queries:
        hits = retrieve(store, part_query, top_k=settings.top_k, sources=sources)
        part_hits.append(hits)
        indexes = []
        for ev in reading_order(select_evidence(part_query, hits, embedder,
                                                budget_tokens=settings.context_tokens, index=index)):
            key = (ev.hit.chunk.source, ev.start)
            if key not in at:
                at[key] = len(evidence)
                evidence.append(ev)
            indexes.append(at[key])
        shown.append(indexes)
    merged: dict[str, Hit] = {}  # chunk id -> its first hit, alternating between the parts
    for pair in zip(*part_hits):
        for h in pair:
            merged.setdefault(h.chunk.id, h)
    return _Run(question, query, list(merged.values())[:settings.top_k], evidence, embedder, t0,
                parts=list(zip(parts, shown)))


class _Run:
    """State of one question: evidence, verified sentences so far, numbering, timings.

    A question of two parts (`question_parts`) is answered part by part: each part is a draft
    of its own over its own evidence (`parts`: the part and the indexes of `evidence` shown
    for it), verified against that part.
    """

    def __init__(self, question: str, query: str, hits: list[Hit], evidence: list[Evidence],
                 embedder: Embedder, t0: float, parts: Sequence[tuple[str, list[int]]] | None = None) -> None:
        self.question, self.query, self.hits, self.evidence = question, query, hits, evidence
        self.asked = without_instructions(question)  # what answers are checked against
        self.parts = list(parts) if parts else [(self.question, list(range(len(evidence))))]
        self.shown = self.parts[0][1]  # the evidence shown to the model now: its [1] is shown[0]
        self.part_start = 0  # claims before this index answer earlier parts
        self.part_rejected = 0  # ... and these rejected sentences were theirs
        self.unanswered: list[str] = []  # parts the documents did not answer
        # Yes/no questions: the sentences of the next passages, best first (read when needed).
        self.more: Callable[[], list[Evidence]] = list
        self.embedder = embedder
        self.t0 = t0
        self.timings: dict[str, float] = {}
        self.tokens: dict[str, int] = {}
        self.kept: list[str] = []
        self.claims: list[tuple[str, list[int]]] = []  # verified sentences (no markers), what they cite
        self.held: list[str] = []  # verified, not yet shown: nothing so far gives what was asked
        self.answered = False
        self.unsupported: list[str] = []
        self.numbering: dict[int, int] = {}  # evidence index -> citation number shown
        self.repaired = 0
        self.context = {ev.text: _with_neighbours(ev) for ev in evidence}

    # ---- verification ----------------------------------------------------------------------

    def similarity(self, sentence: str, texts: Sequence[str]) -> float:
        """Max cosine between a sentence and any of `texts`."""
        matrix = vectors.embed(self.embedder, [sentence, *texts])
        return float(max(matrix[1:] @ matrix[0]))

    def _supports(self, sentence: str, texts: Sequence[str]) -> Support:
        """`check_support` with this question, its evidence context and MiniLM similarity."""
        return check_support(sentence, texts, similarity=self.similarity, question=self.asked,
                             context=self.context)

    def verify(self, ds: DraftSentence) -> str | None:
        """Verify one draft sentence; return it with renumbered markers, or None if dropped."""
        if _ABSTAIN_SENTENCE.search(ds.text) or restates(ds.text, self.asked):
            # "NOT_FOUND", "the evidence does not say", or a restatement of the question
            # that adds nothing to it: not an answer, and not a claim to verify either.
            return None
        n = len(self.shown)
        cited = [self.shown[m - 1] for m in ds.markers if 1 <= m <= n]
        if len(cited) != len(ds.markers):
            self.repaired += 1  # out-of-range markers are dropped
        texts = [self.evidence[i].text for i in cited]
        support = self._supports(ds.text, texts) if cited else None
        if support is None or not support.ok:
            cited = self._repair(ds.text)
            if cited is None:
                self.unsupported.append(ds.text)
                return None
            self.repaired += 1
        elif len(cited) > 1:
            cited = self._prune(ds.text, cited)
        self.claims.append((ds.text, list(cited)))
        numbers = []
        for i in cited:
            self.numbering.setdefault(i, len(self.numbering) + 1)
            numbers.append(self.numbering[i])
        return _with_markers(ds.text, sorted(set(numbers)))

    def _repair(self, sentence: str) -> list[int] | None:
        """Evidence indexes that support `sentence` (one, or two together), or None."""
        verdicts = [(i, self._supports(sentence, [self.evidence[i].text])) for i in self.shown]
        ok = [(v.overlap, -i, i) for i, v in verdicts if v.ok]
        if ok:
            return [max(ok)[2]]
        # Pairs from the texts holding most of the sentence: "The war against Ukraine began in
        # February 2022" is "the war began in February 2022" [3] with "Russia's war against
        # Ukraine" [6]. (A verdict's overlap is 0 when a name or number is missing: no ranking.)
        best = sorted(self.shown, key=lambda i: -share_held(sentence, self.evidence[i].text))[:4]
        for a in range(len(best)):
            for b in range(a + 1, len(best)):
                pair = sorted([best[a], best[b]])
                if self._supports(sentence, [self.evidence[i].text for i in pair]).ok:
                    return pair
        return None

    def _prune(self, sentence: str, cited: list[int]) -> list[int]:
        """Drop citations the sentence does not need (ALCE citation precision)."""
        kept = list(cited)
        for i in list(cited):
            rest = [j for j in kept if j != i]
            if rest and self._supports(sentence, [self.evidence[j].text for j in rest]).ok:
                kept = rest
        return kept

    # ---- answering -------------------------------------------------------------------------

    def generate(self, model: ChatModel, settings: Settings, history: Sequence[dict] | None,
                 notices: list[str]) -> Iterator[str | Answer]:
        """Stream the model's draft, verifying and yielding whole sentences: one draft per part
        of the question (`_answer_part`), then, for one part, another source's version."""
        context = ""
        if self.query != self.asked:
            prev_q, prev_a = previous_turn(history)
            context = render("followup_context", previous=prev_q, answer=prev_a or "(none)")
        whole = self.asked
        for part, shown in self.parts:
            if len(self.parts) > 1:
                self._forget_unshown()
                self.asked, self.shown = part, shown
                self.answered = False
                self.part_start, self.part_rejected = len(self.claims), len(self.unsupported)
                if max(self.evidence[i].score for i in shown) < RELEVANCE_FLOOR:
                    self.unanswered.append(part)
                    continue
            kept = len(self.kept)
            yield from self._answer_part(model, settings, context, part)
            if len(self.kept) == kept:
                self.unanswered.append(part)
        if len(self.parts) > 1:
            self._forget_unshown()
        if len(self.parts) == 1 and self.kept:
            yield from self._other_version(notices)
        elif self.kept and self.unanswered:
            notices.append("The documents don't answer this part of the question: "
                           + " ".join(f"\"{p}\"" for p in self.unanswered))
        self.asked = whole
        yield self.finish(model=model.name, backend=settings.backend, notices=notices,
                          abstain=not self.kept)

    def _forget_unshown(self) -> None:
        """Drop the current part's verified sentences that were never shown (none of them gave
        what the part asks), with the citation numbers only they used, which come last."""
        if self.held and not self.answered:
            del self.claims[self.part_start:]
            used = {i for _, cited in self.claims for i in cited}
            self.numbering = {i: n for i, n in self.numbering.items() if i in used}
        self.held.clear()

    def _answer_part(self, model: ChatModel, settings: Settings, context: str, question: str) -> Iterator[str]:
        """Draft and verify an answer to `question` (the question, or one of its parts) over
        the evidence `shown`; when everything the draft said was rejected, try once more.

        - The rejected answer was taken from one or two passages ("Vassily Nebenzia." for the
          ambassador to Seoul: the passage is about the ambassador to the UN): asked again
          without them.
        - Otherwise ("June 2023 [4]." put together from "in 2023" and "last June"): asked again
          for a full sentence from the evidence, the 1.5B model copied [4] ("A major defense
          agreement was signed between the two countries in 2023"); asked again for "what the
          evidence says", it said "June 2023" again.

        Nothing of the part was shown, so the second draft streams as if it were the first.
        """
        if asks_for(question) == "yes-no":
            # Asked "Have NATO officials confirmed ...?", the 1.5B model answered NOT_FOUND with the
            # confirmation in [1], or a bare "Yes [3]."; asked what the evidence says, it answered
            # with the confirmation, cited.
            first = again = render("evidence_question", question=question.strip())
        else:
            first, again = question, render("sentence_question", question=question.strip())
        yield from self._draft(model, settings, context, first)
        if self.claims[self.part_start:] or not self.unsupported[self.part_rejected:]:
            return
        misleading = self._misleading()
        self.shown = [i for i in self.shown if self.evidence[i].text not in misleading]
        if self.shown:
            yield from self._draft(model, settings, context, first if misleading else again)

    def _draft(self, model: ChatModel, settings: Settings, context: str, question: str) -> Iterator[str]:
        """One draft from the model over the evidence shown, verified sentence by sentence."""
        evidence_text = "\n".join(f"[{k + 1}] {self.evidence[i].text}" for k, i in enumerate(self.shown))
        messages = prompt_messages(evidence_text, context, question)
        self.tokens["prompt"] = self.tokens.get("prompt", 0) + sum(count_tokens(m["content"]) for m in messages)
        draft, done_upto = "", 0
        t_gen = time.perf_counter()
        for piece in model.stream(messages, max_tokens=settings.max_answer_tokens, temperature=0.0):
            if "first_token" not in self.timings:
                self.timings["first_token"] = time.perf_counter() - self.t0
            draft += piece
            if len(draft) > settings.max_answer_tokens * MAX_CHARS_PER_TOKEN:
                # An endpoint that ignores max_tokens would stream forever, and an unended
                # sentence is re-scanned for every piece: stop; the unfinished tail is dropped.
                raise ModelError(f"the reply ran past {len(draft):,} characters "
                                 f"(more than {settings.max_answer_tokens} tokens)")
            spans = sentence_spans(draft, done_upto)
            if len(spans) >= 2 and not draft[spans[-1][0]:].lstrip().startswith("["):
                cut = spans[-1][0]
                yield from self._accept(draft[done_upto:cut])
                done_upto = cut
        yield from self._accept(draft[done_upto:])
        self.timings["generation"] = self.timings.get("generation", 0.0) + time.perf_counter() - t_gen
        self.tokens["completion"] = self.tokens.get("completion", 0) + count_tokens(draft)
        if not draft.strip():
            raise ModelError("the model returned an empty reply")

    def _misleading(self) -> set[str]:
        """The evidence sentences shown that this part's rejected sentences were taken from.

        A rejected sentence was taken from the evidence sentences holding all of its numbers and
        names, if there are one or two ("Vassily Nebenzia."); names found nearly everywhere
        ("North Korea sent no troops to Russia.") do not tell where it came from.
        """
        rejected = self.unsupported[self.part_rejected:]
        texts = [self.evidence[i].text for i in self.shown]
        found = [taken_from(sentence, texts) for sentence in rejected]
        return {t for sources in found if len(sources) <= MISLEADING_SOURCES for t in sources}

    def _other_account(self) -> tuple[int, str] | None:
        """The most relevant uncited evidence sentence that answers the question otherwise than
        the answer, and the notice to show with it; None when there is none.

        - "how many": a sentence that answers it (`answers_number_question`) with numbers the
          answer does not have ("10,000" against "12,000"); it may be cited already, for a name.
        - yes/no ("Has North Korea denied ...?"): a sentence from another document that speaks
          of what was asked and answers it otherwise (`stance`): "refrained from sending
          weapons" where the answer says it supplied them; "said nothing" where it says North
          Korea denied. It may come from the passages ranked below the evidence (`more`): the
          other account is often a document the question's wording matches less well.
        """
        kind = asks_for(self.asked)
        cited = {i for _, c in self.claims for i in c}
        said = " ".join(text for text, _ in self.claims)
        best_first = sorted(((i, self.evidence[i]) for i in self.shown), key=lambda iev: -iev[1].score)
        if kind == "number":
            given = _figures(said)
            for i, ev in best_first:
                figures = _figures(ev.text)
                if not figures or figures & given or MARKER.search(ev.text):  # may be cited for a name
                    continue
                # Read with its own neighbours only: quoted whole, it borrows nothing from elsewhere.
                alone = {ev.text: self.context[ev.text]}
                if (answers_number_question(ev.text, [ev.text], self.asked, alone)
                        and covers_question([self.context[ev.text]], self.asked)):
                    return i, "The sources give different figures for this; each is shown with its source."
        if kind == "yes-no":
            sources = {self.evidence[i].hit.chunk.source for i in cited}
            answer_stance = stance(said)
            # The passages below the evidence are read only when the evidence has no other account.
            candidates = chain(best_first, ((None, ev) for ev in self.more()))
            for i, ev in candidates:
                if i in cited or ev.hit.chunk.source in sources or MARKER.search(ev.text):
                    continue
                context = self.context.get(ev.text) or _with_neighbours(ev)
                if (stance(ev.text) != answer_stance and takes_a_stance(ev.text, self.asked)
                        and covers_question([context], self.asked)):
                    if i is None:  # from the passages ranked below the evidence: cite it too
                        self.evidence.append(ev)
                        self.context[ev.text] = context
                        i = len(self.evidence) - 1
                    return i, "The sources differ on this; each account is shown with its source."
        return None

    def _quote(self, i: int) -> str:
        """Evidence sentence `i` verbatim as a kept, cited answer sentence."""
        self.numbering.setdefault(i, len(self.numbering) + 1)
        text = self.evidence[i].text.strip()
        sentence = _with_markers(text, [self.numbering[i]])
        self.claims.append((text, [i]))
        self.kept.append(sentence)
        return sentence + " "

    def _other_version(self, notices: list[str]) -> Iterator[str]:
        """Add the evidence sentence that answers otherwise (`_other_account`), verbatim and cited.

        Sources disagree ("12,000 troops" in one article, "10,000" in another; "has supplied
        weapons to third parties" against "has refrained from sending weapons"), and a small
        model tends to give one version. (Dates were tried too; "when" matches too many dates
        of other events.)
        """
        other = self._other_account()
        if other is not None:
            i, notice = other
            notices.append(notice)
            yield self._quote(i)

    def answers_the_question(self) -> bool:
        """Does the verified answer hold what the question asks for?

        Every sentence may be true to its source and still not answer: "up to 12,000 soldiers
        could arrive" for "how many were killed", "most South Koreans oppose it" for "what
        percentage". A "how many" answer needs a number from a sentence that speaks of what
        was asked; a "when" answer needs a date or time. And what the answer's sources say must
        cover what the question asks about (`covers_question`). The answer's own words do not
        count: a model that fills the question in with a name ("South Korean intelligence
        officers gave estimates of the deployment", citing a sentence on interrogations) echoes
        the question, and the echo would cover it.
        """
        claims = self.claims[self.part_start:]
        spoken = [self.context[self.evidence[i].text] for _, cited in claims for i in cited]
        if not covers_question(spoken, self.asked):
            return False
        kind = asks_for(self.asked)
        if kind == "number":
            return any(answers_number_question(text, [self.evidence[i].text for i in cited], self.asked,
                                               self.context) for text, cited in claims)
        if kind == "time":
            return any(has_time(text) for text, _ in claims)
        if kind == "name":  # "Who leads the delegation, by name?": "officials from the NIS" is no name
            return any(names_someone(text) for text, _ in claims)
        return True

    def _accept(self, segment: str) -> Iterator[str]:
        """Verify the sentences of `segment`; release them once the answer holds what was asked.

        Until a sentence gives what the question asks for (a number, a date), verified
        sentences are held back; if none ever does, they are never shown and the answer
        abstains. So the streamed text is always the final text.
        """
        for ds in split_draft(segment):
            verified = self.verify(ds)
            if not verified:
                continue
            self.held.append(verified)
            if self.answered or self.answers_the_question():
                self.answered = True
                for sentence in self.held:
                    self.kept.append(sentence)
                    yield sentence + " "
                self.held.clear()

    def extractive(self, notices: list[str]) -> Iterator[str | Answer]:
        """Answer with the best evidence sentences themselves, quoted and cited."""
        ranked = sorted(range(len(self.evidence)), key=lambda i: -self.evidence[i].score)[:3]
        best = self.evidence[ranked[0]].score
        chosen = [i for i in ranked if self.evidence[i].score >= max(RELEVANCE_FLOOR, best - EXTRACTIVE_SPREAD)]
        self.timings.setdefault("first_token", time.perf_counter() - self.t0)
        for i in chosen:
            # A document's own "[2]" or "[99]" would read as one of our citations: leave it out
            # of the answer text (the citation's quote keeps the sentence exactly).
            text = MARKER.sub("", self.evidence[i].text).strip()
            if not text:
                continue
            self.numbering.setdefault(i, len(self.numbering) + 1)
            sentence = _with_markers(text, [self.numbering[i]])
            self.kept.append(sentence)
            yield sentence + " "
        yield self.finish(model="extractive", backend="extractive", notices=notices,
                          abstain=not self.kept)

    def finish(self, *, model: str, backend: str, notices: Sequence[str] = (),
               abstain: bool = False) -> Answer:
        """Assemble the final `Answer`."""
        self.timings["total"] = time.perf_counter() - self.t0
        if abstain:
            text = abstention_text(self.hits)
            citations: tuple[Citation, ...] = ()
        else:
            text = " ".join(self.kept)
            citations = tuple(self.evidence[i].citation(n) for i, n in
                              sorted(self.numbering.items(), key=lambda kv: kv[1]))
        return Answer(text=text, citations=citations, hits=tuple(self.hits), abstained=abstain,
                      unsupported=tuple(self.unsupported), model=model, backend=backend,
                      question=self.question, query=self.query, timings=dict(self.timings),
                      tokens=dict(self.tokens), notices=tuple(notices), repaired=self.repaired)


def _with_markers(text: str, numbers: Sequence[int]) -> str:
    """`text` with `[n]` markers before its final punctuation ("... troops [1][2].")."""
    markers = "".join(f"[{n}]" for n in numbers)
    return f"{text[:-1]} {markers}{text[-1]}" if text[-1:] in ".!?" else f"{text} {markers}"


def _figures(text: str) -> set[str]:
    """The numbers in `text` other than years ("12,000 troops in 2024" -> {"12000"})."""
    return {n.replace(",", "").rstrip(",") for n in re.findall(r"\d[\d,]*", text)
            if not re.fullmatch(r"(19|20)\d\d,?", n)}


def _with_neighbours(ev: Evidence) -> str:
    """The evidence sentence with the sentences before and after it in its chunk."""
    chunk = ev.hit.chunk
    spans = sentence_spans(chunk.text)
    at = ev.start - chunk.start
    for k, (s, e) in enumerate(spans):
        if s <= at < e:
            lo, hi = spans[max(0, k - 1)][0], spans[min(len(spans) - 1, k + 1)][1]
            return chunk.text[lo:hi]
    return ev.text


def warm_up(model: ChatModel) -> None:
    """Have `model` read the fixed prompt prefix now, so the first question does not wait for it.

    The system prompt and worked examples are the same for every question; a local model
    keeps them in its KV cache after one reply (measured with the 1.5B model: first token
    about 10 s cold, 3-4 s warm). The UI calls this in the background when it loads a local
    model. Errors are the caller's to ignore: a failed warm-up costs nothing but time.
    """
    for _ in model.stream(prompt_messages("[1] (none)", "", "(warm-up)"), max_tokens=1, temperature=0.0):
        pass


def prompt_messages(evidence: str, context: str, question: str) -> list[dict]:
    """The chat messages for one question.

    Everything before the last message is the same for every question (system prompt and
    two worked examples: a cited answer and NOT_FOUND), so
    llama.cpp reuses its KV cache for that prefix and only the evidence and question are
    prefilled per question.
    """
    return [
        {"role": "system", "content": render("system")},
        {"role": "user", "content": render("example_question")},
        {"role": "assistant", "content": render("example_answer").strip()},
        {"role": "user", "content": render("example_question_2")},
        {"role": "assistant", "content": render("example_answer_2").strip()},
        {"role": "user", "content": render("question", evidence=evidence, context=context, question=question)},
    ]


def abstention_text(hits: Sequence[Hit]) -> str:
    """What an abstaining answer says: no answer, and where the closest passages are."""
    text = "The documents don't say."
    near = []
    for h in hits[:3]:
        label = f"{h.chunk.source} (lines {h.chunk.line_start}-{h.chunk.line_end})"
        if label not in near:
            near.append(label)
    if near:
        text += " The closest passages are in " + ", ".join(near) + "."
    return text
