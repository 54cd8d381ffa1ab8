"""The evaluation page: the latest `rag eval` report, its headline numbers, charts and items."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from ui import markup, reports, state


def no_report(folders: list[Path]) -> None:
    st.info("No evaluation report yet.", icon=":material/science:")
    st.markdown(
        "Run the evaluation harness from a terminal; it answers every question of the "
        "evaluation set and writes a report this page shows:"
    )
    st.code("source .venv/bin/activate\nrag eval", language="bash")
    st.caption("Reports are read from " + " or ".join(f"`{f}/<timestamp>/report.json`" for f in folders) + ".")


def headline_metrics(report: dict) -> None:
    values, goals = reports.headline(report), reports.targets(report)
    shown = [k for k in values if k != "n"]
    if not shown:
        st.caption("This report has no headline metrics.")
        return
    per_row = 4
    for i in range(0, len(shown), per_row):
        cols = st.columns(per_row)
        for col, metric in zip(cols, shown[i : i + per_row]):
            value = values[metric]
            target = goals.get(metric)
            delta = description = None
            if target is not None:
                sign = "\u2264" if reports.is_lower_better(metric) else "\u2265"
                description = f"target {sign} {reports.format_value(metric, target)}"
                delta = reports.format_delta(metric, value - target)
            col.metric(
                reports.label(metric),
                reports.format_value(metric, value),
                delta=delta,
                delta_color="inverse" if reports.is_lower_better(metric) else "normal",
                delta_description=description,
                border=True,
                height="stretch",
            )


def metric_charts(report: dict, folder: Path) -> None:
    pngs = reports.charts(folder)
    if pngs:
        cols = st.columns(min(2, len(pngs)))
        for i, png in enumerate(pngs):
            cols[i % len(cols)].image(str(png))  # the charts carry their own titles
        return
    values = {
        k: v for k, v in reports.headline(report).items() if 0 <= v <= 1 and not k.startswith("latency") and k != "n"
    }
    if values:
        frame = pd.DataFrame({"metric": [reports.label(k) for k in values], "value": list(values.values())})
        st.bar_chart(frame, x="metric", y="value", horizontal=True, height=60 + 32 * len(values))
    per_category = report.get("per_category")
    if isinstance(per_category, dict) and per_category:
        rows = [
            {"category": str(cat), **{k: v for k, v in vals.items() if reports.is_number(v)}}
            for cat, vals in per_category.items()
            if isinstance(vals, dict)
        ]
        frame = pd.DataFrame(rows)
        if "pass_rate" in frame:
            st.bar_chart(frame, x="category", y="pass_rate", height=260)


def item_table(report: dict) -> None:
    rows = reports.items(report)
    if not rows:
        st.caption("This report lists no per-question results.")
        return
    failed = sum(reports.is_failure(r) for r in rows)
    st.subheader(
        f"Questions \u00b7 {failed} of {len(rows)} failed" if failed else f"Questions \u00b7 all {len(rows)} passed"
    )
    st.dataframe(
        pd.DataFrame(reports.table_rows(rows)),
        hide_index=True,
        width="stretch",
        column_config={
            "question": st.column_config.TextColumn(width="large"),
            "answer": st.column_config.TextColumn(width="medium"),
            "correctness": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
        },
    )
    failures = [r for r in rows if reports.is_failure(r)]
    if failures:
        st.markdown("##### Failures in detail")
        for r in failures[:50]:
            title = f"{r.get('id', '?')} \u00b7 {r.get('category', '')} \u00b7 {r.get('question', '')}"
            with st.expander(markup.escape_markdown(title[:180])):
                answer = r.get("answer")
                answer = answer.get("text", "") if isinstance(answer, dict) else str(answer or "")
                st.markdown("**Answer**")
                st.text(answer or "(empty)")
                if r.get("missing"):
                    st.markdown("**Expected facts missing**")
                    st.text(", ".join(map(str, r["missing"])))
                if r.get("error"):
                    st.markdown("**Error**")
                    st.text(str(r["error"]))
                if r.get("citations"):
                    st.markdown("**Citations**")
                    for c in r["citations"]:
                        if isinstance(c, dict):
                            st.text(f"[{c.get('n', '?')}] {c.get('source', '')}: {c.get('quote', '')}")


def main() -> None:
    st.title("Evaluation")
    try:
        data_dir = state.settings().data_dir
    except ValueError as e:
        st.error(markup.escape_markdown(f"The configuration is invalid: {e}"))
        st.stop()
    folders = [data_dir / "reports"]  # where `rag eval` writes (`<data_dir>/reports/<timestamp>/`)
    found = reports.find_reports(folders)
    if not found:
        no_report(folders)
        return
    folder = st.selectbox(
        "Report", found, format_func=lambda p: f"{p.name}  ({p.parent})", help="The newest report is shown first."
    )
    try:
        report = reports.read_report(folder)
    except ValueError as e:
        st.error(markup.escape_markdown(str(e)))
        return
    meta = report.get("meta") if isinstance(report.get("meta"), dict) else {}
    if meta:
        st.caption(
            " \u00b7 ".join(
                markup.escape_markdown(f"{k}: {v}")
                for k, v in meta.items()
                if isinstance(v, (str, int, float)) and v != ""
            )
        )
    headline_metrics(report)
    metric_charts(report, folder)
    item_table(report)


main()
