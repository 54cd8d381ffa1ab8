"""The eval runner: a tiny dataset end to end, the CLI, gates, reports, and the benchmark adapters."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.generation.llm import ScriptedChat
from assistant.retrieval.embedder import HashEmbedder
from assistant.settings import Settings
from evals import run as eval_run
from evals.benchmarks import DEFAULT_ROOT, BenchmarkDataMissing, load_hotpotqa
from evals.run import check_gate, gate_thresholds, load_gates, load_items, main, run_eval, select_items

TINY_IDS = ("fact-01", "oos-01", "multiturn-04")
HAVE_BENCHMARKS = DEFAULT_ROOT.is_dir()
needs_benchmarks = pytest.mark.skipif(
    not HAVE_BENCHMARKS, reason=f"public benchmark data not found at {DEFAULT_ROOT} (../shared/benchmarks)"
)


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """Three real seed items: a fact, an out-of-scope question and a two-turn follow-up."""
    items = [i for i in load_items("seeds") if i["id"] in TINY_IDS]
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def quote_first_evidence(messages: list[dict]) -> str:
    """A scripted answer model: repeats the evidence sentence sharing most words with the
    question, and cites it (the evidence is in reading order, not best first)."""
    prompt = messages[-1]["content"]
    asked = set(re.findall(r"\w+", prompt.rsplit("Question:", 1)[-1].lower()))
    lines = re.findall(r"^\[(\d+)\] (.*)$", prompt, re.MULTILINE)
    if not lines:
        return "NOT_FOUND"
    n, text = max(lines, key=lambda nl: (len(asked & set(re.findall(r"\w+", nl[1].lower()))), -int(nl[0])))
    return f"{text.strip()} [{n}]"


def _answer_model() -> ScriptedChat:
    return ScriptedChat([quote_first_evidence] * 50, name="scripted-answers")


def _ratio_metrics(headline: dict) -> dict:
    return {
        k: v
        for k, v in headline.items()
        if v is not None and k != "n" and not k.startswith(("latency", "tokens")) and k != "answers_n"
    }


# --------------------------------------------------------------------------- runner on a tiny dataset


def test_runner_on_tiny_dataset_with_scripted_model(tmp_path: Path, tiny_dataset: Path) -> None:
    judge = ScriptedChat(["yes"] * 50, name="scripted-judge")
    report = run_eval(
        tiny_dataset,
        backend="openai",
        settings=Settings(data_dir=tmp_path / "data"),
        embedder=HashEmbedder(64),
        chat_model=_answer_model(),
        judge_model=judge,
        judge="both",
        out=tmp_path / "reports",
        charts=False,
    )

    folder = Path(report["report_dir"])
    assert folder.parent == tmp_path / "reports"
    assert re.fullmatch(r"\d{8}-\d{6}-tiny", folder.name)
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    for key in ("headline", "targets", "results", "meta"):
        assert key in data
    assert data["meta"]["dataset"] == "tiny" and data["meta"]["backend"] == "openai"
    assert data["meta"]["judge_mode"] == "both"
    assert (folder / "report.md").read_text(encoding="utf-8").startswith("# Evaluation report")

    results = {r["id"]: r for r in data["results"]}
    assert set(results) == set(TINY_IDS)
    multi = results["multiturn-04"]
    # The history holds the real answer to the first turn, produced by the same model.
    assert multi["history"][0]["question"] == "Who is Kim Yo Jong?"
    assert multi["history"][0]["answer"]
    assert multi["question"] == "What did she call the South Korean and Ukrainian governments?"
    for r in data["results"]:
        assert "diagnosis" in r
        if not r["passed"]:
            assert r["diagnosis"], r["id"]
    answered = [r for r in data["results"] if not r["abstained"]]
    assert answered and all(r["citation_recall"] is not None for r in answered)
    assert judge.calls, "the judge model was asked"
    for value in _ratio_metrics(data["headline"]).values():
        assert 0.0 <= value <= 1.0


def test_sentences_the_judge_rejects_fail_the_item(tmp_path: Path, tiny_dataset: Path) -> None:
    judge = ScriptedChat(["no"] * 50, name="scripted-judge")
    report = run_eval(
        tiny_dataset,
        backend="openai",
        settings=Settings(data_dir=tmp_path / "data"),
        embedder=HashEmbedder(64),
        chat_model=_answer_model(),
        judge_model=judge,
        judge="llm",
        out=tmp_path / "reports",
        charts=False,
    )
    answered = [r for r in report["results"] if not r["abstained"]]
    assert answered
    for r in answered:
        assert r["faithfulness"] == 0.0 and not r["passed"]
        assert "checker rejected" in r["diagnosis"]
    assert report["headline"]["faithfulness"] == 0.0


def test_extractive_runner_compares_with_the_previous_run(tmp_path: Path, tiny_dataset: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", backend="extractive")
    first = run_eval(
        tiny_dataset, settings=settings, embedder=HashEmbedder(64), judge="rules", out=tmp_path / "reports", charts=True
    )
    assert first["regressions"] == [] and first["previous"] is None
    assert (Path(first["report_dir"]) / "headline.png").is_file()
    assert first["meta"]["judge_mode"] == "rules"

    # A model that declines everything: every item that passed before now fails.
    second = run_eval(
        tiny_dataset,
        settings=settings.replace(backend="openai"),
        embedder=HashEmbedder(64),
        chat_model=ScriptedChat(["NOT_FOUND"] * 10),
        judge="rules",
        out=tmp_path / "reports",
        charts=False,
    )
    assert second["previous"] is None  # another backend is not "the previous run"
    third = run_eval(
        tiny_dataset,
        settings=settings,
        embedder=HashEmbedder(64),
        judge="rules",
        out=tmp_path / "reports",
        charts=False,
    )
    assert third["previous"]["path"] == first["report_dir"]
    assert third["regressions"] == []
    assert [r["passed"] for r in third["results"]] == [r["passed"] for r in first["results"]]  # deterministic


def test_regressions_are_reported(tmp_path: Path, tiny_dataset: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", backend="openai")
    good = run_eval(
        tiny_dataset,
        settings=settings,
        embedder=HashEmbedder(64),
        chat_model=_answer_model(),
        judge="rules",
        out=tmp_path / "reports",
        charts=False,
    )
    bad = run_eval(
        tiny_dataset,
        settings=settings,
        embedder=HashEmbedder(64),
        chat_model=ScriptedChat(["NOT_FOUND"] * 10),
        judge="rules",
        out=tmp_path / "reports",
        charts=False,
    )
    assert bad["previous"]["path"] == good["report_dir"]
    passed_before = {r["id"] for r in good["results"] if r["passed"] and r["answerable"]}
    regressed = {r["name"] for r in bad["regressions"] if r["kind"] == "item"}
    assert passed_before and passed_before <= regressed
    md = (Path(bad["report_dir"]) / "report.md").read_text(encoding="utf-8")
    assert "Regressions since the previous run" in md
    assert md.index("Regressions") < md.index("## Headline")


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "nope"], "unknown dataset"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--judge", "vibes"], "invalid choice"),
        (["--backend", "gpt-9"], "invalid choice"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_cli_argument_errors(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_help(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--dataset", "--backend", "--limit", "--judge", "--gate", "--benchmarks-dir", "--out"):
        assert option in out


@pytest.mark.parametrize("dataset", ["hotpotqa", "halueval", "clapnq"])
def test_missing_benchmarks_dir_names_the_option(dataset: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    code = main(
        ["--dataset", dataset, "--backend", "extractive", "--benchmarks-dir", str(tmp_path / "nowhere"), "--quiet"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--benchmarks-dir" in err and str(tmp_path / "nowhere") in err
    with pytest.raises(BenchmarkDataMissing):
        run_eval(
            dataset,
            backend="extractive",
            settings=Settings(data_dir=tmp_path / "data"),
            benchmarks_dir=tmp_path / "nowhere",
            embedder=HashEmbedder(64),
        )


def test_cli_runs_writes_and_gates(tmp_path: Path, tiny_dataset: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(eval_run, "_default_embedder", lambda: HashEmbedder(64))
    out = tmp_path / "reports"
    assert (
        main(
            [
                "--dataset",
                str(tiny_dataset),
                "--backend",
                "extractive",
                "--judge",
                "rules",
                "--out",
                str(out),
                "--quiet",
                "--no-charts",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "pass_rate" in printed and "report:" in printed
    # No gate is defined for a custom dataset: --gate refuses rather than passing silently.
    assert (
        main(
            [
                "--dataset",
                str(tiny_dataset),
                "--backend",
                "extractive",
                "--judge",
                "rules",
                "--out",
                str(out),
                "--quiet",
                "--no-charts",
                "--gate",
            ]
        )
        == 2
    )
    assert len(list(out.iterdir())) == 2


def test_rag_eval_passes_options_through(tmp_path: Path, tiny_dataset: Path, capsys, monkeypatch) -> None:
    """`rag eval --limit 1 ...` reaches the eval parser (an argparse REMAINDER sub-command refused it)."""
    from ui import cli

    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(eval_run, "_default_embedder", lambda: HashEmbedder(64))
    out = tmp_path / "reports"
    assert (
        cli.main(
            [
                "eval",
                "--dataset",
                str(tiny_dataset),
                "--limit",
                "1",
                "--backend",
                "extractive",
                "--judge",
                "rules",
                "--out",
                str(out),
                "--quiet",
                "--no-charts",
            ]
        )
        == 0
    )
    assert "report:" in capsys.readouterr().out
    assert cli.main(["eval", "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_rag_eval_help_from_the_console_script() -> None:
    import shutil
    import subprocess
    import sys

    rag = shutil.which("rag", path=str(Path(sys.executable).parent))
    if rag is None:
        pytest.skip("the rag console script is not installed next to this python")
    done = subprocess.run([rag, "eval", "-h"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--benchmarks-dir" in done.stdout and "--gate" in done.stdout


# --------------------------------------------------------------------------- gates


def test_gates_file_is_well_formed() -> None:
    gates = load_gates()
    assert gates["seeds"]["extractive"], "the CI gate needs seeds/extractive thresholds"
    for dataset, profiles in gates.items():
        if dataset.startswith("_"):
            continue
        assert dataset in eval_run.DATASETS
        for thresholds in profiles.values():
            assert all(isinstance(v, (int, float)) for v in thresholds.values())


def test_gate_profiles_and_checks() -> None:
    gates = {
        "seeds": {"extractive": {"pass_rate": 0.5}, "*": {"pass_rate": 0.1}},
        "halueval": {"rules": {"accuracy": 0.6}},
    }
    assert gate_thresholds(gates, "seeds", "extractive", "rules") == {"pass_rate": 0.5}
    assert gate_thresholds(gates, "seeds", "local", "both") == {"pass_rate": 0.1}
    assert gate_thresholds(gates, "halueval", "local", "rules") == {"accuracy": 0.6}
    assert gate_thresholds(gates, "clapnq", "local", "rules") is None
    assert check_gate({"pass_rate": 0.7, "latency_p95": 3.0}, {"pass_rate": 0.5, "latency_p95": 5.0}) == []
    failures = check_gate(
        {"pass_rate": 0.4, "latency_p95": 6.0}, {"pass_rate": 0.5, "latency_p95": 5.0, "faithfulness": 0.9}
    )
    assert len(failures) == 3
    assert any("not measured" in f for f in failures)


def test_select_items_round_robin_over_categories() -> None:
    items = load_items("seeds")
    chosen = select_items(items, 7)
    assert len(chosen) == 7
    assert len({i["category"] for i in chosen}) == 7  # one of each of the seven categories
    order = [i["id"] for i in items]
    assert [order.index(i["id"]) for i in chosen] == sorted(order.index(i["id"]) for i in chosen)
    assert select_items(items, None) == items


def test_seeds_gate_passes_with_the_extractive_backend(tmp_path: Path, capsys, monkeypatch) -> None:
    """The CI quality gate: every seed item, real MiniLM and Chroma, extractive answers (no LLM)."""
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    code = main(
        [
            "--dataset",
            "seeds",
            "--backend",
            "extractive",
            "--judge",
            "rules",
            "--gate",
            "--out",
            str(tmp_path / "reports"),
            "--quiet",
            "--no-charts",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "gate passed" in printed
    (folder,) = (tmp_path / "reports").iterdir()
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert len(data["results"]) == len(load_items("seeds"))


@pytest.mark.slow
def test_seeds_with_the_small_local_model(tmp_path: Path) -> None:
    """Five seed items (one per category, round-robin) answered by the real 0.5B model."""
    from assistant.generation.llm import LocalChat
    from assistant.generation.models import gguf_path

    model = LocalChat(gguf_path("local-small", Settings.from_env()), n_ctx=4096, name="qwen-0.5b")
    report = run_eval(
        "seeds",
        backend="local-small",
        limit=5,
        judge="rules",
        chat_model=model,
        settings=Settings(data_dir=tmp_path / "data"),
        out=tmp_path / "reports",
    )
    folder = Path(report["report_dir"])
    for name in ("report.json", "report.md", "headline.png", "categories.png"):
        assert (folder / name).is_file(), name
    assert len(report["results"]) == 5
    assert report["meta"]["model"] == "qwen-0.5b"
    ratios = _ratio_metrics(report["headline"])
    assert "answer_correctness" in ratios and "pass_rate" in ratios
    for metric, value in ratios.items():
        if metric != "sentences_removed":
            assert 0.0 <= value <= 1.0, metric
    assert report["headline"]["latency_p50"] > 0


# --------------------------------------------------------------------------- benchmark adapters


def _trimmed_benchmarks(tmp_path: Path, rows: int = 6) -> Path:
    """A copy of the real benchmark files cut to `rows` lines each (so pooled corpora stay tiny)."""
    root = tmp_path / "benchmarks"
    for src in DEFAULT_ROOT.glob("*/*.jsonl"):
        dest = root / src.parent.name / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with src.open(encoding="utf-8") as handle:
            lines = [next(handle) for _ in range(rows)]
        dest.write_text("".join(lines), encoding="utf-8")
    return root


@needs_benchmarks
def test_halueval_adapter_limit_3(tmp_path: Path) -> None:
    report = run_eval(
        "halueval",
        backend="extractive",
        limit=3,
        judge="rules",
        settings=Settings(data_dir=tmp_path / "data"),
        embedder=HashEmbedder(64),
        out=tmp_path / "reports",
        charts=False,
    )
    assert len(report["results"]) == 6
    assert {r["category"] for r in report["results"]} == {"faithful", "hallucinated"}
    assert report["results"][-1]["id"].startswith("halueval-50")  # the test half: lines 501-1000
    head = report["headline"]
    assert 0 <= head["accuracy"] <= 1 and 0 <= head["balanced_accuracy"] <= 1
    md = (Path(report["report_dir"]) / "report.md").read_text(encoding="utf-8")
    assert "ChatGPT given the knowledge (published)" in md


@needs_benchmarks
def test_halueval_adapter_with_scripted_judge(tmp_path: Path) -> None:
    # A model without token probabilities: only "yes" passes, "garbage" counts as no.
    judge = ScriptedChat(["yes", "garbage", "no", "no"], name="scripted-judge")
    report = run_eval(
        "halueval",
        limit=2,
        judge="llm",
        judge_model=judge,
        settings=Settings(data_dir=tmp_path),
        embedder=HashEmbedder(64),
        out=tmp_path / "reports",
        charts=False,
    )
    # faithful passed, hallucinated caught, faithful rejected, hallucinated caught
    assert report["headline"]["accuracy"] == pytest.approx(0.75)
    assert report["headline"]["faithful_recall"] == pytest.approx(0.5)
    assert report["meta"]["judge_stats"]["llm_calls"] == 4
    # P(yes) per answer: faithful 1.0 and 0.0, hallucinated 0.0 and 0.0.
    p_yes = {(r["faithful"], r["p_yes"]) for r in report["results"]}
    assert p_yes == {(True, 1.0), (True, 0.0), (False, 0.0)}
    assert report["headline"]["judge_auc"] == pytest.approx(0.75)
    md = (Path(report["report_dir"]) / "report.md").read_text(encoding="utf-8")
    assert "| 0.50 | 0.500 | 1.000 | 0.750 |" in md  # the threshold table


@needs_benchmarks
def test_hotpotqa_adapter_limit_3(tmp_path: Path) -> None:
    root = _trimmed_benchmarks(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", backend="extractive")
    report = run_eval(
        "hotpotqa",
        limit=3,
        settings=settings,
        benchmarks_dir=root,
        embedder=HashEmbedder(64),
        out=tmp_path / "reports",
        charts=False,
    )
    head = report["headline"]
    assert head["n"] == 3 and head["answers_n"] == 3
    for key in ("hit_at_2", "hit_at_5", "hit_at_10", "all_hit_at_2", "all_hit_at_10", "mrr_at_10", "exact_match", "f1"):
        assert 0.0 <= head[key] <= 1.0, key
    assert head["hit_at_10"] == 1.0  # the pool holds only 60 paragraphs: 10 retrieved include a gold one
    assert report["meta"]["corpus_documents"] == len(
        list((tmp_path / "data" / "benchmarks" / "hotpotqa").glob("*.txt"))
    )
    # Cached: a second run re-embeds nothing and gives the same numbers.
    again = run_eval(
        "hotpotqa",
        settings=settings,
        benchmarks_dir=root,
        embedder=HashEmbedder(64),
        out=tmp_path / "reports",
        charts=False,
    )
    assert again["headline"]["mrr_at_10"] == head["mrr_at_10"]
    assert "f1" not in again["headline"]  # no --limit: retrieval only


@needs_benchmarks
def test_clapnq_adapter_limit_3(tmp_path: Path) -> None:
    root = _trimmed_benchmarks(tmp_path)
    report = run_eval(
        "clapnq",
        backend="extractive",
        limit=3,
        settings=Settings(data_dir=tmp_path / "data"),
        benchmarks_dir=root,
        embedder=HashEmbedder(64),
        out=tmp_path / "reports",
        charts=False,
    )
    results = report["results"]
    assert len(results) == 3
    assert sorted(r["answerable"] for r in results) == [False, True, True]  # 2 answerable + 1 not
    head = report["headline"]
    assert head["abstention_accuracy"] is not None and 0 <= head["abstention_accuracy"] <= 1
    assert 0 <= head["answer_f1"] <= 1


def _baseline_prompt(messages: list[dict]) -> bool:
    return "using only the passages above" in messages[-1]["content"]


def _beside_the_baseline(dataset: str, limit: int, model: ScriptedChat, root: Path, tmp_path: Path) -> dict:
    """A pooled set's eval with the naive baseline, both answering with `model`."""
    return run_eval(
        dataset,
        backend="openai",
        baseline="naive",
        limit=limit,
        settings=Settings(data_dir=tmp_path / "data"),
        benchmarks_dir=root,
        embedder=HashEmbedder(64),
        chat_model=model,
        out=tmp_path / "reports",
        charts=False,
    )


@needs_benchmarks
def test_hotpotqa_answers_beside_the_baseline(tmp_path: Path) -> None:
    # docchat's model finds nothing; the baseline replies with the gold answer: the report must
    # score each system on its own reply, in the same run.
    root = _trimmed_benchmarks(tmp_path)
    gold = {q.question: q.answers[0] for q in load_hotpotqa("test", root).questions}

    def reply(messages: list[dict]) -> str:
        if _baseline_prompt(messages):
            asked = next(q for q in gold if q in messages[-1]["content"])
            return f"{gold[asked]} [1]"
        return "NOT_FOUND"

    model = ScriptedChat([reply] * 20, name="scripted")
    report = _beside_the_baseline("hotpotqa", 2, model, root, tmp_path)
    head = report["headline"]
    assert head["answers_n"] == 2 and head["false_declines"] == 1.0 and head["f1"] == 0.0
    assert head["exact_match_baseline"] == 1.0 and head["false_declines_baseline"] == 0.0
    assert head["latency_first_visible_p50_baseline"] is not None
    assert sum(_baseline_prompt(c) for c in model.calls) == 2  # only the answered questions
    answered = [r for r in report["results"] if "f1" in r]
    assert all(r["baseline_answer"].endswith("[1]") and r["baseline_cited"] for r in answered)
    md = (Path(report["report_dir"]) / "report.md").read_text(encoding="utf-8")
    assert "docchat beside the naive baseline: test (2 items)" in md
    assert "| Exact match | 0.000 | 1.000 |" in md
    assert all(r["correctness"] == r["contains_answer"] for r in answered)  # what the README calls correct
    (table,) = [entry["ablation"] for entry in report["comparison"]["halves"].values()]
    assert table[0]["configuration"] == "shipped" and table[0]["n"] == 2


def test_hotpotqa_ablation_scores_an_answer_by_the_gold_answer_it_contains() -> None:
    row = {"gold_answers": ["Arthur Conan Doyle"]}
    right = eval_run._gold_contained(row, [{"text": "It was written by Arthur Conan Doyle [1]."}])
    assert right.correct and not right.declined
    wrong = eval_run._gold_contained(row, [{"text": "It was written by Agatha Christie [1]."}])
    assert not wrong.correct and not wrong.declined
    assert eval_run._gold_contained(row, []).declined


@needs_benchmarks
def test_clapnq_abstention_beside_the_baseline(tmp_path: Path) -> None:
    # docchat declines everything, the baseline answers everything: recall 1.0 against 0.0.
    root = _trimmed_benchmarks(tmp_path)
    model = ScriptedChat(
        [lambda m: "It is the first one [1]." if _baseline_prompt(m) else "NOT_FOUND"] * 20, name="scripted"
    )
    report = _beside_the_baseline("clapnq", 3, model, root, tmp_path)
    head = report["headline"]
    assert head["abstention_recall"] == 1.0 and head["abstention_precision"] == pytest.approx(1 / 3)
    assert head["abstention_recall_baseline"] == 0.0 and head["answer_f1_answered"] is None
    assert 0 < head["answer_f1_answered_baseline"] < 1
    assert report["meta"]["baseline"] == "naive"
    assert [r["baseline_declined"] for r in report["results"]] == [False, False, False]
    # docchat's traces give the ablation: here the model declined, so no check changes anything.
    (table,) = [entry["ablation"] for entry in report["comparison"]["halves"].values()]
    assert table[0]["configuration"] == "shipped" and table[0]["n"] == 3
    assert all(row.get("stopped", []) == row.get("killed", []) == [] for row in table)
    # Reanalysed in place: the same ablation, and the abstention section is kept.
    folder = Path(report["report_dir"])
    assert eval_run.main(["--reanalyse", str(folder), "--no-charts"]) == 0
    again = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert [e["ablation"] for e in again["comparison"]["halves"].values()] == [table]
    assert "CLAP NQ abstention" in (folder / "report.md").read_text(encoding="utf-8")


def test_hotpotqa_baseline_needs_a_limit(tmp_path: Path) -> None:
    with pytest.raises(eval_run.EvalUsageError, match="needs --limit"):
        run_eval(
            "hotpotqa",
            backend="openai",
            baseline="naive",
            settings=Settings(data_dir=tmp_path / "data"),
            embedder=HashEmbedder(64),
            chat_model=ScriptedChat(["x"]),
            out=tmp_path / "reports",
        )
