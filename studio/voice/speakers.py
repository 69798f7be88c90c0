"""Speakers: what reads a sentence aloud for a render, chosen by voice profile.

:func:`speaker_for` turns a profile name (or None, the default voice) into a synthesizer: the default
Piper voice, the voice match (WORLD) toward a profile, or an XTTS-v2 clone. :func:`say` speaks one line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.emotions import EMOTIONS  # noqa: F401 - the names, for the Voice tab
from engines.tts.base import Speech
from engines.voice import prosody as emotional
from engines.voice.prosody import Prosody
from studio.errors import InputError, StudioError
from studio.voice.profiles import VoiceLibrary, VoiceProfile, write_wav
from studio.voice.xtts_setup import _xtts_engine, xtts_ready


def emotion_prosody(emotion: str, strength: float = 1.0) -> Prosody:
    """How ``emotion`` at ``strength`` changes every voice (from presets/emotions.json)."""
    return Prosody.of(emotion, strength)


# ---------------------------------------------------------------------------------------------
# Synthesizers for the render pipeline.


class DefaultSpeaker:
    """The embedded Piper voice, with emotional prosody."""

    def __init__(self, studio):
        self.tts = studio.tts()
        self.sample_rate = self.tts.sample_rate

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0, strength: float = 1.0) -> Speech:
        speech = self.tts.synthesize(text, emotion=emotion, rate=rate, strength=strength)
        return emotional.apply(speech, emotion_prosody(emotion, strength))

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

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0, strength: float = 1.0) -> Speech:
        """Speech in the profile's voice with the emotion's prosody (one WORLD pass for both);
        timings are the TTS's own, moved only where pauses change length."""
        prosody = emotion_prosody(emotion, strength)
        base = self.tts.synthesize(text, emotion=emotion, strength=strength, rate=rate * self._settings.rate)
        if len(base.audio) < self.sample_rate // 20:
            return base
        analysis = self._matcher.analyse(base.audio, base.sample_rate)
        audio = self._matcher.render(
            analysis, self._settings, source=self._source, length=len(base.audio), prosody=prosody
        )
        matched = Speech(
            audio=audio, sample_rate=base.sample_rate, phonemes=base.phonemes, words=base.words, text=base.text
        )
        return emotional.apply(matched, prosody, vocoded=True)

    def similarity(self, speech: Speech) -> float | None:
        """Resemblyzer cosine similarity of ``speech`` to the profile's recording (-1..1)."""
        if speech.duration < 0.3:
            return None
        return self._speaker.similarity(speech.audio, speech.sample_rate, self._embedding)

    def describe(self) -> str:
        return f"voice match toward {self.profile.name}"

    def cache_key(self) -> str:
        """Changes whenever the synthesized audio would (profile re-made, settings changed)."""
        from engines.voice.match import MATCH_VERSION

        return _settings_key("match", self.profile, [MATCH_VERSION, self.profile.settings.get("match")])


def speaker_for(studio, voice: str | None, *, engine: str | None = None):
    """A synthesizer for ``voice`` (a profile name; None = the default voice unchanged).

    The result has ``synthesize(text, emotion=..., rate=...) -> Speech``, ``similarity(speech)``
    (resemblyzer cosine to the profile, None for the default voice) and ``describe()``.
    ``engine`` "match" forces the offline voice match, "openvoice" requires the OpenVoice V2 converter,
    "xtts" requires the XTTS-v2 clone. By default the OpenVoice converter is used when its weights are
    downloaded, then XTTS-v2 when the profile has cached latents and the model is installed.
    """
    if voice is None or str(voice).strip() == "":
        return DefaultSpeaker(studio)
    profile = VoiceLibrary(studio.paths, studio=studio).load(voice)
    if engine in (None, "openvoice"):
        from studio.voice.openvoice_setup import MODEL, openvoice_ready

        if openvoice_ready(studio.paths):
            return OpenVoiceSpeaker(studio, profile)
        if engine == "openvoice":
            raise InputError(
                f"the OpenVoice V2 converter is not downloaded: run `python app.py models fetch {MODEL}` "
                "or use the Models & Engines tab"
            )
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
# Tone-colour conversion with OpenVoice V2 (optional: model download, MIT license).


class OpenVoiceSpeaker:
    """The default voice (with the profile's speaking rate and the emotion's prosody), converted into the
    profile's tone colour by OpenVoice V2. The conversion keeps every sample's timing, so the TTS's
    phoneme and word timings stay exact."""

    def __init__(self, studio, profile: VoiceProfile):
        from studio.voice import openvoice_setup as ov

        self.profile = profile
        self._default = DefaultSpeaker(studio)
        self.sample_rate = self._default.sample_rate
        self._converter = ov.converter(studio)
        self._signature = ov.signature(studio)
        self._source = ov.default_tone_colour(studio)
        self._target = ov.profile_tone_colour(studio, profile)
        self._rate = profile.match_settings().rate if "match" in profile.settings else 1.0
        self._speaker = studio.engine("speaker", "resemblyzer")
        self._embedding = profile.embedding()

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0, strength: float = 1.0) -> Speech:
        base = self._default.synthesize(text, emotion=emotion, rate=rate * self._rate, strength=strength)
        if len(base.audio) < self.sample_rate // 20:
            return base
        seed = int.from_bytes(hashlib.sha256(base.audio.tobytes()).digest()[:4], "little")
        audio = self._converter.convert(base.audio, base.sample_rate, self._source, self._target, seed=seed)
        return Speech(
            audio=audio, sample_rate=base.sample_rate, phonemes=base.phonemes, words=base.words, text=base.text
        )

    def similarity(self, speech: Speech) -> float | None:
        if speech.duration < 0.3:
            return None
        return self._speaker.similarity(speech.audio, speech.sample_rate, self._embedding)

    def describe(self) -> str:
        return f"OpenVoice V2 tone colour of {self.profile.name}"

    def cache_key(self) -> str:
        """Changes whenever the synthesized audio would (profile re-made, other converter weights)."""
        return _settings_key("openvoice", self.profile, [self._signature, self.profile.settings.get("match")])


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

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0, strength: float = 1.0) -> Speech:
        """The clone's speech at the emotion's rate (XTTS's speed), then the same prosody
        post-processing as every voice; timings from the default voice, stretched onto it."""
        from engines.tts.xtts import XttsError

        prosody = emotion_prosody(emotion, strength)
        speed = float(np.clip(rate * prosody.rate, 0.5, 2.0))
        try:
            audio = self.engine.synthesize_audio(text, self.profile.xtts_latents_path, speed=speed)
        except XttsError as exc:
            raise StudioError(f"XTTS-v2 failed on '{text[:40]}': {exc}") from exc
        audio = emotional.apply(Speech(audio=audio, sample_rate=self.sample_rate), prosody).audio
        guide = self._timing_tts.synthesize(text, emotion=emotion, strength=strength, rate=1.0)
        return retime(emotional.stretch_pauses(guide, prosody.pause), audio, self.sample_rate)

    def stream(self, sentences, *, emotion: str = "neutral", rate: float = 1.0, strength: float = 1.0):
        """Sentence-level streaming: yields each sentence's Speech as soon as it is ready."""
        for sentence in sentences:
            yield self.synthesize(sentence, emotion=emotion, rate=rate, strength=strength)

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
    strength: float = 1.0,
    engine: str | None = None,
) -> SayResult:
    """Speak ``text`` in ``voice`` (None = default voice) with ``emotion`` at ``strength``, optionally
    writing a WAV; reports similarity."""
    text = str(text).strip()
    if not text:
        raise InputError("there is nothing to say: type a sentence first")
    speaker = speaker_for(studio, voice, engine=engine)
    speech = speaker.synthesize(text, emotion=emotion, strength=strength)
    result = SayResult(speech=speech, similarity=speaker.similarity(speech), description=speaker.describe())
    if out is not None:
        result.path = write_wav(Path(out), speech.audio, speech.sample_rate)
    return result
