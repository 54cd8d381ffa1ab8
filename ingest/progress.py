"""Progress of long work (ingest, evals) as a tqdm bar on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

Progress = Callable[..., None]
"""`progress(done, total, item="")`: called as work advances."""


LOG_INTERVAL = 30.0  # seconds between lines when stderr is a log file, not a terminal


def progress_bar(label: str, *, disable: bool = False) -> Progress:
    """A `progress(done, total, item)` callback that draws a tqdm bar on stderr.

    On a terminal the bar redraws in place (at most every 0.2 s). When stderr is not a terminal
    (a log file, CI, `nohup`), it writes a line at most every `LOG_INTERVAL` seconds, and one at
    the end: tqdm's own default would stay silent there, and a long ingest or eval would show
    nothing at all.
    """
    interval = 0.2 if sys.stderr.isatty() else LOG_INTERVAL
    bar: tqdm | None = None

    def progress(done: int, total: int, item: str = "") -> None:
        nonlocal bar
        if bar is not None and done < bar.n:  # a new phase (answering after indexing) counts from 0
            bar.close()
            bar = None
        if bar is None:
            bar = tqdm(
                desc=label,
                total=max(total, 1),
                file=sys.stderr,
                dynamic_ncols=True,
                disable=disable,
                mininterval=interval,
            )
        bar.total = max(total, 1)
        bar.set_postfix_str(item if len(item) <= 48 else "…" + item[-47:], refresh=False)  # the end says most
        bar.update(done - bar.n)  # draws only when `interval` has passed
        if done >= total:
            bar.close()  # draws the final state
            bar = None

    return progress
