"""The project's typed errors.

Two families, so callers can phrase them differently: `UserError` is something the user can
fix (a bad question, no index yet, a locked store); `ProviderError` is a fault in a component
we call (the model endpoint, the Chroma server). Every SDK error is re-raised as one of these
with `raise ... from e`.
"""

from __future__ import annotations


class RagError(Exception):
    """Root of every error this project raises on purpose."""


class UserError(RagError):
    """A mistake the user can fix; the message says how."""


class EmptyQuestionError(UserError):
    """The question is empty or only whitespace/control characters."""


class QuestionTooLongError(UserError):
    """The question exceeds the configured token limit."""


class NoIndexError(UserError):
    """Nothing has been ingested yet (run `rag ingest`)."""


class EmbedderMismatchError(UserError):
    """The collection was built with a different embedder than the one asked to query it."""


class IngestLockedError(UserError):
    """Another ingest holds the store's lock."""


class NoDocumentsError(UserError):
    """An ingest path does not exist or holds no files."""


class InvalidCollectionNameError(UserError, ValueError):
    """A collection name that is empty, too long, path-like or has characters Chroma rejects.

    Also a `ValueError`, like every other bad settings value.
    """


class ProviderError(RagError):
    """A component we depend on failed (model endpoint, vector store)."""


class StoreError(ProviderError):
    """The vector store is unreachable, corrupted or returned something unexpected."""


class ModelError(ProviderError):
    """The language model failed: unreachable, timed out, or returned garbage."""


class ModelUnavailableError(ModelError):
    """The model cannot be loaded or reached at all (missing weights, endpoint down)."""


class ModelTimeoutError(ModelError):
    """The model did not answer within the configured timeout."""


def exit_code(error: BaseException) -> int:
    """The command-line exit code for an error: 2 for what the user can fix (a `UserError`, a
    bad value), 3 for a component that failed (`ProviderError`), 130 when interrupted, else 1."""
    if isinstance(error, KeyboardInterrupt):
        return 130
    if isinstance(error, (UserError, ValueError)):
        return 2
    return 3 if isinstance(error, ProviderError) else 1


def report_error(error: BaseException) -> int:
    """Print one `error:` line (or "interrupted") to stderr; return `exit_code(error)`."""
    import sys

    print("\ninterrupted" if isinstance(error, KeyboardInterrupt) else f"error: {error}", file=sys.stderr)
    return exit_code(error)
