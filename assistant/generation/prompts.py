"""Prompt templates, kept as text files in a package's `prompts/` folder and loaded as data."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def template(name: str, package: str = __package__) -> str:
    """The text of `prompts/<name>.txt` in `package` (default: this one, `assistant.generation`)."""
    return resources.files(package).joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")


def render(name: str, **values: str) -> str:
    """Fill a template of this package: its `{fields}` (values are inserted verbatim, never re-parsed)."""
    return template(name).format(**values)
