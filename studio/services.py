"""The studio's shared engines, created on first use and kept for the process.

One :class:`Studio` serves the CLI and the UI, so models load once per process.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

from engines import registry
from engines.animate.base import Animator
from engines.runtime import SessionFactory
from studio.config import StudioPaths


class Studio:
    """Data folder + lazily created engines (thread-safe creation)."""

    def __init__(self, paths: StudioPaths | None = None):
        self.paths = (paths or StudioPaths.from_env()).ensure()
        self._engines: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()  # guards the two dicts
        self._loading: dict[tuple[str, str], threading.Lock] = {}  # one per engine: others load meanwhile

    @cached_property
    def sessions(self) -> SessionFactory:
        """The one ONNX Runtime session factory (engine cache in ``cache/engines``)."""
        return SessionFactory(self.paths.engines)

    def engine(self, role: str, name: str, **kwargs: Any) -> Any:
        """The engine ``role``/``name``, created once (kwargs only matter the first time). Different
        engines load at the same time (a render loads the voice while the face model loads)."""
        key = (role, name)
        with self._lock:
            if key in self._engines:
                return self._engines[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._engines:
                    return self._engines[key]
            engine = registry.create(role, name, **kwargs)
            with self._lock:
                self._engines[key] = engine
            return engine

    def tts(self, name: str = "piper") -> Any:
        return self.engine("tts", name, factory=self.sessions, cache_dir=self.paths.models)

    def face(self, name: str = "dlib68") -> Any:
        return self.engine("face", name)

    def animator(self, name: str = "procedural") -> Animator:
        """The animation engine ``name``, shared by every render of this process: it keeps no
        per-render state (each render passes its own ``Notices``)."""
        if name == "musetalk":  # the neural engine reads downloaded weights and shares the engine cache
            return self.engine(
                "animate", name, models_dir=self.paths.models, cache_dir=self.paths.cache, factory=self.sessions
            )
        return self.engine("animate", name)


_default: Studio | None = None


def default_studio() -> Studio:
    """The process-wide studio for ``STUDIO_HOME``."""
    global _default
    if _default is None:
        _default = Studio()
    return _default
