"""The recording quality report: is this recording good enough to become a voice profile?

Everything is measured before anything is saved: speech duration (silero-vad), loudness (LUFS,
pyloudnorm), clipping, an SNR estimate (speech vs. pause energy), sample rate and channels, and
a transcript (faster-whisper on the raw audio, never the denoised one) for the user to check.
Each row gets a traffic light and one line of plain advice; any red row rejects the recording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.progress import Progress
from studio.errors import InputError, RejectedError

# Thresholds (seconds, LUFS, dB, Hz). "min" rejects below, "ideal" warns below.
MIN_SPEECH_S, GOOD_SPEECH_S, IDEAL_SPEECH_S = 15.0, 30.0, 60.0
MAX_FILE_S = 600.0  # longer files are refused before decoding: a profile needs about a minute
MIN_RATE_HZ, GOOD_RATE_HZ = 16_000, 22_050
TOO_QUIET_LUFS, QUIET_LUFS, LOUD_LUFS = -45.0, -32.0, -10.0
CLIP_WARN, CLIP_REJECT = 0.001, 0.01  # fraction of samples at full scale
SNR_REJECT_DB, SNR_WARN_DB = 8.0, 20.0
TRANSCRIPT_MAX_S = 30.0  # transcribe the first half minute of speech: enough to check, quicker

OK, WARN, REJECT = "ok", "warn", "reject"


@dataclass
class Recording:
    """Decoded audio: mono float32 in [-1, 1] at ``sample_rate`` Hz, plus what the file was."""

    audio: np.ndarray
    sample_rate: int
    channels: int
    path: Path
    peak_multichannel: np.ndarray | None = field(default=None, repr=False)  # |max| per sample over channels

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.audio) / float(self.sample_rate)


@dataclass
class ReportRow:
    """One measurement: a label, its value in words, a traffic light and advice."""

    key: str
    label: str
    value: str
    status: str  # ok / warn / reject
    advice: str = ""


@dataclass
class RecordingReport:
    """The quality report of one recording (all durations in seconds)."""

    file_name: str
    duration_s: float
    speech_s: float
    sample_rate: int
    channels: int
    loudness_lufs: float
    clipping_ratio: float
    snr_db: float
    rows: list[ReportRow]
    transcript: str = ""
    transcript_note: str = ""
    speech_segments: list[tuple[float, float]] = field(default_factory=list, repr=False)

    @property
    def verdict(self) -> str:
        """ "rejected", "usable" (some warnings) or "good"."""
        states = {r.status for r in self.rows}
        return "rejected" if REJECT in states else "usable" if WARN in states else "good"

    @property
    def usable(self) -> bool:
        return self.verdict != "rejected"

    @property
    def noisy(self) -> bool:
        """True when noise removal would likely help."""
        return self.snr_db < SNR_WARN_DB

    def problems(self) -> list[ReportRow]:
        return [r for r in self.rows if r.status == REJECT]

    def advice(self) -> list[str]:
        return [r.advice for r in self.rows if r.status != OK and r.advice]

    def summary(self) -> str:
        """One line: the verdict and the most important advice."""
        if self.verdict == "good":
            return f"good recording: {self.speech_s:.0f} s of clear speech"
        first = (self.problems() or [r for r in self.rows if r.status == WARN])[0]
        return f"{'not usable' if self.verdict == 'rejected' else 'usable'}: {first.advice}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict
        d["speech_segments"] = [list(s) for s in self.speech_segments]
        return d


def load_recording(path: str | Path) -> Recording:
    """Decode an audio file (WAV, FLAC, OGG, MP3, M4A, WebM) as mono float32.

    Raises InputError for a missing or unreadable file, RejectedError for one over 10 minutes
    (checked from the header before decoding, so a huge file costs nothing).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cannot find the recording {path}: check the file name")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty: record again or choose another file")
    data, rate, channels = _decode(path)
    if data.size == 0 or rate <= 0:
        raise InputError(f"{path.name} holds no audio: record again or choose another file")
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path.name} is damaged (invalid samples): export it again as WAV")
    peak = np.max(np.abs(data), axis=1) if data.ndim == 2 else None
    mono = data.mean(axis=1) if data.ndim == 2 else data
    return Recording(
        audio=np.ascontiguousarray(mono, dtype=np.float32),
        sample_rate=int(rate),
        channels=channels,
        path=path,
        peak_multichannel=peak,
    )


def _too_long(path: Path, seconds: float) -> RejectedError:
    return RejectedError(
        f"{path.name} is {seconds / 60:.0f} min long: trim it to at most "
        f"{MAX_FILE_S / 60:.0f} minutes (about one minute of speech is best)"
    )


def _decode(path: Path) -> tuple[np.ndarray, int, int]:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - not a libsndfile format: try FFmpeg (MP3, M4A, WebM)
        info = None
    if info is not None:
        if info.frames / max(info.samplerate, 1) > MAX_FILE_S:
            raise _too_long(path, info.frames / info.samplerate)
        try:
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as exc:
            raise InputError(f"{path.name} is damaged and cannot be read: export it again as WAV") from exc
        return (data[:, 0] if data.shape[1] == 1 else data), int(rate), int(data.shape[1])
    return _decode_ffmpeg(path)


def _decode_ffmpeg(path: Path) -> tuple[np.ndarray, int, int]:
    import av

    try:
        with av.open(str(path)) as container:
            stream = next((s for s in container.streams if s.type == "audio"), None)
            if stream is None:
                raise InputError(f"{path.name} has no sound track: choose an audio recording")
            if stream.duration and stream.time_base and float(stream.duration * stream.time_base) > MAX_FILE_S:
                raise _too_long(path, float(stream.duration * stream.time_base))
            rate = int(stream.rate or stream.codec_context.sample_rate)
            channels = int(stream.codec_context.channels or 1)
            chunks, total = [], 0
            for frame in container.decode(stream):
                arr = frame.to_ndarray()
                if arr.dtype.kind in "iu":
                    arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
                # Packed formats give (1, samples*channels); planar (channels, samples).
                arr = arr.reshape(-1, channels).T if arr.shape[0] == 1 and channels > 1 else arr
                chunks.append(arr.astype(np.float32))
                total += arr.shape[-1]
                if total / rate > MAX_FILE_S:
                    raise _too_long(path, total / rate)
    except (InputError, RejectedError):
        raise
    except Exception as exc:
        raise InputError(f"{path.name} is not a readable audio file: use WAV, FLAC, OGG, MP3 or M4A") from exc
    if not chunks:
        raise InputError(f"{path.name} holds no audio: record again or choose another file")
    data = np.concatenate(chunks, axis=-1).T  # (samples, channels)
    return (data[:, 0] if channels == 1 else data), rate, channels


def _frame_db(audio: np.ndarray, sample_rate: int, frame_s: float = 0.02) -> tuple[np.ndarray, int]:
    hop = max(1, int(sample_rate * frame_s))
    n = len(audio) // hop
    frames = audio[: n * hop].reshape(n, hop).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12), hop


def estimate_snr_db(audio: np.ndarray, sample_rate: int, segments: list[tuple[float, float]]) -> float:
    """Speech-to-noise ratio in dB: speech-frame energy against the pauses (or quietest frames)."""
    db, hop = _frame_db(audio, sample_rate)
    if len(db) < 10:
        return 0.0
    mask = np.zeros(len(db), bool)
    for s, e in segments:
        mask[int(s * sample_rate / hop) : int(np.ceil(e * sample_rate / hop))] = True
    speech = db[mask] if mask.sum() >= 5 else db
    pauses = db[~mask]
    # Pauses are the natural noise sample; with almost none, the quietest tenth of frames stands in.
    noise = np.percentile(pauses, 50) if len(pauses) >= 25 else np.percentile(db, 10)
    signal = 10 * np.log10(np.mean(10 ** (np.percentile(speech, [50, 90]) / 10)))
    return float(np.clip(signal - noise, -10.0, 90.0))


def clipping_ratio(rec: Recording) -> float:
    """Fraction of samples at (or within 0.1 % of) full scale in any channel."""
    peak = rec.peak_multichannel if rec.peak_multichannel is not None else np.abs(rec.audio)
    if not len(peak):
        return 0.0
    # Runs of 2+ consecutive full-scale samples: a single peak at 1.0 may be a normalised file.
    hot = peak >= 0.999
    runs = hot[1:] & hot[:-1]
    return float((runs.sum() + (hot[0] and len(hot) > 1 and hot[1])) / len(peak))


def loudness_lufs(audio: np.ndarray, sample_rate: int, segments: list[tuple[float, float]]) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770) of the speech parts; -70 for silence."""
    import pyloudnorm

    parts = [audio[int(s * sample_rate) : int(e * sample_rate)] for s, e in segments]
    speech = np.concatenate(parts) if parts and sum(map(len, parts)) > 0.5 * sample_rate else audio
    if len(speech) < int(0.5 * sample_rate):
        return -70.0
    with np.errstate(divide="ignore"):
        value = pyloudnorm.Meter(sample_rate).integrated_loudness(speech.astype(np.float64))
    return float(value) if np.isfinite(value) else -70.0


def build_report(
    rec: Recording, segments: list[tuple[float, float]], transcript: str = "", transcript_note: str = ""
) -> RecordingReport:
    """Score the recording's measurements and write the advice."""
    speech_s = float(sum(e - s for s, e in segments))
    lufs = loudness_lufs(rec.audio, rec.sample_rate, segments)
    clip = clipping_ratio(rec)
    snr = estimate_snr_db(rec.audio, rec.sample_rate, segments)
    rows: list[ReportRow] = []

    if speech_s < 1.0:
        rows.append(
            ReportRow(
                "speech",
                "Speech",
                "none found",
                REJECT,
                "no speech found: record yourself reading a text aloud for about a minute",
            )
        )
    elif speech_s < MIN_SPEECH_S:
        rows.append(
            ReportRow(
                "speech",
                "Speech",
                f"{speech_s:.0f} s",
                REJECT,
                f"only {speech_s:.0f} s of speech: record at least {GOOD_SPEECH_S:.0f} s, "
                f"{IDEAL_SPEECH_S:.0f} s is best",
            )
        )
    elif speech_s < GOOD_SPEECH_S:
        rows.append(
            ReportRow(
                "speech",
                "Speech",
                f"{speech_s:.0f} s",
                WARN,
                f"only {speech_s:.0f} s of speech: record at least {GOOD_SPEECH_S:.0f} s, "
                f"{IDEAL_SPEECH_S:.0f} s is best",
            )
        )
    elif speech_s < 0.8 * IDEAL_SPEECH_S:
        rows.append(
            ReportRow(
                "speech",
                "Speech",
                f"{speech_s:.0f} s",
                OK,
                f"{speech_s:.0f} s of speech is enough; {IDEAL_SPEECH_S:.0f} s is best",
            )
        )
    else:
        rows.append(ReportRow("speech", "Speech", f"{speech_s:.0f} s", OK))

    if speech_s >= 1.0:
        if lufs < TOO_QUIET_LUFS:
            rows.append(
                ReportRow(
                    "loudness",
                    "Loudness",
                    f"{lufs:.0f} LUFS",
                    REJECT,
                    "far too quiet: move closer to the microphone and raise the input gain",
                )
            )
        elif lufs < QUIET_LUFS:
            rows.append(
                ReportRow("loudness", "Loudness", f"{lufs:.0f} LUFS", WARN, "too quiet: move closer to the microphone")
            )
        elif lufs > LOUD_LUFS:
            rows.append(
                ReportRow("loudness", "Loudness", f"{lufs:.0f} LUFS", WARN, "very loud: lower the input gain a little")
            )
        else:
            rows.append(ReportRow("loudness", "Loudness", f"{lufs:.0f} LUFS", OK))

    clip_text = f"{clip * 100:.2f} % of samples"
    if clip >= CLIP_REJECT:
        rows.append(
            ReportRow(
                "clipping",
                "Clipping",
                clip_text,
                REJECT,
                "heavy clipping (distorted peaks): lower the input gain and record again",
            )
        )
    elif clip >= CLIP_WARN:
        rows.append(ReportRow("clipping", "Clipping", clip_text, WARN, "clipping: lower the input gain"))
    else:
        rows.append(ReportRow("clipping", "Clipping", "none" if clip == 0 else clip_text, OK))

    if speech_s >= 1.0:
        if snr < SNR_REJECT_DB:
            rows.append(
                ReportRow(
                    "noise",
                    "Background noise",
                    f"SNR {snr:.0f} dB",
                    REJECT,
                    "too much background noise: record in a quiet room, away from fans and traffic",
                )
            )
        elif snr < SNR_WARN_DB:
            rows.append(
                ReportRow(
                    "noise",
                    "Background noise",
                    f"SNR {snr:.0f} dB",
                    WARN,
                    "noisy: record in a quieter room, or turn on noise removal",
                )
            )
        else:
            rows.append(ReportRow("noise", "Background noise", f"SNR {snr:.0f} dB", OK))

    rate_text = f"{rec.sample_rate / 1000:g} kHz"
    if rec.sample_rate < MIN_RATE_HZ:
        rows.append(
            ReportRow(
                "sample_rate",
                "Sample rate",
                rate_text,
                REJECT,
                f"recorded at {rate_text} (telephone quality): record at 44.1 or 48 kHz",
            )
        )
    elif rec.sample_rate < GOOD_RATE_HZ:
        rows.append(
            ReportRow(
                "sample_rate", "Sample rate", rate_text, WARN, f"recorded at {rate_text}: 44.1 or 48 kHz sounds better"
            )
        )
    else:
        rows.append(ReportRow("sample_rate", "Sample rate", rate_text, OK))

    rows.append(
        ReportRow(
            "channels",
            "Channels",
            "mono" if rec.channels == 1 else f"{rec.channels} (stereo)",
            OK,
            "" if rec.channels == 1 else "stereo is mixed down to mono",
        )
    )
    return RecordingReport(
        file_name=rec.path.name,
        duration_s=rec.duration,
        speech_s=speech_s,
        sample_rate=rec.sample_rate,
        channels=rec.channels,
        loudness_lufs=lufs,
        clipping_ratio=clip,
        snr_db=snr,
        rows=rows,
        transcript=transcript,
        transcript_note=transcript_note,
        speech_segments=segments,
    )


def first_speech(
    audio: np.ndarray, sample_rate: int, segments: list[tuple[float, float]], seconds: float = TRANSCRIPT_MAX_S
) -> np.ndarray:
    """The audio from the start up to where ``seconds`` of speech have been said."""
    total = 0.0
    for s, e in segments:
        if total + (e - s) >= seconds:
            return audio[: int((s + seconds - total) * sample_rate)]
        total += e - s
    return audio


def analyse_recording(
    rec: Recording, vad, transcribe: Callable[[np.ndarray, int], str] | None = None, progress: Progress | None = None
) -> RecordingReport:
    """The full report: VAD, measurements, then (for usable recordings) the transcript.

    ``vad`` has ``speech_segments(audio, sample_rate)``; ``transcribe(audio, sample_rate)`` returns
    text and gets the raw audio (never denoised) up to the first 30 s of speech.
    """
    if progress:
        progress(0.05, "finding speech")
    segments = vad.speech_segments(rec.audio, rec.sample_rate)
    if progress:
        progress(0.3, "measuring loudness, clipping and noise")
    report = build_report(rec, segments)
    if transcribe is not None and report.usable:
        if progress:
            progress(0.45, "transcribing")
        clip = first_speech(rec.audio, rec.sample_rate, segments)
        try:
            report.transcript = transcribe(clip, rec.sample_rate).strip()
        except Exception as exc:  # noqa: BLE001 - the transcript is a help, not a requirement
            report.transcript_note = f"no transcript ({type(exc).__name__})"
        else:
            if len(clip) < len(rec.audio):
                report.transcript_note = f"first {TRANSCRIPT_MAX_S:.0f} s of speech"
    return report


def check_usable(report: RecordingReport) -> None:
    """Raise RejectedError with the first problem's advice when the recording is unusable."""
    problems = report.problems()
    if problems:
        raise RejectedError(f"the recording cannot be used: {problems[0].advice}")
