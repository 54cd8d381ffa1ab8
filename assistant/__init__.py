"""Question answering over your documents, with citations that are verified, not trusted.

    from assistant import ask
    answer = ask("How many troops did North Korea send?")
    print(answer.text)
    for c in answer.citations:
        print(c.n, c.source, c.lines, c.quote)
"""

from assistant.api import ask, ask_stream, document_text, search, status
from assistant.errors import (EmbedderMismatchError, EmptyQuestionError, IngestLockedError, ModelError,
                              ModelTimeoutError, ModelUnavailableError, NoDocumentsError, NoIndexError,
                              ProviderError, QuestionTooLongError, RagError, StoreError, UserError)
from assistant.settings import Settings
from assistant.types import Answer, Chunk, Citation, Hit

__all__ = [
    "ask", "ask_stream", "search", "status", "document_text", "Answer", "Citation", "Hit", "Chunk", "Settings",
    "RagError", "UserError", "ProviderError", "EmptyQuestionError", "QuestionTooLongError",
    "NoIndexError", "NoDocumentsError", "EmbedderMismatchError", "IngestLockedError", "StoreError",
    "ModelError", "ModelUnavailableError", "ModelTimeoutError",
]
