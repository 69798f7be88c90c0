"""Test speakers the voice match never saw: eSpeak NG voices (``espeakng-loader``), read aloud offline.

No recordings ship with the repository and nothing may be downloaded, so "users" come from another
synthesizer than the studio's Piper voice: eSpeak NG's formant synthesis, with its male and female
variants (different formants, breathiness, pitch) and its pitch, range and rate settings. Each speaker
reads different sentences than the calibration text, with pauses between sentences like a real
read-aloud recording. None of them is made with the WORLD transform the matcher uses.
"""

from __future__ import annotations

import ctypes
import threading
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
class EspeakSpeaker:
    """An eSpeak NG voice: ``voice`` name (language + variant), pitch and range 0..100, rate in words/minute."""

    name: str
    voice: str
    pitch: int = 50
    range: int = 50
    rate: int = 165
    female: bool = False


SPEAKERS = (
    EspeakSpeaker("ada", "en-us+f3", pitch=60, range=60, rate=160, female=True),
    EspeakSpeaker("bob", "en+m7", pitch=35, range=40, rate=150),
    EspeakSpeaker("cleo", "en-gb-x-rp+f2", pitch=70, range=70, rate=175, female=True),
    EspeakSpeaker("dan", "en-gb-scotland", pitch=45, range=55, rate=170),
    EspeakSpeaker("eve", "en-us+f4", pitch=55, range=45, rate=150, female=True),
    EspeakSpeaker("fred", "en-us+m3", pitch=30, range=50, rate=180),
)

_ESPEAK_LOCK = threading.Lock()
_espeak = None  # (library, sample rate, chunks list, callback kept alive)
_PITCH, _RANGE, _RATE = 3, 4, 1  # espeak_PARAMETER values


def _espeak_lib():
    global _espeak
    if _espeak is None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)  # 2 = synchronous
        if rate <= 0:
            raise RuntimeError("eSpeak NG did not start")
        chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

        def collect(wav, n, _events):
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768)
            return 0

        keep = callback_type(collect)
        lib.espeak_SetSynthCallback(keep)
        _espeak = (lib, rate, chunks, keep)
    return _espeak


def espeak_say(speaker: EspeakSpeaker, text: str) -> tuple[np.ndarray, int]:
    """One utterance of ``text`` by ``speaker``: float32 mono audio and its sample rate (22 050 Hz)."""
    with _ESPEAK_LOCK:
        lib, rate, chunks, _ = _espeak_lib()
        if lib.espeak_SetVoiceByName(speaker.voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {speaker.voice}")
        for param, value in ((_PITCH, speaker.pitch), (_RANGE, speaker.range), (_RATE, speaker.rate)):
            lib.espeak_SetParameter(param, int(value), 0)
        chunks.clear()
        data = text.encode("utf-8")
        lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 0x1, None, None)  # 0x1 = espeakCHARS_UTF8
        lib.espeak_Synchronize()
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio, rate


def read_aloud(
    _tts,
    speaker: EspeakSpeaker,
    seconds: float,
    *,
    sample_rate: int = 44_100,
    pause_s: float = 0.6,
    seed: int = 0,
    sentences: tuple[str, ...] = READING,
) -> np.ndarray:
    """About ``seconds`` of ``speaker`` reading ``sentences``, at ``sample_rate`` Hz, with a quiet room tone.

    The first argument (a TTS) is not used: eSpeak reads; it stays so older call sites keep working.
    """
    import soxr

    rng = np.random.default_rng(seed)
    pieces: list[np.ndarray] = []
    total, i, rate = 0.0, 0, 22_050
    while total < seconds:
        audio, rate = espeak_say(speaker, sentences[i % len(sentences)])
        i += 1
        if not pieces:
            pieces.append(np.zeros(int(0.5 * rate), np.float32))
        pieces += [audio, np.zeros(int(pause_s * rate), np.float32)]
        total += len(audio) / rate
    audio = soxr.resample(np.concatenate(pieces), rate, sample_rate).astype(np.float32)
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
