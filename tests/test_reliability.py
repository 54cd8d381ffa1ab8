"""Concurrency and soak: two ingests at once, asking while ingesting, many asks from threads,
and 300 questions in a row with bounded memory; path-like collection names.

The figures these tests print (run with `-s`) are the ones quoted in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, SEEDS
from test_ingest import _store_state, make_corpus

from assistant import Answer, ask, list_collections
from assistant.errors import IngestLockedError, InvalidCollectionNameError, RagError
from assistant.generation.llm import ScriptedChat
from assistant.retrieval.embedder import HashEmbedder, MiniLMEmbedder
from assistant.settings import Settings
from ingest import delete_collection, ingest

QUESTIONS = [
    "How many special forces had North Korea already sent to Russia?",
    "Who is Hyun Seung-soo?",
    "What weapons might South Korea send to Ukraine?",
    "Which professor at the Hankuk University of Foreign Studies explained South Korea's strong reaction?",
    "At which university does Ben Engel teach?",
    "How many containers of military supplies has North Korea sent to Russia?",
    "What did Yoon Suk Yeol say about sending weapons?",
    "Where were the North Korean troops seen training?",
]


def check_citations(answer: Answer, docs: Path) -> None:
    """Every marker has a citation whose quote is the file's text at its offsets, and every
    citation lies in one of the answer's retrieved passages."""
    assert isinstance(answer, Answer)
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert numbers == {c.n for c in answer.citations}
    hits = {h.chunk.id: h.chunk for h in answer.hits}
    for c in answer.citations:
        text = (docs / c.source).read_text(encoding="utf-8")
        assert text[c.start : c.end] == c.quote
        chunk = hits[c.chunk_id]
        assert chunk.start <= c.start and c.end <= chunk.end and text[chunk.start : chunk.end] == chunk.text


def key(answer: Answer) -> tuple:
    return answer.text, answer.citations, answer.abstained


def rss_mb() -> float:
    """Resident set size of this process, from /proc/self/status (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class GatedHash(HashEmbedder):
    """A hash embedder that signals its first call and can be held there (to keep a lock)."""

    def __init__(self, dimension: int = 64, delay_per_text: float = 0.0) -> None:
        super().__init__(dimension)
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.delay = delay_per_text

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.started.set()
        self.release.wait(120)
        time.sleep(self.delay * len(texts))
        return super().embed(texts)


# ============================================================================ ingest vs ingest


def test_two_ingests_at_once(settings: Settings, seeds_copy: Path, tmp_path: Path) -> None:
    """While one ingest writes, a second one (thread, or `rag ingest` in another process) is
    refused at once with a clear message; the first completes and the store is exact."""
    first_embedder = GatedHash()
    first_embedder.release.clear()  # hold the first ingest inside its first embed call
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            outcome["report"] = ingest([seeds_copy], settings=settings, embedder=first_embedder)
        except BaseException as e:  # asserted below
            outcome["error"] = e

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert first_embedder.started.wait(60)
        started = time.monotonic()
        with pytest.raises(IngestLockedError, match=rf"another ingest is running on this store \(pid {os.getpid()}\)"):
            ingest([seeds_copy], settings=settings, embedder=HashEmbedder(64))
        assert time.monotonic() - started < 5
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        env["RAG_DATA_DIR"] = str(settings.data_dir)
        proc = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ingest", str(seeds_copy)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: another ingest is running") and "Traceback" not in proc.stderr
    finally:
        first_embedder.release.set()
        worker.join(120)
    assert "error" not in outcome, outcome
    assert outcome["report"].added == 5
    clean = Settings(data_dir=tmp_path / "clean")
    ingest([seeds_copy], settings=clean, embedder=HashEmbedder(64))
    assert _store_state(settings, HashEmbedder(64)) == _store_state(clean, HashEmbedder(64))


@pytest.mark.timeout(600)
def test_asking_while_ingesting(settings: Settings, hash_embedder, tmp_path: Path) -> None:
    """Questions asked while an ingest adds 45 files: each gets a correct, exactly cited answer
    or a typed error; never a wrong citation or an untyped exception."""
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    ingest([docs], settings=settings, embedder=hash_embedder)
    make_corpus(docs / "more", 9)
    writer = GatedHash(delay_per_text=0.01)
    done = threading.Event()
    ingest_error: list[BaseException] = []

    def run_ingest() -> None:
        try:
            ingest([docs], settings=settings, embedder=writer)
        except BaseException as e:  # asserted below
            ingest_error.append(e)
        finally:
            done.set()

    answers: list[Answer] = []
    typed: list[RagError] = []
    untyped: list[BaseException] = []

    def asker(i: int) -> None:
        n = 0
        while not done.is_set() or n < 3:
            try:
                answers.append(ask(QUESTIONS[(i + n) % len(QUESTIONS)], settings=settings, embedder=hash_embedder))
            except RagError as e:
                typed.append(e)
            except BaseException as e:  # asserted below
                untyped.append(e)
            n += 1

    thread = threading.Thread(target=run_ingest)
    thread.start()
    assert writer.started.wait(60)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(asker, range(4)))
    thread.join(300)
    assert not ingest_error and not untyped, (ingest_error, untyped)
    for answer in answers:
        check_citations(answer, docs)
    print(f"\nasked while ingesting: {len(answers)} answers, {len(typed)} typed errors, 0 untyped")
    assert len(answers) >= 12
    clean = Settings(data_dir=tmp_path / "clean")
    ingest([docs], settings=clean, embedder=hash_embedder)
    assert _store_state(settings, hash_embedder) == _store_state(clean, hash_embedder)


_ASKER = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from assistant import ask
    from assistant.retrieval.embedder import HashEmbedder
    from assistant.errors import RagError
    from assistant.settings import Settings
    settings = Settings(data_dir=Path({data!r}), backend="extractive")
    questions = {questions!r}
    out = []
    deadline = time.monotonic() + {seconds}
    while time.monotonic() < deadline:
        for q in questions:
            try:
                a = ask(q, settings=settings, embedder=HashEmbedder(64))
                out.append({{"ok": [[c.source, c.start, c.end, c.quote] for c in a.citations]}})
            except RagError as e:
                out.append({{"typed": type(e).__name__ + ": " + str(e)}})
    print(json.dumps(out))
""")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_asking_from_another_process_while_ingesting(settings: Settings, hash_embedder, tmp_path: Path) -> None:
    """A second process asks (local Chroma folder shared by two processes) while this one ingests:
    its answers quote the files exactly, or it gets a typed error."""
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    ingest([docs], settings=settings, embedder=hash_embedder)
    make_corpus(docs / "more", 9)
    script = _ASKER.format(root=str(ROOT), data=str(settings.data_dir), questions=QUESTIONS[:4], seconds=15)
    asker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ingest([docs], settings=settings, embedder=GatedHash(delay_per_text=0.01))
    out, err = asker.communicate(timeout=600)
    assert asker.returncode == 0 and "Traceback" not in err, err
    results = json.loads(out)
    ok = [r["ok"] for r in results if "ok" in r]
    for citations in ok:
        for source, start, end, quote in citations:
            assert (docs / source).read_text(encoding="utf-8")[start:end] == quote
    print(f"\nother process asked while ingesting: {len(ok)} answers, {len(results) - len(ok)} typed errors")
    assert ok


# ============================================================================ many asks at once


def _first_evidence_reply(messages: list[dict]) -> str:
    """A model that answers with the first evidence sentence, cited."""
    first = re.search(r"^\[1\] (.*)$", messages[-1]["content"], re.MULTILINE)
    return f"{first.group(1).rstrip('.')} [1]." if first else "NOT_FOUND"


@pytest.mark.slow
def test_eight_concurrent_asks_real_embedder(seed_index: Settings) -> None:
    """8 threads ask at once, sharing the real MiniLM: extractive and a scripted model. Every
    answer equals the one asked alone, with exact citations."""
    embedder = MiniLMEmbedder()
    jobs = [(q, backend) for q in QUESTIONS for backend in ("extractive", "scripted")][:16]

    def one(job: tuple[str, str]) -> Answer:
        question, backend = job
        model = ScriptedChat([_first_evidence_reply]) if backend == "scripted" else None
        return ask(question, settings=seed_index, embedder=embedder, chat_model=model)

    alone = [one(job) for job in jobs]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(one, jobs))
    elapsed = time.monotonic() - started
    for job, a, b in zip(jobs, alone, together):
        assert key(a) == key(b), job
        check_citations(b, SEEDS)
    assert sum(not a.abstained for a in together) >= 12
    print(f"\n8 threads: {len(jobs)} concurrent asks (MiniLM shared) all equal to sequential, {elapsed:.1f}s")


def test_eight_concurrent_first_opens_of_a_store(
    settings: Settings, hash_embedder, seeds_copy: Path, tmp_path: Path
) -> None:
    """8 threads open a store this process has never opened, at the same moment (Chroma starts
    its shared per-folder system without a lock): all answer correctly."""
    ingest([seeds_copy], settings=settings, embedder=hash_embedder)
    reference = {q: key(ask(q, settings=settings, embedder=hash_embedder)) for q in QUESTIONS}
    for round_ in range(3):
        cold = settings.replace(data_dir=tmp_path / f"cold-{round_}")
        shutil.copytree(settings.data_dir, cold.data_dir)
        barrier = threading.Barrier(8)

        def one(q: str, barrier: threading.Barrier = barrier, cold: Settings = cold) -> tuple:
            barrier.wait()
            return key(ask(q, settings=cold, embedder=hash_embedder))

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, QUESTIONS))
        assert results == [reference[q] for q in QUESTIONS]


def test_eight_concurrent_asks_with_scripted_models(settings: Settings, hash_embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings=settings, embedder=hash_embedder)
    model = ScriptedChat([_first_evidence_reply] * 64)  # one model shared by every thread

    def one(q: str) -> Answer:
        return ask(q, settings=settings, embedder=hash_embedder, chat_model=model)

    alone = {q: key(one(q)) for q in QUESTIONS}
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(one, QUESTIONS * 3))
    for q, answer in zip(QUESTIONS * 3, together):
        assert key(answer) == alone[q], q
        check_citations(answer, seeds_copy)


# ============================================================================ soak


def _eval_questions() -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "evals" / "datasets" / "seeds.jsonl").read_text().splitlines() if line]
    questions = [q for r in rows for q in ([r["question"]] if "question" in r else r.get("turns", []))]
    return questions + QUESTIONS


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_soak_300_questions_memory_bounded(seed_index: Settings) -> None:
    """300 questions in a row (extractive, real MiniLM, seed index): no error, and resident
    memory after warm-up grows by less than 150 MB."""
    embedder = MiniLMEmbedder()
    questions = _eval_questions()
    for q in questions[:30]:  # warm-up: model loaded, BM25 index cached, allocator settled
        ask(q, settings=seed_index, embedder=embedder)
    before = rss_mb()
    started = time.monotonic()
    answered = abstained = 0
    for i in range(300):
        answer = ask(questions[i % len(questions)], settings=seed_index, embedder=embedder)
        check_citations(answer, SEEDS)
        answered += not answer.abstained
        abstained += answer.abstained
    elapsed = time.monotonic() - started
    growth = rss_mb() - before
    print(
        f"\nsoak: 300 questions in {elapsed:.0f}s ({elapsed / 300 * 1000:.0f} ms each), {answered} answered, "
        f"{abstained} abstained, 0 errors; RSS {before:.0f} MB -> {before + growth:.0f} MB (+{growth:.1f} MB)"
    )
    assert growth < 150


# ============================================================================ collection names


@pytest.mark.parametrize("name", ["../x", "a/b", "/tmp/x", "x" * 64, ""])
def test_path_like_collection_names_are_refused_before_anything_is_created(
    name: str, settings: Settings, seeds_copy: Path, tmp_path: Path
) -> None:
    """A collection name keys a cache folder under RAG_DATA_DIR: `../x` must never become a
    folder next to it. Library, environment and CLI refuse it with one typed error, and no
    folder, file or collection is created."""
    ingest([seeds_copy], settings=settings, embedder=HashEmbedder(64))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(InvalidCollectionNameError):
        settings.replace(collection=name)
    with pytest.raises(InvalidCollectionNameError):
        # (an empty RAG_COLLECTION means the default, so "-" stands in for it there)
        Settings.from_env({"RAG_DATA_DIR": str(settings.data_dir), "RAG_COLLECTION": name or "-"})
    with pytest.raises(InvalidCollectionNameError):
        delete_collection(settings=Settings(data_dir=settings.data_dir, collection=name))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(settings.data_dir), RAG_LLM="extractive")
    for args in (
        ["ingest", "--collection", name, str(seeds_copy)],
        ["ask", "--collection", name, "Who is Hyun Seung-soo?"],
        ["status", "--collection", name],
        ["collections", "delete", name],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 2 and proc.stdout == "", (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("error: ") and "collection name" in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert [c.name for c in list_collections(settings=settings)] == ["documents"]
