"""Benchmark of the procedural animator: speed on one core and the lip-sync self-check.

    python bench/bench_animate.py [--seconds 20] [--out bench/results/animate.json]

Prints a table and writes JSON. Speed: frames per second of the animation stage alone (no video
encoding) for a 512x512 and a 1280x720 output, on one core (OpenCV and BLAS limited to one thread).
Self-check: a mixed script spoken by the bundled Piper voice (about ``--seconds`` long, several
emotions), rendered at 512x512; the mouth opening measured from the frames' pixels is correlated with
the audio loudness (target >= 0.7, offset within +-1 frame).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engines.animate.base import AnimationSettings, EmotionSpan  # noqa: E402
from engines.animate.procedural import ProceduralAnimator  # noqa: E402
from engines.animate.sync_check import measure_mouth_opening, sync_report  # noqa: E402
from engines.timing import PhonemeTiming  # noqa: E402

SCRIPT = [
    ("neutral", "Hello, and welcome to the avatar studio."),
    ("happy", "Today I am really happy to show you something new!"),
    ("neutral", "We will look at maps, boats and bright blue balloons."),
    ("sad", "Sadly, the old bakery on the corner closed last month."),
    ("surprised", "But wait, there is a brand new one opening this week!"),
    ("angry", "Please do not park your bike in front of the door."),
    ("happy", "Thank you so much for watching, and see you soon."),
]
PAUSE_S = 0.3


def speak(seconds: float, cache: Path):
    """Audio, phonemes and emotion spans for the mixed script, about ``seconds`` long."""
    from engines.runtime import SessionFactory
    from engines.tts.piper import PiperTTS

    tts = PiperTTS(SessionFactory(None), cache)
    pieces, phonemes, spans, t = [], [], [], 0.25
    pieces.append(np.zeros(int(0.25 * tts.sample_rate), np.float32))
    i = 0
    while t < seconds:
        emotion, text = SCRIPT[i % len(SCRIPT)]
        i += 1
        speech = tts.synthesize(text, emotion=emotion)
        phonemes += [PhonemeTiming(p.phoneme, p.start + t, p.end + t) for p in speech.phonemes]
        spans.append(EmotionSpan(t, t + speech.duration, emotion))
        pieces += [speech.audio, np.zeros(int(PAUSE_S * tts.sample_rate), np.float32)]
        t += speech.duration + PAUSE_S
    return np.concatenate(pieces), tts.sample_rate, phonemes, spans


def frames_per_second(animator, rig, track, n: int) -> dict:
    """Wall-clock and CPU (this thread) milliseconds per frame; CPU time is what one core costs
    even when other processes share the machine."""
    times, cpu = [], []
    for k in range(n):
        t0, c0 = time.perf_counter(), time.thread_time()
        next(iter(animator.frames(rig, track, k, k + 1)))
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    times = np.array(times[2:]) * 1000.0
    cpu = np.array(cpu[2:]) * 1000.0
    return {
        "frames": int(len(times)),
        "ms_median": round(float(np.median(times)), 2),
        "ms_p90": round(float(np.percentile(times, 90)), 2),
        "ms_min": round(float(times.min()), 2),
        "fps_median": round(1000.0 / float(np.median(times)), 1),
        "cpu_ms_mean": round(float(cpu.mean()), 2),
        "cpu_fps": round(1000.0 / float(cpu.mean()), 1),
    }


def _cached_rig_load_s(rig) -> float:
    """Seconds to load a rig back from the render cache (saved and read as the render does)."""
    from studio.render.cache import load_npz_entry
    from studio.storage import atomic_write_npz

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rig.npz"
        atomic_write_npz(path, **rig.to_arrays())
        t0 = time.perf_counter()
        ProceduralAnimator.rig_from_arrays(load_npz_entry(path))
        return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "animate.json")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "avatar_bench_piper")
    args = ap.parse_args()
    cv2.setNumThreads(1)

    from engines.face.dlib68 import Dlib68

    img = cv2.cvtColor(cv2.imread(str(ROOT / "assets" / "portrait.png")), cv2.COLOR_BGR2RGB)
    landmarks = Dlib68().detect(img)[0].landmarks
    audio, sr, phonemes, spans = speak(args.seconds, args.cache)
    duration = len(audio) / sr
    animator = ProceduralAnimator()
    settings = AnimationSettings()
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
            "platform": platform.platform(),
            "opencv": cv2.__version__,
            "threads": "1 (cv2.setNumThreads(1), BLAS 1)",
        },
        "audio_s": round(duration, 2),
    }
    track = animator.track(
        duration=duration, fps=25, phonemes=phonemes, audio=audio, sample_rate=sr, emotions=spans, settings=settings
    )
    rows = []
    for w, h in ((512, 512), (1280, 720)):
        t0 = time.perf_counter()
        rig = animator.prepare(img, landmarks, w, h, settings)
        prep = time.perf_counter() - t0
        speed = frames_per_second(animator, rig, track, min(track.n_frames, 250))
        speed["prepare_s"] = round(prep, 2)
        speed["rig_from_cache_s"] = round(_cached_rig_load_s(rig), 3)
        results[f"speed_{w}x{h}"] = speed
        rows.append(
            (
                f"{w}x{h} frame (wall, median)",
                f"{speed['ms_median']:.1f} ms",
                f"{speed['fps_median']:.0f} fps",
                ">= 50 fps" if w == 512 else ">= 25 fps",
            )
        )
        rows.append(
            (
                f"{w}x{h} frame (CPU time, mean)",
                f"{speed['cpu_ms_mean']:.1f} ms",
                f"{speed['cpu_fps']:.0f} fps",
                "<= 20 ms",
            )
        )
        rows.append((f"{w}x{h} prepare (once per avatar)", f"{prep:.2f} s", "", ""))
        rows.append((f"{w}x{h} rig from cache (.npz)", f"{speed['rig_from_cache_s']:.3f} s", "", ""))
    t0 = time.perf_counter()
    animator.track(
        duration=duration, fps=25, phonemes=phonemes, audio=audio, sample_rate=sr, emotions=spans, settings=settings
    )
    track_ms = (time.perf_counter() - t0) * 1000
    rows.append((f"track, {duration:.0f} s of speech", f"{track_ms:.0f} ms", "", ""))

    rig = animator.prepare(img, landmarks, 512, 512, settings)
    for mode in ("phonemes", "audio only"):
        tr = (
            track
            if mode == "phonemes"
            else animator.track(
                duration=duration, fps=25, phonemes=None, audio=audio, sample_rate=sr, emotions=spans, settings=settings
            )
        )
        t0 = time.perf_counter()
        openings = np.array([measure_mouth_opening(rig, f) for f in animator.frames(rig, tr, 0, tr.n_frames)])
        per_frame = (time.perf_counter() - t0) / max(1, tr.n_frames) * 1000
        rep = sync_report(openings, audio, sr, 25)
        rep["render_and_measure_ms_per_frame"] = round(per_frame, 2)
        results[f"sync_{mode.replace(' ', '_')}"] = rep
        ok = rep["correlation"] >= 0.7 and abs(rep["offset_frames"]) <= 1
        rows.append(
            (
                f"self-check ({mode})",
                f"r={rep['correlation']:.2f} (r={rep['correlation_at_offset']:.2f} at best lag)",
                f"offset {rep['offset_frames']:+d} frames, {len(rep['flagged'])} flagged",
                "r >= 0.7, |offset| <= 1: " + ("ok" if ok else "MISSED"),
            )
        )

    width = [max(len(r[i]) for r in rows) for i in range(4)]
    print(
        f"procedural animator, {results['machine']['cpus']} CPUs, load {results['machine']['load_avg_1min']}, "
        "one thread"
    )
    for r in rows:
        print("  ".join(c.ljust(width[i]) for i, c in enumerate(r)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.part")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
