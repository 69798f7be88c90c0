"""Running renders for the UI: where outputs go, streaming previews, the export queue, warm-up,
and a readable summary."""

from __future__ import annotations

import itertools
import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from engines.animate.base import AnimationSettings
from studio.config import DEMO_PORTRAIT
from studio.errors import InputError, StudioError
from studio.render.pipeline import ChunkReady, RenderJob, RenderRequest, RenderResult
from studio.render.queue import RenderQueue
from studio.services import Studio
from studio.storage import sanitize_name

log = logging.getLogger(__name__)
PREVIEW_PRESET = "preview"
PREVIEWS_KEPT = 12  # preview files kept in cache/previews (older ones are removed)
WARM_UP_TEXT = "Hello."


def portrait_path(studio: Studio, avatar: str | None, photo: str | None) -> Path:
    """The portrait to animate: an uploaded photo, else a saved avatar, else the demo portrait."""
    if photo:
        from studio.safety import check_image_upload

        return check_image_upload(photo).path  # a PNG, JPEG or WebP of sensible size, whatever its name
    if avatar:
        from studio.portrait.avatars import AvatarLibrary

        return AvatarLibrary(studio.paths).load(avatar).original_path
    return DEMO_PORTRAIT


_issued: set[Path] = set()  # export names handed out (a queued export has no file yet)
_issued_lock = threading.Lock()


EXPORT_WORDS = 5  # words of the spoken text in an export's file name
EXPORT_NAME_CHARS = 40


def spoken_words(script: str) -> list[str]:
    """The words the avatar says, without markup (emotion tags, pauses) or punctuation."""
    from studio.script.markup import parse_script

    try:
        text = " ".join(s.text for s in parse_script(script or "").sentences)
    except StudioError:
        text = ""
    return [w for w in (re.sub(r"[^\w'-]+", "", word).strip("'-") for word in text.split()) if w]


def export_stem(script: str, day: str | None = None) -> str:
    """``hello-welcome-to-avatar-studio-2026-12-05``: the first spoken words, lower case, and the date."""
    words = spoken_words(script)[:EXPORT_WORDS]
    try:
        slug = sanitize_name("-".join(words).lower())[:EXPORT_NAME_CHARS].strip("-_") if words else "video"
    except InputError:
        slug = "video"
    return f"{slug or 'video'}-{day or time.strftime('%Y-%m-%d')}"


def export_path(studio: Studio, script: str) -> Path:
    """A new file in ``exports/`` named after the first spoken words of the script and the date
    (``-2``, ``-3``... for more exports of the same day); never the name of an existing or already
    queued export."""
    stem = export_stem(script)
    with _issued_lock:
        path, n = studio.paths.exports / f"{stem}.mp4", 1
        while path in _issued or path.exists():
            n += 1
            path = studio.paths.exports / f"{stem}-{n}.mp4"
        _issued.add(path)
        return path


def make_request(
    studio: Studio,
    *,
    avatar: str | None,
    photo: str | None,
    voice: str | None,
    script: str,
    emotion: str,
    preset: str,
    subtitles: bool,
    burn_subtitles: bool,
    animation: AnimationSettings,
    watermark: bool = False,
    out: Path | None = None,
    take: int = 0,
    emotion_strength: float = 1.0,
) -> RenderRequest:
    """The render request for the Studio tab's current settings (an export unless ``out`` is given)."""
    if avatar and not photo and animation.crop_expand == AnimationSettings().crop_expand:
        from studio.portrait.avatars import AvatarLibrary

        # The framing chosen when the avatar was saved, unless the slider was moved for this video.
        saved = AvatarLibrary(studio.paths).load(avatar).settings.get("crop_expand")
        if saved:
            animation = replace(animation, crop_expand=float(saved))
    return RenderRequest(
        portrait=portrait_path(studio, avatar, photo),
        out=out or export_path(studio, script),
        text=script,
        voice=voice,
        emotion=emotion,
        preset=preset,
        subtitles=subtitles,
        burn_subtitles=burn_subtitles,
        animation=animation,
        watermark=watermark,
        take=take,
        emotion_strength=float(emotion_strength),
    )


EXPORTS_LISTED = 10


def exports_markdown(studio: Studio) -> str:
    """The exports folder (full path) and its newest videos, for the Studio tab."""
    folder = studio.paths.exports.resolve()
    videos = sorted(folder.glob("*.mp4"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    lines = [f"**Exports folder:** `{folder}`"]
    if not videos:
        lines.append("No exported videos yet.")
    for v in videos[:EXPORTS_LISTED]:
        st = v.stat()
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
        lines.append(f"- `{v.name}` ({st.st_size / 1e6:.1f} MB, {when})")
    if len(videos) > EXPORTS_LISTED:
        lines.append(f"- … and {len(videos) - EXPORTS_LISTED} older")
    return "\n".join(lines)


_queues: dict[int, RenderQueue] = {}
_queues_lock = threading.Lock()


def export_queue(studio: Studio) -> RenderQueue:
    """The one background export queue of ``studio`` (created on first use)."""
    with _queues_lock:
        if id(studio) not in _queues:
            _queues[id(studio)] = RenderQueue(studio)
        return _queues[id(studio)]


@dataclass
class PreviewUpdate:
    """What a streaming preview has to show now: a playable file (or None) and a status line."""

    video: Path | None
    message: str
    result: RenderResult | None = None
    first: bool = False  # the first playable part (the first sentence)


_preview_ids = itertools.count(1)


def preview_stream(
    studio: Studio, request: RenderRequest, cancel: threading.Event | None = None
) -> Iterator[PreviewUpdate]:
    """Render ``request`` at the low-resolution preview preset, yielding as it goes.

    The first update with a video is the first sentence alone (muxed with its sound as soon as its
    chunk exists); the last is the whole preview. Chunks are cached, so the export reuses nothing
    of the preview's size but a repeated preview is instant. Errors are raised as StudioError.
    """
    from studio.render.video import AudioTrack, join_chunks

    folder = studio.paths.cache / "previews"
    folder.mkdir(parents=True, exist_ok=True)
    _prune_previews(folder)
    tag = f"{time.strftime('%H%M%S')}-{next(_preview_ids)}"
    request = replace(request, preset=PREVIEW_PRESET, subtitles=False, out=folder / f"preview-{tag}.mp4")
    events: queue.Queue[tuple[str, object]] = queue.Queue()

    def on_chunk(ready: ChunkReady) -> None:
        if ready.index != 0:
            return
        first = folder / f"preview-{tag}-first.mp4"
        wav = folder / f".preview-{tag}-first.wav"
        try:
            with AudioTrack(wav) as track:
                track.append(ready.audio)
            join_chunks([ready.chunk.video], wav, first)
        finally:
            wav.unlink(missing_ok=True)
        events.put(("first", (first, ready.total)))

    def work() -> None:
        try:
            result = RenderJob(
                studio,
                request,
                cancel=cancel,
                on_chunk=on_chunk,
                progress=lambda f, m: events.put(("progress", (f, m))),
            ).run()
            events.put(("done", result))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            events.put(("error", exc))

    threading.Thread(target=work, name="preview", daemon=True).start()
    last_progress = 0.0
    shown_first = False
    while True:
        kind, payload = events.get()
        if kind == "first":
            path, total = payload
            more = f" — rendering the other {total - 1} sentence(s)…" if total > 1 else ""
            shown_first = True
            yield PreviewUpdate(path, f"Preview of the first sentence{more}", first=True)
        elif kind == "progress":
            fraction, message = payload
            if shown_first and fraction - last_progress >= 0.1:  # nothing delays the first picture
                last_progress = fraction
                yield PreviewUpdate(
                    None, f"Playing the first sentence; rendering the rest of the preview ({fraction:.0%}: {message})"
                )
        elif kind == "done":
            yield PreviewUpdate(payload.video, "Preview ready.", result=payload)
            return
        else:
            raise payload


def _prune_previews(folder: Path) -> None:
    files = sorted(folder.glob("preview-*.mp4"), key=lambda p: p.stat().st_mtime)
    for old in files[:-PREVIEWS_KEPT]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)


def warm_up(studio: Studio) -> float:
    """Load the engines a preview needs (TTS, face finder, animator, encoder) and prepare the demo
    portrait at preview size, by rendering one short word. Returns the seconds it took."""
    t0 = time.perf_counter()
    out = studio.paths.cache / "previews" / "warm-up.mp4"
    request = RenderRequest(portrait=DEMO_PORTRAIT, out=out, text=WARM_UP_TEXT, preset=PREVIEW_PRESET)
    try:
        RenderJob(studio, request).run()
    except StudioError as exc:
        log.warning("warm-up render failed: %s", exc)
    return time.perf_counter() - t0


def warm_up_in_background(studio: Studio) -> threading.Thread:
    """Start :func:`warm_up` on a daemon thread (the UI is usable meanwhile)."""
    thread = threading.Thread(target=warm_up, args=(studio,), name="warm-up", daemon=True)
    thread.start()
    return thread


def summary_markdown(result: RenderResult) -> str:
    """A few lines for the UI: length, speed, lip-sync check, voice similarity, notices."""
    lines = [
        f"**Done:** {result.duration:.1f} s, {result.frames} frames — rendered at "
        f"{1 / max(result.realtime_factor, 1e-6):.1f}× real time.",
        "Stages (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in result.timings_ms.items()),
    ]
    if result.sync:
        corr = result.sync.get("correlation")
        off = result.sync.get("offset_frames")
        ok = corr is not None and corr >= 0.5 and abs(off or 0) <= 1
        lines.append(
            f"Lip-sync check: mouth/loudness correlation {corr:.2f}, offset {off:+d} frame(s) "
            f"{'[OK]' if ok else '[CHECK] look at the flagged parts'}"
        )
    if result.similarity is not None:
        lines.append(f"Voice similarity to the profile: {result.similarity:.2f}")
    lines += [f"{'Warning' if n.startswith('portrait:') else 'Note'}: {n}" for n in result.notices]
    return "\n\n".join(lines)
