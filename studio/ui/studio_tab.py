"""Studio tab: pick portrait, voice and script, preview the first sentence, export the video."""

from __future__ import annotations

import threading
import gradio as gr

from engines.animate.base import AnimationSettings
from studio import jobs
from studio.config import load_output_presets
from studio.errors import StudioError
from studio.script import EMOTIONS
from studio.services import Studio

DEFAULT_SCRIPT = "[happy] Hello! Welcome to Avatar Studio. [pause 0.3s] [neutral] I was made from a single photo, on this computer."

_cancel: dict[str, threading.Event] = {}


def _voices(studio: Studio) -> list[str]:
    try:
        from studio.voices import VoiceLibrary
    except ImportError:
        return ["(default voice)"]
    return ["(default voice)"] + [v.name for v in VoiceLibrary(studio.paths).list()]


def _avatars(studio: Studio) -> list[str]:
    try:
        from studio.avatars import AvatarLibrary
    except ImportError:
        return ["(demo portrait)"]
    return ["(demo portrait)"] + [a.name for a in AvatarLibrary(studio.paths).list()]


def build(studio: Studio) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            avatar = gr.Dropdown(_avatars(studio), value="(demo portrait)", label="Avatar",
                                 info="a saved avatar (Portrait tab) or the demo portrait")
            upload = gr.Image(type="filepath", label="…or use a photo just for this video", height=200)
            voice = gr.Dropdown(_voices(studio), value="(default voice)", label="Voice",
                                info="voice profiles come from the Voice tab")
            refresh = gr.Button("↻ Refresh avatars and voices", size="sm")
            script = gr.Textbox(DEFAULT_SCRIPT, lines=6, label="Script",
                                info="[happy] [sad] [angry] [surprised] [neutral] set the mood; [pause 0.5s] adds silence")
            with gr.Row():
                emotion = gr.Dropdown(list(EMOTIONS), value="neutral", label="Starting emotion")
                presets = load_output_presets()
                preset = gr.Dropdown([(f"{p.name} — {p.description}", p.name) for p in presets.values() if p.name != "preview"],
                                     value="512", label="Output")
            subtitles = gr.Checkbox(True, label="Write subtitles (.srt / .vtt)")
            burn = gr.Checkbox(False, label="Burn subtitles into the video")
            with gr.Accordion("Animation controls", open=False):
                lip = gr.Slider(0.3, 2.0, 1.0, step=0.05, label="Lip amplitude", info="how wide the mouth opens")
                expr = gr.Slider(0.0, 2.0, 1.0, step=0.05, label="Expression strength", info="how strongly emotions show on the face")
                head = gr.Slider(0.0, 2.0, 1.0, step=0.05, label="Head motion", info="sway and nods; 0 keeps the head still")
                blink = gr.Slider(0.0, 3.0, 1.0, step=0.1, label="Blink rate", info="1 = about one blink every 4 seconds")
                smooth = gr.Slider(0.0, 1.0, 0.5, step=0.05, label="Smoothing", info="softens fast mouth movements")
                offset = gr.Slider(-200, 200, 0, step=10, label="Audio-video offset (ms)", info="positive shows the mouth later than the sound")
                crop = gr.Slider(1.2, 3.0, 1.8, step=0.05, label="Crop expand", info="how much room around the face (more = smaller face)")
                seed = gr.Number(0, precision=0, label="Seed", info="same seed, same blinks and head motion")
        with gr.Column(scale=1):
            with gr.Row():
                preview_btn = gr.Button("▶ Preview first sentence", variant="secondary")
                export_btn = gr.Button("⬇ Export video", variant="primary")
                cancel_btn = gr.Button("✖ Cancel", variant="stop")
            video = gr.Video(label="Video", autoplay=True, height=420)
            status = gr.Markdown("Ready. Preview renders the first sentence at low resolution; Export renders everything.")
            files = gr.File(label="Downloads (MP4, subtitles, manifest)", file_count="multiple")

    controls = [avatar, upload, voice, script, emotion, preset, subtitles, burn, lip, expr, head, blink, smooth, offset, crop, seed]

    def settings(lip_v, expr_v, head_v, blink_v, smooth_v, offset_v, crop_v, seed_v) -> AnimationSettings:
        return AnimationSettings(lip_amplitude=lip_v, expression_strength=expr_v, head_motion=head_v, blink_rate=blink_v,
                                 smoothing=smooth_v, av_offset_ms=offset_v, crop_expand=crop_v, seed=int(seed_v or 0))

    def run(preview: bool, avatar_v, upload_v, voice_v, script_v, emotion_v, preset_v, subs_v, burn_v, *anim,
            request: gr.Request, progress=gr.Progress()):
        cancel = _cancel.setdefault(getattr(request, "session_hash", "") or "local", threading.Event())
        cancel.clear()
        try:
            result = jobs.render_for_ui(
                studio, avatar=None if avatar_v == "(demo portrait)" else avatar_v, photo=upload_v,
                voice=None if voice_v in (None, "(default voice)") else voice_v, script=script_v,
                emotion=emotion_v, preset="preview" if preview else preset_v, subtitles=subs_v and not preview,
                burn_subtitles=burn_v, animation=settings(*anim), preview=preview,
                progress=lambda f, m: progress(f, desc=m), cancel=cancel,
            )
        except StudioError as exc:
            return None, f"<span class='error-line'>error: {exc}</span>", None
        return str(result.video), jobs.summary_markdown(result), [str(p) for p in result.all_files()]

    # Explicit parameters: Gradio maps inputs and injects Request/Progress by signature.
    def do_preview(avatar_v, upload_v, voice_v, script_v, emotion_v, preset_v, subs_v, burn_v, lip_v, expr_v, head_v,
                   blink_v, smooth_v, offset_v, crop_v, seed_v, request: gr.Request, progress=gr.Progress()):
        return run(True, avatar_v, upload_v, voice_v, script_v, emotion_v, preset_v, subs_v, burn_v, lip_v, expr_v,
                   head_v, blink_v, smooth_v, offset_v, crop_v, seed_v, request=request, progress=progress)

    def do_export(avatar_v, upload_v, voice_v, script_v, emotion_v, preset_v, subs_v, burn_v, lip_v, expr_v, head_v,
                  blink_v, smooth_v, offset_v, crop_v, seed_v, request: gr.Request, progress=gr.Progress()):
        return run(False, avatar_v, upload_v, voice_v, script_v, emotion_v, preset_v, subs_v, burn_v, lip_v, expr_v,
                   head_v, blink_v, smooth_v, offset_v, crop_v, seed_v, request=request, progress=progress)

    def do_cancel(request: gr.Request):
        _cancel.setdefault(getattr(request, "session_hash", "") or "local", threading.Event()).set()
        return "Cancelling… the current frame finishes, then the render stops. Earlier exports are untouched."

    preview_btn.click(do_preview, controls, [video, status, files])
    export_btn.click(do_export, controls, [video, status, files])
    cancel_btn.click(do_cancel, None, status, queue=False)
    refresh.click(lambda: (gr.update(choices=_avatars(studio)), gr.update(choices=_voices(studio))), None, [avatar, voice])
