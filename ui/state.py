"""Settings, heavy resources and per-session state of the Streamlit app.

Heavy objects are created once per process with `st.cache_resource` and shared by every
browser session: the MiniLM embedder and one chat model per backend configuration.

Test hooks (documented, deliberately tiny): before a run, a test may put
- `st.session_state[EMBEDDER_KEY]`: an `Embedder` used everywhere instead of MiniLM
  (e.g. `HashEmbedder(64)` with an index built by the same embedder);
- `st.session_state[CHAT_MODEL_KEY]`: a `ChatModel` (e.g. `ScriptedChat`) used instead of
  `make_chat_model(...)` for every backend except "extractive".

`st.session_state[COLLECTION_KEY]` ("opt_collection") holds the name of the collection the
sidebar chose; it is kept across pages (`ui/app.py` KEPT_WIDGETS).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import streamlit as st

from assistant import MiniLMEmbedder, ModelError, Settings, make_chat_model, warm_up

EMBEDDER_KEY = "rag_embedder"
CHAT_MODEL_KEY = "rag_chat_model"
# The collection the sidebar chose (a name; questions, uploads and syncs use it). Other
# features (e.g. saved conversations) read it from st.session_state under this key.
COLLECTION_KEY = "opt_collection"


@st.cache_resource(show_spinner="Loading the embedding model\u2026")
def _shared_embedder() -> MiniLMEmbedder:
    embedder = MiniLMEmbedder()
    try:
        # Load the weights now, once per process, so the first question does not pay for it.
        embedder.embed(["warm up"])
    except ModelError:
        pass  # reported where it matters: when a question or an ingest needs the embedder
    return embedder


@st.cache_resource(show_spinner="Preparing the model\u2026")
def _shared_chat_model(backend: str, base_url: str | None, model: str | None, data_dir: str, _settings: Settings):
    # Keyed by what selects the model; `_settings` (not hashed) supplies the rest.
    model = make_chat_model(_settings, backend)
    if backend in ("local", "local-small"):
        # Read the fixed prompt prefix in the background while the user types: the first
        # answer then starts as fast as the later ones. A question asked meanwhile waits for it.
        threading.Thread(target=_warm_up, args=(model,), name="rag-warm-up", daemon=True).start()
    return model


def _warm_up(model) -> None:
    try:
        warm_up(model)
    except Exception:  # the question that follows reports a broken model itself
        pass


def settings() -> Settings:
    """The app's base settings (`Settings.from_env()`; raises ValueError on a bad value)."""
    return Settings.from_env()


def embedder():
    """The embedder for this session: the test hook, else the shared MiniLM."""
    injected = st.session_state.get(EMBEDDER_KEY)
    return injected if injected is not None else _shared_embedder()


@dataclass(frozen=True)
class ChatChoice:
    """What to pass to `ask_stream` for the chosen backend.

    Attributes:
        backend: The backend to ask for ("extractive" after a failed model load).
        model: The chat model instance, or None for extractive answers.
        notice: Why the chosen backend is not used, or None.
    """

    backend: str
    model: object | None
    notice: str | None = None


def chat_model(config: Settings) -> ChatChoice:
    """The chat model for `config.backend`, loaded once per process.

    A model that cannot be built (parts not installed, no endpoint configured) falls back to
    extractive answers with a notice, instead of failing the question.
    """
    if config.backend == "extractive":
        return ChatChoice("extractive", None)
    injected = st.session_state.get(CHAT_MODEL_KEY)
    if injected is not None:
        return ChatChoice(config.backend, injected)
    try:
        model = _shared_chat_model(config.backend, config.openai_base_url, config.model, str(config.data_dir), config)
    except ModelError as e:
        return ChatChoice(
            "extractive",
            None,
            f"The {config.backend} model is unavailable ({e}); "
            "showing an extractive answer (quoted sentences) instead.",
        )
    if model is None:
        return ChatChoice("extractive", None)
    return ChatChoice(config.backend, model)
