"""User-facing errors: one plain sentence that says what to do."""

from __future__ import annotations

# Exit codes of the command line (DESIGN.md): 2 = bad input / usage, 3 = rejected content.
EXIT_BAD_INPUT = 2
EXIT_REJECTED = 3


class StudioError(Exception):
    """A problem the user can fix. ``str(err)`` is shown as ``error: <message>``."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(StudioError):
    """Unreadable, missing or malformed input (exit 2)."""


class RejectedError(StudioError):
    """Readable input that cannot be used, e.g. a photo with no face (exit 3)."""

    exit_code = EXIT_REJECTED


class CancelledError(StudioError):
    """The user cancelled a long job."""
