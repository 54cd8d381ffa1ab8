"""evals.report writes its files, puts failures first, and finds regressions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.metrics import summarize
from evals.report import compare, per_category, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _results() -> list[dict]:
    return [
        {
            "id": "fact-01",
            "category": "fact",
            "question": "Who heads the GUR?",
            "answerable": True,
            "answer": "Kyrylo Budanov heads the GUR [1].",
            "abstained": False,
            "correctness": 1.0,
            "abstention_ok": True,
            "source_ok": True,
            "passed": True,
            "latency": 1.2,
            "citation_recall": 1.0,
            "citation_precision": 1.0,
            "faithfulness": 1.0,
            "citations": [
                {"n": 1, "source": "seeds/003_e947e4c43ee9cbf7.txt", "quote": "Kyrylo Budanov, head of the GUR"}
            ],
        },
        {
            "id": "conflict-01",
            "category": "conflict",
            "question": "How many troops in total?",
            "answerable": True,
            "answer": "North Korea will send 12,000 troops [1].",
            "abstained": False,
            "correctness": 0.5,
            "abstention_ok": True,
            "source_ok": True,
            "passed": False,
            "latency": 2.5,
            "missing": ["10,000"],
            "citation_recall": 1.0,
            "citation_precision": 1.0,
            "faithfulness": 1.0,
            "citations": [
                {"n": 1, "source": "seeds/000_ef01f84a8e898d1e.txt", "quote": "a total of 12,000 elite troops"}
            ],
            "verdicts": [
                {
                    "sentence": "North Korea will send 12,000 troops.",
                    "cited": [1],
                    "unknown": [],
                    "supported": True,
                    "grounded": True,
                    "irrelevant": [],
                }
            ],
        },
        {
            "id": "unanswerable-01",
            "category": "unanswerable",
            "question": "Who is the official?",
            "answerable": False,
            "answer": "The documents do not name the official.",
            "abstained": True,
            "correctness": None,
            "abstention_ok": True,
            "passed": True,
            "latency": 0.8,
        },
        {
            "id": "multiturn-01",
            "category": "multi-turn",
            "question": "Where does he teach?",
            "turns": ["Who said it?", "Where does he teach?"],
            "answerable": True,
            "answer": "I don't know.",
            "abstained": True,
            "correctness": 0.0,
            "abstention_ok": False,
            "passed": False,
            "latency": 3.0,
            "missing": ["Hankuk University of Foreign Studies"],
        },
    ]


def test_report_files_written_with_failures_first(tmp_path: Path) -> None:
    results = _results()
    headline = summarize(results)
    paths = write_report(
        results,
        headline,
        tmp_path / "out",
        targets={"answer_correctness": 0.8, "pass_rate": 0.9, "latency_p95": 10.0},
        meta={"backend": "fake", "dataset": "seeds.jsonl"},
    )

    data = json.loads(paths.json.read_text(encoding="utf-8"))
    assert [item["id"] for item in data["items"]] == ["conflict-01", "multiturn-01", "fact-01", "unanswerable-01"]
    assert data["failures"] == ["conflict-01", "multiturn-01"]
    assert data["headline"]["pass_rate"] == pytest.approx(0.5)
    assert data["per_category"]["fact"]["n"] == 1

    md = paths.markdown.read_text(encoding="utf-8")
    assert md.index("## Headline") < md.index("## Per category") < md.index("## Failures") < md.index("## Passed")
    failures = md[md.index("## Failures") : md.index("## Passed")]
    assert failures.index("conflict-01") < failures.index("multiturn-01")
    assert "fact-01" not in failures
    assert "How many troops in total?" in failures
    assert "North Korea will send 12,000 troops [1]." in failures
    assert "seeds/000_ef01f84a8e898d1e.txt" in failures
    assert "missing: “10,000”" in failures
    assert "Who said it? → Where does he teach?" in failures
    assert "abstained on an answerable question" in failures
    assert "**FAIL**" in md  # pass rate 0.5 misses its 0.9 target

    for png in (paths.headline_chart, paths.category_chart):
        assert png is not None and png.read_bytes()[:8] == PNG_MAGIC
        assert png.stat().st_size > 5000


def test_report_without_charts(tmp_path: Path) -> None:
    paths = write_report([], {}, tmp_path, charts=False)
    assert paths.headline_chart is None and paths.category_chart is None
    assert "None." in paths.markdown.read_text(encoding="utf-8")
    assert not list(tmp_path.glob("*.png"))


def test_per_category_means() -> None:
    table = per_category(_results())
    assert table["conflict"]["answer_correctness"] == 0.5
    assert table["multi-turn"]["abstention_accuracy"] == 0.0
    assert table["unanswerable"]["answer_correctness"] is None


def test_compare_finds_metric_and_item_regressions(tmp_path: Path) -> None:
    before = _results()
    before[1] = dict(before[1], passed=True, correctness=1.0)
    write_report(before, summarize(before), tmp_path / "old", charts=False)

    after = _results()
    after[0] = dict(after[0], passed=False, correctness=0.0)
    write_report(after, summarize(after), tmp_path / "new", charts=False)

    regressions = compare(tmp_path / "old", tmp_path / "new" / "report.json")
    metrics = {r.name for r in regressions if r.kind == "metric"}
    items = {r.name for r in regressions if r.kind == "item"}
    assert {"answer_correctness", "pass_rate"} <= metrics
    assert items == {"fact-01", "conflict-01"}
    assert compare(tmp_path / "old", tmp_path / "old") == []


def test_compare_latency_uses_relative_tolerance() -> None:
    old = {"headline": {"latency_p95": 10.0, "citation_recall": 0.80}, "items": []}
    slightly = {"headline": {"latency_p95": 12.0, "citation_recall": 0.79}, "items": []}
    assert compare(old, slightly, tolerance=0.02) == []
    much = {"headline": {"latency_p95": 13.0, "citation_recall": 0.70}, "items": []}
    assert {r.name for r in compare(old, much, tolerance=0.02)} == {"latency_p95", "citation_recall"}
