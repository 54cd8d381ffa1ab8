"""Does the model give the same answer when the passages come in another order? Measured
before building a check on it (a check that rejects shows what it stops against what it kills,
per corpus, on tune halves).

    .venv/bin/python bench/draft_consistency.py --report REPORT_DIR/report.json

The idea (self-consistency): an answer the passages state should survive a reshuffle of the
passages, while an answer made up from a nearby passage may change. It reads a bbc-news or
tech-docs report written by `rag eval` (its rows keep the passages docchat showed the model),
and for every answered question that is either unanswerable ("stop": the answer should have
been a decline) or answered correctly ("keep") it asks the model again with the same passages
in reverse order (renumbered), greedy, and compares the second draft with the shipped answer:

- f1: token F1 between the two (markers removed);
- facts: the share of the shipped answer's numbers and names that the second draft repeats;
- declined: the second draft says the passages do not answer.

It prints, per signal and threshold, the answers it would stop and kill, and writes
`bench/results/draft_consistency-<dataset>-<split>.json` and a chart of the values by group.
No retrieval runs: the passages are the report's.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import report_stops_and_kills, stop_keep_chart

SIGNALS = ("f1", "facts")
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
_NUMBER = re.compile(r"^\[(\d+)\]\s*")


def reversed_passages(passages: list[str]) -> str:
    """The numbered passages ("[1] ...") in reverse order, numbered again from [1]."""
    bodies = [_NUMBER.sub("", p, count=1) for p in passages]
    return "\n".join(f"[{n}] {body}" for n, body in enumerate(reversed(bodies), start=1))


def key_facts(text: str) -> set[str]:
    """The numbers and names of a text (what an answer to a fact question hinges on)."""
    from assistant.grounding.verify import names_in, numbers_in

    return numbers_in(text) | {n.lower() for n in names_in(text)}


def agreement(first: str, second: str) -> dict:
    """How far the second draft repeats the first (both without markers)."""
    from evals.metrics import is_decline, token_f1

    facts = key_facts(first)
    says_no = is_decline(second)
    return {
        "f1": token_f1(second, first),
        "facts": len(facts & key_facts(second)) / len(facts) if facts else float(not says_no),
        "declined": says_no or "NOT_FOUND" in second,
    }


def group(row: dict) -> str | None:
    """ "stop" (an answer to an unanswerable question), "keep" (a correct answer) or None."""
    if row.get("declined") or not (row.get("trace") or {}).get("passages"):
        return None
    if not row.get("answerable"):
        return "stop"
    return "keep" if row.get("correct") else None


def measure(row: dict, model, settings) -> dict:
    """Ask the row's question again over its passages in reverse order; compare the drafts."""
    from assistant.pipeline import prompt_messages, read_question
    from evals.metrics import strip_markers

    messages = prompt_messages(
        reversed_passages(row["trace"]["passages"]), read_question(row["question"], None, settings)
    )
    t0 = time.perf_counter()
    second = strip_markers("".join(model.stream(messages, max_tokens=settings.max_answer_tokens, temperature=0.0)))
    seconds = time.perf_counter() - t0
    first, second = strip_markers(row["answer"]).strip(), second.strip()
    return {
        "id": row["id"],
        "group": group(row),
        "question": row["question"],
        "answer": first,
        "second": second,
        "seconds": seconds,
        **agreement(first, second),
    }


def tradeoffs(rows: list[dict]) -> list[dict]:
    """Per signal and threshold (and the second draft declining): stops and kills."""
    out = []
    for name in SIGNALS:
        for t in THRESHOLDS:
            below = [r["group"] for r in rows if r[name] < t]
            out.append({"signal": name, "threshold": t, "stops": below.count("stop"), "kills": below.count("keep")})
    declined = [r["group"] for r in rows if r["declined"]]
    out.append(
        {"signal": "declined", "threshold": None, "stops": declined.count("stop"), "kills": declined.count("keep")}
    )
    return out


def chart(rows: list[dict], name: str) -> Path:
    """Each signal's value: answers to unanswerable questions beside correct answers."""
    values = {
        signal: {kind: [r[signal] for r in rows if r["group"] == kind] for kind in ("stop", "keep")}
        for signal in SIGNALS
    }
    return stop_keep_chart(
        values, "agreement with the shipped answer", f"{name}: passages reversed, same answer?", name
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", required=True, help="report.json of a bbc-news or tech-docs `rag eval` run")
    parser.add_argument("--keep", type=int, default=24, help="correct answers to ask again (all stops are)")
    parser.add_argument("--backend", default="local", choices=("local", "local-small", "openai"))
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from assistant.generation.llm import make_chat_model
    from assistant.settings import Settings

    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    meta = report.get("meta") or {}
    rows = report.get("results") or []
    chosen = [r for r in rows if group(r) == "stop"] + [r for r in rows if group(r) == "keep"][: args.keep]
    if not chosen:
        print("error: no answered row with passages in that report (run `rag eval` on bbc-news or tech-docs)")
        return 2
    settings = Settings.from_env()
    model = make_chat_model(settings, args.backend)
    measured = [measure(r, model, settings) for r in tqdm(chosen, desc="second drafts")]

    splits = sorted({str(r.get("split")) for r in chosen})
    return report_stops_and_kills(
        f"draft_consistency-{meta.get('dataset', 'docset')}-{'-'.join(splits)}",
        tradeoffs(measured),
        [r["group"] for r in measured],
        {"dataset": meta.get("dataset"), "report": args.report, "model": getattr(model, "name", ""), "rows": measured},
        lambda name: chart(measured, name),
    )


if __name__ == "__main__":
    raise SystemExit(main())
