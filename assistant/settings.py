"""One settings object: defaults, overridden by the environment in exactly one place.

Library functions take an explicit `settings` argument and fall back to `Settings.from_env()`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import InvalidCollectionNameError

BACKENDS = ("local", "local-small", "openai", "extractive")
DEFAULT_COLLECTION = "documents"
MAX_COLLECTION_NAME = 63
# Chroma's own rule (letters, digits, `.`, `_`, `-`; a letter or digit at both ends), so the
# name is also a safe file name: it keys this client's cache folder under `data_dir/cache/`.
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# The checks an answer sentence must pass, and those whose failure alone the model settles
# (`Settings.checks`, `Settings.model_decides`; the checks themselves: `assistant.grounding.verify`).
DEFAULT_CHECKS = ("numbers", "names", "content", "negation", "units", "kind")
DEFAULT_MODEL_DECIDES = ("words",)
MANIFEST_SUFFIX = "__files"  # `<name>__files` holds a collection's manifest (see the store)


def validate_collection_name(name: object) -> str:
    """Return `name` if it can name a collection; raise `InvalidCollectionNameError` if not.

    The one check of a collection name, used by `Settings` (so by every library function,
    the CLI and the UI) before anything is created. A name is 3-63 characters from
    `A-Z a-z 0-9 . _ -`, starts and ends with a letter or digit, has no `..`, is not an IPv4
    address (Chroma's rules, with a shorter limit so it stays a short file name) and does
    not end in `__files` (the suffix of a collection's manifest).

    Raises:
        InvalidCollectionNameError: Empty, too short or long, path-like (`../x`, `a/b`), or
            with characters Chroma rejects.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidCollectionNameError("a collection name cannot be empty")
    shown = name if len(name) <= 80 else name[:77] + "..."
    if not 3 <= len(name) <= MAX_COLLECTION_NAME:
        raise InvalidCollectionNameError(
            f"collection name {shown!r} has {len(name)} characters; use 3-{MAX_COLLECTION_NAME}"
        )
    if not _COLLECTION_NAME.fullmatch(name) or ".." in name:
        raise InvalidCollectionNameError(
            f"invalid collection name {shown!r}: use letters, digits, '.', '_' and '-', starting and "
            "ending with a letter or digit (no '/', no '..', no spaces)"
        )
    if name.endswith(MANIFEST_SUFFIX):
        raise InvalidCollectionNameError(f"invalid collection name {shown!r}: it may not end in {MANIFEST_SUFFIX!r}")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name
    raise InvalidCollectionNameError(f"invalid collection name {shown!r}: it may not be an IP address")


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with defaults that work offline on a laptop.

    Attributes:
        data_dir: Where the Chroma folder, model cache, BM25 index and feedback live.
        chroma_host: When set, use a Chroma server (`chroma run`) instead of the local folder.
        chroma_port: Port of the Chroma server.
        collection: The collection (a separate index: its own Chroma collections, BM25 cache
            and manifest); checked by `validate_collection_name` on construction.
        backend: Answer backend: one of `BACKENDS`.
        openai_base_url: Base URL of an OpenAI-compatible endpoint (backend `openai`).
        openai_api_key: Key for that endpoint (a placeholder works for local servers).
        model: Model name sent to the OpenAI-compatible endpoint.
        top_k: Passages retrieved per question.
        chunk_tokens: Target chunk size in cl100k tokens (MiniLM truncates at 256 word pieces).
        chunk_overlap_tokens: Overlap between consecutive chunks of a document.
        context_tokens: Token budget for the passages shown to the model.
        max_passages: At most this many passages are shown.
        passage_radius: Sentences shown on each side of a relevant sentence.
        model_check: Also ask the model, for each answer sentence, whether the passages state it
            and it answers the question (one token each). Off by default: on the tune halves
            it stopped few wrong answers and delays the first sentence to the end of the draft.
        model_check_threshold: The share of yes in the model's P(yes) + P(no) a sentence needs.
        yes_floor: For a yes/no question, the share of yes in the model's P(yes) + P(no) for
            the first word of its answer that an answer opening with "Yes" needs; below it the
            answer is withheld. The 1.5B model opens nearly every such answer with "Yes" (all 13
            of HaluEval's tune half whose answer is no) but is less sure of the wrong ones.
            0.75 was chosen on the tune halves of HaluEval and bbc-news (30 yes/no questions:
            it stops 9 wrong Yes and kills 3 right ones). Asked only of models that report
            probabilities (the local model, an endpoint with logprobs); 0 turns it off.
        checks: The checks an answer must pass (`assistant.grounding.verify`): the lexical
            checks of each sentence (numbers, names, content, words, negation, units) and of the
            whole answer (kind).
        model_decides: Checks whose failure the model settles: a sentence that fails only
            these is asked about (the model check, one token) and kept when the model says the
            passages state it. "words" by default: alone it threw away correct answers that
            add a framing word ("a timedelta object"), and it is the only lexical check that
            sees a contradiction made of the passage's words and a new verb ("the war ended").
        max_question_tokens: Longer questions are refused with `QuestionTooLongError`.
        max_file_bytes: Larger files are skipped at ingest with a reason.
        llm_timeout: Seconds to wait for a model response before retrying.
        llm_retries: Retries (with backoff) before falling back to extractive answers.
        max_answer_tokens: Generation limit.
        n_threads: CPU threads for the local model.
        n_ctx: Context window for the local model.
    """

    data_dir: Path = Path(".rag")
    chroma_host: str | None = None
    chroma_port: int = 8000
    collection: str = DEFAULT_COLLECTION
    backend: str = "local"
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    model: str | None = None
    top_k: int = 6
    chunk_tokens: int = 160
    chunk_overlap_tokens: int = 32
    context_tokens: int = 400
    max_passages: int = 5
    passage_radius: int = 1
    model_check: bool = False
    model_check_threshold: float = 0.5
    yes_floor: float = 0.75
    checks: tuple[str, ...] = DEFAULT_CHECKS
    model_decides: tuple[str, ...] = DEFAULT_MODEL_DECIDES
    max_question_tokens: int = 512
    max_file_bytes: int = 20_000_000
    llm_timeout: float = 120.0
    llm_retries: int = 1
    max_answer_tokens: int = 256
    n_threads: int = field(default_factory=lambda: max(1, min(os.cpu_count() or 2, 8)))
    n_ctx: int = 4096

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        validate_collection_name(self.collection)  # before any folder or collection is made

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from defaults, then the environment, then explicit overrides.

        This is the only place in the project that reads environment variables.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get("RAG_DATA_DIR"):
            values["data_dir"] = Path(env["RAG_DATA_DIR"])
        if env.get("RAG_CHROMA_HOST"):
            values["chroma_host"] = env["RAG_CHROMA_HOST"]
        if env.get("RAG_CHROMA_PORT"):
            values["chroma_port"] = int(env["RAG_CHROMA_PORT"])
        if env.get("RAG_COLLECTION"):
            values["collection"] = env["RAG_COLLECTION"]
        if env.get("RAG_LLM"):
            values["backend"] = env["RAG_LLM"]
        if env.get("OPENAI_BASE_URL"):
            values["openai_base_url"] = env["OPENAI_BASE_URL"]
        if env.get("OPENAI_API_KEY"):
            values["openai_api_key"] = env["OPENAI_API_KEY"]
        if env.get("RAG_MODEL"):
            values["model"] = env["RAG_MODEL"]
        if env.get("RAG_TOP_K"):
            values["top_k"] = int(env["RAG_TOP_K"])
        for name in ("context_tokens", "max_passages", "passage_radius"):
            if env.get(f"RAG_{name.upper()}"):
                values[name] = int(env[f"RAG_{name.upper()}"])
        if env.get("RAG_MODEL_CHECK"):
            values["model_check"] = env["RAG_MODEL_CHECK"].strip().lower() not in ("0", "false", "no", "off")
        if env.get("RAG_CHECKS"):
            values["checks"] = tuple(c.strip() for c in env["RAG_CHECKS"].split(",") if c.strip())
        if "RAG_MODEL_DECIDES" in env:
            values["model_decides"] = tuple(c.strip() for c in env["RAG_MODEL_DECIDES"].split(",") if c.strip())
        if env.get("RAG_YES_FLOOR"):
            values["yes_floor"] = float(env["RAG_YES_FLOOR"])
        if env.get("RAG_LLM_TIMEOUT"):
            values["llm_timeout"] = float(env["RAG_LLM_TIMEOUT"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()

    def replace(self, **changes: object) -> Settings:
        """Return a copy with `changes` applied (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None}).validated()

    def validated(self) -> Settings:
        """Check values; raise `ValueError` with a clear message on a bad one."""
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        from assistant.grounding.verify import ANSWER_CHECKS, CHECKS  # the checks live with the code that runs them

        known = (*CHECKS, *ANSWER_CHECKS)
        unknown = sorted((set(self.checks) - set(known)) | (set(self.model_decides) - set(CHECKS)))
        if unknown:
            raise ValueError(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(known)}")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        if self.context_tokens < 1 or self.max_passages < 1 or self.passage_radius < 0:
            raise ValueError("context_tokens and max_passages must be at least 1, passage_radius at least 0")
        if not 0.0 <= self.yes_floor <= 1.0:
            raise ValueError("yes_floor must be between 0 and 1 (0 turns it off)")
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("chunk_overlap_tokens must be smaller than chunk_tokens")
        return self
