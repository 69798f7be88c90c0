"""The Voice tab's "hear it" buttons and the Studio tab's emotion strength slider."""

from __future__ import annotations

import pytest
from conftest import with_prepared_models


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    from studio.config import StudioPaths
    from studio.services import Studio

    return Studio(StudioPaths(with_prepared_models(tmp_path_factory.mktemp("emotion_ui_home"))))


def click_handlers(demo) -> dict[str, object]:
    """elem_id of each button -> the function its click runs."""
    import gradio as gr

    by_id = {b._id: b for b in demo.blocks.values() if isinstance(b, gr.Button)}
    handlers = {}
    for fn in demo.fns.values():
        for block_id, event in fn.targets:
            if event == "click" and block_id in by_id and by_id[block_id].elem_id:
                handlers[by_id[block_id].elem_id] = fn.fn
    return handlers


def test_hear_it_speaks_the_same_sentence_in_each_emotion_with_the_chosen_voice(studio):
    import gradio as gr

    from engines.emotions import EMOTIONS
    from studio.ui import voice_tab

    with gr.Blocks() as demo:
        voice_tab.build(studio)
    handlers = click_handlers(demo)
    assert {f"hear-{e}" for e in EMOTIONS} <= set(handlers)
    heard = {}
    for emotion in ("neutral", "happy", "sad"):
        (rate, audio), info = handlers[f"hear-{emotion}"](None, "We waited, and nobody came.", "Voice match", 1.0)
        assert "default voice" in info and (emotion == "neutral" or emotion in info)
        heard[emotion] = len(audio) / rate
    assert heard["sad"] > heard["neutral"] > heard["happy"]  # sad speaks slower, with longer pauses
    _, error = handlers["hear-happy"](None, "   ", "Voice match", 1.0)
    assert "nothing to say" in error


def test_studio_tab_has_one_emotion_strength_slider_for_voice_and_face(studio):
    import gradio as gr

    from studio.ui import studio_tab

    with gr.Blocks() as demo:
        studio_tab.build(studio)
    sliders = [b for b in demo.blocks.values() if isinstance(b, gr.Slider) and b.elem_id == "studio-emotion-strength"]
    assert len(sliders) == 1
    slider = sliders[0]
    assert (slider.minimum, slider.maximum, slider.value) == (0.0, 2.0, 1.0)
    assert "voice and face" in slider.info  # one number for both
