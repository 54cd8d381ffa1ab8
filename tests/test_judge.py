"""The faithfulness checker: rules, a scripted judge (verdict parsing, caching), and the real judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ModelUnavailableError
from assistant.generation.llm import ScriptedChat
from assistant.settings import Settings
from evals.judge import JUDGE_THRESHOLD, Checker, embedding_similarity
from evals.metrics import citation_scores

EVIDENCE = (
    "Last week, South Korean intelligence said North Korea had already sent about 1,500 special "
    "forces to Russia and planned to deploy a total of 12,000 elite troops."
)
BUDANOV = "Lt. Gen. Kyrylo Budanov, head of Ukraine's Defense Intelligence Directorate, said more would emerge."

SUPPORTED_CLAIM = "North Korea planned to deploy a total of 12,000 elite troops."
CONTRADICTED_CLAIM = "North Korea planned to deploy a total of 50,000 elite troops."


# --------------------------------------------------------------------------- scripted judge


def test_llm_mode_passes_only_a_yes_from_a_model_without_probabilities() -> None:
    """A judge that gives no token probabilities is asked for one token: only "yes" passes."""
    judge = ScriptedChat(["Yes", " no.", "Well, it depends on"], name="judge")
    checker = Checker("llm", judge=judge)
    assert checker.supports("claim one", [EVIDENCE]) is True
    assert checker.supports("claim two", [EVIDENCE]) is False
    verdict = checker.check("claim three", [EVIDENCE])
    assert verdict.supported is False and verdict.llm is False
    assert verdict.reason == "judge: P(yes) 0.000"
    assert checker.stats["llm_calls"] == 3
    assert checker.stats["llm_rejected"] == 2


class _Sure:
    """A judge that reports a fixed P(yes), as the local model and logprob endpoints do."""

    name = "sure"

    def __init__(self, p_yes: float) -> None:
        self.p_yes = p_yes
        self.asked: list = []

    def yes_probability(self, messages) -> float:
        self.asked.append(messages)
        return self.p_yes


@pytest.mark.parametrize(("p_yes", "passes"), [(0.9, True), (JUDGE_THRESHOLD, True), (JUDGE_THRESHOLD - 0.01, False)])
def test_llm_mode_passes_a_claim_at_the_threshold(p_yes: float, passes: bool) -> None:
    verdict = Checker("llm", judge=_Sure(p_yes)).check(SUPPORTED_CLAIM, [EVIDENCE])
    assert verdict.supported is passes and verdict.llm is passes
    assert verdict.reply == f"P(yes) {p_yes:.3f}"


def test_judge_threshold_is_configurable() -> None:
    assert not Checker("llm", judge=_Sure(0.6), judge_threshold=0.7).supports(SUPPORTED_CLAIM, [EVIDENCE])
    assert Checker("llm", judge=_Sure(0.6), judge_threshold=0.3).supports(SUPPORTED_CLAIM, [EVIDENCE])


def test_llm_judge_gets_the_prompt_deterministically() -> None:
    judge = ScriptedChat(["yes"], name="judge")
    Checker("llm", judge=judge).supports(SUPPORTED_CLAIM, [EVIDENCE, BUDANOV])
    (messages,) = judge.calls
    prompt = messages[-1]["content"]
    assert f"Statement: {SUPPORTED_CLAIM}" in prompt and "Question:" not in prompt
    assert f"[1] {EVIDENCE}" in prompt and f"[2] {BUDANOV}" in prompt
    assert prompt.rstrip().endswith("Answer yes or no.")
    options = judge.options[0]
    assert options["temperature"] == 0.0
    assert options["max_tokens"] == 1


def test_judge_reads_an_answer_with_its_question() -> None:
    """A short answer is judged as the proposed answer to its question (HaluEval's "qa" form)."""
    judge = ScriptedChat(["yes", "no"], name="judge")
    checker = Checker("llm", judge=judge)
    question = "How many elite troops did North Korea plan to deploy?"
    assert checker.for_question(question)("12,000 [1].", [EVIDENCE])
    assert f"Question: {question}\nProposed answer: 12,000 [1].\n" in judge.calls[0][-1]["content"]
    assert not checker.supports("12,000 [1].", [EVIDENCE])  # without it: a separate verdict
    assert "Statement: 12,000 [1].\n" in judge.calls[1][-1]["content"]


def test_rules_judge_ignores_the_question_outside_answers_mode() -> None:
    """The rules' verdict on a claim does not depend on a question (the gate's numbers stay put)."""
    checker = Checker("rules")
    claim = "North Korea planned to deploy special forces to Moscow."
    assert not checker.supports(claim, [EVIDENCE])
    # check_claim given this question would pass "Moscow" (a name the question brought in).
    assert not checker.for_question("Did they go to Moscow?")(claim, [EVIDENCE])


def test_verdicts_are_cached_per_claim_and_passages() -> None:
    judge = ScriptedChat(["yes", "no"], name="judge")
    checker = Checker("llm", judge=judge)
    assert checker.supports("a claim", [EVIDENCE])
    assert checker.supports("a claim", [EVIDENCE])  # cached: no second call
    assert not checker.supports("a claim", [EVIDENCE, BUDANOV])  # other passages: asked again
    assert len(judge.calls) == 2
    assert checker.stats["cache_hits"] == 1


def test_both_mode_needs_rules_and_judge() -> None:
    judge = ScriptedChat(["no"], name="judge")
    checker = Checker(judge=judge)
    assert checker.mode == "both"
    # The rules reject a changed number: the judge is not even asked.
    verdict = checker.check(CONTRADICTED_CLAIM, [EVIDENCE])
    assert not verdict.supported and verdict.rules is not None and "50000" in verdict.rules.reason
    assert judge.calls == []
    # The rules pass, the judge disagrees: not supported.
    assert not checker.supports(SUPPORTED_CLAIM, [EVIDENCE])
    assert len(judge.calls) == 1
    assert checker.stats == {
        "checks": 2,
        "cache_hits": 0,
        "llm_calls": 1,
        "rules_rejected": 1,
        "llm_rejected": 1,
    }


def test_no_passages_is_never_supported_and_costs_no_call() -> None:
    judge = ScriptedChat([], name="judge")
    assert not Checker("llm", judge=judge).supports(SUPPORTED_CLAIM, [])


def test_checker_plugs_into_citation_scores() -> None:
    judge = ScriptedChat(
        [lambda messages: "yes" if "12,000" in messages[-1]["content"].split("Statement:")[1] else "no"] * 10,
        name="judge",
    )
    checker = Checker("llm", judge=judge)
    scores = citation_scores(
        "North Korea plans 12,000 troops [1]. Budanov heads the GUR [2].", {1: EVIDENCE, 2: BUDANOV}, checker
    )
    assert scores.recall == pytest.approx(0.5)


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("claim", "ok", "why"),
    [
        (SUPPORTED_CLAIM, True, ""),
        ("South Korean intelligence said about 1,500 special forces had been sent to Russia.", True, ""),
        (CONTRADICTED_CLAIM, False, "number"),
        ("Japan planned to deploy a total of 12,000 elite troops.", False, "name"),
        ("North Korea has not sent special forces to Russia.", False, "negat"),
        ("The weather in the capital was unusually warm and sunny.", False, "words"),
    ],
)
def test_rules_mode_on_known_cases(claim: str, ok: bool, why: str) -> None:
    checker = Checker("rules")
    verdict = checker.check(claim, [EVIDENCE])
    assert verdict.supported is ok
    assert why in verdict.reason
    assert verdict.llm is None and verdict.reply is None


def test_rules_with_embedding_similarity(hash_embedder) -> None:
    similarity = embedding_similarity(hash_embedder)
    assert similarity(EVIDENCE, [EVIDENCE]) == pytest.approx(1.0, abs=1e-5)
    assert Checker("rules", similarity=similarity).supports(SUPPORTED_CLAIM, [EVIDENCE])


def test_bad_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown judge mode"):
        Checker("vibes")
    with pytest.raises(ValueError, match="needs a judge model"):
        Checker("llm")


def test_from_settings_falls_back_to_rules_only_when_no_mode_was_asked(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, backend="openai")  # no endpoint configured
    assert Checker.from_settings(settings).mode == "rules"
    assert Checker.from_settings(settings, "rules").mode == "rules"
    with pytest.raises(ModelUnavailableError, match="OPENAI_BASE_URL"):
        Checker.from_settings(settings, "both")
    with pytest.raises(ValueError, match="extractive"):
        Checker.from_settings(settings, "llm", backend="extractive")


# --------------------------------------------------------------------------- the real judge


@pytest.mark.slow
def test_real_local_judge_on_obvious_pairs() -> None:
    """The 1.5B local model judges one supported and one contradicted pair right.

    The 0.5B model is not used: measured on these pairs and on HaluEval, it answers
    NOT_SUPPORTED to every claim (also with few-shot and yes/no prompts), so it cannot judge.
    """
    from assistant.generation.llm import LocalChat
    from assistant.generation.models import gguf_path

    try:
        path = gguf_path("local", Settings.from_env())
    except ModelUnavailableError as e:
        pytest.skip(f"the 1.5B judge model is not installed: {e}")
    checker = Checker("llm", judge=LocalChat(path, n_ctx=2048, name="judge-1.5b"))
    supported = checker.check(SUPPORTED_CLAIM, [EVIDENCE])
    contradicted = checker.check(CONTRADICTED_CLAIM, [EVIDENCE])
    assert supported.llm is True and contradicted.llm is False
    assert supported.reply.startswith("P(yes) ") and contradicted.reply.startswith("P(yes) ")


def test_answers_mode_is_the_checker_answers_get() -> None:
    judge = ScriptedChat(["yes", "No"], name="judge")
    checker = Checker("answers", judge=judge)
    question = "How many special forces had North Korea sent?"
    assert checker.supports("About 1,500.", [EVIDENCE], question)
    # The model is asked in the answer prompt's form, with the question and the answer appended.
    (messages,) = judge.calls
    assert messages[0]["role"] == "system" and question in messages[-1]["content"]
    assert messages[-1]["content"].rstrip().endswith("yes or no.") and "About 1,500." in messages[-1]["content"]
    assert not checker.supports("About 1,500 special forces went to Russia.", [EVIDENCE], question)  # the model says no
    # The lexical checks come first, with the question: a changed number is rejected unasked.
    assert not checker.supports("About 15,000.", [EVIDENCE], question)
    assert len(judge.calls) == 2
