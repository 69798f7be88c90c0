"""A tqdm bar on stderr (only on a terminal) exposed as the studio's ``progress(fraction, message)``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from engines.progress import Progress


@contextlib.contextmanager
def progress_bar(desc: str) -> Iterator[Progress]:
    """Yield a callback that moves a 0–100 % bar and shows the current step's message."""
    from tqdm import tqdm

    with tqdm(
        total=100,
        unit="%",
        desc=desc,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        bar_format="{l_bar}{bar}| {n:.0f}% {postfix}",
    ) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.n = round(fraction * 100, 1)
            bar.set_postfix_str(message)

        yield progress
