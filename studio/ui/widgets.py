"""Small pieces the tabs share: the error line and the rename/delete controls of a library."""

from __future__ import annotations

import html
from types import SimpleNamespace


def error_html(exc: Exception | str) -> str:
    """One red ``error: ...`` line (the message escaped: it may quote a user's file or name)."""
    return f"<span class='error-line'>error: {html.escape(str(exc))}</span>"


def manage_controls(choices_row_extra=None) -> SimpleNamespace:
    """A "New name" box with Rename and Delete… buttons, a hidden delete confirmation row and a
    status line; call inside a ``gr.Blocks`` context. ``choices_row_extra`` (optional) is called
    first inside the same row, e.g. to put the item dropdown beside the buttons."""
    import gradio as gr

    with gr.Row():
        picked = choices_row_extra() if choices_row_extra else None
        new_name = gr.Textbox(label="New name", scale=3)
        rename_btn = gr.Button("Rename", scale=1)
        delete_btn = gr.Button("Delete…", variant="stop", scale=1)
    with gr.Row(visible=False) as confirm_row:
        confirm_text = gr.Markdown()
        confirm_btn = gr.Button("Yes, delete it", variant="stop")
        cancel_btn = gr.Button("Cancel")
    status = gr.HTML()
    return SimpleNamespace(
        picked=picked,
        new_name=new_name,
        rename_btn=rename_btn,
        delete_btn=delete_btn,
        confirm_row=confirm_row,
        confirm_text=confirm_text,
        confirm_btn=confirm_btn,
        cancel_btn=cancel_btn,
        status=status,
    )
