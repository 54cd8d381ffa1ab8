"""Question answering over your documents, with citations that are verified, not trusted.

from assistant import ask
answer = ask("Who is the museum's director?")
print(answer.text)
for c in answer.citations:
    print(c.n, c.source, c.lines, c.quote)
"""

from assistant.api import ask, ask_stream, document_path, document_text, search, status, warm_up
from assistant.errors import (
    EmbedderMismatchError,
    EmptyQuestionError,
    IngestLockedError,
    ModelError,
    ModelTimeoutError,
    ModelUnavailableError,
    NoDocumentsError,
    NoIndexError,
    ProviderError,
    QuestionTooLongError,
    RagError,
    StoreError,
    UserError,
)
from assistant.generation.llm import make_chat_model
from assistant.retrieval.embedder import MiniLMEmbedder
from assistant.settings import Settings
from assistant.types import Answer, Chunk, Citation, Hit

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "EmbedderMismatchError",
    "EmptyQuestionError",
    "Hit",
    "IngestLockedError",
    "MiniLMEmbedder",
    "ModelError",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "NoDocumentsError",
    "NoIndexError",
    "ProviderError",
    "QuestionTooLongError",
    "RagError",
    "Settings",
    "StoreError",
    "UserError",
    "ask",
    "ask_stream",
    "document_path",
    "document_text",
    "make_chat_model",
    "search",
    "status",
    "warm_up",
]
