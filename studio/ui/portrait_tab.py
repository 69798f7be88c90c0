"""Portrait tab: upload a photo, see it annotated with a traffic light per check, save it as an
avatar, and manage the avatar gallery."""

from __future__ import annotations

import html

import gradio as gr

from studio.errors import StudioError
from studio.portrait.avatars import DEFAULT_EXPAND, EXPAND_RANGE, AvatarLibrary
from studio.portrait.checks import FAIL, PASS, REJECTED, USABLE, WARN, PortraitReport, draw_report
from studio.portrait.faces import FACE_BACKENDS
from studio.render import gate
from studio.safety import check_image_upload
from studio.services import Studio
from studio.ui.widgets import error_html as _error
from studio.ui.widgets import manage_controls, saved_lists

# Text marks in the traffic-light colours (no emoji: they show as empty boxes without an emoji font).
LIGHTS = {PASS: ("OK", "#1e8e3e"), WARN: ("WARN", "#b06000"), FAIL: ("FAIL", "#d93025")}
SKIPPED = ("-", "#666")
VERDICT_COLOURS = {USABLE: "#1e8e3e", REJECTED: "#d93025"}


def checks_html(report: PortraitReport) -> str:
    """The verdict and one traffic-light row per check: what was measured, and what to change."""
    colour = VERDICT_COLOURS.get(report.verdict, "#b06000")
    rows = []
    for c in report.checks:
        mark, mark_colour = LIGHTS.get(c.status, SKIPPED)
        light = f"<span class='check-mark' style='color:{mark_colour};font-weight:700'>{mark}</span>"
        advice = f"<br><i>{html.escape(c.advice)}</i>" if c.advice else ""
        rows.append(
            f"<tr><td>{light}</td><td><b>{html.escape(c.label)}</b></td>"
            f"<td>{html.escape(c.message)}{advice}</td>"
            f"<td style='color:#666;font-size:0.85em'>{html.escape(c.threshold)}</td></tr>"
        )
    what = ""
    if report.verdict == REJECTED:
        fixes = [c.advice for c in report.problems if c.status == FAIL and c.advice]
        what = (
            "<p><b>What to change:</b></p><ul>"
            + "".join(f"<li>{html.escape(a)}</li>" for a in dict.fromkeys(fixes))
            + "</ul>"
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    return (
        f"<p id='portrait-verdict' style='color:{colour};font-weight:600;font-size:1.15em'>"
        f"Verdict: {html.escape(report.verdict)}</p><p>{html.escape(report.summary())}</p>{what}"
        "<table style='width:100%'><tr><th></th><th>check</th><th>result</th><th>threshold</th></tr>"
        + "".join(rows)
        + "</table>"
        + (f"<p style='color:#666'>Notes:</p><ul style='color:#666'>{notes}</ul>" if notes else "")
        + f"<p style='color:#666;font-size:0.85em'>Checked in {report.seconds:.2f} s "
        f"with {html.escape(report.backend)} "
        "landmarks.</p>"
    )


def build(studio: Studio) -> None:
    def library(backend: str = FACE_BACKENDS[0]) -> AvatarLibrary:
        return AvatarLibrary(studio.paths, studio=studio, face_backend=backend)

    def gallery_items():
        return [(str(a.thumbnail), a.name) for a in library().list() if a.thumbnail.is_file()]

    def avatar_names():
        return library().names()

    gr.Markdown(
        "Upload a **clear, front-facing photo of one person**. Every photo is checked before it "
        "becomes an avatar: one face, its size, head pose, sharpness, light and whether the "
        "landmarks fit. **OK** good · **WARN** usable, but check the advice · **FAIL** must be fixed."
    )
    checked = gr.State(None)  # (photo path, PortraitReport) of the last check
    with gr.Row():
        with gr.Column(scale=2):
            photo = gr.File(
                label="Portrait photo (JPEG, PNG or WebP)",
                file_count="single",
                type="filepath",
                file_types=[".png", ".jpg", ".jpeg", ".webp"],
                elem_id="portrait-upload",
            )
            backend = gr.Radio(
                list(FACE_BACKENDS),
                value=FACE_BACKENDS[0],
                label="Landmarks",
                info="dlib68 is built in; FAN is stronger and is downloaded in the Models tab",
            )
            check_btn = gr.Button("Check photo", variant="secondary")
            annotated = gr.Image(label="Face box and landmarks", interactive=False, elem_id="portrait-annotated")
        with gr.Column(scale=3):
            report_box = gr.HTML("<p>The quality report appears here.</p>", elem_id="portrait-report")
            with gr.Row():
                name = gr.Textbox(label="Avatar name", placeholder="e.g. Me in the office", scale=3)
                expand = gr.Slider(
                    *EXPAND_RANGE,
                    value=DEFAULT_EXPAND,
                    step=0.1,
                    scale=2,
                    label="Crop expand ratio",
                    info="space around the face kept for head motion, in face sizes",
                )
            save_btn = gr.Button("Save as avatar", variant="primary")
            save_status = gr.HTML()

    gr.Markdown("### Avatars")
    gallery = gr.Gallery(
        gallery_items(),
        label="Saved avatars",
        columns=6,
        height=220,
        allow_preview=False,
        preview=False,
        fit_columns=False,
        object_fit="contain",
        elem_id="portrait-gallery",
    )
    manage = manage_controls(lambda: gr.Dropdown(avatar_names(), label="Avatar", value=None, scale=3))
    chosen, new_name, rename_btn, delete_btn = manage.picked, manage.new_name, manage.rename_btn, manage.delete_btn
    confirm_row, confirm_text, confirm_btn, cancel_btn = (
        manage.confirm_row,
        manage.confirm_text,
        manage.confirm_btn,
        manage.cancel_btn,
    )
    manage_status = manage.status

    # -- callbacks: a few lines each; the work is in studio.portrait and studio.avatars --
    def do_check(path, engine, progress=gr.Progress()):
        if not path:
            return None, "<p>The quality report appears here.</p>", None, ""
        progress(0.1, desc="finding the face")
        try:
            check_image_upload(path)
            photo_, report = library(engine).check_photo(path)
        except StudioError as exc:
            return None, _error(exc), None, ""
        gate.remember(studio.paths.cache, photo_, report, engine)  # a render of this photo need not check again
        return draw_report(photo_.image, report), checks_html(report), (path, report), ""

    def do_save(path, state, engine, avatar_name, ratio):
        if not path:
            return _error("upload a photo first"), gr.update(), gr.update()
        report = state[1] if state and state[0] == path else None
        try:
            check_image_upload(path)
            avatar = library(engine).add(avatar_name, path, report=report, expand=ratio)
        except StudioError as exc:
            return _error(exc), gr.update(), gr.update()
        msg = f"<p style='color:#1e8e3e'>Saved avatar <b>{html.escape(avatar.name)}</b>.</p>"
        return msg, gallery_items(), gr.update(choices=avatar_names(), value=avatar.name)

    def pick(evt: gr.SelectData):
        return gr.update(value=evt.value["caption"] if isinstance(evt.value, dict) else None)

    def do_rename(old, new):
        try:
            avatar = library().rename(old, new) if old else None
        except StudioError as exc:
            return _error(exc), gr.update(), gr.update()
        if avatar is None:
            return _error("choose an avatar first"), gr.update(), gr.update()
        return (
            f"<p>Renamed to {html.escape(avatar.name)}.</p>",
            gallery_items(),
            gr.update(choices=avatar_names(), value=avatar.name),
        )

    def ask_delete(avatar_name):
        if not avatar_name:
            return gr.update(visible=False), "", _error("choose an avatar first")
        return gr.update(visible=True), f"Delete the avatar **{avatar_name}** and its photo for good?", ""

    def do_delete(avatar_name):
        try:
            library().remove(avatar_name)
        except StudioError as exc:
            return gr.update(visible=False), _error(exc), gr.update(), gr.update()
        return (
            gr.update(visible=False),
            f"<p>Deleted {html.escape(avatar_name)}.</p>",
            gallery_items(),
            gr.update(choices=avatar_names(), value=None),
        )

    lists = saved_lists()
    lists.add(gallery, lambda _current: gallery_items())
    lists.choices(chosen, avatar_names)
    photo.upload(do_check, [photo, backend], [annotated, report_box, checked, save_status])
    check_btn.click(do_check, [photo, backend], [annotated, report_box, checked, save_status])
    saved = save_btn.click(do_save, [photo, checked, backend, name, expand], [save_status, gallery, chosen])
    gallery.select(pick, None, chosen)
    renamed = rename_btn.click(do_rename, [chosen, new_name], [manage_status, gallery, chosen])
    delete_btn.click(ask_delete, [chosen], [confirm_row, confirm_text, manage_status])
    deleted = confirm_btn.click(do_delete, [chosen], [confirm_row, manage_status, gallery, chosen])
    lists.changed(saved, renamed, deleted)
    cancel_btn.click(lambda: gr.update(visible=False), None, confirm_row)
