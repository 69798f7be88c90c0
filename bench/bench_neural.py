"""Benchmark of the neural lip-sync on PyTorch: speed per optimisation and batch, VRAM, a full export.

    python bench/bench_neural.py [--budget-s 420] [--compile] [--out bench/results/neural.json]

On a CUDA machine it builds the full MuseTalk-1.5-size network with random weights (SD-1.5-layout
UNet, 8 input channels, 384-d audio cross-attention at a 32x32 latent; SD VAE decoder to 256x256;
Whisper-tiny encoder) in FP16 and measures:

1. **speed**: UNet + VAE decoder per batch, for each optimisation step (eager; channels-last;
   channels-last + fused QKV + CUDA graph; ``--compile`` adds torch.compile), at batch 1, 16 and
   32: ms per frame, frames per second, peak VRAM; plus the UNet / VAE split at the largest batch;
2. **export**: a simulated 60 s, 25 fps, 1280x720 export through the engine's own code: avatar
   preparation, Whisper features, generation, paste-back and RGB->yuv420p on the GPU, H.264
   encoding (PyAV libx264 ``veryfast`` crf 20 in a second thread, plus AAC), wall time and time per
   stage.

Without CUDA it runs a tiny smoke configuration (tiny network, batches 1 and 4, 2 s at 256x144) so
the script can be checked anywhere. Results are written after every step (a run stopped by its
timeout keeps what it measured) to ``--out`` as JSON, and printed as a table at the end.
Random weights give real timings, never quality.

On this project's GPU machine (Python 3.12, CUDA PyTorch, no diffusers/PyAV): carry the wheels in
``.whl/neural`` (``pip download --no-deps --only-binary=:all: --python-version 3.12 --platform
manylinux_2_28_x86_64 -d .whl/neural diffusers==0.42.1 av==18.1.0 importlib-metadata==8.7.0``), then

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/neural/*.whl &&
    PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 timeout 560 python3 bench/bench_neural.py --out $OUT/neural.json

and copy the returned ``neural.json`` to ``bench/results/neural.json``. Without ``--compile`` the run
takes a few minutes on an H100/H200 (``--budget-s`` stops new measurements after 420 s).
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The 68 landmarks of assets/portrait.png from the default face back-end (dlib), so the bench needs no detector.
PORTRAIT_LANDMARKS = [
    [179, 104],
    [180, 116],
    [181, 127],
    [182, 139],
    [185, 150],
    [191, 160],
    [200, 168],
    [209, 176],
    [220, 178],
    [232, 177],
    [243, 171],
    [253, 163],
    [260, 154],
    [265, 143],
    [268, 131],
    [270, 120],
    [272, 108],
    [186, 94],
    [192, 88],
    [200, 87],
    [208, 89],
    [216, 92],
    [236, 93],
    [244, 91],
    [252, 91],
    [260, 92],
    [265, 99],
    [226, 102],
    [225, 111],
    [225, 119],
    [225, 127],
    [214, 131],
    [219, 133],
    [224, 134],
    [229, 133],
    [234, 132],
    [195, 101],
    [200, 98],
    [207, 98],
    [212, 104],
    [206, 104],
    [199, 104],
    [237, 106],
    [243, 100],
    [250, 100],
    [255, 105],
    [250, 107],
    [244, 107],
    [201, 139],
    [209, 139],
    [218, 139],
    [224, 141],
    [230, 140],
    [238, 140],
    [246, 141],
    [238, 151],
    [229, 155],
    [222, 156],
    [216, 155],
    [208, 150],
    [204, 141],
    [218, 143],
    [223, 144],
    [230, 143],
    [243, 142],
    [229, 150],
    [223, 151],
    [217, 150],
]
TARGETS = {"fps_batch32": 500.0, "ms_per_frame_batch1": 8.0, "export_60s_wall_s": 15.0}
VARIANTS = [
    ("eager", dict(channels_last=False, cuda_graphs=False, fuse_qkv=False)),
    ("channels-last", dict(channels_last=True, cuda_graphs=False, fuse_qkv=False)),
    ("channels-last+fused-qkv+cuda-graph", dict(channels_last=True, cuda_graphs=True, fuse_qkv=True)),
]
COMPILED = ("compiled+cuda-graph", dict(channels_last=True, cuda_graphs=True, fuse_qkv=True, compile=True))


def speech_like(seconds: float, rate: int = 16_000) -> np.ndarray:
    """A voiced tone with syllable-rate loudness changes (float32 mono) standing in for speech."""
    t = np.arange(int(seconds * rate)) / rate
    voice = np.sin(2 * np.pi * 140 * t) + 0.5 * np.sin(2 * np.pi * 280 * t) + 0.25 * np.sin(2 * np.pi * 700 * t)
    return (0.3 * voice * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


class Results:
    """The JSON document, rewritten atomically after every step."""

    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path = path
        self.data: dict[str, Any] = {"meta": meta, "speed": [], "split": {}, "export": {}, "errors": [], "skipped": []}

    def save(self) -> None:
        from engines.files import write_json_atomic

        write_json_atomic(self.path, self.data)


def _sync(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.synchronize()


def time_call(fn: Callable[[], Any], cuda: bool, *, warmup: int = 3, min_s: float = 1.0, max_iters: int = 30) -> float:
    """Median seconds of one call of ``fn`` (CUDA events on the GPU), after ``warmup`` calls."""
    import torch

    for _ in range(warmup):
        fn()
    _sync(cuda)
    times: list[float] = []
    while len(times) < 3 or (sum(times) < min_s and len(times) < max_iters):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000.0)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def meta_info(cuda: bool, spec: Any, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": "cpu",
        "spec": spec.name,
        "image_size": spec.image_size,
        "latent_size": spec.latent_size,
        "audio_tokens": spec.audio_tokens,
        "weights": "random (timings only, never quality)",
        "cpu_count": os.cpu_count(),
    }
    for mod in ("diffusers", "transformers", "av"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            info[mod] = None
    if cuda:
        props = torch.cuda.get_device_properties(0)
        info.update(
            device=torch.cuda.get_device_name(0),
            capability=f"{props.major}.{props.minor}",
            vram_total_gb=round(props.total_memory / 2**30, 1),
            sms=props.multi_processor_count,
        )
    info["dtype"] = "float16" if cuda else "float32"
    info["compile_requested"] = bool(args.compile)
    return info


def build(spec: Any, device: str, opts: dict[str, Any]):
    """Fresh random networks (fused QKV changes them) and a TorchLipSync runner with ``opts``."""
    from engines.animate.neural import musetalk
    from engines.animate.neural.torch_path import TorchLipSync

    nets = musetalk.build_random(spec, seed=0, device=device)
    return nets, TorchLipSync(nets, device=device, **opts)


def bench_speed(
    res: Results, spec: Any, device: str, cuda: bool, batches: list[int], variants, deadline: float
) -> None:
    import torch

    for name, opts in variants:
        if time.monotonic() > deadline:
            res.data["skipped"].append(f"speed {name}: out of time budget")
            continue
        t0 = time.perf_counter()
        try:
            nets, runner = build(spec, device, opts)
            attention = sorted({type(p).__name__ for p in nets.unet.attn_processors.values()})
        except Exception as exc:  # noqa: BLE001 - record and go on with the next variant
            res.data["errors"].append(f"speed {name}: {type(exc).__name__}: {exc}")
            res.save()
            continue
        build_s = time.perf_counter() - t0
        lat = torch.randn(1, 2 * spec.latent_channels, spec.latent_size, spec.latent_size, device=device)
        for batch in batches:
            if time.monotonic() > deadline:
                res.data["skipped"].append(f"speed {name} batch {batch}: out of time budget")
                continue
            tok = torch.randn(batch, spec.audio_tokens, spec.audio_dim, device=device)
            try:
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                t_first = time.perf_counter()
                runner.images(lat, tok)  # first call: graph capture / compilation happen here
                _sync(cuda)
                first_s = time.perf_counter() - t_first
                seconds = time_call(
                    lambda: runner.images(lat, tok), cuda, warmup=3 if cuda else 1, min_s=1.0 if cuda else 0.0
                )
                row = {
                    "variant": name,
                    "batch": batch,
                    "ms_per_batch": round(seconds * 1000, 3),
                    "ms_per_frame": round(seconds * 1000 / batch, 3),
                    "fps": round(batch / seconds, 1),
                    "first_call_s": round(first_s, 2),
                    "build_s": round(build_s, 2),
                    "attention": attention,
                    "fused_qkv": runner.fused_qkv,
                    "cuda_graph": runner.cuda_graphs,
                    "compiled": runner.compiled,
                }
                if cuda:
                    row["peak_vram_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
                res.data["speed"].append(row)
                print(
                    f"  {name:38} batch {batch:3}: {row['ms_per_frame']:8.3f} ms/frame {row['fps']:9.1f} fps",
                    flush=True,
                )
            except Exception as exc:  # noqa: BLE001
                res.data["errors"].append(f"speed {name} batch {batch}: {type(exc).__name__}: {exc}")
            res.save()
        runner = nets = None  # drop the references (not del: the timing lambdas close over runner)
        if cuda:
            torch.cuda.empty_cache()


def bench_split(res: Results, spec: Any, device: str, cuda: bool, batch: int, opts: dict[str, Any]) -> None:
    """UNet alone and VAE decoder alone at ``batch`` (no graphs, so each is timed on its own)."""
    import torch

    nets, runner = build(spec, device, {**opts, "cuda_graphs": False})
    lat = torch.randn(
        batch, 2 * spec.latent_channels, spec.latent_size, spec.latent_size, device=device, dtype=runner.dtype
    ).contiguous(memory_format=torch.channels_last)
    tok = torch.randn(batch, spec.audio_tokens, spec.audio_dim, device=device, dtype=runner.dtype)
    with torch.no_grad():
        pred = runner.unet_step(lat, tok)
        quick = {} if cuda else {"warmup": 1, "min_s": 0.0}
        unet_s = time_call(lambda: runner.unet_step(lat, tok), cuda, **quick)
        vae_s = time_call(lambda: runner.vae_step(pred), cuda, **quick)
    res.data["split"] = {
        "batch": batch,
        "unet_ms_per_frame": round(unet_s * 1000 / batch, 3),
        "vae_decoder_ms_per_frame": round(vae_s * 1000 / batch, 3),
    }
    res.save()
    del nets
    runner = None  # drop the reference (not del: the timing lambdas close over runner)
    if cuda:
        torch.cuda.empty_cache()


class Encoder(threading.Thread):
    """H.264 (libx264) + AAC with PyAV in its own thread, fed yuv420p frames through a queue."""

    def __init__(self, path: Path, width: int, height: int, fps: int, audio: np.ndarray, rate: int):
        super().__init__(daemon=True)
        self.frames: queue.Queue = queue.Queue(maxsize=8)
        self.path, self.width, self.height, self.fps = path, width, height, fps
        self.audio, self.rate = audio, rate
        self.busy_s = 0.0
        self.count = 0
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001
            self.error = f"{type(exc).__name__}: {exc}"
            while self.frames.get() is not None:  # drain, so the producer never blocks
                pass

    def _run(self) -> None:
        import av

        with av.open(str(self.path), "w") as box:
            video = box.add_stream("libx264", rate=self.fps)
            video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
            video.options = {"crf": "20", "preset": "veryfast"}
            video.thread_type = "AUTO"
            audio = box.add_stream("aac", rate=self.rate, layout="mono")
            t0 = time.perf_counter()
            size = 1024
            pcm = np.zeros(((len(self.audio) + size - 1) // size) * size, np.float32)
            pcm[: len(self.audio)] = self.audio
            for i in range(0, len(pcm), size):
                frame = av.AudioFrame.from_ndarray(pcm[None, i : i + size], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = self.rate, i
                box.mux(audio.encode(frame))
            box.mux(audio.encode(None))
            self.busy_s += time.perf_counter() - t0
            while True:
                batch = self.frames.get()
                if batch is None:
                    break
                t0 = time.perf_counter()
                for yuv in batch:
                    frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                    frame.pts = self.count
                    self.count += 1
                    box.mux(video.encode(frame))
                self.busy_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            box.mux(video.encode(None))
            self.busy_s += time.perf_counter() - t0


def bench_export(
    res: Results,
    spec: Any,
    device: str,
    cuda: bool,
    opts: dict[str, Any],
    seconds: float,
    width: int,
    height: int,
    batch: int,
    fps: int = 25,
) -> None:
    """A whole export through the engine's code, timed per stage; the encoder runs beside the GPU."""
    import torch
    from PIL import Image

    from engines.animate.base import AnimationSettings
    from engines.animate.neural.audio import frame_windows
    from engines.animate.neural.engine import NeuralLipSync
    from engines.animate.neural.torch_path import GpuCompositor

    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    nets, runner = build(spec, device, opts)  # TorchLipSync moved all of nets (Whisper too) to device and dtype
    _sync(cuda)
    stages["load_model_once_s"] = time.perf_counter() - t0
    work = Path(tempfile.mkdtemp(prefix="bench-neural-"))
    engine = NeuralLipSync(models_dir=work / "models", cache_dir=work, torch_cuda=False)
    engine.use(nets, runner, digest=f"bench-{spec.digest()}")
    image = np.asarray(Image.open(ROOT / "assets" / "portrait.png").convert("RGB"))
    landmarks = np.asarray(PORTRAIT_LANDMARKS, np.float32)
    audio = speech_like(seconds)
    n_frames = int(round(seconds * fps))

    wall0 = time.perf_counter()
    t0 = time.perf_counter()
    rig = engine.prepare(image, landmarks, width, height, AnimationSettings())
    _sync(cuda)
    stages["prepare_avatar_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    track = engine.track(duration=seconds, fps=fps, audio=audio, sample_rate=16_000)
    _sync(cuda)
    stages["audio_features_s"] = time.perf_counter() - t0
    comp = GpuCompositor(rig, runner.device)
    latents = torch.from_numpy(rig.latents[None]).to(runner.device, runner.dtype)
    out = work / "export.mp4"
    encoder = Encoder(out, width, height, fps, audio, 16_000)
    encoder.start()
    windows_s = generate_s = compose_s = wait_s = 0.0
    loop0 = time.perf_counter()
    for b0 in range(0, n_frames, batch):
        t0 = time.perf_counter()
        idx = np.arange(b0, min(b0 + batch, n_frames))
        tokens = frame_windows(
            track.features,
            idx,
            fps,
            before=spec.audio_frames_before,
            after=spec.audio_frames_after,
            offset_s=track.offset_s,
            smoothing=track.smoothing,
        )
        tok = torch.from_numpy(tokens).to(runner.device, runner.dtype, non_blocking=True)
        t1 = time.perf_counter()
        with torch.no_grad():
            images = runner.images(latents, tok)
            _sync(cuda)
            t2 = time.perf_counter()
            yuv = comp.yuv420(comp.rgb(images)).cpu().numpy()  # the rest pose: the hybrid head is not in this stage
        t3 = time.perf_counter()
        encoder.frames.put(yuv)  # blocks only when the encoder is 8 batches behind
        t4 = time.perf_counter()
        windows_s += t1 - t0
        generate_s += t2 - t1
        compose_s += t3 - t2
        wait_s += t4 - t3
    encoder.frames.put(None)
    t0 = time.perf_counter()
    encoder.join()
    finish_s = time.perf_counter() - t0
    wall = time.perf_counter() - wall0
    export = {
        "seconds_of_video": seconds,
        "fps": fps,
        "width": width,
        "height": height,
        "frames": n_frames,
        "batch": batch,
        "variant_options": opts,
        "wall_s": round(wall, 3),
        "realtime_factor": round(wall / seconds, 4),
        "frames_encoded": encoder.count,
        "stages_s": {
            k: round(v, 3)
            for k, v in {
                **stages,
                "audio_windows_s": windows_s,
                "generate_unet_vae_s": generate_s,
                "paste_and_yuv_on_gpu_incl_download_s": compose_s,
                "waiting_for_encoder_s": wait_s,
                "encode_busy_s (own thread, overlaps)": encoder.busy_s,
                "encoder_finish_after_last_frame_s": finish_s,
                "generation_loop_s": time.perf_counter() - loop0 - finish_s,
            }.items()
        },
        "encoder": "PyAV libx264 veryfast crf 20 yuv420p + AAC, one thread feeding x264's own threads",
        "mp4_bytes": out.stat().st_size if out.exists() else 0,
    }
    if encoder.error:
        export["encoder_error"] = encoder.error
    if cuda:
        export["peak_vram_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    res.data["export"] = export
    res.save()
    print(f"  export {seconds:.0f} s {width}x{height}: wall {wall:.2f} s, {encoder.count} frames encoded", flush=True)
    del runner, nets, engine
    if cuda:
        torch.cuda.empty_cache()


def verdict(res: Results, cuda: bool) -> None:
    """Compare with the issue's targets (only meaningful on the full network on a GPU)."""
    speed = res.data["speed"]
    best = lambda b, key, pick: pick((r[key] for r in speed if r["batch"] == b), default=None)  # noqa: E731
    fps32 = best(32, "fps", max)
    ms1 = best(1, "ms_per_frame", min)
    wall = res.data["export"].get("wall_s")
    res.data["targets"] = {
        "applies": bool(cuda),
        **TARGETS,
        "best_fps_batch32": fps32,
        "best_ms_per_frame_batch1": ms1,
        "export_wall_s": wall,
        "fps_batch32_met": fps32 is not None and fps32 >= TARGETS["fps_batch32"],
        "ms_batch1_met": ms1 is not None and ms1 <= TARGETS["ms_per_frame_batch1"],
        "export_met": wall is not None and wall <= TARGETS["export_60s_wall_s"],
    }
    res.save()


def print_table(res: Results) -> None:
    meta = res.data["meta"]
    print(f"\nneural lip-sync on {meta['device']} ({meta['dtype']}, {meta['spec']}, torch {meta['torch']})")
    print(f"{'variant':40} {'batch':>5} {'ms/frame':>9} {'fps':>9} {'VRAM GB':>8}")
    for r in res.data["speed"]:
        print(
            f"{r['variant']:40} {r['batch']:5} {r['ms_per_frame']:9.3f} {r['fps']:9.1f} {r.get('peak_vram_gb', '-'):>8}"
        )
    if res.data["split"]:
        s = res.data["split"]
        print(
            f"split at batch {s['batch']}: UNet {s['unet_ms_per_frame']} ms/frame, "
            f"VAE decoder {s['vae_decoder_ms_per_frame']} ms/frame"
        )
    if res.data["export"]:
        e = res.data["export"]
        print(f"export {e['seconds_of_video']} s {e['width']}x{e['height']} @ {e['fps']} fps: wall {e['wall_s']} s")
        for k, v in e["stages_s"].items():
            print(f"  {k:45} {v:8.3f}")
    for err in res.data["errors"]:
        print(f"error: {err}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--tiny", action="store_true", help="the tiny network even on a GPU")
    parser.add_argument("--batches", default=None, help="comma-separated batch sizes (default 1,16,32; CPU 1,4)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="length of the simulated export (default 60; CPU 2)"
    )
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes of compilation)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop starting new measurements after this")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "neural.json")
    args = parser.parse_args(argv)

    import torch

    from engines.animate.neural import musetalk

    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not cuda:
        print("error: no CUDA device", file=sys.stderr)
        return 2
    device = "cuda" if cuda else "cpu"
    full = cuda and not args.tiny
    spec = musetalk.full_spec() if full else musetalk.tiny_spec()
    batches = [int(b) for b in args.batches.split(",")] if args.batches else ([1, 16, 32] if cuda else [1, 4])
    seconds = args.seconds or (60.0 if cuda else 2.0)
    width, height = (1280, 720) if full else (256, 144)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    deadline = time.monotonic() + args.budget_s
    res = Results(args.out, meta_info(cuda, spec, args))
    res.save()
    variants = VARIANTS if cuda else VARIANTS[:2]
    print(f"speed on {res.data['meta']['device']}:", flush=True)
    bench_speed(res, spec, device, cuda, batches, variants, deadline)
    best_opts = variants[-1][1]
    try:
        bench_split(res, spec, device, cuda, max(batches), best_opts)
    except Exception as exc:  # noqa: BLE001
        res.data["errors"].append(f"split: {type(exc).__name__}: {exc}")
    if time.monotonic() < deadline:
        try:
            bench_export(res, spec, device, cuda, best_opts, seconds, width, height, batch=max(batches))
        except Exception as exc:  # noqa: BLE001
            res.data["errors"].append(f"export: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
            res.save()
    else:
        res.data["skipped"].append("export: out of time budget")
    if args.compile and cuda:
        bench_speed(res, spec, device, cuda, batches, [COMPILED], deadline)
    verdict(res, cuda)
    print_table(res)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
