"""Running renders for the UI: where outputs go, previews, and a readable summary."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from engines.animate.base import AnimationSettings
from studio.config import DEMO_PORTRAIT
from studio.errors import InputError
from studio.render import RenderJob, RenderRequest, RenderResult
from studio.script import parse_script
from studio.services import Studio
from studio.storage import sanitize_name


def portrait_path(studio: Studio, avatar: str | None, photo: str | None) -> Path:
    """The portrait to animate: an uploaded photo, else a saved avatar, else the demo portrait."""
    if photo:
        return Path(photo)
    if avatar:
        from studio.avatars import AvatarLibrary

        return AvatarLibrary(studio.paths).load(avatar).original_path
    return DEMO_PORTRAIT


def export_path(studio: Studio, script: str) -> Path:
    """A new file in ``exports/`` named after the time and the first words of the script."""
    words = "-".join(script.split()[:4]) or "video"
    try:
        slug = sanitize_name(words)[:40]
    except InputError:
        slug = "video"
    return studio.paths.exports / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}.mp4"


def first_sentence(script: str, emotion: str) -> str:
    """The markup of the script's first sentence, keeping its emotion (for quick previews)."""
    first = parse_script(script, emotion=emotion).sentences[0]
    return f"[{first.emotion}] {first.text}"


def render_for_ui(studio: Studio, *, avatar: str | None, photo: str | None, voice: str | None, script: str,
                  emotion: str, preset: str, subtitles: bool, burn_subtitles: bool, animation: AnimationSettings,
                  preview: bool, progress: Callable[[float, str], None] | None = None,
                  cancel: threading.Event | None = None) -> RenderResult:
    text = first_sentence(script, emotion) if preview else script
    out = studio.paths.cache / "previews" / "preview.mp4" if preview else export_path(studio, script)
    request = RenderRequest(portrait=portrait_path(studio, avatar, photo), out=out, text=text, voice=voice,
                            emotion=emotion, preset=preset, subtitles=subtitles, burn_subtitles=burn_subtitles,
                            animation=animation)
    return RenderJob(studio, request, progress=progress, cancel=cancel).run()


def summary_markdown(result: RenderResult) -> str:
    """A few lines for the UI: length, speed, lip-sync check, voice similarity, notices."""
    lines = [f"**Done:** {result.duration:.1f} s, {result.frames} frames — rendered at "
             f"{1 / max(result.realtime_factor, 1e-6):.1f}× real time.",
             "Stages (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in result.timings_ms.items())]
    if result.sync:
        corr = result.sync.get("correlation")
        off = result.sync.get("offset_frames")
        ok = corr is not None and corr >= 0.5 and abs(off or 0) <= 1
        lines.append(f"Lip-sync check: mouth/loudness correlation {corr:.2f}, offset {off:+d} frame(s) "
                     f"{'✅' if ok else '⚠️ check the flagged parts'}")
    if result.similarity is not None:
        lines.append(f"Voice similarity to the profile: {result.similarity:.2f}")
    lines += [f"ℹ️ {n}" for n in result.notices]
    return "\n\n".join(lines)
