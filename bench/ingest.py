"""Ingest benchmark: embedding throughput of the pipeline vs raw `model.encode`, and re-sync
time of an unchanged folder.

    .venv/bin/python bench/ingest.py                       # defaults below
    .venv/bin/python bench/ingest.py --files 600 --resync 1000,10000 --repeat 2

Part 1 (throughput): the same HotpotQA paragraphs, one file each. "raw" is one
`SentenceTransformer.encode` call over exactly the texts the pipeline embeds (same batch size,
normalised); "pipeline" is `ingest()` of the folder into a fresh local Chroma folder (load,
clean, chunk, hash, embed, write chunks and manifest, build BM25). Runs alternate
raw/pipeline so machine noise hits both; the ratio is pipeline chunks/s over raw chunks/s.

Part 2 (re-sync): folders of 1,000 and 10,000 files (HotpotQA paragraphs, then sentence-
shuffled variants of them) indexed once with a fast deterministic fake embedder (re-sync
embeds nothing, so the model does not matter; MiniLM would take an hour for 10,000 files).
Each re-sync runs `ingest()` in a fresh process, as `rag ingest` would, and times the call
itself (imports, chromadb's alone taking 1.5-5 s here, are reported apart as "process s"); the first re-sync
is reported apart (files written just before the build are hashed once more,
see ingest/sync.py; also the first run on an index built by an older version),
then the steady state.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.common import (
    ROOT,
    WORK,
    chart_path,
    machine,
    percentile,
    print_table,
    pyplot,
    write_hotpot_folder,
    write_result,
)


class FakeEmbedder:
    """Deterministic unit vectors from a hash of the text (instant; for re-sync timing only)."""

    name = "bench-fake-384"
    dimension = 384

    def embed(self, texts):
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "big")
            v = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out.tolist()


def _paragraphs():
    from evals.benchmarks import load_hotpotqa

    return list(load_hotpotqa("test").corpus)


# ---- part 1: throughput ------------------------------------------------------------------


def _pipeline_texts(folder: Path) -> list[str]:
    """Exactly the texts ingest() embeds for `folder` (same loader, chunker, title rule)."""
    from assistant.settings import Settings
    from ingest.chunker import chunk_document
    from ingest.loaders import load_document
    from ingest.sync import _embedding_text

    s = Settings()
    texts = []
    for path in sorted(folder.iterdir()):
        doc = load_document(path, max_bytes=s.max_file_bytes)
        for c in chunk_document(doc, path.name, chunk_tokens=s.chunk_tokens, overlap_tokens=s.chunk_overlap_tokens):
            texts.append(_embedding_text(c))
    return texts


def throughput(n_files: int, repeat: int) -> dict:
    from assistant.retrieval.embedder import MiniLMEmbedder
    from assistant.settings import Settings
    from ingest import ingest

    folder = WORK / "ingest" / f"throughput-{n_files}"
    paragraphs = _paragraphs()[:n_files]
    if folder.exists() and len(list(folder.iterdir())) != n_files:
        shutil.rmtree(folder)
    write_hotpot_folder(folder, paragraphs)
    texts = _pipeline_texts(folder)
    embedder = MiniLMEmbedder()
    model = embedder._model()
    model.encode(texts[:64], batch_size=embedder.batch_size)  # warm up (first call allocates)
    runs = []
    for r in range(repeat):
        t = time.perf_counter()
        model.encode(
            texts,
            batch_size=embedder.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        raw = time.perf_counter() - t
        data = WORK / "ingest" / f"throughput-data-{r}"
        shutil.rmtree(data, ignore_errors=True)
        t = time.perf_counter()
        report = ingest([folder], settings=Settings(data_dir=data, backend="extractive"), embedder=embedder)
        pipe = time.perf_counter() - t
        assert report.embedded == len(texts), (report.embedded, len(texts))
        runs.append(
            {
                "raw_s": raw,
                "pipeline_s": pipe,
                "chunks": len(texts),
                "raw_chunks_per_s": len(texts) / raw,
                "pipeline_chunks_per_s": len(texts) / pipe,
                "ratio": raw / pipe,
            }
        )
        print(f"  run {r + 1}: raw {raw:.1f}s, pipeline {pipe:.1f}s, ratio {raw / pipe:.3f}", flush=True)
    raw_total = sum(x["raw_s"] for x in runs)
    pipe_total = sum(x["pipeline_s"] for x in runs)
    return {
        "files": n_files,
        "chunks": len(texts),
        "runs": runs,
        "ratio": raw_total / pipe_total,
        "best_ratio": max(x["ratio"] for x in runs),
    }


# ---- part 2: re-sync ---------------------------------------------------------------------


def _resync_folder(n_files: int) -> Path:
    """n files: the HotpotQA paragraphs, then variants with shuffled sentences."""
    folder = WORK / "ingest" / f"resync-{n_files}" / "docs"
    if folder.exists() and sum(1 for _ in folder.iterdir()) == n_files:
        return folder
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    paragraphs = _paragraphs()
    from assistant.grounding.sentences import sentence_spans

    for i in range(n_files):
        p = paragraphs[i % len(paragraphs)]
        v = i // len(paragraphs)
        text = p.text
        if v:
            sentences = [text[s:e] for s, e in sentence_spans(text)] or [text]
            random.Random(i).shuffle(sentences)
            text = f"(variant {v}) " + " ".join(sentences)
        (folder / f"{i:05d}_{p.key}.txt").write_text(f"{p.title}\n{text}\n", encoding="utf-8")
    return folder


_CHILD = """
import json, sys, time
t_start = time.perf_counter()
sys.path.insert(0, {root!r})
from pathlib import Path
from assistant.settings import Settings
from bench.ingest import FakeEmbedder
from ingest import ingest
import chromadb  # one-time import cost (seconds), reported apart from the sync itself
t_import = time.perf_counter()
r = ingest([Path({docs!r})], settings=Settings(data_dir=Path({data!r}), backend="extractive"),
           embedder=FakeEmbedder())
t_end = time.perf_counter()
print(json.dumps({{"ingest_s": t_end - t_import, "process_s": t_end - t_start,
                  "import_s": t_import - t_start,
                  "report": r.to_dict() | {{"skipped": len(r.skipped)}}}}))
"""


def _run_child(docs: Path, data: Path) -> dict:
    code = _CHILD.format(root=str(ROOT), docs=str(docs), data=str(data))
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - t
    return result


def resync(n_files: int, repeat: int) -> dict:
    docs = _resync_folder(n_files)
    data = docs.parent / "data"
    build = None
    marker = docs.parent / "built.json"
    if not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
        print(f"  building the {n_files:,}-file index (fake embedder) ...", flush=True)
        build = _run_child(docs, data)
        marker.write_text(json.dumps(build))
    first = _run_child(docs, data)  # may hash files and refresh their records once
    steady = [_run_child(docs, data) for _ in range(repeat)]
    for s in steady:
        rep = s["report"]
        assert rep["embedded"] == 0 and rep["unchanged"] == n_files, rep
    times = [s["ingest_s"] for s in steady]
    return {
        "files": n_files,
        "chunks": steady[0]["report"]["chunks"],
        "build": build or json.loads(marker.read_text()),
        "first_resync": first,
        "steady": steady,
        "ingest_s_median": percentile(times, 50),
        "ingest_s_max": max(times),
        "process_s_median": percentile([s["process_s"] for s in steady], 50),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=600, help="files for the throughput part (0 = skip)")
    ap.add_argument("--resync", default="1000,10000", help="folder sizes for the re-sync part ('' = skip)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--name", default="ingest")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    result: dict = {"args": vars(args)}
    if args.files:
        print(f"throughput on {args.files} files:", flush=True)
        result["throughput"] = throughput(args.files, args.repeat)
    sizes = [int(x) for x in args.resync.split(",") if x.strip()]
    result["resync"] = []
    for n in sizes:
        print(f"re-sync of {n:,} unchanged files:", flush=True)
        result["resync"].append(resync(n, max(3, args.repeat)))

    if "throughput" in result:
        tp = result["throughput"]
        print()
        print_table(
            ["run", "chunks", "raw encode s", "pipeline s", "raw chunks/s", "pipeline chunks/s", "ratio"],
            [
                [
                    i + 1,
                    r["chunks"],
                    r["raw_s"],
                    r["pipeline_s"],
                    r["raw_chunks_per_s"],
                    r["pipeline_chunks_per_s"],
                    r["ratio"],
                ]
                for i, r in enumerate(tp["runs"])
            ],
        )
        print(f"pipeline / raw throughput (all runs): {tp['ratio']:.3f}  (target >= 0.9)")
    if result["resync"]:
        print()
        print_table(
            ["files", "chunks", "first re-sync s", "steady ingest() s (median)", "max", "process s (median)", "target"],
            [
                [
                    r["files"],
                    r["chunks"],
                    r["first_resync"]["ingest_s"] if r["first_resync"] else "-",
                    r["ingest_s_median"],
                    r["ingest_s_max"],
                    r["process_s_median"],
                    "< 1 s" if r["files"] <= 1000 else "<= 2 s",
                ]
                for r in result["resync"]
            ],
        )
    path = write_result(args.name, result)
    _chart(result, chart_path(args.name))
    print(f"\nwrote {path} and {chart_path(args.name)}")
    return 0


def _chart(result: dict, path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    if "throughput" in result:
        tp = result["throughput"]
        raw = [r["raw_chunks_per_s"] for r in tp["runs"]]
        pipe = [r["pipeline_chunks_per_s"] for r in tp["runs"]]
        x = np.arange(len(raw))
        axes[0].bar(x - 0.2, raw, 0.4, label="raw model.encode")
        axes[0].bar(x + 0.2, pipe, 0.4, label="ingest() pipeline")
        axes[0].set_xticks(x, [f"run {i + 1}" for i in x])
        axes[0].set_ylabel("chunks / s")
        axes[0].set_title(f"Embedding throughput ({tp['chunks']} chunks), ratio {tp['ratio']:.2f}")
        axes[0].legend()
    if result["resync"]:
        files = [r["files"] for r in result["resync"]]
        axes[1].plot(files, [r["ingest_s_median"] for r in result["resync"]], "o-", label="steady re-sync")
        firsts = [(r["files"], r["first_resync"]["ingest_s"]) for r in result["resync"] if r["first_resync"]]
        if firsts:
            axes[1].plot(*zip(*firsts), "s--", label="first re-sync of the run")
        axes[1].plot([1000, 10000], [1, 2], "k:", label="targets")
        axes[1].set_xscale("log")
        axes[1].set_xlabel("unchanged files")
        axes[1].set_ylabel("seconds")
        axes[1].set_title("Re-sync of an unchanged folder")
        axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
