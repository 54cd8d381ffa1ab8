"""The public API: `ask()`, `ask_stream()`, `search()`, `status()`, `list_collections()`,
`document_text()`, `document_path()`.

The answer path itself is `assistant.pipeline`, step by step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from assistant.errors import ModelError, NoIndexError
from assistant.generation.llm import make_chat_model
from assistant.pipeline import answer, clean_question, prompt_messages, read_question
from assistant.protocols import ChatModel, Embedder
from assistant.retrieval.embedder import MiniLMEmbedder
from assistant.retrieval.retrieve import retrieve
from assistant.retrieval.store import CollectionSummary, Store
from assistant.retrieval.store import list_collections as _list_collections
from assistant.settings import Settings
from assistant.types import Answer, Hit


def search(
    query: str,
    *,
    settings: Settings | None = None,
    top_k: int | None = None,
    sources: Sequence[str] | None = None,
    embedder: Embedder | None = None,
) -> list[Hit]:
    """Retrieve passages only (hybrid dense + BM25), best first; no generation."""
    settings = (settings or Settings.from_env()).replace(top_k=top_k)
    q = clean_question(query, settings)
    store = Store.open(settings, embedder or MiniLMEmbedder())
    return retrieve(store, q, top_k=settings.top_k, sources=sources)


def status(*, settings: Settings | None = None, embedder: Embedder | None = None) -> dict:
    """What is indexed: location, embedder, files, chunks, pending files, last sync, sources.

    Raises:
        NoIndexError: Nothing ingested yet.
    """
    return Store.open(settings or Settings.from_env(), embedder or MiniLMEmbedder()).info()


def list_collections(*, settings: Settings | None = None) -> list[CollectionSummary]:
    """The collections of documents in the store (local folder or Chroma server), by name,
    with their file and chunk counts; no embedder is loaded.

    Raises:
        StoreError: The vector store cannot be reached or read.
    """
    return _list_collections(settings or Settings.from_env())


def document_text(source: str, *, settings: Settings | None = None, embedder: Embedder | None = None) -> str | None:
    """The full text of an indexed document as stored at ingest (citation offsets refer to
    it); None when it is not indexed or was too large to store (`document_path` then says
    where the ingesting machine read it)."""
    return Store.open(settings or Settings.from_env(), embedder or MiniLMEmbedder()).document_text(source)


def document_path(source: str, *, settings: Settings | None = None, embedder: Embedder | None = None) -> Path | None:
    """Where the ingesting machine read an indexed document, or None when it is not indexed."""
    record = Store.open(settings or Settings.from_env(), embedder or MiniLMEmbedder()).files().get(source)
    return Path(record.root) / source if record is not None else None


def ask(question: str, *, history: Sequence[dict] | None = None, settings: Settings | None = None, **options) -> Answer:
    """Answer `question` from the indexed documents, with verified citations.

    Args:
        question: The user's question.
        history: Earlier turns as `{"role": "user"|"assistant", "content": str}` dicts;
            used to resolve follow-ups ("Where does he work?").
        settings: Defaults to `Settings.from_env()`.
        **options: `backend`, `top_k`, `sources` (restrict to these files), `chat_model`
            (a `ChatModel` instance), `embedder`.

    Returns:
        An `Answer`: every sentence of `text` is backed by a `Citation`, or `abstained` is
        true and `text` says the documents don't answer.

    Raises:
        EmptyQuestionError, QuestionTooLongError: Bad question.
        NoIndexError: Nothing ingested yet.
        StoreError: The vector store failed.
    """
    answer = None
    for item in ask_stream(question, history=history, settings=settings, **options):
        if isinstance(item, Answer):
            answer = item
    assert answer is not None
    return answer


def ask_stream(
    question: str,
    *,
    history: Sequence[dict] | None = None,
    settings: Settings | None = None,
    backend: str | None = None,
    top_k: int | None = None,
    sources: Sequence[str] | None = None,
    chat_model: ChatModel | None = None,
    embedder: Embedder | None = None,
) -> Iterator[str | Answer]:
    """Like `ask()`, but yields verified answer sentences as they are produced, then the `Answer`.

    Only sentences that passed verification are yielded, so what the user sees streaming is
    what the final answer says.
    """
    t0 = time.perf_counter()
    settings = (settings or Settings.from_env()).replace(backend=backend, top_k=top_k)
    asked = read_question(question, history, settings)  # a bad question fails before anything opens
    embedder = embedder or MiniLMEmbedder()
    store = Store.open(settings, embedder)
    if store.count() == 0:
        raise NoIndexError("the index is empty: run `rag ingest` first")
    notices: list[str] = []
    model = chat_model
    if model is None and settings.backend != "extractive":
        try:
            model = make_chat_model(settings, settings.backend)
        except ModelError as e:
            notices.append(
                f"The {settings.backend} model is unavailable ({e}); "
                "showing an extractive answer (quoted sentences) instead."
            )
    yield from answer(asked, store, embedder, model, settings, sources=sources, notices=notices, t0=t0)


def warm_up(model: ChatModel) -> None:
    """Have `model` read the fixed prompt prefix now, so the first question does not wait for it.

    The system prompt and worked examples are the same for every question; a local model
    keeps them in its KV cache after one reply (measured with the 1.5B model: first token
    about 10 s cold, 3-4 s warm). The UI calls this in the background when it loads a local
    model. Errors are the caller's to ignore: a failed warm-up costs nothing but time.
    """
    for _ in model.stream(prompt_messages("[1] (none)", "(warm-up)"), max_tokens=1, temperature=0.0):
        pass
