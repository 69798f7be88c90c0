"""OpenVoice V2 tone-colour conversion for voice profiles: is it installed, and the tone colours it needs.

The converter (MIT, ``presets/models/openvoice-v2-converter.json``) is downloaded on demand through
the model manager. The default voice's tone colour is measured once per process from the
calibration sentences; a profile's is measured from its ``voice.wav`` on first use and kept in the
profile folder (``openvoice_tone.npz``), tagged with the converter it was measured with.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

from studio import models
from studio.config import StudioPaths
from studio.storage import atomic_write_npz, read_npz

MODEL = "openvoice-v2-converter"
TONE_FILE = "openvoice_tone.npz"

_default_tone: dict[tuple[int, str], np.ndarray] = {}
_lock = threading.Lock()


def openvoice_ready(paths: StudioPaths) -> bool:
    """True when the converter's files are on this machine (nothing is downloaded here)."""
    st = models.status(MODEL, paths)
    if st.state != "ready" or st.location is None:
        return False
    from engines.voice.openvoice.converter import ConverterLoadError, find_model_files

    try:
        find_model_files(Path(st.location))
    except ConverterLoadError:
        return False
    return True


def converter(studio):
    """The loaded converter (shared by the studio's speakers)."""
    return studio.engine("voice_convert", "openvoice", model_dir=models.resolve(MODEL, studio.paths))


def signature(studio) -> str:
    """Identifies the converter's weights (its config and checkpoint size), for caches and render keys."""
    from engines.voice.openvoice.converter import find_model_files

    config, checkpoint = find_model_files(Path(models.resolve(MODEL, studio.paths)))
    blob = config.read_bytes() + str(checkpoint.stat().st_size).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def default_tone_colour(studio) -> np.ndarray:
    """The default voice's tone colour, from the calibration sentences (once per process)."""
    from studio.voice.calibration import default_voice_calibration

    key = (id(studio.tts()), signature(studio))
    with _lock:
        if key not in _default_tone:
            cal = default_voice_calibration(studio)
            audio = np.concatenate([s.audio for s in [*cal.speech, cal.test_speech]])
            _default_tone[key] = converter(studio).tone_colour(audio, cal.sample_rate)
        return _default_tone[key]


def profile_tone_colour(studio, profile) -> np.ndarray:
    """The profile's tone colour, measured from its reference once and cached in the profile folder."""
    from studio.voice.recording import load_recording

    sig = signature(studio)
    path = profile.folder / TONE_FILE
    if path.exists():
        try:
            data = read_npz(path)
            if str(data["signature"]) == sig:
                return data["tone"]
        except (OSError, KeyError, ValueError):
            pass  # damaged or from other weights: measure again
    rec = load_recording(profile.reference_path)
    tone = converter(studio).tone_colour(rec.audio, rec.sample_rate)
    atomic_write_npz(path, tone=tone.astype(np.float32), signature=np.array(sig))
    return tone
