"""Answer latency per seed question: retrieval, prompt size, time to first token, total, and
what llama.cpp itself needs for the same prompt, measured in the same run.

    .venv/bin/python bench/answer.py                       # the 1.5B model, 5 questions
    .venv/bin/python bench/answer.py --model local-small --limit 8

For each question:
1. the KV-cache state of the loaded model is saved;
2. `ask_stream()` runs the whole pipeline (retrieval, evidence selection, prompt, streamed
   generation, verification) with the local model; its time to first token is from the call
   to the first piece the model streams;
3. the saved state is restored and the *same messages* go straight to llama.cpp
   (`create_chat_completion`, one token): the raw time to first token with the same cache
   state, and the prefill alone (the `eval` of the prompt tokens);
4. the cache is reset and the same prompt is prefilled cold (no shared prefix).
"Overhead" is the pipeline's time to first token minus the raw one: retrieval, evidence
selection (it embeds the candidate sentences), prompt rendering and streaming plumbing.
On a noisy 2-core VM the same prefill can vary by a second between two runs, so the table also
splits each time to first token into llama.cpp's prefill (`eval`, timed inside both runs) and
everything else: "work outside llama.cpp" is the second part, pipeline minus raw, free of that
noise. Sentence vectors are cached per process (`assistant.retrieval.embedder.vectors`), as in the UI and
the eval; `--cold-cache` empties that cache before every question, so each question embeds all
of its candidate sentences (the worst case, a first question about new passages).
The fixed prompt prefix (system prompt and two worked examples) is identical for every
question, so llama.cpp reuses its KV cache for it: the first question pays for it, the
later ones only prefill the evidence and the question ("reused" tokens).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, WORK, chart_path, machine, print_table, pyplot, write_result

TARGET_OVERHEAD = 0.10  # of the raw prefill


class _Recording:
    """Passes a chat model through, keeping the messages of the last call."""

    def __init__(self, model) -> None:
        self.model = model
        self.name = model.name
        self.messages: list[dict] = []

    def stream(self, messages, **kwargs):
        self.messages = [dict(m) for m in messages]
        yield from self.model.stream(messages, **kwargs)


class _Counting:
    """Passes an embedder through, counting the texts it embeds."""

    def __init__(self, embedder) -> None:
        self.embedder, self.name, self.dimension = embedder, embedder.name, embedder.dimension
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.embedder.embed(texts)


class _EvalProbe:
    """Wraps `llama.eval` to see how many prompt tokens were reused and how long prefill took."""

    def __init__(self, llama) -> None:
        self.llama = llama
        self.real = llama.eval
        self.calls: list[tuple[int, int, float]] = []  # (tokens already in the cache, new tokens, s)
        llama.eval = self

    def __call__(self, tokens):
        reused = self.llama.n_tokens
        t = time.perf_counter()
        out = self.real(tokens)
        self.calls.append((reused, len(tokens), time.perf_counter() - t))
        return out

    def prefill(self) -> tuple[int, int, float]:
        """(reused tokens, prefilled tokens, seconds) of the first eval since `clear()`."""
        return self.calls[0] if self.calls else (0, 0, 0.0)

    def clear(self) -> None:
        self.calls.clear()


def _raw_first_token(llama, messages, probe: _EvalProbe) -> tuple[float, tuple[int, int, float]]:
    probe.clear()
    t = time.perf_counter()
    stream = llama.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0, stream=True)
    for _ in stream:
        break
    first = time.perf_counter() - t
    for _ in stream:  # finish the one-token reply
        pass
    return first, probe.prefill()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="local", choices=("local", "local-small"))
    ap.add_argument("--limit", type=int, default=5, help="seed questions (answerable ones, file order)")
    ap.add_argument("--name", default=None)
    ap.add_argument("--cold-cache", action="store_true", help="empty the sentence-vector cache before each question")
    args = ap.parse_args(argv)
    name = args.name or f"answer-{args.model}"

    from assistant.api import ask_stream
    from assistant.generation.llm import LocalChat
    from assistant.generation.models import MODELS, gguf_path
    from assistant.retrieval.embedder import MiniLMEmbedder, vectors
    from assistant.retrieval.lexical import refresh_lexical_index
    from assistant.retrieval.store import Store
    from assistant.settings import Settings
    from assistant.types import Answer
    from ingest import SEEDS_DIR, ingest

    print(f"machine: {machine()}")
    settings = Settings(data_dir=WORK / "answer", backend=args.model)
    embedder = _Counting(MiniLMEmbedder())
    ingest([SEEDS_DIR], settings=settings, embedder=embedder)
    refresh_lexical_index(Store.open(settings, embedder))
    embedder.embed(["warm up"])
    questions = [
        json.loads(line)
        for line in (ROOT / "evals" / "datasets" / "seeds.jsonl").read_text().splitlines()
        if line.strip()
    ]
    questions = [q for q in questions if q.get("answerable", True)][: args.limit]

    t = time.perf_counter()
    path = gguf_path(args.model, Settings.from_env())  # the shared model cache (.rag/models)
    chat = LocalChat(path, n_ctx=settings.n_ctx, n_threads=settings.n_threads, name=MODELS[args.model].name)
    llama = chat._loaded().llama
    load_s = time.perf_counter() - t
    probe = _EvalProbe(llama)
    print(f"model {MODELS[args.model].name} loaded in {load_s:.1f} s; {len(questions)} questions", flush=True)

    rows = []
    for item in questions:
        before = llama.save_state()
        recorder = _Recording(chat)
        probe.clear()
        if args.cold_cache:
            vectors.clear()
        embedder.texts = 0
        answer = None
        for piece in ask_stream(item["question"], settings=settings, chat_model=recorder, embedder=embedder):
            if isinstance(piece, Answer):
                answer = piece
        assert answer is not None
        reused, prefilled, prefill_s = probe.prefill()
        embedded = embedder.texts
        if not recorder.messages:  # abstained before calling the model
            rows.append({"id": item["id"], "abstained": True, "retrieval_ms": answer.timings["retrieval"] * 1000})
            continue
        llama.load_state(before)
        raw_ttft, (raw_reused, _, raw_prefill_s) = _raw_first_token(llama, recorder.messages, probe)
        llama.reset()
        _, (_, cold_tokens, cold_prefill_s) = _raw_first_token(llama, recorder.messages, probe)
        ttft = answer.timings["first_token"]
        row = {
            "id": item["id"],
            "question": item["question"],
            "retrieval_ms": answer.timings["retrieval"] * 1000,
            "prompt_tokens": reused + prefilled,
            "prompt_tokens_tiktoken": answer.tokens.get("prompt"),
            "reused_tokens": reused,
            "prefilled_tokens": prefilled,
            "ttft_s": ttft,
            "total_s": answer.timings["total"],
            "completion_tokens": answer.tokens.get("completion"),
            "pipeline_prefill_s": prefill_s,
            "raw_ttft_s": raw_ttft,
            "raw_prefill_s": raw_prefill_s,
            "raw_reused_tokens": raw_reused,
            "raw_cold_prefill_s": cold_prefill_s,
            "cold_prompt_tokens": cold_tokens,
            "overhead_s": ttft - raw_ttft,
            "texts_embedded": embedded,
            "outside_llama_s": ttft - prefill_s,
            "raw_outside_llama_s": raw_ttft - raw_prefill_s,
            "outside_overhead_s": (ttft - prefill_s) - (raw_ttft - raw_prefill_s),
            "overhead_share_of_raw_prefill": (ttft - raw_ttft) / raw_prefill_s if raw_prefill_s else None,
            "overhead_share_of_cold_prefill": (ttft - raw_ttft) / cold_prefill_s if cold_prefill_s else None,
            "cited_sources": sorted({c.source for c in answer.citations}),
            "expected_sources": item.get("sources", []),
            "text": answer.text,
        }
        rows.append(row)
        print(
            f"  {item['id']}: retrieval {row['retrieval_ms']:.0f} ms, prompt {row['prompt_tokens']} tok "
            f"({reused} reused), {embedded} texts embedded, first token {ttft:.2f} s (raw {raw_ttft:.2f} s), "
            f"prefill {prefill_s:.2f} s (raw {raw_prefill_s:.2f} s), total {row['total_s']:.1f} s",
            flush=True,
        )

    done = [r for r in rows if not r.get("abstained")]
    print()
    print_table(
        [
            "id",
            "retrieval ms",
            "embedded",
            "prompt tok",
            "reused",
            "first token s",
            "total s",
            "raw first token s",
            "prefill s",
            "raw prefill s",
            "cold prefill s",
            "overhead s",
            "overhead / raw prefill",
            "outside llama.cpp s",
            "raw outside s",
        ],
        [
            [
                r["id"],
                r["retrieval_ms"],
                r["texts_embedded"],
                r["prompt_tokens"],
                r["reused_tokens"],
                r["ttft_s"],
                r["total_s"],
                r["raw_ttft_s"],
                r["pipeline_prefill_s"],
                r["raw_prefill_s"],
                r["raw_cold_prefill_s"],
                r["overhead_s"],
                r["overhead_share_of_raw_prefill"],
                r["outside_llama_s"],
                r["raw_outside_llama_s"],
            ]
            for r in done
        ],
    )
    summary = {}
    if done:
        overhead = sum(r["overhead_s"] for r in done)
        summary = {
            "overhead_share_of_raw_prefill": overhead / sum(r["raw_prefill_s"] for r in done),
            "overhead_share_of_cold_prefill": overhead / sum(r["raw_cold_prefill_s"] for r in done),
            "outside_llama_share_of_raw_prefill": sum(r["outside_overhead_s"] for r in done)
            / sum(r["raw_prefill_s"] for r in done),
            "prefill_pipeline_over_raw": sum(r["pipeline_prefill_s"] for r in done)
            / sum(r["raw_prefill_s"] for r in done),
            "cold_cache": args.cold_cache,
            "first_question_ttft_s": done[0]["ttft_s"],
            "later_questions_ttft_s": (sum(r["ttft_s"] for r in done[1:]) / (len(done) - 1)) if len(done) > 1 else None,
            "warm_prefill_s_mean": sum(r["raw_prefill_s"] for r in done[1:]) / max(1, len(done) - 1),
            "cold_prefill_s_mean": sum(r["raw_cold_prefill_s"] for r in done) / len(done),
            "mean_reused_tokens_later": sum(r["reused_tokens"] for r in done[1:]) / max(1, len(done) - 1),
        }
        print(
            f"\npipeline overhead = {summary['overhead_share_of_raw_prefill']:.1%} of the raw prefill with the same "
            f"cache state, {summary['overhead_share_of_cold_prefill']:.1%} of a cold prefill "
            f"(target <= {TARGET_OVERHEAD:.0%})"
        )
        print(
            f"  of which work outside llama.cpp: {summary['outside_llama_share_of_raw_prefill']:.1%} of the raw "
            f"prefill; llama.cpp's own prefill took x{summary['prefill_pipeline_over_raw']:.2f} the raw run's "
            f"(same tokens, same cache state){' [cold sentence cache]' if args.cold_cache else ''}"
        )
        if summary["later_questions_ttft_s"] is not None:
            print(
                f"KV prefix reuse: first question {summary['first_question_ttft_s']:.2f} s to first token, later ones "
                f"{summary['later_questions_ttft_s']:.2f} s on average; raw prefill cold "
                f"{summary['cold_prefill_s_mean']:.2f} s vs warm {summary['warm_prefill_s_mean']:.2f} s "
                f"({summary['mean_reused_tokens_later']:.0f} tokens reused)"
            )
    out = write_result(
        name,
        {
            "model": MODELS[args.model].name,
            "load_s": load_s,
            "questions": rows,
            "summary": summary,
            "target_overhead_share": TARGET_OVERHEAD,
        },
    )
    _chart(done, chart_path(name), MODELS[args.model].name)
    print(f"wrote {out} and {chart_path(name)}")
    return 0


def _chart(rows: list[dict], path: Path, model: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    ids = [r["id"] for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.3 for i in x], [r["ttft_s"] for r in rows], 0.2, label="pipeline first token")
    ax.bar([i - 0.1 for i in x], [r["raw_ttft_s"] for r in rows], 0.2, label="raw llama.cpp first token (same cache)")
    ax.bar([i + 0.1 for i in x], [r["raw_cold_prefill_s"] for r in rows], 0.2, label="raw cold prefill")
    ax.bar([i + 0.3 for i in x], [r["retrieval_ms"] / 1000 for r in rows], 0.2, label="retrieval")
    ax.set_xticks(list(x), ids, rotation=30, fontsize=8)
    ax.set_ylabel("seconds")
    ax.set_title(f"Time to first token per seed question ({model})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
