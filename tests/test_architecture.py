"""The shape of the code: what may import what, and how long a function or class may grow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 150


def test_importing_the_library_imports_no_face_and_no_eval() -> None:
    code = (
        "import sys, assistant, assistant.pipeline; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ingest', 'evals', 'ui'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("path", sorted((ROOT / "assistant").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_imports_ingest_evals_or_ui(path: Path) -> None:
    # Not even inside a function: the dependency runs from ingest, ui and evals to assistant.
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        assert not [n for n in names if n.split(".")[0] in ("ingest", "evals", "ui")], (path, names)


@pytest.mark.parametrize("path", sorted((ROOT / "assistant").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_and_classes_stay_short(path: Path) -> None:
    too_long = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                too_long.append(f"{node.name}: {lines} lines (limit {limit})")
    assert not too_long, too_long
