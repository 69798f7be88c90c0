"""Does the person stay the person? Identity and lip sync of exported videos, measured independently.

    python bench/bench_identity.py [--out bench/results/identity.json] [--strip bench/results/identity_strip.png]

For each portrait (the demo portrait, a closed-lip and a smiling-with-teeth public-domain portrait
from tests/data/portraits/) one sentence full of m/b/p is rendered through the real CLI
(``app.py render``, 512x512, fresh data folder), the MP4 is decoded, and every frame is measured with
dlib models that the animator does not use: the 128-d face descriptor (``dlib_face_recognition_resnet
_model_v1.dat``) gives the distance from the photo (first frame, median over frames, the widest-open
frames), and the 68-point shape predictor gives the lip gap per frame, correlated with the audio
loudness of the MP4 at lag 0 and checked at every m/b/p of the sentence's phonemes (from the TTS cache).
Targets: first <= 0.15, median <= 0.30, widest <= 0.40, correlation >= 0.7, closed at >= 90 % of m/b/p.

It also writes a strip of stills next to each photo (rest, open vowel, m/b/p, rounded vowel, blink,
each emotion), rendered by the procedural animator, with each still's descriptor distance.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PORTRAITS = {
    "demo (smile, teeth, small face)": ROOT / "assets" / "portrait.png",
    "closed lips": ROOT / "tests" / "data" / "portraits" / "biden_closed_lips.jpg",
    "smile with teeth": ROOT / "tests" / "data" / "portraits" / "obama_smile_teeth.jpg",
}
TEXT = "Maybe my mother bought a big blue boat, but Bob paid more for the map of Boston."
STILLS = [
    ("rest", {}),
    ("open vowel", {"jaw": 1.0, "upper_raise": 0.15, "lip_press": 0.0}),
    ("m/b/p", {"lip_press": 1.0}),
    ("rounded", {"jaw": 0.18, "jaw_round": 0.6, "width": -0.75}),
    ("blink", {"blink": 1.0}),
]
EMOTIONS = ("happy", "sad", "angry", "surprised")
BILABIALS = set("pbm")


class Dlib:
    """dlib's face detector, 68-point predictor and 128-d descriptor, loaded by path."""

    def __init__(self):
        import dlib

        from engines.face.dlib68 import model_dir

        d = Path(model_dir())
        self.detector = dlib.get_frontal_face_detector()
        self.sp5 = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
        self.sp68 = dlib.shape_predictor(str(d / "shape_predictor_68_face_landmarks.dat"))
        self.rec = dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))

    def face(self, rgb: np.ndarray):
        found = self.detector(rgb, 1)
        return max(found, key=lambda r: r.width()) if found else None

    def descriptor(self, rgb: np.ndarray, box=None) -> np.ndarray | None:
        box = box or self.face(rgb)
        if box is None:
            return None
        return np.array(self.rec.compute_face_descriptor(rgb, self.sp5(rgb, box)))

    def lip_gap(self, rgb: np.ndarray, box) -> float:
        """Inner lip gap over mouth width (68-point landmarks)."""
        s = self.sp68(rgb, box)
        p = np.array([(s.part(i).x, s.part(i).y) for i in range(68)], np.float64)
        gap = float(np.mean(p[[67, 66, 65], 1] - p[[61, 62, 63], 1]))
        return max(0.0, gap) / max(1.0, float(np.hypot(*(p[54] - p[48]))))


def render(portrait: Path, home: Path, out: Path) -> float:
    """Render through the CLI; returns wall seconds."""
    models = ROOT / "studio_data" / "cache" / "models"
    (home / "cache").mkdir(parents=True, exist_ok=True)
    if models.is_dir() and not (home / "cache" / "models").exists():
        (home / "cache" / "models").symlink_to(models, target_is_directory=True)
    env = dict(os.environ, STUDIO_HOME=str(home))
    cmd = [sys.executable, str(ROOT / "app.py"), "render", "--portrait", str(portrait), "--text", TEXT]
    cmd += ["--preset", "512", "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def decode(mp4: Path) -> tuple[list[np.ndarray], float, np.ndarray, int]:
    """RGB frames, fps, mono audio and its sample rate."""
    cap = cv2.VideoCapture(str(mp4))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    import imageio_ffmpeg

    sr = 16000
    raw = subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(mp4),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            str(sr),
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return frames, float(fps), np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0, sr


def bilabial_times(home: Path, audio: np.ndarray, sr: int) -> list[tuple[float, float]]:
    """(start, end) seconds in the video of every m/b/p of the rendered sentence: the phonemes come
    from the TTS cache, placed where the sentence's audio best matches the video's soundtrack."""
    out = []
    for path in glob.glob(str(home / "cache" / "tts" / "**" / "*.npz"), recursive=True):
        d = np.load(path)
        if "ph" not in d:
            continue
        offset = _offset_s(np.asarray(d["audio"], np.float32), int(d["sample_rate"]), audio, sr)
        for p, s, e in zip(d["ph"], d["ph_start"], d["ph_end"]):
            if str(p) and str(p)[0] in BILABIALS:
                out.append((float(s) + offset, float(e) + offset))
    return sorted(out)


def _offset_s(piece: np.ndarray, piece_sr: int, whole: np.ndarray, sr: int) -> float:
    """Where ``piece`` starts in ``whole`` (seconds), from their 10 ms loudness envelopes."""

    def envelope(x: np.ndarray, rate: int) -> np.ndarray:
        hop = rate // 100
        n = len(x) // hop
        return np.sqrt((x[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(1) + 1e-12)

    a, b = np.log(envelope(piece, piece_sr)), np.log(envelope(whole, sr))
    a, b = a - a.mean(), b - b.mean()
    if len(b) < len(a):
        return 0.0
    scores = np.correlate(b, a, mode="valid")
    return float(np.argmax(scores)) / 100.0


def frame_level(audio: np.ndarray, sr: int, n_frames: int, fps: float) -> np.ndarray:
    """Loudness of the sound heard while each frame is on screen: RMS over frame ``k``'s own
    interval ``[k / fps, (k + 1) / fps)``, in dB, mapped 0..1 over the 30 dB below the 95th percentile.
    Written here, not taken from the animator, so the measurement does not share its code."""
    edges = np.round(np.arange(n_frames + 1) / fps * sr).astype(np.int64)
    db = np.full(n_frames, -120.0)
    for k in range(n_frames):
        seg = audio[edges[k] : edges[k + 1]].astype(np.float64)
        if seg.size:
            db[k] = 10.0 * np.log10(np.mean(seg**2) + 1e-12)
    return np.clip((db - (np.percentile(db, 95) - 30.0)) / 30.0, 0.0, 1.0)


def lagged_corr(gap: np.ndarray, level: np.ndarray, lag: int) -> float:
    """Pearson correlation of the lip gap at frame ``k + lag`` with the loudness at frame ``k``
    (lag < 0: the lips move before the sound); frames where no face was found are left out."""
    n = min(len(gap), len(level))
    a, b = (gap[lag:n], level[: n - lag]) if lag >= 0 else (gap[: n + lag], level[-lag:n])
    ok = ~np.isnan(a)
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def measure(name: str, portrait: Path, dl: Dlib, tmp: Path) -> dict:
    home = tmp / name.split()[0]
    mp4 = tmp / f"{name.split()[0]}.mp4"
    wall = render(portrait, home, mp4)
    frames, fps, audio, sr = decode(mp4)
    photo = cv2.cvtColor(cv2.imread(str(portrait)), cv2.COLOR_BGR2RGB)
    ref = dl.descriptor(photo)
    dist, gap = np.full(len(frames), np.nan), np.full(len(frames), np.nan)
    for k, f in enumerate(frames):
        box = dl.face(f)
        if box is None:
            continue
        gap[k] = dl.lip_gap(f, box)
        if k % 2 == 0 or k < 2:
            dist[k] = float(np.linalg.norm(dl.descriptor(f, box) - ref))
    # the widest-open frames (top 5 % of the lip gap): measure every one of them
    widest = np.argsort(np.nan_to_num(gap, nan=-1))[-max(3, len(frames) // 20) :]
    for k in widest:
        if np.isnan(dist[k]) and not np.isnan(gap[k]):
            dist[k] = float(np.linalg.norm(dl.descriptor(frames[k]) - ref))
    level = frame_level(audio, sr, len(frames), fps)
    lags = {lag: lagged_corr(gap, level, lag) for lag in range(-2, 3)}
    corr = lags[0]
    # a bilabial is closed when some frame inside it (+-1 frame: the lips lead the sound) has shut lips
    closed, onsets = 0, bilabial_times(home, audio, sr)
    rest_gap = float(np.nanmedian(gap[: max(1, int(0.1 * fps))]))
    for s, e in onsets:
        a, b = max(0, int(np.floor(s * fps)) - 1), min(len(frames), int(np.ceil(e * fps)) + 1)
        if np.nanmin(np.r_[gap[a:b], np.inf]) <= 0.04:
            closed += 1
    duration = len(audio) / sr
    return {
        "portrait": str(portrait.relative_to(ROOT)),
        "frames": len(frames),
        "first": round(float(dist[0]), 3),
        "median": round(float(np.nanmedian(dist)), 3),
        "widest": round(float(np.nanmax(dist[widest])), 3),
        "widest_lip_gap": round(float(np.nanmax(gap)), 3),
        "rest_lip_gap": round(rest_gap, 3),
        "loudness_corr_lag0": round(corr, 3),
        "loudness_corr_by_lag": {str(k): round(v, 3) for k, v in lags.items()},
        "mbp_closed": f"{closed}/{len(onsets)}",
        "mbp_closed_share": round(closed / max(1, len(onsets)), 3),
        "render_s": round(wall, 2),
        "rtf_cli_incl_startup": round(wall / max(1e-6, duration), 3),
    }


def strip(dl: Dlib, out: Path) -> list[dict]:
    """Stills next to each photo, with their descriptor distances; writes a PNG."""
    from engines.animate.motion import INDEX, emotion_presets
    from engines.animate.procedural import ProceduralAnimator
    from engines.face.dlib68 import Dlib68

    animator, faces = ProceduralAnimator(), Dlib68()
    presets = emotion_presets()
    stills = STILLS + [
        (e, {k: v for k, v in presets[e]["controls"].items() if not k.startswith("head_")}) for e in EMOTIONS
    ]
    rows, table = [], []
    tile = 200
    for name, path in PORTRAITS.items():
        photo = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        rig = animator.prepare(photo, faces.detect(photo)[0].landmarks, 512, 512)
        ref = dl.descriptor(photo)
        lm = rig.landmarks
        cx, cy = lm[:, 0].mean(), lm[:, 1].mean()
        half = 0.75 * float(lm[:, 0].max() - lm[:, 0].min())
        x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
        x1, y1 = int(min(512, cx + half)), int(min(512, cy + half))
        tiles = [_label(cv2.resize(photo, (tile, tile), interpolation=cv2.INTER_AREA), "photo")]
        row = {"portrait": name}
        for label, controls in stills:
            frame = animator.render_controls(rig, {k: v for k, v in controls.items() if k in INDEX})
            d = dl.descriptor(frame)
            row[label] = None if d is None else round(float(np.linalg.norm(d - ref)), 3)
            crop = cv2.resize(frame[y0:y1, x0:x1], (tile, tile), interpolation=cv2.INTER_CUBIC)
            tiles.append(_label(crop, f"{label} {row[label]}"))
        rows.append(np.hstack(tiles))
        table.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    return table


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = np.ascontiguousarray(img)
    cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def main() -> int:
    from engines.files import write_json_atomic

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "identity.json")
    ap.add_argument("--strip", type=Path, default=ROOT / "bench" / "results" / "identity_strip.png")
    ap.add_argument("--no-video", action="store_true", help="only the strip of stills")
    args = ap.parse_args()
    dl = Dlib()
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
            "platform": platform.platform(),
        },
        "text": TEXT,
        "targets": {"first": 0.15, "median": 0.30, "widest": 0.40, "loudness_corr_lag0": 0.7, "mbp_closed_share": 0.9},
        "stills": strip(dl, args.strip),
        "videos": {},
    }
    if not args.no_video:
        with tempfile.TemporaryDirectory() as tmp:
            for name, path in PORTRAITS.items():
                results["videos"][name] = measure(name, path, dl, Path(tmp))
    keys = ("first", "median", "widest", "loudness_corr_lag0", "mbp_closed", "rest_lip_gap", "render_s")
    print(f"{'portrait':34s} " + " ".join(f"{k:>18s}" for k in keys))
    for name, r in results["videos"].items():
        print(f"{name:34s} " + " ".join(f"{str(r[k]):>18s}" for k in keys))
    labels = [s[0] for s in STILLS] + list(EMOTIONS)
    print(f"\n{'stills: descriptor distance':34s} " + " ".join(f"{k[:10]:>10s}" for k in labels))
    for row in results["stills"]:
        print(f"{row['portrait']:34s} " + " ".join(f"{str(row[k]):>10s}" for k in labels))
    results["machine"]["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    write_json_atomic(args.out, results)
    print(f"\nwrote {args.out} and {args.strip}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
