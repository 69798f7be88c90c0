"""Studio tab: pick portrait, voice and script, preview at low resolution, queue exports.

Preview renders in the click's own handler and streams: the first sentence plays as soon as it
exists, then the whole preview replaces it. Export goes to the background queue
(studio.render_queue) and returns at once; a timer shows each job's progress and time left.
"""

from __future__ import annotations

import threading
from dataclasses import fields, replace
from pathlib import Path

import gradio as gr

from engines.animate import base as animate_base
from engines.animate.base import AnimationSettings
from engines.emotions import EMOTIONS, MAX_STRENGTH, MIN_STRENGTH
from studio.config import load_output_presets
from studio.errors import CancelledError, StudioError
from studio.render import jobs
from studio.render.pipeline import RenderJob
from studio.services import Studio
from studio.ui.widgets import copyable_path, saved_lists
from studio.ui.widgets import error_html as _error

DEFAULT_SCRIPT = (
    "[happy] Hello! Welcome to Avatar Studio. [pause 0.3s] [neutral] I was made from a single photo, on this computer."
)
DEMO = "(demo portrait)"
DEFAULT_VOICE = "(default voice)"
POLL_S = 1.0  # how often the export list refreshes


def _voices(studio: Studio) -> list[str]:
    try:
        from studio.voice.profiles import VoiceLibrary
    except ImportError:
        return [DEFAULT_VOICE]
    return [DEFAULT_VOICE] + [v.name for v in VoiceLibrary(studio.paths).list()]


def _avatars(studio: Studio) -> list[str]:
    try:
        from studio.portrait.avatars import AvatarLibrary
    except ImportError:
        return [DEMO]
    return [DEMO] + [a.name for a in AvatarLibrary(studio.paths).list()]


def animation_controls() -> list[tuple[str, str, float, float, float, float, str]]:
    """(field, label, min, max, step, default, one-line help) for every animation slider.

    From ``engines.animate.base.CONTROLS`` when the engine describes its controls, else from the
    numeric ``AnimationSettings`` fields with generic ranges.
    """
    described = getattr(animate_base, "CONTROLS", None)
    if described:
        return [(c.name, c.label, c.minimum, c.maximum, c.step, c.default, c.help) for c in described]
    rows = []
    for f in fields(AnimationSettings):
        if f.name == "seed" or not isinstance(f.default, (int, float)):
            continue
        d = float(f.default)
        rows.append((f.name, f.name.replace("_", " ").capitalize(), min(0.0, d * 2), max(2.0, d * 2, 1.0), 0.05, d, ""))
    return rows


ANIMATORS = [
    ("Procedural (built in)", "procedural"),
    ("Neural lip-sync: MuseTalk 1.5 on the procedural head (NVIDIA GPU)", "musetalk"),
]


def settings_from(names: list[str], values: list[float], seed: float | None) -> AnimationSettings:
    """AnimationSettings from slider values (fields the settings do not know are ignored)."""
    known = {f.name for f in fields(AnimationSettings)}
    kwargs = {n: float(v) for n, v in zip(names, values) if n in known and v is not None}
    settings = AnimationSettings(**kwargs, seed=int(seed or 0))
    return settings.clamped() if hasattr(settings, "clamped") else settings


def build(studio: Studio) -> None:
    queue = jobs.export_queue(studio)
    jobs.warm_up_in_background(studio)  # TTS, face finder, animator and encoder ready for the first preview
    controls_spec = animation_controls()
    names = [row[0] for row in controls_spec]

    with gr.Row():
        with gr.Column(scale=1):
            avatar = gr.Dropdown(
                _avatars(studio), value=DEMO, label="Avatar", info="a saved avatar (Portrait tab) or the demo portrait"
            )
            upload = gr.Image(type="filepath", label="…or use a photo just for this video", height=200)
            voice = gr.Dropdown(
                _voices(studio), value=DEFAULT_VOICE, label="Voice", info="voice profiles come from the Voice tab"
            )
            refresh = gr.Button("↻ Refresh avatars and voices", size="sm")
            script = gr.Textbox(
                DEFAULT_SCRIPT,
                lines=6,
                label="Script",
                elem_id="studio-script",
                info="[happy] [sad] [angry] [surprised] [neutral] set the mood ([sad 0.5] softer, [happy 1.5] "
                "stronger); [pause 0.5s] adds silence",
            )
            with gr.Row():
                emotion = gr.Dropdown(list(EMOTIONS), value="neutral", label="Starting emotion")
                emotion_strength = gr.Slider(
                    MIN_STRENGTH,
                    MAX_STRENGTH,
                    value=1.0,
                    step=0.05,
                    label="Emotion strength",
                    info="voice and face: 0 none, 1 normal, 2 double",
                    elem_id="studio-emotion-strength",
                )
                presets = load_output_presets()
                preset = gr.Dropdown(
                    [(f"{p.name} — {p.description}", p.name) for p in presets.values() if p.name != "preview"],
                    value="512",
                    label="Output",
                )
            framing_md = gr.Markdown(elem_id="studio-framing-note")  # when the face is small for the output
            subtitles = gr.Checkbox(True, label="Write subtitles (.srt / .vtt)")
            burn = gr.Checkbox(False, label="Burn subtitles into the video")
            watermark = gr.Checkbox(
                False,
                label="Invisible watermark",
                info="hides an 'AI-generated' mark in every frame; `app.py verify` reads it back",
            )
            with gr.Accordion("Advanced animation", open=False):
                sliders = [
                    gr.Slider(lo, hi, value=default, step=step, label=label, info=help_ or None, elem_id=f"anim-{name}")
                    for name, label, lo, hi, step, default, help_ in controls_spec
                ]
                seed = gr.Number(0, precision=0, label="Seed", info="same seed, same blinks and head motion")
                animator = gr.Dropdown(
                    ANIMATORS,
                    value="procedural",
                    label="Animation engine",
                    elem_id="studio-animator",
                    info="the neural lip-sync draws the mouth on the procedural head; without its weights "
                    "or a GPU the render says so and uses the procedural engine",
                )
            with gr.Row():
                take = gr.Number(
                    0,
                    precision=0,
                    label="Take",
                    scale=3,
                    elem_id="studio-take",
                    info="the same inputs and take give the same video; a new take varies voice and motion",
                )
                new_take_btn = gr.Button("New take", scale=1, size="sm", elem_id="studio-new-take")
        with gr.Column(scale=1):
            with gr.Row():
                preview_btn = gr.Button("▶ Preview", variant="secondary")
                export_btn = gr.Button("⬇ Export video", variant="primary")
                cancel_btn = gr.Button("✖ Cancel", variant="stop")
            video = gr.Video(label="Video", autoplay=True, height=420, elem_id="studio-video")
            status = gr.Markdown(
                "Ready. Preview plays the first sentence at low resolution within moments, then the "
                "rest; Export renders at full quality in the background queue.",
                elem_id="studio-status",
            )
            queue_md = gr.Markdown("No exports yet.", elem_id="export-queue")
            with gr.Row():
                job_pick = gr.Dropdown(
                    [],
                    label="Queued or running export",
                    scale=3,
                    elem_id="export-pick",
                    info="pick one to stop it; the others carry on",
                )
                stop_job_btn = gr.Button("Stop this export", scale=1, elem_id="export-stop")
            files = gr.File(label="Downloads (MP4, subtitles, manifest)", file_count="multiple")
            saved_to = copyable_path("Saved to (full path)", elem_id="export-path")
            exports_md = gr.Markdown(elem_id="export-list")
    shown = gr.State(0)  # id of the last finished export shown in the player
    pending = gr.State(())  # ids of the unfinished exports offered in job_pick
    timer = gr.Timer(POLL_S)

    inputs = [avatar, upload, voice, script, emotion, preset, subtitles, burn, watermark, take, emotion_strength, seed]
    inputs += sliders
    inputs += [animator]  # after the sliders: request_for splits it off the slider values

    def request_for(
        avatar_v,
        upload_v,
        voice_v,
        script_v,
        emotion_v,
        preset_v,
        subs_v,
        burn_v,
        mark_v,
        take_v,
        strength_v,
        seed_v,
        *anim,
    ):
        """The render request from the tab's input values, in the order of ``inputs``."""
        anim, animator_v = anim[: len(names)], (anim[len(names)] if len(anim) > len(names) else None)
        request = jobs.make_request(
            studio,
            avatar=None if avatar_v in (None, DEMO) else avatar_v,
            photo=upload_v,
            voice=None if voice_v in (None, DEFAULT_VOICE) else voice_v,
            script=script_v or "",
            emotion=emotion_v,
            preset=preset_v,
            subtitles=bool(subs_v),
            burn_subtitles=bool(burn_v),
            watermark=bool(mark_v),
            animation=settings_from(names, list(anim), seed_v),
            take=int(take_v or 0),
            emotion_strength=1.0 if strength_v is None else float(strength_v),
        )
        return replace(request, animator=animator_v or "procedural")

    # One preview at a time per studio (a local, single-user app), so Cancel needs no session.
    preview_cancel = threading.Event()

    def do_preview(*values):
        cancel = preview_cancel
        cancel.clear()
        try:
            req = request_for(*values)
            for update in jobs.preview_stream(studio, req, cancel):
                if update.result is not None:
                    yield str(update.video), jobs.summary_markdown(update.result)
                elif update.video is not None:
                    yield str(update.video), update.message
                else:
                    yield gr.update(), update.message
        except CancelledError:
            yield gr.update(), "Preview cancelled."
        except StudioError as exc:
            yield gr.update(), _error(exc)

    def do_export(*values):
        try:
            req = request_for(*values)
            RenderJob(studio, req).check()  # bad input is reported now, not when the job starts
        except StudioError as exc:
            return _error(exc), queue_markdown()
        job = queue.submit(req, label=req.out.name)
        return f"Export #{job.id} queued: {req.out}. Keep working; progress shows below.", queue_markdown()

    def queue_markdown() -> str:
        rows = [j for j in queue.jobs()][-8:]
        if not rows:
            return "No exports yet."
        return "**Exports**\n\n" + "\n".join(f"- {j.describe()}" for j in reversed(rows))

    def pick_update(offered: tuple):
        """The stop list, changed only when the set of unfinished exports did (not under the user's cursor)."""
        unfinished = [j for j in queue.jobs() if not j.is_finished]
        ids = tuple(j.id for j in unfinished)
        if ids == tuple(offered):
            return gr.update(), offered
        return gr.update(choices=[(f"#{j.id} {j.label}", j.id) for j in unfinished], value=None), ids

    def poll(last_shown: int, offered: tuple):
        pick, offered = pick_update(offered)
        done = [j for j in queue.jobs() if j.state == "done" and j.result is not None and j.id > last_shown]
        if not done:
            return queue_markdown(), gr.update(), gr.update(), gr.update(), last_shown, pick, offered, gr.update()
        job = done[-1]
        return (
            queue_markdown(),
            str(job.result.video),
            jobs.summary_markdown(job.result),
            [str(p) for p in job.result.all_files()],
            job.id,
            pick,
            offered,
            str(job.result.video.resolve()),
        )

    def do_stop_job(job_id):
        if job_id is None:
            return _error("pick the export to stop first"), queue_markdown()
        if not queue.cancel(int(job_id)):
            return f"Export #{job_id} had already finished.", queue_markdown()
        return f"Stopping export #{job_id}… the other exports carry on.", queue_markdown()

    def do_cancel():
        preview_cancel.set()
        unfinished = [j for j in queue.jobs() if not j.is_finished]
        if unfinished:
            queue.cancel(unfinished[-1].id)
            return (
                f"Cancelling export #{unfinished[-1].id}… the current frame finishes, then it stops. "
                "Earlier exports are untouched."
            ), queue_markdown()
        return "Cancelled the preview.", queue_markdown()

    preview_event = preview_btn.click(do_preview, inputs, [video, status])
    export_btn.click(do_export, inputs, [status, queue_md], queue=False)
    cancel_btn.click(do_cancel, None, [status, queue_md], queue=False, cancels=[preview_event])
    stop_job_btn.click(do_stop_job, job_pick, [status, queue_md], queue=False)
    timer.tick(
        poll,
        [shown, pending],
        [queue_md, video, status, files, shown, job_pick, pending, saved_to],
        queue=False,
        show_progress="hidden",
    )
    new_take_btn.click(lambda t: int(t or 0) + 1, take, take, queue=False)
    lists = saved_lists()  # read on page load and after any save, rename or delete in any tab
    lists.choices(avatar, lambda: _avatars(studio)[1:], default=DEMO)
    lists.choices(voice, lambda: _voices(studio)[1:], default=DEFAULT_VOICE)
    lists.add(queue_md, lambda _current: queue_markdown())
    lists.add(exports_md, lambda _current: jobs.exports_markdown(studio))
    saved_to.change(lambda _path: jobs.exports_markdown(studio), saved_to, exports_md, queue=False)

    notes: dict[tuple[str, int], str] = {}  # (photo, its mtime) -> note: the face is found once per photo

    def framing_note(avatar_v, upload_v, _preset_v) -> str:
        from studio.portrait.checks import sharp_framing_note

        try:
            path = Path(jobs.portrait_path(studio, None if avatar_v in (None, DEMO) else avatar_v, upload_v))
            key = (str(path), path.stat().st_mtime_ns)
            if key not in notes:
                notes[key] = sharp_framing_note(path, studio.face(), load_output_presets())
            return notes[key]
        except (StudioError, OSError):
            return ""  # an unreadable photo gets its error when rendering

    for source in (avatar, upload, preset):
        source.change(framing_note, [avatar, upload, preset], framing_md, queue=False, show_progress="hidden")
    lists.loaded(framing_md, lambda: framing_note(DEMO, None, None))  # on page load: the demo portrait's
    refresh.click(
        lambda: (gr.update(choices=_avatars(studio)), gr.update(choices=_voices(studio))), None, [avatar, voice]
    )
