"""The seed evaluation set is well-formed and grounded; the benchmark loaders apply the README splits."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from evals import benchmarks
from evals.metrics import normalize

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "evals" / "datasets" / "seeds.jsonl"
SEEDS = ROOT / "seeds"

CATEGORIES = {"fact", "multi-doc", "conflict", "unanswerable", "out-of-scope", "multi-turn", "injection"}
MINIMUMS = {
    "fact": 24,
    "multi-doc": 8,
    "conflict": 5,
    "unanswerable": 8,
    "out-of-scope": 5,
    "multi-turn": 8,
    "injection": 6,
}


def _items() -> list[dict]:
    with DATASET.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


ITEMS = _items()


def test_dataset_size_and_category_minimums() -> None:
    assert len(ITEMS) >= 64
    counts = Counter(item["category"] for item in ITEMS)
    for category, minimum in MINIMUMS.items():
        assert counts[category] >= minimum, f"{category}: {counts[category]} < {minimum}"


def test_ids_unique() -> None:
    ids = [item["id"] for item in ITEMS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("item", ITEMS, ids=lambda item: item["id"])
def test_item_schema(item: dict) -> None:
    allowed = {"id", "category", "question", "turns", "expected", "sources", "answerable", "notes", "forbidden"}
    assert set(item) <= allowed, set(item) - allowed
    assert isinstance(item["id"], str) and item["id"]
    assert item["category"] in CATEGORIES
    assert ("question" in item) != ("turns" in item), "exactly one of question/turns"
    if "turns" in item:
        assert item["category"] == "multi-turn"
        assert len(item["turns"]) >= 2 and all(isinstance(t, str) and t.strip() for t in item["turns"])
    else:
        assert isinstance(item["question"], str) and item["question"].strip()
    if item["category"] == "multi-turn":
        assert "turns" in item
    assert isinstance(item["answerable"], bool)
    assert isinstance(item["notes"], str) and item["notes"].strip()
    assert isinstance(item["expected"], list)
    for fact in item["expected"]:
        assert isinstance(fact, list) and fact
        assert all(isinstance(alt, str) and normalize(alt) for alt in fact)
    assert isinstance(item["sources"], list)
    for source in item["sources"]:
        assert (SEEDS / source).is_file(), source
    assert all(isinstance(s, str) and s for s in item.get("forbidden", []))

    if item["answerable"]:
        assert item["expected"], "answerable items list expected facts"
        assert item["sources"], "answerable items name their gold sources"
    else:
        assert item["expected"] == [], "unanswerable items expect nothing"
    if item["category"] in {"unanswerable", "out-of-scope"}:
        assert not item["answerable"]
    if item["category"] in {"fact", "multi-doc", "conflict", "multi-turn"}:
        assert item["answerable"]
    if item["category"] in {"multi-doc", "conflict"}:
        assert len(item["sources"]) >= 2


def _normalized_seed(name: str) -> str:
    return f" {normalize((SEEDS / name).read_text(encoding='utf-8'))} "


@pytest.mark.parametrize("item", [i for i in ITEMS if i["answerable"]], ids=lambda item: item["id"])
def test_expected_strings_appear_in_gold_sources(item: dict) -> None:
    texts = {name: _normalized_seed(name) for name in item["sources"]}
    for fact in item["expected"]:
        for alternative in fact:
            needle = f" {normalize(alternative)} "
            found = [name for name, text in texts.items() if needle in text]
            assert found, f"{item['id']}: {alternative!r} is in none of {item['sources']}"


@pytest.mark.parametrize("item", [i for i in ITEMS if i["category"] == "multi-doc"], ids=lambda i: i["id"])
def test_multi_doc_items_need_two_articles(item: dict) -> None:
    # No single gold article contains every expected fact.
    texts = [_normalized_seed(name) for name in item["sources"]]
    for text in texts:
        if all(any(f" {normalize(alt)} " in text for alt in fact) for fact in item["expected"]):
            pytest.fail(f"{item['id']} is answerable from one article")


def test_seed_files_untouched_by_dataset_listing() -> None:
    listed = {s for item in ITEMS for s in item["sources"]}
    assert listed <= {p.name for p in SEEDS.glob("*.txt")}
    assert len(listed) == 5, "every seed article is a gold source somewhere"


# --------------------------------------------------------------------------- benchmarks


def _require_benchmarks() -> Path:
    root = benchmarks.DEFAULT_ROOT
    if not root.is_dir():
        pytest.skip(f"benchmark data not present at {root} (the shared benchmarks folder beside the project)")
    return root


def test_missing_folder_raises_typed_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(benchmarks.BenchmarkDataMissing, match=re.escape(str(missing))):
        benchmarks.load_hotpotqa(root=missing)
    with pytest.raises(FileNotFoundError):
        benchmarks.load_clapnq(root=tmp_path)  # folder exists, files do not


def test_unknown_split_is_refused() -> None:
    with pytest.raises(ValueError, match="split"):
        benchmarks.load_halueval(split="dev", root=Path("/nonexistent"))


def test_hotpotqa_split_and_pool() -> None:
    _require_benchmarks()
    test = benchmarks.load_hotpotqa("test")
    tune = benchmarks.load_hotpotqa("tune")
    assert len(test.questions) == 250 and len(tune.questions) == 250
    assert not {q.id for q in test.questions} & {q.id for q in tune.questions}
    assert test.corpus == tune.corpus  # one pool over all 500 questions
    keys = [p.key for p in test.corpus]
    assert len(keys) == len(set(keys))
    assert 4000 < len(keys) <= 4931
    pool = set(keys)
    for q in test.questions:
        assert len(q.gold_keys) == 2 and set(q.gold_keys) <= pool
        assert q.answers and all(isinstance(a, str) for a in q.answers)
    first = tune.questions[0]
    assert first.answers == ("Chief of Protocol",)
    by_key = {p.key: p for p in test.corpus}
    assert "Shirley Temple" in {by_key[k].title for k in first.gold_keys}


def test_halueval_split() -> None:
    _require_benchmarks()
    test = benchmarks.load_halueval("test")
    tune = benchmarks.load_halueval("tune")
    assert len(test) == 500 and len(tune) == 500
    assert test[0].line == 501 and test[-1].line == 1000 and tune[0].line == 1
    triples = list(benchmarks.halueval_triples(test))
    assert len(triples) == 1000
    assert Counter(t.label for t in triples) == {"faithful": 500, "hallucinated": 500}
    assert all(t.knowledge and t.question and t.answer for t in triples)
    assert tune[0].right_answer == "Arthur's Magazine"


def test_clapnq_split_and_pool() -> None:
    _require_benchmarks()
    test = benchmarks.load_clapnq("test")
    tune = benchmarks.load_clapnq("tune")
    counts = Counter(q.answerable for q in test.questions)
    assert counts == {True: 150, False: 150}
    assert not {q.id for q in test.questions} & {q.id for q in tune.questions}
    assert test.corpus == tune.corpus
    assert 590 <= len(test.corpus) <= 600  # 600 gold passages, a few duplicates pooled
    pool = {p.key for p in test.corpus}
    for q in test.questions:
        assert q.gold_key in pool
        assert (q.answer is not None and q.answer.strip()) if q.answerable else q.answer is None
