"""Prompt templates, kept as text files in `assistant/prompts/` and loaded as data."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def template(name: str) -> str:
    """The text of `prompts/<name>.txt`."""
    return resources.files("assistant").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")


def render(name: str, **values: str) -> str:
    """Fill a template's `{fields}` (values are inserted verbatim, never re-parsed)."""
    return template(name).format(**values)
