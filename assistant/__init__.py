"""Question answering over your documents, with citations that are verified, not trusted.

from assistant import ask
answer = ask("Who is the museum's director?")
print(answer.text)
for c in answer.citations:
    print(c.n, c.source, c.lines, c.quote)
"""

from assistant.api import (
    ask,
    ask_stream,
    document_path,
    document_text,
    list_collections,
    search,
    status,
    warm_up,
)
from assistant.errors import (
    EmbedderMismatchError,
    EmptyQuestionError,
    IngestLockedError,
    InvalidCollectionNameError,
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
from assistant.retrieval.store import CollectionSummary
from assistant.settings import DEFAULT_COLLECTION, Settings, validate_collection_name
from assistant.types import Answer, Chunk, Citation, Hit

__all__ = [
    "DEFAULT_COLLECTION",
    "Answer",
    "Chunk",
    "Citation",
    "CollectionSummary",
    "EmbedderMismatchError",
    "EmptyQuestionError",
    "Hit",
    "IngestLockedError",
    "InvalidCollectionNameError",
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
    "list_collections",
    "make_chat_model",
    "search",
    "status",
    "validate_collection_name",
    "warm_up",
]
