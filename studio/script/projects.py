"""Projects: a script and its settings, saved under ``projects/<name>/``.

    projects/<name>/script.txt     the script markup (UTF-8)
    projects/<name>/project.json   {"name", "created", "updated", "settings": {...}}

Both files are written atomically; the script is written first, so a crash between the two
leaves the new script with the old settings, never a half-written file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.config import StudioPaths
from studio.errors import InputError
from studio.storage import atomic_write_bytes, atomic_write_json, child_path, read_json, remove_dir

SCRIPT_FILE = "script.txt"
PROJECT_FILE = "project.json"
MAX_SCRIPT_CHARS = 200_000  # about 9 hours of speech: anything larger is a wrong file


@dataclass
class Project:
    """A saved script. ``settings`` holds the Script tab's choices (preset, tone, seconds, ...)
    and anything the render pipeline keeps with the project (voice, avatar, emotion)."""

    name: str
    script: str
    created: float = 0.0  # Unix time, seconds
    updated: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None


def project_dir(paths: StudioPaths, name: str) -> Path:
    """The folder of project ``name`` (sanitised; never outside ``projects/``)."""
    return child_path(paths.projects, name)


def save_project(paths: StudioPaths, name: str, script: str, settings: dict[str, Any] | None = None) -> Project:
    """Create or update a project; ``settings`` None keeps the saved settings."""
    if len(script) > MAX_SCRIPT_CHARS:
        raise InputError(f"the script is too long to save ({len(script)} characters): split it into several projects")
    folder = project_dir(paths, name)
    now = time.time()
    previous: dict[str, Any] = {}
    if (folder / PROJECT_FILE).exists():
        try:
            previous = read_json(folder / PROJECT_FILE)
        except InputError:
            previous = {}  # a damaged project.json is replaced by a good one
    folder.mkdir(parents=True, exist_ok=True)
    project = Project(
        name=str(name).strip() or folder.name,
        script=script,
        created=float(previous.get("created", now)),
        updated=now,
        settings=dict(settings if settings is not None else previous.get("settings", {})),
        folder=folder,
    )
    atomic_write_bytes(folder / SCRIPT_FILE, script.encode("utf-8"))
    atomic_write_json(
        folder / PROJECT_FILE,
        {"name": project.name, "created": project.created, "updated": project.updated, "settings": project.settings},
    )
    return project


def load_project(paths: StudioPaths, name: str) -> Project:
    """Read a saved project (by its name or folder name)."""
    folder = project_dir(paths, name)
    if not folder.is_dir():
        raise InputError(f"there is no project named '{name}': pick one from the list or save it first")
    meta: dict[str, Any] = {}
    if (folder / PROJECT_FILE).exists():
        meta = read_json(folder / PROJECT_FILE)
    try:
        script = (folder / SCRIPT_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        script = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"the script of project '{name}' cannot be read: {exc}") from exc
    return Project(
        name=str(meta.get("name", folder.name)),
        script=script,
        created=float(meta.get("created", 0.0)),
        updated=float(meta.get("updated", 0.0)),
        settings=dict(meta.get("settings", {})),
        folder=folder,
    )


def list_projects(paths: StudioPaths) -> list[str]:
    """Folder names of the saved projects, most recently updated first."""
    root = paths.projects
    if not root.exists():
        return []
    folders = [
        p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and ((p / SCRIPT_FILE).exists() or (p / PROJECT_FILE).exists())
    ]

    def updated(p: Path) -> float:
        marker = p / PROJECT_FILE if (p / PROJECT_FILE).exists() else p / SCRIPT_FILE
        return marker.stat().st_mtime

    return [p.name for p in sorted(folders, key=updated, reverse=True)]


def delete_project(paths: StudioPaths, name: str) -> None:
    """Remove a project folder."""
    folder = project_dir(paths, name)
    if not folder.is_dir():
        raise InputError(f"there is no project named '{name}'")
    remove_dir(folder)
