"""Reading user audio: WAV/FLAC/OGG via soundfile, anything else (MP3, M4A, WebM) via PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.errors import InputError, RejectedError

MAX_SECONDS = 30 * 60  # longer uploads are refused before decoding them whole
SILENCE_RMS = 1e-4  # about -80 dBFS


def rms_envelope(samples: np.ndarray, sample_rate: int, hop_s: float = 0.01) -> tuple[np.ndarray, int]:
    """Loudness of mono ``samples``: the RMS of each whole ``hop_s`` block, and the block length
    in samples (frame ``i`` covers ``i * hop / sample_rate`` seconds onwards). A trailing partial
    block is dropped; audio shorter than one block gives an empty envelope."""
    hop = max(1, int(sample_rate * hop_s + 1e-6))  # sample_rate // 100 at the default 10 ms
    n = len(samples) // hop
    blocks = np.asarray(samples[: n * hop]).reshape(n, hop).astype(np.float64)
    return np.sqrt(np.mean(blocks**2, axis=1)) if n else np.zeros(0), hop


def load_audio(
    path: str | Path, *, mono: bool = True, max_seconds: float = MAX_SECONDS, allow_silent: bool = False
) -> tuple[np.ndarray, int]:
    """Decode ``path`` to float32 in [-1, 1] and its sample rate (Hz).

    ``mono`` averages the channels (otherwise shape is (samples, channels)). Raises InputError for a
    missing, unreadable or too long file, RejectedError for a silent one (unless ``allow_silent``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cannot find the audio file {path}: check the file name")
    try:
        audio, sr = _read_soundfile(path, max_seconds)
    except _NotSoundfile:
        audio, sr = _read_av(path, max_seconds)
    if audio.size == 0:
        raise InputError(f"{path.name} contains no audio: record or choose another file")
    if mono and audio.ndim == 2:
        audio = audio.mean(axis=1)
    audio = np.nan_to_num(audio.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if not allow_silent and float(np.sqrt(np.mean(np.square(audio), dtype=np.float64))) < SILENCE_RMS:
        raise RejectedError(f"{path.name} is silent: check the microphone and record again")
    return audio, int(sr)


class _NotSoundfile(Exception):
    pass


def _too_long(path: Path, seconds: float, limit: float) -> InputError:
    return InputError(
        f"{path.name} is {seconds / 60:.0f} minutes long: use a file shorter than {limit / 60:.0f} minutes"
    )


def _read_soundfile(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError, TypeError) as exc:
        raise _NotSoundfile from exc
    if info.frames / max(1, info.samplerate) > max_seconds:
        raise _too_long(path, info.frames / info.samplerate, max_seconds)
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise InputError(f"{path.name} is damaged and cannot be read: record or export it again") from exc
    return audio, sr


def _read_av(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise InputError(f"{path.name} has no sound track: choose an audio file")
            stream = streams[0]
            sr = stream.codec_context.sample_rate
            chunks, total = [], 0
            for frame in container.decode(stream):
                arr = frame.to_ndarray()
                data = arr.T if frame.format.is_planar else arr.reshape(-1, len(frame.layout.channels))
                if np.issubdtype(arr.dtype, np.integer):
                    data = data / float(np.iinfo(arr.dtype).max)
                data = data.astype(np.float32)
                chunks.append(data)
                total += len(data)
                if total / sr > max_seconds:
                    raise _too_long(path, total / sr, max_seconds)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path.name} is not a readable audio file: use WAV, MP3, M4A, OGG or FLAC") from exc
    if not chunks:
        raise InputError(f"{path.name} contains no audio: record or choose another file")
    return np.concatenate(chunks), sr
