"""Retrieval latency and memory at 1k, 10k and 100k chunks: dense, BM25 and hybrid.

    .venv/bin/python bench/scale.py                               # 1000,10000,100000 chunks
    .venv/bin/python bench/scale.py --sizes 1000,10000 --queries 100
    .venv/bin/python bench/scale.py --refresh-only --added 10        # only the BM25 update

Corpus: the 6.5k real chunks of the pooled HotpotQA paragraphs (the index that
bench/retrieval_quality.py builds with MiniLM), then variants of them up to the size asked:
every other variant has its sentences shuffled, the others join the first half of one
paragraph to the second half of another; variant titles get a round number ("Shirley Temple
3") so every document keeps a distinct title. Embedding 100k chunks with MiniLM here would take
about two hours, so a variant's vector is derived from the real ones: the normalised
base vector (or 0.65 * base + 0.35 * partner) plus Gaussian noise (sigma 0.03 per dimension,
cosine to the base about 0.86). Chunks and vectors are written with `Store.upsert_chunks` into a
real local Chroma folder per size (built once under .rag/bench/scale/); the store records
MiniLM as its embedder, and queries are embedded by the real MiniLM.

Each size is measured in a fresh process (open the store, load the saved BM25 index, warm up
with 10 queries), so RSS is what a serving process holds. Timed per query, modes interleaved:
- dense: embed the question + Chroma nearest 40;
- bm25: version check + BM25 top 40;
- hybrid: `retrieve(store, q, top_k=6)` (embed, Chroma, BM25, titles, fusion, one hop);
- embed: the MiniLM query embedding alone (part of dense and hybrid);
- dense_vec, hybrid_vec: the same without the embedding (the query vector computed
  beforehand): the part of retrieval that depends on the corpus size. On this shared 2-core
  machine MiniLM's one-query time is 30-500 ms whatever the corpus (torch's two threads wait
  on each other when other processes hold the cores), so it is reported apart.

Keeping the BM25 index in step after an ingest, also in a fresh process per size (`--added N`,
default 10; `--refresh-only` measures just this, into NAME-refresh.json):
- full build: `refresh_lexical_index` without a saved index (every chunk read and tokenized:
  what every version change cost before the index was updated incrementally);
- after adding N chunks: N new chunks written, the version bumped, then `refresh_lexical_index`
  in a process holding no index (as in `rag ingest`): load the saved index, read the store's
  ids, fetch and tokenize the N chunks, recompute the weights, save; "load" is the first step;
- after removing them: the same with the index held in memory (as in a serving process),
  back to the starting chunks, so the result must be identical to the full build.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.common import WORK, chart_path, one_line_chunk, percentile, print_table, pyplot, rss_mb, write_result

MODES = ("dense", "dense_vec", "bm25", "hybrid", "hybrid_vec", "embed")
TARGET_HYBRID_P95_MS = 50.0
SIGMA = 0.03


def base_corpus() -> tuple[list, np.ndarray]:
    """The real HotpotQA chunks and their MiniLM vectors (cached as a pickle)."""
    cache = WORK / "scale" / "base.pkl"
    if cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)
    from assistant.retrieval.embedder import MiniLMEmbedder
    from assistant.retrieval.store import Store, _chunk_from
    from bench.retrieval_quality import hotpot_store

    settings, _ = hotpot_store("test")
    store = Store.open(settings, MiniLMEmbedder())
    chunks, vectors, offset = [], [], 0
    while True:  # paging through the one Chroma module's collection
        got = store._chunks.get(limit=2000, offset=offset, include=["documents", "metadatas", "embeddings"])
        chunks += [_chunk_from(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
        if len(got["ids"]) < 2000:
            break
        offset += 2000
    order = sorted(range(len(chunks)), key=lambda i: (chunks[i].source, chunks[i].start))
    result = ([chunks[i] for i in order], np.concatenate(vectors)[order])
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "wb") as f:
        pickle.dump(result, f)
    return result


def corpus(size: int) -> tuple[list, np.ndarray]:
    """`size` chunks: the real ones first, then variants (see the module docstring)."""
    from assistant.grounding.sentences import sentence_spans

    chunks, vectors = base_corpus()
    n_base = len(chunks)
    if size <= n_base:
        return chunks[:size], vectors[:size]
    out, vecs = list(chunks), [vectors]
    rng = np.random.default_rng(0)
    extra = []
    for v in range(size - n_base):
        i = v % n_base
        r = random.Random(v)
        base = chunks[i]
        sentences = [base.text[s:e] for s, e in sentence_spans(base.text)] or [base.text]
        if v % 2 == 0:
            r.shuffle(sentences)
            text = " ".join(sentences)
            vec = vectors[i].copy()
        else:
            j = r.randrange(n_base)
            other = [chunks[j].text[s:e] for s, e in sentence_spans(chunks[j].text)] or [chunks[j].text]
            text = " ".join(sentences[: max(1, len(sentences) // 2)] + other[len(other) // 2 :])
            vec = 0.65 * vectors[i] + 0.35 * vectors[j]
        vec = vec / np.linalg.norm(vec) + rng.normal(0.0, SIGMA, vec.shape).astype(np.float32)
        extra.append(vec / np.linalg.norm(vec))
        source = f"variants/{v // n_base + 1}/{base.source}"
        out.append(one_line_chunk(source, text, f"{base.title} {v // n_base + 1}"))
    vecs.append(np.asarray(extra, dtype=np.float32))
    return out, np.concatenate(vecs)


def settings_for(size: int):
    from assistant.settings import Settings

    return Settings(data_dir=WORK / "scale" / str(size), backend="extractive")


def build(size: int) -> dict:
    """Write the corpus into a fresh local Chroma folder and build the BM25 index (once)."""
    import shutil

    from assistant.retrieval.embedder import MiniLMEmbedder
    from assistant.retrieval.lexical import refresh_lexical_index
    from assistant.retrieval.store import Store

    marker = WORK / "scale" / str(size) / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    shutil.rmtree(marker.parent, ignore_errors=True)
    chunks, vectors = corpus(size)
    store = Store.open(settings_for(size), MiniLMEmbedder(), create=True)
    t = time.perf_counter()
    for i in range(0, len(chunks), 2000):  # plain floats: Chroma refuses numpy scalars
        store.upsert_chunks(chunks[i : i + 2000], vectors[i : i + 2000].tolist())
    upsert_s = time.perf_counter() - t
    store.bump_version()
    t = time.perf_counter()
    refresh_lexical_index(store)
    bm25_s = time.perf_counter() - t
    info = {
        "chunks": store.count(),
        "upsert_s": upsert_s,
        "bm25_build_s": bm25_s,
        "chroma_mb": _du(marker.parent / "chroma"),
        "bm25_mb": _du(marker.parent / "cache"),
    }
    marker.write_text(json.dumps(info))
    return info


def _du(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def measure(size: int, n_queries: int) -> dict:
    """Run in a fresh process: open, load, warm up, time every mode per query."""
    from assistant.retrieval.embedder import MiniLMEmbedder
    from assistant.retrieval.lexical import refresh_lexical_index
    from assistant.retrieval.retrieve import retrieve
    from assistant.retrieval.store import Store
    from evals.benchmarks import load_hotpotqa

    rss_start = rss_mb()
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    rss_model = rss_mb()
    t = time.perf_counter()
    store = Store.open(settings_for(size), embedder)
    index = refresh_lexical_index(store)
    open_s = time.perf_counter() - t
    questions = [q.question for q in load_hotpotqa("test").questions][: n_queries + 10]
    warm, timed = questions[:10], questions[10:]

    vectors = dict(zip(questions, embedder.embed(questions)))
    precomputed = Store(store.settings, _Precomputed(vectors), store._client, store._chunks, store._files)

    def run(mode: str, q: str) -> None:
        if mode == "dense":
            store.query(embedder.embed([q])[0], 40)
        elif mode == "dense_vec":
            store.query(vectors[q], 40)
        elif mode == "bm25":
            refresh_lexical_index(store).search(q, 40)
        elif mode == "hybrid":
            retrieve(store, q, top_k=6)
        elif mode == "hybrid_vec":
            retrieve(precomputed, q, top_k=6)
        else:
            embedder.embed([q])

    for q in warm:
        for mode in MODES:
            run(mode, q)
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for k, q in enumerate(timed):
        for mode in MODES[k % len(MODES) :] + MODES[: k % len(MODES)]:  # rotate the order
            t = time.perf_counter()
            run(mode, q)
            times[mode].append((time.perf_counter() - t) * 1000)
    return {
        "chunks": len(index.chunks),
        "queries": len(timed),
        "open_and_load_s": open_s,
        "rss_mb": {"python_and_imports": rss_start, "with_minilm": rss_model, "serving": rss_mb()},
        "ms": {
            m: {"p50": percentile(v, 50), "p95": percentile(v, 95), "mean": float(np.mean(v))} for m, v in times.items()
        },
    }


def refresh(size: int, n_added: int) -> dict:
    """Run in a fresh process: time a full BM25 build, then updates after adding and removing chunks."""
    from assistant.retrieval import lexical
    from assistant.retrieval.lexical import refresh_lexical_index
    from assistant.retrieval.store import Store

    store = Store.open(settings_for(size), _Precomputed({}))
    path = Path(lexical._index_path(store))
    for stale in (path, path.with_name(path.name + ".version")):
        stale.unlink(missing_ok=True)
    lexical._cache.clear()
    t = time.perf_counter()
    full = refresh_lexical_index(store)
    full_s = time.perf_counter() - t
    t = time.perf_counter()
    lexical._load(str(path))
    load_s = time.perf_counter() - t

    base, vectors = base_corpus()
    added = []
    for k, c in enumerate(base[:n_added]):
        source, text = f"added/{k}/{c.source}", f"{c.text} (revised {k})"
        added.append(one_line_chunk(source, text, c.title))
    try:
        store.upsert_chunks(added, vectors[:n_added].tolist())
        store.bump_version()
        lexical._cache.clear()
        t = time.perf_counter()
        grown = refresh_lexical_index(store)
        add_s = time.perf_counter() - t
    finally:  # the bench store keeps its corpus whatever happens
        store.delete_chunks([c.id for c in added])
        store.bump_version()
    t = time.perf_counter()
    back = refresh_lexical_index(store)
    remove_s = time.perf_counter() - t
    identical = (
        [c.id for c in back.chunks] == [c.id for c in full.chunks]
        and back.vocab == full.vocab
        and back.titles == full.titles
        and (back.weights != full.weights).nnz == 0
    )
    return {
        "chunks": len(full.chunks),
        "added": n_added,
        "grown_to": len(grown.chunks),
        "full_build_s": full_s,
        "load_saved_s": load_s,
        "refresh_after_adding_s": add_s,
        "refresh_after_removing_s": remove_s,
        "full_over_adding": full_s / add_s,
        "identical_to_full_build": identical,
        "bm25_mb": path.stat().st_size / 2**20,
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


class _Precomputed:
    """MiniLM's name and dimension, with the query vectors computed beforehand."""

    def __init__(self, vectors: dict) -> None:
        from assistant.retrieval.embedder import MiniLMEmbedder

        self.name, self.dimension = MiniLMEmbedder.name, MiniLMEmbedder.dimension
        self.vectors = vectors

    def embed(self, texts):
        return [self.vectors[t] for t in texts]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--name", default="scale")
    ap.add_argument("--added", type=int, default=10, help="chunks added for the BM25 refresh measurement")
    ap.add_argument(
        "--refresh-only", action="store_true", help="measure only the BM25 refresh (into NAME-refresh.json)"
    )
    ap.add_argument("--chart-only", action="store_true", help="redraw the chart from the saved JSON")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # "build:SIZE", "refresh:SIZE" or "measure:SIZE"
    args = ap.parse_args(argv)
    if args.worker:
        what, size = args.worker.split(":")
        out = (
            build(int(size))
            if what == "build"
            else refresh(int(size), args.added)
            if what == "refresh"
            else measure(int(size), args.queries)
        )
        print("RESULT " + json.dumps(out))
        return 0

    if args.chart_only:
        from bench.common import RESULTS

        _chart(json.loads((RESULTS / f"{args.name}.json").read_text())["sizes"], chart_path(args.name))
        return 0
    from bench.common import machine

    print(f"machine: {machine()}")
    base_corpus()  # make sure the real vectors are cached before the workers need them
    rows, refreshes = [], []
    for size in [int(s) for s in args.sizes.split(",")]:
        print(f"{size:,} chunks: build ...", flush=True)
        built = _worker(f"build:{size}", args)
        print(f"{size:,} chunks: BM25 refresh ...", flush=True)
        refreshes.append(_worker(f"refresh:{size}", args))  # first: it leaves the saved index current
        if args.refresh_only:
            continue
        print(f"{size:,} chunks: measure ...", flush=True)
        measured = _worker(f"measure:{size}", args)
        rows.append({"size": size, "build": built, "bm25_refresh": refreshes[-1], **measured})
        print(
            f"  hybrid p50 {measured['ms']['hybrid']['p50']:.1f} ms, p95 {measured['ms']['hybrid']['p95']:.1f} ms, "
            f"RSS {measured['rss_mb']['serving']:.0f} MiB",
            flush=True,
        )
    print()
    print_table(
        [
            "chunks",
            "BM25 full build s",
            f"refresh after adding {args.added} s",
            "load saved index s",
            f"refresh after removing {args.added} s",
            "full / adding",
            "identical",
            "BM25 MiB",
        ],
        [
            [
                r["chunks"],
                r["full_build_s"],
                r["refresh_after_adding_s"],
                r["load_saved_s"],
                r["refresh_after_removing_s"],
                f"x{r['full_over_adding']:.1f}",
                str(r["identical_to_full_build"]),
                r["bm25_mb"],
            ]
            for r in refreshes
        ],
    )
    if args.refresh_only:
        path = write_result(f"{args.name}-refresh", {"sizes": refreshes})
        print(f"wrote {path}")
        return 0
    print()
    print_table(
        ["chunks"] + [f"{m} p50/p95 ms" for m in MODES] + ["RSS MiB", "BM25 build s", "Chroma MiB"],
        [
            [r["chunks"]]
            + [f"{r['ms'][m]['p50']:.1f} / {r['ms'][m]['p95']:.1f}" for m in MODES]
            + [r["rss_mb"]["serving"], r["build"]["bm25_build_s"], r["build"]["chroma_mb"]]
            for r in rows
        ],
    )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = last["chunks"] / first["chunks"]
        for m in ("dense_vec", "bm25", "hybrid_vec", "hybrid"):
            print(f"{m}: p50 x{last['ms'][m]['p50'] / first['ms'][m]['p50']:.2f} for x{growth:.0f} chunks")
    big = rows[-1]
    for m in ("hybrid_vec", "hybrid"):
        verdict = "MET" if big["ms"][m]["p95"] <= TARGET_HYBRID_P95_MS else "MISSED"
        print(
            f"{m} p95 at {big['chunks']:,} chunks: {big['ms'][m]['p95']:.1f} ms "
            f"(target <= {TARGET_HYBRID_P95_MS:.0f} ms) {verdict}"
        )
    path = write_result(
        args.name, {"sizes": rows, "target_hybrid_p95_ms": TARGET_HYBRID_P95_MS, "variant_noise_sigma": SIGMA}
    )
    _chart(rows, chart_path(args.name))
    print(f"wrote {path} and {chart_path(args.name)}")
    return 0


def _worker(what: str, args: argparse.Namespace) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", what, "--queries", str(args.queries), "--added", str(args.added)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker {what} failed:\n{out.stderr[-3000:]}")
    line = next(row for row in reversed(out.stdout.splitlines()) if row.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def _chart(rows: list[dict], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sizes = [r["chunks"] for r in rows]
    for m in MODES:
        axes[0].plot(sizes, [r["ms"][m]["p95"] for r in rows], "o-", label=f"{m} p95")
        axes[0].plot(
            sizes, [r["ms"][m]["p50"] for r in rows], ".:", color=axes[0].lines[-1].get_color(), label=f"{m} p50"
        )
    axes[0].axhline(TARGET_HYBRID_P95_MS, color="k", linestyle="--", linewidth=0.8, label="hybrid p95 target")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")  # the query embedding is 10-100x the rest
    axes[0].set_xlabel("chunks")
    axes[0].set_ylabel("ms per query (log)")
    axes[0].set_title("Retrieval latency")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].plot(sizes, [r["rss_mb"]["serving"] for r in rows], "o-", label="serving process RSS")
    axes[1].plot(sizes, [r["rss_mb"]["with_minilm"] for r in rows], "s:", label="before opening the store")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("chunks")
    axes[1].set_ylabel("MiB")
    axes[1].set_title("Memory")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
