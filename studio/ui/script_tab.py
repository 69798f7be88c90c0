"""Script tab: the editor (live length estimate, tag warnings), the assistant chat that drafts and
revises the script with a local language model, dictation, and saving scripts as projects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from types import SimpleNamespace
from typing import Any

import gradio as gr

from studio.errors import StudioError
from studio.script import assistant as asst
from studio.script import cleaning, dictation, prompts
from studio.script.markup import MARKUP_GUIDE, analyze
from studio.script.projects import list_projects, load_project, save_project
from studio.script.revisions import word_diff
from studio.services import Studio
from studio.ui.widgets import error_html as _error
from studio.ui.widgets import saved_lists

MARKUP_HELP = (
    "[happy] [sad] [angry] [surprised] [neutral] set the mood until the next tag · "
    "[pause 0.5s] adds silence · a blank line starts a paragraph"
)
BACKEND_CHOICES = [
    ("Built-in (Qwen2.5 0.5B, offline)", "built-in"),
    ("Other GGUF model", "gguf"),
    ("Transformers model", "transformers"),
    ("Local server (Ollama, LM Studio…)", "server"),
    ("No AI: fill a template", "template"),
]
COPY_TO_STUDIO_JS = """
async (text) => {
  const tab = [...document.querySelectorAll('button[role="tab"]')].find(b => b.textContent.trim() === 'Studio');
  if (tab) tab.click();
  for (let i = 0; i < 50; i++) {  // a tab's content appears once it is opened
    const box = document.querySelector('#studio-script textarea');
    if (box) {
      box.value = text;
      box.dispatchEvent(new Event('input', {bubbles: true}));
      break;
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  return [];
}
"""
DEFAULT_VOICE = "(default voice)"
MODEL_INFO = "a catalog name (Models tab), a .gguf file, a model folder or a Hugging Face id"
EXAMPLE_SCRIPT = (
    "[happy] Hi, I'm your new avatar! [pause 0.5s] Write what I should say here, "
    "or ask the assistant on the right for a draft."
)


def _summary(text: str) -> str:
    info = analyze(text or "")
    if not info.sentences:
        return "*Empty script: type what the avatar should say, or ask the assistant for a draft.*"
    lines = [f"**{info.describe()}**"]
    lines += [f"**Warning:** {w}" for w in info.warnings]
    return "\n\n".join(lines)


def _backend_note() -> str:
    from engines.llm import llama_cpp

    if llama_cpp.available():
        return "The built-in model runs on llama.cpp (fast)."
    return (
        "**Note: llama-cpp-python is not installed**, so the built-in model falls back to transformers: "
        "about a minute to load and a few words per second. Run `./launch.sh` to build llama-cpp-python, "
        "or choose *No AI: fill a template*."
    )


def _text_of(content: Any) -> str:
    """Chat content as plain text (Gradio 6 may send a list of {'text', 'type'} parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return "".join(_text_of(part) for part in content)
    return "" if content is None else str(content)


def _history(chat: list[Any] | None) -> list[dict[str, str]]:
    out = []
    for m in chat or []:
        role = m.get("role") if isinstance(m, dict) else getattr(m, "role", None)
        content = m.get("content") if isinstance(m, dict) else getattr(m, "content", None)
        if role in ("user", "assistant"):
            out.append({"role": role, "content": _text_of(content)})
    return out


@dataclass
class _BriefControls:
    """The Brief's controls, named and ordered as the fields of ``prompts.DraftRequest``."""

    topic: gr.Textbox
    preset: gr.Dropdown
    seconds: gr.Slider
    tone: gr.Dropdown
    language: gr.Dropdown
    key_points: gr.Textbox
    emotion_tags: gr.Checkbox

    def inputs(self) -> list[Any]:
        """The controls in the order ``read`` takes their values (and ``on_open`` returns them)."""
        return [getattr(self, f.name) for f in fields(self)]

    @staticmethod
    def read(values) -> prompts.DraftRequest:
        topic, preset, seconds, tone, language, key_points, emotion_tags = values
        return prompts.DraftRequest(
            topic=topic or "",
            preset=preset,
            seconds=float(seconds),
            tone=tone or "friendly",
            language=language or "English",
            key_points=key_points or "",
            emotion_tags=bool(emotion_tags),
        )


@dataclass
class _AssistantSettings:
    """What the assistant's panel asks for, read from one event's input values."""

    request: prompts.DraftRequest
    choice: asst.ModelChoice
    sampling: prompts.GenerationSettings
    edit: str  # the editing action chosen for "Revise the script" (a key of the presets' edits)


@dataclass
class _SettingsControls:
    """The controls behind ``_AssistantSettings``: the Brief and Model accordions."""

    brief: _BriefControls
    voice: gr.Dropdown  # sets the pace: the word budget follows the chosen voice's speaking rate
    edit: gr.Dropdown
    backend: gr.Radio
    model: gr.Textbox
    url: gr.Textbox
    temperature: gr.Slider
    max_tokens: gr.Slider

    def inputs(self) -> list[Any]:
        """The controls in the order ``read`` takes their values."""
        model = [self.backend, self.model, self.url, self.temperature, self.max_tokens]
        return [*self.brief.inputs(), self.voice, self.edit, *model]

    def read(self, values, studio: Studio) -> _AssistantSettings:
        *brief, voice, edit, backend, model, url, temperature, max_tokens = values
        request = self.brief.read(brief)
        request.pace = asst.speaking_pace(studio, None if voice in (None, DEFAULT_VOICE) else voice)
        return _AssistantSettings(
            request=request,
            choice=asst.ModelChoice(backend=backend, model=model or "", url=url or ""),
            sampling=prompts.GenerationSettings(float(temperature), int(max_tokens)),
            edit=edit or "shorten",
        )


# -------------------------------------------------------------------------------------------- layout


def _editor_panel(studio: Studio) -> SimpleNamespace:
    """Project row, script editor with its summary and markup guide, dictation, status line."""
    with gr.Row():
        project = gr.Dropdown(
            list_projects(studio.paths),
            value=None,
            allow_custom_value=True,
            scale=5,
            label="Project",
            info="pick a saved project, or type a new name to save as",
        )
        open_btn = gr.Button("Open", scale=1, size="sm")
        save_btn = gr.Button("Save", scale=1, size="sm", variant="primary")
        to_studio = gr.Button("Use in the Studio tab", scale=1, size="sm", elem_id="script-to-studio")
    editor = gr.Textbox(
        EXAMPLE_SCRIPT,
        lines=14,
        max_lines=40,
        label="Script",
        info=MARKUP_HELP,
        elem_id="script-editor",
        buttons=["copy"],
    )
    summary = gr.Markdown(_summary(EXAMPLE_SCRIPT), elem_id="script-summary")
    with gr.Accordion("Markup guide", open=False):
        gr.Markdown(MARKUP_GUIDE)
    mic = gr.Audio(
        sources=["microphone", "upload"],
        type="numpy",
        label="Dictate into the editor (record or upload)",
        elem_id="editor-mic",
    )
    status = gr.Markdown("", elem_id="script-status")
    return SimpleNamespace(
        project=project,
        open_btn=open_btn,
        save_btn=save_btn,
        to_studio=to_studio,
        editor=editor,
        summary=summary,
        mic=mic,
        status=status,
    )


def _chat_panel() -> SimpleNamespace:
    """The chat, the message box, its buttons and its dictation."""
    chat = gr.Chatbot(
        height=360,
        label="Script assistant",
        elem_id="script-chat",
        placeholder="Fill in the brief below and press **Draft**, or ask for anything: "
        "*make it shorter*, *more upbeat*, *add a question at the start*…",
    )
    message = gr.Textbox(lines=2, show_label=False, placeholder="Ask for a draft or a change…", elem_id="chat-message")
    with gr.Row():
        send = gr.Button("Send", variant="primary", size="sm")
        draft = gr.Button("Draft from the brief", size="sm")
        stop = gr.Button("Stop", size="sm", variant="stop")
    with gr.Row(equal_height=True):
        edit = gr.Dropdown(
            [(title, key) for key, title in prompts.edit_titles().items()],
            value="shorten",
            label="Edit the editor's script",
            info="the whole revised script comes back, shown as changes first",
            scale=3,
            elem_id="edit-action",
        )
        revise = gr.Button("Revise the script", size="sm", scale=1, elem_id="revise-script")
    diff = gr.HTML("", elem_id="draft-diff", visible=False)
    with gr.Row():
        use = gr.Button("Use this draft", size="sm", variant="primary", elem_id="use-draft")
        undo = gr.Button("Undo", size="sm", elem_id="undo-draft", interactive=False)
    before = gr.State("")  # the editor's text before "Use this draft", for Undo
    mic = gr.Audio(
        sources=["microphone", "upload"],
        type="numpy",
        label="Dictate a message (record or upload)",
        elem_id="chat-mic",
    )
    return SimpleNamespace(
        chat=chat,
        message=message,
        send=send,
        draft=draft,
        stop=stop,
        edit=edit,
        revise=revise,
        diff=diff,
        use=use,
        undo=undo,
        before=before,
        mic=mic,
    )


def _voice_names(studio: Studio) -> list[str]:
    from studio.voice.profiles import VoiceLibrary

    return [v.name for v in VoiceLibrary(studio.paths).list()]


def _settings_panel(studio: Studio, cfg: dict[str, Any], edit: gr.Dropdown) -> _SettingsControls:
    """The Brief accordion (what to write) and the Model accordion (who writes it)."""
    defaults = cfg["defaults"]
    with gr.Accordion("Brief", open=True):
        topic = gr.Textbox(label="Topic", placeholder="e.g. Sunny Bread, our new neighbourhood bakery")
        points = gr.Textbox(lines=2, label="Key points (optional, one per line)")
        with gr.Row():
            preset = gr.Dropdown(
                [(title, key) for key, title in prompts.preset_titles().items()],
                value=defaults["preset"],
                label="Kind of video",
            )
            tone = gr.Dropdown(list(cfg["tones"]), value=defaults["tone"], allow_custom_value=True, label="Tone")
        with gr.Row():
            seconds = gr.Slider(5, 300, defaults["seconds"], step=5, label="Target length (seconds)")
            language = gr.Dropdown(
                cfg["languages"], value=defaults["language"], allow_custom_value=True, label="Language"
            )
        with gr.Row():
            voice = gr.Dropdown(
                [DEFAULT_VOICE, *_voice_names(studio)],
                value=DEFAULT_VOICE,
                label="Voice",
                info="the draft's length follows this voice's speaking rate",
                elem_id="brief-voice",
            )
            tags = gr.Checkbox(True, label="Emotion tags in drafts ([happy], [sad], …)")
        saved_lists().choices(voice, lambda: _voice_names(studio), default=DEFAULT_VOICE)
    with gr.Accordion("Model", open=False):
        backend = gr.Radio(BACKEND_CHOICES, value="built-in", label="Language model")
        model = gr.Textbox(label="Model", visible=False, info=MODEL_INFO)
        url = gr.Textbox(
            "http://127.0.0.1:11434/v1",
            label="Server address",
            visible=False,
            info="Ollama: …:11434/v1 · LM Studio: …:1234/v1 · llama.cpp server: …:8080/v1",
        )
        with gr.Row():
            temperature = gr.Slider(
                0.0,
                1.5,
                defaults["temperature"],
                step=0.05,
                label="Temperature",
                info="0 = predictable, higher = more creative",
            )
            max_tokens = gr.Slider(0, 2048, 0, step=16, label="Max tokens", info="0 = from the target length")
        gr.Markdown(_backend_note())
    brief = _BriefControls(topic, preset, seconds, tone, language, points, tags)
    return _SettingsControls(brief, voice, edit, backend, model, url, temperature, max_tokens)


def build(studio: Studio) -> None:
    cfg = prompts.prompt_presets()
    helper = asst.assistant_for(studio)
    helper.preload()  # the built-in model loads while the user types: the first answer starts sooner

    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            ed = _editor_panel(studio)
        with gr.Column(scale=2):
            chat = _chat_panel()
            settings = _settings_panel(studio, cfg, chat.edit)
    _wire_editor(studio, ed, settings.brief)
    _wire_assistant(studio, helper, cfg["defaults"], ed, chat, settings)


# -------------------------------------------------------------------------------------------- events


def _wire_editor(studio: Studio, ed: SimpleNamespace, brief: _BriefControls) -> None:
    ed.editor.change(_summary, ed.editor, ed.summary, show_progress="hidden", queue=False)

    def on_save(name, text, *brief_values):
        return _save(studio, name, text, brief.read(brief_values))

    saved = ed.save_btn.click(on_save, [ed.project, ed.editor, *brief.inputs()], [ed.project, ed.status])
    # the project list is read on page load and after changes in any tab (a typed new name is kept)
    saved_lists().choices(ed.project, lambda: list_projects(studio.paths), keep_typed=True)
    saved_lists().changed(saved)

    def on_open(name):
        return _open(studio, name)

    ed.open_btn.click(on_open, ed.project, [ed.project, ed.editor, *brief.inputs(), ed.status])
    # The Studio tab renders what its own script box holds: copy the editor there (in the browser,
    # so the two tabs stay independent modules) and switch to it.
    ed.to_studio.click(None, ed.editor, None, js=COPY_TO_STUDIO_JS)

    def on_dictate_editor(recording, text, language):
        return _dictate(studio, recording, text, language, "\n\n", "Dictation added to the script.")

    for event in (ed.mic.stop_recording, ed.mic.upload):
        event(on_dictate_editor, [ed.mic, ed.editor, brief.language], [ed.editor, ed.status])


def _wire_assistant(
    studio: Studio,
    helper: asst.Assistant,
    defaults: dict[str, Any],
    ed: SimpleNamespace,
    chat: SimpleNamespace,
    settings: _SettingsControls,
) -> None:
    def on_backend(choice):
        return _model_boxes(choice)

    settings.backend.change(on_backend, settings.backend, [settings.model, settings.url], queue=False)

    def on_preset(key):
        chosen = prompts.prompt_presets()["presets"].get(key, {})
        return chosen.get("seconds", defaults["seconds"]), chosen.get("tone", defaults["tone"])

    # each kind of video suggests its usual length and tone (the user can still change both)
    brief = settings.brief
    brief.preset.input(on_preset, brief.preset, [brief.seconds, brief.tone], queue=False)

    def respond(chat_v, user_text, script, *values):
        yield from _respond(helper, chat_v, user_text, script, settings.read(values, studio), mode="chat")

    def respond_draft(chat_v, user_text, script, *values):
        yield from _respond(helper, chat_v, user_text, script, settings.read(values, studio), mode="draft")

    def respond_edit(chat_v, user_text, script, *values):
        yield from _respond(helper, chat_v, user_text, script, settings.read(values, studio), mode="edit")

    inputs = [chat.chat, chat.message, ed.editor, *settings.inputs()]
    outputs = [chat.chat, chat.message, ed.status, chat.diff]
    chat.send.click(respond, inputs, outputs)
    chat.message.submit(respond, inputs, outputs)
    chat.draft.click(respond_draft, inputs, outputs)
    chat.revise.click(respond_edit, inputs, outputs)
    # Stop runs at once (no queue) and ends the answer after the current token; the model stops too.
    chat.stop.click(helper.stop, None, None, queue=False)

    def on_use(chat_v, script, tags):
        return _use_draft(chat_v, script, tags)

    use_outputs = [ed.editor, chat.before, chat.undo, chat.diff, ed.status]
    chat.use.click(on_use, [chat.chat, ed.editor, brief.emotion_tags], use_outputs)
    chat.undo.click(_undo, [ed.editor, chat.before], use_outputs)

    def on_dictate_chat(recording, text, language):
        return _dictate(studio, recording, text, language, " ", "Dictation added to your message.")

    for event in (chat.mic.stop_recording, chat.mic.upload):
        event(on_dictate_chat, [chat.mic, chat.message, brief.language], [chat.message, ed.status])


def _save(studio: Studio, name: str | None, text: str | None, request: prompts.DraftRequest):
    """Save the script and its brief as project ``name``: (project list update, status line)."""
    if not (name or "").strip():
        return gr.update(), _error("type a project name first")
    try:
        saved = save_project(studio.paths, name, text or "", settings=asdict(request))
    except StudioError as exc:
        return gr.update(), _error(str(exc))
    return (
        gr.update(choices=list_projects(studio.paths), value=saved.folder.name),
        f"Saved **{saved.name}** ({analyze(text or '').describe()}).",
    )


def _open(studio: Studio, name: str | None):
    """Project list, script, the brief's values (``_BriefControls`` order) and a status line."""
    # the list is read again, so projects saved elsewhere (CLI, another window) show up
    choices = list_projects(studio.paths)
    try:
        p = load_project(studio.paths, name or "")
    except StudioError as exc:
        return (gr.update(choices=choices),) + (gr.update(),) * 8 + (_error(str(exc)),)
    brief = [p.settings.get(f.name, gr.update()) for f in fields(_BriefControls)]
    # the list shows the project as saved ("cli project" typed: "cli-project")
    listed = gr.update(choices=choices, value=p.folder.name) if p.folder is not None else gr.update(choices=choices)
    return (listed, p.script, *brief, f"Opened **{p.name}**.")


def _dictate(studio: Studio, recording, text: str | None, language: str, joiner: str, done: str):
    """``text`` with the words spoken in ``recording`` appended after ``joiner``; (text, status)."""
    if recording is None:
        return gr.update(), gr.update()
    try:
        words = dictation.dictate(studio, recording[1], recording[0], language=dictation.language_code(language))
    except StudioError as exc:
        return gr.update(), _error(str(exc))
    return ((text.rstrip() + joiner if (text or "").strip() else "") + words), done


def _model_boxes(choice: str):
    """Show the model box (labelled for the server when it is one) and the server address as needed."""
    server = choice == "server"
    return (
        gr.update(
            visible=choice in ("gguf", "transformers", "server"),
            label="Model name on the server (empty = the server's first)" if server else "Model",
            info="e.g. llama3.2 for Ollama" if server else MODEL_INFO,
        ),
        gr.update(visible=choice == "server"),
    )


def diff_html(old: str, new: str) -> str:
    """The proposed script against the editor's, removed words struck through and added ones marked."""
    import html

    style = {
        "-": "background:#fde2e2;color:#9b1c1c;text-decoration:line-through",
        "+": "background:#dcfce7;color:#14532d",
    }
    parts = []
    for kind, text in word_diff(old, new):
        shown = html.escape(text).replace("\n\n", "<br><br>")
        parts.append(
            f'<span class="diff-{"del" if kind == "-" else "ins"}" style="{style[kind]}">{shown}</span>'
            if kind in style
            else shown
        )
    return (
        '<div class="script-diff"><b>Changes to the editor\'s script</b> '
        "(press <i>Use this draft</i> to apply them; <i>Undo</i> brings your script back):"
        f'<div style="white-space:normal;line-height:1.6;margin-top:4px">{" ".join(parts)}</div></div>'
    )


def _respond(helper: asst.Assistant, chat_v, user_text: str | None, script: str, s: _AssistantSettings, *, mode: str):
    """Stream the assistant's answer: yields (chat history, message box, status line, diff).

    ``mode`` "draft" writes from the brief, "edit" revises the editor's script as the chosen edit
    asks, "chat" answers the typed message; the finished answer is shown as changes to the editor."""
    history = _history(chat_v)
    hidden = gr.update(visible=False, value="")
    try:
        request = s.request
        ticket = helper.stops
        if mode == "edit":
            edit = prompts.EditRequest(script or "", s.edit, user_text or "").checked()
            asked = prompts.edit_titles()[edit.action] + " the editor's script"
            if edit.action == "custom":
                asked = edit.message.strip()
            answer = lambda: helper.edit(s.choice, edit, s.sampling, since=ticket, language=request.language)  # noqa: E731
        elif mode == "draft":
            asked = prompts.draft_prompt(request).split("\n")[0]
            answer = lambda: helper.draft(s.choice, request, s.sampling, since=ticket)  # noqa: E731
        else:
            asked = (user_text or "").strip()
            messages = prompts.build_messages(request, history, asked)
            answer = lambda: helper.draft(s.choice, request, s.sampling, since=ticket, messages=messages, fill=False)  # noqa: E731
        history = history + [{"role": "user", "content": asked}, {"role": "assistant", "content": "…"}]
        yield history, "", "Loading the language model…", hidden
        loaded = helper.model(s.choice)
        note = f"**Note:** {loaded.notice}" if loaded.notice else f"Writing with {loaded.description}…"
        for text in answer():
            history[-1] = {"role": "assistant", "content": text}
            yield history, "", note, gr.update()
        final = history[-1]["content"]
        done = analyze(final)
        ending = "Stopped" if helper.stops != ticket else ("Revision ready" if mode == "edit" else "Draft ready")
        yield (
            history,
            "",
            (f"**Note:** {loaded.notice}\n\n" if loaded.notice else "")
            + f"{ending}: {done.describe()}. Press **Use this draft** to put it in the editor.",
            gr.update(visible=True, value=diff_html(script or "", final)),
        )
    except StudioError as exc:
        if history and history[-1].get("content") == "…":
            history = history[:-2]
        yield history, user_text or "", _error(str(exc)), hidden


def _use_draft(chat_v, script: str | None, tags: bool):
    """The assistant's last answer, cleaned, into the editor; the editor's text is kept for Undo.
    Returns (editor, undo text, undo button, diff, status)."""
    answers = [m["content"] for m in _history(chat_v) if m["role"] == "assistant" and m["content"].strip("… ")]
    if not answers:
        return (
            gr.update(),
            gr.update(),
            gr.update(),
            gr.update(),
            _error("there is no draft yet: ask the assistant first"),
        )
    # a finished answer is clean already (its tags are the ones asked for: the brief's option, or an
    # "add emotion tags" edit); a stopped one is cleaned here
    draft = cleaning.clean_script(answers[-1], keep_tags=bool(tags) or "[" in answers[-1])
    return (
        draft,
        script or "",
        gr.update(interactive=True),
        gr.update(visible=False, value=""),
        f"The draft is in the editor ({analyze(draft).describe()}). **Undo** brings back the script it replaced.",
    )


def _undo(script: str | None, before: str | None):
    """Swap the editor's text with the one "Use this draft" replaced (pressing Undo again redoes)."""
    if before is None or (not before and not script):
        return gr.update(), gr.update(), gr.update(), gr.update(), _error("there is nothing to undo")
    return before, script or "", gr.update(interactive=True), gr.update(), "Your previous script is back in the editor."
