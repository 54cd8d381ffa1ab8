"""Faults in what we depend on: the vector store and the model endpoint, and kill -9 during ingest.

- Store: missing, corrupted (garbage over chroma.sqlite3), built by another embedder, a Chroma
  server that is down or dies in the middle of an ingest. Each is a typed error with a message
  that says what to do, and the documented recovery works.
- Model: a stdlib HTTP server on 127.0.0.1 plays a broken OpenAI-compatible endpoint (errors,
  slowness, garbage, a prompt too long, a reply cut off). `ask()` retries with backoff where it
  makes sense, then falls back to an extractive answer and says so in `answer.notices`.
- Crash consistency: ingest is killed with SIGKILL at random moments, then re-synced, and the
  index must equal a clean build, chunk for chunk and manifest record for record.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ROOT, SEEDS
from test_ingest import _KILLABLE, _store_state, make_corpus

from assistant import Answer, ask, search, status
from assistant.errors import EmbedderMismatchError, NoIndexError, StoreError
from assistant.generation.llm import ScriptedChat
from assistant.retrieval.embedder import HashEmbedder
from assistant.settings import Settings
from ingest import ingest

Q = "How many special forces had North Korea already sent to Russia?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, data_dir: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_DATA_DIR=str(data_dir), RAG_LLM="extractive", PYTHONIOENCODING="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def corrupt(path: Path) -> None:
    """Overwrite a file with random bytes, in place (same inode, same size)."""
    with open(path, "r+b") as f:
        size = f.seek(0, 2)
        f.seek(0)
        f.write(random.Random(7).randbytes(size))


@pytest.fixture
def index(settings: Settings, hash_embedder, seeds_copy: Path) -> tuple[Settings, Path]:
    ingest([seeds_copy], settings=settings, embedder=hash_embedder)
    return settings, seeds_copy


# ============================================================================ store


def test_missing_store_says_run_ingest(settings: Settings, hash_embedder, tmp_path: Path) -> None:
    for call in (
        lambda: ask(Q, settings=settings, embedder=hash_embedder),
        lambda: search(Q, settings=settings, embedder=hash_embedder),
        lambda: status(settings=settings, embedder=hash_embedder),
    ):
        with pytest.raises(NoIndexError, match="rag ingest"):
            call()
    proc = run_cli("status", data_dir=tmp_path / "cli-data")
    assert proc.returncode == 2 and "rag ingest" in proc.stderr


def test_corrupted_store_is_a_store_error_and_rebuild_recovers(index, hash_embedder) -> None:
    """Garbage over chroma.sqlite3 while this process has the folder open: every call is a
    StoreError that names the recovery, and `ingest(rebuild=True)` recovers in-process."""
    settings, docs = index
    good = ask(Q, settings=settings, embedder=hash_embedder)
    clean = _store_state(settings, hash_embedder)
    corrupt(settings.data_dir / "chroma" / "chroma.sqlite3")
    for call in (
        lambda: ask(Q, settings=settings, embedder=hash_embedder),
        lambda: status(settings=settings, embedder=hash_embedder),
        lambda: ingest([docs], settings=settings, embedder=hash_embedder),
    ):
        with pytest.raises(StoreError, match="rag ingest --rebuild"):
            call()
    report = ingest([docs], settings=settings, embedder=hash_embedder, rebuild=True)
    assert report.added == 5 and report.embedded == report.chunks
    assert _store_state(settings, hash_embedder) == clean
    again = ask(Q, settings=settings, embedder=hash_embedder)
    assert (again.text, again.citations) == (good.text, good.citations)


def test_corrupted_store_cold_process_rebuild_recovers(index, hash_embedder, tmp_path: Path) -> None:
    """The same, for a folder this process has never opened (the CLI's situation)."""
    settings, docs = index
    clean = _store_state(settings, hash_embedder)
    cold = Settings(data_dir=tmp_path / "cold", backend="extractive")
    shutil.copytree(settings.data_dir, cold.data_dir)
    corrupt(cold.data_dir / "chroma" / "chroma.sqlite3")
    with pytest.raises(StoreError, match="rag ingest --rebuild"):
        ask(Q, settings=cold, embedder=hash_embedder)
    with pytest.raises(StoreError, match="file is not a database"):
        ingest([docs], settings=cold, embedder=hash_embedder)
    ingest([docs], settings=cold, embedder=hash_embedder, rebuild=True)
    assert _store_state(cold, hash_embedder) == clean


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_cli_corrupted_store_then_rebuild(tmp_path: Path) -> None:
    """`rag status` on a corrupted folder: exit 3 with the recovery in the message; `rag ingest
    --rebuild` then recovers (real MiniLM)."""
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEEDS / "003_e947e4c43ee9cbf7.txt", docs)
    assert run_cli("ingest", str(docs), data_dir=data).returncode == 0
    corrupt(data / "chroma" / "chroma.sqlite3")
    for args in (["status"], ["ask", Q], ["ingest", str(docs)]):
        proc = run_cli(*args, data_dir=data)
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.startswith("error: ") and "rag ingest --rebuild" in proc.stderr
    proc = run_cli("ingest", "--rebuild", "--json", str(docs), data_dir=data)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"] == 1
    proc = run_cli("status", "--json", data_dir=data)
    assert proc.returncode == 0 and json.loads(proc.stdout)["files"] == 1


def test_embedder_mismatch_is_refused_everywhere(index, hash_embedder) -> None:
    settings, docs = index
    other = HashEmbedder(32)
    for call in (
        lambda: ask(Q, settings=settings, embedder=other),
        lambda: status(settings=settings, embedder=other),
        lambda: ingest([docs], settings=settings, embedder=other),
    ):
        with pytest.raises(EmbedderMismatchError, match="rebuild"):
            call()
    assert _store_state(settings, hash_embedder)["files"]  # nothing was touched


def test_chroma_server_down_is_a_quick_store_error(tmp_path: Path, hash_embedder) -> None:
    import chromadb  # noqa: F401 - import time is not what is measured

    settings = Settings(data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port(), backend="extractive")
    for call in (
        lambda: ask(Q, settings=settings, embedder=hash_embedder),
        lambda: ingest([SEEDS], settings=settings, embedder=hash_embedder),
        lambda: status(settings=settings, embedder=hash_embedder),
    ):
        started = time.perf_counter()
        with pytest.raises(StoreError, match=r"127\.0\.0\.1.*chroma run"):
            call()
        assert time.perf_counter() - started < 5.0


class ChromaServer:
    """`chroma run` on 127.0.0.1 that a test can kill -9 and start again on the same folder."""

    def __init__(self, path: Path) -> None:
        self.path, self.port = path, free_port()
        self.process: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="chroma-", suffix=".log")[1])

    def start(self, timeout: float = 90.0) -> None:
        exe = Path(sys.executable).parent / "chroma"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [
                    str(exe) if exe.exists() else "chroma",
                    "run",
                    "--path",
                    str(self.path),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            with (
                contextlib.suppress(OSError, ValueError),
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=2),
            ):
                return
            time.sleep(0.2)
        raise RuntimeError(f"chroma run did not start:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_chroma_server_killed_mid_ingest_then_rerun_converges(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    make_corpus(docs, 6)
    server = ChromaServer(tmp_path / "server")
    settings = Settings(
        data_dir=tmp_path / "client", chroma_host="127.0.0.1", chroma_port=server.port, backend="extractive"
    )
    embedded = threading.Event()

    class SlowHash(HashEmbedder):
        def embed(self, texts):
            embedded.set()
            time.sleep(0.004 * len(texts))
            return super().embed(texts)

    outcome: dict[str, BaseException | object] = {}

    def run() -> None:
        try:
            outcome["report"] = ingest([docs], settings=settings, embedder=SlowHash(64))
        except BaseException as e:  # asserted below
            outcome["error"] = e

    server.start()
    try:
        worker = threading.Thread(target=run)
        worker.start()
        assert embedded.wait(120)
        time.sleep(0.3)
        killed_at = time.monotonic()
        server.kill()
        worker.join(120)
        assert not worker.is_alive()
        assert isinstance(outcome.get("error"), StoreError), outcome
        assert "chroma server http://127.0.0.1" in str(outcome["error"])
        assert time.monotonic() - killed_at < 30
        with pytest.raises(StoreError):
            ask(Q, settings=settings, embedder=HashEmbedder(64))

        server.start()  # same folder, same port
        interrupted = status(settings=settings, embedder=HashEmbedder(64))
        assert interrupted["pending"] or interrupted["files"] < 30
        ingest([docs], settings=settings, embedder=HashEmbedder(64))
        clean = Settings(data_dir=tmp_path / "clean")
        ingest([docs], settings=clean, embedder=HashEmbedder(64))
        assert _store_state(settings, HashEmbedder(64)) == _store_state(clean, HashEmbedder(64))
        answer = ask(Q, settings=settings, embedder=HashEmbedder(64))
        assert not answer.abstained and answer.citations
    finally:
        server.kill()


# ============================================================================ model endpoint


Action = Callable[[BaseHTTPRequestHandler], None]


def _event(content: object) -> bytes:
    body = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fault",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def stream(*pieces: str) -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        for p in pieces:
            h.wfile.write(_event(p))
        h.wfile.write(b"data: [DONE]\n\n")

    return act


def status_reply(code: int, message: str) -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        body = json.dumps({"error": {"message": message, "type": "fault", "code": code}}).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return act


def raw_reply(body: bytes, content_type: str = "text/event-stream") -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return act


def hang(seconds: float) -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        with contextlib.suppress(OSError):
            stream("too late")(h)

    return act


def cut_off(first: str) -> Action:
    """Stream one piece, then die in the middle of the next chunk."""

    def act(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        data = _event(first)
        h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        h.wfile.write(b'400\r\ndata: {"choi')
        h.wfile.flush()
        h.close_connection = True

    return act


class FaultyEndpoint:
    """An OpenAI-compatible endpoint on 127.0.0.1 whose chat requests take the next action."""

    def __init__(self, actions: list[Action]) -> None:
        self.actions = list(actions)
        self.times: list[float] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.times.append(time.monotonic())
                self.close_connection = True
                action = endpoint.actions.pop(0) if endpoint.actions else status_reply(500, "no action left")
                action(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Callable[[list[Action]], FaultyEndpoint]]:
    made: list[FaultyEndpoint] = []

    def make(actions: list[Action]) -> FaultyEndpoint:
        made.append(FaultyEndpoint(actions))
        return made[-1]

    yield make
    for e in made:
        e.close()


def openai_settings(settings: Settings, base_url: str, timeout: float = 0.6) -> Settings:
    return settings.replace(
        backend="openai", openai_base_url=base_url, model="fault-model", llm_timeout=timeout, llm_retries=1
    )


def fell_back(answer: Answer, docs: Path, reason: str) -> None:
    """An extractive answer with valid citations and a notice that says why."""
    assert answer.backend == "extractive" and not answer.abstained
    assert answer.notices and "extractive" in answer.notices[0] and re.search(reason, answer.notices[0]), answer.notices
    assert "1,500" in answer.text
    for c in answer.citations:
        assert (docs / c.source).read_text(encoding="utf-8")[c.start : c.end] == c.quote


GOOD_REPLY = "North Korea had already sent about 1,500 special forces to Russia [1]."


def test_model_endpoint_down_falls_back(index, hash_embedder) -> None:
    import openai  # noqa: F401 - import time is not what is measured

    settings, docs = index
    started = time.monotonic()
    answer = ask(Q, settings=openai_settings(settings, f"http://127.0.0.1:{free_port()}/v1"), embedder=hash_embedder)
    fell_back(answer, docs, "cannot reach")
    assert time.monotonic() - started < 5


def test_model_too_slow_is_retried_then_falls_back(index, hash_embedder, endpoint) -> None:
    settings, docs = index
    server = endpoint([hang(3.0), hang(3.0)])
    started = time.monotonic()
    answer = ask(Q, settings=openai_settings(settings, server.base_url, timeout=0.5), embedder=hash_embedder)
    elapsed = time.monotonic() - started
    fell_back(answer, docs, r"did not answer within 0\.5 s")
    assert len(server.times) == 2  # one retry
    assert server.times[1] - server.times[0] >= 0.5 + 0.4  # the timeout, then the backoff
    assert elapsed < 4.0


@pytest.mark.parametrize("codes", [(500, 503), (429, 429), (502, 500)])
def test_model_errors_are_retried_with_backoff_then_fall_back(index, hash_embedder, endpoint, codes) -> None:
    settings, docs = index
    server = endpoint([status_reply(code, f"fault {code}") for code in codes])
    answer = ask(Q, settings=openai_settings(settings, server.base_url), embedder=hash_embedder)
    fell_back(answer, docs, f"HTTP {codes[1]}")
    assert len(server.times) == 2 and server.times[1] - server.times[0] >= 0.4


def test_a_transient_error_then_success_uses_the_model(index, hash_embedder, endpoint) -> None:
    settings, _ = index
    server = endpoint([status_reply(503, "warming up"), stream(GOOD_REPLY[:20], GOOD_REPLY[20:])])
    answer = ask(Q, settings=openai_settings(settings, server.base_url), embedder=hash_embedder)
    assert answer.backend == "openai" and answer.model == "fault-model" and not answer.notices
    assert "1,500" in answer.text and answer.citations and len(server.times) == 2


@pytest.mark.parametrize(
    "action, reason",
    [
        (raw_reply(b"data: this is not json\n\n"), "unexpected|malformed"),
        (raw_reply(b'{"not": "a stream"}', "application/json"), "unexpected|malformed|empty"),
        (raw_reply(b'data: {"hello": "world"}\n\n'), "malformed"),
        (stream(), "empty reply"),
        (raw_reply(bytes(range(256)) * 4, "application/octet-stream"), "unexpected|malformed|empty"),
    ],
    ids=["not-json", "not-a-stream", "no-choices", "empty", "binary"],
)
def test_model_garbage_falls_back_without_retry(index, hash_embedder, endpoint, action, reason) -> None:
    settings, docs = index
    server = endpoint([action, stream(GOOD_REPLY)])
    answer = ask(Q, settings=openai_settings(settings, server.base_url), embedder=hash_embedder)
    fell_back(answer, docs, reason)
    assert len(server.times) == 1


def test_model_nonsense_text_is_removed_not_shown(index, hash_embedder, endpoint) -> None:
    settings, _ = index
    nonsense = stream("Zxq vlorp gnarf [1]. ", "Blibber the wobbly quux [2]. ", "[[[[ ]]]] [-1] [a]")
    server = endpoint([nonsense])
    answer = ask(Q, settings=openai_settings(settings, server.base_url), embedder=hash_embedder)
    assert answer.abstained and answer.text.startswith("The documents don't say")
    assert answer.trace.abstained_by == "checks"
    assert len(answer.unsupported) >= 2 and not answer.citations and len(server.times) == 1


def test_context_too_long_falls_back_without_retry(index, hash_embedder, endpoint) -> None:
    settings, docs = index
    server = endpoint(
        [
            status_reply(
                400, "This model's maximum context length is 512 tokens. However, your messages resulted in 900 tokens."
            ),
            stream(GOOD_REPLY),
        ]
    )
    answer = ask(Q, settings=openai_settings(settings, server.base_url), embedder=hash_embedder)
    fell_back(answer, docs, "context length")
    assert len(server.times) == 1


def test_reply_cut_off_midway_keeps_what_was_verified(index, hash_embedder, endpoint) -> None:
    settings, _ = index
    server = endpoint([cut_off(GOOD_REPLY + " Then")])
    answer = ask(Q, settings=openai_settings(settings, server.base_url), embedder=hash_embedder)
    assert answer.backend == "openai" and "1,500" in answer.text and answer.citations
    assert any("stopped early" in n for n in answer.notices)
    assert len(server.times) == 1  # never restarted halfway


def test_reply_cut_off_before_any_sentence_falls_back(index, hash_embedder, endpoint) -> None:
    settings, docs = index
    server = endpoint([cut_off("North Korea had")])
    answer = ask(Q, settings=openai_settings(settings, server.base_url), embedder=hash_embedder)
    fell_back(answer, docs, "")


def test_missing_endpoint_setting_falls_back(index, hash_embedder) -> None:
    settings, docs = index
    answer = ask(Q, settings=settings.replace(backend="openai"), embedder=hash_embedder)
    fell_back(answer, docs, "OPENAI_BASE_URL")


# ============================================================================ crash consistency


def start_and_kill(docs: Path, data: Path, delay: float) -> bool:
    """Run the killable ingest of tests/test_ingest.py and SIGKILL it `delay` s after its store
    folder exists; True if it was still running then (it may finish first)."""
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE.format(root=str(ROOT), docs=str(docs), data=str(data))])
    deadline = time.monotonic() + 120
    while not (data / "chroma").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(delay)
    alive = proc.poll() is None
    proc.kill()  # a no-op when it has already exited
    proc.wait()
    return alive


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill9_at_random_moments_always_converges(tmp_path: Path, hash_embedder) -> None:
    """20+ trials: ingest is killed at a random moment (seeded), re-synced, and compared with a
    clean build of the same folder: identical chunk sets and manifests every time.

    Trials alternate between two versions of the corpus (files changed, deleted and added in
    between) and sometimes start from an empty store, so kills land in full builds and in
    incremental syncs alike.
    """
    rng = random.Random(20241122)
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    make_corpus(v1, 4)
    shutil.copytree(v1, v2)
    names = sorted(p.name for p in v2.iterdir())
    for name in names[:3]:
        (v2 / name).write_text((v2 / name).read_text(encoding="utf-8") + "\nA new closing line.\n", encoding="utf-8")
    for name in names[3:5]:
        (v2 / name).unlink()
    make_corpus(v2 / "added", 1)

    refs = {}
    for label, folder in (("v1", v1), ("v2", v2)):
        clean = Settings(data_dir=tmp_path / f"clean-{label}")
        docs = tmp_path / "docs"
        shutil.rmtree(docs, ignore_errors=True)
        shutil.copytree(folder, docs)
        ingest([docs], settings=clean, embedder=hash_embedder)
        refs[label] = _store_state(clean, hash_embedder)

    def use(label: str) -> Path:
        docs = tmp_path / "docs"
        shutil.rmtree(docs, ignore_errors=True)
        shutil.copytree(v1 if label == "v1" else v2, docs)
        return docs

    # How long the killable subprocess (slowed embedder) takes to open the store, and then
    # to finish a full build, when nobody kills it.
    docs = use("v1")
    started = time.monotonic()
    probe = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE.format(root=str(ROOT), docs=str(docs), data=str(tmp_path / "probe"))]
    )
    while not (tmp_path / "probe" / "chroma").exists() and probe.poll() is None:
        time.sleep(0.02)
    opened = time.monotonic()
    assert probe.wait(300) == 0
    full, startup = time.monotonic() - opened, opened - started
    trials, killed_mid_run, data = 22, 0, tmp_path / "data-0"
    for trial in range(trials):
        fresh = trial == 0 or rng.random() < 0.4
        if fresh:
            data = tmp_path / f"data-{trial}"
        label = rng.choice(["v1", "v2"])
        docs = use(label)
        # (start_and_kill counts the delay from when the store folder exists, which for a
        # store kept from the previous trial is at once: add the subprocess's start-up time)
        delay = rng.uniform(0.0, full) if fresh else startup + rng.uniform(0.0, full / 2)
        killed_mid_run += start_and_kill(docs, data, delay)
        ingest([docs], settings=Settings(data_dir=data), embedder=hash_embedder)
        state = _store_state(Settings(data_dir=data), hash_embedder)
        assert state == refs[label], f"trial {trial} ({label}, fresh={fresh}, delay {delay:.2f}s)"
        assert all(status == "done" for *_, status in state["files"].values())
    print(
        f"\nkill -9 trials: {trials} survived of {trials}; {killed_mid_run} killed mid-run; "
        f"full build {full:.1f}s after a {startup:.1f}s start-up"
    )
    assert killed_mid_run >= trials // 2


# ============================================================================ runaway replies


def test_a_runaway_reply_is_cut_not_verified_forever(index, hash_embedder) -> None:
    """An endpoint that ignores max_tokens and streams 48 KB without ending a sentence: the
    reply is cut at a bound and the answer falls back, instead of re-scanning the growing
    draft for every piece (quadratic: minutes)."""
    settings, docs = index
    model = ScriptedChat(["North Korea sent troops " * 2000], piece_size=4)
    started = time.monotonic()
    answer = ask(Q, settings=settings, chat_model=model, embedder=hash_embedder)
    assert time.monotonic() - started < 10
    fell_back(answer, docs, "characters")


def test_a_runaway_reply_after_a_good_sentence_keeps_it(index, hash_embedder) -> None:
    settings, _ = index
    model = ScriptedChat([GOOD_REPLY + " And " + "more troops " * 4000], piece_size=4)
    started = time.monotonic()
    answer = ask(Q, settings=settings, chat_model=model, embedder=hash_embedder)
    assert time.monotonic() - started < 10
    assert "1,500" in answer.text and len(answer.text) < 1000
    assert any("stopped early" in n and "characters" in n for n in answer.notices)
