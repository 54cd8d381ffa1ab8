"""Progress of long work (ingest, evals) as a tqdm bar on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

Progress = Callable[..., None]
"""`progress(done, total, item="")`: called as work advances."""


def progress_bar(label: str, *, disable: bool | None = None) -> Progress:
    """A `progress(done, total, item)` callback that draws a tqdm bar on stderr.

    tqdm redraws in place on a terminal and prints sparse lines otherwise; `disable=None`
    leaves that choice to tqdm (it stays quiet when stderr is not a terminal only if told).
    """
    bar = tqdm(desc=label, total=0, file=sys.stderr, dynamic_ncols=True, disable=disable, mininterval=0.2)

    def progress(done: int, total: int, item: str = "") -> None:
        bar.total = max(total, 1)
        bar.n = done
        bar.set_postfix_str(item if len(item) <= 48 else "…" + item[-47:], refresh=False)  # the end says most
        bar.refresh()
        if done >= total:
            bar.close()

    return progress
