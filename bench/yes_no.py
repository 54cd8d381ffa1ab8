"""Does the answer prompt get yes/no questions right when the passage holds the answer?

For each yes/no question of a set (HaluEval QA: its knowledge as one passage; HotpotQA: its
supporting paragraphs as passages [1], [2]) the model is asked with the pipeline's own answer
prompt (`pipeline.prompt_messages`, the yes/no wording included), and the Yes or No that
docchat would show (`verify.agreeing_lead` applied to the first sentence) is compared with the
gold answer. Retrieval and the checks are left out: this measures the model's reading only.
It also reports what `Settings.yes_floor` would do at several floors: of the replies opening
with "Yes" whose P(yes) (`pipeline.lead_probability`) is below the floor, how many were wrong
(withheld: stops) and how many right (withheld: kills). The floor was chosen on HaluEval's
tune half; report it on HaluEval's test half and HotpotQA.

    .venv/bin/python bench/yes_no.py --set halueval --split tune
    .venv/bin/python bench/yes_no.py --set hotpotqa --split test --limit 40

HaluEval's tune half holds 27 yes/no questions and its test half 32; HotpotQA's 80 are all
in its test half. Writes `bench/results/yes_no-<set>-<split>.json` and a chart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, pyplot, save_chart, write_result

GOLD = ("yes", "no")
FLOORS = (0.5, 0.7, 0.8, 0.85, 0.9)  # `Settings.yes_floor` values whose effect is reported


def yes_no_items(name: str, split: str, root: Path | None) -> list[tuple[str, str, str]]:
    """(question, numbered passages, gold "yes"/"no") for the yes/no questions of a set half."""
    from evals import benchmarks

    out = []
    if name == "halueval":
        for item in benchmarks.load_halueval(split, root):
            gold = item.right_answer.strip().lower().rstrip(".")
            if gold in GOLD:
                out.append((item.question, f"[1] {item.knowledge}", gold))
    else:
        data = benchmarks.load_hotpotqa(split, root)
        paragraphs = {p.key: p for p in data.corpus}
        for q in data.questions:
            gold = q.answers[0].strip().lower() if q.answers else ""
            if gold in GOLD:
                shown = [paragraphs[k] for k in q.gold_keys if k in paragraphs]
                text = "\n".join(f"[{n}] {p.title}: {p.text}" for n, p in enumerate(shown, 1))
                out.append((q.question, text, gold))
    return out


def shown_lead(question: str, reply: str) -> str:
    """The "yes" / "no" docchat would show for `reply` ("" when it opens with neither)."""
    from assistant.grounding.verify import agreeing_lead, split_draft, yes_no_lead

    sentences = split_draft(reply)
    if not sentences:
        return ""
    lead, _ = yes_no_lead(agreeing_lead(sentences[0].text, question))
    return lead.lower()


def measure(items, model) -> list[dict]:
    """Ask every item with the answer prompt; one row per item."""
    from tqdm import tqdm

    from assistant.generation.llm import complete
    from assistant.grounding.evidence import is_yes_no
    from assistant.pipeline import Question, lead_probability, prompt_messages
    from assistant.settings import Settings

    rows = []
    for question, passages, gold in tqdm(items, desc="yes/no"):
        asked = Question(question, question, question, yes_no=is_yes_no(question))
        messages = prompt_messages(passages, asked)
        p_yes = lead_probability(model, messages, asked, Settings())
        reply = complete(model, messages, max_tokens=96, temperature=0.0)
        lead = shown_lead(question, reply)
        rows.append(
            {
                "question": question,
                "gold": gold,
                "detected": asked.yes_no,
                "reply": reply,
                "lead": lead,
                "right": lead == gold,
                "p_yes": p_yes,
            }
        )
    return rows


def floor_effect(rows: list[dict], floor: float) -> dict:
    """What `Settings.yes_floor` at `floor` does to the replies that open with "Yes": how many
    wrong ones it withholds (stops) and how many right ones (kills)."""
    unsure = [r for r in rows if r["lead"] == "yes" and r["p_yes"] is not None and r["p_yes"] < floor]
    return {
        "floor": floor,
        "stops": sum(r["gold"] == "no" for r in unsure),
        "kills": sum(r["gold"] == "yes" for r in unsure),
        "wrong_yes": sum(r["lead"] == "yes" and r["gold"] == "no" for r in rows),
        "right_yes": sum(r["lead"] == "yes" and r["gold"] == "yes" for r in rows),
    }


def summary(rows: list[dict]) -> dict:
    """Accuracy overall and per gold answer, and how often the reply opened with neither."""
    by_gold = {g: [r for r in rows if r["gold"] == g] for g in GOLD}
    return {
        "n": len(rows),
        "accuracy": sum(r["right"] for r in rows) / len(rows),
        **{f"accuracy_{g}": (sum(r["right"] for r in rs) / len(rs) if rs else None) for g, rs in by_gold.items()},
        "no_lead": sum(not r["lead"] for r in rows) / len(rows),
        "not_detected": sum(not r["detected"] for r in rows),
    }


def chart(table: dict, name: str) -> Path:
    """Bars: accuracy overall, on gold yes, on gold no, and the share with no Yes/No lead."""
    plt = pyplot()
    keys = ["accuracy", "accuracy_yes", "accuracy_no", "no_lead"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    values = [table[k] or 0.0 for k in keys]
    ax.bar(keys, values, color=["tab:blue", "tab:green", "tab:red", "tab:gray"])
    for i, v in enumerate(values):
        ax.text(i, v + 0.02, f"{v:.2f}", ha="center", fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_title(f"{name} ({table['n']} questions)")
    return save_chart(fig, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="halueval", choices=("halueval", "hotpotqa"))
    parser.add_argument("--split", default="tune", choices=("tune", "test"))
    parser.add_argument("--limit", type=int, default=None, help="ask at most this many questions")
    parser.add_argument("--backend", default="local", choices=("local", "local-small", "openai"))
    parser.add_argument("--benchmarks-dir", type=Path, default=None, help="benchmarks folder")
    args = parser.parse_args(argv)

    from assistant.generation.llm import make_chat_model
    from assistant.settings import Settings

    items = yes_no_items(args.set, args.split, args.benchmarks_dir)[: args.limit]
    if not items:
        print(f"no yes/no questions in {args.set} {args.split}")
        return 0
    model = make_chat_model(Settings.from_env(), args.backend)
    rows = measure(items, model)
    table = summary(rows)
    print_table(["measure", "value"], [(k, v) for k, v in table.items()])
    floors = [floor_effect(rows, f) for f in FLOORS]
    print_table(list(floors[0]), [tuple(f.values()) for f in floors])
    name = f"yes_no-{args.set}-{args.split}"
    data = {"set": args.set, "split": args.split, "model": model.name, "summary": table, "floors": floors, "rows": rows}
    path = write_result(name, data)
    print(f"wrote {path} and {chart(table, name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
