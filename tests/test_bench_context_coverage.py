"""bench/context_coverage.py: whether the gold answer and file are among the passages shown."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is scripts, not a package

from bench.context_coverage import SETTINGS, label, measure, shown, summary
from evals.docsets import RULES, Docset, DocsetQuestion
from ingest import ingest


def _question(kind="fact", answers=("80,000",), also=(), sources=("museum.md",), qid="q1", text="How many?"):
    return DocsetQuestion(qid, "tune", kind, text, tuple(answers), tuple(also), tuple(sources), True)


def test_an_answer_is_shown_only_with_every_gold_string():
    rules = RULES["bbc-news"]  # digit commas are dropped before matching
    text = "[1] Visitors doubled to 80000 in May."
    assert shown(_question(), rules, text, {"museum.md"}) == {"answer": True, "source": True}
    assert shown(_question(also=("June",)), rules, text, {"museum.md"})["answer"] is False
    assert shown(_question(), rules, text, {"tram.md"}) == {"answer": True, "source": False}
    # a yes/no item's gold string is "yes" or "no": it counts as shown when its file is
    assert shown(_question("yesno", ("yes",)), rules, text, {"tram.md"})["answer"] is False
    assert shown(_question("yesno", ("yes",)), rules, text, {"museum.md"})["answer"] is True


def test_summary_gives_shares_and_median_tokens_per_setting():
    rows = [
        {"settings": {"a": {"answer": True, "source": True, "tokens": 10}}},
        {"settings": {"a": {"answer": False, "source": True, "tokens": 30}}},
    ]
    assert summary(rows) == [{"setting": "a", "answer_shown": 0.5, "source_shown": 1.0, "median_tokens": 20.0}]


def test_measures_what_each_setting_and_the_baseline_show(tmp_path, settings, hash_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "museum.md").write_text(
        "The city museum reopened on 4 May after a two-year renovation.\n\n"
        "Its director, Ana Ruiz, said visitor numbers doubled to 80,000 in the first month.\n",
        encoding="utf-8",
    )
    (docs / "tram.md").write_text("The city plans a new tram line. Work starts next year.\n", encoding="utf-8")
    ingest([docs], settings=settings, embedder=hash_embedder)
    docset = Docset("tiny", tmp_path, RULES["bbc-news"], ())
    question = _question(text="How many visitors came to the museum in the first month?")
    rows = measure([question], docset, settings, hash_embedder)
    cells = rows[0]["settings"]
    assert set(cells) == {label(s) for s in SETTINGS} | {"baseline"}
    # the corpus is two small files: every setting and the baseline show all of it
    assert all(c["answer"] and c["source"] and c["tokens"] > 0 for c in cells.values())
