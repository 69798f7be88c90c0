"""The studio's benchmark: per-stage timings of a real render and real-time factors.

Used by ``app.py bench`` (studio/cli/bench.py); scripts in ``bench/`` can import it too. A render
is timed in a fresh, throw-away data folder, so every cache starts cold: model loading, TTS,
landmarks, rig preparation, animation, encoding and the final join are each timed by the render
pipeline itself (``RenderResult.timings_ms``). A second render of the same script with another
seed shows what the caches save (TTS audio and landmarks reused; frames made again).

The real-time factor (RTF) of a stage is its wall time divided by the video's duration: below 1
is faster than real time.
"""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# About 20 s of speech with every emotion and a pause (the script of bench/bench_render.py).
SCRIPT = (
    "[happy] Hello and welcome to Avatar Studio! Today I will show you how a single photo becomes a talking "
    "video. [pause 0.4s] [neutral] First, record about a minute of your voice. Then upload a clear portrait, "
    "and write what you want to say. [surprised] It all runs on your own computer! [neutral] When you are "
    "happy with the preview, export the video and share it."
)
SHORT_SCRIPT = "[happy] Hello and welcome to Avatar Studio! [neutral] This is a quick benchmark."
# Stages in the order a render runs them (names of RenderResult.timings_ms), with table labels.
STAGES = (
    ("load", "load models"),
    ("validate", "validate inputs"),
    ("landmarks", "landmarks"),
    ("prepare", "prepare portrait"),
    ("voice", "wait for voice"),
    ("tts", "TTS"),
    ("audio", "audio"),
    ("animate", "animation"),
    ("encode", "encode"),
    ("assemble", "join + audio"),
)

StepNote = Callable[[str], None]  # one line as each step starts ("loading the models"); no fraction


@dataclass
class RenderTiming:
    """One timed render."""

    label: str
    video_s: float
    wall_ms: float
    frames: int
    stages_ms: dict[str, float]

    @property
    def rtf(self) -> float:
        return self.wall_ms / 1000.0 / max(self.video_s, 1e-9)

    def stage_rtf(self, stage: str) -> float:
        return self.stages_ms.get(stage, 0.0) / 1000.0 / max(self.video_s, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rtf": round(self.rtf, 4),
            "stage_rtf": {k: round(self.stage_rtf(k), 4) for k in self.stages_ms},
        }


@dataclass
class BenchReport:
    preset: str
    machine: dict[str, Any]
    renders: list[RenderTiming] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    watermark_ms_per_frame: float = 0.0  # the optional invisible watermark, embedding only

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "machine": self.machine,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "watermark_ms_per_frame": round(self.watermark_ms_per_frame, 2),
            "renders": [r.to_dict() for r in self.renders],
        }


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on, including how busy the machine was."""
    import onnxruntime as ort

    from engines.runtime.session import gpu_identity

    gpu = gpu_identity()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1min": round(load[0], 2),
        "gpu": gpu.name,
        "onnx_providers": ort.get_available_providers(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def run_benchmark(
    *, preset: str = "512", short: bool = False, portrait: Path | None = None, progress: StepNote | None = None
) -> BenchReport:
    """Render the benchmark script twice in a fresh data folder; returns the timings.

    ``short`` uses a two-sentence script (about 5 s of video) for a quick check.
    """
    from studio.config import DEMO_PORTRAIT, StudioPaths, output_preset
    from studio.render.pipeline import RenderJob, RenderRequest
    from studio.services import Studio

    output_preset(preset)  # unknown preset: InputError before any work
    say = progress or (lambda msg: None)
    report = BenchReport(preset=preset, machine=machine_info())
    text = SHORT_SCRIPT if short else SCRIPT
    with tempfile.TemporaryDirectory(prefix="avatar-bench-") as home:
        studio = Studio(StudioPaths(Path(home)))
        say("loading the models")
        t0 = time.perf_counter()
        studio.tts()
        studio.face()
        studio.animator()
        load_ms = (time.perf_counter() - t0) * 1000.0
        from engines.animate.base import AnimationSettings

        for i, label in enumerate(("cold render", "cached re-render")):
            say(f"{label}: rendering")
            out = Path(home) / f"bench-{i}.mp4"
            request = RenderRequest(
                portrait=Path(portrait or DEMO_PORTRAIT),
                out=out,
                text=text,
                preset=preset,
                animation=AnimationSettings(seed=i),
            )
            t = time.perf_counter()
            result = RenderJob(studio, request).run()
            wall = (time.perf_counter() - t) * 1000.0
            stages = {k: float(v) for k, v in result.timings_ms.items()}
            if i == 0:
                stages = {"load": round(load_ms, 1), **stages}  # shown, but not part of the render's wall time
            report.renders.append(RenderTiming(label, round(result.duration, 3), round(wall, 1), result.frames, stages))
    report.watermark_ms_per_frame = watermark_cost(output_preset(preset))
    report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return report


def watermark_cost(preset, frames: int = 50) -> float:
    """Milliseconds to watermark one frame of ``preset``'s size (studio/provenance.py)."""
    import cv2
    import numpy as np

    from studio.config import DEMO_PORTRAIT
    from studio.portrait.photo import load_image
    from studio.render.provenance import watermark_frame

    frame = cv2.resize(load_image(DEMO_PORTRAIT), (preset.width, preset.height), interpolation=cv2.INTER_AREA)
    frame = np.ascontiguousarray(frame)
    watermark_frame(frame)
    t = time.perf_counter()
    for _ in range(frames):
        watermark_frame(frame)
    return (time.perf_counter() - t) * 1000.0 / frames


def format_table(report: BenchReport) -> str:
    """The per-stage table: ms and real-time factor for each render."""
    renders = report.renders
    head = f"{'stage':18}" + "".join(f"{'ms':>10}{'RTF':>8}" for _ in renders)
    titles = f"{'':18}" + "".join(f"{r.label[:17]:>18}" for r in renders)
    lines = [
        f"Avatar Studio benchmark, preset {report.preset}, {report.machine['cpus']} CPUs "
        f"(load {report.machine['load_avg_1min']}), GPU: {report.machine['gpu']}",
        titles,
        head,
    ]
    known = [k for k, _ in STAGES]
    extra = sorted({k for r in renders for k in r.stages_ms} - set(known))
    for key in known + extra:
        if not any(key in r.stages_ms for r in renders):
            continue
        label = dict(STAGES).get(key, key)
        cells = "".join(
            f"{r.stages_ms[key]:10.0f}{r.stage_rtf(key):8.3f}" if key in r.stages_ms else f"{'-':>10}{'-':>8}"
            for r in renders
        )
        lines.append(f"{label:18}{cells}")
    lines.append(f"{'whole render':18}" + "".join(f"{r.wall_ms:10.0f}{r.rtf:8.3f}" for r in renders))
    lines.append(f"{'video':18}" + "".join(f"{r.video_s:9.2f}s{r.frames:7d}f" for r in renders))
    lines.append(
        f"{'watermark':18}{report.watermark_ms_per_frame:10.2f} ms per frame (optional; part of animation when on)"
    )
    lines.append("cold render: empty caches; cached re-render: same script, new seed (TTS audio and landmarks reused)")
    lines.append(
        f"whole render excludes loading the models; RTF = wall time / video duration (< 1 is faster than "
        f"real time); peak memory {report.peak_rss_mb:.0f} MB"
    )
    return "\n".join(lines)
