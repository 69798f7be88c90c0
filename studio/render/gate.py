"""The portrait gate: every render (CLI, Studio tab, export queue) runs the same quality check as
``app.py portrait check`` before it animates a photo.

The report is cached per photo content in ``cache/portrait_checks/``, keyed by the decoded pixels,
the size on disk, the face back-end and the check's version (its thresholds and its code), so a
second render of the same photo does not measure it again and a change to the check re-checks.
A rejected photo raises :class:`~studio.errors.RejectedError` (exit 3) with the check's advice;
warnings come back as one line each, for the render's notices and manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import RejectedError
from studio.render.cache import array_hash, content_hash, landmarks_entry, module_fingerprint
from studio.storage import atomic_write_json, atomic_write_npz

GATE_VERSION = "1"
DEFAULT_BACKEND = "dlib68"


@dataclass
class GateResult:
    """What the gate decided about one photo."""

    verdict: str
    summary: str
    warnings: list[str] = field(default_factory=list)  # one line per warning (label: message; advice)
    report: dict[str, Any] = field(default_factory=dict)  # the full JSON report, as `portrait check` prints it
    cached: bool = False

    @property
    def usable(self) -> bool:
        from studio.portrait.checks import REJECTED

        return self.verdict != REJECTED

    def manifest(self) -> dict[str, Any]:
        """The part of a render's manifest about the portrait check."""
        return {"verdict": self.verdict, "summary": self.summary, "warnings": list(self.warnings)}


def check_version() -> str:
    """Changes when the thresholds or the code of the check change."""
    from studio.portrait.checks import Thresholds

    code = module_fingerprint("studio.portrait.checks", "studio.portrait.faces", "studio.portrait.photo")
    return content_hash(GATE_VERSION, asdict(Thresholds()), code)


def _entry(cache: Path, pixels_hash: str, original_size: tuple[int, int], backend: str) -> Path:
    key = content_hash(pixels_hash, list(original_size), backend, check_version())
    return cache / "portrait_checks" / f"{key}.json"


def result_from_report(report) -> GateResult:
    """A :class:`GateResult` from a ``PortraitReport``."""
    from studio.portrait.checks import WARN

    warnings = [
        f"{c.label}: {c.message}" + (f"; {c.advice}" if c.advice else "") for c in report.checks if c.status == WARN
    ]
    return GateResult(report.verdict, report.summary(), warnings, report.to_dict())


def remember(cache: Path, photo, report, backend: str = DEFAULT_BACKEND) -> GateResult:
    """Store ``report`` (of the decoded ``photo``) in the gate's cache; returns its result."""
    result = result_from_report(report)
    pixels = array_hash(photo.image)
    path = _entry(cache, pixels, photo.original_size, backend)
    atomic_write_json(path, asdict(result) | {"cached": False})
    if backend == DEFAULT_BACKEND and report.face is not None and result.usable:
        # the render finds the face with the same back-end: hand it these landmarks, so that
        # dlib runs once per photo (the render's landmark cache is keyed by the same pixels)
        atomic_write_npz(landmarks_entry(cache, photo.image), landmarks=report.face.landmarks)
    return result


def check_photo(studio, path: str | Path, backend: str = DEFAULT_BACKEND) -> GateResult:
    """The portrait check of the photo at ``path``, from the cache when this content was checked
    before. Raises InputError when the file cannot be read as a photo."""
    import json

    from studio.portrait.checks import check_portrait
    from studio.portrait.faces import face_engine
    from studio.portrait.photo import read_photo

    cache = studio.paths.cache
    photo = read_photo(path)
    entry = _entry(cache, array_hash(photo.image), photo.original_size, backend)
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
        return GateResult(**{**data, "cached": True})
    except (OSError, ValueError, TypeError):
        pass  # not checked yet, or a damaged entry: measure again
    report = check_portrait(
        photo.image, face_engine(studio, backend), original_size=photo.original_size, notes=photo.notes
    )
    return remember(cache, photo, report, backend)


def require_usable(studio, path: str | Path) -> GateResult:
    """The gate itself: the check's result, or RejectedError (exit 3) with its advice in one line."""
    result = check_photo(studio, path)
    if not result.usable:
        reason = result.summary.split(": ", 1)[-1].rstrip(".")
        raise RejectedError(
            f"the portrait cannot be animated: {reason} (`app.py portrait check PHOTO --text` shows every check)"
        )
    return result
