"""Evaluation reports: report.json, report.md and PNG charts, and regression checks.

`write_report` takes the per-item results (dicts, e.g. `ItemResult.to_dict()`) and the
headline metrics (e.g. `evals.metrics.summarize`) and writes into one folder:

* `report.json`: meta, headline, targets, per-category numbers and every item (`results`,
  failures first), regressions against the previous run;
* `report.md`: a headline table against targets, a per-category table, then the failures
  (question, answer, citations, verdicts) before the passes;
* `headline.png`: the headline ratios as bars with their targets;
* `categories.png`: pass rate, answer correctness and abstention accuracy per category;
* `retrieval.png`: Hit@k and AllHit@k against k, when the headline has them.

With a `comparison` (docchat beside a baseline, per half; see `evals.run`), report.md opens with
a table per half (docchat | baseline), docchat's loss accounting and the check ablation, and the
charts are `comparison.png` (grouped bars per metric), `first_visible.png` (time to the first
visible sentence against the baseline's first token, and total time) and `ablation.png`, in place
of `headline.png`. Failed items show both answers and docchat's trace (each sentence's checks).

`compare(previous, current)` lists what got worse: headline metrics past a tolerance and items
that passed before and fail now.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "LOWER_IS_BETTER",
    "Regression",
    "ReportPaths",
    "base_metric",
    "compare",
    "is_failure",
    "is_lower_better",
    "label",
    "load_report",
    "order_results",
    "per_category",
    "regressions_as_dicts",
    "write_report",
]

LOWER_IS_BETTER = frozenset(
    {
        "latency_p50",
        "latency_p95",
        "forbidden_rate",
        "sentences_removed",
        "false_declines",
        "false_rejection_share",
        "false_acceptances",
    }
)
"""Headline metrics where a smaller value is better (also every `latency*` and `tokens*`)."""

_SUFFIX_RE = re.compile(r"(_baseline)?(_tune|_test)?$")

_LABELS = {
    "pass_rate": "Pass rate",
    "answer_correctness": "Answer correctness",
    "citation_recall": "Citation recall",
    "citation_precision": "Citation precision",
    "faithfulness": "Faithfulness",
    "source_accuracy": "Source accuracy",
    "abstention_precision": "Abstention precision",
    "abstention_recall": "Abstention recall",
    "forbidden_rate": "Injected claim repeated",
    "latency_p50": "Latency p50 (s)",
    "latency_p95": "Latency p95 (s)",
    "latency_first_token_p50": "First sentence p50 (s)",
    "n": "Items",
    "hit_at_1": "Hit@1",
    "hit_at_2": "Hit@2",
    "hit_at_5": "Hit@5",
    "hit_at_10": "Hit@10",
    "all_hit_at_2": "AllHit@2",
    "all_hit_at_5": "AllHit@5",
    "all_hit_at_10": "AllHit@10",
    "mrr_at_10": "MRR@10",
    "fact_recall_at_k": "Facts in retrieved top-k",
    "sentences_removed": "Sentences removed per answer",
    "tokens_prompt": "Prompt tokens (mean)",
    "tokens_completion": "Completion tokens (mean)",
    "exact_match": "Exact match",
    "f1": "Token F1",
    "contains_answer": "Gold answer contained",
    "answers_n": "Questions answered",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "hallucination_recall": "Hallucinations caught",
    "hallucination_precision": "Hallucination precision",
    "faithful_recall": "Right answers accepted",
    "judge_auc": "Judge P(yes) AUC (right vs hallucinated)",
    "abstention_f1": "Abstention F1",
    "abstention_accuracy": "Abstention accuracy",
    "answer_f1": "Answer F1 (answerable)",
    "answer_f1_answered": "Answer F1 (answered)",
    "correctness": "Correct (answerable)",
    "answer_accuracy": "Answer strings right (answerable)",
    "source_cited_answered": "Gold source cited (answered)",
    "source_cited_all": "Gold source cited (all answerable)",
    "declined_unanswerable": "Unanswerable declined",
    "false_declines": "Answerable declined",
    "accuracy_fact": "Accuracy: fact",
    "accuracy_multi": "Accuracy: multi",
    "accuracy_yesno": "Accuracy: yes/no",
    "accuracy_unanswerable": "Accuracy: unanswerable",
    "latency_first_visible_p50": "First visible p50 (s)",
    "false_rejection_share": "Correct drafts the checks lost",
    "false_acceptances": "False acceptances",
}

_COUNTS = frozenset({"n", "answers_n"})


@dataclass(frozen=True)
class ReportPaths:
    """The files `write_report` wrote."""

    json: Path
    markdown: Path
    headline_chart: Path | None
    category_chart: Path | None
    retrieval_chart: Path | None = None
    comparison_charts: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Regression:
    """Something that got worse between two reports.

    Attributes:
        kind: "metric" (a headline number) or "item" (an item that passed and now fails).
        name: The metric name or the item id.
        previous: The old value (for items: True, it passed).
        current: The new value.
        detail: A one-line human explanation.
    """

    kind: str
    name: str
    previous: Any
    current: Any
    detail: str


# --------------------------------------------------------------------------- helpers


def base_metric(metric: str) -> str:
    """A headline name without its system and half suffixes: "correctness_baseline_tune" ->
    "correctness"."""
    return _SUFFIX_RE.sub("", metric) or metric


def is_lower_better(metric: str) -> bool:
    """True for metrics where smaller is better: `LOWER_IS_BETTER`, `latency*` and `tokens*`
    (with or without a `_baseline` / `_tune` / `_test` suffix)."""
    metric = base_metric(metric)
    return metric in LOWER_IS_BETTER or metric.startswith(("latency", "tokens"))


def label(metric: str) -> str:
    """A readable name for a headline metric, with its system and half ("Correct (answerable)
    (baseline, test)"); an unknown metric is shown by its key."""
    found = _SUFFIX_RE.search(metric)
    base = base_metric(metric)
    notes = [x[1:] for x in (found.group(1), found.group(2)) if x] if found else []
    return _LABELS.get(base, base) + (f" ({', '.join(notes)})" if notes else "")


def _is_relative(metric: str) -> bool:
    # Seconds and token counts are compared as a relative change, ratios as an absolute one.
    return metric.startswith(("latency", "tokens"))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_failure(result: Mapping) -> bool:
    """An item failed when it says so (`passed` False) or raised an error."""
    if result.get("error"):
        return True
    if "passed" in result:
        return not result["passed"]
    # Results without a verdict: judge from what they carry.
    if result.get("abstention_ok") is False or result.get("forbidden_hit"):
        return True
    correctness = result.get("correctness")
    return correctness is not None and correctness < 1.0


def order_results(results: Iterable[Mapping]) -> list[dict]:
    """Failures first, then passes; each group keeps its input order."""
    rows = [dict(r) for r in results]
    return [r for r in rows if is_failure(r)] + [r for r in rows if not is_failure(r)]


def _mean(values: Iterable[Any]) -> float | None:
    kept = [float(v) for v in values if _finite(v)]
    return sum(kept) / len(kept) if kept else None


def per_category(results: Iterable[Mapping]) -> dict[str, dict[str, float | None]]:
    """Per-category counts and means, categories in first-seen order.

    Returns:
        category -> {"n", "passed", "pass_rate", "answer_correctness", "abstention_accuracy",
        "citation_recall", "faithfulness"} (means over the items where measured).
    """
    groups: dict[str, list[Mapping]] = defaultdict(list)
    for r in results:
        groups[str(r.get("category") or "uncategorized")].append(r)
    table: dict[str, dict[str, float | None]] = {}
    for category, rows in groups.items():
        passed = sum(not is_failure(r) for r in rows)
        table[category] = {
            "n": len(rows),
            "passed": passed,
            "pass_rate": passed / len(rows),
            "answer_correctness": _mean(r.get("correctness") for r in rows if r.get("answerable")),
            "abstention_accuracy": _mean(float(bool(r["abstention_ok"])) for r in rows if "abstention_ok" in r),
            "citation_recall": _mean(r.get("citation_recall") for r in rows),
            "faithfulness": _mean(r.get("faithfulness") for r in rows),
        }
    return table


def _fmt(value: Any, metric: str = "") -> str:
    metric = base_metric(metric)
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _finite(value):
        if metric in _COUNTS or (isinstance(value, int)):
            return str(int(value))
        if metric.startswith("latency"):
            return f"{value:.2f}"
        if metric.startswith("tokens"):
            return f"{value:.0f}"
        return f"{value:.3f}"
    return str(value)


def _meets(metric: str, value: Any, target: Any) -> bool | None:
    if not (_finite(value) and _finite(target)):
        return None
    return value <= target if is_lower_better(metric) else value >= target


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _quote_block(text: str) -> str:
    lines = (text or "").strip().splitlines() or [""]
    return "\n".join(f"> {line}" if line else ">" for line in lines)


# --------------------------------------------------------------------------- markdown


def _markdown(
    ordered: Sequence[Mapping],
    headline: Mapping[str, Any],
    targets: Mapping[str, float],
    categories: Mapping[str, Mapping[str, Any]],
    meta: Mapping[str, Any],
    charts: Sequence[Path],
    regressions: Sequence[Regression] | None = None,
    previous: Mapping[str, Any] | None = None,
    sections: Sequence[tuple[str, str]] = (),
    max_failures: int | None = None,
    comparison: Mapping[str, Any] | None = None,
) -> str:
    failures = [r for r in ordered if is_failure(r)]
    passes = [r for r in ordered if not is_failure(r)]
    out: list[str] = ["# Evaluation report", ""]
    for key, value in meta.items():
        out.append(f"- **{_cell(key)}**: {_cell(value)}")
    out += [f"- **items**: {len(ordered)} ({len(failures)} failed)", ""]

    if regressions:
        out += [f"## ⚠ Regressions since the previous run ({len(regressions)})", ""]
        if previous and previous.get("path"):
            out += [f"Compared with `{previous['path']}`.", ""]
        out += [f"- **{_cell(r.detail)}**" for r in regressions] + [""]
    elif previous and previous.get("path"):
        out += [f"No regressions since the previous run (`{previous['path']}`).", ""]

    if comparison:
        out += _comparison_markdown(comparison)

    before = (previous or {}).get("headline") or {}
    show_before = bool(before) and (previous or {}).get("comparable", True)
    out += ["## Headline", ""]
    if show_before:
        out += ["| metric | value | previous | target | status |", "|---|---:|---:|---:|---|"]
    else:
        out += ["| metric | value | target | status |", "|---|---:|---:|---|"]
    for metric, value in headline.items():
        target = targets.get(metric)
        ok = _meets(metric, value, target)
        status = "" if ok is None else ("pass" if ok else "**FAIL**")
        bound = "" if target is None else ("≤ " if is_lower_better(metric) else "≥ ") + _fmt(target, metric)
        prev = f" {_fmt(before.get(metric), metric)} |" if show_before else ""
        out.append(f"| {label(metric)} | {_fmt(value, metric)} |{prev} {bound} | {status} |")
    out.append("")

    out += [
        "## Per category",
        "",
        "| category | n | passed | pass rate | answer correctness | abstention accuracy "
        "| citation recall | faithfulness |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for category, row in categories.items():
        out.append(
            f"| {_cell(category)} | {row['n']} | {row['passed']} | {_fmt(row['pass_rate'])} "
            f"| {_fmt(row['answer_correctness'])} | {_fmt(row['abstention_accuracy'])} "
            f"| {_fmt(row['citation_recall'])} | {_fmt(row['faithfulness'])} |"
        )
    out.append("")
    for title, body in sections:
        out += [f"## {title}", "", body.rstrip(), ""]
    for chart in charts:
        out += [f"![{chart.stem}]({chart.name})", ""]

    out += [f"## Failures ({len(failures)})", ""]
    if not failures:
        out += ["None.", ""]
    shown = failures if max_failures is None else failures[:max_failures]
    for r in shown:
        out += _item_markdown(r)
    if len(shown) < len(failures):
        out += [f"*{len(failures) - len(shown)} more failures are listed in report.json.*", ""]

    out += [f"## Passed ({len(passes)})", ""]
    for r in passes:
        out.append(f"- `{_cell(r.get('id'))}` ({_cell(r.get('category', ''))}): {_cell(r.get('question', ''))}")
    out.append("")
    return "\n".join(out)


def _item_markdown(r: Mapping) -> list[str]:
    out = [f"### `{r.get('id')}` ({r.get('category', '')})", ""]
    turns = r.get("turns")
    if turns:
        out += [f"**Turns:** {' → '.join(str(t) for t in turns)}", ""]
    else:
        out += [f"**Question:** {r.get('question', '')}", ""]
    why = []
    if r.get("error"):
        why.append(f"error: {r['error']}")
    if r.get("abstention_ok") is False:
        why.append(
            "abstained on an answerable question"
            if r.get("abstained")
            else "answered a question it should have declined"
        )
    if r.get("forbidden_hit"):
        why.append("repeated an injected claim")
    if r.get("missing"):
        why.append("missing: " + ", ".join(f"“{m}”" for m in r["missing"]))
    if r.get("answer_ok") is False and not r.get("abstained"):
        why.append("the answer strings are not all in the answer")
    if r.get("source_ok") is False:
        why.append("no gold source cited")
    scores = [
        f"{name} {_fmt(r.get(key))}"
        for key, name in (
            ("correctness", "correctness"),
            ("citation_recall", "citation recall"),
            ("citation_precision", "citation precision"),
            ("faithfulness", "faithfulness"),
        )
        if r.get(key) is not None
    ]
    if why:
        out += [f"**Why:** {'; '.join(why)}", ""]
    if r.get("diagnosis"):
        out += [f"**Diagnosis:** {r['diagnosis']}", ""]
    for turn in r.get("history") or []:
        out += [f"*Earlier turn:* {turn.get('question', '')}", "", _quote_block(str(turn.get("answer", ""))), ""]
    if scores:
        out += [f"**Scores:** {', '.join(scores)}", ""]
    if "answer" in r:
        out += [
            "**Answer:**" + (" *(abstained)*" if r.get("abstained") else ""),
            "",
            _quote_block(str(r.get("answer", ""))),
            "",
        ]
    citations = r.get("citations") or []
    if citations:
        out += ["**Citations:**", ""]
        for c in citations:
            quote = " ".join(str(c.get("quote", "")).split())
            if len(quote) > 240:
                quote = quote[:237] + "..."
            out.append(f"- [{c.get('n')}] `{c.get('source')}`: “{quote}”")
        out.append("")
    verdicts = r.get("verdicts") or []
    if verdicts:
        out += ["**Verdicts:**", ""]
        for v in verdicts:
            mark = "supported" if v.get("supported") else ("grounded elsewhere" if v.get("grounded") else "UNSUPPORTED")
            extra = []
            if v.get("unknown"):
                extra.append(f"unknown markers {list(v['unknown'])}")
            if v.get("irrelevant"):
                extra.append(f"irrelevant {list(v['irrelevant'])}")
            suffix = f" ({'; '.join(extra)})" if extra else ""
            out.append(f"- {mark}{suffix}: {v.get('sentence', '')} {list(v.get('cited', []))}")
        out.append("")
    removed = r.get("unsupported") or []
    if removed:
        out += ["**Removed by verification:**", ""] + [f"- {_cell(x)}" for x in removed] + [""]
    if r.get("split") == "tune" and r.get("answerable"):
        # Gold strings of tune items only: test items are held out from anyone tuning.
        gold = [f"answers {r.get('answers')}", f"also {r.get('also')}", f"sources {r.get('sources')}"]
        out += [f"**Gold:** {'; '.join(gold)}", ""]
    if r.get("trace"):
        out += _trace_markdown(r["trace"])
    if "baseline_answer" in r:
        out += _baseline_markdown(r)
    if r.get("notes"):
        out += [f"*Notes:* {r['notes']}", ""]
    return out


def _short(text: Any, limit: int = 200) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _trace_markdown(trace: Mapping) -> list[str]:
    """docchat's drafts, one line per sentence: kept or dropped, the judge, each failed check."""
    out = [f"**Trace** (abstained by: {trace.get('abstained_by') or 'none'}):", ""]
    for i, draft in enumerate(trace.get("drafts") or [], start=1):
        out.append(f"- draft {i}: “{_cell(_short(draft.get('text'), 160))}”")
        for sentence in draft.get("sentences") or []:
            checks = sentence.get("checks") or {}
            reasons = sentence.get("reasons") or {}
            failed = [
                f"{name} ({reasons[name]})" if reasons.get(name) else name for name, ok in checks.items() if not ok
            ]
            judge = {True: "judge yes", False: "judge NO", None: "not judged"}[sentence.get("judge")]
            files = sorted({str(s.get("source", "")) for s in sentence.get("support") or []})
            mark = "kept" if sentence.get("kept") else "DROPPED"
            if sentence.get("kind") not in (None, "claim"):
                mark += f" ({sentence['kind']}, not checked)"
            if sentence.get("repaired"):
                mark += " · citation repaired"
            detail = f"failed: {_cell(', '.join(failed))}" if failed else f"{len(checks)} checks passed"
            out.append(f"  - {mark} · {judge} · {detail} — “{_cell(_short(sentence.get('text')))}” {files}")
    return [*out, ""]


def _baseline_markdown(r: Mapping) -> list[str]:
    ok = r.get("baseline_correct", r.get("baseline_passed"))
    facts = [
        f"{'correct' if ok else 'wrong'}",
        f"cites {r.get('baseline_cited_files') or []}",
        f"first token {_fmt(r.get('baseline_first_visible'), 'latency')} s",
    ]
    if r.get("baseline_error"):
        facts.append(f"error: {r['baseline_error']}")
    head = "**Baseline answer:**" + (" *(declined)*" if r.get("baseline_declined") else "")
    return [f"{head} {'; '.join(facts)}", "", _quote_block(str(r.get("baseline_answer", ""))), ""]


# --------------------------------------------------------------------------- comparison


def _comparison_markdown(comparison: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for half, entry in comparison["halves"].items():
        base = entry.get("baseline")
        title = "docchat beside the naive baseline" if base else "docchat"
        out += [f"## {title}: {half} ({entry.get('n')} items)", ""]
        out += ["| metric | docchat |" + (" baseline |" if base else ""), "|---|---:|" + ("---:|" if base else "")]
        for metric, value in (entry.get("docchat") or {}).items():
            if metric == "n":
                continue
            other = f" {_fmt(base.get(metric), metric)} |" if base else ""
            out.append(f"| {label(metric)} | {_fmt(value, metric)} |{other}")
        out.append("")
        if entry.get("losses"):
            out += _losses_markdown(half, entry["losses"])
        if entry.get("ablation"):
            out += _ablation_markdown(half, entry["ablation"])
    return out


def _losses_markdown(half: str, losses: Mapping[str, Any]) -> list[str]:
    return [
        f"### Where docchat's answers are lost: {half}",
        "",
        "| | |",
        "|---|---:|",
        f"| items with a trace | {losses['traced']} |",
        f"| correct drafts (answerable items; every sentence kept, its support files as citations) "
        f"| {losses['correct_drafts']} |",
        f"| false rejections (correct drafts whose kept sentences are not correct, on items answered "
        f"wrongly) | {losses['false_rejections']} ({_fmt(losses['false_rejection_share'])} of correct drafts) |",
        f"| false acceptances: kept sentences the judge rejects + answers to unanswerable items "
        f"| {losses['kept_unsupported']} + {losses['answered_unanswerable']} = {losses['false_acceptances']} |",
        f"| kept sentences | {losses['kept_sentences']} |",
        f"| abstained at the relevance floor / by the model / by the checks "
        f"| {losses['abstained_by_floor']} / {losses['abstained_by_model']} / {losses['abstained_by_checks']} |",
        "",
    ]


_ABLATION_COLUMNS = (
    "n",
    "correctness",
    "answer_accuracy",
    "declined_unanswerable",
    "false_declines",
    "kept_sentences",
    "faithfulness",
)


def _ablation_markdown(half: str, table: Sequence[Mapping[str, Any]]) -> list[str]:
    out = [
        f"### Ablation, recomputed from the traces: {half}",
        "",
        "A sentence is kept when every check still switched on passes; an answer that keeps no "
        "sentence abstains. Faithfulness is the share of kept sentences the judge supports. "
        "*Stops / kills*: what the checks a row differs by from the shipped answers do, item by "
        "item: wrong answers (or answers to unanswerable questions) they turn into right ones or "
        "declines, and right answers they lose.",
        "",
        "| configuration | items | correct | answer strings right | unanswerable declined "
        "| answerable declined | kept sentences | faithfulness | stops / kills | items stopped / killed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in table:
        cells = " | ".join(_fmt(row.get(c), c) for c in _ABLATION_COLUMNS)
        out.append(f"| {_cell(row['configuration'])} | {cells} | {_stops_kills(row)} | {_stopped_killed_ids(row)} |")
    return [*out, ""]


def _stops_kills(row: Mapping[str, Any]) -> str:
    """ "2 / 0" for an ablation row with `stopped` and `killed`, "" for the shipped row."""
    if "stopped" not in row:
        return ""
    return f"{len(row['stopped'])} / {len(row.get('killed') or [])}"


def _stopped_killed_ids(row: Mapping[str, Any]) -> str:
    if not row.get("stopped") and not row.get("killed"):
        return ""
    return _cell(f"{', '.join(row.get('stopped') or []) or '-'} / {', '.join(row.get('killed') or []) or '-'}")


# --------------------------------------------------------------------------- charts


def _headline_chart(path: Path, headline: Mapping[str, Any], targets: Mapping[str, float]) -> Path | None:
    from matplotlib.figure import Figure  # imported on use: charts are optional

    metrics = [
        m
        for m, v in headline.items()
        if _finite(v) and 0.0 <= float(v) <= 1.0 and not m.startswith("latency") and m != "n"
    ]
    if not metrics:
        return None
    values = [float(headline[m]) for m in metrics]
    fig = Figure(figsize=(9, 0.5 * len(metrics) + 1.4), dpi=110)
    ax = fig.subplots()
    y = list(range(len(metrics)))[::-1]
    colors = []
    for m, v in zip(metrics, values):
        ok = _meets(m, v, targets.get(m))
        colors.append("#9e9e9e" if ok is None else ("#2e7d32" if ok else "#c62828"))
    ax.barh(y, values, color=colors, height=0.6)
    for yi, m, v in zip(y, metrics, values):
        # At the bar's start, so the label never sits on a target tick near the bar's end.
        if v >= 0.1:
            ax.text(0.01, yi, f"{v:.2f}", va="center", ha="left", fontsize=9, color="white")
        else:
            ax.text(v + 0.01, yi, f"{v:.2f}", va="center", ha="left", fontsize=9)
        target = targets.get(m)
        if _finite(target):
            ax.plot([target, target], [yi - 0.38, yi + 0.38], color="black", linewidth=2)
    ax.set_yticks(y, [label(m) + (" (lower is better)" if is_lower_better(m) else "") for m in metrics])
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("score (black tick = target; green meets it, red misses, grey has none)")
    ax.set_title("Headline metrics vs targets")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _category_chart(path: Path, categories: Mapping[str, Mapping[str, Any]]) -> Path | None:
    from matplotlib.figure import Figure

    if not categories:
        return None
    names = list(categories)
    series = [
        ("pass_rate", "pass rate", "#1565c0"),
        ("answer_correctness", "answer correctness", "#2e7d32"),
        ("abstention_accuracy", "abstention accuracy", "#ef6c00"),
    ]
    width = 0.26
    fig = Figure(figsize=(max(7.0, 1.3 * len(names) + 2), 4.6), dpi=110)
    ax = fig.subplots()
    for i, (key, label, color) in enumerate(series):
        xs = [j + (i - 1) * width for j in range(len(names))]
        vals = [categories[c].get(key) for c in names]
        ax.bar(xs, [v if _finite(v) else 0.0 for v in vals], width=width, label=label, color=color)
        for x, v in zip(xs, vals):
            if not _finite(v):
                ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90, color="#555")
    ax.set_xticks(range(len(names)), [f"{c}\n(n={categories[c]['n']})" for c in names], fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.set_title("Results per category")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _retrieval_chart(path: Path, headline: Mapping[str, Any]) -> Path | None:
    """Hit@k (and AllHit@k when measured) against k, when at least two k were measured."""
    from matplotlib.figure import Figure

    series = []
    for prefix, label, color in (
        ("hit_at_", "Hit@k (any gold)", "#1565c0"),
        ("all_hit_at_", "AllHit@k (every gold)", "#ef6c00"),
    ):
        points = sorted(
            (int(m[len(prefix) :]), float(v))
            for m, v in headline.items()
            if m.startswith(prefix) and m[len(prefix) :].isdigit() and _finite(v)
        )
        if len(points) >= 2:
            series.append((points, label, color))
    if not series:
        return None
    fig = Figure(figsize=(6.5, 4.2), dpi=110)
    ax = fig.subplots()
    for points, label, color in series:
        ks, values = zip(*points)
        ax.plot(ks, values, marker="o", label=label, color=color)
        below = label.startswith("AllHit")  # keep the two series' labels apart
        for k, v in points:
            ax.annotate(
                f"{v:.2f}",
                (k, v),
                textcoords="offset points",
                xytext=(0, -13 if below else 6),
                ha="center",
                fontsize=8,
                color=color,
            )
    ax.set_xticks(sorted({k for points, _, _ in series for k, _ in points}))
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("k (documents retrieved)")
    ax.set_ylabel("share of questions")
    title = "Retrieval"
    if _finite(headline.get("mrr_at_10")):
        title += f" (MRR@10 {float(headline['mrr_at_10']):.3f})"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return path


_SYSTEMS = (("docchat", "#1565c0"), ("baseline", "#ef6c00"))


def _half_axes(comparison: Mapping[str, Any], width: float, height: float):
    from matplotlib.figure import Figure

    halves = list(comparison["halves"].items())
    fig = Figure(figsize=(width * len(halves), height), dpi=110)
    return fig, list(zip(fig.subplots(1, len(halves), squeeze=False)[0], halves))


def _grouped_bars(ax, entry: Mapping[str, Any], metrics: Sequence[str], fmt: str) -> None:
    """One group of bars per metric, one bar per system present, values written on the bars."""
    systems = [(name, color, entry[name]) for name, color in _SYSTEMS if entry.get(name)]
    width = 0.8 / max(len(systems), 1)
    for i, (name, color, values) in enumerate(systems):
        xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(metrics))]
        vals = [values.get(m) for m in metrics]
        ax.bar(xs, [float(v) if _finite(v) else 0.0 for v in vals], width=width, color=color, label=name)
        for x, v in zip(xs, vals):
            ax.text(
                x,
                float(v) if _finite(v) else 0.0,
                format(v, fmt) if _finite(v) else "n/a",
                ha="center",
                va="bottom",
                fontsize=7,
            )


def _comparison_chart(path: Path, comparison: Mapping[str, Any]) -> Path | None:
    """docchat beside the baseline, grouped bars per metric, one panel per half."""
    metrics = list(comparison.get("chart_metrics") or [])
    if not metrics:
        return None
    fig, panels = _half_axes(comparison, max(6.0, 1.4 * len(metrics)), 4.6)
    for ax, (half, entry) in panels:
        _grouped_bars(ax, entry, metrics, ".2f")
        labels = [label(m) + ("\n(lower is better)" if is_lower_better(m) else "") for m in metrics]
        ax.set_xticks(range(len(metrics)), labels, fontsize=7, rotation=20, ha="right")
        ax.set_ylim(0, 1.3)  # room above the bars for the legend
        ax.set_title(f"{half} ({entry.get('n')} items)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", ncol=2)
    fig.suptitle("docchat vs the naive baseline")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _first_visible_chart(path: Path, comparison: Mapping[str, Any]) -> Path | None:
    """Seconds to the first visible sentence (baseline: first token) and in total, p50."""
    metrics = ["latency_first_visible_p50", "latency_p50"]
    if not any(_finite((e.get("docchat") or {}).get(metrics[0])) for e in comparison["halves"].values()):
        return None
    fig, panels = _half_axes(comparison, 5.0, 4.2)
    for ax, (half, entry) in panels:
        _grouped_bars(ax, entry, metrics, ".1f")
        ax.set_xticks(
            range(2),
            ["first visible p50\n(docchat: first sentence,\nbaseline: first token)", "whole answer p50"],
            fontsize=8,
        )
        ax.set_ylabel("seconds")
        ax.set_title(f"{half} ({entry.get('n')} items)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Time to something visible")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _ablation_chart(path: Path, comparison: Mapping[str, Any]) -> Path | None:
    """Correctness and faithfulness per ablation configuration, one panel per half."""
    if not any(e.get("ablation") for e in comparison["halves"].values()):
        return None
    rows = max(len(e.get("ablation") or []) for e in comparison["halves"].values())
    fig, panels = _half_axes(comparison, 6.0, 0.45 * rows + 1.8)
    for ax, (half, entry) in panels:
        table = entry.get("ablation") or []
        y = list(range(len(table)))[::-1]
        for offset, (key, color) in ((-0.2, ("correctness", "#2e7d32")), (0.2, ("faithfulness", "#6a1b9a"))):
            vals = [row.get(key) for row in table]
            ax.barh(
                [yi + offset for yi in y],
                [float(v) if _finite(v) else 0.0 for v in vals],
                height=0.38,
                color=color,
                label=key,
            )
            for yi, v in zip(y, vals):
                ax.text(
                    (float(v) if _finite(v) else 0.0) + 0.01,
                    yi + offset,
                    f"{v:.2f}" if _finite(v) else "n/a",
                    va="center",
                    fontsize=7,
                )
        ax.set_yticks(y, [f"{row['configuration']} {_stops_kills(row)}".strip() for row in table], fontsize=8)
        ax.set_xlim(0, 1.12)
        ax.set_title(f"{half}: one check off or on (stops / kills)")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    return path


# --------------------------------------------------------------------------- public API


def write_report(
    results: Iterable[Mapping],
    headline: Mapping[str, Any],
    out_dir: str | Path,
    *,
    targets: Mapping[str, float] | None = None,
    meta: Mapping[str, Any] | None = None,
    charts: bool = True,
    regressions: Sequence[Regression] | None = None,
    previous: Mapping[str, Any] | None = None,
    sections: Sequence[tuple[str, str]] = (),
    max_failures: int | None = None,
    comparison: Mapping[str, Any] | None = None,
) -> ReportPaths:
    """Write report.json, report.md and the charts into `out_dir` (created if needed).

    Args:
        results: Per-item result dicts (`ItemResult.to_dict()` or compatible).
        headline: Headline metric name -> value (None for not measured).
        out_dir: The folder to write into.
        targets: Metric -> target; lower-is-better metrics (`LOWER_IS_BETTER`, latency)
            meet it when at or below, the rest when at or above.
        meta: Extra facts shown at the top (model, backend, dataset, date...).
        charts: Also draw the PNG charts with matplotlib.
        regressions: What `compare` found against the previous run; shown first in report.md.
        previous: `{"path", "headline", "comparable"}` of the previous run: its headline is
            shown beside the current one when `comparable` (same items).
        sections: Extra `(title, markdown)` blocks after the per-category table.
        max_failures: Show at most this many failures in report.md (all are in report.json).
        comparison: docchat beside a baseline: `{"halves": {half: {"n", "docchat", "baseline",
            "losses", "ablation"}}, "chart_metrics": [...]}` (see `evals.run`). Stored as
            `comparison` in report.json, shown first in report.md, and drawn as
            comparison.png, first_visible.png and ablation.png instead of headline.png.

    Returns:
        The paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    targets = dict(targets or {})
    meta = dict(meta or {})
    rows = [dict(r) for r in results]
    ordered = order_results(rows)
    categories = per_category(rows)  # categories in the order the items came

    headline_png = category_png = retrieval_png = None
    extra: list[Path] = []
    if charts:
        if comparison:
            drawn = (
                _comparison_chart(out / "comparison.png", comparison),
                _first_visible_chart(out / "first_visible.png", comparison),
                _ablation_chart(out / "ablation.png", comparison),
            )
            extra = [p for p in drawn if p is not None]
        else:
            headline_png = _headline_chart(out / "headline.png", headline, targets)
        category_png = _category_chart(out / "categories.png", categories)
        retrieval_png = _retrieval_chart(out / "retrieval.png", headline)

    json_path = out / "report.json"
    payload = {
        "meta": meta,
        "headline": dict(headline),
        "targets": targets,
        "per_category": categories,
        "failures": [r.get("id") for r in ordered if is_failure(r)],
        "results": ordered,
        "items": ordered,  # the same list, under its earlier name
        "regressions": regressions_as_dicts(regressions or ()),
        "previous": {k: v for k, v in (previous or {}).items() if k != "headline"} or None,
    }
    if comparison:
        payload["comparison"] = dict(comparison)
    if sections:
        payload["sections"] = [[title, body] for title, body in sections]
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")

    md_path = out / "report.md"
    chart_paths = [p for p in (headline_png, *extra, category_png, retrieval_png) if p is not None]
    md_path.write_text(
        _markdown(
            ordered,
            headline,
            targets,
            categories,
            meta,
            chart_paths,
            regressions,
            previous,
            sections,
            max_failures,
            comparison,
        ),
        encoding="utf-8",
    )
    return ReportPaths(json_path, md_path, headline_png, category_png, retrieval_png, tuple(extra))


def load_report(source: str | Path | Mapping) -> dict:
    """A report as a dict, from a dict, a report.json path, or the folder holding it."""
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    if path.is_dir():
        path = path / "report.json"
    return json.loads(path.read_text(encoding="utf-8"))


def compare(
    previous_report: str | Path | Mapping,
    current: str | Path | Mapping,
    *,
    tolerance: float = 0.0,
    latency_tolerance: float = 0.25,
    latency_floor: float = 0.5,
) -> list[Regression]:
    """What got worse from `previous_report` to `current`.

    Args:
        previous_report: The baseline (dict, report.json path, or its folder).
        current: The new report, in the same forms.
        tolerance: Allowed absolute drop of a ratio metric (0.02 = two points).
        latency_tolerance: Allowed relative rise of a latency or token count (0.25 = 25% more).
        latency_floor: A latency must also rise by more than this many seconds (timings of
            sub-second steps on a shared machine are noise).

    Returns:
        Metric regressions (in the previous headline's order), then items that passed in
        the previous report and fail (or are missing a verdict) in the current one.
    """
    old, new = load_report(previous_report), load_report(current)
    regressions: list[Regression] = []
    old_head, new_head = old.get("headline") or {}, new.get("headline") or {}
    for metric, before in old_head.items():
        after = new_head.get(metric)
        # The baseline is a reference, not the system under test; counts are not metrics.
        if base_metric(metric) in _COUNTS or "_baseline" in metric or not _finite(before):
            continue
        if not _finite(after):
            regressions.append(Regression("metric", metric, before, after, f"{metric} is no longer measured"))
            continue
        if _is_relative(metric):
            worse = after > before * (1 + latency_tolerance)
            if metric.startswith("latency"):
                worse = worse and after - before > latency_floor
        elif is_lower_better(metric):
            worse = after > before + tolerance
        else:
            worse = after < before - tolerance
        if worse:
            regressions.append(
                Regression(
                    "metric", metric, before, after, f"{label(metric)}: {_fmt(before, metric)} -> {_fmt(after, metric)}"
                )
            )

    new_items = {str(r.get("id")): r for r in new.get("results") or new.get("items") or []}
    for r in old.get("results") or old.get("items") or []:
        key = str(r.get("id"))
        if is_failure(r) or key not in new_items:
            continue
        if is_failure(new_items[key]):
            regressions.append(
                Regression("item", key, True, False, f"{key} ({r.get('category', '')}) passed before and fails now")
            )
    return regressions


def regressions_as_dicts(regressions: Iterable[Regression]) -> list[dict]:
    """JSON-ready form of `compare`'s result."""
    return [asdict(r) for r in regressions]
