"""The hybrid neural lip-sync animator (``animate``/``musetalk``): MuseTalk-style lower-face
inpainting on the procedurally animated head.

The network draws only the lower face (mouth, chin, jaw line); everything else comes from the
procedural engine on the same frame, through its public :class:`~engines.animate.base.Animator`
interface: head sway, nods and breathing, blinks, brows and the emotion of the script. The
procedural track is made with the mouth held shut (lip amplitude 0), and the generated lower face
follows the head: per frame the lower face's motion from the rest pose is found by image alignment
(:class:`~engines.animate.neural.blend.HeadFollower`) and the generated crop is pasted through it.

Per avatar (``prepare``), once and cached in ``<cache>/neural/avatars/<key>.npz``: the procedural
rig, its rest frame (framing), the 256x256 face crop of the rest frame, its masked and reference
latents (VAE encoder, PyTorch), the soft jaw mask and the colour-match parameters. The key covers
the portrait's pixels, its landmarks, the output size and framing, the model's architecture and
weights, and the animation code.

Per clip (``track``): Whisper-encoder features of the speech audio at 50 steps per second, plus the
procedural track (head, blinks, emotion; mouth shut).

Per frame (``frames``): the procedural frame, then the UNet and the VAE decoder draw the lower face,
in batches (16 for exports, 1 for previews), pasted back through the jaw mask where the head has
moved to. Settings: head motion, blinks, expression, framing, smoothing and the A/V offset act as
their names say; ``lip_amplitude`` has no meaning for the network (it draws the mouth the sound
implies), so it is switched off for this engine with a notice, never faked by cross-fading two
mouths. Who runs the network, best first:

1. ONNX Runtime with TensorRT FP16 (engines cached by the session factory), then its CUDA provider;
2. PyTorch on CUDA in FP16 (:mod:`~engines.animate.neural.torch_path`) when this ONNX Runtime has
   no GPU provider;
3. ONNX Runtime on the CPU, only with ``allow_cpu=True`` or the environment variable
   ``STUDIO_NEURAL_ALLOW_CPU=1`` (tests run the tiny random model this way; at full size it takes
   seconds per frame, far too slow to be useful);
4. otherwise the procedural engine.

Whenever the job moves down that list (weights or libraries missing, no GPU, a load or run failure)
the engine says so in plain words (also logged as a warning). How the engine runs (or why it does
not) is its own state, kept in ``notices`` and added to the :class:`~engines.animate.base.Notices`
of every render that starts with it (``prepare`` or ``rig_from_arrays``); what happens to one clip
(no audio, a failure mid-way) goes only into the notices of the render it happens in. The CLI
prints those, the UI shows them and the render manifest keeps them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from engines.animate.base import AnimationSettings, Animator, EmotionSpan, Notices
from engines.animate.neural.blend import (
    Box,
    ColourMatch,
    HeadFollower,
    box_to_crop,
    compose_affine,
    crop_resize,
    face_box,
    jaw_mask,
    paste,
    paste_warped,
    transform_points,
)
from engines.animate.neural.status import avatars_root, neural_root, onnx_root
from engines.animate.sync_check import MouthProbe, measure_mouth_opening
from engines.files import atomic_path, studio_home
from engines.progress import Progress, no_progress
from engines.registry import create, register
from engines.runtime.session import CPU, CUDA, TRT, SessionFactory

log = logging.getLogger(__name__)

# Batch sizes (min, opt, max) of the TensorRT shape profiles: latency for previews, throughput for exports.
MODES = {"preview": (1, 1, 1), "export": (1, 16, 32)}
RIG_VERSION = 4  # bump when the per-avatar preparation changes
ALLOW_CPU_ENV = "STUDIO_NEURAL_ALLOW_CPU"  # "1": run on the CPU without a GPU (tests with the tiny model)
_PROCEDURAL = "procedural."  # prefix of the procedural rig's arrays inside a neural rig's arrays
LIP_AMPLITUDE_NOTE = (
    "lip amplitude has no effect on the neural lip-sync (the network draws the mouth the sound implies); "
    "head motion, blinks and expression follow the settings"
)


@lru_cache(maxsize=1)
def animation_code() -> str:
    """Digest of the animation code (this package and the procedural engine it draws the head with):
    part of the avatar and chunk cache keys, so new code never reuses frames of the old."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def cpu_allowed_by_env() -> bool:
    """True when ``STUDIO_NEURAL_ALLOW_CPU=1`` asks for the CPU path (documented for tests only)."""
    return os.environ.get(ALLOW_CPU_ENV, "").strip() == "1"


def default_models_dir() -> Path:
    """``$STUDIO_HOME/cache/models`` (the model manager's folder) for an engine created without paths."""
    return studio_home() / "cache" / "models"


@dataclass
class NeuralRig:
    """Everything per avatar and output size that the frames need (see :meth:`to_arrays`)."""

    key: str
    model: str  # digest of the network that made the latents
    background: np.ndarray  # (H, W, 3) uint8: the procedural rest frame (the framed portrait)
    face: Box  # face crop box in output pixels (rest pose)
    crop: np.ndarray  # (S, S, 3) uint8: the rest frame's face crop
    latents: np.ndarray  # (8, h, w) float32: masked + reference latents
    mask: np.ndarray  # (S, S) float32 soft jaw mask
    colour: ColourMatch
    image: np.ndarray  # the portrait as given
    landmarks: np.ndarray  # (68, 2) in portrait pixels
    frame_landmarks: np.ndarray  # (68, 2) in output pixels: where the face is in the rest frame
    settings: AnimationSettings = field(default_factory=AnimationSettings)
    procedural: Any = None  # the procedural engine's rig: the head, eyes and brows of every frame
    code: str = ""  # animation_code() when prepared
    # True while ``frames`` draws this rig's frames with the procedural engine alone (no audio, a failure)
    shows_procedural: bool = field(default=False, repr=False, compare=False)
    _mouth: MouthProbe | None = field(default=None, init=False, repr=False, compare=False)
    _follower: HeadFollower | None = field(default=None, init=False, repr=False, compare=False)
    # the last frame made and the head motion in it, for the lip-sync check's measure
    _last: tuple[Any, np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def width(self) -> int:
        return int(self.background.shape[1])

    @property
    def height(self) -> int:
        return int(self.background.shape[0])

    @property
    def mouth(self) -> MouthProbe:
        """Where the mouth is in the rest frame and its colours, for the lip-sync check's measure."""
        if self._mouth is None:
            self._mouth = MouthProbe.of_face(self.background, self.frame_landmarks)
        return self._mouth

    @property
    def follower(self) -> HeadFollower:
        """Finds the head's motion in a frame (around the lower face of the rest frame)."""
        if self._follower is None:
            self._follower = HeadFollower.of(self.background, self.face)
        return self._follower

    def mouth_in(self, frame: np.ndarray) -> MouthProbe:
        """The mouth probe moved with the head, for ``frame`` when it is the frame just made."""
        probe = self.mouth
        if self._last is None or self._last[0] is not frame:
            return probe
        centre = transform_points(self._last[1], np.array([[probe.centre_x, probe.line_y]]))[0]
        return replace(probe, centre_x=float(centre[0]), line_y=float(centre[1]))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for an ``.npz`` cache (no pickling)."""
        return {
            "key": np.array(self.key),
            "model": np.array(self.model),
            "background": self.background,
            "crop": self.crop,
            "latents": self.latents,
            "mask": self.mask.astype(np.float32),
            "colour_gain": self.colour.gain,
            "colour_offset": self.colour.offset,
            "face": np.array([self.face.x, self.face.y, self.face.w, self.face.h], np.int64),
            "image": self.image,
            "landmarks": self.landmarks.astype(np.float32),
            "frame_landmarks": self.frame_landmarks.astype(np.float32),
            "code": np.array(self.code),
            "version": np.array(RIG_VERSION),
        }

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], settings: AnimationSettings | None = None, procedural: Any = None
    ) -> NeuralRig:
        """The rig back; ValueError when it was made by other code (prepare it again)."""
        if int(arrays.get("version", -1)) != RIG_VERSION or str(arrays.get("code", "")) != animation_code():
            raise ValueError("this avatar preparation was made by another version of the animation code")
        x, y, w, h = (int(v) for v in arrays["face"])
        return cls(
            key=str(arrays["key"]),
            model=str(arrays["model"]),
            background=arrays["background"],
            face=Box(x, y, w, h),
            crop=arrays["crop"],
            latents=arrays["latents"].astype(np.float32),
            mask=arrays["mask"],
            colour=ColourMatch(arrays["colour_gain"].astype(np.float32), arrays["colour_offset"].astype(np.float32)),
            image=arrays["image"],
            landmarks=arrays["landmarks"],
            frame_landmarks=arrays["frame_landmarks"],
            settings=settings or AnimationSettings(),
            procedural=procedural,
            code=str(arrays["code"]),
        )


@dataclass
class NeuralTrack:
    """Whisper features of one clip plus the settings that shape the mouth."""

    fps: int
    duration: float  # seconds
    features: np.ndarray  # (steps at 50 Hz, layers, width) float32
    offset_s: float = 0.0
    smoothing: float = 0.0
    # The procedural track with the mouth shut: head, blinks, brows and emotion of every frame.
    head: Any = None
    # What a procedural track needs, if the job has to fall back mid-way.
    fallback_args: dict[str, Any] = field(default_factory=dict, repr=False)
    procedural: Any = None
    settled: list[tuple[int, int, int]] = field(default_factory=list, repr=False)  # settle_edges calls, replayed

    @property
    def n_frames(self) -> int:
        return max(1, int(math.ceil(self.duration * self.fps - 1e-6)))


class OrtLipSync:
    """The exported UNet and VAE decoder as two session-factory sessions (same interface as TorchLipSync)."""

    def __init__(self, unet: Any, vae_decoder: Any):
        self.sessions = {"unet": unet, "vae_decoder": vae_decoder}

    @property
    def provider(self) -> str:
        """The weakest provider of the two sessions (the one that decides the speed)."""
        got = [s.provider for s in self.sessions.values()]
        return next((p for p in (CPU, CUDA, TRT) if p in got), got[0])

    @property
    def notices(self) -> list[str]:
        return [f"{name}: {n}" for name, s in self.sessions.items() for n in s.notices]

    def generate(self, latents: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Face crops (B, S, S, 3) float32 on the 0..255 scale for audio ``tokens`` (B, T, D)."""
        n = len(tokens)
        lat = np.ascontiguousarray(np.broadcast_to(latents, (n, *latents.shape[1:])), dtype=np.float32)
        feeds = {"latents": lat, "audio": np.ascontiguousarray(tokens, np.float32)}
        predicted = self.sessions["unet"].run(["predicted"], feeds)[0]
        image = self.sessions["vae_decoder"].run(["image"], {"latents": predicted.astype(np.float32)})[0]
        return np.transpose(image, (0, 2, 3, 1)) * 255.0


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


@register("animate", "musetalk")
class NeuralLipSync(Animator):
    """Animator of the MuseTalk 1.5 kind (see the module docstring).

    ``models_dir`` is the model manager's folder (``<models>/musetalk-1.5/...``; default
    ``$STUDIO_HOME/cache/models``); ``cache_dir`` the studio cache folder (ONNX exports and avatar
    preparations go in ``cache_dir/neural``; default: its parent); ``factory`` the studio's session
    factory. ``random_spec`` builds random weights of that spec instead of loading files (tests,
    benches, smoke builds). ``torch_cuda=False`` skips the PyTorch CUDA tier.
    """

    name = "musetalk"

    def __init__(
        self,
        *,
        models_dir: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        factory: SessionFactory | None = None,
        mode: str = "export",
        allow_cpu: bool = False,
        fallback: str = "procedural",
        random_spec: Any = None,
        seed: int = 0,
        torch_cuda: bool = True,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.models_dir = Path(models_dir) if models_dir else default_models_dir()
        if cache_dir:
            self.cache_dir = Path(cache_dir)
        elif models_dir is None:
            self.cache_dir = self.models_dir.parent
        else:
            self.cache_dir = Path(tempfile.mkdtemp(prefix="studio-neural-"))
        self.factory = factory or SessionFactory(self.cache_dir / "engines")
        self.mode = mode
        self.allow_cpu = allow_cpu or cpu_allowed_by_env()
        self.fallback_name = fallback
        self.random_spec = random_spec
        self.seed = seed
        self.torch_cuda = torch_cuda
        self.notices: list[str] = []
        self.reason: str | None = None  # why the neural path is off, once decided
        self._ready: bool | None = None
        self._nets: Any = None
        self._features: Any = None
        self._runner: Any = None
        self._digest = ""
        self._fallback: Any = None
        self._silence: np.ndarray | None = None

    # ----------------------------------------------------------------- status
    @property
    def spec(self):
        return self._nets.spec if self._nets is not None else None

    @property
    def provider(self) -> str:
        """Who draws the frames: an ONNX Runtime provider name, ``PyTorch CUDA ...`` or ``procedural``."""
        if not self._ready or self._runner is None:
            return "procedural"
        return self._runner.provider

    @property
    def model_digest(self) -> str:
        """Digest of the loaded network (architecture + weights + exporter); empty before loading."""
        return self._digest

    def all_notices(self) -> list[str]:
        """This engine's notices plus those of its ONNX sessions (provider fallbacks at run time)."""
        out = list(self.notices)
        if self._runner is not None:
            out.extend(n for n in self._runner.notices if n not in out)
        return out

    def _notice(self, message: str) -> None:
        """Record how the engine runs from now on (every later render is told at its start)."""
        if message not in self.notices:
            self.notices.append(message)
            log.warning("%s", message)

    @staticmethod
    def _tell(notices: Notices | None, message: str) -> None:
        """Tell the render that owns ``notices`` what happened to its clip (and log it once there)."""
        if notices is None or notices.add(message):
            log.warning("%s", message)

    def _start(self, notices: Notices | None) -> bool:
        """:meth:`ready`, and the engine's state (a fallback, a slower path) into the render's notices."""
        ready = self.ready()
        if notices is not None:
            for message in self.notices:
                notices.add(message)
        return ready

    @property
    def precision(self) -> str:
        """The exported UNet's precision: FP16 for a GPU (one file under 2 GB), FP32 for the CPU."""
        return "fp16" if self._gpu_providers() else "fp32"

    def _gpu_providers(self) -> list[str]:
        return [p for p in self.factory.chain() if p in (TRT, CUDA)]

    def unavailable_reason(self) -> str | None:
        """Why the neural path cannot start here, or None. Cheap unless a GPU question needs torch."""
        missing = [m for m in ("torch", "diffusers", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            return f"the neural lip-sync needs {', '.join(missing)} installed"
        if self.random_spec is None:
            gone = self.weights.missing()
            if gone:
                return (
                    f"the neural lip-sync weights are not downloaded ({', '.join(gone)}): "
                    f"fetch them in the Models & Engines tab or with `python app.py models fetch {gone[0]}`"
                )
        if not self._gpu_providers() and not self.allow_cpu and not self._torch_cuda_available():
            return (
                "no NVIDIA GPU is available (neither ONNX Runtime's TensorRT/CUDA providers nor PyTorch CUDA), "
                "and on the CPU the neural lip-sync is far too slow to be useful"
            )
        return None

    def _torch_cuda_available(self) -> bool:
        if not self.torch_cuda:
            return False
        import torch  # only asked when the user chose the neural engine

        return bool(torch.cuda.is_available())

    @property
    def weights(self):
        from engines.animate.neural.musetalk import MuseTalkWeights

        return MuseTalkWeights(self.models_dir)

    # ----------------------------------------------------------------- loading
    def ready(self, progress: Progress | None = None) -> bool:
        """Load the model and open its runner once; False (with a notice) when falling back."""
        if self._ready is not None:
            return self._ready
        reason = self.unavailable_reason()
        if reason:
            return self._fall_back(reason)
        try:
            self._load(progress)
        except Exception as exc:
            log.debug("neural engine failed to start", exc_info=True)
            return self._fall_back(f"the neural lip-sync failed to start ({_short(exc)})")
        self._ready = True
        return True

    def _fall_back(self, reason: str) -> bool:
        self.reason = reason
        self._ready = False
        self._runner = None
        self._notice(f"{reason}; using the procedural animation instead")
        return False

    def _load(self, progress: Progress | None) -> None:
        from engines.animate.neural import export, musetalk
        from engines.animate.neural.audio import WhisperFeatures

        step = progress or no_progress
        step(0.0, "loading the lip-sync model")
        if self.random_spec is not None:
            nets = musetalk.build_random(self.random_spec, self.seed)
            weights = f"random-{self.seed}"
            load_unet = lambda: nets  # noqa: E731
        else:
            # The UNet (3.4 GB) is only read when its ONNX export is missing or PyTorch runs it.
            nets = musetalk.load_released(self.weights, with_unet=False)
            step(0.05, "fingerprinting the weights (a minute the first time, then remembered)")
            weights = self._weights_digest(export)
            load_unet = lambda: musetalk.load_unet(nets, self.weights)  # noqa: E731
        spec = nets.spec
        self._digest = export.export_key(spec.digest(), weights)

        runner = None
        reasons: list[str] = []
        if self._gpu_providers() or self.allow_cpu:
            runner = self._open_onnx(export, nets, load_unet, spec, weights, step)
            if runner.provider == CPU and not self.allow_cpu:
                reasons.append("ONNX Runtime could not use the GPU" + "".join(f" ({n})" for n in runner.notices[:1]))
                runner = None
        else:
            reasons.append("this ONNX Runtime has no TensorRT or CUDA provider (install requirements-gpu.txt)")
        if runner is None and self._torch_cuda_available():
            step(0.5, "loading the lip-sync model on PyTorch CUDA")
            from engines.animate.neural.torch_path import TorchLipSync

            runner = TorchLipSync(load_unet(), device="cuda")
            self._notice(f"{'; '.join(reasons)}; the lip-sync runs on PyTorch CUDA (FP16) instead of TensorRT")
        if runner is None:
            raise RuntimeError("; ".join(reasons) or "no GPU could run the lip-sync model")
        if isinstance(runner, OrtLipSync):
            nets.unet = None  # the sessions do the UNet's work from here on: free its memory
            if runner.provider != CPU and self._torch_cuda_available():
                nets.to("cuda")  # the VAE encoder (per avatar) and Whisper (per clip) on the GPU too
            for n in runner.notices:
                self._notice(n)
        self._nets = nets
        self._runner = runner
        self._features = WhisperFeatures(nets.whisper)
        step(1.0, "lip-sync model ready")

    def _weights_digest(self, export: Any) -> str:
        """Digest over the sha256 of every weight file, each computed once and kept beside the weights
        (``<models>/musetalk-1.5/weights-sha256.json``; in the cache folder when that is read-only)."""
        files = self.weights.files()
        try:
            return export.weights_digest(files, self.weights.unet_config.parent.parent / "weights-sha256.json")
        except OSError:
            return export.weights_digest(files, neural_root(self.cache_dir) / "weights-sha256.json")

    def use(self, nets: Any, runner: Any, digest: str) -> None:
        """Run with already-loaded networks and a runner (benches, tests); ``digest`` keys the caches."""
        from engines.animate.neural.audio import WhisperFeatures

        self._nets, self._runner, self._digest = nets, runner, digest
        self._features = WhisperFeatures(nets.whisper)
        self._ready = True

    def _open_onnx(self, export, nets, load_unet, spec, weights, step) -> OrtLipSync:
        exported = export.ensure_exported(
            onnx_root(self.cache_dir),
            load_unet,
            spec_digest=spec.digest(),
            weights=weights,
            name=spec.name,
            progress=lambda f, m: step(0.1 + 0.5 * f, m),
            precision=self.precision,
        )
        step(0.6, "opening ONNX Runtime sessions (TensorRT builds its engine on first use)")
        lo, opt, hi = MODES[self.mode]
        return OrtLipSync(
            self.factory.create(exported.unet, profile=export.unet_profile(spec, lo, opt, hi)),
            self.factory.create(exported.vae_decoder, profile=export.vae_profile(spec, lo, opt, hi)),
        )

    def build(self, progress: Progress | None = None) -> dict[str, Any]:
        """Pre-build (export, compile TensorRT engines) by running one batch at the profile's best size.

        Raises RuntimeError with the reason when the neural path is not available here.
        """
        if not self.ready((lambda f, m: progress(0.85 * f, m)) if progress else None):
            raise RuntimeError(self.reason or "the neural engine is not available")
        spec = self.spec
        opt = MODES[self.mode][1]
        lat = np.zeros((1, 2 * spec.latent_channels, spec.latent_size, spec.latent_size), np.float32)
        tokens = np.zeros((opt, spec.audio_tokens, spec.audio_dim), np.float32)
        if progress:
            progress(0.9, f"running one batch of {opt} (TensorRT compiles its engine now)")
        self._runner.generate(lat, tokens)
        models = {}
        if isinstance(self._runner, OrtLipSync):
            models = {n: str(s.model_path) for n, s in self._runner.sessions.items()}
        if progress:
            progress(1.0, "built")
        return {
            "mode": self.mode,
            "provider": self.provider,
            "batch": MODES[self.mode],
            "notices": self.all_notices(),
            "models": models,
        }

    # --------------------------------------------------------------- fallback
    def _procedural(self) -> Any:
        if self._fallback is None:
            try:
                self._fallback = create("animate", self.fallback_name)
            except Exception as exc:
                raise RuntimeError(
                    f"{self.reason or 'the neural engine is unavailable'}, and the "
                    f"'{self.fallback_name}' animation could not be loaded ({_short(exc)})"
                ) from exc
        return self._fallback

    def _procedural_rig(self, rig: Any) -> Any:
        if not isinstance(rig, NeuralRig):
            return rig
        if rig.procedural is None:  # pragma: no cover - every neural rig is made with its procedural head
            rig.procedural = self._procedural().prepare(rig.image, rig.landmarks, rig.width, rig.height, rig.settings)
        return rig.procedural

    def _procedural_track(self, track: Any) -> Any:
        if not isinstance(track, NeuralTrack):
            return track
        if track.procedural is None:
            track.procedural = self._procedural().track(**track.fallback_args)
            for start, stop, fps in track.settled:  # so a fallback mid-clip still joins its neighbours
                self._procedural().settle_edges(track.procedural, start, stop, fps)
        return track.procedural

    # ------------------------------------------------------------- interface
    def prepare(
        self,
        image: np.ndarray,
        landmarks: np.ndarray,
        width: int,
        height: int,
        settings: AnimationSettings | None = None,
        *,
        notices: Notices | None = None,
    ) -> Any:
        """Per-avatar rig for ``width`` x ``height`` output frames (pixels); cached on disk by content."""
        settings = settings or AnimationSettings()
        if not self._start(notices):
            return self._procedural().prepare(image, landmarks, width, height, settings)
        image = np.ascontiguousarray(np.asarray(image)[..., :3], dtype=np.uint8)
        landmarks = np.asarray(landmarks, dtype=np.float32)
        key = self.rig_key(image, landmarks, width, height, settings)
        path = self.rig_path(key)
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as data:
                    rig = self._rig_from({k: data[k] for k in data.files}, settings)
                if rig.key == key:  # the key covers the model digest (see rig_key)
                    return rig
            except (OSError, ValueError, KeyError):
                pass
            log.info("avatar preparation %s is damaged or stale; preparing again", path.name)
        rig = self._prepare(image, landmarks, width, height, settings, key)
        buf = io.BytesIO()
        np.savez_compressed(buf, **self._rig_arrays(rig))
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.getvalue())
        return rig

    def rig_path(self, key: str) -> Path:
        """Where the preparation with cache key ``key`` is kept."""
        return avatars_root(self.cache_dir) / f"{key}.npz"

    def rig_key(
        self, image: np.ndarray, landmarks: np.ndarray, width: int, height: int, settings: AnimationSettings
    ) -> str:
        """Cache key of an avatar preparation: pixels, landmarks, output size, framing, model."""
        h = hashlib.sha256()
        h.update(
            json.dumps(
                [
                    list(image.shape),
                    int(width),
                    int(height),
                    round(float(settings.crop_expand), 4),
                    self._digest,
                    RIG_VERSION,
                    animation_code(),
                ]
            ).encode()
        )
        h.update(np.ascontiguousarray(image).tobytes())
        h.update(np.round(np.asarray(landmarks, np.float64), 2).tobytes())
        return h.hexdigest()[:24]

    def rig_to_arrays(self, rig: Any) -> dict[str, np.ndarray] | None:
        """Plain arrays of a neural rig (or of the procedural one made while falling back)."""
        if isinstance(rig, NeuralRig):
            return self._rig_arrays(rig)
        return self._procedural().rig_to_arrays(rig)

    def _rig_arrays(self, rig: NeuralRig) -> dict[str, np.ndarray]:
        arrays = rig.to_arrays()
        for k, v in (self._procedural().rig_to_arrays(rig.procedural) or {}).items():
            arrays[_PROCEDURAL + k] = v
        return arrays

    def _rig_from(self, arrays: dict[str, np.ndarray], settings: AnimationSettings | None) -> NeuralRig:
        head = {k[len(_PROCEDURAL) :]: v for k, v in arrays.items() if k.startswith(_PROCEDURAL)}
        if not head:
            raise ValueError("this avatar preparation has no procedural head")
        procedural = self._procedural().rig_from_arrays(head)  # ValueError when the procedural rig is stale
        own = {k: v for k, v in arrays.items() if not k.startswith(_PROCEDURAL)}
        return NeuralRig.from_arrays(own, settings, procedural)

    def rig_from_arrays(
        self,
        arrays: dict[str, np.ndarray],
        settings: AnimationSettings | None = None,
        *,
        notices: Notices | None = None,
    ) -> Any:
        """A rig back from ``to_arrays()``; ValueError when it was made by another model (prepare again)."""
        ready = self._start(notices)
        if "latents" not in arrays:  # a procedural rig, saved while the neural path was off
            if ready:
                raise ValueError("this rig was made by the procedural engine; prepare it again")
            return self._procedural().rig_from_arrays(arrays)
        rig = self._rig_from(arrays, settings)
        if ready and rig.model != self._digest:
            raise ValueError("this rig was made by another lip-sync model; prepare it again")
        return rig

    def _prepare(
        self, image: np.ndarray, landmarks: np.ndarray, width: int, height: int, settings: AnimationSettings, key: str
    ) -> NeuralRig:
        size = self.spec.image_size
        proc = self._procedural()
        head = proc.prepare(image, landmarks, width, height, settings)
        background, in_frame = self._rest_frame(head, settings)
        face = face_box(in_frame)
        crop = crop_resize(background, face, size, size)
        mask = jaw_mask(transform_points(face.affine(size, size), in_frame), size)
        latents = self._nets.reference_latents(crop)
        silent = self._runner.generate(latents[None], self._silence_tokens())[0]
        colour = ColourMatch.fit(crop, silent, mask)
        return NeuralRig(
            key=key,
            model=self._digest,
            background=background,
            face=face,
            crop=crop,
            latents=latents,
            mask=mask,
            colour=colour,
            image=image,
            landmarks=landmarks,
            frame_landmarks=in_frame,
            settings=settings,
            procedural=head,
            code=animation_code(),
        )

    def _rest_frame(self, head: Any, settings: AnimationSettings) -> tuple[np.ndarray, np.ndarray]:
        """The procedural engine's frame of the still face (no motion, no blink, mouth shut) and the
        rest landmarks in its pixels (the procedural rig's ``landmarks``: output pixels)."""
        still = AnimationSettings(
            lip_amplitude=0.0,
            expression_strength=0.0,
            head_motion=0.0,
            blink_rate=0.0,
            crop_expand=settings.crop_expand,
            seed=settings.seed,
        )
        proc = self._procedural()
        track = proc.track(
            duration=2 / 25, fps=25, phonemes=None, audio=None, sample_rate=None, emotions=(), settings=still
        )
        rest = np.ascontiguousarray(next(iter(proc.frames(head, track, 0, 1))), dtype=np.uint8)
        landmarks = np.asarray(head.landmarks, np.float32)
        if landmarks.shape != (68, 2):
            raise ValueError("the procedural rig does not give 68 rest landmarks")
        return rest, landmarks

    def _silence_tokens(self) -> np.ndarray:
        from engines.animate.neural.audio import AUDIO_RATE, frame_windows

        if self._silence is None:
            spec = self.spec
            feats = self._features.encode(np.zeros(AUDIO_RATE, np.float32), AUDIO_RATE)
            self._silence = frame_windows(
                feats, [12], 25, before=spec.audio_frames_before, after=spec.audio_frames_after
            )
        return self._silence

    def track(
        self,
        *,
        duration: float,
        fps: int,
        phonemes: Sequence[Any] | None = None,
        audio: np.ndarray | None = None,
        sample_rate: int | None = None,
        emotions: Sequence[EmotionSpan] = (),
        settings: AnimationSettings | None = None,
        notices: Notices | None = None,
    ) -> Any:
        """Whisper features of ``audio`` (any rate, Hz) for ``duration`` seconds at ``fps`` frames per
        second, and the procedural track of the head (mouth shut) for the same frames."""
        settings = settings or AnimationSettings()
        args = dict(
            duration=duration,
            fps=fps,
            phonemes=phonemes,
            audio=audio,
            sample_rate=sample_rate,
            emotions=emotions,
            settings=settings,
        )
        if not self.ready():
            return self._procedural().track(**args)
        if audio is None or sample_rate is None or len(audio) == 0:
            self._tell(notices, "the neural lip-sync needs the speech audio; this clip uses the procedural animation")
            return self._procedural().track(**args)
        if abs(AnimationSettings.of(settings).clamped().lip_amplitude - 1.0) > 1e-6:
            self._tell(notices, LIP_AMPLITUDE_NOTE)
        features = self._features.encode(audio, int(sample_rate))
        # The head track: the same motion, blinks and emotion as the procedural engine, the mouth held
        # shut (the network draws the mouth; a procedurally opened jaw would show under the seam).
        head = self._procedural().track(**{**args, "settings": replace(settings, lip_amplitude=0.0)})
        return NeuralTrack(
            fps=int(fps),
            duration=float(duration),
            features=features,
            offset_s=settings.av_offset_ms / 1000.0,
            smoothing=0.5 * settings.smoothing,
            head=head,
            fallback_args=args,
        )

    def settle_edges(self, track: Any, start: int, stop: int, fps: int) -> None:
        """The procedural engine's settling of the head track (the audio features need none: each
        frame depends only on the audio around it, so chunks join by themselves)."""
        inner = track
        if isinstance(track, NeuralTrack):
            track.settled.append((start, stop, fps))
            inner = track.head
        if inner is not None:
            self._procedural().settle_edges(inner, start, stop, fps)

    def drawn_by(self, rig: Any) -> str:
        """``musetalk`` with the network's digest (architecture, sha256 of every weight file,
        exporter) and the animation code, while the network draws; else the procedural engine's."""
        if self._ready and isinstance(rig, NeuralRig) and not rig.shows_procedural:
            runner = self._runner.provider if self._runner is not None else "?"
            return f"musetalk:{self._digest}:{self.precision}:{runner}:{animation_code()}"
        return f"procedural:{animation_code()}"  # the fallback, drawn by this package's procedural engine

    def frames(
        self, rig: Any, track: Any, start: int, stop: int, *, notices: Notices | None = None
    ) -> Iterator[np.ndarray]:
        """RGB uint8 frames ``start..stop-1`` (height, width, 3); the same pixels however the range is chunked."""
        if not (self._ready and isinstance(rig, NeuralRig) and isinstance(track, NeuralTrack)):
            yield from self._procedural_frames(rig, track, start, stop)
            return
        from engines.animate.neural.audio import frame_windows

        spec = self.spec
        batch = MODES[self.mode][1]
        proc = self._procedural()
        for b0 in range(start, stop, batch):
            idx = np.arange(b0, min(b0 + batch, stop))
            tokens = frame_windows(
                track.features,
                idx,
                track.fps,
                before=spec.audio_frames_before,
                after=spec.audio_frames_after,
                offset_s=track.offset_s,
                smoothing=track.smoothing,
            )
            heads = list(proc.frames(rig.procedural, track.head, int(idx[0]), int(idx[-1]) + 1))
            problem = detail = None
            try:
                crops = self._runner.generate(rig.latents[None], tokens)
            except Exception as exc:  # noqa: BLE001 - even the last provider failed (e.g. out of memory)
                detail = _short(exc)
                problem = f"the neural lip-sync failed at frame {b0} ({detail})"
            else:
                for n in self._runner.notices:  # provider fallbacks while running (TensorRT -> CUDA -> CPU)
                    self._notice(n)  # logged there; it is how the engine runs from now on
                    if notices is not None:
                        notices.add(n)
                if self._runner.provider == CPU and not self.allow_cpu:
                    detail = "the GPU stopped working"
                    problem = f"{detail} at frame {b0}"
            if problem:
                self._tell(notices, f"{problem}; the rest of this clip uses the procedural animation")
                # later renders are told at their start (see _start), without this clip's frame number
                self._fall_back(f"the neural lip-sync stopped working during an earlier render ({detail})")
                yield from self._procedural_frames(rig, track, b0, stop)
                return
            rig.shows_procedural = False
            for crop, head in zip(crops, heads):
                yield self.compose(rig, crop, head)

    def _procedural_frames(self, rig: Any, track: Any, start: int, stop: int) -> Iterator[np.ndarray]:
        if isinstance(rig, NeuralRig):
            rig.shows_procedural = True  # so mouth_opening measures these frames as procedural ones
        yield from self._procedural().frames(self._procedural_rig(rig), self._procedural_track(track), start, stop)

    def mouth_opening(self, rig: Any, frame: np.ndarray) -> float:
        """Vertical inner-mouth opening (pixels) in a frame just made from ``rig``: measured like the
        procedural engine's (see ``sync_check``), with the neural rig's own mouth colours, where the
        head has moved the mouth to."""
        if isinstance(rig, NeuralRig) and not rig.shows_procedural:
            return measure_mouth_opening(rig.mouth_in(frame), frame)
        return self._procedural().mouth_opening(self._procedural_rig(rig), frame)

    @staticmethod
    def compose(rig: NeuralRig, crop: np.ndarray, head: np.ndarray | None = None) -> np.ndarray:
        """The generated ``crop`` (S, S, 3, 0..255) colour-matched and pasted through the jaw mask into
        ``head``, a frame of the procedural head (default: the rest frame), where its lower face moved to."""
        generated = rig.colour.apply(crop)
        if head is None:
            head = rig.background
        motion = rig.follower.motion(head)
        if np.abs(motion - np.eye(2, 3)).max() < 1e-4:  # the head is at rest: a plain paste into the box
            out = paste(head, generated, rig.mask, rig.face)
        else:
            crop_to_frame = compose_affine(motion, box_to_crop(rig.face, rig.mask.shape[0]))
            out = paste_warped(head, generated, rig.mask, crop_to_frame)
        rig._last = (out, motion)
        return out
