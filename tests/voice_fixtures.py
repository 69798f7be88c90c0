"""Test speakers made offline: the default Piper voice, shifted in pitch and formants with WORLD.

No recordings ship with the repository and nothing may be downloaded, so "users" are synthetic:
each speaker reads different sentences than the calibration text, at its own pitch, formant
position and speaking rate, with pauses between sentences like a real read-aloud recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

READING = (
    "The old lighthouse stood on the cliff for more than a hundred years.",
    "Every morning the keeper climbed the stairs and cleaned the great lamp.",
    "Ships passing in the night would look for its steady yellow light.",
    "One winter a storm broke the windows and the wind howled through the tower.",
    "The keeper worked until dawn to keep the flame burning.",
    "When the sun rose, the sea was calm and the fishing boats came home.",
    "The village still tells the story to children on cold evenings.",
    "Some say you can hear his footsteps on the stairs when the fog rolls in.",
    "Today the lighthouse is a small museum with a café at the bottom.",
    "Visitors climb to the top to see the coast stretch out for miles.",
    "On clear days you can even see the islands far to the west.",
    "It is a quiet place, and I like to go there when I need to think.",
    "My grandmother used to bring me there when I was a little boy.",
    "We would sit on the rocks, eat sandwiches and watch the waves.",
)


@dataclass(frozen=True)
class SyntheticSpeaker:
    """A made-up speaker: pitch shift (semitones), formant warp factor, speaking rate factor."""

    name: str
    semitones: float
    warp: float
    rate: float
    spread: float = 1.0  # pitch range factor


SPEAKERS = (
    SyntheticSpeaker("high", semitones=6.0, warp=1.14, rate=1.08, spread=1.3),
    SyntheticSpeaker("low", semitones=-4.0, warp=0.88, rate=0.92, spread=0.8),
    SyntheticSpeaker("bright", semitones=9.0, warp=1.2, rate=1.0, spread=1.2),
)


def read_aloud(
    tts, speaker: SyntheticSpeaker, seconds: float, *, sample_rate: int = 44_100, pause_s: float = 0.6, seed: int = 0
) -> np.ndarray:
    """About ``seconds`` of ``speaker`` reading READING, at ``sample_rate`` Hz, with a quiet room tone."""
    import soxr

    from engines.voice.match import MatchSettings, WorldVoiceMatch

    world = WorldVoiceMatch()
    rng = np.random.default_rng(seed)
    pieces: list[np.ndarray] = [np.zeros(int(0.5 * tts.sample_rate), np.float32)]
    total = 0.0
    i = 0
    while total < seconds:
        text = READING[i % len(READING)]
        i += 1
        speech = tts.synthesize(text, rate=speaker.rate)
        analysis = world.analyse(speech.audio, speech.sample_rate)
        own = analysis.traits
        target = type(own)(
            own.f0_log_mean + speaker.semitones * np.log(2) / 12, own.f0_log_std * speaker.spread, own.envelope_db, 0.0
        )
        audio = world.render(analysis, MatchSettings(target=target, warp=speaker.warp, eq_strength=0.0))
        pieces += [audio, np.zeros(int(pause_s * tts.sample_rate), np.float32)]
        total += len(audio) / tts.sample_rate
    audio = np.concatenate(pieces)
    audio = soxr.resample(audio, tts.sample_rate, sample_rate).astype(np.float32)
    audio *= 0.3 / max(float(np.max(np.abs(audio))), 1e-6)
    return audio + rng.normal(0, 3e-4, len(audio)).astype(np.float32)  # room tone (~ -70 dBFS)


def write(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    import soundfile as sf

    sf.write(str(path), audio, sample_rate, subtype=subtype)
    return path


def make_studio(home: Path):
    """A Studio on its own data folder that shares the session's joined models (no re-assembly)."""
    from studio.config import StudioPaths
    from studio.services import Studio

    shared = StudioPaths.from_env().models
    shared.mkdir(parents=True, exist_ok=True)
    (home / "cache").mkdir(parents=True, exist_ok=True)
    if not (home / "cache" / "models").exists():
        (home / "cache" / "models").symlink_to(shared, target_is_directory=True)
    return Studio(StudioPaths(home))


TINY_XTTS_SCRIPT = r"""
import json, shutil, sys
from pathlib import Path
import torch
import TTS
from TTS.tts.configs.xtts_config import XttsConfig
from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
from TTS.tts.models.xtts import Xtts, XttsArgs
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
# No XTTS vocab ships offline; the tortoise tokenizer in the package has the same format.
vocab = Path(TTS.__file__).parent / "tts/utils/assets/tortoise/tokenizer.json"
shutil.copy(vocab, out / "vocab.json")
n_tokens = VoiceBpeTokenizer(vocab_file=str(vocab)).get_number_tokens()
cfg = XttsConfig()
cfg.model_args = XttsArgs(gpt_layers=1, gpt_n_model_channels=64, gpt_n_heads=2, decoder_input_dim=64,
    gpt_number_text_tokens=n_tokens, gpt_start_text_token=n_tokens - 1, gpt_stop_text_token=0,
    gpt_max_audio_tokens=24, gpt_max_text_tokens=100, gpt_max_prompt_tokens=70,
    gpt_use_perceiver_resampler=True, d_vector_dim=512)
torch.manual_seed(0)
model = Xtts(cfg)
model.gpt.init_gpt_for_inference(kv_cache=True)
cfg.save_json(str(out / "config.json"))
torch.save({"model": model.state_dict()}, out / "model.pth")
"""


def make_tiny_xtts(python: Path, folder: Path) -> Path:
    """A real XTTS-v2 model folder with tiny random weights (1 GPT layer), built by the XTTS env."""
    import subprocess

    script = folder.parent / "make_tiny_xtts.py"
    script.write_text(TINY_XTTS_SCRIPT, encoding="utf-8")
    subprocess.run([str(python), str(script), str(folder)], check=True, capture_output=True, timeout=600)
    return folder
