"""Dictation: speech to text for the chat box and the editor (faster-whisper, loaded once per process)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from engines import registry
from studio import models
from studio.errors import InputError, StudioError

BUILT_IN_ASR = "whisper-base"


# ---------------------------------------------------------------------------------------------
# Presets and the form


_recognizers: dict[tuple[int, str, str], Any] = {}
_recognizers_lock = threading.Lock()


def speech_recognizer(studio: Any, model: str = BUILT_IN_ASR, device: str = "cpu") -> Any:
    """The faster-whisper engine for catalog model ``model``, loaded once per process.

    The built-in Whisper base is the studio's shared ``asr``/``faster-whisper`` engine.
    """
    folder = models.resolve(model, studio.paths)
    compute = "int8" if device == "cpu" else "float16"
    try:
        if model == BUILT_IN_ASR and device == "cpu":
            return studio.engine("asr", "faster-whisper", model_dir=folder, device=device, compute_type=compute)
        key = (id(studio), model, device)
        with _recognizers_lock:
            if key not in _recognizers:
                _recognizers[key] = registry.create(
                    "asr", "faster-whisper", model_dir=folder, device=device, compute_type=compute
                )
            return _recognizers[key]
    except (OSError, RuntimeError, ValueError) as exc:
        raise StudioError(f"the speech recognizer '{model}' could not be loaded: {exc}") from exc


def dictate(
    studio: Any, audio: np.ndarray, sample_rate: int, *, language: str | None = None, model: str = BUILT_IN_ASR
) -> str:
    """Text from a recording (mono or stereo samples at ``sample_rate`` Hz) for the chat or editor.

    ``language`` is a code such as "en" (None = detect). Raises InputError for silence.
    """
    audio = np.asarray(audio)
    if audio.size == 0 or sample_rate <= 0:
        raise InputError("the recording is empty: press record, speak, then stop")
    if audio.shape[0] / sample_rate > 600:
        raise InputError("the recording is longer than 10 minutes: dictate in shorter pieces")
    transcript = speech_recognizer(studio, model).transcribe(
        audio, sample_rate, language=language, word_timestamps=False
    )
    if not transcript.text.strip():
        raise InputError("no speech was heard in the recording: check the microphone and speak closer to it")
    return transcript.text.strip()


LANGUAGE_CODES = {
    "English": "en",
    "German": "de",
    "French": "fr",
    "Spanish": "es",
    "Italian": "it",
    "Portuguese": "pt",
    "Dutch": "nl",
    "Polish": "pl",
    "Japanese": "ja",
    "Chinese": "zh",
}


def language_code(language: str) -> str | None:
    """Whisper language code for a language name from the form ("German" -> "de"); None = detect."""
    return LANGUAGE_CODES.get(language)
