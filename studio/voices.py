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
import json
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engines import registry
from engines.tts.base import Speech
from studio.config import PRESETS_DIR, StudioPaths
from studio.errors import InputError, RejectedError, StudioError
from studio.recording import (ProgressFn, RecordingReport, analyse_recording, check_usable, load_recording)
from studio.storage import (atomic_write_bytes, atomic_write_json, read_json, read_npz, remove_dir,
                            replace_dir, sanitize_name, staging_dir, atomic_write_npz)

PROFILE_VERSION = 1
REFERENCE_RATE = 24_000  # Hz of the normalised reference voice.wav
REFERENCE_LUFS = -23.0
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised")
# Used when presets/emotions.json (shared with the animation) has no prosody for an emotion:
# speaking-rate factor, pitch shift in semitones, energy (gain factor).
DEFAULT_PROSODY = {
    "neutral": {"rate": 1.0, "pitch_semitones": 0.0, "energy": 1.0},
    "happy": {"rate": 1.06, "pitch_semitones": 2.0, "energy": 1.15},
    "sad": {"rate": 0.9, "pitch_semitones": -2.0, "energy": 0.8},
    "angry": {"rate": 1.08, "pitch_semitones": 1.0, "energy": 1.3},
    "surprised": {"rate": 1.1, "pitch_semitones": 3.5, "energy": 1.15},
}
# Sentences the default voice speaks once to calibrate the voice match (about 8 s together).
CALIBRATION_TEXT = (
    "Hello, and welcome to my channel. Today I want to show you something new.",
    "It only takes a minute, and you can try it yourself at home.",
)


def emotion_prosody(emotion: str) -> dict[str, float]:
    """Rate factor, pitch shift (semitones) and energy (gain) for ``emotion``."""
    prosody = dict(DEFAULT_PROSODY.get(emotion, DEFAULT_PROSODY["neutral"]))
    path = PRESETS_DIR / "emotions.json"
    if path.exists():
        try:
            spec = json.loads(path.read_text(encoding="utf-8")).get(emotion, {})
        except (OSError, ValueError, AttributeError):
            spec = {}
        # Keys sit under "prosody" (the animation presets) or directly under the emotion.
        spec = spec.get("prosody", spec) if isinstance(spec, dict) else {}
        for key in prosody:
            if isinstance(spec, dict) and isinstance(spec.get(key), (int, float)):
                prosody[key] = float(spec[key])
    return prosody


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

    def to_dict(self) -> dict[str, Any]:
        return {"version": PROFILE_VERSION, "name": self.name, "created": self.created,
                "report": self.report, "settings": self.settings}

    def summary(self) -> str:
        """One line for lists: name, speech length, verdict, pitch, match score."""
        rep = self.report
        match = self.settings.get("match", {})
        f0 = np.exp(match.get("target", {}).get("f0_log_mean", 0.0)) if match else 0
        score = match.get("score")
        extra = f", voice match {score:.2f}" if isinstance(score, (int, float)) else ""
        clone = ", XTTS-v2 latents cached" if self.has_xtts else ""
        return (f"{self.name}: {rep.get('speech_s', 0):.0f} s of speech, {rep.get('verdict', '?')}, "
                f"pitch {f0:.0f} Hz{extra}{clone}")


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
            raise InputError(f"unknown voice '{name}': run `python app.py voice list` to see the saved voices, "
                             f"or `python app.py voice add {name} --audio FILE` to make it")
        data = read_json(folder / "profile.json")
        return VoiceProfile(name=data.get("name", folder.name), folder=folder, created=data.get("created", ""),
                            report=data.get("report", {}), settings=data.get("settings", {}))

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
    def report(self, audio_path: str | Path, progress: ProgressFn | None = None) -> RecordingReport:
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
    def add(self, name: str, audio_path: str | Path, *, denoise: bool | None = None,
            progress: ProgressFn | None = None, report: RecordingReport | None = None) -> VoiceProfile:
        """Check a recording and save it as the voice ``name``.

        ``denoise`` None removes noise only when the report finds the recording noisy.
        ``report`` reuses a report already made for the same file (the UI shows it first).
        Raises RejectedError (with advice) for unusable recordings; nothing is saved then.
        """
        key = sanitize_name(name)
        if self.exists(key):
            raise InputError(f"a voice named '{key}' already exists: choose another name, "
                             f"or remove it first (`python app.py voice remove {key}`)")
        progress = progress or (lambda f, m: None)
        rec = load_recording(audio_path)
        if report is None:
            report = analyse_recording(rec, self._engine("vad", "silero"), self._transcriber(),
                                       lambda f, m: progress(0.4 * f, m))
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
            speech_only(reference, REFERENCE_RATE, report.speech_segments, 90.0), REFERENCE_RATE)
        settings = {"denoised": use_denoise, "reference_rate": REFERENCE_RATE}
        if denoise_error:
            settings["denoise_error"] = denoise_error
        settings.update(self._calibrate_match(reference, embedding, report, lambda f, m: progress(0.6 + 0.35 * f, m)))

        progress(0.96, "saving")
        created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        profile = VoiceProfile(name=str(name).strip() or key, folder=self.root / key, created=created,
                               report=report.to_dict(), settings=settings)
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
            raise StudioError("the disk is full: free some space and save the voice again" if full
                              else f"could not save the voice: {exc.strerror or exc}") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        progress(1.0, "saved")
        return profile

    def _calibrate_match(self, reference: np.ndarray, embedding: np.ndarray, report: RecordingReport,
                         progress: ProgressFn) -> dict[str, Any]:
        from engines.voice.embedding import cosine
        from engines.voice.match import calibrate, traits_of

        matcher = self._engine("voice_match", "world")
        speaker = self._engine("speaker", "resemblyzer")
        progress(0.0, "analysing pitch and timbre")
        try:
            target = traits_of(speech_only(reference, REFERENCE_RATE, report.speech_segments), REFERENCE_RATE)
        except ValueError as exc:  # no voiced frames: whispering, or not a voice at all
            raise RejectedError("no voiced speech found: read aloud in your normal speaking voice, not whispering") from exc
        cal = default_voice_calibration(self.studio)
        rate = speaking_rate_factor(reference, REFERENCE_RATE, cal)

        def score(audios: list[np.ndarray], sample_rate: int) -> float:
            return cosine(speaker.embed(np.concatenate(audios), sample_rate), embedding)

        progress(0.2, "tuning the voice match")
        settings = calibrate(matcher, cal.analyses, cal.traits, target, score, rate=rate)
        baseline = score([c.audio for c in cal.speech], cal.sample_rate)
        return {"match": settings.to_dict(), "match_source": cal.traits.to_dict(),
                "default_voice_similarity": baseline}

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


def normalise_reference(audio: np.ndarray, sample_rate: int, segments: list[tuple[float, float]]) -> np.ndarray:
    """Mono float32 at 24 kHz, loudness -23 LUFS on the speech, peaks kept under -1 dBFS."""
    import soxr

    from studio.recording import loudness_lufs

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


def speech_only(audio: np.ndarray, sample_rate: int, segments: list[tuple[float, float]],
                max_seconds: float = 30.0) -> np.ndarray:
    """The speech segments joined (short pauses kept out), at most ``max_seconds`` long."""
    parts, total = [], 0
    limit = int(max_seconds * sample_rate)
    for s, e in segments:
        piece = audio[int(s * sample_rate): int(e * sample_rate)]
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


# ---------------------------------------------------------------------------------------------
# The default voice's own traits, measured once per process for calibration.


@dataclass
class DefaultVoiceCalibration:
    speech: list[Speech]
    analyses: list[Any]
    traits: Any  # engines.voice.match.VoiceTraits
    sample_rate: int
    syllables_per_second: float


_calibration: dict[int, DefaultVoiceCalibration] = {}
_calibration_lock = threading.Lock()


def default_voice_calibration(studio) -> DefaultVoiceCalibration:
    """Calibration sentences spoken by the default voice, analysed with WORLD (cached)."""
    from engines.voice.match import _traits

    tts = studio.tts()
    with _calibration_lock:
        if id(tts) not in _calibration:
            matcher = studio.engine("voice_match", "world")
            speech = [tts.synthesize(t) for t in CALIBRATION_TEXT]
            analyses = [matcher.analyse(s.audio, s.sample_rate) for s in speech]
            f0 = np.concatenate([a.f0 for a in analyses])
            sp = np.concatenate([a.sp for a in analyses])
            traits = _traits(f0, sp, speech[0].sample_rate, 0.005)
            from engines.voice.match import syllable_rate

            joined = np.concatenate([s.audio for s in speech])
            _calibration[id(tts)] = DefaultVoiceCalibration(speech, analyses, traits, speech[0].sample_rate,
                                                            syllable_rate(joined, speech[0].sample_rate))
        return _calibration[id(tts)]


def speaking_rate_factor(reference: np.ndarray, sample_rate: int, cal: DefaultVoiceCalibration) -> float:
    """How much faster (>1) the speaker talks than the default voice (acoustic syllable rate).

    Counted the same way on both sides, without the transcript (whose word lengths would bias it).
    The estimate is rough (about +-5 %), so it is kept within 0.85..1.2.
    """
    from engines.voice.match import syllable_rate

    rate = syllable_rate(reference, sample_rate)
    if rate <= 0 or cal.syllables_per_second <= 0:
        return 1.0
    return float(np.clip(rate / cal.syllables_per_second, 0.85, 1.2))


# ---------------------------------------------------------------------------------------------
# Synthesizers for the render pipeline.


class DefaultSpeaker:
    """The embedded Piper voice, unchanged."""

    def __init__(self, studio):
        self.tts = studio.tts()
        self.sample_rate = self.tts.sample_rate

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0) -> Speech:
        return self.tts.synthesize(text, emotion=emotion, rate=rate)

    def similarity(self, speech: Speech) -> float | None:
        return None

    def describe(self) -> str:
        return "default voice"

    def cache_key(self) -> str:
        """Changes whenever the synthesized audio would (for render caches)."""
        return "default"


class MatchedSpeaker:
    """The default voice moved toward a profile's pitch, timbre and speaking rate (voice match)."""

    def __init__(self, studio, profile: VoiceProfile):
        self.profile = profile
        self.tts = studio.tts()
        self.sample_rate = self.tts.sample_rate
        self._matcher = studio.engine("voice_match", "world")
        self._speaker = studio.engine("speaker", "resemblyzer")
        self._settings = profile.match_settings()
        self._source = profile.match_source()
        self._embedding = profile.embedding()

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0) -> Speech:
        """Speech in the profile's voice; timings are the TTS's own (the length is unchanged)."""
        prosody = emotion_prosody(emotion)
        base = self.tts.synthesize(text, emotion="neutral", rate=rate * prosody["rate"] * self._settings.rate)
        if len(base.audio) < self.sample_rate // 20:
            return base
        analysis = self._matcher.analyse(base.audio, base.sample_rate)
        audio = self._matcher.render(analysis, self._settings, source=self._source,
                                     pitch_semitones=prosody["pitch_semitones"], energy=prosody["energy"],
                                     length=len(base.audio))
        return Speech(audio=audio, sample_rate=base.sample_rate, phonemes=base.phonemes, words=base.words,
                      text=base.text)

    def similarity(self, speech: Speech) -> float | None:
        """Resemblyzer cosine similarity of ``speech`` to the profile's recording (-1..1)."""
        if speech.duration < 0.3:
            return None
        return self._speaker.similarity(speech.audio, speech.sample_rate, self._embedding)

    def describe(self) -> str:
        return f"voice match toward {self.profile.name}"

    def cache_key(self) -> str:
        """Changes whenever the synthesized audio would (profile re-made, settings changed)."""
        return _settings_key("match", self.profile, self.profile.settings.get("match"))


def speaker_for(studio, voice: str | None, *, engine: str | None = None):
    """A synthesizer for ``voice`` (a profile name; None = the default voice unchanged).

    The result has ``synthesize(text, emotion=..., rate=...) -> Speech``, ``similarity(speech)``
    (resemblyzer cosine to the profile, None for the default voice) and ``describe()``.
    ``engine`` "match" forces the offline voice match, "xtts" requires the XTTS-v2 clone; by
    default XTTS-v2 is used when the profile has cached latents and the model is installed.
    """
    if voice is None or str(voice).strip() == "":
        return DefaultSpeaker(studio)
    profile = VoiceLibrary(studio.paths, studio=studio).load(voice)
    if engine in (None, "xtts"):
        if profile.has_xtts and xtts_ready(studio.paths):
            return XttsSpeaker(studio, profile)
        if engine == "xtts":
            raise InputError(f"the XTTS-v2 clone of '{profile.name}' is not set up: "
                             f"run `python app.py voice clone {profile.key} --accept-license` first")
    return MatchedSpeaker(studio, profile)



# ---------------------------------------------------------------------------------------------
# Neural cloning with XTTS-v2 (optional: own environment, model download, CPML license).


def xtts_status(paths: StudioPaths):
    """The XTTS-v2 runtime status (environment and model files)."""
    from engines.tts.xtts import RuntimeStatus, find_python
    from studio import models

    st = models.status("xtts-v2", paths)
    return RuntimeStatus(python=find_python(), model_dir=st.location if st.state == "ready" else None)


def xtts_ready(paths: StudioPaths) -> bool:
    """True when the XTTS-v2 model is downloaded and its environment is installed."""
    return xtts_status(paths).ready


def _xtts_engine(studio):
    status = xtts_status(studio.paths)
    if not status.ready:
        raise InputError(status.problem())
    return studio.engine("tts", "xtts", model_dir=status.model_dir, python=status.python)


def enable_xtts(studio, name: str, *, accept_license: bool = False, progress: ProgressFn | None = None) -> VoiceProfile:
    """Fetch XTTS-v2 (after the license is accepted) and cache the profile's conditioning latents.

    The latents come from the whole normalised reference, once; synthesis reads only them.
    """
    from engines.tts.xtts import XttsError
    from studio import models

    progress = progress or (lambda f, m: None)
    lib = VoiceLibrary(studio.paths, studio=studio)
    profile = lib.load(name)
    entry = models.entry("xtts-v2")
    if models.status(entry, studio.paths).state != "ready":
        if not accept_license:
            raise InputError(f"XTTS-v2 is licensed under {entry.license}: read it, then accept it "
                             f"(`python app.py voice clone {profile.key} --accept-license` or the checkbox in the Voice tab)")
        models.fetch("xtts-v2", studio.paths, accept_license=True, progress=lambda f, m: progress(0.7 * f, m))
    engine = _xtts_engine(studio)
    progress(0.75, "computing XTTS-v2 voice latents (loads the model, can take a minute)")
    tmp = profile.folder / ".xtts_latents.part.safetensors"
    try:
        engine.compute_latents(profile.reference_path, tmp)
        tmp.replace(profile.xtts_latents_path)
    except XttsError as exc:
        raise StudioError(f"XTTS-v2 could not read the voice: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    profile.settings["xtts"] = {"latents": profile.xtts_latents_path.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    lib.save_settings(profile)
    progress(1.0, "ready")
    return profile


class XttsSpeaker:
    """A profile's XTTS-v2 clone. Timings come from the default voice, stretched onto the clone's speech."""

    def __init__(self, studio, profile: VoiceProfile):
        self.profile = profile
        self.engine = _xtts_engine(studio)
        self.sample_rate = self.engine.sample_rate
        self._timing_tts = studio.tts()
        self._speaker = studio.engine("speaker", "resemblyzer")
        self._embedding = profile.embedding()

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0) -> Speech:
        from engines.tts.xtts import XttsError

        prosody = emotion_prosody(emotion)
        speed = float(np.clip(rate * prosody["rate"], 0.5, 2.0))
        try:
            audio = self.engine.synthesize_audio(text, self.profile.xtts_latents_path, speed=speed)
        except XttsError as exc:
            raise StudioError(f"XTTS-v2 failed on '{text[:40]}': {exc}") from exc
        audio = audio * np.float32(prosody["energy"])
        peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
        if peak > 0.98:
            audio *= np.float32(0.98 / peak)
        guide = self._timing_tts.synthesize(text, emotion="neutral", rate=1.0)
        return retime(guide, audio, self.sample_rate)

    def stream(self, sentences, *, emotion: str = "neutral", rate: float = 1.0):
        """Sentence-level streaming: yields each sentence's Speech as soon as it is ready."""
        for sentence in sentences:
            yield self.synthesize(sentence, emotion=emotion, rate=rate)

    def similarity(self, speech: Speech) -> float | None:
        if speech.duration < 0.3:
            return None
        return self._speaker.similarity(speech.audio, speech.sample_rate, self._embedding)

    def describe(self) -> str:
        return f"XTTS-v2 clone of {self.profile.name}"

    def cache_key(self) -> str:
        """Changes whenever the synthesized audio would (latents recomputed)."""
        return _settings_key("xtts", self.profile, self.profile.settings.get("xtts"))


def _settings_key(kind: str, profile: VoiceProfile, settings: Any) -> str:
    import hashlib

    blob = json.dumps([kind, profile.key, profile.created, settings], sort_keys=True, default=str)
    return f"{kind}:{profile.key}:{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _speech_span(audio: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """First and last moment (seconds) where the audio rises above -40 dB of its peak."""
    from studio.audio import rms_envelope

    env, hop = rms_envelope(audio, sample_rate)
    if len(env) == 0:
        return 0.0, len(audio) / sample_rate
    loud = np.flatnonzero(env > env.max() * 0.01)
    if not len(loud):
        return 0.0, len(audio) / sample_rate
    return loud[0] * hop / sample_rate, (loud[-1] + 1) * hop / sample_rate


def retime(guide: Speech, audio: np.ndarray, sample_rate: int) -> Speech:
    """``audio`` with the guide's phoneme and word timings mapped linearly onto its speech span."""
    from engines.tts.base import PhonemeTiming, WordTiming

    g0, g1 = _speech_span(guide.audio, guide.sample_rate)
    a0, a1 = _speech_span(audio, sample_rate)
    scale = (a1 - a0) / max(g1 - g0, 1e-3)
    end = len(audio) / sample_rate

    def t(x: float) -> float:
        return float(np.clip(a0 + (x - g0) * scale, 0.0, end))

    return Speech(audio=np.asarray(audio, dtype=np.float32), sample_rate=sample_rate,
                  phonemes=[PhonemeTiming(p.phoneme, t(p.start), t(p.end)) for p in guide.phonemes],
                  words=[WordTiming(w.word, t(w.start), t(w.end)) for w in guide.words], text=guide.text)


# ---------------------------------------------------------------------------------------------
# Preview ("Say this").


@dataclass
class SayResult:
    speech: Speech
    similarity: float | None
    description: str
    path: Path | None = None

    @property
    def duration(self) -> float:
        return self.speech.duration


def say(studio, voice: str | None, text: str, out: str | Path | None = None, *, emotion: str = "neutral",
        engine: str | None = None) -> SayResult:
    """Speak ``text`` in ``voice`` (None = default voice), optionally writing a WAV; reports similarity."""
    text = str(text).strip()
    if not text:
        raise InputError("there is nothing to say: type a sentence first")
    speaker = speaker_for(studio, voice, engine=engine)
    speech = speaker.synthesize(text, emotion=emotion)
    result = SayResult(speech=speech, similarity=speaker.similarity(speech), description=speaker.describe())
    if out is not None:
        result.path = write_wav(Path(out), speech.audio, speech.sample_rate)
    return result
