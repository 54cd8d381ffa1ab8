"""The faithfulness checker: does a set of passages support a claim?

`Checker.supports(claim, passages)` combines two judges:

* **rules**: `assistant.grounding.verify.check_claim`, the same deterministic checks the answer
  pipeline applies (the claim's numbers, names and words are in the passages, and it adds no
  negation they lack), every one counting: answers leave a sentence that fails only "words"
  to the model check, and the rules alone have no model to ask;
* **llm**: a chat model asked one yes/no question, "does the evidence show that the proposed
  answer is correct, with every name, number and date in it right?" (prompt
  `prompts/judge.txt`; `prompts/judge_statement.txt` for a claim without a question;
  temperature 0), read as the share of yes in P(yes) + P(no) for its first token
  (`assistant.generation.llm.yes_probability`); the claim passes at `JUDGE_THRESHOLD` or
  above. The judge is the local model by default or any OpenAI-compatible endpoint
  (`make_chat_model`); an endpoint that sends no logprobs is asked for one token, and only a
  "yes" passes.

Modes: "rules" (deterministic only), "llm" (the model only), "both" (both must agree the
claim is supported; the default when a judge model is given) and "answers": exactly the checks
answers get (`check_claim` with the question, then `assistant.pipeline.model_check`, the
one-token question in the answer prompt's form), to measure the checker in use. In "both" mode the model is only
asked when the rules pass, since a claim the rules reject is rejected anyway.

With a question (`supports(claim, passages, question)` or `for_question`), the model judge
reads the claim as the proposed answer to that question, the form its HaluEval accuracy is
measured in: an answer such as "Robert Wood." states nothing on its own, and judged alone it
is "not supported" however right it is. The rules get the question only in "answers" mode,
as in the pipeline.

Verdicts are cached per (claim, passages), so the repeated checks of citation precision cost
nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.errors import ModelUnavailableError
from assistant.generation.llm import make_chat_model, yes_probability
from assistant.generation.prompts import template
from assistant.grounding.verify import CHECKS, Checks, Similarity, check_claim
from assistant.pipeline import model_check, prompt_messages
from assistant.protocols import ChatModel, Embedder
from assistant.settings import DEFAULT_CHECKS, Settings

__all__ = ["JUDGE_MODES", "JUDGE_THRESHOLD", "Checker", "Verdict", "embedding_similarity"]

JUDGE_MODES = ("rules", "llm", "both", "answers")

JUDGE_THRESHOLD = 0.5
"""P(yes) a claim needs from the model judge. Chosen on the HaluEval tune half (60 questions,
120 answers, the 1.5B model): see `evals/README.md`, "The faithfulness checker"."""


@dataclass(frozen=True)
class Verdict:
    """The checker's decision on one (claim, passages) pair.

    Attributes:
        supported: The final decision.
        rules: The deterministic verdict (None when the mode skips the rules).
        llm: The model's verdict (None when not asked).
        p_yes: The model's P(yes), when it was asked.
    """

    supported: bool
    rules: Checks | None = None
    llm: bool | None = None
    p_yes: float | None = None

    @property
    def reply(self) -> str | None:
        """What the model said, "P(yes) 0.734" (None when it was not asked)."""
        return None if self.p_yes is None else f"P(yes) {self.p_yes:.3f}"

    @property
    def reason(self) -> str:
        """Why a claim was rejected ("" when supported)."""
        if self.supported:
            return ""
        if self.rules is not None and not self.rules.ok:
            return f"rules: {self.rules.reason}"
        return f"judge: {self.reply}" if self.reply else "judge: not supported"


def embedding_similarity(embedder: Embedder) -> Similarity:
    """A `similarity(sentence, texts) -> max cosine` callable over `embedder`, with a vector cache."""
    vectors: dict[str, np.ndarray] = {}
    lock = threading.Lock()

    def vector(text: str) -> np.ndarray:
        with lock:
            found = vectors.get(text)
        if found is None:
            found = np.asarray(embedder.embed([text])[0], dtype=np.float32)
            with lock:
                vectors[text] = found
        return found

    def similarity(sentence: str, texts: Sequence[str]) -> float:
        v = vector(sentence)
        return max(float(v @ vector(t)) for t in texts)

    return similarity


class Checker:
    """The project's faithfulness checker (see the module docstring).

    Usable wherever a `supports(claim, passages) -> bool` callable is expected, e.g.
    `evals.metrics.citation_scores`.

    Attributes:
        mode: "rules", "llm" or "both".
        judge: The judge chat model (None in "rules" mode).
        stats: Counters: "checks", "cache_hits", "llm_calls", "rules_rejected", "llm_rejected".
    """

    def __init__(
        self,
        mode: str | None = None,
        *,
        judge: ChatModel | None = None,
        similarity: Similarity | None = None,
        judge_threshold: float = JUDGE_THRESHOLD,
        threshold: float = Settings.model_check_threshold,
    ) -> None:
        """Configure the checker; nothing is loaded here.

        Args:
            mode: "rules", "llm" or "both"; default "both" with a judge, else "rules".
            judge: The chat model asked for verdicts (needed by "llm" and "both").
            similarity: Accepted for callers that pass one; the rules are lexical.
            judge_threshold: P(yes) the "llm" and "both" modes' judge needs.
            threshold: P(yes) the "answers" mode's model check needs (as in answers).

        Raises:
            ValueError: Unknown mode, or a model mode without a judge.
        """
        mode = mode or ("both" if judge is not None else "rules")
        if mode not in JUDGE_MODES:
            raise ValueError(f"unknown judge mode {mode!r}; choose one of {', '.join(JUDGE_MODES)}")
        if mode != "rules" and judge is None:
            raise ValueError(f"judge mode {mode!r} needs a judge model")
        self.mode = mode
        self.judge = judge if mode != "rules" else None
        self.judge_threshold = judge_threshold
        self.threshold = threshold
        self.stats = {
            "checks": 0,
            "cache_hits": 0,
            "llm_calls": 0,
            "rules_rejected": 0,
            "llm_rejected": 0,
        }
        self._cache: dict[tuple[str, tuple[str, ...], str], Verdict] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        mode: str | None = None,
        *,
        backend: str | None = None,
        embedder: Embedder | None = None,
    ) -> Checker:
        """Build a checker whose judge is the configured model.

        Args:
            settings: Model paths and endpoint.
            mode: "rules", "llm" or "both". None means "both" when the judge model is
                installed (or the endpoint configured), else "rules".
            backend: Judge backend: "local", "local-small" or "openai"; default the
                settings' backend, or "local" when that is "extractive".
            embedder: Adds embedding similarity to the rules.

        Raises:
            ModelUnavailableError: A model mode was asked for and the judge is unavailable.
            ValueError: Unknown mode or backend.
        """
        similarity = embedding_similarity(embedder) if embedder is not None else None
        if mode == "rules":
            return cls("rules", similarity=similarity)
        backend = backend or (settings.backend if settings.backend != "extractive" else "local")
        if backend == "extractive":
            raise ValueError(
                "the extractive backend has no model to judge with; "
                "choose local, local-small or openai as the judge backend"
            )
        try:
            judge = make_chat_model(settings, backend)
        except ModelUnavailableError:
            if mode is None:
                return cls("rules", similarity=similarity)
            raise
        return cls(mode or "both", judge=judge, similarity=similarity)

    @property
    def name(self) -> str:
        """A short description for reports, e.g. "both (rules + qwen2.5-coder-0.5b...)"."""
        if self.mode == "rules":
            return "rules"
        model = getattr(self.judge, "name", "model")
        return f"{self.mode} ({'rules + ' if self.mode == 'both' else ''}{model})"

    def __call__(self, claim: str, passages: Sequence[str]) -> bool:
        return self.supports(claim, passages)

    def supports(self, claim: str, passages: Sequence[str], question: str = "") -> bool:
        """True when `passages` taken together support `claim` (see the module docstring).

        Raises:
            ModelError: The judge model failed.
        """
        return self.check(claim, passages, question).supported

    def for_question(self, question: str) -> Callable[[str, Sequence[str]], bool]:
        """`supports` with the question fixed: the judge for the sentences of one answer."""
        return lambda claim, passages: self.supports(claim, passages, question)

    def check(self, claim: str, passages: Sequence[str], question: str = "") -> Verdict:
        """The full verdict on (claim, passages), from the cache when already judged.

        Raises:
            ModelError: The judge model failed.
        """
        key = (claim, tuple(passages), question)
        with self._lock:
            self.stats["checks"] += 1
            cached = self._cache.get(key)
            if cached is not None:
                self.stats["cache_hits"] += 1
                return cached
        verdict = self._decide(claim, list(passages), question)
        with self._lock:
            self._cache[key] = verdict
        return verdict

    def _decide(self, claim: str, passages: list[str], question: str) -> Verdict:
        if not passages or not claim.strip():
            return Verdict(
                False, Checks({"cites": False}, {"cites": "cites nothing" if not passages else "no content"})
            )
        rules = None
        if self.mode in ("rules", "both", "answers"):
            # Without the model to settle a doubt, every check counts (`Settings.model_decides`).
            checks = DEFAULT_CHECKS if self.mode == "answers" else CHECKS
            rules = check_claim(claim, " ".join(passages), question if self.mode == "answers" else "", checks)
            if not rules.ok:
                with self._lock:
                    self.stats["rules_rejected"] += 1
                return Verdict(False, rules)
            if self.mode == "rules":
                return Verdict(True, rules)
        if self.mode == "answers":
            assert self.judge is not None
            shown = _numbered(passages)
            llm, p_yes = model_check(
                self.judge, prompt_messages(shown, question), question, shown, claim, self.threshold
            )
        else:
            p_yes = self._ask(claim, passages, question)
            llm = p_yes >= self.judge_threshold
        with self._lock:
            self.stats["llm_calls"] += 1
            if not llm:
                self.stats["llm_rejected"] += 1
        return Verdict(llm, rules, llm, p_yes)

    def _ask(self, claim: str, passages: list[str], question: str) -> float:
        """The judge's P(yes) that `passages` show `claim` (an answer to `question`, if given) is right."""
        assert self.judge is not None
        evidence = _numbered(passages)
        claim, question = " ".join(claim.split()), " ".join(question.split())
        if question:
            prompt = template("judge", "evals").format(evidence=evidence, question=question, answer=claim)
        else:
            prompt = template("judge_statement", "evals").format(evidence=evidence, claim=claim)
        return yes_probability(self.judge, [{"role": "user", "content": prompt}])


def _numbered(passages: Sequence[str]) -> str:
    """The passages as the judge is shown them: "[1] ...", one a line, whitespace collapsed."""
    return "\n".join(f"[{i}] {' '.join(p.split())}" for i, p in enumerate(passages, start=1))
