"""Script tab: the editor (live length estimate, tag warnings), the assistant chat that drafts and
revises the script with a local language model, dictation, and saving scripts as projects."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.errors import StudioError
from studio.script import assistant as asst
from studio.script import cleaning, dictation, prompts
from studio.script.markup import MARKUP_GUIDE, analyze
from studio.script.projects import list_projects, load_project, save_project
from studio.services import Studio
from studio.ui.widgets import error_html as _error

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


def build(studio: Studio) -> None:
    cfg = prompts.prompt_presets()
    defaults = cfg["defaults"]
    helper = asst.assistant_for(studio)
    helper.preload()  # the built-in model loads while the user types: the first answer starts sooner

    with gr.Row(equal_height=False):
        # ---------------------------------------------------------------- editor
        with gr.Column(scale=3):
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
            editor_mic = gr.Audio(
                sources=["microphone", "upload"],
                type="numpy",
                label="Dictate into the editor (record or upload)",
                elem_id="editor-mic",
            )
            status = gr.Markdown("", elem_id="script-status")

        # ---------------------------------------------------------------- assistant
        with gr.Column(scale=2):
            chat = gr.Chatbot(
                height=360,
                label="Script assistant",
                elem_id="script-chat",
                placeholder="Fill in the brief below and press **Draft**, or ask for anything: "
                "*make it shorter*, *more upbeat*, *add a question at the start*…",
            )
            message = gr.Textbox(
                lines=2, show_label=False, placeholder="Ask for a draft or a change…", elem_id="chat-message"
            )
            with gr.Row():
                send = gr.Button("Send", variant="primary", size="sm")
                draft = gr.Button("Draft from the brief", size="sm")
                stop = gr.Button("Stop", size="sm", variant="stop")
                use = gr.Button("Use this draft", size="sm", elem_id="use-draft")
            chat_mic = gr.Audio(
                sources=["microphone", "upload"],
                type="numpy",
                label="Dictate a message (record or upload)",
                elem_id="chat-mic",
            )
            with gr.Accordion("Brief", open=True):
                topic = gr.Textbox(label="Topic", placeholder="e.g. Sunny Bread, our new neighbourhood bakery")
                points = gr.Textbox(lines=2, label="Key points (optional, one per line)")
                with gr.Row():
                    preset = gr.Dropdown(
                        [(title, key) for key, title in prompts.preset_titles().items()],
                        value=defaults["preset"],
                        label="Kind of video",
                    )
                    tone = gr.Dropdown(
                        list(cfg["tones"]), value=defaults["tone"], allow_custom_value=True, label="Tone"
                    )
                with gr.Row():
                    seconds = gr.Slider(5, 300, defaults["seconds"], step=5, label="Target length (seconds)")
                    language = gr.Dropdown(
                        cfg["languages"], value=defaults["language"], allow_custom_value=True, label="Language"
                    )
                tags = gr.Checkbox(True, label="Emotion tags in drafts ([happy], [sad], …)")
                revise = gr.Checkbox(True, label="Let the assistant see the editor's script (for revisions)")
            with gr.Accordion("Model", open=False):
                backend = gr.Radio(BACKEND_CHOICES, value="built-in", label="Language model")
                model_name = gr.Textbox(
                    label="Model",
                    visible=False,
                    info="a catalog name (Models tab), a .gguf file, a model folder or a Hugging Face id",
                )
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

    form = [topic, preset, seconds, tone, language, points, tags]
    model_inputs = [backend, model_name, url]
    sampling = [temperature, max_tokens]

    def request_of(topic_v, preset_v, seconds_v, tone_v, language_v, points_v, tags_v) -> prompts.DraftRequest:
        return prompts.DraftRequest(
            topic=topic_v or "",
            preset=preset_v,
            seconds=float(seconds_v),
            tone=tone_v or "friendly",
            language=language_v or "English",
            key_points=points_v or "",
            emotion_tags=bool(tags_v),
        )

    # -- editor ---------------------------------------------------------------------------------
    editor.change(_summary, editor, summary, show_progress="hidden", queue=False)

    def on_save(name, text, *form_values):
        if not (name or "").strip():
            return gr.update(), _error("type a project name first")
        try:
            request = request_of(*form_values)
            saved = save_project(
                studio.paths,
                name,
                text or "",
                settings={
                    "topic": request.topic,
                    "preset": request.preset,
                    "seconds": request.seconds,
                    "tone": request.tone,
                    "language": request.language,
                    "key_points": request.key_points,
                    "emotion_tags": request.emotion_tags,
                },
            )
        except StudioError as exc:
            return gr.update(), _error(str(exc))
        return (
            gr.update(choices=list_projects(studio.paths), value=saved.folder.name),
            f"Saved **{saved.name}** ({analyze(text or '').describe()}).",
        )

    save_btn.click(on_save, [project, editor, *form], [project, status])

    def on_open(name):
        # the list is read again, so projects saved elsewhere (CLI, another window) show up
        listed = gr.update(choices=list_projects(studio.paths))
        try:
            p = load_project(studio.paths, name or "")
        except StudioError as exc:
            return (listed,) + (gr.update(),) * 8 + (_error(str(exc)),)
        s = p.settings
        return (
            listed,
            p.script,
            s.get("topic", gr.update()),
            s.get("preset", gr.update()),
            s.get("seconds", gr.update()),
            s.get("tone", gr.update()),
            s.get("language", gr.update()),
            s.get("key_points", gr.update()),
            s.get("emotion_tags", gr.update()),
            f"Opened **{p.name}**.",
        )

    open_btn.click(on_open, project, [project, editor, *form, status])

    # The Studio tab renders what its own script box holds: copy the editor there (in the browser,
    # so the two tabs stay independent modules) and switch to it.
    to_studio.click(None, editor, None, js=COPY_TO_STUDIO_JS)

    def on_dictate_editor(recording, text, language_v):
        if recording is None:
            return gr.update(), gr.update()
        try:
            words = dictation.dictate(studio, recording[1], recording[0], language=dictation.language_code(language_v))
        except StudioError as exc:
            return gr.update(), _error(str(exc))
        return ((text.rstrip() + "\n\n" if (text or "").strip() else "") + words), "Dictation added to the script."

    for event in (editor_mic.stop_recording, editor_mic.upload):
        event(on_dictate_editor, [editor_mic, editor, language], [editor, status])

    # -- assistant ------------------------------------------------------------------------------
    def on_backend(choice):
        server = choice == "server"
        return (
            gr.update(
                visible=choice in ("gguf", "transformers", "server"),
                label="Model name on the server (empty = the server's first)" if server else "Model",
                info="e.g. llama3.2 for Ollama"
                if server
                else "a catalog name (Models tab), a .gguf file, a model folder or a Hugging Face id",
            ),
            gr.update(visible=choice == "server"),
        )

    backend.change(on_backend, backend, [model_name, url], queue=False)

    def on_preset(key):
        chosen = prompts.prompt_presets()["presets"].get(key, {})
        return chosen.get("seconds", defaults["seconds"]), chosen.get("tone", defaults["tone"])

    # each kind of video suggests its usual length and tone (the user can still change both)
    preset.input(on_preset, preset, [seconds, tone], queue=False)

    def respond(
        chat_v,
        user_text,
        script_text,
        revise_v,
        backend_v,
        model_v,
        url_v,
        temp_v,
        tokens_v,
        *form_values,
        draft_mode=False,
    ):
        history = _history(chat_v)
        try:
            request = request_of(*form_values)
            if draft_mode:
                user_text = prompts.draft_prompt(request)
            messages = prompts.build_messages(
                request, history, user_text or "", current_script=script_text if revise_v and not draft_mode else ""
            )
            choice = asst.ModelChoice(backend=backend_v, model=model_v or "", url=url_v or "")
            history = history + [{"role": "user", "content": user_text.strip()}, {"role": "assistant", "content": "…"}]
            ticket = helper.stops
            yield history, "", "Loading the language model…"
            loaded = helper.model(choice)
            note = f"**Note:** {loaded.notice}" if loaded.notice else f"Writing with {loaded.description}…"
            settings = prompts.GenerationSettings(float(temp_v), int(tokens_v))
            for text in helper.stream(choice, messages, request, settings, since=ticket):
                history[-1] = {"role": "assistant", "content": text}
                yield history, "", note
            done = analyze(cleaning.clean_script(history[-1]["content"], keep_tags=request.emotion_tags))
            ending = "Stopped" if helper.stops != ticket else "Draft ready"
            yield (
                history,
                "",
                (f"**Note:** {loaded.notice}\n\n" if loaded.notice else "")
                + f"{ending}: {done.describe()}. Press **Use this draft** to put it in the editor.",
            )
        except StudioError as exc:
            if history and history[-1].get("content") == "…":
                history = history[:-1]
            yield history, user_text or "", _error(str(exc))

    inputs = [chat, message, editor, revise, *model_inputs, *sampling, *form]
    send.click(respond, inputs, [chat, message, status])
    message.submit(respond, inputs, [chat, message, status])

    def respond_draft(*args):
        yield from respond(*args, draft_mode=True)

    draft.click(respond_draft, inputs, [chat, message, status])
    # Stop runs at once (no queue) and ends the answer after the current token; the model stops too.
    stop.click(helper.stop, None, None, queue=False)

    def on_use(chat_v, tags_v):
        answers = [m["content"] for m in _history(chat_v) if m["role"] == "assistant" and m["content"].strip("… ")]
        if not answers:
            return gr.update(), _error("there is no draft yet: ask the assistant first")
        script = cleaning.clean_script(answers[-1], keep_tags=bool(tags_v))
        return script, f"The draft is in the editor ({analyze(script).describe()})."

    use.click(on_use, [chat, tags], [editor, status])

    def on_dictate_chat(recording, text, language_v):
        if recording is None:
            return gr.update(), gr.update()
        try:
            words = dictation.dictate(studio, recording[1], recording[0], language=dictation.language_code(language_v))
        except StudioError as exc:
            return gr.update(), _error(str(exc))
        return ((text.rstrip() + " " if (text or "").strip() else "") + words), "Dictation added to your message."

    for event in (chat_mic.stop_recording, chat_mic.upload):
        event(on_dictate_chat, [chat_mic, message, language], [message, status])
