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


# ---------------------------------------------------------------------------------------------
# Saved work in sight: every list of saved things is read when the page loads and after any change.


class SavedLists:
    """The lists of saved things (avatars, voices, projects, exports, queue) shown anywhere in the app.

    A tab registers each list with :meth:`add` (the component and a function that reads it from
    disk) and each event that saves, renames or deletes something with :meth:`changed`. The app then
    calls :meth:`wire` once: every list is read when the page loads (so a browser reload shows
    what is on disk, not what was there when the server started) and after every change event in
    any tab (a new avatar shows in the Studio tab without a refresh).
    """

    def __init__(self):
        self.lists: list[tuple[object, object]] = []  # (component, read(current value) -> update)
        self.events: list[object] = []
        self.on_load: list[tuple[object, object]] = []  # (component, read() -> value): page load only

    def add(self, component, read) -> None:
        """``read(current_value)`` returns the component's new value or ``gr.update(...)``."""
        self.lists.append((component, read))

    def choices(self, component, names, *, default=None, keep_typed: bool = False) -> None:
        """A dropdown of ``names()`` (plus ``default`` first, when given); its pick is kept while it
        exists (always, with ``keep_typed``: a dropdown that takes a typed new name)."""
        import gradio as gr

        def read(current):
            listed = ([default] if default is not None else []) + list(names())
            values = [c[1] if isinstance(c, tuple) else c for c in listed]
            keep = current if (current in values or (keep_typed and current)) else default
            return gr.update(choices=listed, value=keep)

        self.add(component, read)

    def loaded(self, component, read) -> None:
        """``read()`` gives ``component`` its value when the page loads (not after every save: for
        values that are slow to work out and do not change with saved work)."""
        self.on_load.append((component, read))

    def changed(self, *events) -> None:
        """Events after which every list is read again (save, rename, delete)."""
        self.events.extend(events)

    def refresh_all(self, *current):
        """New values for every list (in :attr:`lists` order) from their current values."""
        return tuple(read(value) for (_, read), value in zip(self.lists, current))

    def wire(self, demo) -> None:
        """Read every list on page load and after every change event; call inside ``demo``'s context."""
        kwargs = {"queue": False, "show_progress": "hidden"}
        for component, read in self.on_load:
            demo.load(read, None, component, **kwargs)
        if not self.lists:
            return
        components = [c for c, _ in self.lists]
        demo.load(self.refresh_all, components, components, **kwargs)
        for event in self.events:
            event.then(self.refresh_all, components, components, **kwargs)


_building: list[SavedLists] = []


def saved_lists() -> SavedLists:
    """The registry of the app being built (see ``studio.ui.app.build_app``); a tab built on its
    own (a test) gets a registry nobody wires, so its lists are read once, when built."""
    return _building[-1] if _building else SavedLists()


class building_app:
    """``with building_app() as lists:`` around the tabs' ``build`` calls."""

    def __enter__(self) -> SavedLists:
        _building.append(SavedLists())
        return _building[-1]

    def __exit__(self, *exc) -> None:
        _building.pop()


def copyable_path(label: str, elem_id: str | None = None):
    """A read-only box for a file's full path, with a copy button."""
    import gradio as gr

    return gr.Textbox(label=label, interactive=False, buttons=["copy"], elem_id=elem_id, max_lines=1)
