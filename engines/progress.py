"""The one progress-callback type shared by engines, the studio and the UI."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]  # (fraction 0..1, message)


def no_progress(fraction: float, message: str) -> None:
    """A :data:`Progress` that reports nowhere (the default when the caller passes none)."""
