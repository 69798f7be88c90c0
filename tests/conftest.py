"""Shared test set-up: a throw-away data folder per test session, GPU marker handling."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEMO_PORTRAIT = ROOT / "assets" / "portrait.png"


def with_prepared_models(home: Path) -> Path:
    """Make ``home`` a data folder that reuses the models joined by ./launch.sh (hundreds of MB)
    instead of joining them again."""
    (home / "cache").mkdir(parents=True, exist_ok=True)
    prepared = ROOT / "studio_data" / "cache" / "models"
    if prepared.is_dir() and not (home / "cache" / "models").exists():
        (home / "cache" / "models").symlink_to(prepared, target_is_directory=True)
    return home


def pytest_configure(config):
    home = Path(os.environ.get("PYTEST_STUDIO_HOME") or (Path(config.rootpath) / ".pytest_cache" / "studio_home"))
    if home.exists():
        shutil.rmtree(home, ignore_errors=True)
    with_prepared_models(home)
    os.environ["STUDIO_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU with CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo_portrait() -> Path:
    return DEMO_PORTRAIT


@pytest.fixture(scope="session")
def studio():
    """One Studio (engines loaded once) on the session's data folder."""
    from studio.services import Studio

    return Studio()
