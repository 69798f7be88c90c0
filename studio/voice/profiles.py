"""Voice profiles: one minute of recording becomes a reusable voice.

A profile is a folder in ``STUDIO_HOME/voices/<name>/``:

* ``raw<.ext>``: the file exactly as given (kept, never modified);
* ``voice.wav``: the normalised reference (mono, 24 kHz, -23 LUFS, denoised if chosen);
* ``embedding.npz``: the resemblyzer d-vector of the reference (no pickle);
* ``profile.json``: name, creation time, the quality report and the voice-match settings;
* ``xtts_latents.safetensors``: XTTS-v2 conditioning latents, once neural cloning is enabled.

The folder is built in a hidden staging folder and moved into place in one rename, so a failed
or interrupted add never leaves a half-made profile, nor touches an existing one.

:func:`speaker_for` turns a profile name (or None, the default voice) into a synthesizer for the
render pipeline.
"""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.progress import Progress, no_progress
from studio.config import StudioPaths
from studio.errors import InputError, RejectedError, StudioError
from studio.storage import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_npz,
    read_json,
    read_npz,
    remove_dir,
    replace_dir,
    sanitize_name,
    staging_dir,
)
from studio.voice.calibration import default_voice_calibration, speaking_rate_factor
from studio.voice.recording import RecordingReport, analyse_recording, check_usable, load_recording

PROFILE_VERSION = 1
# What "the same person" typically scores: a sentence of one eSpeak NG voice that is not in its
# 60 s recording, against that recording (bench/bench_voice.py, mean over six voices: 0.931). Synthetic
# voices vary less between takes than people do, so a real second take usually scores a bit lower.
SAME_SPEAKER_SIMILARITY = 0.93
REFERENCE_RATE = 24_000  # Hz of the normalised reference voice.wav
REFERENCE_LUFS = -23.0


@dataclass
class VoiceProfile:
    """A saved voice: its folder, the quality report it passed and its synthesis settings."""

    name: str  # as the user typed it
    folder: Path
    created: str
    report: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The sanitised folder name, which is how the profile is found."""
        return self.folder.name

    @property
    def reference_path(self) -> Path:
        return self.folder / "voice.wav"

    @property
    def raw_path(self) -> Path | None:
        return next(iter(sorted(self.folder.glob("raw.*"))), None)

    @property
    def xtts_latents_path(self) -> Path:
        return self.folder / "xtts_latents.safetensors"

    @property
    def has_xtts(self) -> bool:
        return self.xtts_latents_path.exists()

    def embedding(self) -> np.ndarray:
        """The reference's resemblyzer d-vector (256 floats)."""
        return read_npz(self.folder / "embedding.npz")["d_vector"]

    def match_settings(self):
        from engines.voice.match import MatchSettings

        return MatchSettings.from_dict(self.settings["match"])

    def match_source(self):
        from engines.voice.match import VoiceTraits

        return VoiceTraits.from_dict(self.settings["match_source"])

    def similarity_numbers(self) -> dict[str, Any] | None:
        """The profile's test sentence scored against the recording (resemblyzer cosine, -1..1), next to
        the default voice and a typical same-person score, with one line on what it means.

        None for profiles made before the test sentence was scored.
        """
        test = self.settings.get("test_similarity")
        default = self.settings.get("default_voice_similarity")
        if not isinstance(test, (int, float)) or not isinstance(default, (int, float)):
            return None
        same = SAME_SPEAKER_SIMILARITY
        share = (test - default) / max(same - default, 1e-3)  # how far from the default voice toward "you"
        if share >= 0.75:
            meaning = "a speaker-recognition model finds it close to you, near what your own second take scores"
        elif share >= 0.4:
            meaning = "clearly more like you than the default voice, but still recognisably a different speaker"
        elif share > 0.1:
            meaning = "only a little more like you than the default voice: pitch and timbre moved, the voice did not"
        else:
            meaning = "no closer to you than the default voice: try a cleaner or longer recording"
        return {"test": float(test), "default": float(default), "same_person": same, "meaning": meaning}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": PROFILE_VERSION,
            "name": self.name,
            "created": self.created,
            "report": self.report,
            "settings": self.settings,
        }

    def summary(self) -> str:
        """One line for lists: name, speech length, verdict, pitch, match score."""
        rep = self.report
        match = self.settings.get("match", {})
        f0 = np.exp(match.get("target", {}).get("f0_log_mean", 0.0)) if match else 0
        score = self.settings.get("test_similarity", match.get("score"))
        extra = f", voice match {score:.2f}" if isinstance(score, (int, float)) else ""
        clone = ", XTTS-v2 latents cached" if self.has_xtts else ""
        return (
            f"{self.name}: {rep.get('speech_s', 0):.0f} s of speech, {rep.get('verdict', '?')}, "
            f"pitch {f0:.0f} Hz{extra}{clone}"
        )


class VoiceLibrary:
    """The saved voice profiles in ``paths.voices``."""

    def __init__(self, paths: StudioPaths, *, studio=None):
        self.paths = paths
        self.root = paths.voices
        self._studio = studio

    # -- engines (shared with the rest of the studio when a Studio is given) --
    @property
    def studio(self):
        if self._studio is None:
            from studio.services import Studio, default_studio

            default = default_studio()
            self._studio = default if default.paths == self.paths else Studio(self.paths)
        return self._studio

    def _engine(self, role: str, name: str, **kwargs):
        return self.studio.engine(role, name, **kwargs)

    # -- reading --
    def _folder(self, name: str) -> Path:
        return self.root / sanitize_name(name)

    def exists(self, name: str) -> bool:
        return (self._folder(name) / "profile.json").exists()

    def load(self, name: str) -> VoiceProfile:
        """The profile called ``name``. Raises InputError naming the list command if missing."""
        try:
            folder = self._folder(name)
        except InputError:
            folder = None
        if folder is None or not (folder / "profile.json").exists():
            raise InputError(
                f"unknown voice '{name}': run `python app.py voice list` to see the saved voices, "
                f"or `python app.py voice add {name} --audio FILE` to make it"
            )
        data = read_json(folder / "profile.json")
        return VoiceProfile(
            name=data.get("name", folder.name),
            folder=folder,
            created=data.get("created", ""),
            report=data.get("report", {}),
            settings=data.get("settings", {}),
        )

    def list(self) -> list[VoiceProfile]:
        """Every saved profile, by name (staging and half-deleted folders are skipped)."""
        if not self.root.exists():
            return []
        out = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or not (folder / "profile.json").exists():
                continue
            try:
                out.append(self.load(folder.name))
            except StudioError:
                continue  # a damaged profile.json: skip it rather than hide every voice
        return sorted(out, key=lambda p: p.name.lower())

    # -- the report alone (the UI shows it before the user names and saves the voice) --
    def report(self, audio_path: str | Path, progress: Progress | None = None) -> RecordingReport:
        """The quality report of a recording; saves nothing."""
        rec = load_recording(audio_path)
        return analyse_recording(rec, self._engine("vad", "silero"), self._transcriber(), progress)

    def _transcriber(self) -> Callable[[np.ndarray, int], str] | None:
        """faster-whisper with the bundled base model (engines/asr/faster_whisper.py)."""

        def transcribe(audio: np.ndarray, sample_rate: int) -> str:
            from studio import models

            asr = getattr(self.studio, "asr", None)
            if callable(asr):
                engine = asr()
            else:
                engine = self._engine("asr", "faster-whisper", model_dir=models.resolve("whisper-base", self.paths))
            return engine.transcribe(audio, sample_rate, language=None, word_timestamps=False).text

        return transcribe

    # -- writing --
    def add(
        self,
        name: str,
        audio_path: str | Path,
        *,
        denoise: bool | None = None,
        progress: Progress | None = None,
        report: RecordingReport | None = None,
    ) -> VoiceProfile:
        """Check a recording and save it as the voice ``name``.

        ``denoise`` None removes noise only when the report finds the recording noisy.
        ``report`` reuses a report already made for the same file (the UI shows it first).
        Raises RejectedError (with advice) for unusable recordings; nothing is saved then.
        """
        key = sanitize_name(name)
        if self.exists(key):
            raise InputError(
                f"a voice named '{key}' already exists: choose another name, "
                f"or remove it first (`python app.py voice remove {key}`)"
            )
        progress = progress or no_progress
        rec = load_recording(audio_path)
        if report is None:
            report = analyse_recording(
                rec, self._engine("vad", "silero"), self._transcriber(), lambda f, m: progress(0.4 * f, m)
            )
        check_usable(report)
        use_denoise = report.noisy if denoise is None else bool(denoise)

        audio = rec.audio
        denoise_error = ""
        if use_denoise:
            progress(0.42, "removing background noise")
            try:
                audio = self._engine("enhance", "deepfilternet").enhance(audio, rec.sample_rate)
            except (OSError, RuntimeError) as exc:  # keep going with the raw audio, and say so
                use_denoise = False
                denoise_error = f"noise removal failed ({exc}); the raw recording was used"
        progress(0.5, "normalising")
        reference = normalise_reference(audio, rec.sample_rate, report.speech_segments)
        progress(0.55, "measuring the voice")
        embedding = self._engine("speaker", "resemblyzer").embed(
            speech_only(reference, REFERENCE_RATE, report.speech_segments, 90.0), REFERENCE_RATE
        )
        settings = {"denoised": use_denoise, "reference_rate": REFERENCE_RATE}
        if denoise_error:
            settings["denoise_error"] = denoise_error
        settings.update(self._calibrate_match(reference, embedding, report, lambda f, m: progress(0.6 + 0.35 * f, m)))

        progress(0.96, "saving")
        created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        profile = VoiceProfile(
            name=str(name).strip() or key,
            folder=self.root / key,
            created=created,
            report=report.to_dict(),
            settings=settings,
        )
        staging = staging_dir(self.root, key)
        try:
            suffix = "".join(c for c in Path(audio_path).suffix.lower() if c.isalnum() or c == ".")[:8] or ".audio"
            shutil.copyfile(audio_path, staging / f"raw{suffix}")
            write_wav(staging / "voice.wav", reference, REFERENCE_RATE)
            atomic_write_npz(staging / "embedding.npz", d_vector=embedding.astype(np.float32))
            atomic_write_json(staging / "profile.json", profile.to_dict())
            replace_dir(staging, profile.folder)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            raise StudioError(
                "the disk is full: free some space and save the voice again"
                if full
                else f"could not save the voice: {exc.strerror or exc}"
            ) from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        progress(1.0, "saved")
        return profile

    def _calibrate_match(
        self, reference: np.ndarray, embedding: np.ndarray, report: RecordingReport, progress: Progress
    ) -> dict[str, Any]:
        from engines.voice.embedding import cosine
        from engines.voice.match import calibrate, traits_of

        matcher = self._engine("voice_match", "world")
        speaker = self._engine("speaker", "resemblyzer")
        progress(0.0, "analysing pitch and timbre")
        try:
            target = traits_of(speech_only(reference, REFERENCE_RATE, report.speech_segments), REFERENCE_RATE)
        except ValueError as exc:  # no voiced frames: whispering, or not a voice at all
            raise RejectedError(
                "no voiced speech found: read aloud in your normal speaking voice, not whispering"
            ) from exc
        cal = default_voice_calibration(self.studio)
        rate = speaking_rate_factor(reference, REFERENCE_RATE, cal)

        def score(audios: list[np.ndarray], sample_rate: int) -> float:
            return cosine(speaker.embed(np.concatenate(audios), sample_rate), embedding)

        progress(0.2, "tuning the voice match")
        settings = calibrate(matcher, cal.analyses, cal.traits, target, score, rate=rate)
        progress(0.9, "testing the voice on a new sentence")
        # The honest numbers: a sentence the calibration never heard, in the default and the matched voice.
        test = matcher.render(cal.test_analysis, settings, source=cal.traits, length=len(cal.test_speech.audio))
        return {
            "match": settings.to_dict(),
            "match_source": cal.traits.to_dict(),
            "default_voice_similarity": score([cal.test_speech.audio], cal.sample_rate),
            "test_similarity": score([test], cal.sample_rate),
            "matched": matched_parts(settings, cal.traits),
        }

    def remove(self, name: str) -> None:
        """Delete the voice ``name`` (the UI asks for confirmation first)."""
        profile = self.load(name)
        remove_dir(profile.folder)

    def rename(self, old: str, new: str) -> VoiceProfile:
        """Give a saved voice a new name; raises InputError if the new name is taken."""
        profile = self.load(old)
        new_key = sanitize_name(new)
        target = self.root / new_key
        if new_key != profile.key and target.exists():
            raise InputError(f"a voice named '{new_key}' already exists: choose another name")
        profile.name = str(new).strip() or new_key
        # Name first, folder second: a crash in between leaves a loadable profile either way.
        atomic_write_json(profile.folder / "profile.json", profile.to_dict())
        if new_key != profile.key:
            replace_dir(profile.folder, target)
            profile.folder = target
        return profile

    def save_settings(self, profile: VoiceProfile) -> None:
        atomic_write_json(profile.folder / "profile.json", profile.to_dict())


def matched_parts(settings, source) -> list[dict[str, str]]:
    """Which parts of the voice the voice match moved, in words, for the report and the Voice tab."""
    tgt = settings.target
    semitones = 12 * (tgt.f0_log_mean - source.f0_log_mean) / np.log(2)
    spread = tgt.f0_log_std / max(source.f0_log_std, 1e-3)
    pitch = f"{np.exp(source.f0_log_mean):.0f} Hz → {np.exp(tgt.f0_log_mean):.0f} Hz ({semitones:+.1f} semitones)"
    rows = [
        {"part": "pitch", "value": pitch},
        {"part": "pitch range (intonation)", "value": f"× {min(max(spread, 0.5), 2.0):.2f}"},
        {"part": "formants (vocal tract length)", "value": f"{(settings.warp - 1) * 100:+.0f} %"},
        {
            "part": "timbre (spectral envelope, 64 bands)",
            "value": "off"
            if settings.eq_strength <= 0
            else f"mean and spread per band, strength {settings.eq_strength:.1f}"
            + ("" if tgt.envelope_std_db else " (mean only: profile made before spreads were measured)"),
        },
        {"part": "speaking rate", "value": f"× {settings.rate:.2f}"},
    ]
    return rows


def normalise_reference(audio: np.ndarray, sample_rate: int, segments: list[tuple[float, float]]) -> np.ndarray:
    """Mono float32 at 24 kHz, loudness -23 LUFS on the speech, peaks kept under -1 dBFS."""
    import soxr

    from studio.voice.recording import loudness_lufs

    y = np.asarray(audio, dtype=np.float32)
    if sample_rate != REFERENCE_RATE:
        y = soxr.resample(y, sample_rate, REFERENCE_RATE).astype(np.float32)
    lufs = loudness_lufs(y, REFERENCE_RATE, segments)
    if lufs > -70:
        y = y * np.float32(10 ** ((REFERENCE_LUFS - lufs) / 20))
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.89:
        y = y * np.float32(0.89 / peak)
    return y.astype(np.float32)


def speech_only(
    audio: np.ndarray, sample_rate: int, segments: list[tuple[float, float]], max_seconds: float = 30.0
) -> np.ndarray:
    """The speech segments joined (short pauses kept out), at most ``max_seconds`` long."""
    parts, total = [], 0
    limit = int(max_seconds * sample_rate)
    for s, e in segments:
        piece = audio[int(s * sample_rate) : int(e * sample_rate)]
        parts.append(piece[: limit - total])
        total += len(parts[-1])
        if total >= limit:
            break
    return np.concatenate(parts) if parts and total > sample_rate else audio[:limit]


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """16-bit PCM WAV written atomically."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1, 1), sample_rate, subtype="PCM_16", format="WAV")
    return atomic_write_bytes(path, buf.getvalue())
