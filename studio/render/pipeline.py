"""A render job: script (or uploaded audio) + portrait + voice -> MP4, subtitles and a manifest.

    parse script -> portrait landmarks (cached) -> animation rig (cached)
    -> per sentence: TTS (cached) -> chunk of frames -> H.264 chunk file (cached by content hash)
    -> chunks joined losslessly + the whole audio as AAC -> SRT/VTT -> manifest JSON

Work is chunked by sentence (uploaded audio: by ``AUDIO_CHUNK_S`` windows), so memory stays flat
for long scripts, a preview can play as soon as the first chunk exists, a killed render resumes
from the last finished chunk, and editing one sentence re-renders only that sentence's chunk.
Each chunk's motion (blinks, head sway, emotion ramps) depends only on its own sentence, its
neighbours' emotions and its position; the head returns to its rest pose at chunk edges so
chunks join without a jump.

Every stage is timed (milliseconds in the manifest), long work reports progress through a
callback and checks a cancel event between frames; a cancelled or failed job leaves any
existing output untouched (the MP4 is written to a temporary name and renamed when complete).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engines.animate.base import AnimationSettings, Animator, EmotionSpan, Notices
from engines.animate.sync_check import sync_report
from engines.emotions import MAX_STRENGTH, MIN_STRENGTH, clamp_strength
from engines.progress import Progress, no_progress
from engines.timing import PhonemeTiming, WordTiming
from engines.tts.base import TAKE, Speech
from engines.voice.prosody import Prosody
from studio.config import OutputPreset, output_preset
from studio.errors import CancelledError, InputError
from studio.portrait.faces import primary_face
from studio.portrait.photo import load_image
from studio.render import gate, provenance
from studio.render.cache import (
    Chunk,
    ChunkStore,
    WorkFolder,
    array_hash,
    code_fingerprint,
    content_hash,
    landmarks_entry,
    load_npz_entry,
    module_fingerprint,
)
from studio.render.video import AUDIO_RATE, AudioTrack, VideoWriter, join_chunks, resample
from studio.script.markup import Script, parse_script
from studio.services import Studio
from studio.storage import atomic_write_json, atomic_write_npz, disk_free_bytes

ChunkFn = Callable[["ChunkReady"], None]

LEAD_IN_S = 0.25  # silence before the first word, so the first frame is a calm face
TAIL_S = 0.5  # silence after the last word
MIN_FREE_BYTES = 200 * 1024 * 1024
CACHE_VERSION = "2"  # 2: TTS noise seeded per sentence (engines/tts/piper.py), takes
CHUNK_VERSION = "1"  # bump when chunk frames change for the same inputs
AUDIO_CHUNK_S = 10.0  # uploaded audio is rendered in windows of this many seconds
CONTEXT_S = 1.0  # motion is computed this far beyond a chunk's edges, so emotion ramps line up
ENVELOPE_DECIMATION = 6  # the lip-sync check looks at the loudness of 8 kHz sound (memory)
TRACK_DECIMATION = 3  # the audio-driven mouth gets 16 kHz sound: hiss up to 8 kHz, a long recording stays small
# Request fields that are inputs (hashed by content) or outputs, not settings of the frames.
_INPUT_FIELDS = ("portrait", "out", "text", "script_file", "audio", "subtitles")


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
    watermark: bool = False  # invisible provenance watermark in every frame (studio/provenance.py)
    take: int = 0  # 0 = the first take; another number varies the voice's noise and the motion on purpose
    emotion_strength: float = 1.0  # scales every emotion, voice and face together (0 = neutral, at most 2)


@dataclass
class Timeline:
    """The whole video's audio and timings (seconds); used for uploaded audio."""

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
    chunks: int = 0  # chunks in the video
    chunks_reused: int = 0  # of those, found finished in the cache (resume, unchanged sentences)

    def all_files(self) -> list[Path]:
        """The video, its manifest and subtitles (what the user downloads)."""
        return [self.video, self.manifest, *self.subtitles]

    @property
    def realtime_factor(self) -> float:
        """Wall time / video duration (< 1 is faster than real time)."""
        return sum(self.timings_ms.values()) / 1000.0 / max(self.duration, 1e-6)


@dataclass
class ChunkPlan:
    """One piece of the video before it is rendered: its audio, timings and cache key."""

    index: int
    key: str
    frames: int
    audio: np.ndarray  # mono float32 at studio.video.AUDIO_RATE, exactly frames / fps seconds
    words: list[WordTiming]  # seconds from the chunk's start
    make_frames: Callable[[], Iterator[np.ndarray]]
    weight: float = 1.0  # share of the whole job, for progress and time estimates


@dataclass
class ChunkReady:
    """Reported after each chunk: enough to play the video so far (e.g. a streaming preview)."""

    index: int
    total: int
    chunk: Chunk
    audio: np.ndarray  # the chunk's audio, mono float32 at studio.video.AUDIO_RATE
    start_s: float  # where the chunk starts in the video
    reused: bool


@dataclass
class RenderedParts:
    """The chunks of one render so far, and what its result needs from them."""

    chunks: list[Chunk] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # what the work folder keeps for a resume
    words: list[WordTiming] = field(default_factory=list)  # seconds from the video's start
    openings: list[np.ndarray] = field(default_factory=list)  # per chunk: mouth opening per frame (pixels)
    envelope: list[np.ndarray] = field(default_factory=list)  # per chunk: 8 kHz sound for the lip-sync check
    reused: int = 0  # chunks found finished in the cache
    end_s: float = 0.0  # where the next chunk starts in the video

    def add(self, plan: ChunkPlan, chunk: Chunk, reused: bool, fps: int) -> float:
        """Count in one finished chunk; returns where it starts in the video (seconds)."""
        start_s = self.end_s
        self.chunks.append(chunk)
        self.reused += int(reused)
        self.envelope.append(plan.audio.reshape(-1, ENVELOPE_DECIMATION).mean(axis=1))
        # a chunk from an older cache may lack openings: the check then skips the whole video
        self.openings.append(
            chunk.openings if len(chunk.openings) == plan.frames else np.full(plan.frames, np.nan, np.float32)
        )
        self.words += [WordTiming(w.word, w.start + start_s, w.end + start_s) for w in plan.words]
        self.records.append({"index": plan.index, "key": plan.key, "frames": plan.frames, "reused": reused})
        self.end_s += plan.frames / fps
        return start_s


class RenderJob:
    """One render. ``run()`` returns a :class:`RenderResult` or raises StudioError."""

    def __init__(
        self,
        studio: Studio,
        request: RenderRequest,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        on_chunk: ChunkFn | None = None,
    ):
        self.studio = studio
        self.req = request
        self.progress = progress or no_progress
        self.cancel = cancel or threading.Event()
        self.on_chunk = on_chunk
        self.timings: dict[str, float] = {}
        self.notices = Notices()  # this render's, the animator's included (it is passed to every call)
        self.provenance: provenance.Provenance | None = None  # set when the MP4's tags are written
        self._done_weight = 0.0  # share of the chunks finished so far (0..1)
        self._drawn_by = ""  # the engine that draws this render's frames (after any fallback), in chunk keys
        self._unkept: set[str] = set()  # chunks drawn after the engine changed its plan: not kept for reuse
        self.portrait_check: gate.GateResult | None = None  # the portrait gate's result (studio/render/gate.py)

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
        strength = float(self.req.emotion_strength)
        if not MIN_STRENGTH <= strength <= MAX_STRENGTH:  # NaN fails too
            raise InputError(
                f"the emotion strength must be between {MIN_STRENGTH:g} (none) and {MAX_STRENGTH:g}, not {strength:g}"
            )
        script = None if self.req.audio is not None else self._script()
        out = Path(self.req.out)
        if out.suffix.lower() != ".mp4":
            raise InputError(f"the output must be an .mp4 file, not '{out.name}'")
        if out.exists() and out.is_dir():
            raise InputError(f"{out} is a folder: give a file name ending in .mp4")
        if disk_free_bytes(out.parent if str(out.parent) else Path(".")) < MIN_FREE_BYTES:
            raise InputError("the disk is almost full (less than 200 MB free): free some space and try again")
        return preset, script

    def _settings_key(self, preset: OutputPreset) -> dict[str, Any]:
        """Everything besides the inputs that changes the frames of a chunk."""
        fields = {k: v for k, v in asdict(self.req).items() if k not in _INPUT_FIELDS}
        # the code that touches frames besides the animator (its own fingerprint is in the rig key)
        code = module_fingerprint(
            "studio.render.pipeline",
            "studio.render.subtitles",
            "studio.render.provenance",
            "engines.animate.sync_check",
        )
        # watermarked frames depend on this installation's key (studio/render/provenance.py)
        mark = provenance.key_id(self._watermark_key()) if self.req.watermark else None
        return {"version": CHUNK_VERSION, "code": code, "preset": asdict(preset), "request": fields, "mark": mark}

    def _watermark_key(self) -> int:
        return provenance.installation_key(self.studio.paths.home)

    def check(self) -> None:
        """Fail now with a StudioError if the request cannot be rendered (script, preset, output,
        portrait file, voice); the slow checks (face, sound) happen during ``run()``."""
        _, script = self._validate()
        load_image(self.req.portrait)
        self._gate()
        if script is not None:
            self._speaker()

    def _gate(self) -> None:
        """The same portrait check as ``app.py portrait check`` (cached per photo): a rejected photo
        stops the render (exit 3), warnings become notices and go into the manifest."""
        self.portrait_check = gate.require_usable(self.studio, self.req.portrait)
        self.notices.extend(f"portrait: {w}" for w in self.portrait_check.warnings)

    # -- stages --------------------------------------------------------------------------------
    def _face(self, image: np.ndarray) -> np.ndarray:
        """68 landmarks of the portrait's one face, cached by image content."""
        path = landmarks_entry(self.cache, image)
        cached = load_npz_entry(path, "landmarks")
        if cached is not None:
            return cached["landmarks"]
        face = primary_face(image, self.studio.face())
        atomic_write_npz(path, landmarks=face.landmarks)
        return face.landmarks

    def _speaker(self):
        from studio.voice.speakers import speaker_for

        return speaker_for(self.studio, self.req.voice)

    def _strength(self, sentence_strength: float = 1.0) -> float:
        """A sentence's emotion strength: its markup's (``[happy 0.5]``) times the request's."""
        return clamp_strength(sentence_strength * float(self.req.emotion_strength))

    def _mood(self, sentence) -> tuple[str, float]:
        """``(emotion, strength)`` of a script sentence, for the face and chunk keys."""
        return sentence.emotion, round(self._strength(sentence.strength), 4)

    def _sentence(self, speaker, text: str, emotion: str, strength: float = 1.0) -> tuple[Speech, str]:
        """TTS of one sentence and its cache key, cached by voice, text, emotion and its strength
        (with the prosody it stands for, so an edited emotion table re-speaks)."""
        prosody = Prosody.of(emotion, strength).key()
        key = content_hash(CACHE_VERSION, speaker.cache_key(), text, emotion, int(self.req.take), prosody)
        path = self.cache / "tts" / f"{key}.npz"
        d = load_npz_entry(path, "audio", "sample_rate", "ph", "ph_start", "ph_end", "w", "w_start", "w_end")
        if d is not None:
            return Speech(
                audio=d["audio"],
                sample_rate=int(d["sample_rate"]),
                text=text,
                phonemes=[
                    PhonemeTiming(str(p), float(s), float(e)) for p, s, e in zip(d["ph"], d["ph_start"], d["ph_end"])
                ],
                words=[WordTiming(str(w), float(s), float(e)) for w, s, e in zip(d["w"], d["w_start"], d["w_end"])],
            ), key
        token = TAKE.set(int(self.req.take))  # seeds the voice's noise with the sentence (per thread)
        try:
            speech = speaker.synthesize(text, emotion=emotion, strength=strength)
        finally:
            TAKE.reset(token)
        atomic_write_npz(
            path,
            audio=speech.audio.astype(np.float32),
            sample_rate=np.int64(speech.sample_rate),
            ph=np.array([p.phoneme for p in speech.phonemes], dtype=str),
            ph_start=np.array([p.start for p in speech.phonemes]),
            ph_end=np.array([p.end for p in speech.phonemes]),
            w=np.array([w.word for w in speech.words], dtype=str),
            w_start=np.array([w.start for w in speech.words]),
            w_end=np.array([w.end for w in speech.words]),
        )
        return speech, key

    def _uploaded_audio(self) -> Timeline:
        from studio.voice.audio import load_audio

        audio, sr = load_audio(self.req.audio)
        emotions = [EmotionSpan(0.0, len(audio) / sr, self.req.emotion, self._strength())]
        words: list[WordTiming] = []
        if self.req.subtitles or self.req.burn_subtitles:
            words = self._transcribe(audio, sr)
        return Timeline(
            audio=audio, sample_rate=sr, phonemes=None, words=words, emotions=emotions, voice="uploaded audio"
        )

    def _transcribe(self, audio: np.ndarray, sr: int) -> list[WordTiming]:
        try:
            from studio.render.subtitles import words_from_audio
        except ImportError:
            self.notices.append("subtitles for uploaded audio need the speech recogniser, which is not installed")
            return []
        return words_from_audio(self.studio, audio, sr)

    def _rig(self, animator: Animator, image: np.ndarray, landmarks: np.ndarray, preset: OutputPreset):
        """The animator's per-avatar preparation, cached by portrait, landmarks and output size."""
        settings = self.req.animation
        key = content_hash(
            CACHE_VERSION,
            animator.name,
            code_fingerprint(type(animator)),
            array_hash(image),
            landmarks.round(2).tolist(),
            preset.width,
            preset.height,
            settings.crop_expand,
        )
        path = self.cache / "rigs" / f"{key}.npz"
        cached = load_npz_entry(path)
        if cached is not None:
            try:
                return animator.rig_from_arrays(cached, notices=self.notices), key
            except Exception:  # noqa: BLE001 - a damaged or stale cache entry is discarded, never trusted
                path.unlink(missing_ok=True)
        rig = animator.prepare(image, landmarks, preset.width, preset.height, settings, notices=self.notices)
        arrays = animator.rig_to_arrays(rig)
        if arrays is not None:  # None: this animator's rigs are not cached
            atomic_write_npz(path, **arrays)
        return rig, key

    # -- chunk plans -----------------------------------------------------------------------------
    def _sentence_chunks(
        self, script: Script, speaker, animator: Animator, rig, rig_key: str, preset: OutputPreset, sims: list[float]
    ) -> Iterator[ChunkPlan]:
        """One chunk per sentence. The next sentence is spoken on a helper thread while the current
        chunk renders (TTS and frames overlap on two cores); the "tts" timing is the time waited."""
        fps = preset.fps
        spf = AUDIO_RATE // fps
        sentences = script.sentences
        n = len(sentences)
        total_chars = sum(len(s.text) for s in sentences) or 1
        settings_key = self._settings_key(preset)

        def speak(sentence) -> tuple[Speech, str, float | None]:
            speech, key = self._sentence(speaker, sentence.text, sentence.emotion, self._strength(sentence.strength))
            return speech, key, speaker.similarity(speech)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-ahead") as pool:
            ahead = pool.submit(speak, sentences[0]) if n else None
            try:
                for i, sentence in enumerate(sentences):
                    self._check_cancel()
                    t0 = time.perf_counter()
                    self.progress(self._done_weight, f"speaking sentence {i + 1} of {n}")
                    speech, speech_key, sim = ahead.result()
                    ahead = pool.submit(speak, sentences[i + 1]) if i + 1 < n else None
                    if sim is not None:
                        sims.append(sim)
                    self._stage("tts", t0)
                    before = (LEAD_IN_S if i == 0 else 0.0) + sentence.pause_before
                    after = sentence.pause_after + (TAIL_S if i == n - 1 else 0.0)
                    voice = resample(speech.audio, speech.sample_rate, AUDIO_RATE)
                    lead = int(round(before * AUDIO_RATE))
                    body = lead + len(voice) + int(round(after * AUDIO_RATE))
                    frames = max(1, -(-body // spf))
                    audio = np.zeros(frames * spf, np.float32)
                    audio[lead : lead + len(voice)] = voice
                    offset = lead / AUDIO_RATE
                    # (emotion, strength) of this sentence and its neighbours: the face ramps between them
                    prev_emotion = self._mood(sentences[i - 1]) if i > 0 else None
                    next_emotion = self._mood(sentences[i + 1]) if i + 1 < n else None
                    key = content_hash(
                        "sentence",
                        settings_key,
                        rig_key,
                        speech_key,
                        round(before, 4),
                        round(after, 4),
                        prev_emotion,
                        self._mood(sentence),
                        next_emotion,
                        i,
                    )
                    local = speech.shifted(offset)
                    yield ChunkPlan(
                        index=i,
                        key=key,
                        frames=frames,
                        audio=audio,
                        words=local.words,
                        make_frames=self._sentence_frames(
                            animator,
                            rig,
                            preset,
                            local.phonemes,
                            audio,
                            frames,
                            (prev_emotion, self._mood(sentence), next_emotion),
                            i,
                        ),
                        weight=len(sentence.text) / total_chars,
                    )
            finally:
                if ahead is not None:
                    ahead.cancel()

    def _sentence_frames(
        self,
        animator: Animator,
        rig,
        preset: OutputPreset,
        phonemes: list[PhonemeTiming],
        audio: np.ndarray,
        frames: int,
        emotions: tuple[tuple[str, float] | None, tuple[str, float], tuple[str, float] | None],
        index: int,
    ):
        """Frames of one sentence chunk, with motion computed ``CONTEXT_S`` beyond its edges."""

        def make() -> Iterator[np.ndarray]:
            fps = preset.fps
            ctx = int(round(CONTEXT_S * fps))
            ctx_s = ctx / fps
            total = frames + 2 * ctx
            duration = total / fps
            padded = np.concatenate(
                [
                    np.zeros(ctx * (AUDIO_RATE // fps), np.float32),
                    audio,
                    np.zeros(ctx * (AUDIO_RATE // fps), np.float32),
                ]
            )
            prev_e, cur, next_e = emotions
            body_end = ctx_s + frames / fps
            spans = [
                EmotionSpan(0.0, ctx_s, *(prev_e or cur)),
                EmotionSpan(ctx_s, body_end, *cur),
                EmotionSpan(body_end, duration + 1.0, *(next_e or cur)),
            ]
            settings = replace(self.req.animation, seed=_motion_seed(self.req, index))
            track = animator.track(
                duration=duration,
                fps=fps,
                phonemes=[PhonemeTiming(p.phoneme, p.start + ctx_s, p.end + ctx_s) for p in phonemes],
                audio=padded,
                sample_rate=AUDIO_RATE,
                emotions=spans,
                settings=settings,
                notices=self.notices,
            )
            animator.settle_edges(track, ctx, ctx + frames, fps)
            return animator.frames(rig, track, ctx, ctx + frames, notices=self.notices)

        return make

    def _audio_chunks(
        self, timeline: Timeline, animator: Animator, rig, rig_key: str, preset: OutputPreset
    ) -> Iterator[ChunkPlan]:
        """Uploaded audio: one motion track for the whole recording, rendered in fixed windows."""
        fps = preset.fps
        spf = AUDIO_RATE // fps
        audio = resample(timeline.audio, timeline.sample_rate, AUDIO_RATE)
        n_frames = max(1, -(-len(audio) // spf))
        audio = np.concatenate([audio, np.zeros(n_frames * spf - len(audio), np.float32)])
        t0 = time.perf_counter()
        low = resample(audio, AUDIO_RATE, AUDIO_RATE // TRACK_DECIMATION)
        track = animator.track(
            duration=n_frames / fps,
            fps=fps,
            phonemes=None,
            audio=low,
            sample_rate=AUDIO_RATE // TRACK_DECIMATION,
            emotions=timeline.emotions,
            settings=replace(self.req.animation, seed=_motion_seed(self.req, 0)),
            notices=self.notices,
        )
        self._stage("prepare", t0)
        base = content_hash("audio", self._settings_key(preset), rig_key, array_hash(audio))
        step = max(1, int(round(AUDIO_CHUNK_S * fps)))
        for i, start in enumerate(range(0, n_frames, step)):
            stop = min(n_frames, start + step)
            t_start, t_stop = start / fps, stop / fps
            words = [
                WordTiming(w.word, w.start - t_start, w.end - t_start)
                for w in timeline.words
                if w.start < t_stop and w.end > t_start
            ]
            yield ChunkPlan(
                index=i,
                key=content_hash(base, start, stop),
                frames=stop - start,
                audio=audio[start * spf : stop * spf],
                words=words,
                make_frames=lambda a=start, b=stop: animator.frames(rig, track, a, b, notices=self.notices),
                weight=(stop - start) / n_frames,
            )

    # -- the job -------------------------------------------------------------------------------
    def run(self) -> RenderResult:
        t0 = time.perf_counter()
        preset, script = self._validate()
        if AUDIO_RATE % preset.fps:
            raise InputError(f"the frame rate {preset.fps} does not divide 48 kHz audio: use 24, 25, 30, 50 or 60")
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="voice-load") as pool:
            # the voice model loads (about 2 s, outside the GIL) while the face is checked and rigged
            # (a portrait problem raised meanwhile wins; leaving the pool waits for the load to end)
            voice_ready = pool.submit(self._speaker) if script is not None else None
            image = load_image(self.req.portrait)
            self._gate()
            self._stage("validate", t0)

            t0 = time.perf_counter()
            self.progress(0.0, "finding the face")
            landmarks = self._face(image)
            self._stage("landmarks", t0)

            t0 = time.perf_counter()
            self.progress(0.0, "preparing the portrait")
            animator = self.studio.animator(self.req.animator)
            rig, rig_key = self._rig(animator, image, landmarks, preset)
            # chunks are keyed by the engine that really draws them (after a fallback) and its weights
            self._drawn_by = animator.drawn_by(rig)
            rig_key = content_hash(rig_key, self._drawn_by)
            self._stage("prepare", t0)
            self._check_cancel()
            t0 = time.perf_counter()
            speaker = voice_ready.result() if voice_ready is not None else None  # an unknown voice fails here
            self._stage("voice", t0)

        for stage in ("tts", "animate", "encode"):
            self.timings.setdefault(stage, 0.0)
        sims: list[float] = []
        if script is None:
            t0 = time.perf_counter()
            timeline = self._uploaded_audio()
            self._stage("audio", t0)
            plans = self._audio_chunks(timeline, animator, rig, rig_key, preset)
            voice = timeline.voice
            total = -(
                -max(1, int(np.ceil(timeline.duration * preset.fps))) // max(1, int(round(AUDIO_CHUNK_S * preset.fps)))
            )
        else:
            plans = self._sentence_chunks(script, speaker, animator, rig, rig_key, preset, sims)
            voice = speaker.describe()
            total = len(script.sentences)
        request_key = content_hash(
            "request",
            self._settings_key(preset),
            array_hash(image),
            self.req.text,
            str(self.req.script_file),
            str(self.req.audio),
        )
        return self._render_chunks(plans, total, request_key, animator, rig, preset, voice, sims)

    def _render_chunks(
        self,
        plans: Iterator[ChunkPlan],
        total: int,
        request_key: str,
        animator: Animator,
        rig,
        preset: OutputPreset,
        voice: str,
        sims: list[float],
    ) -> RenderResult:
        """Gather the chunks (from the store or rendered now), join them with the sound, then write
        the manifest and tidy the caches."""
        store = ChunkStore(self.cache / "chunks")
        work = WorkFolder(self.cache / "render", request_key)
        if work.previously_done:
            self.notices.append(
                f"resuming an interrupted render: {work.previously_done} of {work.previous.get('total')} "
                "chunks were already finished"
            )
        fd, wav_name = tempfile.mkstemp(prefix="audio.", suffix=".wav", dir=work.scratch(""))
        os.close(fd)
        wav = Path(wav_name)
        try:
            with AudioTrack(wav) as sound:
                parts = self._gather(plans, total, animator, rig, preset, store, work, sound)
            self._check_cancel()
            out = self._assemble(parts.chunks, wav, preset, voice)
            for key in self._unkept:  # keyed for one engine, drawn (partly) by another: never reuse
                store.discard(key)
        finally:
            wav.unlink(missing_ok=True)
        result = self._report(parts, out, preset, voice, sims)
        work.remove()
        store.prune(keep={c.key for c in parts.chunks})
        WorkFolder.prune(work.path.parent)
        self.progress(1.0, "done")
        return result

    def _gather(
        self,
        plans: Iterator[ChunkPlan],
        total: int,
        animator: Animator,
        rig,
        preset: OutputPreset,
        store: ChunkStore,
        work: WorkFolder,
        sound: AudioTrack,
    ) -> RenderedParts:
        """Each chunk in order, found in the store or rendered now; its sound goes into ``sound`` and
        the work folder records it, so a killed render resumes after it."""
        parts = RenderedParts()
        for plan in plans:
            chunk = store.load(plan.key, plan.frames)
            reused = chunk is not None
            if chunk is None:
                chunk = self._render_chunk(plan, animator, rig, preset, store)
                if animator.drawn_by(rig) != self._drawn_by:  # the engine fell back while drawing
                    self._unkept.add(chunk.key)
            self._done_weight += plan.weight
            sound.append(plan.audio)
            start_s = parts.add(plan, chunk, reused, preset.fps)
            work.record(parts.records, total=total, done=len(parts.records), reused=parts.reused)
            if self.on_chunk is not None:
                self.on_chunk(
                    ChunkReady(
                        index=plan.index, total=total, chunk=chunk, audio=plan.audio, start_s=start_s, reused=reused
                    )
                )
            self.progress(min(0.97, self._done_weight), f"rendered part {len(parts.chunks)} of {total}")
        return parts

    def _assemble(self, chunks: list[Chunk], wav: Path, preset: OutputPreset, voice: str) -> Path:
        """The output MP4: the chunks joined losslessly, the whole sound ``wav`` added as AAC."""
        t0 = time.perf_counter()
        self.progress(0.97, "joining the parts and adding the sound")
        out = Path(self.req.out)
        join_chunks(
            [c.video for c in chunks], wav, out, audio_bitrate=preset.audio_bitrate, metadata=self._metadata(voice)
        )
        self._stage("assemble", t0)
        return out

    def _report(
        self, parts: RenderedParts, out: Path, preset: OutputPreset, voice: str, sims: list[float]
    ) -> RenderResult:
        """The result: lip-sync check, subtitles and the manifest JSON next to ``out``."""
        n_frames = sum(c.frames for c in parts.chunks)
        openings = np.concatenate(parts.openings) if parts.openings else np.zeros(0, np.float32)
        sync = None
        if len(openings) and not np.isnan(openings).any():
            sync = sync_report(openings, np.concatenate(parts.envelope), AUDIO_RATE // ENVELOPE_DECIMATION, preset.fps)
        subs = self._subtitles(parts.words) if (self.req.subtitles or self.req.burn_subtitles) else []
        result = RenderResult(
            video=out,
            manifest=out.with_suffix(".json"),
            duration=n_frames / preset.fps,
            frames=n_frames,
            timings_ms={k: round(v, 1) for k, v in self.timings.items()},
            subtitles=subs,
            notices=list(dict.fromkeys(self.notices)),
            sync=sync,
            similarity=float(np.mean(sims)) if sims else None,
            chunks=len(parts.chunks),
            chunks_reused=parts.reused,
        )
        atomic_write_json(result.manifest, self._manifest(result, voice, preset))
        return result

    def _render_chunk(self, plan: ChunkPlan, animator: Animator, rig, preset: OutputPreset, store: ChunkStore) -> Chunk:
        """Render and encode one chunk into the store (video only; the sound is added at the end)."""
        burn = _subtitle_burner(plan.words) if self.req.burn_subtitles else None
        openings = np.zeros(plan.frames, np.float32)
        anim_ms = enc_ms = 0.0
        count = 0
        writer = VideoWriter(
            store.video_path(plan.key),
            preset.width,
            preset.height,
            fps=preset.fps,
            crf=preset.crf,
            x264_preset=preset.x264_preset,
            expected_frames=plan.frames,
            faststart=False,
        )
        with writer:
            ta = time.perf_counter()
            for frame in plan.make_frames():
                if count >= plan.frames:
                    break
                openings[count] = animator.mouth_opening(rig, frame)
                if burn is not None:
                    frame = burn(frame, count / preset.fps)
                if self.req.watermark:
                    frame = provenance.watermark_frame(frame, self._watermark_key())
                te = time.perf_counter()
                anim_ms += (te - ta) * 1000
                writer.write_frame(frame)
                count += 1
                ta = time.perf_counter()
                enc_ms += (ta - te) * 1000
                if count % 5 == 0:
                    self._check_cancel()
                    self.progress(
                        min(0.97, self._done_weight + plan.weight * count / plan.frames),
                        f"rendering part {plan.index + 1}: frame {count} of {plan.frames}",
                    )
            if count != plan.frames:
                raise RuntimeError(f"the animator made {count} frames instead of {plan.frames}")
            te = time.perf_counter()
        enc_ms += (time.perf_counter() - te) * 1000
        self.timings["animate"] = self.timings.get("animate", 0.0) + anim_ms
        self.timings["encode"] = self.timings.get("encode", 0.0) + enc_ms
        return store.commit(plan.key, plan.frames, openings)

    def _metadata(self, voice: str) -> dict[str, str]:
        """Tags written into the MP4: AI-generated, tool, models, voice consent (studio/provenance.py)."""
        self.provenance = provenance.for_render(
            voice=self.req.voice,
            voice_description=voice,
            animator=self.req.animator,
            uploaded_audio=self.req.audio is not None,
            watermark=self.req.watermark,
        )
        return self.provenance.metadata()

    def _subtitles(self, words: list[WordTiming]) -> list[Path]:
        if not words:
            self.notices.append("no word timings, so no subtitles were written")
            return []
        from studio.render.subtitles import cues_from_words, write_srt, write_vtt

        cues = cues_from_words(words)
        out = Path(self.req.out)
        srt, vtt = out.with_suffix(".srt"), out.with_suffix(".vtt")
        write_srt(cues, srt)
        write_vtt(cues, vtt)
        return [srt, vtt]

    def _manifest(self, result: RenderResult, voice: str, preset: OutputPreset) -> dict[str, Any]:
        from studio import __version__

        return {
            "tool": f"Avatar Studio {__version__}",
            "ai_generated": True,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "video": result.video.name,
            "duration_s": round(result.duration, 3),
            "frames": result.frames,
            "preset": asdict(preset),
            "voice": voice,
            "voice_similarity": result.similarity,
            "animator": self.req.animator,
            "animation": asdict(self.req.animation),
            "take": int(self.req.take),
            "portrait_check": self.portrait_check.manifest() if self.portrait_check else None,
            "inputs": {
                "portrait": str(self.req.portrait),
                "audio": str(self.req.audio) if self.req.audio else None,
                "text": self.req.text,
                "script_file": str(self.req.script_file) if self.req.script_file else None,
                "emotion": self.req.emotion,
                "emotion_strength": float(self.req.emotion_strength),
            },
            "chunks": {"total": result.chunks, "reused": result.chunks_reused},
            "timings_ms": result.timings_ms,
            "realtime_factor": round(result.realtime_factor, 3),
            "lipsync_check": result.sync,
            "subtitles": [p.name for p in result.subtitles],
            "notices": result.notices,
            "provenance": self.provenance.to_dict() if self.provenance else None,
        }


def _motion_seed(request: RenderRequest, index: int) -> int:
    """The motion seed of chunk ``index``: from the settings' seed, the take and the position only."""
    seed = int(request.animation.seed) * 1_000_003 + index
    if request.take:
        seed += int(content_hash("take", int(request.take))[:7], 16)
    return seed & 0x7FFFFFFF


def _subtitle_burner(words: list[WordTiming]):
    if not words:
        return None
    from studio.render.subtitles import burn_in, cues_from_words

    cues = cues_from_words(words)
    return lambda frame, t: burn_in(frame, t, cues)
