"""Retrieval quality on HotpotQA, pooled (shared/benchmarks/README.md): every paragraph of all
500 questions in one index, top-k for each question from the whole pool.

    .venv/bin/python bench/retrieval_quality.py                 # test half (questions 251-500)
    .venv/bin/python bench/retrieval_quality.py --split tune    # tuning half (1-250)
    .venv/bin/python bench/retrieval_quality.py --split both

The corpus is ingested once through the real pipeline (one file per paragraph, "title\\ntext",
real MiniLM, local Chroma under .rag/bench/hotpot/; later runs re-sync nothing). Modes:
- dense: Chroma nearest neighbours of the MiniLM query vector;
- bm25: the BM25 index alone;
- rrf: dense + BM25 fused by reciprocal rank (what `retrieve()` did before this benchmark);
- hybrid: `assistant.retrieval.retrieve.retrieve()` (dense + BM25 + titles named in the question,
  fused, then one hop along titles the top passages mention).
Chunks are mapped back to paragraphs (a long paragraph can make two chunks) and deduplicated,
then Hit@k (any gold paragraph in the top k), AllHit@k (both) and MRR@10 are computed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import WORK, chart_path, key_of, print_table, pyplot, write_hotpot_folder, write_result

KS = (2, 5, 10)
TARGETS = {"allhit@2": 0.64, "allhit@5": 0.93}
MODES = ("dense", "bm25", "rrf", "hybrid")


def hotpot_store(split: str = "test"):
    """(settings, questions of `split`) with the pooled corpus ingested (once) with MiniLM."""
    from assistant.settings import Settings
    from evals.benchmarks import load_hotpotqa
    from ingest import ingest

    data = load_hotpotqa(split)
    docs = WORK / "hotpot" / "docs"
    write_hotpot_folder(docs, data.corpus)
    settings = Settings(data_dir=WORK / "hotpot" / "data", backend="extractive")
    report = ingest([docs], settings=settings)
    if report.embedded:
        print(
            f"ingested the pooled corpus: {report.files} paragraphs, {report.chunks} chunks, {report.seconds:.0f} s",
            flush=True,
        )
    return settings, data.questions


def _paragraph_ranking(chunks, limit: int = 10) -> list[str]:
    out: list[str] = []
    for c in chunks:
        key = key_of(c.source)
        if key not in out:
            out.append(key)
        if len(out) == limit:
            break
    return out


def rankings(store, question: str, vector) -> dict[str, list[str]]:
    """Paragraph keys, best first, for every mode."""
    from assistant.retrieval.lexical import refresh_lexical_index
    from assistant.retrieval.retrieve import fuse, retrieve

    n = 40
    dense = [c for c, _ in store.query(vector, n)]
    lexical = [c for c, _ in refresh_lexical_index(store).search(question, n)]
    return {
        "dense": _paragraph_ranking(dense),
        "bm25": _paragraph_ranking(lexical),
        "rrf": _paragraph_ranking([c for c, _ in fuse([dense, lexical])]),
        "hybrid": _paragraph_ranking([h.chunk for h in retrieve(store, question, top_k=14)]),
    }


def score(ranked: list[str], gold: set[str]) -> dict[str, float]:
    """Hit@k, AllHit@k and MRR@10 of one question."""
    from evals.metrics import all_hit_at_k, hit_at_k, mrr_at_k

    out = {}
    for k in KS:
        out[f"hit@{k}"] = hit_at_k(ranked, gold, k)
        out[f"allhit@{k}"] = all_hit_at_k(ranked, gold, k)
    out["mrr@10"] = mrr_at_k(ranked, gold, 10)
    return out


def evaluate(split: str) -> dict:
    from assistant.retrieval.embedder import MiniLMEmbedder
    from assistant.retrieval.store import Store

    settings, questions = hotpot_store(split)
    embedder = MiniLMEmbedder()
    store = Store.open(settings, embedder)
    vectors = embedder.embed([q.question for q in questions])
    totals = {m: {} for m in MODES}
    per_question = []
    t0 = time.perf_counter()
    for q, v in zip(questions, vectors):
        ranks = rankings(store, q.question, v)
        row = {"id": q.id, "question": q.question}
        for mode, ranked in ranks.items():
            s = score(ranked, set(q.gold_keys))
            for name, value in s.items():
                totals[mode][name] = totals[mode].get(name, 0.0) + value
            row[mode] = {"top": ranked[:5], "allhit@2": s["allhit@2"], "allhit@5": s["allhit@5"]}
        per_question.append(row)
    n = len(questions)
    metrics = {m: {k: v / n for k, v in totals[m].items()} for m in MODES}
    return {
        "split": split,
        "questions": n,
        "chunks": store.count(),
        "metrics": metrics,
        "seconds": time.perf_counter() - t0,
        "per_question": per_question,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("tune", "test", "both"), default="test")
    ap.add_argument("--name", default="retrieval_quality")
    args = ap.parse_args(argv)
    splits = ("tune", "test") if args.split == "both" else (args.split,)
    results = [evaluate(s) for s in splits]
    columns = [f"hit@{k}" for k in KS] + [f"allhit@{k}" for k in KS] + ["mrr@10"]
    for r in results:
        print(f"\nHotpotQA pooled, {r['split']} half ({r['questions']} questions, {r['chunks']:,} chunks):")
        print_table(["mode", *columns], [[m] + [r["metrics"][m][c] for c in columns] for m in MODES])
    test = next((r for r in results if r["split"] == "test"), None)
    if test:
        for metric, target in TARGETS.items():
            got = test["metrics"]["hybrid"][metric]
            print(
                f"hybrid {metric} on the test half: {got:.3f} (target >= {target}) "
                f"{'MET' if got >= target else 'MISSED'}"
            )
    path = write_result(args.name, {"targets": TARGETS, "results": results})
    _chart(results, chart_path(args.name))
    print(f"\nwrote {path} and {chart_path(args.name)}")
    return 0


def _chart(results: list[dict], path: Path) -> None:
    plt = pyplot()
    metrics = ["allhit@2", "allhit@5", "allhit@10", "hit@2", "mrr@10"]
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results):
        width = 0.8 / len(MODES)
        for i, mode in enumerate(MODES):
            xs = [j + i * width for j in range(len(metrics))]
            ax.bar(xs, [r["metrics"][mode][m] for m in metrics], width, label=mode)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))], metrics)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"HotpotQA pooled retrieval, {r['split']} half")
        if r["split"] == "test":
            for j, m in enumerate(metrics):
                if m in TARGETS:
                    ax.hlines(TARGETS[m], j - 0.1, j + 0.8, colors="k", linestyles=":")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
