"""Models & Engines tab: every model with license and source, downloads, checks, engine cache."""

from __future__ import annotations

import contextlib
from typing import Any

import gradio as gr

from studio import models
from studio.errors import StudioError
from studio.services import Studio
from studio.ui.widgets import error_html as _error

HEADERS = ["model", "role", "state", "size (MB)", "license", "commercial use", "sources", "tested with real weights"]


def model_rows(studio: Studio) -> list[list[str]]:
    rows = []
    for e in models.catalog().values():
        st = models.status(e, studio.paths)
        rows.append(
            [
                e.name,
                e.role,
                st.state,
                f"{e.size_mb:.0f}",
                e.license,
                e.commercial_use,
                ", ".join(s["kind"] for s in e.sources),
                "yes" if e.verified_with_real_weights else "no — code path tested with random weights only",
            ]
        )
    return rows


def _cache_rows(studio: Studio) -> list[dict[str, Any]]:
    from engines.animate.neural.status import cache_rows

    return cache_rows(studio.paths.engines, studio.paths.cache)


def engine_rows(studio: Studio, rows: list[dict[str, Any]] | None = None) -> list[list[str]]:
    """Cached TensorRT engines and ONNX exports: kind, folder, MB, what they were built for.

    ``rows`` are the cache rows already read (read here when None).
    """
    from engines.animate.neural.status import describe_key

    return [
        [r["kind"], r["folder"], f"{r['bytes'] / 1e6:.1f}", describe_key(r)]
        for r in (_cache_rows(studio) if rows is None else rows)
    ]


def neural_summary(studio: Studio, rows: list[dict[str, Any]] | None = None) -> str:
    """The neural lip-sync's build state and size, one line (read from disk; no model is loaded)."""
    from engines.animate.neural.status import build_state, summary

    return summary(build_state(studio.paths.models, studio.paths.cache, studio.paths.engines, rows))


def engine_view(studio: Studio) -> tuple[list[list[str]], str]:
    """``engine_rows`` and ``neural_summary`` from one read of the caches."""
    rows = _cache_rows(studio)
    return engine_rows(studio, rows), neural_summary(studio, rows)


def device_markdown(studio: Studio) -> str:
    """Which device renders and why, and how to switch (the start message's answer, from studio/ops/device)."""
    from studio.ops.device import describe, switch_advice

    try:
        report = describe(studio.paths.models)
    except Exception as exc:  # noqa: BLE001 - the tab is built even when the question cannot be answered
        return f"**Device:** could not be determined ({type(exc).__name__}: {exc}); run `python app.py doctor`"
    details = "".join(f"\n- {d}" for d in report.details)
    to_gpu, to_cpu = switch_advice()
    return (
        f"**Device:** {report.headline}{details}\n\n"
        f"<details><summary>How to switch</summary>\n\n- {to_gpu[0].upper()}{to_gpu[1:]}.\n"
        f"- {to_cpu[0].upper()}{to_cpu[1:]}.\n</details>"
    )


def build(studio: Studio) -> None:
    gr.Markdown(device_markdown(studio))
    gr.Markdown(
        "Embedded models ship with the studio and work offline. Larger models download on demand; "
        "their license is shown first. Models marked *random weights only* have working code that was "
        "tested without the real weights."
    )
    table = gr.Dataframe(model_rows(studio), headers=HEADERS, interactive=False, wrap=True)
    with gr.Row():
        name = gr.Dropdown([e for e in models.catalog()], label="Model")
        accept = gr.Checkbox(False, label="I have read and accept this model's license")
    license_box = gr.Markdown()
    with gr.Row():
        fetch_btn = gr.Button("Download / prepare")
        verify_btn = gr.Button("Verify checksums")
    status = gr.Markdown()
    gr.Markdown("### Compiled engines (TensorRT cache) and ONNX exports")
    cached, built = engine_view(studio)
    neural = gr.Markdown(built)
    engines = gr.Dataframe(cached, headers=["kind", "folder", "MB", "built for"], interactive=False)
    with gr.Row():
        build_btn = gr.Button("Build lip-sync engines (NVIDIA GPU)")
        clear_btn = gr.Button("Clear engine cache", variant="stop")

    def show_license(n):
        if not n:
            return ""
        e = models.entry(n)
        return f"**{e.title}** — license: {e.license}; commercial use: {e.commercial_use}; {e.size_mb:.0f} MB."

    def fetch(n, ok, progress=gr.Progress()):
        if not n:
            return _error("choose a model first"), gr.update()
        try:
            path = models.fetch(n, studio.paths, accept_license=ok, progress=lambda f, m: progress(f, desc=m))
        except StudioError as exc:
            return _error(exc), gr.update()
        return f"**OK** {n} is ready at `{path}`", model_rows(studio)

    def verify(progress=gr.Progress()):
        rows = models.verify(studio.paths, progress=lambda f, m: progress(f, desc=m))
        marks = {True: "OK", False: "FAILED", None: "not downloaded"}
        return "\n".join(f"- {marks[r['ok']]} **{r['name']}**: {r['state']} — {r['detail']}" for r in rows)

    def clear():
        n = studio.sessions.cache.clear()
        return f"Removed {n} cached engine(s); they are rebuilt on next use.", *engine_view(studio)

    def build_engines(progress=gr.Progress()):
        from studio.ops.engines import build as build_neural
        from studio.ops.engines import describe_build

        @contextlib.contextmanager
        def bar(mode):
            yield lambda f, m: progress(f, desc=f"{mode}: {m}")

        try:
            lines = describe_build(build_neural(studio.paths, progress_for=bar))
        except StudioError as exc:
            return _error(exc), *engine_view(studio)
        return "\n".join(f"- {line.strip()}" for line in lines), *engine_view(studio)

    name.change(show_license, name, license_box)
    fetch_btn.click(fetch, [name, accept], [status, table])
    verify_btn.click(verify, None, status)
    clear_btn.click(clear, None, [status, engines, neural])
    build_btn.click(build_engines, None, [status, engines, neural])
