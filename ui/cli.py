"""The `rag` command line: ingest, status, ask, collections, eval, ui.

This is, with `Settings.from_env`, the only code that looks at the environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from assistant import Answer, CollectionSummary, NoIndexError, ask_stream, list_collections, status
from assistant.errors import RagError, report_error
from assistant.settings import BACKENDS, Settings
from ingest.progress import progress_bar
from ui.markup import line_label, removed_label, removed_lines


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        backend=getattr(args, "backend", None),
        top_k=getattr(args, "top_k", None),
        collection=getattr(args, "collection", None),
    )


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest import ingest

    settings = _settings(args)
    paths = args.paths or None
    report = ingest(
        paths, settings=settings, rebuild=args.rebuild, progress=None if args.json else progress_bar("ingest")
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    where = f"{report.location} (collection {settings.collection})"
    print(f"Indexed {report.files} files, {report.chunks} chunks in {where}")
    print(
        f"  added {report.added}, updated {report.updated}, removed {report.removed}, "
        f"unchanged {report.unchanged}; embedded {report.embedded} chunks in {report.seconds:.1f}s"
    )
    for name, reason in report.skipped:
        print(f"  skipped {name}: {reason}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    collections = list_collections(settings=settings)
    try:
        info = status(settings=settings)
    except NoIndexError:
        if not collections:
            raise
        info = None  # the other collections are still worth listing
    if args.json:
        listed = {"collections": [dataclasses.asdict(c) for c in collections]}
        print(json.dumps({**(info or {"collection": settings.collection}), **listed}, indent=2))
        return 0
    if info is None:
        print(f"collection {settings.collection!r} does not exist; the collections are:")
        _print_collections(collections, settings.collection)
        return 2
    last = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["last_sync"])) if info["last_sync"] else "never"
    print(f"store:     {info['location']} (collection {info['collection']})")
    print(f"embedder:  {info['embedder']} ({info['dimension']} dims)")
    print(f"indexed:   {info['files']} files, {info['chunks']} chunks; last sync {last}")
    if info["pending"]:
        print(f"pending:   {', '.join(info['pending'])} (an ingest was interrupted: run `rag ingest`)")
    for source in info["sources"]:
        print(f"  {source}")
    if len(collections) > 1:
        print("collections:")
        _print_collections(collections, settings.collection)
    return 0


def _print_collections(collections: Sequence[CollectionSummary], current: str) -> None:
    """One line per collection, `*` marking `current`."""
    width = max((len(c.name) for c in collections), default=0)
    for c in collections:
        mark = "*" if c.name == current else " "
        print(f"  {mark} {c.name:<{width}}  {c.files} files, {c.chunks} chunks ({c.embedder})")


def cmd_collections(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.action == "delete":
        from ingest import delete_collection

        target = settings.replace(collection=args.name)  # validated before anything is touched
        delete_collection(settings=target)
        print(f"Deleted collection {args.name!r} (the files it was ingested from are untouched)")
        return 0
    collections = list_collections(settings=settings)
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in collections], indent=2))
    elif not collections:
        print("no collections yet: run `rag ingest [--collection NAME] PATH`")
    else:
        _print_collections(collections, settings.collection)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    settings = _settings(args)
    answer = None
    for item in ask_stream(" ".join(args.question), settings=settings, sources=args.source or None):
        if isinstance(item, Answer):
            answer = item
        elif not args.json:
            print(item, end="", flush=True)
    assert answer is not None
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return 0
    if answer.abstained:
        print(answer.text)
    else:
        print()
    for notice in answer.notices:
        print(f"note: {notice}")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f'  [{c.n}] {c.source}, {line_label(c, separator=", ")}: "{c.quote}"')
    if answer.unsupported:
        print(f"\n{removed_label(len(answer.unsupported))}:")
        for sentence, why in removed_lines(answer):
            print(f"  - {sentence}" + (f"\n    ({why})" if why else ""))
    t = answer.timings
    print(
        f"\n{answer.model or answer.backend} · retrieval {t.get('retrieval', 0):.2f}s · "
        f"first sentence {t.get('first_token', 0):.2f}s · total {t.get('total', 0):.2f}s",
        file=sys.stderr,
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.run import main as eval_main

    rest = list(args.rest)
    return eval_main(rest[1:] if rest[:1] == ["--"] else rest)


def cmd_ui(args: argparse.Namespace) -> int:
    app = Path(__file__).resolve().parents[1] / "ui" / "app.py"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        args.host,
        "--server.port",
        str(args.port),
        "--server.headless",
        "true" if args.headless else "false",
        "--browser.gatherUsageStats",
        "false",
    ]
    return subprocess.call(cmd, env=os.environ.copy())


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests)."""
    p = argparse.ArgumentParser(prog="rag", description="Chat with your documents; every answer cites its sources.")
    sub = p.add_subparsers(dest="command", required=True)

    collection = argparse.ArgumentParser(add_help=False)
    collection.add_argument(
        "--collection", help="the collection of documents to use (default: RAG_COLLECTION or 'documents')"
    )

    s = sub.add_parser("ingest", parents=[collection], help="sync files/folders into the index (default: seeds/)")
    s.add_argument("paths", nargs="*", help="files or folders (default: the bundled seeds/)")
    s.add_argument("--rebuild", action="store_true", help="drop the index and rebuild it")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("status", parents=[collection], help="what is indexed, and the collections")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("ask", parents=[collection], help="ask a question")
    s.add_argument("question", nargs="+")
    s.add_argument("--backend", choices=BACKENDS)
    s.add_argument("--top-k", type=int, dest="top_k")
    s.add_argument("--source", action="append", help="restrict to this source file (repeatable)")
    s.add_argument("--json", action="store_true", help="print the Answer as JSON")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("collections", help="list or delete collections of documents")
    actions = s.add_subparsers(dest="action", required=True)
    a = actions.add_parser("list", help="every collection with its file and chunk counts")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("delete", help="delete a collection's index (its files on disk stay)")
    a.add_argument("name")
    s.set_defaults(func=cmd_collections)

    s = sub.add_parser("eval", help="run the eval harness (rag eval --help)", add_help=False)
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("ui", help="open the chat UI in the browser")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8501)
    s.add_argument("--headless", action="store_true", help="do not open a browser window")
    s.set_defaults(func=cmd_ui)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rag` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:
        # The eval harness owns its options (and --help). An argparse REMAINDER
        # sub-command would refuse `rag eval --limit 3`, so hand the rest over directly.
        argv = ["eval", "--", *argv[1:]]
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RagError, ValueError, KeyboardInterrupt) as e:  # ValueError: a bad settings value
        return report_error(e)


if __name__ == "__main__":
    sys.exit(main())
