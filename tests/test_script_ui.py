"""The Script tab as a person uses it, in headless Chromium: live length and tag warnings while
typing, a chat answer streaming in from a local OpenAI-compatible server, Stop, moving the answer into
the editor, a template draft, dictation by upload, and saving the script with a project."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import soundfile as sf
from test_dictation import word_errors, words
from test_llm import ChatServer
from test_ui_browser import CHROMIUM, opened_page, server  # noqa: F401 - the shared studio server fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def _whisper_ready() -> bool:
    from studio import models
    from studio.config import StudioPaths

    return models.status("whisper-base", StudioPaths.from_env()).state == "ready"


needs_whisper = pytest.mark.skipif(not _whisper_ready(), reason="the bundled Whisper base model is not prepared")


MIC_SENTENCE = "Write a short script about fresh bread."


@pytest.fixture(scope="module")
def microphone_file(studio, tmp_path_factory) -> Path:
    """What the browser's fake microphone hears: the default voice saying MIC_SENTENCE, then silence."""
    import numpy as np

    speech = studio.tts().synthesize(MIC_SENTENCE)
    rate = speech.sample_rate
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    sf.write(
        path,
        np.concatenate([np.zeros(rate, np.float32), speech.audio, np.zeros(rate * 3, np.float32)]),
        rate,
        subtype="PCM_16",
    )
    return path


@pytest.fixture(scope="module")
def page(server, microphone_file):  # noqa: F811 - the imported fixture, by name
    # a fake microphone that plays microphone_file, allowed without a prompt
    fake_microphone = (
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_file}",
    )
    with opened_page(server, height=1100, timeout_ms=60_000, extra_args=fake_microphone, microphone=True) as pg:
        pg.get_by_role("tab", name="Script").click()
        pg.locator("#script-editor textarea").wait_for()
        yield pg


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("UI_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def editor(page):
    return page.locator("#script-editor textarea")


def chat_text(page) -> str:
    return page.locator("#script-chat").inner_text()


def status_text(page) -> str:
    return page.locator("#script-status").inner_text()


def wait_until(predicate, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_typing_updates_the_spoken_length_and_warns_about_unknown_tags(page):
    editor(page).fill("[happy] Hello there, welcome to the bakery. [pause 2s] [bogus] Bye for now.")
    summary = page.locator("#script-summary")
    wait_until(lambda: "unknown tag [bogus]" in summary.inner_text(), what="the tag warning")
    text = summary.inner_text()
    assert "≈ 0:05 spoken" in text and "2 sentences" in text and "9 words" in text and "happy" in text
    assert "did you mean" not in text or "[bogus]" in text


def choose_server(page, url: str) -> None:
    model = page.get_by_text("Model", exact=True)
    if not page.get_by_label("Local server (Ollama, LM Studio…)").is_visible():
        model.click()
    page.get_by_label("Local server (Ollama, LM Studio…)").check()
    page.get_by_label("Server address").fill(url)


def test_chat_answer_streams_in_and_moves_into_the_editor(page, shots):
    with ChatServer() as llm_server:
        choose_server(page, llm_server.url)
        page.locator("#chat-message textarea").fill("Write a greeting for the bakery")
        page.get_by_role("button", name="Send", exact=True).click()
        # the server holds back everything after its first token: the chat shows that token already
        wait_until(lambda: "Hello" in chat_text(page), what="the first streamed token")
        assert "bakery!" not in chat_text(page)
        page.screenshot(path=str(shots / "script-chat-streaming.png"), full_page=True)
        llm_server.release.set()
        wait_until(lambda: "Hello and welcome to the bakery!" in chat_text(page), what="the whole answer")
        wait_until(lambda: "Draft ready" in status_text(page), what="the finished status")
    assert llm_server.requests[0]["messages"][-1] == {"role": "user", "content": "Write a greeting for the bakery"}
    # a chat message is answered, not taken as a request to rewrite the editor's script
    assert not any("[bogus] Bye for now." in m["content"] for m in llm_server.requests[0]["messages"])
    before = editor(page).input_value()
    page.get_by_role("button", name="Use this draft").click()
    wait_until(lambda: editor(page).input_value() == "Hello and welcome to the bakery!", what="the draft in the editor")
    wait_until(lambda: "1 sentence" in page.locator("#script-summary").inner_text(), what="the new summary")
    # the script it replaced is one click away
    page.locator("#undo-draft").click()
    wait_until(lambda: editor(page).input_value() == before, what="the previous script back")
    assert "previous script is back" in status_text(page)


def test_an_edit_is_shown_as_changes_before_it_replaces_the_script(page, shots):
    original = "[happy] Welcome to Sunny Bread. We bake every morning.\n\n[neutral] Come and taste it today."
    revised = "[happy] Welcome to Sunny Bread!\n\n[neutral] Taste it today."
    editor(page).fill(original)
    with ChatServer(pieces=(revised[:18], revised[18:])) as llm_server:
        llm_server.release.set()
        choose_server(page, llm_server.url)
        page.locator("#edit-action input").click()
        page.get_by_role("option", name="Shorten").click()
        page.get_by_role("button", name="Revise the script").click()
        wait_until(lambda: "Revision ready" in status_text(page), what="the revision")
    sent = llm_server.requests[0]["messages"]
    assert sent[-1]["content"].endswith(original) and "shorter" in sent[-1]["content"]
    diff = page.locator("#draft-diff")
    wait_until(lambda: diff.is_visible() and "Changes to the editor" in diff.inner_text(), what="the changes")
    assert "We bake every morning." in " ".join(diff.locator(".diff-del").all_inner_texts())
    assert "Taste" in " ".join(diff.locator(".diff-ins").all_inner_texts())
    assert editor(page).input_value() == original  # nothing replaced yet
    page.screenshot(path=str(shots / "script-edit-diff.png"), full_page=True)
    page.get_by_role("button", name="Use this draft").click()
    wait_until(lambda: editor(page).input_value() == revised, what="the revision in the editor")
    page.locator("#undo-draft").click()
    wait_until(lambda: editor(page).input_value() == original, what="the original back after Undo")


def test_stop_ends_a_long_answer(page):
    pieces = tuple(f" word{i}" for i in range(200))
    with ChatServer(pieces=pieces, delay=0.1) as llm_server:
        llm_server.release.set()
        choose_server(page, llm_server.url)
        page.locator("#chat-message textarea").fill("Write something long")
        page.get_by_role("button", name="Send", exact=True).click()
        wait_until(lambda: "word3" in chat_text(page), what="the answer to start")
        page.get_by_role("button", name="Stop", exact=True).click()
        wait_until(lambda: "Stopped" in status_text(page), timeout=20, what="the stopped status")
        shown = chat_text(page)
        time.sleep(1.0)
        assert chat_text(page) == shown  # nothing more arrives
        assert "word199" not in shown
        wait_until(lambda: llm_server.finished.is_set(), timeout=10, what="the server to see the hang-up")
        assert llm_server.sent < len(pieces)


def test_template_draft_from_the_brief(page):
    page.get_by_label("Kind of video").click()
    page.get_by_role("option", name="Social media short").click()
    # the kind of video suggests its usual length and tone
    wait_until(lambda: page.get_by_label("Tone").input_value() == "enthusiastic", what="the preset's tone")
    assert page.get_by_label("number input for Target length (seconds)").input_value() == "20"
    page.get_by_label("No AI: fill a template").check()
    page.get_by_label("Topic").fill("Sunny Bread, our neighbourhood bakery")
    page.get_by_role("button", name="Draft from the brief").click()
    wait_until(lambda: "Sunny Bread, our neighbourhood bakery" in chat_text(page), what="the template draft")
    wait_until(lambda: "Draft ready" in status_text(page), what="the finished status")


@needs_whisper
def test_dictation_by_upload_goes_into_the_editor(page, studio, tmp_path, shots):
    speech = studio.tts().synthesize("Fresh bread every morning.")
    wav = tmp_path / "dictation.wav"
    sf.write(wav, speech.audio, speech.sample_rate)
    before = editor(page).input_value()
    page.locator("#editor-mic button[aria-label='Upload file']").click()
    page.locator("#editor-mic input[type=file]").set_input_files(str(wav))
    wait_until(
        lambda: "bread" in editor(page).input_value().lower() and editor(page).input_value() != before,
        timeout=90,
        what="the dictated words",
    )
    value = editor(page).input_value()
    assert value.startswith(before) and "morning" in value.lower()
    assert "Dictation added to the script" in status_text(page)
    page.screenshot(path=str(shots / "script-dictation.png"), full_page=True)


@needs_whisper
def test_recording_a_message_with_the_microphone_dictates_it_into_the_chat_box(page):
    message = page.locator("#chat-message textarea")
    message.fill("")
    mic = page.locator("#chat-mic")
    mic.locator("button.record-button").click()
    page.wait_for_timeout(4000)  # the fake microphone says the sentence in the first 3 s
    mic.locator("button.stop-button").first.click()
    wait_until(lambda: message.input_value() != "", timeout=90, what="the dictated message")
    heard = message.input_value()
    assert word_errors(words(MIC_SENTENCE), words(heard)) <= 1, heard
    assert "Dictation added to your message" in status_text(page)


def test_script_is_saved_with_a_project(page):
    text = "[sad] Saved from the browser. [pause 1s] Second sentence."
    editor(page).fill(text)
    project = page.get_by_role("combobox", name="Project", exact=True)
    project.fill("ui test project")
    project.press("Enter")
    page.get_by_role("button", name="Save", exact=True).click()
    wait_until(lambda: "Saved" in status_text(page), what="the saved status")
    saved = Path(os.environ["STUDIO_HOME"]) / "projects" / "ui-test-project" / "script.txt"
    assert saved.read_text(encoding="utf-8") == text


def test_a_project_saved_elsewhere_opens_in_the_editor(page):
    from studio.config import StudioPaths
    from studio.script.projects import save_project

    text = "[surprised] Saved from the command line. Opened in the browser."
    save_project(StudioPaths.from_env(), "cli project", text)  # the server shares this data folder
    editor(page).fill("something else")
    project = page.get_by_role("combobox", name="Project")
    project.fill("cli project")
    project.press("Enter")
    page.get_by_role("button", name="Open", exact=True).click()
    wait_until(lambda: "Opened" in status_text(page), what="the opened status")
    assert editor(page).input_value() == text
    project.click()  # the refreshed list offers the project
    page.get_by_role("option", name="cli-project").wait_for(timeout=10_000)
    project.press("Escape")


def test_the_script_goes_to_the_studio_tab_for_rendering(page):
    text = "[happy] From the Script tab to the Studio tab. [pause 0.5s] Ready to render."
    editor(page).fill(text)
    page.get_by_role("button", name="Use in the Studio tab").click()
    studio_box = page.locator("#studio-script textarea")
    studio_box.wait_for(state="visible")
    wait_until(lambda: studio_box.input_value() == text, what="the script in the Studio tab")
    page.get_by_role("tab", name="Script").click()
