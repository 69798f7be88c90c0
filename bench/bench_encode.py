"""Compare two well-kept encoders: PyAV in-process vs the bundled ffmpeg of imageio-ffmpeg (pipe).

The studio uses the pipe (studio.video.VideoWriter): it was faster here because ffmpeg encodes
in its own process while Python renders.

Encodes the same synthetic 10 s clip (250 frames, 25 fps) with libx264 + AAC at each output size
and prints a table; writes bench/results/encode.json.

    python bench/bench_encode.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N, FPS, SR = 250, 25, 22050


def frames(w: int, h: int):
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    for i in range(N):
        img = np.broadcast_to(base, (h, w, 3)).copy()
        img[h // 3 : h // 3 + 40, (i * 3) % (w - 40) : (i * 3) % (w - 40) + 40] = 255
        yield img.astype(np.uint8)


def audio() -> np.ndarray:
    t = np.arange(int(N / FPS * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def pyav(path: Path, w: int, h: int, preset: str) -> None:
    import av

    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "20", "preset": preset}
        a = c.add_stream("aac", rate=SR)
        a.layout = "mono"
        for f in frames(w, h):
            for p in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        samples = audio()
        for i in range(0, len(samples), 1024):
            fr = av.AudioFrame.from_ndarray(samples[None, i : i + 1024], format="fltp", layout="mono")
            fr.sample_rate = SR
            for p in a.encode(fr):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)


def studio_writer(path: Path, w: int, h: int, preset: str) -> None:
    from studio.render.video import VideoWriter

    with VideoWriter(path, w, h, fps=FPS, audio=audio(), sample_rate=SR, x264_preset=preset, expected_frames=N) as vw:
        for f in frames(w, h):
            vw.write_frame(f)


def imageio_ffmpeg(path: Path, w: int, h: int, preset: str) -> None:
    import imageio_ffmpeg as iio
    import soundfile as sf

    wav = path.with_suffix(".wav")
    sf.write(wav, audio(), SR)
    tmp = path.with_suffix(".noaudio.mp4")
    gen = iio.write_frames(
        str(tmp),
        (w, h),
        fps=FPS,
        codec="libx264",
        pix_fmt_out="yuv420p",
        output_params=["-preset", preset, "-crf", "20"],
        macro_block_size=1,
    )
    gen.send(None)
    for f in frames(w, h):
        gen.send(f)
    gen.close()
    subprocess.run(
        [
            iio.get_ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(tmp),
            "-i",
            str(wav),
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            "-shortest",
            str(path),
        ],
        check=True,
    )


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in ((512, 512), (1280, 720)):
            for preset in ("veryfast", "medium"):
                for name, fn in (
                    ("pyav", pyav),
                    ("imageio-ffmpeg", imageio_ffmpeg),
                    ("studio.render.video", studio_writer),
                ):
                    out = Path(tmp) / f"{name}-{w}-{preset}.mp4"
                    t = time.perf_counter()
                    fn(out, w, h, preset)
                    dt = time.perf_counter() - t
                    rows.append(
                        {
                            "encoder": name,
                            "size": f"{w}x{h}",
                            "x264_preset": preset,
                            "seconds": round(dt, 2),
                            "ms_per_frame": round(dt / N * 1000, 1),
                            "mb": round(out.stat().st_size / 1e6, 2),
                        }
                    )
    print(f"{'encoder':16} {'size':10} {'preset':9} {'s':>6} {'ms/frame':>9} {'MB':>6}")
    for r in rows:
        print(
            f"{r['encoder']:16} {r['size']:10} {r['x264_preset']:9} {r['seconds']:6.2f} "
            f"{r['ms_per_frame']:9.1f} {r['mb']:6.2f}"
        )
    out = ROOT / "bench" / "results" / "encode.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
