"""ONNX Runtime sessions: TensorRT (FP16, cached engines) -> CUDA -> CPU.

The TensorRT engine cache lives in one sub-folder per :class:`EngineKey` (model sha256, GPU name
and compute capability, TensorRT and ONNX Runtime versions, precision, input shape profile). A
folder whose manifest does not match its key, or whose engine fails to load, is wiped and rebuilt:
a cache is never trusted blindly. A provider that fails (at load or at run time: out of memory,
driver error) hands over to the next one, and the session records a plain-words notice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from engines.files import file_sha256, write_json_atomic

log = logging.getLogger(__name__)

TRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PROVIDER_ORDER = (TRT, CUDA, CPU)
FRIENDLY = {TRT: "TensorRT", CUDA: "CUDA", CPU: "CPU"}
_MANIFEST = "manifest.json"
TIMING_DIR = "timing"  # <engine root>/timing/<gpu>-sm<cc>-trt<version>/: one TensorRT timing cache per machine


@lru_cache(maxsize=64)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def model_sha256(path: str | os.PathLike) -> str:
    """sha256 of a model file, memoised on (path, size, mtime) so sessions open fast."""
    st = os.stat(path)
    return _cached_sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class ShapeProfile:
    """TensorRT optimisation profile: per input name, min/opt/max shapes."""

    min: Mapping[str, tuple[int, ...]]
    opt: Mapping[str, tuple[int, ...]]
    max: Mapping[str, tuple[int, ...]]

    @staticmethod
    def _fmt(shapes: Mapping[str, tuple[int, ...]]) -> str:
        return ",".join(f"{name}:{'x'.join(str(d) for d in dims)}" for name, dims in sorted(shapes.items()))

    def trt_options(self) -> dict[str, str]:
        return {
            "trt_profile_min_shapes": self._fmt(self.min),
            "trt_profile_opt_shapes": self._fmt(self.opt),
            "trt_profile_max_shapes": self._fmt(self.max),
        }

    def describe(self) -> str:
        return f"min[{self._fmt(self.min)}] opt[{self._fmt(self.opt)}] max[{self._fmt(self.max)}]"


NO_NVIDIA_SMI = "no nvidia-smi"  # the reason :func:`nvidia_smi` gives on a machine without an NVIDIA driver


@dataclass(frozen=True)
class GpuReport:
    """GPU 0 as ``nvidia-smi`` reports it; memory in MiB; ``?`` where the driver did not say."""

    name: str
    driver: str = "?"
    memory_total_mib: str = "?"
    memory_used_mib: str = "?"
    compute_capability: str = "?"


def nvidia_smi() -> tuple[GpuReport | None, str]:
    """(GPU 0, "") from one ``nvidia-smi`` query, or (None, why not): :data:`NO_NVIDIA_SMI` without one.

    Not cached: the doctor wants the memory in use now (:func:`gpu_identity` caches what it needs).
    """
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None, NO_NVIDIA_SMI
    try:
        proc = subprocess.run(
            [
                exe,
                "--query-gpu=name,driver_version,memory.total,memory.used,compute_cap",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"nvidia-smi did not run ({exc})"
    said = (proc.stderr or proc.stdout).strip()
    if proc.returncode != 0 or not proc.stdout.strip():
        return None, said.splitlines()[0] if said else f"nvidia-smi failed (exit {proc.returncode})"
    parts = [p.strip() for p in proc.stdout.strip().splitlines()[0].split(",")]
    return GpuReport(*parts[:5]), ""


@dataclass(frozen=True)
class GpuIdentity:
    name: str = "none"
    compute_capability: str = "none"


@lru_cache(maxsize=1)
def gpu_identity() -> GpuIdentity:
    """Name and compute capability of GPU 0 from :func:`nvidia_smi`; ``none`` without a GPU."""
    gpu, _why = nvidia_smi()
    if gpu is None or gpu.compute_capability == "?":
        return GpuIdentity()
    return GpuIdentity(name=gpu.name, compute_capability=gpu.compute_capability)


def tensorrt_version() -> str:
    """Version of the installed ``tensorrt`` package, or ``none`` (it is optional everywhere)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        for dist in ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt_libs"):
            try:
                return version(dist)
            except PackageNotFoundError:
                continue
    except ImportError:  # pragma: no cover
        pass
    return "none"


@dataclass(frozen=True)
class EngineKey:
    """Everything a compiled TensorRT engine depends on."""

    model_sha256: str
    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    ort_version: str
    precision: str
    profile: str

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def folder_name(self) -> str:
        gpu = "".join(c if c.isalnum() else "-" for c in self.gpu_name).strip("-") or "gpu"
        sm = self.compute_capability.replace(".", "")
        return f"{self.model_sha256[:12]}-{gpu}-sm{sm}-{self.precision}-{self.digest()}"


def current_machine_key() -> dict[str, str]:
    """The :class:`EngineKey` fields that depend on this machine (GPU, TensorRT, ONNX Runtime), as it is now.

    A cached engine whose key differs in any of them was built elsewhere and is rebuilt when needed.
    """
    gpu = gpu_identity()
    return {
        "gpu_name": gpu.name,
        "compute_capability": gpu.compute_capability,
        "tensorrt_version": tensorrt_version(),
        "ort_version": _ort().__version__,
    }


class EngineCache:
    """The engine cache folder: one sub-folder per :class:`EngineKey`, each with a manifest."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def folder(self, key: EngineKey) -> Path:
        return self.root / key.folder_name()

    def prepare(self, key: EngineKey) -> tuple[Path, bool]:
        """Return (folder, trusted). An untrusted folder (no or wrong manifest) is emptied first."""
        folder = self.folder(key)
        manifest = folder / _MANIFEST
        if folder.exists():
            try:
                if json.loads(manifest.read_text())["key"] == asdict(key):
                    return folder, True
            except (OSError, ValueError, KeyError, TypeError):
                pass
            log.info("engine cache %s does not match its key; rebuilding", folder.name)
            self.discard(key)
        folder.mkdir(parents=True, exist_ok=True)
        return folder, False

    def commit(self, key: EngineKey, model_path: str | os.PathLike) -> None:
        """Record that the folder holds a good build for ``key`` (written after a successful load)."""
        write_json_atomic(self.folder(key) / _MANIFEST, {"key": asdict(key), "model": str(model_path)})

    def discard(self, key: EngineKey) -> None:
        shutil.rmtree(self.folder(key), ignore_errors=True)

    def timing_folder(self) -> Path:
        """The TensorRT timing cache of this machine (GPU and TensorRT version), shared by every engine
        built here: layer timings measured for one model speed up the builds of the others."""
        machine = current_machine_key()
        gpu = "".join(c if c.isalnum() else "-" for c in machine["gpu_name"]).strip("-") or "gpu"
        sm = machine["compute_capability"].replace(".", "")
        folder = self.root / TIMING_DIR / f"{gpu}-sm{sm}-trt{machine['tensorrt_version']}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def entries(self) -> list[dict[str, Any]]:
        """What is cached: one dict per engine folder with its key (if valid) and size in bytes."""
        rows = []
        if not self.root.exists():
            return rows
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and p.name != TIMING_DIR):
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            try:
                meta = json.loads((folder / _MANIFEST).read_text())
            except (OSError, ValueError):
                meta = {"key": None, "model": None}
            rows.append({"folder": folder.name, "bytes": size, **meta})
        return rows

    def clear(self) -> int:
        """Delete every cached engine; returns how many folders were removed."""
        count = 0
        if self.root.exists():
            for folder in self.root.iterdir():
                if folder.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
                    count += 1
        return count


def _ort():
    import onnxruntime

    return onnxruntime


def available_providers() -> list[str]:
    return list(_ort().get_available_providers())


@dataclass
class Session:
    """An ONNX Runtime session that falls back to the next provider when a run fails.

    ``provider`` is the provider doing the work; ``notices`` holds plain-words messages about
    every fallback that happened (shown in the UI, the CLI and render manifests).
    """

    factory: SessionFactory
    model_path: Path
    profile: ShapeProfile | None
    chain: list[str]
    inner: Any = None
    provider: str = CPU
    notices: list[str] = field(default_factory=list)

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, Any]) -> list[Any]:
        while True:
            try:
                return self.inner.run(output_names, dict(feeds))
            except Exception as exc:
                if self.provider == CPU or self.provider not in self.chain:
                    raise
                failed = self.provider
                self.chain = self.chain[self.chain.index(failed) + 1 :]
                self.factory._open(self, reason=f"{FRIENDLY[failed]} failed while running ({_short(exc)})")

    def get_inputs(self):
        return self.inner.get_inputs()

    def get_outputs(self):
        return self.inner.get_outputs()

    def get_providers(self) -> list[str]:
        return self.inner.get_providers()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


class SessionFactory:
    """Creates every ONNX Runtime session of the studio.

    ``prefer`` limits the providers (e.g. ``("CPUExecutionProvider",)``); by default the chain is
    TensorRT -> CUDA -> CPU restricted to what this onnxruntime build offers.
    """

    def __init__(
        self,
        engine_root: str | os.PathLike | None,
        *,
        precision: str = "fp16",
        prefer: Sequence[str] | None = None,
        threads: int = 0,
        providers_fn: Callable[[], list[str]] = available_providers,
        session_cls: Callable[..., Any] | None = None,
    ):
        self.cache = EngineCache(engine_root) if engine_root else None
        self.precision = precision
        self.prefer = tuple(prefer) if prefer else PROVIDER_ORDER
        self.threads = threads
        self._providers_fn = providers_fn
        self._session_cls = session_cls

    def chain(self) -> list[str]:
        """Providers to try, best first. CPU is always last."""
        have = set(self._providers_fn())
        chain = [p for p in PROVIDER_ORDER if p in self.prefer and (p in have or p == CPU)]
        return chain or [CPU]

    def engine_key(self, model_path: str | os.PathLike, profile: ShapeProfile | None) -> EngineKey:
        return EngineKey(
            model_sha256=model_sha256(model_path),
            **current_machine_key(),
            precision=self.precision,
            profile=profile.describe() if profile else "static",
        )

    def create(self, model_path: str | os.PathLike, *, profile: ShapeProfile | None = None) -> Session:
        """Open ``model_path`` on the best provider that works; fallbacks are recorded as notices."""
        session = Session(factory=self, model_path=Path(model_path), profile=profile, chain=self.chain())
        self._open(session)
        return session

    def _provider_options(self, provider: str, session: Session) -> tuple[dict[str, Any], EngineKey | None]:
        if provider != TRT or self.cache is None:
            return {}, None
        key = self.engine_key(session.model_path, session.profile)
        folder, _trusted = self.cache.prepare(key)
        opts: dict[str, Any] = {
            "trt_fp16_enable": self.precision == "fp16",
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(folder),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(self.cache.timing_folder()),
        }
        if session.profile:
            opts.update(session.profile.trt_options())
        return opts, key

    @staticmethod
    def providers_for(provider: str, opts: dict[str, Any], chain: Sequence[str]) -> list[Any]:
        """The ``providers`` argument of a session on ``provider``: TensorRT always has the CUDA
        provider behind it (when this machine has one), so the nodes TensorRT rejects run on the GPU,
        not on ONNX Runtime's implicit CPU fallback."""
        first: Any = (provider, opts) if opts else provider
        if provider == TRT and CUDA in chain:
            return [first, (CUDA, {})]
        return [first]

    def _open(self, session: Session, reason: str | None = None) -> None:
        ort = _ort()
        cls = self._session_cls or ort.InferenceSession
        notes = [reason] if reason else []
        for provider in list(session.chain):
            opts, key = self._provider_options(provider, session)
            so = ort.SessionOptions()
            if self.threads:
                so.intra_op_num_threads = self.threads
            so.log_severity_level = 3
            providers = self.providers_for(provider, opts, session.chain)
            attempts = 2 if key else 1  # a cached engine that fails to load is wiped and rebuilt once
            for attempt in range(attempts):
                try:
                    inner = cls(str(session.model_path), sess_options=so, providers=providers)
                    got = inner.get_providers()[0] if inner.get_providers() else CPU
                    if got != provider:  # ORT silently dropped the provider (missing libraries)
                        raise RuntimeError(f"{FRIENDLY[provider]} libraries could not be loaded")
                except Exception as exc:
                    if key is not None and attempt == 0:
                        self.cache.discard(key)
                        self.cache.prepare(key)
                        continue
                    if provider == CPU:
                        raise
                    notes.append(f"{FRIENDLY[provider]} unavailable ({_short(exc)})")
                    break
                else:
                    if key is not None:
                        self.cache.commit(key, session.model_path)
                    session.inner, session.provider = inner, provider
                    session.chain = session.chain[session.chain.index(provider) :]
                    if notes:
                        msg = "; ".join(notes) + f"; continuing on {FRIENDLY[provider]}"
                        session.notices.append(msg)
                        log.warning("%s: %s", session.model_path.name, msg)
                    return
        raise RuntimeError(f"no ONNX Runtime provider could open {session.model_path.name}")
