"""Chat backends implementing the `ChatModel` protocol.

- `LocalChat`: a GGUF model run in-process by llama-cpp-python (loaded on first use, one
  instance per model file per process, one generation at a time).
- `OpenAIChat`: any OpenAI-compatible endpoint through the official `openai` client, with our
  own retry policy (only before the first piece of a reply has been yielded).
- `ScriptedChat`: a fake with queued replies for unit tests of the code around a model.

Every SDK or llama.cpp error leaves this module as a `ModelError` subclass, raised `from` the
original.
"""

from __future__ import annotations

import atexit
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ModelError, ModelTimeoutError, ModelUnavailableError
from assistant.generation.models import MODELS, gguf_path
from assistant.protocols import ChatModel, Message
from assistant.settings import Settings

__all__ = [
    "ContextOverflowError",
    "Interrupted",
    "LocalChat",
    "OpenAIChat",
    "ScriptedChat",
    "complete",
    "make_chat_model",
    "unload_local_models",
    "yes_probability",
]

PLACEHOLDER_API_KEY = "not-needed"


class ContextOverflowError(ModelError):
    """The prompt does not fit in the model's context window."""


def complete(model: ChatModel, messages: Sequence[Message], **kwargs: Any) -> str:
    """Run `model.stream(messages, **kwargs)` to the end and return the joined reply."""
    return "".join(model.stream(messages, **kwargs))


YES_WORDS = ("yes", "Yes", " yes", " Yes", "YES")
NO_WORDS = ("no", "No", " no", " No", "NO")


def yes_probability(model: ChatModel, messages: Sequence[Message]) -> float:
    """The probability that `model` answers the yes/no question in `messages` with yes, as the
    share of yes in P(yes) + P(no) for its first token.

    Backends that can read their first token's probabilities (`LocalChat`, `OpenAIChat` on a
    server that returns logprobs) say how sure they are; any other model is asked for one
    token, and yes counts 1.0, anything else 0.0.

    Raises:
        ModelError: The model failed.
    """
    own = getattr(model, "yes_probability", None)
    if callable(own):
        return float(own(messages))
    return 1.0 if complete(model, messages, max_tokens=1, temperature=0.0).strip().lower().startswith("yes") else 0.0


def _yes_share(yes: float, no: float) -> float:
    """P(yes) / (P(yes) + P(no)), 0.0 when both are nil."""
    return yes / (yes + no) if yes + no > 0 else 0.0


def make_chat_model(settings: Settings, backend: str | None = None) -> ChatModel | None:
    """Build the chat model for a backend.

    Args:
        settings: Supplies paths, context size, threads, endpoint, timeout and retries.
        backend: "local", "local-small", "openai" or "extractive"; defaults to
            `settings.backend`.

    Returns:
        The chat model, or None for "extractive" (answers are built without a model).

    Raises:
        ModelUnavailableError: Model parts not installed, or `openai` chosen without
            `openai_base_url`.
        ValueError: Unknown backend.

    The first call for a local backend assembles the GGUF from its part packages (a few
    seconds); the model itself is loaded when the first reply is requested.
    """
    backend = backend or settings.backend
    if backend in MODELS:
        return LocalChat(
            gguf_path(backend, settings), n_ctx=settings.n_ctx, n_threads=settings.n_threads, name=MODELS[backend].name
        )
    if backend == "openai":
        if not settings.openai_base_url:
            raise ModelUnavailableError(
                "the openai backend needs an endpoint: set OPENAI_BASE_URL "
                "(e.g. http://127.0.0.1:8080/v1 for `python -m llama_cpp.server`)"
            )
        return OpenAIChat(
            settings.openai_base_url,
            settings.openai_api_key,
            settings.model,
            timeout=settings.llm_timeout,
            retries=settings.llm_retries,
        )
    if backend == "extractive":
        return None
    raise ValueError(f"unknown backend {backend!r}; choose one of local, local-small, openai, extractive")


# --------------------------------------------------------------------------------------
# Local GGUF model through llama-cpp-python
# --------------------------------------------------------------------------------------


class _LoadedLlama:
    """One loaded `Llama` and the lock that serialises generations on it."""

    def __init__(self, llama: Any, n_ctx: int) -> None:
        self.llama = llama
        self.n_ctx = n_ctx
        self.lock = threading.Lock()
        self.owner: int | None = None  # thread currently generating, to refuse re-entry


_loaded: dict[tuple[str, int, int], _LoadedLlama] = {}
_loaded_guard = threading.Lock()


def unload_local_models() -> None:
    """Forget every loaded local model (memory is freed once no `LocalChat` stream holds one)."""
    with _loaded_guard:
        _loaded.clear()


def close_local_models() -> None:
    """Free every loaded local model now (later use loads it again).

    Registered with `atexit`: a `Llama` left for the interpreter's final clean-up is freed after
    llama_cpp's module globals are gone, and its `__del__` prints a TypeError traceback.
    """
    with _loaded_guard:
        loaded = list(_loaded.values())
        _loaded.clear()
    for found in loaded:
        if found.lock.acquire(timeout=5):  # not under a generation still running (it keeps it)
            try:
                found.llama.close()
            finally:
                found.lock.release()


atexit.register(close_local_models)


_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


def _load_llama(path: Path, n_ctx: int, n_threads: int, seed: int, ram_cache_bytes: int) -> _LoadedLlama:
    """The loaded model for (file, context size, threads), loading it on first use.

    Raises:
        ModelUnavailableError: llama-cpp-python is missing or the file cannot be loaded.
    """
    key = (str(path.resolve()), n_ctx, n_threads)
    with _loaded_guard:
        found = _loaded.get(key)
        if found is not None:
            return found
        try:
            from llama_cpp import Llama, LlamaRAMCache
        except ImportError as e:
            raise ModelUnavailableError(
                "llama-cpp-python is not installed: pip install 'llama-cpp-python[server]==0.3.36'"
            ) from e
        if not path.is_file():
            raise ModelUnavailableError(f"model file not found: {path}")
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelUnavailableError(f"cannot load {path}: {e}") from e
        if ram_cache_bytes > 0:
            llama.set_cache(LlamaRAMCache(capacity_bytes=ram_cache_bytes))
        found = _loaded[key] = _LoadedLlama(llama, n_ctx)
        return found


class LocalChat:
    """A GGUF chat model run in-process by llama-cpp-python.

    The constructor is cheap; the weights load on the first `stream()` call. All `LocalChat`
    objects for the same file, context size and thread count share one loaded `Llama`, and a
    lock lets only one generation run on it at a time (llama.cpp contexts are not thread-safe;
    other callers wait). The chat template comes from the GGUF metadata.

    llama-cpp-python keeps the KV cache of the previous prompt and re-evaluates only the part
    after the longest common token prefix, so prompts that share a long system prompt reuse
    its computation. `ram_cache_bytes > 0` additionally keeps saved states of earlier prompts
    (`LlamaRAMCache`), which helps when two prompt families alternate (e.g. answer and judge).

    Attributes:
        name: Model name shown in answers.
        model_path: The GGUF file.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        name: str | None = None,
        seed: int = 0,
        ram_cache_bytes: int = 0,
    ) -> None:
        """Describe the model; nothing is loaded yet.

        Args:
            model_path: Path of the GGUF file.
            n_ctx: Context window in tokens (prompt plus reply).
            n_threads: CPU threads for prompt evaluation and generation (default: 2..8).
            name: Name shown in answers (default: the file name without suffix).
            seed: Sampling seed (temperature 0 is greedy and ignores it).
            ram_cache_bytes: Size of an in-memory cache of earlier prompt states; 0 disables
                it. Each saved state costs about 0.4 s and 100-300 MB (llama-cpp-python copies
                the logits too). The first `LocalChat` to load a model decides this.
        """
        self.model_path = Path(model_path)
        self.name = name or self.model_path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads or Settings().n_threads
        self.seed = seed
        self.ram_cache_bytes = ram_cache_bytes

    def load(self) -> None:
        """Load the weights now (otherwise the first `stream()` does).

        Raises:
            ModelUnavailableError: llama-cpp-python is missing or the file cannot be loaded.
        """
        self._loaded()

    def _loaded(self) -> _LoadedLlama:
        return _load_llama(self.model_path, self.n_ctx, self.n_threads, self.seed, self.ram_cache_bytes)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Yield pieces of the reply (about one token each).

        The generation lock is held until the iterator is exhausted or closed, so consume it
        promptly (or close it) before asking this model for another reply.

        Raises:
            ModelUnavailableError: The model cannot be loaded.
            ContextOverflowError: The prompt is longer than the context window.
            ModelError: Generation failed, a nested call on the same thread, or an empty reply.
        """
        with self._generating() as llama:
            chunks = None
            try:
                chunks = llama.create_chat_completion(
                    messages=[dict(m) for m in messages],
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=list(stop) if stop else None,
                    seed=self.seed,
                    stream=True,
                )
                yielded = False
                for chunk in chunks:
                    content = chunk["choices"][0]["delta"].get("content") if chunk.get("choices") else None
                    if content:
                        yielded = True
                        yield content
                if not yielded:
                    raise ModelError("empty reply")
            finally:
                if chunks is not None and hasattr(chunks, "close"):
                    chunks.close()

    def yes_probability(self, messages: Sequence[Message]) -> float:
        """P(yes) / (P(yes) + P(no)) for the first token of the reply to `messages`.

        Read from the logits llama.cpp computes for that token anyway (a logits processor sees
        them before sampling), so it costs the same as a one-token reply.

        Raises:
            ModelError: As `stream`.
        """
        with self._generating() as llama:
            return _first_token_yes_share_local(llama, messages, self.seed)

    @contextmanager
    def _generating(self) -> Iterator[Any]:
        """The loaded `Llama`, held for one generation; llama.cpp errors become `ModelError`s."""
        loaded = self._loaded()
        me = threading.get_ident()
        if loaded.owner == me:
            raise ModelError(
                "a reply from this model is still being streamed on this thread; finish or close it before asking again"
            )
        with loaded.lock:
            loaded.owner = me
            try:
                yield loaded.llama
            except ValueError as e:
                overflow = _OVERFLOW.search(str(e))
                if overflow:
                    raise ContextOverflowError(
                        f"the prompt is {overflow.group(1)} tokens, more than the {self.name} "
                        f"context window of {overflow.group(2)}; send less context or raise n_ctx"
                    ) from e
                raise ModelError(f"{self.name} failed: {e}") from e
            except (RuntimeError, KeyError, IndexError, TypeError) as e:
                raise ModelError(f"{self.name} failed: {e}") from e
            finally:
                loaded.owner = None


# --------------------------------------------------------------------------------------
# OpenAI-compatible endpoint
# --------------------------------------------------------------------------------------


class OpenAIChat:
    """A model behind an OpenAI-compatible chat completions endpoint.

    Uses the official `openai` client (created on first use) with its own retries disabled;
    connection errors, timeouts, HTTP 429 and 5xx are retried here with exponential backoff
    (`backoff`, 2x`backoff`, ...), but only before the first piece of a reply has been
    yielded: a reply is never restarted halfway.

    Attributes:
        name: Model name shown in answers: the model id (discovered from `/v1/models` on
            first use when not given, without directories and `.gguf`).
        model: The model id sent with each request.
        base_url: The endpoint, e.g. `http://127.0.0.1:8080/v1`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str | None = None,
        *,
        timeout: float = 120.0,
        retries: int = 1,
        backoff: float = 0.5,
    ) -> None:
        """Describe the endpoint; no connection is made yet.

        Args:
            base_url: Base URL including `/v1`.
            api_key: API key; local servers ignore it, so a placeholder is used when missing.
            model: Model id; None asks the server's `/v1/models` and takes the first.
            timeout: Seconds to wait to connect and between bytes of a reply.
            retries: Extra attempts after a transient failure.
            backoff: First delay in seconds between attempts; doubles each time.
        """
        self.base_url = base_url
        self.api_key = api_key or PLACEHOLDER_API_KEY
        self.model = model
        self.name = model or "openai"
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as e:
                    raise ModelUnavailableError("the openai package is not installed: pip install openai") from e
                self._client = openai.OpenAI(
                    base_url=self.base_url, api_key=self.api_key, timeout=self.timeout, max_retries=0
                )
            return self._client

    def _model_id(self, client: Any) -> str:
        if self.model is None:
            page = client.models.list()
            ids = [getattr(m, "id", None) for m in (getattr(page, "data", None) or [])]
            ids = [i for i in ids if isinstance(i, str) and i]
            if not ids:
                raise ModelUnavailableError(f"{self.base_url} lists no models at /models")
            self.model = ids[0]
            # llama_cpp.server lists the model file's path as its id: show just the file stem.
            self.name = ids[0].rsplit("/", 1)[-1].removesuffix(".gguf")
        return self.model

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Yield pieces of the reply as the endpoint streams them.

        Raises:
            ModelUnavailableError: The endpoint cannot be reached (after retries).
            ModelTimeoutError: The endpoint did not answer within the timeout (after retries).
            ContextOverflowError: The endpoint says the prompt exceeds the context window.
            ModelError: An HTTP error, a malformed or empty reply.
        """
        client = self._get_client()
        request: dict[str, Any] = {
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if stop:
            request["stop"] = list(stop)
        attempt = 0
        while True:
            started = False
            try:
                response = client.chat.completions.create(model=self._model_id(client), **request)
                try:
                    for piece in _stream_pieces(response):
                        started = True
                        yield piece
                finally:
                    _close_quietly(response)
                if not started:
                    raise ModelError("empty reply")
                return
            except ModelError:
                raise
            except Exception as e:  # classified and re-raised as our own error below
                if not started and attempt < self.retries and _is_transient(e):
                    time.sleep(self.backoff * (2**attempt))
                    attempt += 1
                    continue
                raise _translate(e, self.base_url, self.timeout) from e

    def yes_probability(self, messages: Sequence[Message]) -> float:
        """P(yes) / (P(yes) + P(no)) for the first token of the reply, from the endpoint's
        logprobs (`top_logprobs`); the reply's text decides (1.0 or 0.0) when it sends none.

        Raises:
            As `stream`.
        """
        client = self._get_client()
        attempt = 0
        while True:
            try:
                reply = client.chat.completions.create(
                    model=self._model_id(client),
                    messages=[dict(m) for m in messages],
                    max_tokens=1,
                    temperature=0.0,
                    logprobs=True,
                    top_logprobs=20,
                )
                return _first_token_yes_share(reply)
            except ModelError:
                raise
            except Exception as e:  # classified and re-raised as our own error below
                if attempt < self.retries and _is_transient(e):
                    time.sleep(self.backoff * (2**attempt))
                    attempt += 1
                    continue
                raise _translate(e, self.base_url, self.timeout) from e


def _translate(e: Exception, where: str, timeout: float) -> ModelError:
    """An `openai` SDK error as our own `ModelError` subclass."""
    import openai

    if isinstance(e, openai.APITimeoutError):
        return ModelTimeoutError(f"{where} did not answer within {timeout:g} s")
    if isinstance(e, openai.APIConnectionError):
        return ModelUnavailableError(f"cannot reach the model endpoint {where}: {e}")
    if isinstance(e, openai.APIStatusError):
        message = _status_message(e)
        if e.status_code == 400 and "context" in message.lower():
            return ContextOverflowError(f"{where}: {message}")
        return ModelError(f"{where} answered HTTP {e.status_code}: {message}")
    return ModelError(f"{where} returned something unexpected: {type(e).__name__}: {e}")


def _first_token_yes_share_local(llama: Any, messages: Sequence[Message], seed: int) -> float:
    """The yes share of the first token a loaded `Llama` would reply to `messages`, from the
    logits a logits processor sees before sampling (the same cost as a one-token reply)."""
    import numpy as np
    from llama_cpp import LogitsProcessorList

    seen: list[Any] = []

    def capture(_input_ids: Any, scores: Any) -> Any:
        if not seen:
            seen.append(np.asarray(scores, dtype=np.float64).copy())
        return scores

    llama.create_chat_completion(
        messages=[dict(m) for m in messages],
        max_tokens=1,
        temperature=0.0,
        seed=seed,
        logits_processor=LogitsProcessorList([capture]),
    )
    if not seen:
        raise ModelError("the model produced no token")
    yes, no = (
        sorted({llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words})
        for words in (YES_WORDS, NO_WORDS)
    )
    p = np.exp(seen[0] - seen[0].max())
    return _yes_share(float(p[yes].sum()), float(p[no].sum()))


def _first_token_yes_share(reply: Any) -> float:
    """The yes share of a one-token chat completion: from its top logprobs when it has them,
    else from its text."""
    import math

    choices = getattr(reply, "choices", None)
    if not choices:
        raise ModelError(f"malformed reply (no choices): {_short(reply)}")
    logprobs = getattr(choices[0], "logprobs", None)
    content = getattr(logprobs, "content", None) or []
    if content and getattr(content[0], "top_logprobs", None):
        yes = no = 0.0
        for alternative in content[0].top_logprobs:
            word = str(getattr(alternative, "token", "")).strip().lower()
            p = math.exp(float(getattr(alternative, "logprob", -math.inf)))
            yes += p if word == "yes" else 0.0
            no += p if word == "no" else 0.0
        if yes + no > 0:
            return _yes_share(yes, no)
    text = getattr(getattr(choices[0], "message", None), "content", None) or ""
    return 1.0 if text.strip().lower().startswith("yes") else 0.0


def _stream_pieces(response: Iterable[Any]) -> Iterator[str]:
    """Text pieces of a streamed chat completion; raises ModelError on malformed chunks."""
    for chunk in response:
        choices = getattr(chunk, "choices", None)
        if not isinstance(choices, list):
            raise ModelError(f"malformed reply chunk (no choices): {_short(chunk)}")
        if not choices:
            continue  # e.g. a final usage-only chunk
        delta = getattr(choices[0], "delta", None)
        content = getattr(delta, "content", None)
        if content is None:
            continue
        if not isinstance(content, str):
            raise ModelError(f"malformed reply chunk (non-text content): {_short(chunk)}")
        if content:
            yield content


def _is_transient(e: Exception) -> bool:
    # The SDK wraps transport errors, including those raised while a stream is read, in
    # APIConnectionError (APITimeoutError is a subclass).
    import openai

    if isinstance(e, openai.APIConnectionError):
        return True
    if isinstance(e, openai.APIStatusError):
        return e.status_code == 429 or e.status_code >= 500
    return False


def _status_message(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return str(getattr(e, "message", e))


def _close_quietly(response: Any) -> None:
    close = getattr(response, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # closing a broken connection must not hide the real error
            pass


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------------------
# Scripted fake for unit tests
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interrupted:
    """A scripted reply that streams `text` and then raises `error` (a reply dying halfway)."""

    text: str
    error: BaseException


Reply = str | BaseException | Interrupted | Callable[[list[Message]], str]


class ScriptedChat:
    """A chat model that plays back queued replies; for unit tests of code around a model.

    Each `stream()` call takes the next queued item:

    - a `str` is streamed in pieces of `piece_size` characters (cut at the first `stop`
      string, as a real model would stop);
    - an exception instance is raised when the stream is first read (a failed request);
    - an `Interrupted(text, error)` streams `text`, then raises `error`;
    - a callable gets the messages and returns the reply text.

    Attributes:
        name: Model name shown in answers.
        replies: The queue of remaining replies (append more at any time).
        calls: Every `messages` list received, as copies, in order.
        options: The keyword arguments of every call (`max_tokens`, `temperature`, `stop`).
    """

    def __init__(self, replies: Iterable[Reply] = (), *, name: str = "scripted", piece_size: int = 4) -> None:
        if piece_size < 1:
            raise ValueError("piece_size must be at least 1")
        self.name = name
        self.piece_size = piece_size
        self.replies: list[Reply] = list(replies)
        self.calls: list[list[Message]] = []
        self.options: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Record the call, take the next reply and return an iterator over its pieces.

        Raises:
            LookupError: No reply is left (a bug in the test, deliberately not a ModelError).
        """
        copied = [dict(m) for m in messages]
        with self._lock:
            self.calls.append(copied)
            self.options.append(
                {"max_tokens": max_tokens, "temperature": temperature, "stop": list(stop) if stop else None}
            )
            if not self.replies:
                raise LookupError(f"ScriptedChat {self.name!r} has no reply left for call {len(self.calls)}")
            reply = self.replies.pop(0)
        return self._play(reply, copied, stop)

    def _play(self, reply: Reply, messages: list[Message], stop: Sequence[str] | None) -> Iterator[str]:
        error: BaseException | None = None
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Interrupted):
            text, error = reply.text, reply.error
        elif callable(reply):
            text = reply(messages)
        else:
            text = reply
        for s in stop or ():
            if s and s in text:
                text = text[: text.index(s)]
        for i in range(0, len(text), self.piece_size):
            yield text[i : i + self.piece_size]
        if error is not None:
            raise error
