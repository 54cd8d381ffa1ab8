"""Would a one-token model check turn answers to unanswerable questions into declines without
throwing away correct answers? Measured before building one (the rule: a check that rejects
shows what it stops against what it kills, per corpus, on tune halves).

    .venv/bin/python bench/decline_signals.py --dataset bbc-news --answerable 24
    .venv/bin/python bench/decline_signals.py --dataset tech-docs --backend openai   # a bigger model

Every unanswerable question of the half and the first `--answerable` answerable ones are
asked with the default pipeline (`ask()`). For each question it answered, the model is asked
four yes/no questions and the share of yes in its first token (`llm.yes_probability`) kept:

- check: the answer path's own model check (`prompts/check.txt`: passages, question, answer);
- judge_style: the same, worded as the faithfulness judge ("do the passages show that the
  proposed answer is correct ...?");
- answerable: the question message with "do the passages above contain the answer?" appended,
  answer not shown (it could run before drafting: it shares the answer prompt up to the question);
- follow_up: a turn after the model's own draft ("is every name, number and date in it
  stated in the passages ...?").

It prints, per signal and threshold, answers to unanswerable questions it would stop and
correct answers it would kill, and writes `bench/results/decline_signals-<dataset>.json` and a
chart of the values by group.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import docset_arguments, indexed_docset, report_stops_and_kills, stop_keep_chart

PROMPTS = Path(__file__).resolve().parent / "prompts"
SIGNALS = ("check", "judge_style", "answerable", "follow_up")
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)


@cache
def _prompt(name: str) -> str:
    """One of `bench/prompts/<name>.txt`, read once."""
    return (PROMPTS / f"{name}.txt").read_text(encoding="utf-8")


def signal_messages(messages: list[dict], question: str, passages: str, answer: str, draft: str) -> dict:
    """The chat of each signal, all sharing the answer prompt's fixed prefix (`messages[:-1]`)."""
    from assistant.pipeline import check_messages

    head = messages[:-1]
    return {
        "check": check_messages(messages, question, passages, answer),
        "judge_style": [
            *head,
            {
                "role": "user",
                "content": _prompt("judge_style").format(passages=passages, question=question, answer=answer),
            },
        ],
        "answerable": [*head, {"role": "user", "content": messages[-1]["content"] + _prompt("answerable")}],
        "follow_up": [
            *messages,
            {"role": "assistant", "content": draft},
            {"role": "user", "content": _prompt("follow_up").strip()},
        ],
    }


def measure(question, docset, settings, model, embedder) -> dict:
    """Ask one question, score the answer, and read every signal on it (when answered)."""
    from assistant.api import ask
    from assistant.generation.llm import yes_probability
    from assistant.pipeline import prompt_messages, read_question
    from evals import docsets
    from evals.metrics import strip_markers

    t0 = time.perf_counter()
    answer = ask(question.question, settings=settings, chat_model=model, embedder=embedder).to_dict()
    declined = bool(answer["abstained"]) or not answer["text"].strip()
    cited = list(dict.fromkeys(c["source"] for c in answer["citations"]))
    score = docsets.score_reply(question, docset.rules, answer["text"], declined, cited)
    row = {
        "id": question.id,
        "answerable": question.answerable,
        "declined": declined,
        "correct": score.correct,
        "seconds": time.perf_counter() - t0,
        "signals": {},
    }
    trace = answer.get("trace") or {}
    passages = "\n".join(trace.get("passages") or [])
    draft = (trace.get("drafts") or [{}])[0].get("text", "")
    if declined or not passages or not draft:
        return row
    messages = prompt_messages(passages, read_question(question.question, None, settings))
    plain = strip_markers(answer["text"]).strip()
    for name, chat in signal_messages(messages, question.question, passages, plain, draft).items():
        t1 = time.perf_counter()
        row["signals"][name] = {"p_yes": yes_probability(model, chat), "seconds": time.perf_counter() - t1}
    return row


def group(row: dict) -> str | None:
    """ "stop" (an answer to an unanswerable question), "keep" (a correct answer) or None."""
    if row["declined"] or not row["signals"]:
        return None
    if not row["answerable"]:
        return "stop"
    return "keep" if row["correct"] else None


def tradeoffs(rows: list[dict]) -> list[dict]:
    """Per signal and threshold: answers to unanswerable questions stopped, correct ones killed."""
    out = []
    for name in SIGNALS:
        for t in THRESHOLDS:
            below = [group(r) for r in rows if group(r) and r["signals"][name]["p_yes"] < t]
            out.append({"signal": name, "threshold": t, "stops": below.count("stop"), "kills": below.count("keep")})
    return out


def chart(rows: list[dict], name: str) -> Path:
    """P(yes) of each signal: answers to unanswerable questions beside correct answers."""
    values = {
        signal: {kind: [r["signals"][signal]["p_yes"] for r in rows if group(r) == kind] for kind in ("stop", "keep")}
        for signal in SIGNALS
    }
    return stop_keep_chart(values, "P(yes)", f"{name}: would a model check separate them?", name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    docset_arguments(parser, "bbc-news")
    parser.add_argument("--answerable", type=int, default=24, help="answerable questions to ask (all unanswerable are)")
    parser.add_argument("--backend", default="local", choices=("local", "local-small", "openai"))
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from assistant.generation.llm import make_chat_model

    docset, settings, embedder = indexed_docset(args)
    model = make_chat_model(settings, args.backend)
    half = [q for q in docset.questions if q.split == args.split]
    chosen = [q for q in half if not q.answerable] + [q for q in half if q.answerable][: args.answerable]
    rows = [measure(q, docset, settings, model, embedder) for q in tqdm(chosen, desc=f"{docset.name} {args.split}")]

    return report_stops_and_kills(
        f"decline_signals-{docset.name}",
        tradeoffs(rows),
        [group(r) for r in rows],
        {"dataset": docset.name, "split": args.split, "model": model.name if model else None, "rows": rows},
        lambda name: chart(rows, name),
    )


if __name__ == "__main__":
    raise SystemExit(main())
