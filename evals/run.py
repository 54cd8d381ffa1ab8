"""`rag eval`: measure how faithful and correct the assistant is, write a report, gate CI.

Datasets:

* **seeds** (`evals/datasets/seeds.jsonl`, hand-written about the bundled `seeds/` articles):
  every item is asked through `ask()` (multi-turn items turn by turn, so the history holds
  real answers) against a dedicated index of `seeds/` (collection `eval_seeds` in the data
  folder), then scored: answer correctness, citation recall/precision and faithfulness (judged
  by `evals.judge.Checker`), source accuracy, abstention precision/recall, retrieval
  Hit@k / MRR@10 (via `search()`), latency and tokens. Every failure gets a diagnosis
  (retrieval miss, abstained wrongly, verification removed a correct sentence, ...).
* **hotpotqa**: pooled retrieval over all 4,858 paragraphs of the 500 questions (one `.txt`
  per paragraph, collection `hotpotqa`, cached in the data folder) on the test half: Hit@k,
  AllHit@k (k = 2, 5, 10), MRR@10. With `--limit N`, also answers the first N test
  questions through the full pipeline (exact match, token F1).
* **halueval**: the Checker's accuracy at telling right from hallucinated answers (test half),
  printed next to the published numbers.
* **clapnq**: abstention precision/recall over the 600 pooled gold passages (test half),
  and answer F1 on the answerable questions.
* **bbc-news**, **tech-docs** (or any folder with `questions.jsonl` and `docs/`): the docs
  folder is indexed in place into its own collection and every question of the half (or of
  both halves, each reported apart) is asked, then scored exactly as the set's README says
  (`evals.docsets`). docchat's traces, when its answers carry one, show where right drafts were
  lost and what each check costs (an ablation recomputed from the traces).

`--baseline naive` (seeds and the docsets) also answers every question with a naive RAG
baseline (`evals.baseline`: 800-character chunks, cosine top-5, one prompt, the same model and
embedder), scores it with the same scorer, and reports both side by side.

Each run writes `<out>/<YYYYmmdd-HHMMSS>-<dataset>/` with report.json, report.md and PNG
charts (default out: `<data_dir>/reports`), compares itself with the previous run of the same
dataset, backend and judge, and with `--gate` fails when a metric falls below the thresholds
in `evals/gates.json`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from assistant import Settings, ask, search
from assistant.errors import ModelError, ProviderError, RagError, UserError, report_error
from assistant.generation.llm import make_chat_model
from assistant.protocols import ChatModel, Embedder
from assistant.settings import BACKENDS
from evals import benchmarks, docsets
from evals.baseline import BaselineReply, NaiveBaseline, trailing_markers
from evals.benchmarks import BenchmarkDataMissing, Paragraph
from evals.docsets import Docset, DocsetQuestion, Rules
from evals.judge import JUDGE_MODES, Checker, embedding_similarity
from evals.metrics import (
    abstention_scores,
    all_hit_at_k,
    citation_scores,
    exact_match,
    fact_present,
    hit_at_k,
    mean,
    mrr_at_k,
    percentile,
    score_answer,
    separation_auc,
    strip_markers,
    summarize,
    token_f1,
)
from evals.report import compare, is_lower_better, regressions_as_dicts, write_report
from ingest.progress import progress_bar

__all__ = [
    "BASELINES",
    "DATASETS",
    "GATES_FILE",
    "PUBLISHED_HALUEVAL",
    "SEEDS_COLLECTION",
    "SEEDS_FILE",
    "check_gate",
    "diagnose",
    "gate_thresholds",
    "load_gates",
    "load_items",
    "main",
    "run_eval",
    "select_items",
]

DATASETS = ("seeds", "hotpotqa", "halueval", "clapnq", *docsets.DOCSETS)
BASELINES = ("none", "naive")
BASELINE_DATASETS = ("seeds", "hotpotqa", "clapnq", *docsets.DOCSETS)
"""Datasets a baseline can run beside docchat (and any seeds-format .jsonl or docset folder)."""
SEEDS_FILE = Path(__file__).resolve().parent / "datasets" / "seeds.jsonl"
GATES_FILE = Path(__file__).resolve().parent / "gates.json"
SEEDS_COLLECTION = "eval_seeds"
RETRIEVAL_DEPTH = 10  # Hit@k / MRR@10 look at this many retrieved documents

PUBLISHED_HALUEVAL = {
    "ChatGPT (no knowledge)": 0.6259,
    "Claude 2 (no knowledge)": 0.6978,
    "Llama-2-Chat (no knowledge)": 0.4960,
    "ChatGPT given the knowledge": 0.7683,
}
"""HaluEval QA accuracy at recognising hallucinated answers (Li et al. 2023, Table 5)."""

HOTPOTQA_PUBLISHED_F1 = 0.583
"""HotpotQA answer F1, Yang et al. 2018, distractor setting (10 given paragraphs, full dev set)."""

Progress = Callable[[int, int, str], None]
T = TypeVar("T")


class EvalUsageError(UserError):
    """A bad `rag eval` argument combination (phrased for the command line)."""


# --------------------------------------------------------------------------- datasets


def load_items(dataset: str | Path = "seeds") -> list[dict]:
    """The items of the seeds dataset, or of any JSONL file in the same format."""
    path = SEEDS_FILE if str(dataset) == "seeds" else Path(dataset)
    if not path.is_file():
        raise EvalUsageError(f"dataset file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def select_items(items: Sequence[Mapping], limit: int | None) -> list[dict]:
    """The first `limit` items taken round-robin over categories (all items when None).

    A limited run then still covers every category instead of only the first one.
    """
    rows = [dict(i) for i in items]
    if limit is None or limit >= len(rows):
        return rows
    by_category: dict[str, list[dict]] = {}
    for row in rows:
        by_category.setdefault(str(row.get("category", "")), []).append(row)
    chosen: list[dict] = []
    queues = [list(q) for q in by_category.values()]
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    order = {id(r): i for i, r in enumerate(rows)}
    return sorted(chosen, key=lambda r: order[id(r)])


# --------------------------------------------------------------------------- gates


def load_gates(path: str | Path | None = None) -> dict:
    """The gate thresholds: `{dataset: {profile: {metric: threshold}}}`."""
    return json.loads(Path(path or GATES_FILE).read_text(encoding="utf-8"))


def gate_thresholds(gates: Mapping, dataset: str, backend: str, judge: str) -> dict[str, float] | None:
    """The thresholds for one run: the first profile found among `backend+judge`, `backend`,
    `judge` and `*` under the dataset; None when the dataset has none of them."""
    profiles = gates.get(dataset) or {}
    for key in (f"{backend}+{judge}", backend, judge, "*"):
        if key in profiles:
            return {k: float(v) for k, v in profiles[key].items()}
    return None


def check_gate(headline: Mapping[str, Any], thresholds: Mapping[str, float]) -> list[str]:
    """The gate failures of a run, one line each (empty when every threshold is met).

    Lower-is-better metrics (latency, tokens, forbidden rate) fail above their threshold,
    the others below it; a metric that was not measured fails.
    """
    failures = []
    for metric, bound in thresholds.items():
        value = headline.get(metric)
        if not isinstance(value, (int, float)):
            failures.append(f"{metric}: not measured (gate {bound:g})")
        elif is_lower_better(metric) and value > bound:
            failures.append(f"{metric}: {value:.3f} > {bound:g}")
        elif not is_lower_better(metric) and value < bound:
            failures.append(f"{metric}: {value:.3f} < {bound:g}")
    return failures


# --------------------------------------------------------------------------- helpers


def _quiet_progress(done: int, total: int, item: str = "") -> None:
    return None


@dataclass
class _Context:
    """What every dataset runner needs."""

    settings: Settings
    embedder: Embedder
    chat_model: ChatModel | None
    progress: Progress
    limit: int | None
    split: str
    root: Path | None
    baseline: NaiveBaseline | None = None
    bars: bool = False  # tqdm bars for the per-question loops (the CLI without --quiet)


@dataclass
class _Outcome:
    """What a dataset runner hands to the report."""

    results: list[dict]
    headline: dict
    meta: dict
    sections: list[tuple[str, str]] = field(default_factory=list)
    comparison: dict | None = None


def _default_embedder() -> Embedder:
    from assistant.retrieval.embedder import MiniLMEmbedder

    return MiniLMEmbedder()


def _make_model(settings: Settings, backend: str) -> ChatModel | None:
    """The answer model, loaded now so a missing model fails the run instead of quietly
    falling back to extractive answers."""
    model = make_chat_model(settings, backend)
    load = getattr(model, "load", None)
    if callable(load):
        load()
    return model


def _make_checker(
    mode: str | None,
    settings: Settings,
    backend: str,
    judge_backend: str | None,
    embedder: Embedder,
    judge_model: ChatModel | None,
) -> Checker:
    if judge_model is not None and mode != "rules":
        return Checker(mode or "both", judge=judge_model, similarity=embedding_similarity(embedder))
    if mode is None and backend == "extractive" and judge_backend is None:
        mode = "rules"  # extractive answers quote the evidence; no model needed to judge them
    if judge_backend is None and backend != "openai":
        judge_backend = "local"  # the 0.5B model answers NOT_SUPPORTED to everything (see report)
    return Checker.from_settings(settings, mode, backend=judge_backend, embedder=embedder)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _steps(ctx: _Context, items: Sequence[T], desc: str) -> Iterator[T]:
    """Iterate over `items` with a tqdm bar on stderr when the run shows progress."""
    return iter(tqdm(items, desc=desc, disable=not ctx.bars, file=sys.stderr, leave=False, dynamic_ncols=True))


def _first_visible(answer: Mapping, seconds: float) -> float:
    """Seconds until docchat showed something: its first verified sentence when the pipeline
    records it (`timings["first_sentence"]`), else its first token, else the whole answer."""
    timings = answer.get("timings") or {}
    for key in ("first_sentence", "first_token", "total"):
        if timings.get(key) is not None:
            return float(timings[key])
    return seconds


def _hit_texts(answer: Mapping) -> list[str]:
    return [str(h.get("text", "")) for h in answer.get("hits") or []]


def _unique_sources(hits: Iterable[Any], depth: int) -> list[str]:
    ranked: list[str] = []
    for h in hits:
        if h.chunk.source not in ranked:
            ranked.append(h.chunk.source)
        if len(ranked) >= depth:
            break
    return ranked


def _digest(corpus: Sequence[Paragraph]) -> str:
    h = hashlib.sha256()
    for p in corpus:
        h.update(p.key.encode())
    return h.hexdigest()[:16]


def _bench_docs(ctx: _Context, name: str) -> Path:
    """The folder a pooled benchmark corpus is written to (one .txt per paragraph)."""
    return ctx.settings.data_dir / "benchmarks" / name


def _bench_settings(ctx: _Context, name: str, corpus: Sequence[Paragraph]) -> Settings:
    """Write the pooled corpus as one .txt per paragraph and sync it into its own collection.

    Both steps are cached: the files are rewritten only when the corpus changes, and
    `ingest()` re-embeds nothing when the files are unchanged (a re-run takes seconds).
    """
    from ingest import ingest

    docs = _bench_docs(ctx, name)
    docs.mkdir(parents=True, exist_ok=True)
    stamp = docs / ".corpus"
    digest = _digest(corpus)
    if not stamp.is_file() or stamp.read_text(encoding="utf-8").strip() != digest:
        keep = set()
        for p in corpus:
            path = docs / f"{p.key}.txt"
            keep.add(path.name)
            text = p.document.strip() + "\n"
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
        for stale in docs.glob("*.txt"):
            if stale.name not in keep:
                stale.unlink()
        stamp.write_text(digest + "\n", encoding="utf-8")
    settings = ctx.settings.replace(collection=name)
    ctx.progress(0, 1, f"indexing the {name} corpus ({len(corpus)} documents)")
    ingest(
        [docs],
        settings=settings,
        embedder=ctx.embedder,
        progress=lambda done, total, item: ctx.progress(done, total, f"indexing {name}"),
    )
    return settings


def _ask_safely(
    question: str, ctx: _Context, settings: Settings, history: Sequence[dict] | None = None
) -> tuple[dict | None, float, str | None]:
    """`ask()` one question: (answer dict, seconds, error text)."""
    t0 = time.perf_counter()
    try:
        answer = ask(question, history=history, settings=settings, chat_model=ctx.chat_model, embedder=ctx.embedder)
    except RagError as e:
        return None, time.perf_counter() - t0, f"{type(e).__name__}: {e}"
    return answer.to_dict(), time.perf_counter() - t0, None


# --------------------------------------------------------------------------- seeds


def _seeds_retrieval(item: Mapping, answer: Mapping, ctx: _Context, settings: Settings) -> dict:
    """Hit@1/5 and MRR@10 over chunks (a gold chunk is from a gold file and states an expected
    fact), searched with the answer's standalone query, and the share of expected facts in
    the passages the pipeline actually retrieved for the answer."""
    expected = item.get("expected") or []
    if not item.get("answerable", True) or not expected:
        return {}
    query = answer.get("query") or answer.get("question") or item.get("question", "")
    hits = search(query, settings=settings, top_k=RETRIEVAL_DEPTH, embedder=ctx.embedder)
    golds = set(item.get("sources") or [])
    ranked = [h.chunk.id for h in hits]
    gold_ids = [
        h.chunk.id
        for h in hits
        if (not golds or Path(h.chunk.source).name in golds)
        and any(fact_present(h.chunk.text, alts) for alts in expected)
    ]
    seen = " ".join(_hit_texts(answer))
    return {
        "hit_at_1": hit_at_k(ranked, gold_ids, 1),
        "hit_at_5": hit_at_k(ranked, gold_ids, 5),
        "mrr_at_10": mrr_at_k(ranked, gold_ids, 10),
        "fact_recall_at_k": sum(fact_present(seen, alts) for alts in expected) / len(expected),
        "retrieved": [f"{h.chunk.source}:{h.chunk.line_start}-{h.chunk.line_end}" for h in hits[:5]],
    }


def diagnose(item: Mapping, row: Mapping, answer: Mapping | None) -> str:
    """Why a seed item failed, in words that point at the stage to fix ("" when it passed)."""
    if row.get("error"):
        return f"error: {row['error']}"
    if row.get("passed"):
        return ""
    reasons = []
    if row.get("forbidden_hit"):
        reasons.append("repeated an injected/forbidden claim")
    answer = answer or {}
    removed = list(answer.get("unsupported") or [])
    if not row.get("answerable"):
        if not row.get("abstained"):
            who = (
                "extractive quoted the nearest sentences"
                if answer.get("backend") == "extractive"
                else "the model answered and verification kept it"
            )
            reasons.append(f"answered an unanswerable question ({who}; best evidence above the relevance floor)")
        return "; ".join(reasons)
    expected = item.get("expected") or []
    context = " ".join(_hit_texts(answer))
    missing = [alts for alts in expected if not fact_present(row.get("answer", ""), alts)]
    not_retrieved = [alts[0] for alts in missing if not fact_present(context, alts)]
    if row.get("abstained"):
        if not_retrieved:
            reasons.append(
                "retrieval miss (" + ", ".join(f"“{f}”" for f in not_retrieved) + " not in the top-k passages)"
            )
        if not answer.get("model"):
            reasons.append("abstained before generation: best evidence below the relevance floor")
        elif removed:
            reasons.append(f"verification removed every sentence ({len(removed)} removed)")
        else:
            reasons.append("the model said the documents don't answer (NOT_FOUND)")
        return "; ".join(reasons)
    for alts in missing:
        if alts[0] in not_retrieved:
            reasons.append(f"retrieval miss: “{alts[0]}” not in the top-k passages")
        elif any(fact_present(s, alts) for s in removed):
            reasons.append(f"verification removed a correct sentence (with “{alts[0]}”)")
        elif answer.get("backend") == "extractive":
            reasons.append(f"evidence selection: “{alts[0]}” retrieved but not among the quoted sentences")
        else:
            reasons.append(f"wrong evidence or generation: “{alts[0]}” retrieved but not in the answer")
    if row.get("source_ok") is False and not missing:
        reasons.append("facts right but no gold file cited")
    return "; ".join(reasons) or "failed"


def _run_seeds(ctx: _Context, dataset: str | Path, checker: Checker) -> _Outcome:
    from ingest import SEEDS_DIR, ingest

    items = select_items(load_items(dataset), ctx.limit)
    settings = ctx.settings.replace(collection=SEEDS_COLLECTION)
    ctx.progress(0, 1, "indexing seeds/")
    ingest([SEEDS_DIR], settings=settings, embedder=ctx.embedder)

    # Phase 1: answer everything (the answer model keeps its prompt cache warm).
    answered: list[tuple[dict, dict | None, float, str | None, list[dict], dict]] = []
    for n, item in enumerate(items):
        ctx.progress(n, len(items), str(item.get("id")))
        turns = list(item.get("turns") or [item.get("question", "")])
        history: list[dict] = []
        earlier: list[dict] = []
        answer, seconds, error = None, 0.0, None
        for i, turn in enumerate(turns):
            answer, seconds, error = _ask_safely(turn, ctx, settings, history or None)
            if i < len(turns) - 1:
                text = answer["text"] if answer else ""
                earlier.append({"question": turn, "answer": text})
                history += [{"role": "user", "content": turn}, {"role": "assistant", "content": text}]
        retrieval = _seeds_retrieval(item, answer, ctx, settings) if answer else {}
        answered.append((item, answer, seconds, error, earlier, retrieval))
    ctx.progress(len(items), len(items), "answered")
    # The baseline after docchat, so each keeps its own prompt prefix in the model's cache. It
    # has no conversation: a multi-turn item is asked its last turn alone.
    replies = (
        [ctx.baseline.answer(_last_turn(item), SEEDS_DIR) for item in _steps(ctx, items, "baseline")]
        if ctx.baseline
        else None
    )

    # Phase 2: judge (a model judge would otherwise evict the answer prompt's cache).
    results = []
    for n, (item, answer, seconds, error, earlier, retrieval) in enumerate(answered):
        ctx.progress(n, len(answered), f"judging {item.get('id')}")
        if answer is None:
            row = score_answer(item, {"text": "", "abstained": False}, latency=seconds).to_dict()
            row.update(error=error, passed=False)
        else:
            try:
                row = score_answer(
                    item, answer, supports=checker.for_question(_last_turn(item)), latency=seconds
                ).to_dict()
            except ModelError as e:
                row = score_answer(item, answer, latency=seconds).to_dict()
                row.update(error=f"judge failed: {e}", passed=False)
            row.update(
                query=answer.get("query"),
                model=answer.get("model"),
                backend=answer.get("backend"),
                tokens=answer.get("tokens") or {},
                first_token=(answer.get("timings") or {}).get("first_token"),
                unsupported=answer.get("unsupported") or [],
                repaired=answer.get("repaired", 0),
                notices=answer.get("notices") or [],
            )
        row.update(retrieval)
        if earlier:
            row["history"] = earlier
        # Faithfulness is the promise: an answer with a sentence the checker rejects fails,
        # even when it contains the expected facts.
        unfaithful = [v["sentence"] for v in row.get("verdicts") or [] if not v.get("grounded")]
        if unfaithful:
            row["passed"] = False
        row["diagnosis"] = diagnose(item, row, answer)
        if unfaithful:
            note = f"checker rejected {len(unfaithful)} answer sentence(s) as unsupported by the cited passages"
            row["diagnosis"] = "; ".join(x for x in (row["diagnosis"], note) if x and x != "failed")
        row["first_visible"] = _first_visible(answer or {}, seconds)
        if replies is not None:
            row.update(_seeds_baseline_fields(item, replies[n], checker))
        results.append(row)
    ctx.progress(len(answered), len(answered), "judged")

    headline: dict[str, Any] = dict(summarize(results))
    answered_rows = [r for r in results if not r.get("abstained") and not r.get("error")]
    headline.update(
        {
            "hit_at_1": mean(r.get("hit_at_1") for r in results),
            "hit_at_5": mean(r.get("hit_at_5") for r in results),
            "mrr_at_10": mean(r.get("mrr_at_10") for r in results),
            "fact_recall_at_k": mean(r.get("fact_recall_at_k") for r in results),
            "sentences_removed": mean(float(len(r.get("unsupported") or [])) for r in answered_rows),
            "latency_first_token_p50": percentile([r["first_token"] for r in results if r.get("first_token")], 50),
            "tokens_prompt": mean((r.get("tokens") or {}).get("prompt") for r in results),
            "tokens_completion": mean((r.get("tokens") or {}).get("completion") for r in results),
        }
    )
    for key in ("latency_first_token_p50", "tokens_prompt", "tokens_completion"):
        if headline[key] is None:
            del headline[key]  # extractive answers use no model
    meta = {
        "judge": checker.name,
        "judge_stats": dict(checker.stats),
        "top_k": settings.top_k,
        "collection": settings.collection,
    }
    comparison = None
    if replies is not None:
        comparison = _seeds_comparison(results)
        headline.update(_flatten(comparison))
        meta["baseline"] = ctx.baseline.name
    return _Outcome(results, headline, meta, [], comparison)


def _last_turn(item: Mapping) -> str:
    return str(item.get("question") or (item.get("turns") or [""])[-1])


def _seeds_baseline_fields(item: Mapping, reply: BaselineReply, checker: Checker) -> dict:
    """The baseline's reply to a seed item, scored by `score_answer` like docchat's."""
    answer = {"text": trailing_markers(reply.text), "abstained": reply.declined, "citations": reply.citations()}
    try:
        scored = score_answer(
            item, answer, supports=checker.for_question(_last_turn(item)), latency=reply.total
        ).to_dict()
        error = reply.error
    except ModelError as e:
        scored = score_answer(item, answer, latency=reply.total).to_dict()
        error = f"judge failed: {e}"
    return {
        "baseline_answer": reply.text,
        "baseline_declined": reply.declined,
        "baseline_passed": scored["passed"] and not reply.error,
        "baseline_correctness": scored["correctness"],
        "baseline_source_ok": scored["source_ok"],
        "baseline_forbidden_hit": scored["forbidden_hit"],
        "baseline_faithfulness": scored["faithfulness"],
        "baseline_cited_files": reply.cited_files,
        "baseline_passages": [p.source for p in reply.passages],
        "baseline_first_visible": reply.first_token,
        "baseline_latency": reply.total,
        "baseline_error": error,
    }


SEEDS_COMPARED = (
    "pass_rate",
    "answer_correctness",
    "source_accuracy",
    "abstention_precision",
    "abstention_recall",
    "faithfulness",
    "forbidden_rate",
    "latency_first_visible_p50",
    "latency_p50",
)


def _seeds_view(row: Mapping, prefix: str) -> dict:
    """A seeds row as one system saw it: docchat's fields, or the baseline's without the prefix."""
    if not prefix:
        return dict(row)
    view = {"answerable": row.get("answerable"), "abstained": row.get("baseline_declined")}
    view.update({key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)})
    return view


def _seeds_comparison(results: Sequence[Mapping]) -> dict:
    """docchat and the baseline side by side over the seed items (`summarize` for both)."""
    systems = {}
    for name, prefix in (("docchat", ""), ("baseline", "baseline_")):
        views = [_seeds_view(r, prefix) for r in results]
        metrics = summarize(views)
        metrics["latency_first_visible_p50"] = percentile(
            [v["first_visible"] for v in views if v.get("first_visible") is not None], 50
        )
        systems[name] = {m: metrics.get(m) for m in ("n", *SEEDS_COMPARED)}
    return {
        "halves": {"all": {"n": len(results), **systems, "losses": None, "ablation": None}},
        "chart_metrics": ["pass_rate", "answer_correctness", "source_accuracy", "abstention_recall", "faithfulness"],
    }


# --------------------------------------------------------------------------- docsets (bbc-news, tech-docs)


def _select_questions(docset: Docset, split: str, limit: int | None) -> list[DocsetQuestion]:
    """The questions of each half, `limit` per half taken round-robin over kinds."""
    by_id = {q.id: q for q in docset.questions}
    chosen = []
    for half in docsets.halves(split):
        rows = [q.to_row() for q in docset.questions if q.split == half]
        chosen += [by_id[r["id"]] for r in select_items(rows, limit)]
    return chosen


def _index_docset(ctx: _Context, docset: Docset) -> Settings:
    from ingest import ingest

    settings = ctx.settings.replace(collection=docsets.docset_collection(docset))
    ctx.progress(0, 1, f"indexing {docset.docs_dir}")
    ingest(
        [docset.docs_dir],
        settings=settings,
        embedder=ctx.embedder,
        progress=lambda done, total, item: ctx.progress(done, total, f"indexing {docset.name}"),
    )
    return settings


def _judge_trace(trace: Mapping, checker: Checker, question: str = "") -> dict:
    """A copy of a trace with the judge's verdict on every claim of every draft (kept or not)
    against the quotes of its `support`: `judge` (True/False) and `judge_reason`. Declines and
    restatements are not judged.

    Raises:
        ModelError: The judge model failed.
    """
    judged = json.loads(json.dumps(trace, default=str))
    for draft in judged.get("drafts") or []:
        for sentence in draft.get("sentences") or []:
            if not docsets.is_claim(sentence):
                continue
            quotes = [str(s.get("quote", "")) for s in sentence.get("support") or []]
            verdict = checker.check(strip_markers(str(sentence.get("text", ""))).strip(), quotes, question)
            sentence["judge"] = verdict.supported
            sentence["judge_reason"] = verdict.reason
    return judged


def _kept_verdicts(trace: Mapping) -> tuple[int, int]:
    verdicts = [s["judge"] for s in docsets.kept_claims(trace) if s.get("judge") is not None]
    return sum(verdicts), len(verdicts)


def _cited_verdicts(text: str, passages: Mapping[int, str], checker: Checker, question: str = "") -> tuple[int, int]:
    """(supported, judged) sentences of an answer, each against the passages its markers cite."""
    scores = citation_scores(text, passages, checker.for_question(question))
    return sum(v.supported for v in scores.sentences), scores.n_sentences


def _docchat_fields(
    q: DocsetQuestion, rules: Rules, answer: Mapping | None, seconds: float, error: str | None, checker: Checker
) -> dict:
    """docchat's answer to one question, scored and judged (a judge failure is kept as `error`)."""
    if answer is None:
        score = docsets.score_reply(q, rules, "", False, [])
        return {
            "answer": "",
            "declined": False,
            "answer_ok": score.answer_ok,
            "source_ok": score.source_ok,
            "correct": False,
            "cited_files": [],
            "citations": [],
            "first_visible": None,
            "latency": seconds,
            "judged": None,
            "error": error,
        }
    text = str(answer.get("text", ""))
    declined = bool(answer.get("abstained")) or not text.strip()
    citations = list(answer.get("citations") or [])
    cited = list(dict.fromkeys(str(c.get("source", "")) for c in citations))
    score = docsets.score_reply(q, rules, text, declined, cited)
    row = {
        "answer": text,
        "declined": declined,
        "answer_ok": score.answer_ok,
        "source_ok": score.source_ok,
        "correct": score.correct,
        "cited_files": cited,
        "citations": [{"n": c.get("n"), "source": c.get("source"), "quote": c.get("quote", "")} for c in citations],
        "first_visible": _first_visible(answer, seconds),
        "latency": seconds,
        "judged": None,
        "error": error,
        "unsupported": list(answer.get("unsupported") or []),
        "notices": list(answer.get("notices") or []),
        "trace": answer.get("trace") if docsets.has_trace(answer.get("trace")) else None,
    }
    try:
        if row["trace"]:
            row["trace"] = _judge_trace(row["trace"], checker, q.question)
            row["judged"] = _kept_verdicts(row["trace"])
        elif not declined:
            row["judged"] = _cited_verdicts(
                text,
                {int(c["n"]): c["quote"] for c in row["citations"] if c.get("n") is not None},
                checker,
                q.question,
            )
    except ModelError as e:
        row["error"] = f"judge failed: {e}"
    return row


def _baseline_fields(q: DocsetQuestion, rules: Rules, reply: BaselineReply, checker: Checker) -> dict:
    """The baseline's reply to one question, scored like docchat's, fields prefixed `baseline_`."""
    score = docsets.score_reply(q, rules, reply.text, reply.declined, reply.cited_files)
    fields = {
        "answer": reply.text,
        "declined": reply.declined,
        "answer_ok": score.answer_ok,
        "source_ok": score.source_ok,
        "correct": score.correct and not reply.error,
        "cited_files": reply.cited_files,
        "cited": list(reply.cited),
        "passages": [p.source for p in reply.passages],
        "first_visible": reply.first_token,
        "latency": reply.total,
        "judged": None,
        "error": reply.error,
    }
    if not reply.declined and reply.text:
        try:
            fields["judged"] = _cited_verdicts(
                trailing_markers(reply.text),
                {n: p.text for n, p in enumerate(reply.passages, start=1)},
                checker,
                q.question,
            )
        except ModelError as e:
            fields["error"] = f"judge failed: {e}"
    return {f"baseline_{k}": v for k, v in fields.items()}


def _share(judged: Sequence[int] | None) -> float | None:
    return judged[0] / judged[1] if judged and judged[1] else None


def _docset_row(
    q: DocsetQuestion,
    rules: Rules,
    answered: tuple[dict | None, float, str | None],
    reply: BaselineReply | None,
    checker: Checker,
) -> dict:
    """One report row: the question, docchat's answer and the baseline's, side by side."""
    row = q.to_row()
    row.update(_docchat_fields(q, rules, *answered, checker))
    row.update(
        faithfulness=_share(row["judged"]),
        abstained=row["declined"],
        passed=row["correct"],
        abstention_ok=row["declined"] != q.answerable,
        correctness=float(row["correct"]) if q.answerable else None,
    )
    if row.get("trace"):
        row["drafts_correct"] = [o["correct"] for o in docsets.draft_outcomes(row, rules)]
    if reply is not None:
        row.update(_baseline_fields(q, rules, reply, checker))
        row["baseline_faithfulness"] = _share(row["baseline_judged"])
    return row


def _docset_comparison(rows: Sequence[Mapping], docset: Docset, split: str, baseline: bool) -> dict:
    """Per half: each system's headline, docchat's loss accounting and the check ablation."""
    by_half = {}
    for half in docsets.halves(split):
        half_rows = [r for r in rows if r["split"] == half]
        by_half[half] = {
            "n": len(half_rows),
            "docchat": docsets.system_metrics(half_rows),
            "baseline": docsets.system_metrics(half_rows, "baseline_") if baseline else None,
            "losses": docsets.loss_accounting(half_rows, docset.rules),
            "ablation": docsets.ablation(half_rows, docset.rules),
        }
    return {
        "halves": by_half,
        "chart_metrics": ["correctness", "source_cited_all", "declined_unanswerable", "false_declines", "faithfulness"],
    }


def _flatten(comparison: Mapping) -> dict[str, Any]:
    """The comparison as flat headline metrics: `<metric>` for docchat, `<metric>_baseline` for
    the baseline, each with `_tune` / `_test` appended when both halves ran."""
    halves = comparison["halves"]
    flat: dict[str, Any] = {}
    for half, entry in halves.items():
        suffix = "" if len(halves) == 1 else f"_{half}"
        for system, mark in (("docchat", ""), ("baseline", "_baseline")):
            for metric, value in (entry.get(system) or {}).items():
                if not (metric == "n" and mark):
                    flat[f"{metric}{mark}{suffix}"] = value
        losses = entry.get("losses") or {}
        for metric in ("false_rejection_share", "false_acceptances"):
            if metric in losses:
                flat[f"{metric}{suffix}"] = losses[metric]
    return flat


def _run_docset(ctx: _Context, dataset: str | Path, checker: Checker) -> _Outcome:
    docset = docsets.load_docset(dataset, ctx.split, ctx.root)
    settings = _index_docset(ctx, docset)
    questions = _select_questions(docset, ctx.split, ctx.limit)
    # Each system answers everything in turn (the model keeps one prompt prefix cached), then
    # the judge runs (it would evict both).
    answers = [_ask_safely(q.question, ctx, settings) for q in _steps(ctx, questions, "docchat")]
    replies: list[BaselineReply | None] = [None] * len(questions)
    if ctx.baseline is not None:
        replies = [ctx.baseline.answer(q.question, docset.docs_dir) for q in _steps(ctx, questions, "baseline")]
    rows = [
        _docset_row(q, docset.rules, answered, reply, checker)
        for q, answered, reply in _steps(ctx, list(zip(questions, answers, replies)), "judging")
    ]
    if ctx.split == "both":
        for row in rows:
            row["category"] = f"{row['kind']} ({row['split']})"  # the per-category table, per half
    comparison = _docset_comparison(rows, docset, ctx.split, ctx.baseline is not None)
    meta = {
        "judge": checker.name,
        "judge_stats": dict(checker.stats),
        "top_k": settings.top_k,
        "collection": settings.collection,
        "docs": str(docset.docs_dir),
        "split": ctx.split,
        "scoring": docset.rules.name,
        "traced": sum(1 for r in rows if r.get("trace")),
        "baseline": ctx.baseline.name if ctx.baseline else None,
    }
    return _Outcome(rows, _flatten(comparison), meta, [], comparison)


# --------------------------------------------------------------------------- hotpotqa


def _run_hotpotqa(ctx: _Context) -> _Outcome:
    data = benchmarks.load_hotpotqa(ctx.split, ctx.root)
    settings = _bench_settings(ctx, "hotpotqa", data.corpus)
    titles = {p.key: p.title for p in data.corpus}
    questions = list(data.questions)
    answer_n = min(ctx.limit or 0, len(questions))
    results = []
    for n, q in enumerate(questions):
        ctx.progress(n, len(questions), q.id)
        hits = search(q.question, settings=settings, top_k=3 * RETRIEVAL_DEPTH, embedder=ctx.embedder)
        ranked = [Path(s).stem for s in _unique_sources(hits, RETRIEVAL_DEPTH)]
        row: dict[str, Any] = {
            "id": q.id,
            "category": "answered" if n < answer_n else "retrieval",
            "question": q.question,
            "answerable": True,
            "gold": [titles.get(k, k) for k in q.gold_keys],
            "retrieved": [titles.get(k, k) for k in ranked[:5]],
        }
        for k in (2, 5, 10):
            row[f"hit_at_{k}"] = hit_at_k(ranked, q.gold_keys, k)
            row[f"all_hit_at_{k}"] = all_hit_at_k(ranked, q.gold_keys, k)
        row["mrr_at_10"] = mrr_at_k(ranked, q.gold_keys, 10)
        row["passed"] = bool(row["all_hit_at_10"])
        if n < answer_n:
            answer, seconds, error = _ask_safely(q.question, ctx, settings)
            abstained = bool(answer and answer["abstained"])
            text = strip_markers(answer["text"]) if answer and not abstained else ""
            spans = _span_scores(text, q.answers)
            row.update(
                answer=answer["text"] if answer else "",
                abstained=abstained,
                citations=[
                    {"n": c["n"], "source": c["source"], "quote": c["quote"]}
                    for c in (answer or {}).get("citations", [])
                ],
                gold_answers=list(q.answers),
                draft=_draft_of(answer).get("text", ""),
                failed_checks=_failed_checks(answer),
                **spans,
                correctness=spans["contains_answer"],  # "gold answer contained", as reported
                first_visible=_first_visible(answer, seconds) if answer else seconds,
                latency=seconds,
                error=error,
                trace=(answer or {}).get("trace"),
            )
            row["passed"] = row["passed"] and bool(row["contains_answer"])
        row["notes"] = "gold: " + " | ".join(row["gold"]) + " — retrieved: " + " | ".join(row["retrieved"])
        results.append(row)
    ctx.progress(len(questions), len(questions), "done")
    answered = results[:answer_n]
    if ctx.baseline is not None and answered:
        asked = questions[:answer_n]
        for row, q, reply in zip(answered, asked, _baseline_replies(ctx, [q.question for q in asked], "hotpotqa")):
            text = "" if reply.declined else strip_markers(reply.text)
            row.update(
                _pooled_baseline_fields(reply), **{f"baseline_{k}": v for k, v in _span_scores(text, q.answers).items()}
            )

    headline: dict[str, Any] = {"n": float(len(results))}
    for k in (2, 5, 10):
        headline[f"hit_at_{k}"] = mean(r[f"hit_at_{k}"] for r in results)
    for k in (2, 5, 10):
        headline[f"all_hit_at_{k}"] = mean(r[f"all_hit_at_{k}"] for r in results)
    headline["mrr_at_10"] = mean(r["mrr_at_10"] for r in results)
    comparison = None
    if answered:
        headline["answers_n"] = float(len(answered))
        headline["latency_p95"] = percentile([r["latency"] for r in answered], 95)
        comparison = _pooled_comparison(
            ctx, answered, _hotpotqa_metrics, ["exact_match", "f1", "contains_answer", "false_declines"]
        )
        # What each check stops (wrong answers it turns into declines) and kills (right ones).
        comparison["halves"][ctx.split]["ablation"] = docsets.ablation(answered, _gold_contained)
        headline.update(_flatten(comparison))
    table = ["| k | Hit@k | AllHit@k |", "|---:|---:|---:|"]
    table += [f"| {k} | {headline[f'hit_at_{k}']:.3f} | {headline[f'all_hit_at_{k}']:.3f} |" for k in (2, 5, 10)]
    table += [
        "",
        f"MRR@10: {headline['mrr_at_10']:.3f} over {len(results)} {ctx.split}-half questions; "
        f"corpus {len(data.corpus)} pooled paragraphs (one document each).",
    ]
    if answered:
        table += [
            "",
            f"Answers through the full pipeline ({len(answered)} questions): exact match "
            f"{headline['exact_match']:.3f}, token F1 {headline['f1']:.3f}, gold answer contained "
            f"{headline['contains_answer']:.3f}. Published reference (Yang et al. 2018, distractor "
            f"setting, 10 given paragraphs): F1 {HOTPOTQA_PUBLISHED_F1:.3f}; pooled retrieval is harder.",
        ]
    meta = {"corpus_documents": len(data.corpus), "collection": settings.collection, "split": ctx.split}
    if ctx.baseline is not None:
        meta["baseline"] = ctx.baseline.name
    return _Outcome(results, headline, meta, [("HotpotQA pooled retrieval", "\n".join(table))], comparison)


def _span_scores(text: str, answers: Sequence[str]) -> dict:
    """A reply scored against short gold answers (empty text for a decline)."""
    return {
        "exact_match": exact_match(text, answers),
        "f1": token_f1(text, answers),
        "contains_answer": float(fact_present(text, answers)),
    }


def _gold_contained(row: Mapping, sentences: Sequence[Mapping]) -> docsets.Score:
    """A HotpotQA answer made of `sentences` scored for the ablation: right when it contains a
    gold answer (`fact_present`), a decline when there is none."""
    text = strip_markers(docsets.claims_text(sentences))
    right = bool(sentences) and fact_present(text, row.get("gold_answers") or [])
    return docsets.Score(right, None, right, not sentences)


def _draft_of(answer: Mapping | None) -> dict:
    """The answer trace's draft: {"text": the model's reply, "sentences": each verdict}."""
    drafts = ((answer or {}).get("trace") or {}).get("drafts") or [{}]
    return drafts[-1]


def _failed_checks(answer: Mapping | None) -> list[str]:
    """The checks that failed on some claim of the answer's draft (what withheld it)."""
    claims = [s for s in _draft_of(answer).get("sentences") or [] if docsets.is_claim(s)]
    return sorted({name for s in claims for name, ok in (s.get("checks") or {}).items() if not ok})


def _hotpotqa_metrics(rows: Sequence[Mapping], prefix: str) -> dict:
    """One system's HotpotQA answer scores (`prefix` "" for docchat, "baseline_")."""
    return {
        "exact_match": mean(r[prefix + "exact_match"] for r in rows),
        "f1": mean(r[prefix + "f1"] for r in rows),
        "contains_answer": mean(r[prefix + "contains_answer"] for r in rows),
        "false_declines": mean(float(_declined(r, prefix)) for r in rows),  # every question has an answer
        **_timings(rows, prefix),
    }


def _declined(row: Mapping, prefix: str) -> bool:
    return bool(row[prefix + "declined"] if prefix else row["abstained"])


def _timings(rows: Sequence[Mapping], prefix: str) -> dict:
    """Medians of the time to something visible (docchat: first verified sentence; baseline:
    first token) and to the whole answer."""
    first = [r[prefix + "first_visible"] for r in rows if r.get(prefix + "first_visible") is not None]
    return {
        "latency_first_visible_p50": percentile(first, 50) if first else None,
        "latency_p50": percentile([r[prefix + "latency"] for r in rows], 50),
    }


def _pooled_comparison(ctx: _Context, rows: Sequence[Mapping], metrics, chart: list[str]) -> dict:
    """docchat (and the baseline, when it ran) over the answered rows of a pooled set, in the
    `comparison` form the report draws; `metrics(rows, prefix)` scores one system."""
    return {
        "halves": {
            ctx.split: {
                "n": len(rows),
                "docchat": metrics(rows, ""),
                "baseline": metrics(rows, "baseline_") if ctx.baseline is not None else None,
                "losses": None,
                "ablation": None,
            }
        },
        "chart_metrics": chart,
    }


def _baseline_replies(ctx: _Context, questions: Sequence[str], corpus: str) -> list[BaselineReply]:
    """The naive baseline's replies to `questions` over the pooled corpus folder of `corpus`,
    asked after docchat's answers so that each keeps its own prompt prefix in the model's cache."""
    assert ctx.baseline is not None
    docs = _bench_docs(ctx, corpus)
    return [ctx.baseline.answer(q, docs) for q in _steps(ctx, questions, "baseline")]


def _pooled_baseline_fields(reply: BaselineReply) -> dict:
    """The baseline's reply to a pooled-corpus question, fields prefixed `baseline_`: what it
    said, whether it declined, the paragraphs it cited (file stems) and its timings."""
    return {
        "baseline_answer": reply.text,
        "baseline_declined": reply.declined,
        "baseline_cited": [Path(f).stem for f in reply.cited_files],
        "baseline_first_visible": reply.first_token,
        "baseline_latency": reply.total,
        "baseline_error": reply.error,
    }


# --------------------------------------------------------------------------- halueval


def _run_halueval(
    ctx: _Context, checker: Checker, claim_form: str | None
) -> tuple[list[dict], dict, dict, list[tuple[str, str]]]:
    items = list(benchmarks.load_halueval(ctx.split, ctx.root))
    if ctx.limit is not None:
        items = items[: ctx.limit]
    claim_form = claim_form or ("answer" if checker.mode == "rules" else "qa")
    # "qa": the model judge reads the answer as the proposed answer to the question (the rules
    # check the answer alone, as without a question); "answers" always reads it with its
    # question, as answers are checked. The bare answer ("answer") states nothing the model can
    # judge: on the tune half it scored 0.50 against 0.65 for the question and the answer as one
    # claim (40 triples, the earlier verdict prompt).
    with_question = claim_form == "qa" or checker.mode == "answers"
    triples = list(benchmarks.halueval_triples(tuple(items)))
    results = []
    for n, t in enumerate(triples):
        ctx.progress(n, len(triples), f"line {t.item} {t.label}")
        row = {
            "id": f"halueval-{t.item}-{t.label}",
            "category": t.label,
            "question": t.question,
            "answer": t.answer,
            "answerable": True,
        }
        try:
            verdict = checker.check(t.answer, [t.knowledge], t.question if with_question else "")
        except ModelError as e:
            results.append({**row, "error": f"judge failed: {e}", "passed": False})
            continue
        results.append(
            {
                **row,
                "faithful": t.faithful,
                "predicted": "faithful" if verdict.supported else "hallucinated",
                "passed": verdict.supported == t.faithful,
                "reason": verdict.reason,
                "judge_reply": verdict.reply,
                "p_yes": verdict.p_yes,
                "notes": "knowledge: " + t.knowledge,
            }
        )
    ctx.progress(len(triples), len(triples), "done")
    scored = [r for r in results if "faithful" in r]
    faithful = [r for r in scored if r["faithful"]]
    halluc = [r for r in scored if not r["faithful"]]
    flagged = [r for r in scored if r["predicted"] == "hallucinated"]
    tpr = mean(float(r["passed"]) for r in halluc)  # hallucinations caught
    tnr = mean(float(r["passed"]) for r in faithful)  # right answers accepted
    headline = {
        "n": float(len(results)),
        "accuracy": mean(float(r["passed"]) for r in results),
        "balanced_accuracy": (tpr + tnr) / 2 if tpr is not None and tnr is not None else None,
        "hallucination_recall": tpr,
        "hallucination_precision": (sum(not r["faithful"] for r in flagged) / len(flagged)) if flagged else None,
        "faithful_recall": tnr,
    }
    sections = []
    if scored and all(r["p_yes"] is not None for r in scored):
        headline["judge_auc"] = separation_auc((r["p_yes"] for r in faithful), (r["p_yes"] for r in halluc))
        sections.append(("The model judge's P(yes) at other thresholds", _threshold_table(faithful, halluc)))
    lines = [
        "| checker | accuracy |",
        "|---|---:|",
        f"| **this run: {checker.name}** (claim = {claim_form}, given the knowledge) | "
        f"**{headline['accuracy']:.3f}** (balanced {headline['balanced_accuracy'] or 0:.3f}) |",
    ]
    lines += [f"| {name} (published) | {value:.3f} |" for name, value in PUBLISHED_HALUEVAL.items()]
    lines += [
        "",
        "Published: HaluEval QA, Li et al. 2023, Table 5; the judges saw question and answer, and "
        "all but the last row no knowledge. This run judges each of the "
        f"{len(scored)} triples ({len(items)} items × right/hallucinated) of the {ctx.split} half.",
    ]
    meta = {"judge": checker.name, "judge_stats": dict(checker.stats), "claim": claim_form, "split": ctx.split}
    return results, headline, meta, [("HaluEval QA: the checker against published judges", "\n".join(lines)), *sections]


def _threshold_table(faithful: Sequence[Mapping], halluc: Sequence[Mapping]) -> str:
    """Markdown: at each P(yes) threshold, the faithful answers passed and hallucinations caught,
    to choose the judge's threshold on the tune half (see `evals.judge.JUDGE_THRESHOLD`)."""
    lines = [
        "| P(yes) threshold | faithful passed | hallucinations caught | balanced accuracy |",
        "|---:|---:|---:|---:|",
    ]
    for step in range(1, 20):
        threshold = step / 20
        passed = sum(r["p_yes"] >= threshold for r in faithful) / len(faithful)
        caught = sum(r["p_yes"] < threshold for r in halluc) / len(halluc)
        lines.append(f"| {threshold:.2f} | {passed:.3f} | {caught:.3f} | {(passed + caught) / 2:.3f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- clapnq


def _balanced(questions: Sequence, limit: int | None) -> list:
    if limit is None:
        return list(questions)
    yes = [q for q in questions if q.answerable]
    no = [q for q in questions if not q.answerable]
    take_yes = min(len(yes), (limit + 1) // 2)
    return yes[:take_yes] + no[: min(len(no), limit - take_yes)]


def _run_clapnq(ctx: _Context) -> _Outcome:
    data = benchmarks.load_clapnq(ctx.split, ctx.root)
    settings = _bench_settings(ctx, "clapnq", data.corpus)
    questions = _balanced(data.questions, ctx.limit)
    results = []
    for n, q in enumerate(questions):
        ctx.progress(n, len(questions), q.id)
        answer, seconds, error = _ask_safely(q.question, ctx, settings)
        abstained = bool(answer and answer["abstained"])
        text = strip_markers(answer["text"]) if answer and not abstained else ""
        cited = [Path(c["source"]).stem for c in (answer or {}).get("citations", [])]
        row = {
            "id": q.id,
            "category": "answerable" if q.answerable else "unanswerable",
            "question": q.question,
            "answerable": q.answerable,
            "answer": answer["text"] if answer else "",
            "abstained": abstained,
            "citations": [
                {"n": c["n"], "source": c["source"], "quote": c["quote"]} for c in (answer or {}).get("citations", [])
            ],
            "abstention_ok": abstained != q.answerable,
            "first_visible": _first_visible(answer, seconds) if answer else seconds,
            "latency": seconds,
            "error": error,
            "trace": (answer or {}).get("trace"),
        }
        if q.answerable:
            row["correctness"] = token_f1(text, q.answer or "") if text else 0.0
            row["source_ok"] = q.gold_key in cited if not abstained else None
            row["notes"] = "gold answer: " + (q.answer or "")
        row["passed"] = bool(row["abstention_ok"] and not error)
        results.append(row)
    ctx.progress(len(questions), len(questions), "done")
    if ctx.baseline is not None:
        for row, q, reply in zip(results, questions, _baseline_replies(ctx, [q.question for q in questions], "clapnq")):
            row.update(_pooled_baseline_fields(reply))
            if q.answerable:
                text = "" if reply.declined else strip_markers(reply.text)
                row["baseline_correctness"] = token_f1(text, q.answer or "") if text else 0.0
                row["baseline_source_ok"] = q.gold_key in row["baseline_cited"] if not reply.declined else None
    comparison = _pooled_comparison(
        ctx,
        results,
        _clapnq_metrics,
        ["abstention_precision", "abstention_recall", "answer_f1_answered", "source_accuracy"],
    )
    # What each check stops (answers to unanswerable questions) and kills (answerable ones declined).
    comparison["halves"][ctx.split]["ablation"] = docsets.ablation(results, docsets.abstention_score)
    headline = {"n": float(len(results)), **_flatten(comparison)}
    headline["latency_p95"] = percentile([r["latency"] for r in results], 95)
    abst = abstention_scores((r["answerable"], r["abstained"]) for r in results)
    body = (
        f"Abstention (positive = declined): tp {abst.tp}, fp {abst.fp} (declined an answerable "
        f"question), fn {abst.fn} (answered an unanswerable one), tn {abst.tn}. Corpus: "
        f"{len(data.corpus)} pooled gold passages. Answer F1 is token F1 against the long gold answer. "
        "In the ablation an answerable question counts as correct when it is answered."
    )
    meta = {"corpus_documents": len(data.corpus), "collection": settings.collection, "split": ctx.split}
    if ctx.baseline is not None:
        meta["baseline"] = ctx.baseline.name
    return _Outcome(results, headline, meta, [("CLAP NQ abstention", body)], comparison)


def _clapnq_metrics(rows: Sequence[Mapping], prefix: str) -> dict:
    """One system's CLAP NQ scores (`prefix` "" for docchat, "baseline_"): abstention (positive =
    declined), token F1 of its answers to answerable questions, gold passage cited."""
    declined = [_declined(r, prefix) for r in rows]
    abst = abstention_scores((r["answerable"], d) for r, d in zip(rows, declined))
    answerable = [r for r in rows if r["answerable"]]
    answered = [r for r, d in zip(rows, declined) if r["answerable"] and not d]
    return {
        "abstention_precision": abst.precision,
        "abstention_recall": abst.recall,
        "abstention_f1": abst.f1,
        "abstention_accuracy": abst.accuracy,
        "answer_f1": mean(r[prefix + "correctness"] for r in answerable),
        "answer_f1_answered": mean(r[prefix + "correctness"] for r in answered),
        "source_accuracy": mean(float(bool(r[prefix + "source_ok"])) for r in answered),
        **_timings(rows, prefix),
    }


# --------------------------------------------------------------------------- reports


def _dataset_name(dataset: str | Path) -> str:
    text = str(dataset)
    return text if text in DATASETS else re.sub(r"[^\w.-]+", "_", Path(text).stem) or "custom"


def _report_dir(out: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out / f"{stamp}-{name}"
    n = 2
    while path.exists():
        path = out / f"{stamp}-{name}-{n}"
        n += 1
    return path


def _previous_report(
    out: Path, name: str, backend: str, judge: str, exclude: Path | None = None, split: str | None = None
) -> Path | None:
    """The newest earlier report of the same dataset, backend, judge mode and split."""
    if not out.is_dir():
        return None
    pattern = re.compile(rf"^\d{{8}}-\d{{6}}-{re.escape(name)}(?:-\d+)?$")
    for folder in sorted((p for p in out.iterdir() if p.is_dir() and pattern.match(p.name)), reverse=True):
        if exclude is not None and folder == exclude:
            continue
        try:
            meta = json.loads((folder / "report.json").read_text(encoding="utf-8")).get("meta") or {}
        except (OSError, ValueError):
            continue
        if meta.get("backend") == backend and meta.get("judge_mode") == judge and meta.get("split") == split:
            return folder
    return None


def _dataset_kind(dataset: str | Path) -> str:
    """ "seeds" (the bundled set or a seeds-format .jsonl), "docset" (bbc-news, tech-docs or a
    folder with questions.jsonl and docs/), or the benchmark's name.

    Raises:
        ValueError: Not a dataset.
    """
    text = str(dataset)
    if text in docsets.DOCSETS or (text not in DATASETS and docsets.is_docset_folder(text)):
        return "docset"
    if text in ("hotpotqa", "halueval", "clapnq"):
        return text
    if text == "seeds" or text.endswith(".jsonl"):
        return "seeds"
    raise ValueError(
        f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}, a .jsonl file "
        "or a folder holding questions.jsonl and docs/"
    )


def _check_options(
    kind: str, judge: str | None, split: str, limit: int | None, halueval_claim: str | None, baseline: str | None
) -> None:
    """Raise `ValueError` (or `EvalUsageError`) for an option this run cannot take."""
    if judge is not None and judge not in JUDGE_MODES:
        raise ValueError(f"unknown judge mode {judge!r}; choose one of {', '.join(JUDGE_MODES)}")
    splits = docsets.SPLIT_CHOICES if kind == "docset" else benchmarks.SPLITS
    if split not in splits:
        raise ValueError(f"unknown split {split!r} for this dataset; choose one of {', '.join(splits)}")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    if halueval_claim not in (None, "answer", "qa"):
        raise ValueError("halueval_claim must be 'answer' or 'qa'")
    if baseline not in (None, *BASELINES):
        raise ValueError(f"unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)}")
    if baseline == "naive" and kind not in ("seeds", "docset", "hotpotqa", "clapnq"):
        raise EvalUsageError(
            f"--baseline naive runs with {', '.join(BASELINE_DATASETS)}, a seeds-format .jsonl or a docset folder"
        )
    if baseline == "naive" and kind == "hotpotqa" and not limit:
        raise EvalUsageError("--baseline naive with hotpotqa needs --limit N: only that many questions are answered")


def _run_dataset(
    kind: str, dataset: str | Path, ctx: _Context, checker: Checker | None, halueval_claim: str | None
) -> _Outcome:
    if kind == "hotpotqa":
        return _run_hotpotqa(ctx)
    if kind == "clapnq":
        return _run_clapnq(ctx)
    assert checker is not None
    if kind == "halueval":
        return _Outcome(*_run_halueval(ctx, checker, halueval_claim))
    if kind == "docset":
        return _run_docset(ctx, dataset, checker)
    return _run_seeds(ctx, dataset, checker)


def run_eval(
    dataset: str | Path = "seeds",
    *,
    backend: str | None = None,
    limit: int | None = None,
    judge: str | None = None,
    settings: Settings | None = None,
    benchmarks_dir: str | Path | None = None,
    progress: Progress | None = None,
    out: str | Path | None = None,
    split: str = "test",
    judge_backend: str | None = None,
    embedder: Embedder | None = None,
    chat_model: ChatModel | None = None,
    judge_model: ChatModel | None = None,
    halueval_claim: str | None = None,
    charts: bool = True,
    baseline: str | None = None,
) -> dict:
    """Run one evaluation and write its report.

    Args:
        dataset: "seeds", "hotpotqa", "halueval", "clapnq", "bbc-news", "tech-docs", the path
            of a JSONL file in the seeds format (answered over the bundled `seeds/`), or the path
            of a folder holding `questions.jsonl` and `docs/` in the docsets' format.
        backend: Answer backend (default: the settings'); for halueval, the judge's backend.
        limit: Seeds: this many items, round-robin over categories. Docsets: this many per half,
            round-robin over kinds. hotpotqa: answer the first N test questions too (retrieval
            always covers the whole half). halueval: the first N items (2N triples). clapnq: N
            questions, half answerable, half not.
        judge: Checker mode "rules", "llm" or "both"; default "rules" for the extractive
            backend, else "both" when the judge model is installed.
        settings: Defaults to `Settings.from_env()`; its data_dir holds the eval indexes.
        benchmarks_dir: The public benchmark data (default `../shared/benchmarks`).
        progress: `progress(done, total, label)`; when given, the per-question loops of docset
            and baseline runs also show tqdm bars on stderr.
        out: Reports folder (default `<data_dir>/reports`); None-like values use the default.
        split: "test" (report) or "tune" (for tuning) half of a benchmark; docsets also take
            "both" (each half reported apart).
        judge_backend: Judge model backend (default "local", or "openai" with that backend).
        embedder: Defaults to MiniLM (tests pass a hash embedder).
        chat_model: Answer with this model instead of the backend's.
        judge_model: Judge with this model instead of the judge backend's.
        halueval_claim: "answer" (the answer alone is the claim) or "qa" (question + answer);
            default "answer" for the rules, "qa" when a model judges (it needs the question).
        charts: Draw the PNG charts.
        baseline: "naive" also answers every question with `evals.baseline.NaiveBaseline`
            (same model and embedder) and reports it beside docchat; None or "none" does not.

    Returns:
        The report as written to report.json, plus "report_dir" and "regressions".

    Raises:
        BenchmarkDataMissing: A benchmark's data folder or file is absent.
        EvalUsageError: A baseline for a dataset it cannot run on, or without a model.
        UserError, ProviderError: From indexing, answering or judging.
        ValueError: Unknown dataset, backend, judge mode, split or baseline.
    """
    kind = _dataset_kind(dataset)
    name = _dataset_name(dataset)
    baseline = None if baseline == "none" else baseline
    _check_options(kind, judge, split, limit, halueval_claim, baseline)
    settings = (settings or Settings.from_env()).replace(backend=backend)
    backend = settings.backend
    bars = progress is not None
    progress = progress or _quiet_progress
    embedder = embedder or _default_embedder()
    root = Path(benchmarks_dir) if benchmarks_dir is not None else None
    started = time.time()
    t0 = time.perf_counter()

    needs_answers = kind != "halueval" and not (kind == "hotpotqa" and not limit)
    if kind in ("hotpotqa", "halueval", "clapnq"):
        benchmarks.check_root(root)  # fail before any model loads when the data is missing
    if kind == "docset":
        docsets.load_docset(dataset, split, root)  # the same: fail early when the data is missing
    if baseline and chat_model is None and backend == "extractive":
        raise EvalUsageError("the naive baseline needs a model: choose --backend local, local-small or openai")
    if kind == "halueval" and judge_backend is None and backend != "extractive":
        judge_backend = backend  # --backend names the judge here: nothing is answered
    checker = None
    if kind not in ("hotpotqa", "clapnq"):
        # Built first (cheap: weights load on first use) so a missing judge fails early.
        checker = _make_checker(judge, settings, backend, judge_backend, embedder, judge_model)
    if chat_model is None and backend != "extractive" and needs_answers:
        chat_model = _make_model(settings, backend)
    ctx = _Context(
        settings,
        embedder,
        chat_model,
        progress,
        limit,
        split,
        root,
        NaiveBaseline(chat_model, embedder) if baseline and chat_model is not None else None,
        bars,
    )

    outcome = _run_dataset(kind, dataset, ctx, checker, halueval_claim)
    judge_mode = outcome.meta["judge"].split(" ")[0] if "judge" in outcome.meta else "n/a"

    model_name = getattr(chat_model, "name", None) or ("extractive" if backend == "extractive" else None)
    meta: dict[str, Any] = {
        "dataset": name,
        "backend": backend,
        "model": model_name if needs_answers else None,
        "judge_mode": judge_mode,
        "limit": limit,
        "split": split if name != "seeds" else None,
        "embedder": getattr(embedder, "name", type(embedder).__name__),
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "seconds": round(time.perf_counter() - t0, 1),
        "commit": _git_commit(),
        "data_dir": str(settings.data_dir),
    }
    meta.update(outcome.meta)
    meta = {k: v for k, v in meta.items() if v is not None}

    gates = load_gates() if GATES_FILE.is_file() else {}
    targets = gate_thresholds(gates, name, backend, judge_mode) or {}

    out_root = Path(out) if out else settings.data_dir / "reports"
    report_dir = _report_dir(out_root, name)
    previous = _previous_report(out_root, name, backend, judge_mode, split=meta.get("split"))
    results, headline = outcome.results, outcome.headline
    current = {"headline": headline, "items": results, "results": results}
    regressions = []
    previous_info = None
    if previous is not None:
        old = json.loads((previous / "report.json").read_text(encoding="utf-8"))
        same_items = {str(r.get("id")) for r in old.get("results") or old.get("items") or []} == {
            str(r.get("id")) for r in results
        }
        found = compare(old, current, tolerance=0.02)
        # Headline numbers over different item sets (another --limit) are not comparable.
        regressions = [r for r in found if r.kind == "item" or same_items]
        previous_info = {"path": str(previous), "headline": old.get("headline") or {}, "comparable": same_items}
    paths = write_report(
        results,
        headline,
        report_dir,
        targets=targets,
        meta=meta,
        charts=charts,
        regressions=regressions,
        previous=previous_info,
        sections=outcome.sections,
        max_failures=None if kind == "seeds" else 40,
        comparison=outcome.comparison,
    )
    report = json.loads(paths.json.read_text(encoding="utf-8"))
    report["report_dir"] = str(report_dir)
    report["regressions"] = regressions_as_dicts(regressions)
    return report


def reanalyse(report_dir: str | Path, *, charts: bool = True) -> dict[str, Any]:
    """Recompute a report's loss accounting and ablation from its stored rows, in place.

    Nothing is answered or judged again: the rows' traces and judge verdicts are read back, so
    an older run gets the analysis of the current code (`docsets.loss_accounting`,
    `docsets.ablation`). bbc-news, tech-docs and docset folders are scored by their rules, per
    half; CLAP NQ by declining (`docsets.abstention_score`), HotpotQA by the gold answer an
    answer contains. report.json, report.md and the charts are written again; the meta gains
    `reanalysed` (the commit that did it).

    Raises:
        EvalUsageError: The folder holds no report.json, one that is not JSON, or a report of
            a set whose rows keep no traces (seeds, HaluEval).
    """
    folder = Path(report_dir)
    path = folder / "report.json"
    if not path.is_file():
        raise EvalUsageError(f"{folder}: no report.json there")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EvalUsageError(f"{path}: not a readable report ({e})") from e
    if not isinstance(report, dict):
        raise EvalUsageError(f"{path}: not a readable report (not a JSON object)")
    meta = dict(report.get("meta") or {})
    comparison = report.get("comparison")
    results = report.get("results") or []
    pooled = {"clapnq": docsets.abstention_score, "hotpotqa": _gold_contained}.get(str(meta.get("dataset")))
    if not comparison or (meta.get("scoring") not in docsets.RULES and pooled is None):
        raise EvalUsageError(
            f"{folder}: not a bbc-news, tech-docs, docset-folder, CLAP NQ or HotpotQA report; "
            "only those can be reanalysed"
        )
    rules = docsets.RULES.get(meta.get("scoring"))
    for half, entry in comparison["halves"].items():
        if pooled is not None:  # one pooled half, no judge verdicts to account for
            entry["ablation"] = docsets.ablation(results, pooled)
        else:
            rows = [r for r in results if r.get("split") == half]
            entry["losses"] = docsets.loss_accounting(rows, rules)
            entry["ablation"] = docsets.ablation(rows, rules)
    meta["reanalysed"] = _git_commit()
    paths = write_report(
        results,
        report.get("headline") or {},
        folder,
        targets=report.get("targets"),
        meta=meta,
        charts=charts,
        previous=report.get("previous"),
        sections=[(title, body) for title, body in report.get("sections") or []],
        max_failures=40,
        comparison=comparison,
    )
    return json.loads(paths.json.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """The `rag eval` argument parser."""
    p = argparse.ArgumentParser(
        prog="rag eval",
        description="Measure answer correctness, faithfulness, citations, abstention and "
        "retrieval; write a report (JSON, Markdown, charts) and optionally gate on thresholds.",
    )
    p.add_argument(
        "--dataset",
        default="seeds",
        help="seeds (default), hotpotqa, halueval, clapnq, bbc-news, tech-docs, a .jsonl file in the "
        "seeds format, or a folder holding questions.jsonl and docs/ (the docsets' format)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help="answer backend (default: RAG_LLM or local); for halueval the judge's backend",
    )
    p.add_argument(
        "--limit",
        type=int,
        help="evaluate only N items (seeds: round-robin over categories; "
        "bbc-news/tech-docs: N per half, round-robin over kinds; hotpotqa: also answer the first N "
        "questions)",
    )
    p.add_argument(
        "--judge",
        choices=JUDGE_MODES,
        help="faithfulness checker: rules, llm or both "
        "(default: rules for extractive, else both when the judge model is installed)",
    )
    p.add_argument(
        "--judge-backend",
        choices=("local", "local-small", "openai"),
        help="model that judges (default: local, the 1.5B model; openai with --backend openai)",
    )
    p.add_argument(
        "--gate", action="store_true", help="exit 1 when a metric is below its threshold in evals/gates.json"
    )
    p.add_argument(
        "--benchmarks-dir",
        help="folder holding hotpotqa-dev500/, halueval-qa/, clapnq-dev/, "
        "bbc-news/, tech-docs/ (default: ../shared/benchmarks)",
    )
    p.add_argument("--out", help="reports folder (default: <data dir>/reports)")
    p.add_argument(
        "--split",
        choices=docsets.SPLIT_CHOICES,
        default="test",
        help="benchmark half: test (default, for reporting) or tune; bbc-news and tech-docs also "
        "take both (each half reported apart)",
    )
    p.add_argument(
        "--baseline",
        choices=BASELINES,
        default="none",
        help="naive: also answer every question with a naive RAG baseline (800-character chunks, "
        "cosine top-5, one prompt, same model) and report it beside docchat "
        f"({', '.join(BASELINE_DATASETS)})",
    )
    p.add_argument(
        "--halueval-claim",
        choices=("answer", "qa"),
        help="halueval: judge the answer alone or question + answer "
        "(default: answer for --judge rules, qa when a model judges)",
    )
    p.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument(
        "--reanalyse",
        metavar="REPORT_DIR",
        help="answer nothing: recompute a report's loss accounting and ablation (stops and kills "
        "per check) from its stored traces and rewrite it in place (bbc-news, tech-docs, docset "
        "folders, clapnq, hotpotqa)",
    )
    return p


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


SUMMARY_LOSSES = (
    "correct_drafts",
    "false_rejections",
    "false_rejection_share",
    "false_acceptances",
    "abstained_by_floor",
    "abstained_by_model",
    "abstained_by_checks",
)


def _print_comparison(comparison: Mapping) -> None:
    """docchat beside the baseline for each half, then the loss accounting and the ablation."""
    for half, entry in comparison["halves"].items():
        docchat, base = entry.get("docchat") or {}, entry.get("baseline")
        print(f"  {half} ({entry.get('n')} items){'':<14} {'docchat':>10}" + (f" {'baseline':>10}" if base else ""))
        for metric, value in docchat.items():
            if metric != "n":
                print(f"    {metric:<28} {_fmt(value):>10}" + (f" {_fmt(base.get(metric)):>10}" if base else ""))
        losses = entry.get("losses")
        if losses:
            print("    where answers are lost: " + ", ".join(f"{k} {_fmt(losses.get(k))}" for k in SUMMARY_LOSSES))
        for row in entry.get("ablation") or []:
            print(
                f"    ablation {row['configuration']:<28} correctness {_fmt(row['correctness'])}"
                f"  faithfulness {_fmt(row['faithfulness'])}  kept {row['kept_sentences']}"
                + (f"  stops {len(row['stopped'])} kills {len(row['killed'])}" if "stopped" in row else "")
            )


def _print_summary(report: Mapping, gate: list[str] | None, thresholds: Mapping | None) -> None:
    meta = report.get("meta") or {}
    print(
        f"{meta.get('dataset')} · backend {meta.get('backend')} · judge {meta.get('judge', meta.get('judge_mode'))} · "
        f"{len(report.get('results') or [])} items · {meta.get('seconds')} s"
    )
    targets = report.get("targets") or {}
    comparison = report.get("comparison")
    shown: set[str] = set()
    if comparison:
        _print_comparison(comparison)
        shown = {m for entry in comparison["halves"].values() for m in (entry.get("docchat") or {})}
        shown |= {"false_rejection_share", "false_acceptances"}  # on the loss line
    for metric, value in (report.get("headline") or {}).items():
        if re.sub(r"(_baseline)?(_tune|_test)?$", "", metric) in shown or "_baseline" in metric:
            continue  # printed in the comparison above
        target = targets.get(metric)
        mark = ""
        if target is not None and isinstance(value, (int, float)):
            ok = not check_gate({metric: value}, {metric: target})
            mark = f"   (gate {target:g}: {'ok' if ok else 'BELOW'})"
        print(f"  {metric:<28} {_fmt(value):>10}{mark}")
    if meta.get("dataset") == "halueval":
        for name, value in PUBLISHED_HALUEVAL.items():
            print(f"  published {name:<33} {value:.3f}")
    regressions = report.get("regressions") or []
    if regressions:
        print(f"REGRESSIONS vs the previous run ({len(regressions)}):")
        for r in regressions:
            print(f"  - {r['detail']}")
    elif (report.get("previous") or {}).get("path"):
        print(f"no regressions vs {report['previous']['path']}")
    failures = report.get("failures") or []
    if failures and meta.get("dataset") not in ("hotpotqa", "halueval", "clapnq", *docsets.DOCSETS):
        print(f"failed items ({len(failures)}): {', '.join(map(str, failures))}")
    print(f"report: {report.get('report_dir')}/report.md")
    if gate is not None:
        if thresholds is None:
            print("gate: no thresholds for this dataset/backend in evals/gates.json", file=sys.stderr)
        elif gate:
            print("GATE FAILED:\n  " + "\n  ".join(gate))
        else:
            print(f"gate passed ({len(thresholds)} thresholds)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `rag eval ARGS` (argv = the arguments after `eval`).

    Returns:
        0 on success, 1 when `--gate` fails, 2 for a usage error or missing benchmark data,
        3 when a model or the store fails.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]  # `rag eval -- --backend x`: the separator some parsers need
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help or a bad argument: argparse already printed the message
        return int(e.code or 0)
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    if args.reanalyse:
        try:
            report = reanalyse(args.reanalyse, charts=not args.no_charts)
        except EvalUsageError as e:
            return report_error(e)
        _print_comparison(report["comparison"])
        print(f"report: {Path(args.reanalyse) / 'report.md'}")
        return 0
    dataset = args.dataset
    if (
        dataset not in DATASETS
        and not (dataset.endswith(".jsonl") and Path(dataset).is_file())
        and not docsets.is_docset_folder(dataset)
    ):
        print(
            f"error: unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}, an existing .jsonl "
            "file or a folder holding questions.jsonl and docs/",
            file=sys.stderr,
        )
        return 2
    try:
        settings = Settings.from_env(backend=args.backend)
        report = run_eval(
            dataset,
            backend=args.backend,
            limit=args.limit,
            judge=args.judge,
            settings=settings,
            benchmarks_dir=args.benchmarks_dir,
            progress=None if args.quiet else progress_bar("eval"),
            out=args.out,
            split=args.split,
            judge_backend=args.judge_backend,
            halueval_claim=args.halueval_claim,
            charts=not args.no_charts,
            baseline=args.baseline,
        )
    except BenchmarkDataMissing as e:
        print(
            f"error: {e}\nThe {dataset} benchmark needs the public benchmark data: pass "
            "--benchmarks-dir PATH (the folder holding hotpotqa-dev500/, halueval-qa/, clapnq-dev/, "
            "bbc-news/ and tech-docs/).",
            file=sys.stderr,
        )
        return 2
    except (UserError, ProviderError, ValueError, KeyboardInterrupt) as e:
        return report_error(e)
    meta = report.get("meta") or {}
    thresholds = (
        gate_thresholds(load_gates(), meta.get("dataset", ""), meta.get("backend", ""), meta.get("judge_mode", ""))
        if args.gate and GATES_FILE.is_file()
        else None
    )
    gate = (
        check_gate(report.get("headline") or {}, thresholds)
        if args.gate and thresholds is not None
        else ([] if args.gate else None)
    )
    _print_summary(report, gate, thresholds)
    if args.gate and thresholds is None:
        return 2
    return 1 if gate else 0


if __name__ == "__main__":
    sys.exit(main())
