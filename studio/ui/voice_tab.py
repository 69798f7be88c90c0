"""Voice tab: record or upload, check the quality report, save, manage voices, try a voice."""

from __future__ import annotations

import html

import gradio as gr

from engines.emotions import MAX_STRENGTH, MIN_STRENGTH
from studio import models
from studio.errors import StudioError
from studio.safety import check_audio_upload
from studio.services import Studio
from studio.ui.widgets import error_html as _error
from studio.ui.widgets import manage_controls, saved_lists
from studio.voice.profiles import VoiceLibrary
from studio.voice.recording import RecordingReport
from studio.voice.speakers import EMOTIONS, say
from studio.voice.xtts_setup import enable_xtts, xtts_status

# The Engine choice in "Say this" -> speaker_for's engine.
ENGINES = {"Voice match": "match", "OpenVoice V2": "openvoice", "XTTS-v2 clone": "xtts"}
LIGHTS = {"ok": ("#1e8e3e", "good"), "warn": ("#f29900", "check"), "reject": ("#d93025", "problem")}


def report_html(report: RecordingReport) -> str:
    """The report as a traffic-light table with advice."""
    rows = []
    for r in report.rows:
        colour, word = LIGHTS[r.status]
        rows.append(
            f"<tr><td><span style='color:{colour};font-size:1.3em'>&#9679;</span> {word}</td>"
            f"<td><b>{html.escape(r.label)}</b></td><td>{html.escape(r.value)}</td>"
            f"<td>{html.escape(r.advice)}</td></tr>"
        )
    verdict_colour = {"good": "#1e8e3e", "usable": "#f29900", "rejected": "#d93025"}[report.verdict]
    return (
        f"<p style='color:{verdict_colour};font-weight:600'>{html.escape(report.summary())}</p>"
        "<table style='width:100%'><tr><th></th><th>check</th><th>measured</th><th>advice</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def similarity_html(profile) -> str:
    """How much the voice match sounds like the recording, next to the default voice and the same person."""
    nums = profile.similarity_numbers()
    if nums is None:
        return ""
    rows = "".join(
        f"<tr><td>{label}</td><td><b>{value:.2f}</b></td></tr>"
        for label, value in (
            ("a test sentence in this voice (voice match)", nums["test"]),
            ("the same sentence in the studio's default voice", nums["default"]),
            ("the same person, another recording (typical)", nums["same_person"]),
        )
    )
    matched = "; ".join(
        f"{html.escape(r['part'])}: {html.escape(r['value'])}" for r in profile.settings.get("matched", [])
    )
    return (
        "<div id='voice-similarity'><p>Similarity to the recording (speaker-recognition model, resemblyzer; "
        "1.0 = identical):</p>"
        f"<table>{rows}</table><p><i>What it means: {html.escape(nums['meaning'])}.</i></p>"
        + (f"<p>Matched: {matched}.</p>" if matched else "")
        + "</div>"
    )


def build(studio: Studio) -> None:
    lib = VoiceLibrary(studio.paths, studio=studio)

    def voice_names() -> list[str]:
        return [p.name for p in lib.list()]

    gr.Markdown(
        "Read any text aloud for **about a minute** in a quiet room, then check and save it as a voice. "
        "The studio's own voice is then *matched* toward yours (pitch, speaking rate and timbre) — "
        "that is **voice match, not a full clone**. For a neural clone, download the OpenVoice V2 converter "
        "below (MIT license; used for every voice once downloaded), or XTTS-v2 (non-commercial license)."
    )
    checked = gr.State(None)  # (audio path, RecordingReport) of the last check
    with gr.Row():
        with gr.Column(scale=3):
            audio = gr.Audio(
                sources=["microphone", "upload"], type="filepath", label="Your recording (about 60 s of speech)"
            )
            check_btn = gr.Button("Check recording", variant="secondary")
        with gr.Column(scale=4):
            report_box = gr.HTML("<p>The quality report appears here.</p>")
            transcript = gr.Textbox(
                label="What the studio heard (check it matches what you said)", interactive=False, lines=3
            )
    with gr.Row():
        name = gr.Textbox(label="Voice name", placeholder="e.g. My narration voice", scale=3)
        denoise = gr.Radio(
            ["Auto", "On", "Off"],
            value="Auto",
            label="Noise removal",
            scale=2,
            info="Auto cleans noisy recordings only; the original file is always kept",
        )
        save_btn = gr.Button("Save voice", variant="primary", scale=1)
    save_status = gr.HTML()

    gr.Markdown("### Saved voices")
    with gr.Row():
        voices = gr.Dropdown(voice_names(), label="Voice", value=None, scale=3)
        refresh_btn = gr.Button("Refresh", scale=1)
    voice_info = gr.Markdown()
    manage = manage_controls()
    new_name, rename_btn, delete_btn = manage.new_name, manage.rename_btn, manage.delete_btn
    confirm_row, confirm_text, confirm_btn, cancel_btn = (
        manage.confirm_row,
        manage.confirm_text,
        manage.confirm_btn,
        manage.cancel_btn,
    )
    manage_status = manage.status

    gr.Markdown("### Say this")
    with gr.Row():
        say_text = gr.Textbox(value="Hi, this is a quick test of my voice in the studio.", label="Sentence", scale=4)
        emotion = gr.Dropdown(list(EMOTIONS), value="neutral", label="Emotion", scale=1)
        engine = gr.Radio(list(ENGINES), value="Voice match", label="Engine", scale=2)
    say_btn = gr.Button("Say it")
    with gr.Row(elem_id="hear-emotions"):
        # the same sentence in each emotion, with the chosen voice and engine
        hear_btns = {e: gr.Button(f"▶ hear it {e}", size="sm", elem_id=f"hear-{e}") for e in EMOTIONS}
        strength = gr.Slider(
            MIN_STRENGTH, MAX_STRENGTH, value=1.0, step=0.05, label="Emotion strength", elem_id="say-strength"
        )
    with gr.Row():
        say_audio = gr.Audio(label="Preview", type="numpy", interactive=False, autoplay=True)
        say_info = gr.Markdown()

    with gr.Accordion("Clone with OpenVoice V2 (download, MIT license; preferred when downloaded)", open=False):
        ov = models.entry("openvoice-v2-converter")
        gr.Markdown(
            f"**{ov.title}.** License: **{ov.license}**. Commercial use: {ov.commercial_use}. "
            f"Download about {ov.size_mb:.0f} MB with `python app.py models fetch {ov.name}` or the Models & "
            "Engines tab. Once downloaded, every saved voice speaks through it (the studio's own speech, "
            "converted into your tone colour: lips, subtitles and emotions keep their timing)."
        )
    with gr.Accordion("Clone with XTTS-v2 (download, non-commercial license)", open=False):
        entry = models.entry("xtts-v2")
        gr.Markdown(
            f"**{entry.title}.** License: **{entry.license}**. Commercial use: {entry.commercial_use}. "
            f"Download about {entry.size_mb / 1000:.1f} GB, plus its own Python environment "
            "(`./launch.sh xtts`, about 5.6 GB). Slow on a CPU (several seconds per sentence). "
            "The recording is turned into voice latents once and cached with the voice."
        )
        xtts_info = gr.Markdown()
        accept = gr.Checkbox(
            False,
            label="I have read the Coqui Public Model License and will use XTTS-v2 for non-commercial purposes only",
        )
        clone_btn = gr.Button("Clone the selected voice with XTTS-v2")
        clone_status = gr.HTML()

    # -- callbacks: a few lines each, the work is in studio.voices --
    def do_check(path, progress=gr.Progress()):
        if not path:
            return _error("record or upload a recording first"), "", None
        try:
            check_audio_upload(path)
            report = lib.report(path, progress=lambda f, m: progress(f, desc=m))
        except StudioError as exc:
            return _error(exc), "", None
        note = f" …\n({report.transcript_note})" if report.transcript_note and report.transcript else ""
        return report_html(report), (report.transcript + note).strip(), (path, report)

    def do_save(path, state, voice_name, noise, progress=gr.Progress()):
        if not path:
            return _error("record or upload a recording first"), gr.update()
        report = state[1] if state and state[0] == path else None
        choice = {"Auto": None, "On": True, "Off": False}[noise]
        try:
            check_audio_upload(path)
            profile = lib.add(
                voice_name, path, denoise=choice, report=report, progress=lambda f, m: progress(f, desc=m)
            )
        except StudioError as exc:
            return _error(exc), gr.update()
        msg = f"<p style='color:#1e8e3e'>Saved <b>{html.escape(profile.name)}</b>.</p>" + similarity_html(profile)
        return msg, gr.update(choices=voice_names(), value=profile.name)

    def show_voice(voice_name):
        if not voice_name:
            return "", xtts_text(None)
        try:
            p = lib.load(voice_name)
        except StudioError as exc:
            return _error(exc), xtts_text(None)
        return p.summary() + "\n\n" + similarity_html(p), xtts_text(p)

    def xtts_text(profile) -> str:
        st = xtts_status(studio.paths)
        parts = [
            "environment: " + ("installed" if st.python else "not installed (`./launch.sh xtts`)"),
            "model: " + ("downloaded" if st.model_dir else "not downloaded"),
        ]
        if profile is not None:
            if profile.has_xtts:
                parts.append(f"{profile.name}: latents cached" + (", clone ready" if st.ready else ""))
            else:
                parts.append(f"{profile.name}: not cloned yet")
        return "Status — " + "; ".join(parts)

    def ask_delete(voice_name):
        if not voice_name:
            return gr.update(visible=False), "", _error("choose a voice first")
        return gr.update(visible=True), f"Delete **{voice_name}** and its recording for good?", ""

    def do_delete(voice_name):
        try:
            lib.remove(voice_name)
        except StudioError as exc:
            return gr.update(visible=False), _error(exc), gr.update()
        return (
            gr.update(visible=False),
            f"<p>Deleted {html.escape(voice_name)}.</p>",
            gr.update(choices=voice_names(), value=None),
        )

    def do_rename(voice_name, new):
        try:
            p = lib.rename(voice_name, new)
        except StudioError as exc:
            return _error(exc), gr.update()
        return f"<p>Renamed to {html.escape(p.name)}.</p>", gr.update(choices=voice_names(), value=p.name)

    def do_say(voice_name, text, emo, eng, k=1.0):
        k = 1.0 if k is None else float(k)
        try:
            result = say(
                studio,
                voice_name or None,
                text,
                emotion=emo,
                strength=k,
                engine=ENGINES.get(eng, "match"),
            )
        except StudioError as exc:
            return None, _error(exc)
        sim = "" if result.similarity is None else f" — similarity to your recording: **{result.similarity:.2f}**"
        mood = "" if emo == "neutral" else f" — {emo}" + ("" if k == 1.0 else f" {k:g}")
        return (result.speech.sample_rate, result.speech.audio), f"{result.description}{mood}{sim}"

    def hear(emo: str):
        return lambda voice_name, text, eng, k: do_say(voice_name, text, emo, eng, k)

    def do_clone(voice_name, ok, progress=gr.Progress()):
        if not voice_name:
            return _error("choose a saved voice first"), ""
        try:
            p = enable_xtts(studio, voice_name, accept_license=ok, progress=lambda f, m: progress(f, desc=m))
        except StudioError as exc:
            return _error(exc), xtts_text(None)
        return f"<p>XTTS-v2 clone of {html.escape(p.name)} is ready.</p>", xtts_text(p)

    check_btn.click(do_check, [audio], [report_box, transcript, checked])
    saved = save_btn.click(do_save, [audio, checked, name, denoise], [save_status, voices])
    refresh_btn.click(lambda: gr.update(choices=voice_names()), None, voices)
    voices.change(show_voice, [voices], [voice_info, xtts_info])
    renamed = rename_btn.click(do_rename, [voices, new_name], [manage_status, voices])
    delete_btn.click(ask_delete, [voices], [confirm_row, confirm_text, manage_status])
    deleted = confirm_btn.click(do_delete, [voices], [confirm_row, manage_status, voices])
    saved_lists().choices(voices, voice_names)  # read on page load and after changes in any tab
    saved_lists().changed(saved, renamed, deleted)
    cancel_btn.click(lambda: gr.update(visible=False), None, confirm_row)
    say_btn.click(do_say, [voices, say_text, emotion, engine, strength], [say_audio, say_info])
    for emo, btn in hear_btns.items():
        btn.click(hear(emo), [voices, say_text, engine, strength], [say_audio, say_info])
    clone_btn.click(do_clone, [voices, accept], [clone_status, xtts_info])
