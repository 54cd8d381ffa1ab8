"""Does the model get to see the answer? For each answerable question of a docset half, the
passages the pipeline would show (steps 1-4 of the answer path, no model) are checked for the
gold answer strings and a gold source file, for several context settings, beside the naive
baseline's five 800-character chunks measured in the same run.

    .venv/bin/python bench/context_coverage.py --dataset tech-docs --split tune
    .venv/bin/python bench/context_coverage.py --dataset bbc-news --split tune --benchmarks-dir ../shared/benchmarks

Per setting it reports:
- answer shown: every gold string of the item (one of `answers` and all of `also`, the
  docset's own matching rules) is in the passages' text; for yes/no items, a gold file is shown;
- source shown: a gold file is among the passages' files;
- tokens: median cl100k tokens of the numbered passages (prefill time grows with it: about
  47 tokens/s with the 1.5B model on two cores).

An answer that is not shown cannot be answered correctly from the passages; one that is shown
may still be missed by the model. It is an upper bound on correctness that costs no model time,
so context settings can be compared on tune halves before a full eval.
Writes `bench/results/context_coverage-<dataset>-<split>.json` and a chart.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import docset_arguments, indexed_docset, print_table, pyplot, save_chart, write_result

# (top_k, context_tokens, max_passages, passage_radius); the first is the default settings.
SETTINGS = (
    (6, 400, 5, 1),
    (6, 400, 5, 0),
    (6, 400, 8, 0),
    (6, 400, 5, 2),
    (6, 600, 5, 1),
    (6, 600, 8, 1),
    (10, 400, 5, 1),
    (10, 400, 8, 0),
    (10, 600, 8, 1),
    (10, 800, 8, 1),
)


def label(setting: tuple[int, int, int, int]) -> str:
    """A setting as `k6 t400 p5 r1`."""
    return "k{} t{} p{} r{}".format(*setting)


def shown(question, rules, text: str, files: set[str]) -> dict:
    """Are the gold answer and a gold source in the shown `text` / `files`? The answer is
    matched as the docset scores replies (`docsets.answer_ok`), except that for a yes/no item
    (whose gold string is "yes" or "no") it counts as shown when a gold file is."""
    from evals.docsets import answer_ok
    from evals.metrics import source_accuracy

    source = bool(source_accuracy(files, question.sources))
    return {"answer": source if question.kind == "yesno" else answer_ok(question, rules, text), "source": source}


def measure(questions, docset, settings, embedder) -> list[dict]:
    """One row per question: what each setting and the baseline would show."""
    from tqdm import tqdm

    from assistant.generation.tokens import count_tokens
    from assistant.grounding.evidence import build_passages, rank_sentences, with_continuations
    from assistant.pipeline import numbered, read_question
    from assistant.retrieval.lexical import refresh_lexical_index
    from assistant.retrieval.retrieve import retrieve
    from assistant.retrieval.store import Store
    from evals import baseline

    store = Store.open(settings, embedder)
    index = refresh_lexical_index(store)
    naive = baseline.PassageIndex.build(docset.docs_dir, embedder)
    rows = []
    for q in tqdm(questions, desc=f"{docset.name} passages"):
        question = read_question(q.question, None, settings)
        row = {"id": q.id, "kind": q.kind, "settings": {}}
        ranked = {}
        for setting in SETTINGS:
            top_k, budget, most, radius = setting
            if top_k not in ranked:
                hits = with_continuations(retrieve(store, question.query, top_k=top_k), index)
                ranked[top_k] = rank_sentences(question.query, hits, embedder, index)
            passages = build_passages(ranked[top_k], budget_tokens=budget, max_passages=most, radius=radius)
            text = numbered(passages)
            files = {Path(p.source).name for p in passages}
            row["settings"][label(setting)] = {**shown(q, docset.rules, text, files), "tokens": count_tokens(text)}
        chunks = naive.search(q.question, embedder)
        text = baseline.numbered(chunks)
        files = {Path(c.source).name for c in chunks}
        row["settings"]["baseline"] = {**shown(q, docset.rules, text, files), "tokens": count_tokens(text)}
        rows.append(row)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per setting: share of items whose answer / source is shown, median tokens."""
    out = []
    for name in rows[0]["settings"]:
        cells = [r["settings"][name] for r in rows]
        out.append(
            {
                "setting": name,
                "answer_shown": sum(c["answer"] for c in cells) / len(cells),
                "source_shown": sum(c["source"] for c in cells) / len(cells),
                "median_tokens": statistics.median(c["tokens"] for c in cells),
            }
        )
    return out


def chart(table: list[dict], name: str) -> Path:
    """One bar per setting: share of answers shown, with the median tokens it costs."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(table) + 1.2))
    names = [row["setting"] for row in table]
    shares = [row["answer_shown"] for row in table]
    colors = ["tab:gray" if n == "baseline" else "tab:blue" for n in names]
    ax.barh(range(len(table)), shares, color=colors)
    for i, row in enumerate(table):
        ax.text(
            row["answer_shown"] + 0.005,
            i,
            f"{row['answer_shown']:.3f}, {row['median_tokens']:.0f} tokens",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(table)), names)
    ax.invert_yaxis()
    ax.set_xlim(min(shares) - 0.1, 1.12)
    ax.set_xlabel("share of answerable items whose gold answer is in the passages shown")
    ax.set_title(f"{name} (first row: the default settings)")
    return save_chart(fig, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    docset_arguments(parser, "tech-docs")
    args = parser.parse_args(argv)
    docset, settings, embedder = indexed_docset(args)
    questions = [q for q in docset.questions if q.answerable]
    rows = measure(questions, docset, settings, embedder)
    table = summary(rows)
    print_table(
        ["setting", "answer shown", "source shown", "median tokens"],
        [(t["setting"], f"{t['answer_shown']:.3f}", f"{t['source_shown']:.3f}", t["median_tokens"]) for t in table],
    )
    name = f"context_coverage-{docset.name}-{args.split}"
    path = write_result(name, {"dataset": docset.name, "split": args.split, "summary": table, "rows": rows})
    print(f"wrote {path} and {chart(table, name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
