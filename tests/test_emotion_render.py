"""One emotion strength for a whole render: it reaches voice and face, keys the caches, and bad values
get one clear error line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import with_prepared_models

from studio.config import DEMO_PORTRAIT, StudioPaths
from studio.errors import InputError
from studio.render.pipeline import RenderJob, RenderRequest
from studio.services import Studio

ROOT = Path(__file__).resolve().parent.parent
TEXT = "[sad] We waited, and nobody came."


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return Studio(StudioPaths(with_prepared_models(tmp_path_factory.mktemp("emotion_render_home"))))


def render(studio: Studio, out: Path, text: str = TEXT, **kw):
    return RenderJob(studio, RenderRequest(portrait=DEMO_PORTRAIT, out=out, text=text, preset="preview", **kw)).run()


def test_strength_reaches_the_voice_keys_the_caches_and_is_recorded(studio, tmp_path):
    full = render(studio, tmp_path / "full.mp4")
    tts = set((studio.paths.cache / "tts").glob("*.npz"))
    weak = render(studio, tmp_path / "weak.mp4", emotion_strength=0.3)
    assert len(set((studio.paths.cache / "tts").glob("*.npz")) - tts) == 1  # spoken again, not reused
    assert weak.chunks_reused == 0  # and drawn again (the face changes too)
    assert weak.duration < full.duration  # weaker sadness: faster, shorter pauses
    manifest = json.loads(weak.manifest.read_text())
    assert manifest["inputs"]["emotion_strength"] == 0.3
    again = render(studio, tmp_path / "again.mp4", emotion_strength=0.3)
    assert again.chunks_reused == again.chunks  # same strength: everything reused


def test_markup_strength_and_the_global_strength_multiply(studio, tmp_path):
    job = RenderJob(
        studio,
        RenderRequest(portrait=DEMO_PORTRAIT, out=tmp_path / "x.mp4", text="[happy 1.5] Hi.", emotion_strength=1.2),
    )
    sentence = job._validate()[1].sentences[0]
    assert job._mood(sentence) == ("happy", 1.8)
    assert job._strength(1.9) == 2.0  # never beyond the strongest


@pytest.mark.parametrize("value", [-0.5, 2.5, float("nan")])
def test_strength_outside_0_to_2_is_refused_before_any_work(studio, tmp_path, value):
    with pytest.raises(InputError, match="emotion strength must be between 0"):
        RenderJob(
            studio, RenderRequest(portrait=DEMO_PORTRAIT, out=tmp_path / "x.mp4", text=TEXT, emotion_strength=value)
        ).check()
    assert not (tmp_path / "x.mp4").exists()


def test_cli_emotion_strength_bad_value_is_one_error_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "render", "--portrait", str(DEMO_PORTRAIT), "--text", TEXT]
        + ["--emotion-strength", "3", "--out", str(tmp_path / "x.mp4")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "emotion strength" in lines[0] and "Traceback" not in proc.stderr


def test_zero_strength_speaks_exactly_like_neutral(studio):
    from studio.voice.speakers import speaker_for

    speaker = speaker_for(studio, None)
    neutral = speaker.synthesize("We waited, and nobody came.", emotion="neutral")
    none = speaker.synthesize("We waited, and nobody came.", emotion="sad", strength=0.0)
    assert np.array_equal(neutral.audio, none.audio) and neutral.words == none.words
