"""`ask()` end to end with backend "openai" against a real `python -m llama_cpp.server`.

The server runs the 0.5B GGUF on 127.0.0.1; the seeds are indexed with the real MiniLM in a
real Chroma folder (the session's `seed_index`). Nothing here is faked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Answer, ask, ask_stream
from assistant.errors import ModelUnavailableError
from assistant.generation.models import gguf_path
from assistant.settings import Settings

try:
    from llm_server import free_port, start_llama_server
except ImportError:  # tests/ imported as a package
    from tests.llm_server import free_port, start_llama_server

pytestmark = pytest.mark.slow

# A seed fact question the 0.5B answers with the #14 prompt (it declines about half of them;
# see test_answer_real.py). The test checks the server path end to end, not answer quality.
QUESTION = "At which university does Ben Engel teach political science and international relations?"
SOURCE = "000_ef01f84a8e898d1e.txt"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    try:
        model = gguf_path("local-small", Settings.from_env())
    except ModelUnavailableError as e:
        pytest.fail(f"the OpenAI-backend test needs the 0.5B parts: {e}")
    with start_llama_server(model, n_ctx=4096) as (_process, base_url):
        yield base_url


def test_ask_streams_a_cited_answer_from_a_real_server(seed_index: Settings, server: str) -> None:
    settings = seed_index.replace(backend="openai", openai_base_url=server, llm_timeout=120.0)
    items = list(ask_stream(QUESTION, settings=settings))
    answer = items[-1]
    assert isinstance(answer, Answer)
    pieces = items[:-1]
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip() == answer.text  # only verified sentences were streamed
    assert answer.backend == "openai" and answer.model not in ("", "openai", "extractive")
    assert not answer.notices, answer.notices  # no fallback happened
    assert not answer.abstained
    assert "dankook" in answer.text.lower()
    assert answer.citations and answer.citations[0].source == SOURCE
    original = (Path(__file__).resolve().parents[1] / "seeds" / SOURCE).read_text(encoding="utf-8")
    for c in answer.citations:
        if c.source == SOURCE:
            assert original[c.start : c.end] == c.quote
    assert answer.timings["first_token"] <= answer.timings["total"]
    assert answer.tokens["prompt"] > 0 and answer.tokens["completion"] > 0


def test_ask_reports_an_unreachable_endpoint_as_a_fallback(seed_index: Settings) -> None:
    """A dead endpoint is not an exception for the user: the answer falls back, with a notice."""
    settings = seed_index.replace(
        backend="openai", openai_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_timeout=5.0
    )
    answer = ask(QUESTION, settings=settings)
    assert answer.backend == "extractive" and any("extractive" in n for n in answer.notices)
    assert answer.citations and answer.citations[0].source == SOURCE
