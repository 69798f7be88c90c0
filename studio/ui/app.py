"""The Gradio app: one module per tab, each with ``build(studio)`` called inside its ``gr.Tab``."""

from __future__ import annotations

import importlib
import importlib.util

from studio.services import Studio, default_studio
from studio.ui.widgets import building_app

# (module, tab label) in display order.
TABS = (
    ("voice_tab", "Voice"),
    ("portrait_tab", "Portrait"),
    ("script_tab", "Script"),
    ("studio_tab", "Studio"),
    ("models_tab", "Models & Engines"),
)

CSS = """
.error-line {color: #b00020; font-weight: 600}
footer {display: none !important}
"""


def build_app(studio: Studio | None = None):
    import gradio as gr

    studio = studio or default_studio()
    with gr.Blocks(title="Avatar Studio") as demo, building_app() as lists:
        gr.Markdown(
            "# Avatar Studio\nRecord a voice, pick a portrait, write a script, "
            "export a talking-head video — all on this computer."
        )
        with gr.Tabs():
            for module, label in TABS:
                if importlib.util.find_spec(f"studio.ui.{module}") is None:
                    continue
                with gr.Tab(label, id=module):
                    importlib.import_module(f"studio.ui.{module}").build(studio)
        # Lists of saved things are read from disk on every page load and after any save, rename or
        # delete in any tab (studio.ui.widgets.SavedLists), not only when the server started.
        lists.wire(demo)
    return demo


def launch(*, listen: bool = False, share: bool = False, port: int = 7860) -> None:
    """Serve the studio on 127.0.0.1 (``listen`` opens it to the network)."""
    import gradio as gr

    from studio.safety import MAX_UPLOAD_BYTES

    studio = default_studio()
    demo = build_app(studio)
    # Outputs the tabs show (exports, previews, avatar thumbnails) may live outside the working folder.
    shown = [studio.paths.exports, studio.paths.cache, studio.paths.avatars]
    demo.queue(default_concurrency_limit=1).launch(
        allowed_paths=[str(p) for p in shown],
        server_name="0.0.0.0" if listen else "127.0.0.1",
        server_port=port,
        share=share,
        inbrowser=False,
        max_file_size=MAX_UPLOAD_BYTES,  # each kind's own limit and type: studio/safety.py
        theme=gr.themes.Soft(),
        css=CSS,
    )
