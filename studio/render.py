"""A render job: script (or uploaded audio) + portrait + voice -> MP4, subtitles and a manifest.

    parse script -> TTS per sentence (cached) -> timeline audio + phoneme/word timings
    -> portrait landmarks (cached) -> animation rig (cached) -> motion track
    -> frames streamed into the encoder (H.264 + AAC) -> SRT/VTT -> manifest JSON

Every stage is timed (milliseconds in the manifest), long work reports progress through a
callback and checks a cancel event between frames; a cancelled or failed job leaves any
existing output untouched.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engines.animate.base import AnimationSettings, EmotionSpan
from engines.tts.base import PhonemeTiming, Speech, WordTiming
from studio import portrait as portrait_mod
from studio.config import OutputPreset, output_preset
from studio.errors import CancelledError, InputError
from studio.script import Script, parse_script
from studio.services import Studio
from studio.storage import atomic_write_json, atomic_write_npz, disk_free_bytes, read_npz

ProgressFn = Callable[[float, str], None]

LEAD_IN_S = 0.25  # silence before the first word, so the first frame is a calm face
TAIL_S = 0.5  # silence after the last word
MIN_FREE_BYTES = 200 * 1024 * 1024
CACHE_VERSION = "1"


@dataclass
class RenderRequest:
    """What to render. Exactly one of ``text``, ``script_file``, ``audio`` is given."""

    portrait: Path
    out: Path
    text: str | None = None
    script_file: Path | None = None
    audio: Path | None = None
    voice: str | None = None
    emotion: str = "neutral"
    preset: str = "512"
    subtitles: bool = False
    burn_subtitles: bool = False
    animation: AnimationSettings = field(default_factory=AnimationSettings)
    animator: str = "procedural"


@dataclass
class Timeline:
    """The whole video's audio and timings (seconds)."""

    audio: np.ndarray
    sample_rate: int
    phonemes: list[PhonemeTiming] | None
    words: list[WordTiming]
    emotions: list[EmotionSpan]
    similarity: float | None = None
    voice: str = "default voice"

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass
class RenderResult:
    video: Path
    manifest: Path
    duration: float
    frames: int
    timings_ms: dict[str, float]
    subtitles: list[Path] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    sync: dict[str, Any] | None = None
    similarity: float | None = None

    def all_files(self) -> list[Path]:
        """The video, its manifest and subtitles (what the user downloads)."""
        return [self.video, self.manifest, *self.subtitles]

    @property
    def realtime_factor(self) -> float:
        """Wall time / video duration (< 1 is faster than real time)."""
        return sum(self.timings_ms.values()) / 1000.0 / max(self.duration, 1e-6)


def _hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _image_hash(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()[:24]


class RenderJob:
    """One render. ``run()`` returns a :class:`RenderResult` or raises StudioError."""

    def __init__(self, studio: Studio, request: RenderRequest, *, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None):
        self.studio = studio
        self.req = request
        self.progress = progress or (lambda f, m: None)
        self.cancel = cancel or threading.Event()
        self.timings: dict[str, float] = {}
        self.notices: list[str] = []

    # -- helpers -------------------------------------------------------------------------------
    def _stage(self, name: str, t0: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - t0) * 1000.0

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise CancelledError("the render was cancelled; any earlier export is unchanged")

    @property
    def cache(self) -> Path:
        return self.studio.paths.cache

    # -- inputs --------------------------------------------------------------------------------
    def _script(self) -> Script:
        if self.req.script_file is not None:
            path = Path(self.req.script_file)
            if not path.is_file():
                raise InputError(f"cannot find the script {path}: check the file name")
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"{path.name} is not a readable text file: save the script as UTF-8 text") from exc
        else:
            text = self.req.text or ""
        script = parse_script(text, emotion=self.req.emotion)
        self.notices.extend(script.warnings)
        return script

    def _validate(self) -> tuple[OutputPreset, Script | None]:
        preset = output_preset(self.req.preset)
        given = [x is not None for x in (self.req.text, self.req.script_file, self.req.audio)]
        if sum(given) != 1:
            raise InputError("give exactly one of --text, --script or --audio")
        script = None if self.req.audio is not None else self._script()
        out = Path(self.req.out)
        if out.suffix.lower() != ".mp4":
            raise InputError(f"the output must be an .mp4 file, not '{out.name}'")
        if out.exists() and out.is_dir():
            raise InputError(f"{out} is a folder: give a file name ending in .mp4")
        if disk_free_bytes(out.parent if str(out.parent) else Path(".")) < MIN_FREE_BYTES:
            raise InputError("the disk is almost full (less than 200 MB free): free some space and try again")
        return preset, script

    # -- stages --------------------------------------------------------------------------------
    def _face(self, image: np.ndarray) -> np.ndarray:
        """68 landmarks of the portrait's one face, cached by image content."""
        path = self.cache / "landmarks" / f"{_image_hash(image)}.npz"
        if path.exists():
            try:
                return read_npz(path)["landmarks"]
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)  # damaged cache entry: recompute
        face = portrait_mod.primary_face(image, self.studio.face())
        atomic_write_npz(path, landmarks=face.landmarks)
        return face.landmarks

    def _speaker(self):
        from studio.voices import speaker_for

        return speaker_for(self.studio, self.req.voice)

    def _sentence(self, speaker, text: str, emotion: str) -> Speech:
        """TTS of one sentence, cached by voice, text and emotion."""
        key = _hash(CACHE_VERSION, speaker.cache_key(), text, emotion)
        path = self.cache / "tts" / f"{key}.npz"
        if path.exists():
            try:
                d = read_npz(path)
                return Speech(audio=d["audio"], sample_rate=int(d["sample_rate"]), text=text,
                              phonemes=[PhonemeTiming(str(p), float(s), float(e)) for p, s, e in zip(d["ph"], d["ph_start"], d["ph_end"])],
                              words=[WordTiming(str(w), float(s), float(e)) for w, s, e in zip(d["w"], d["w_start"], d["w_end"])])
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)
        speech = speaker.synthesize(text, emotion=emotion)
        atomic_write_npz(
            path, audio=speech.audio.astype(np.float32), sample_rate=np.int64(speech.sample_rate),
            ph=np.array([p.phoneme for p in speech.phonemes], dtype=str), ph_start=np.array([p.start for p in speech.phonemes]),
            ph_end=np.array([p.end for p in speech.phonemes]), w=np.array([w.word for w in speech.words], dtype=str),
            w_start=np.array([w.start for w in speech.words]), w_end=np.array([w.end for w in speech.words]),
        )
        return speech

    def _speak(self, script: Script, speaker) -> Timeline:
        sr = speaker.sample_rate
        pieces: list[np.ndarray] = [np.zeros(int(LEAD_IN_S * sr), np.float32)]
        t = LEAD_IN_S
        phonemes: list[PhonemeTiming] = []
        words: list[WordTiming] = []
        emotions: list[EmotionSpan] = []
        sims: list[float] = []
        n = len(script.sentences)
        for i, sentence in enumerate(script.sentences):
            self._check_cancel()
            self.progress(0.3 * i / n, f"speaking sentence {i + 1} of {n}")
            start = t
            if sentence.pause_before:
                pieces.append(np.zeros(int(round(sentence.pause_before * sr)), np.float32))
                t += len(pieces[-1]) / sr
            speech = self._sentence(speaker, sentence.text, sentence.emotion)
            shifted = speech.shifted(t)
            phonemes += shifted.phonemes
            words += shifted.words
            pieces.append(speech.audio.astype(np.float32))
            t += speech.duration
            sim = speaker.similarity(speech)
            if sim is not None:
                sims.append(sim)
            if sentence.pause_after:
                pieces.append(np.zeros(int(round(sentence.pause_after * sr)), np.float32))
                t += len(pieces[-1]) / sr
            emotions.append(EmotionSpan(start, t, sentence.emotion))
        pieces.append(np.zeros(int(TAIL_S * sr), np.float32))
        audio = np.concatenate(pieces)
        return Timeline(audio=audio, sample_rate=sr, phonemes=phonemes, words=words, emotions=emotions,
                        similarity=float(np.mean(sims)) if sims else None, voice=speaker.describe())

    def _uploaded_audio(self) -> Timeline:
        from studio.audio import load_audio

        audio, sr = load_audio(self.req.audio)
        emotions = [EmotionSpan(0.0, len(audio) / sr, self.req.emotion)]
        words: list[WordTiming] = []
        if self.req.subtitles or self.req.burn_subtitles:
            words = self._transcribe(audio, sr)
        return Timeline(audio=audio, sample_rate=sr, phonemes=None, words=words, emotions=emotions, voice="uploaded audio")

    def _transcribe(self, audio: np.ndarray, sr: int) -> list[WordTiming]:
        try:
            from studio.transcribe import transcribe_words
        except ImportError:
            self.notices.append("subtitles for uploaded audio need the speech recogniser, which is not installed")
            return []
        return transcribe_words(self.studio, audio, sr)

    # -- the job -------------------------------------------------------------------------------
    def run(self) -> RenderResult:
        t0 = time.perf_counter()
        preset, script = self._validate()
        image = portrait_mod.load_image(self.req.portrait)
        speaker = self._speaker() if script is not None else None  # unknown voice fails here, early
        self._stage("validate", t0)

        t0 = time.perf_counter()
        self.progress(0.0, "finding the face")
        landmarks = self._face(image)
        self._stage("landmarks", t0)

        t0 = time.perf_counter()
        timeline = self._uploaded_audio() if script is None else self._speak(script, speaker)
        self._stage("tts" if script is not None else "audio", t0)
        self._check_cancel()

        fps = preset.fps
        n_frames = max(1, int(np.ceil(timeline.duration * fps)))
        duration = n_frames / fps

        t0 = time.perf_counter()
        self.progress(0.3, "preparing the portrait")
        animator = self.studio.animator(self.req.animator)
        rig = self._rig(animator, image, landmarks, preset)
        track = animator.track(duration=duration, fps=fps, phonemes=timeline.phonemes,
                               audio=timeline.audio if timeline.phonemes is None else None,
                               sample_rate=timeline.sample_rate, emotions=timeline.emotions,
                               settings=self.req.animation)
        self.notices.extend(getattr(animator, "notices", []) or [])
        self._stage("prepare", t0)

        result = self._encode(animator, rig, track, timeline, preset, n_frames)
        return result

    def _rig(self, animator, image: np.ndarray, landmarks: np.ndarray, preset: OutputPreset):
        settings = self.req.animation
        key = _hash(CACHE_VERSION, animator.name, _image_hash(image), landmarks.round(2).tolist(),
                    preset.width, preset.height, settings.crop_expand)
        path = self.cache / "rigs" / f"{key}.npz"
        if path.exists() and hasattr(animator, "rig_from_arrays"):
            try:
                return animator.rig_from_arrays(read_npz(path))
            except Exception:  # noqa: BLE001 - a damaged cache entry is discarded, never trusted
                path.unlink(missing_ok=True)
        rig = animator.prepare(image, landmarks, preset.width, preset.height, settings)
        if hasattr(rig, "to_arrays"):
            atomic_write_npz(path, **rig.to_arrays())
        return rig

    def _encode(self, animator, rig, track, timeline: Timeline, preset: OutputPreset, n_frames: int) -> RenderResult:
        from studio.video import VideoWriter

        out = Path(self.req.out)
        measure, report = _sync_tools()
        burn = _subtitle_burner(timeline.words) if self.req.burn_subtitles else None
        openings = np.zeros(n_frames, np.float32)
        anim_ms = enc_ms = 0.0
        metadata = {"comment": "AI-generated with Avatar Studio (synthetic talking head)",
                    "encoder_tool": "Avatar Studio"}
        writer = VideoWriter(out, preset.width, preset.height, fps=preset.fps, audio=timeline.audio,
                             sample_rate=timeline.sample_rate, crf=preset.crf, x264_preset=preset.x264_preset,
                             metadata=metadata, expected_frames=n_frames)
        with writer:
            chunk = preset.fps * 2
            for start in range(0, n_frames, chunk):
                stop = min(n_frames, start + chunk)
                ta = time.perf_counter()
                frames = list(animator.frames(rig, track, start, stop))
                if measure is not None:
                    for i, frame in enumerate(frames):
                        openings[start + i] = measure(rig, frame)
                if burn is not None:
                    frames = [burn(f, (start + i) / preset.fps) for i, f in enumerate(frames)]
                anim_ms += (time.perf_counter() - ta) * 1000
                te = time.perf_counter()
                for frame in frames:
                    writer.write_frame(frame)
                enc_ms += (time.perf_counter() - te) * 1000
                self._check_cancel()
                self.progress(0.3 + 0.68 * stop / n_frames, f"rendering frame {stop} of {n_frames}")
            te = time.perf_counter()
        enc_ms += (time.perf_counter() - te) * 1000
        self.timings["animate"] = anim_ms
        self.timings["encode"] = enc_ms

        sync = report(openings, timeline.audio, timeline.sample_rate, preset.fps) if report else None
        subs = self._subtitles(timeline.words) if (self.req.subtitles or self.req.burn_subtitles) else []
        duration = n_frames / preset.fps
        manifest = out.with_suffix(".json")
        result = RenderResult(video=out, manifest=manifest, duration=duration, frames=n_frames,
                              timings_ms={k: round(v, 1) for k, v in self.timings.items()}, subtitles=subs,
                              notices=list(dict.fromkeys(self.notices)), sync=sync, similarity=timeline.similarity)
        atomic_write_json(manifest, self._manifest(result, timeline, preset))
        self.progress(1.0, "done")
        return result

    def _subtitles(self, words: list[WordTiming]) -> list[Path]:
        if not words:
            self.notices.append("no word timings, so no subtitles were written")
            return []
        from studio.subtitles import cues_from_words, write_srt, write_vtt

        cues = cues_from_words(words)
        out = Path(self.req.out)
        srt, vtt = out.with_suffix(".srt"), out.with_suffix(".vtt")
        write_srt(cues, srt)
        write_vtt(cues, vtt)
        return [srt, vtt]

    def _manifest(self, result: RenderResult, timeline: Timeline, preset: OutputPreset) -> dict[str, Any]:
        from studio import __version__

        return {
            "tool": f"Avatar Studio {__version__}",
            "ai_generated": True,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "video": result.video.name,
            "duration_s": round(result.duration, 3),
            "frames": result.frames,
            "preset": asdict(preset),
            "voice": timeline.voice,
            "voice_similarity": result.similarity,
            "animator": self.req.animator,
            "animation": asdict(self.req.animation),
            "inputs": {"portrait": str(self.req.portrait), "audio": str(self.req.audio) if self.req.audio else None,
                       "text": self.req.text, "script_file": str(self.req.script_file) if self.req.script_file else None,
                       "emotion": self.req.emotion},
            "timings_ms": result.timings_ms,
            "realtime_factor": round(result.realtime_factor, 3),
            "lipsync_check": result.sync,
            "subtitles": [p.name for p in result.subtitles],
            "notices": result.notices,
        }


def _sync_tools():
    try:
        from engines.animate.sync_check import measure_mouth_opening, sync_report
    except ImportError:
        return None, None
    return measure_mouth_opening, sync_report


def _subtitle_burner(words: list[WordTiming]):
    if not words:
        return None
    from studio.subtitles import burn_in, cues_from_words

    cues = cues_from_words(words)
    return lambda frame, t: burn_in(frame, t, cues)
