"""Speakers: what reads a sentence aloud for a render, chosen by voice profile.

:func:`speaker_for` turns a profile name (or None, the default voice) into a synthesizer: the default
Piper voice, the voice match (WORLD) toward a profile, or an XTTS-v2 clone. :func:`say` speaks one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.tts.base import Speech
from studio.config import PRESETS_DIR
from studio.errors import InputError, StudioError
from studio.voice.profiles import VoiceLibrary, VoiceProfile, write_wav
from studio.voice.xtts_setup import _xtts_engine, xtts_ready

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
        audio = self._matcher.render(
            analysis,
            self._settings,
            source=self._source,
            pitch_semitones=prosody["pitch_semitones"],
            energy=prosody["energy"],
            length=len(base.audio),
        )
        return Speech(
            audio=audio, sample_rate=base.sample_rate, phonemes=base.phonemes, words=base.words, text=base.text
        )

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
            raise InputError(
                f"the XTTS-v2 clone of '{profile.name}' is not set up: "
                f"run `python app.py voice clone {profile.key} --accept-license` first"
            )
    return MatchedSpeaker(studio, profile)


# ---------------------------------------------------------------------------------------------
# Neural cloning with XTTS-v2 (optional: own environment, model download, CPML license).


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
    from studio.voice.audio import rms_envelope

    env, hop = rms_envelope(audio, sample_rate)
    if len(env) == 0:
        return 0.0, len(audio) / sample_rate
    loud = np.flatnonzero(env > env.max() * 0.01)
    if not len(loud):
        return 0.0, len(audio) / sample_rate
    return loud[0] * hop / sample_rate, (loud[-1] + 1) * hop / sample_rate


def retime(guide: Speech, audio: np.ndarray, sample_rate: int) -> Speech:
    """``audio`` with the guide's phoneme and word timings mapped linearly onto its speech span."""
    from engines.timing import PhonemeTiming, WordTiming

    g0, g1 = _speech_span(guide.audio, guide.sample_rate)
    a0, a1 = _speech_span(audio, sample_rate)
    scale = (a1 - a0) / max(g1 - g0, 1e-3)
    end = len(audio) / sample_rate

    def t(x: float) -> float:
        return float(np.clip(a0 + (x - g0) * scale, 0.0, end))

    return Speech(
        audio=np.asarray(audio, dtype=np.float32),
        sample_rate=sample_rate,
        phonemes=[PhonemeTiming(p.phoneme, t(p.start), t(p.end)) for p in guide.phonemes],
        words=[WordTiming(w.word, t(w.start), t(w.end)) for w in guide.words],
        text=guide.text,
    )


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


def say(
    studio,
    voice: str | None,
    text: str,
    out: str | Path | None = None,
    *,
    emotion: str = "neutral",
    engine: str | None = None,
) -> SayResult:
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
