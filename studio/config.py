"""Where the studio keeps its data, and the settings a render is made with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engines.files import REPO_ROOT, studio_home
from studio.errors import InputError

PRESETS_DIR = REPO_ROOT / "presets"
ASSETS_DIR = REPO_ROOT / "assets"
DEMO_PORTRAIT = ASSETS_DIR / "portrait.png"


@dataclass(frozen=True)
class StudioPaths:
    """The data folder (``STUDIO_HOME``, default ``studio_data`` in the repository) and its sub-folders."""

    home: Path

    @classmethod
    def from_env(cls) -> StudioPaths:
        return cls(studio_home())

    @property
    def voices(self) -> Path:
        return self.home / "voices"

    @property
    def avatars(self) -> Path:
        return self.home / "avatars"

    @property
    def projects(self) -> Path:
        return self.home / "projects"

    @property
    def exports(self) -> Path:
        return self.home / "exports"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    @property
    def models(self) -> Path:
        """Assembled and downloaded model files."""
        return self.cache / "models"

    @property
    def engines(self) -> Path:
        """Compiled TensorRT engines and timing caches."""
        return self.cache / "engines"

    def ensure(self) -> StudioPaths:
        for folder in (self.voices, self.avatars, self.projects, self.exports, self.models, self.engines):
            folder.mkdir(parents=True, exist_ok=True)
        return self


@dataclass(frozen=True)
class OutputPreset:
    """Output video settings (pixels, frames per second, encoder quality)."""

    name: str
    width: int
    height: int
    fps: int = 25
    crf: int = 20
    x264_preset: str = "veryfast"
    audio_bitrate: int = 160_000
    description: str = ""


def load_output_presets() -> dict[str, OutputPreset]:
    data = json.loads((PRESETS_DIR / "output.json").read_text(encoding="utf-8"))
    return {name: OutputPreset(name=name, **spec) for name, spec in data.items()}


def output_preset(name: str) -> OutputPreset:
    presets = load_output_presets()
    if name not in presets:
        raise InputError(f"unknown preset '{name}': choose one of {', '.join(sorted(presets))}")
    return presets[name]
