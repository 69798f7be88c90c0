"""Models & Engines tab: every model with license and source, downloads, checks, engine cache."""

from __future__ import annotations

import gradio as gr

from studio import models
from studio.errors import StudioError
from studio.services import Studio

HEADERS = ["model", "role", "state", "size (MB)", "license", "commercial use", "sources", "tested with real weights"]


def model_rows(studio: Studio) -> list[list[str]]:
    rows = []
    for e in models.catalog().values():
        st = models.status(e, studio.paths)
        rows.append([e.name, e.role, st.state, f"{e.size_mb:.0f}", e.license, e.commercial_use,
                     ", ".join(s["kind"] for s in e.sources),
                     "yes" if e.verified_with_real_weights else "no — code path tested with random weights only"])
    return rows


def engine_rows(studio: Studio) -> list[list[str]]:
    return [[r["folder"], f"{r['bytes'] / 1e6:.1f}", (r.get("key") or {}).get("gpu_name", "?"),
             (r.get("key") or {}).get("precision", "?"), (r.get("key") or {}).get("profile", "?")]
            for r in studio.sessions.cache.entries()]


def build(studio: Studio) -> None:
    gr.Markdown("Embedded models ship with the studio and work offline. Larger models download on demand; "
                "their license is shown first. Models marked *random weights only* have working code that was "
                "tested without the real weights.")
    table = gr.Dataframe(model_rows(studio), headers=HEADERS, interactive=False, wrap=True)
    with gr.Row():
        name = gr.Dropdown([e for e in models.catalog()], label="Model")
        accept = gr.Checkbox(False, label="I have read and accept this model's license")
    license_box = gr.Markdown()
    with gr.Row():
        fetch_btn = gr.Button("Download / prepare")
        verify_btn = gr.Button("Verify checksums")
    status = gr.Markdown()
    gr.Markdown("### Compiled engines (TensorRT cache)")
    engines = gr.Dataframe(engine_rows(studio), headers=["folder", "MB", "GPU", "precision", "shape profile"],
                           interactive=False)
    clear_btn = gr.Button("Clear engine cache", variant="stop")

    def show_license(n):
        if not n:
            return ""
        e = models.entry(n)
        return f"**{e.title}** — license: {e.license}; commercial use: {e.commercial_use}; {e.size_mb:.0f} MB."

    def fetch(n, ok, progress=gr.Progress()):
        if not n:
            return "<span class='error-line'>error: choose a model first</span>", gr.update()
        try:
            path = models.fetch(n, studio.paths, accept_license=ok, progress=lambda f, m: progress(f, desc=m))
        except StudioError as exc:
            return f"<span class='error-line'>error: {exc}</span>", gr.update()
        return f"✅ {n} is ready at `{path}`", model_rows(studio)

    def verify(progress=gr.Progress()):
        rows = models.verify(studio.paths, progress=lambda f, m: progress(f, desc=m))
        marks = {True: "✅", False: "❌", None: "–"}
        return "\n".join(f"- {marks[r['ok']]} **{r['name']}**: {r['state']} — {r['detail']}" for r in rows)

    def clear():
        n = studio.sessions.cache.clear()
        return f"Removed {n} cached engine(s); they are rebuilt on next use.", engine_rows(studio)

    name.change(show_license, name, license_box)
    fetch_btn.click(fetch, [name, accept], [status, table])
    verify_btn.click(verify, None, status)
    clear_btn.click(clear, None, [status, engines])
