"""Shared, expensive set-up of the neural lip-sync tests, made once per test run.

Plain cached functions rather than fixtures, so several test modules share one copy: the tiny
random weights written in the released file layout, one cache folder (the ONNX export of the tiny
model is made once and reused by key), the demo portrait and its landmarks.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def scratch() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="neural-tests-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@lru_cache(maxsize=1)
def tiny_weights():
    """Random tiny-spec weights written as the real downloads are laid out (MuseTalkWeights)."""
    from engines.animate.neural import musetalk

    return musetalk.write_random_weights(scratch() / "models", musetalk.tiny_spec(), seed=0)


@lru_cache(maxsize=1)
def tiny_nets():
    """The tiny weights loaded back through the released-weights loader (PyTorch reference)."""
    from engines.animate.neural import musetalk

    return musetalk.load_released(tiny_weights())


def cache_dir() -> Path:
    return scratch() / "cache"


@lru_cache(maxsize=1)
def portrait() -> tuple[np.ndarray, np.ndarray]:
    """The demo portrait (RGB uint8) and its 68 landmarks from the default face back-end."""
    from PIL import Image

    from engines.face.dlib68 import Dlib68

    image = np.asarray(Image.open(ROOT / "assets" / "portrait.png").convert("RGB"))
    return image, Dlib68().detect(image)[0].landmarks


def speech_like(seconds: float, sample_rate: int = 16_000) -> np.ndarray:
    """A voiced, syllable-rate modulated tone (float32 mono) standing in for speech."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    voice = np.sin(2 * np.pi * 140 * t) + 0.5 * np.sin(2 * np.pi * 280 * t) + 0.25 * np.sin(2 * np.pi * 700 * t)
    return (0.3 * voice * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def cpu_factory(root: Path | None = None, **kwargs):
    from engines.runtime.session import CPU, SessionFactory

    return SessionFactory(root or scratch() / "engines", prefer=(CPU,), **kwargs)


def tiny_engine(factory=None, **kwargs):
    """A neural engine on the tiny random weights, allowed to run on the CPU (never on PyTorch CUDA)."""
    from engines.animate.neural.engine import NeuralLipSync

    kwargs.setdefault("allow_cpu", True)
    kwargs.setdefault("torch_cuda", False)
    kwargs.setdefault("cache_dir", cache_dir())
    return NeuralLipSync(models_dir=tiny_weights().root, factory=factory or cpu_factory(), **kwargs)


class GpuPretender:
    """Stands in for ``onnxruntime.InferenceSession`` as if TensorRT and CUDA were installed.

    The graph really runs (on ONNX Runtime's CPU provider), but the session reports the provider it
    was asked for. Providers in ``broken`` fail to load, those in ``run_fails`` fail when running
    (like a GPU out of memory). ``created`` records (provider, options) of every attempt.
    """

    def __init__(self, broken=(), run_fails=()):
        self.broken, self.run_fails = set(broken), set(run_fails)
        self.created: list[tuple[str, dict]] = []

    def __call__(self, path, sess_options=None, providers=()):
        import onnxruntime as ort

        name, opts = providers[0] if isinstance(providers[0], tuple) else (providers[0], {})
        self.created.append((name, dict(opts)))
        if name in self.broken:
            raise RuntimeError(f"{name} failed to initialise")
        inner = ort.InferenceSession(str(path), sess_options=sess_options, providers=["CPUExecutionProvider"])
        outer = self

        class _Session:
            def get_providers(self):
                return [name, "CPUExecutionProvider"]

            def run(self, names, feeds):
                if name in outer.run_fails:
                    raise RuntimeError("CUDA error: out of memory")
                return inner.run(names, feeds)

            def get_inputs(self):
                return inner.get_inputs()

            def get_outputs(self):
                return inner.get_outputs()

        return _Session()


def gpu_factory(root: Path, **fake):
    """A session factory that believes TensorRT and CUDA are there (see GpuPretender)."""
    from engines.runtime.session import CPU, CUDA, TRT, SessionFactory

    pretender = GpuPretender(**fake)
    return SessionFactory(root, providers_fn=lambda: [TRT, CUDA, CPU], session_cls=pretender), pretender


NEURAL_MODELS = ("musetalk-1.5", "sd-vae-ft-mse", "whisper-tiny")


def neural_home(root: Path) -> Path:
    """A data folder whose ``cache/models`` holds the bundled models (joined once by ./launch.sh,
    linked, when present) and the tiny random neural weights in the released layout (linked)."""
    models = Path(root) / "cache" / "models"
    models.mkdir(parents=True, exist_ok=True)
    prepared = ROOT / "studio_data" / "cache" / "models"
    if prepared.is_dir():
        for entry in prepared.iterdir():
            if entry.name not in NEURAL_MODELS and not (models / entry.name).exists():
                (models / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    for name in NEURAL_MODELS:
        if not (models / name).exists():
            (models / name).symlink_to(tiny_weights().root / name, target_is_directory=True)
    return Path(root)
