"""Finding and reading evaluation reports (`<reports>/<timestamp>/report.json`) for the UI.

Tolerant by design: the eval harness may add, rename or omit keys; whatever is missing is
simply not shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evals.report import is_lower_better, label

__all__ = ["find_reports", "format_value", "is_lower_better", "is_number", "label", "read_report"]


def find_reports(folders: Iterable[Path]) -> list[Path]:
    """Report folders (each holding a report.json) under `folders`, newest first."""
    found: dict[Path, float] = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for report in folder.glob("*/report.json"):
            try:
                found[report.parent.resolve()] = report.stat().st_mtime
            except OSError:
                continue
    return sorted(found, key=lambda p: (found[p], p.name), reverse=True)


def read_report(folder: Path) -> dict:
    """The report in `folder` as a dict; raises ValueError when it cannot be read."""
    try:
        data = json.loads((Path(folder) / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {folder / 'report.json'}: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{folder / 'report.json'} is not a JSON object")
    return data


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_value(metric: str, value: Any) -> str:
    """0.83 -> "83%", latencies in seconds, counts as integers."""
    if not is_number(value):
        return "\u2013"
    if metric.startswith("latency"):
        return f"{value:.1f} s"
    if metric == "n" or (isinstance(value, int) and not 0 <= value <= 1):
        return f"{value:,}"
    if 0 <= value <= 1:
        return f"{value:.0%}"
    return f"{value:.3g}"


def format_delta(metric: str, diff: float) -> str:
    """A signed difference from the target: "+5 pts", "-30 pts", "-5.8 s"."""
    if metric.startswith("latency"):
        return f"{diff:+.1f} s"
    if metric == "n":
        return f"{diff:+,.0f}"
    return f"{diff * 100:+.0f} pts"


def headline(report: Mapping) -> dict[str, float]:
    """The numeric headline metrics, in the report's order."""
    raw = report.get("headline") or {}
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): v for k, v in raw.items() if is_number(v)}


def targets(report: Mapping) -> dict[str, float]:
    """Numeric targets per metric (may be empty)."""
    raw = report.get("targets") or {}
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): v for k, v in raw.items() if is_number(v)}


def is_failure(row: Mapping) -> bool:
    """An item failed when it says so (`passed`/`pass`/`ok` false) or carries an error."""
    if row.get("error"):
        return True
    for key in ("passed", "pass", "ok"):
        if key in row:
            return not row[key]
    if row.get("abstention_ok") is False or row.get("forbidden_hit"):
        return True
    correctness = row.get("correctness")
    return is_number(correctness) and correctness < 1.0


def items(report: Mapping) -> list[dict]:
    """Per-question rows (`results` or `items`), failures first, input order kept otherwise."""
    raw = report.get("results")
    if not isinstance(raw, list):
        raw = report.get("items")
    rows = [dict(r) for r in raw or [] if isinstance(r, Mapping)]
    return [r for r in rows if is_failure(r)] + [r for r in rows if not is_failure(r)]


def table_rows(rows: Iterable[Mapping]) -> list[dict]:
    """Flat rows for the per-question table (only plain values; long text kept as is)."""
    out = []
    for r in rows:
        citations = r.get("citations") or []
        sources = sorted({c.get("source", "") for c in citations if isinstance(c, Mapping)} - {""})
        row = {
            "result": "\u2717 fail" if is_failure(r) else "\u2713 pass",
            "id": str(r.get("id", "")),
            "category": str(r.get("category", "")),
            "question": str(r.get("question", "")),
            "answer": str(
                r.get("answer", "") if not isinstance(r.get("answer"), Mapping) else r["answer"].get("text", "")
            ),
            "correctness": r.get("correctness") if is_number(r.get("correctness")) else None,
            "sources cited": ", ".join(sources),
            "latency (s)": round(r["latency"], 2) if is_number(r.get("latency")) else None,
            "error": str(r.get("error") or ""),
        }
        out.append(row)
    return out


def charts(folder: Path) -> list[Path]:
    """PNG charts saved next to the report."""
    return sorted(Path(folder).glob("*.png"))
