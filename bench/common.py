"""Helpers shared by the benchmark scripts: paths, the HotpotQA corpus on disk, timing,
memory, result files and charts.

Benchmarks are scripts, not tests: each prints a table, writes `bench/results/<name>.json`
and a PNG chart next to it. Work folders (corpora, Chroma folders, cached vectors) live
under `.rag/bench/` so a re-run reuses them.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/x.py` from anywhere
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
WORK = ROOT / ".rag" / "bench"


def rss_mb() -> float:
    """Current resident set size of this process in MiB (from /proc, Linux)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):  # not Linux: fall back to the peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * p / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def machine() -> dict:
    """What the numbers were measured on (the load average matters on a shared machine)."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a Markdown table."""
    rows = [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def write_result(name: str, data: dict) -> Path:
    """Write `bench/results/<name>.json` (with the machine facts) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **data}, indent=2) + "\n", encoding="utf-8")
    return path


def chart_path(name: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{name}.png"


def pyplot():
    """matplotlib.pyplot with the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_chart(fig, name: str) -> Path:
    """Save `fig` as `bench/results/<name>.png`, close it, and return the path."""
    path = chart_path(name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


GROUP_LABELS = {"stop": "answer to an unanswerable question", "keep": "correct answer"}
"""What the two groups of a would-be check are: answers it should stop, answers it must keep."""


def stop_keep_chart(values: dict[str, dict[str, list[float]]], ylabel: str, title: str, name: str) -> Path:
    """One column per signal of `values` ({signal: {"stop": [...], "keep": [...]}}), its values
    for answers to unanswerable questions beside those for correct answers; saved as
    `bench/results/<name>.png`."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 2 * len(values)), 4))
    for i, by_group in enumerate(values.values()):
        for offset, (kind, color) in enumerate((("stop", "tab:red"), ("keep", "tab:green"))):
            ys = by_group.get(kind, [])
            label = None if i else GROUP_LABELS[kind]
            ax.scatter([i + (offset - 0.5) * 0.3] * len(ys), ys, color=color, alpha=0.6, s=18, label=label)
    ax.set_xticks(range(len(values)), list(values))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return save_chart(fig, name)


def report_stops_and_kills(name: str, table: list[dict], groups: list[str | None], data: dict, draw) -> int:
    """Print a would-be check's stops and kills per signal and threshold (`table` rows: signal,
    threshold, stops, kills) and the group sizes; write `bench/results/<name>.json` (`data`
    plus the table) and the chart `draw(name)` makes; return 0 (the exit code)."""
    print_table(
        ["signal", "threshold", "unanswerable stopped", "correct killed"],
        [(t["signal"], t["threshold"], t["stops"], t["kills"]) for t in table],
    )
    print(f"{groups.count('stop')} answers to unanswerable questions, {groups.count('keep')} correct answers")
    path = write_result(name, {**data, "tradeoffs": table})
    print(f"wrote {path} and {draw(name)}")
    return 0


# ---- the HotpotQA corpus as a folder of files --------------------------------------------


def write_hotpot_folder(folder: Path, paragraphs) -> int:
    """One `<key>.txt` per paragraph ("title\\ntext"), so `source` maps back to the key.

    Files that already hold the same bytes are left alone (keeps their mtime, so a re-run
    of the benchmark re-syncs nothing).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for p in paragraphs:
        path = folder / f"{p.key}.txt"
        data = f"{p.title}\n{p.text}\n"
        try:
            if path.read_text(encoding="utf-8") == data:
                continue
        except OSError:
            pass
        path.write_text(data, encoding="utf-8")
    return len(paragraphs)


def key_of(source: str) -> str:
    """Paragraph key of a chunk source written by `write_hotpot_folder`."""
    return source.rsplit("/", 1)[-1].removesuffix(".txt")


def one_line_chunk(source: str, text: str, title: str = ""):
    """A chunk that is the whole of a one-line document (the synthetic corpora's unit)."""
    from assistant.types import Chunk, chunk_id

    return Chunk(
        id=chunk_id(source, 0, len(text), text),
        source=source,
        text=text,
        start=0,
        end=len(text),
        line_start=1,
        line_end=1,
        ordinal=0,
        title=title,
    )


def docset_arguments(parser, default: str) -> None:
    """The options of a docset benchmark: `--dataset`, `--split`, `--benchmarks-dir`."""
    parser.add_argument("--dataset", default=default, help="bbc-news, tech-docs or a docset folder")
    parser.add_argument("--split", default="tune", choices=("tune", "test"))
    parser.add_argument("--benchmarks-dir", default=None)


def indexed_docset(args):
    """(docset, settings, embedder) for `args` of `docset_arguments`: the docset's documents
    synced into their own collection with MiniLM (a re-run embeds nothing)."""
    from assistant.retrieval.embedder import MiniLMEmbedder
    from assistant.settings import Settings
    from evals import docsets
    from ingest import ingest

    docset = docsets.load_docset(args.dataset, args.split, args.benchmarks_dir)
    settings = Settings.from_env().replace(collection=docsets.docset_collection(docset))
    embedder = MiniLMEmbedder()
    ingest([docset.docs_dir], settings=settings, embedder=embedder)
    return docset, settings, embedder
