"""XTTS-v2 neural cloning: the real Xtts class with tiny random weights, run in its own environment.

Skipped when the XTTS environment is missing (``./launch.sh xtts`` makes ``.venv-xtts``; or point
``STUDIO_XTTS_PYTHON`` at another one). The license gate and the registry entry are always tested.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from voice_fixtures import SPEAKERS, make_studio, make_tiny_xtts, read_aloud, write

from engines.tts.xtts import XttsError, XttsWorker, find_python
from studio import models
from studio.config import PRESETS_DIR
from studio.errors import InputError
from studio.voice.profiles import VoiceLibrary
from studio.voice.speakers import speaker_for
from studio.voice.xtts_setup import enable_xtts

XTTS_PYTHON = find_python()
needs_xtts = pytest.mark.skipif(XTTS_PYTHON is None, reason="XTTS environment not installed (./launch.sh xtts)")


def test_registry_entry_requires_license_acceptance():
    entry = models.entry("xtts-v2")
    assert entry.requires_license_acceptance and not entry.verified_with_real_weights
    assert "CPML" in entry.license and "non-commercial" in entry.license
    data = json.loads((PRESETS_DIR / "models" / "xtts-v2.json").read_text())
    hf = next(s for s in data["sources"] if s["kind"] == "hf")
    assert hf["repo"] == "coqui/XTTS-v2"
    assert [f["path"] for f in hf["files"]] == ["model.pth", "config.json", "vocab.json", "speakers_xtts.pth"]


def test_cloning_without_accepting_the_license_downloads_nothing(tmp_path, monkeypatch):
    studio = make_studio(tmp_path / "home")
    lib = VoiceLibrary(studio.paths, studio=studio)
    # A profile folder is enough for the license gate, which comes before any download.
    folder = lib.root / "Ann"
    folder.mkdir(parents=True)
    (folder / "profile.json").write_text(json.dumps({"name": "Ann", "report": {}, "settings": {}}))
    monkeypatch.delenv("STUDIO_XTTS_MODEL_DIR", raising=False)
    with pytest.raises(InputError, match="Coqui Public Model License.*accept"):
        enable_xtts(studio, "Ann", accept_license=False)
    assert not (studio.paths.models / "xtts-v2").exists() or not any((studio.paths.models / "xtts-v2").iterdir())


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_xtts(XTTS_PYTHON, tmp_path_factory.mktemp("xtts") / "tiny-xtts-v2")


@needs_xtts
@pytest.mark.slow
def test_worker_computes_latents_once_and_synthesizes_from_them(tiny_model, tmp_path):
    import soundfile as sf
    from safetensors.numpy import load_file

    ref = tmp_path / "ref.wav"
    rng = np.random.default_rng(0)
    sf.write(
        str(ref),
        (0.1 * np.sin(np.arange(24000 * 8) * 0.05) + rng.normal(0, 0.01, 24000 * 8)).astype(np.float32),
        24000,
        subtype="PCM_16",
    )
    worker = XttsWorker(tiny_model, python=XTTS_PYTHON, device="cpu")
    try:
        latents = tmp_path / "lat.safetensors"
        shapes = worker.compute_latents(ref, latents)
        stored = load_file(str(latents))
        assert set(stored) == {"gpt_cond_latent", "speaker_embedding"}
        assert list(stored["speaker_embedding"].shape) == shapes["speaker_embedding"] == [1, 512, 1]
        assert stored["gpt_cond_latent"].shape[-1] == 64  # the tiny model's width
        ref.unlink()  # synthesis must not need the recording any more
        audio = worker.synthesize_audio("Hello world.", latents)
        assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 1000
        assert np.all(np.isfinite(audio))
        # A bad request is answered with an error and the worker keeps serving.
        with pytest.raises(XttsError, match="failed"):
            worker.synthesize_audio("Hello.", tmp_path / "missing.safetensors")
        assert len(worker.synthesize_audio("Again.", latents)) > 1000
    finally:
        worker.close()


@needs_xtts
@pytest.mark.slow
def test_profile_clone_caches_latents_and_speaks_with_timings(tiny_model, tmp_path_factory, monkeypatch):
    studio = make_studio(tmp_path_factory.mktemp("xtts_home"))
    monkeypatch.setenv("STUDIO_XTTS_MODEL_DIR", str(tiny_model))
    lib = VoiceLibrary(studio.paths, studio=studio)
    audio = read_aloud(studio.tts(), SPEAKERS[2], 17, sample_rate=44_100)
    profile = lib.add("Xena", write(tmp_path_factory.mktemp("rec") / "x.wav", audio, 44_100))
    profile = enable_xtts(studio, "Xena")
    assert profile.has_xtts and lib.load("Xena").settings["xtts"]["latents"] == "xtts_latents.safetensors"
    speaker = speaker_for(studio, "Xena")
    assert speaker.describe() == "XTTS-v2 clone of Xena"
    speech = speaker.synthesize("Good morning everyone.")
    assert speech.sample_rate == 24_000
    assert [w.word for w in speech.words] == ["Good", "morning", "everyone."]
    assert all(0 <= p.start <= p.end <= speech.duration + 1e-6 for p in speech.phonemes)
    similarity = speaker.similarity(speech)  # None when the speaker encoder is missing
    assert similarity is None or similarity == pytest.approx(
        studio.engine("speaker", "resemblyzer").similarity(speech.audio, speech.sample_rate, profile.embedding()),
        abs=1e-4,
    )
    # The offline match stays available for the same profile.
    assert speaker_for(studio, "Xena", engine="match").describe() == "voice match toward Xena"
    speaker.engine.close()
