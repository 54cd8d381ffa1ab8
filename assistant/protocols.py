"""The two small protocols everything model-shaped implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors.

    Attributes:
        name: Identifies the model; stored with the collection and checked on open.
        dimension: Length of each vector.
    """

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed `texts` (batched internally); returns one unit vector per text."""
        ...


@runtime_checkable
class ChatModel(Protocol):
    """A chat model that streams text.

    Attributes:
        name: Model name shown in answers.
    """

    name: str

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Yield pieces of the reply. Raises `ModelError` subclasses, never SDK errors."""
        ...
