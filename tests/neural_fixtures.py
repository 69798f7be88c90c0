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
    """A neural engine on the tiny random weights, allowed to run on the CPU."""
    from engines.animate.neural.engine import NeuralLipSync

    kwargs.setdefault("allow_cpu", True)
    return NeuralLipSync(models_dir=tiny_weights().root, cache_dir=cache_dir(), factory=factory or cpu_factory(), **kwargs)
