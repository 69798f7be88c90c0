"""Does one emotion tag change the voice and the face? Measured on exported MP4s with tools that are
not the ones that made the change.

Renders one script with a happy and a sad passage (a long pause between them) through
``app.py render`` with the default voice, then on the MP4 alone:

* splits the sound at the long pause (silence found by librosa), so each passage is measured apart;
* F0: librosa's pYIN (the studio changes pitch with WORLD), median over voiced frames, in semitones;
* loudness: pyloudnorm (ITU-R BS.1770 integrated loudness, LUFS) and plain RMS dB;
* mouth corners: dlib's 68 landmarks on decoded frames (the studio's face finder is not used):
  corner height = middle of the lips minus the mean height of the two corners, per interocular
  distance (positive: corners above the lips' middle, a smile);
* words: Whisper base (faster-whisper, ``studio.script.dictation``) word error rate on the export;
* the same person: resemblyzer cosine between each emotional sentence and the neutral one
  (default voice, ``say``), and render time at emotion strength 1 against strength 0.

    python bench/bench_emotion.py          # prints a table, writes bench/results/emotion.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

HAPPY = (
    "Good morning, everyone, and welcome to our little bakery. "
    "Today we are opening the doors for the very first time. "
    "I cannot wait for you to taste the fresh bread."
)
SAD = (
    "Sadly, the old shop around the corner has closed for good. "
    "The owner worked there for more than forty years. "
    "Many of us will miss her warm smile every morning."
)
SCRIPT = f"[happy] {HAPPY} [pause 1.5s] [sad] {SAD}"
AUDIO_RATE = 16_000  # Hz: what the measurements hear
FPS_SAMPLED = 5  # frames per second looked at for landmarks
TARGETS = {"f0_semitones": 2.0, "loudness_db": 2.0, "wer": 0.25, "similarity": 0.8, "speed": 0.10}


def render(out: Path, home: Path, text: str, strength: float) -> float:
    """``app.py render`` in a fresh process; returns the wall time in seconds."""
    env = dict(os.environ, STUDIO_HOME=str(home))
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "render", "--portrait", str(ROOT / "assets" / "portrait.png")]
        + ["--text", text, "--emotion-strength", str(strength), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(ROOT),
    )
    if proc.returncode != 0:
        raise SystemExit(f"error: the render failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def decode_audio(mp4: Path) -> np.ndarray:
    raw = subprocess.run(
        [ffmpeg(), "-v", "error", "-i", str(mp4), "-ac", "1", "-ar", str(AUDIO_RATE), "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.float32).copy()


def decode_frames(mp4: Path) -> tuple[np.ndarray, float]:
    """Frames sampled at FPS_SAMPLED, RGB uint8 ``(n, h, w, 3)``, and their spacing in seconds."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(mp4), pix_fmt="rgb24", output_params=["-vf", f"fps={FPS_SAMPLED}"])
    w, h = next(reader)["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]
    return np.stack(frames), 1.0 / FPS_SAMPLED


def passages(audio: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """Sample ranges of the two passages: the speech before and after the longest silence."""
    import librosa

    spans = librosa.effects.split(audio, top_db=35, frame_length=1024, hop_length=256)
    gaps = [(spans[i + 1][0] - spans[i][1], i) for i in range(len(spans) - 1)]
    _, i = max(gaps)
    return (int(spans[0][0]), int(spans[i][1])), (int(spans[i + 1][0]), int(spans[-1][1]))


def median_f0(audio: np.ndarray) -> float:
    import librosa

    f0, voiced, _ = librosa.pyin(audio, fmin=60, fmax=500, sr=AUDIO_RATE, frame_length=1024)
    f0 = f0[voiced & np.isfinite(f0)]
    return float(np.median(f0)) if len(f0) else float("nan")


def loudness(audio: np.ndarray) -> tuple[float, float]:
    """(integrated loudness in LUFS, RMS in dB re full scale)."""
    import pyloudnorm

    lufs = float(pyloudnorm.Meter(AUDIO_RATE).integrated_loudness(audio.astype(np.float64)))
    rms = 20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12)
    return lufs, float(rms)


def landmark_model():
    import dlib

    spec = __import__("importlib.util").util.find_spec("face_recognition_models")
    folder = Path(spec.submodule_search_locations[0]) / "models"
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat"))


def corner_height(image: np.ndarray, model) -> float | None:
    """Mouth-corner height per interocular distance (+ = corners above the lips' middle)."""
    detector, predictor = model
    faces = detector(image, 0)
    if not faces:
        return None
    face = max(faces, key=lambda r: r.width() * r.height())
    p = np.array([(pt.x, pt.y) for pt in predictor(image, face).parts()], np.float64)
    eyes = np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0))
    middle = (p[51, 1] + p[57, 1]) / 2  # top of the upper lip, bottom of the lower lip
    corners = (p[48, 1] + p[54, 1]) / 2
    return float((middle - corners) / eyes)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", re.sub(r"\[[^\]]*\]", " ", text.lower())).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate (substitutions + insertions + deletions) / reference words."""
    from test_dictation import word_errors  # the tests' word-level edit distance

    ref = words(reference)
    return word_errors(ref, words(hypothesis)) / max(len(ref), 1)


def semitones(a: float, b: float) -> float:
    return float(12 * np.log2(a / b))


def voice_similarity(studio, voice: str | None = None) -> dict[str, float]:
    """Resemblyzer cosine of each emotion's sentence to the neutral one (``voice``: a profile, None:
    the default voice)."""
    from resemblyzer import VoiceEncoder, preprocess_wav

    from engines.emotions import EMOTIONS
    from studio.voice.speakers import say

    sentence = "I walked along the river this morning and watched the boats go by."
    enc = VoiceEncoder(device="cpu", verbose=False)

    def embed(emotion: str) -> np.ndarray:
        speech = say(studio, voice, sentence, emotion=emotion, engine="match" if voice else None).speech
        return enc.embed_utterance(preprocess_wav(speech.audio, source_sr=speech.sample_rate))

    neutral = embed("neutral")
    return {e: round(float(np.dot(embed(e), neutral)), 3) for e in EMOTIONS if e != "neutral"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "emotion.json")
    parser.add_argument("--frames", type=Path, help="also save a happy | photo | sad picture here (PNG)")
    parser.add_argument("--skip-speed", action="store_true", help="skip the strength 0 render (time comparison)")
    parser.add_argument("--skip-profile", action="store_true", help="skip the voice-profile similarity")
    args = parser.parse_args()

    from studio.config import StudioPaths
    from studio.script.dictation import speech_recognizer
    from studio.services import Studio

    work = Path(tempfile.mkdtemp(prefix="bench-emotion-"))
    home = work / "home"
    (home / "cache").mkdir(parents=True)
    models = ROOT / "studio_data" / "cache" / "models"
    if models.is_dir():
        (home / "cache" / "models").symlink_to(models, target_is_directory=True)

    mp4 = work / "emotion.mp4"
    wall = render(mp4, home, SCRIPT, 1.0)
    audio = decode_audio(mp4)
    (h0, h1), (s0, s1) = passages(audio)
    happy, sad = audio[h0:h1], audio[s0:s1]
    f0_h, f0_s = median_f0(happy), median_f0(sad)
    (lufs_h, rms_h), (lufs_s, rms_s) = loudness(happy), loudness(sad)

    frames, step = decode_frames(mp4)
    model = landmark_model()
    times = np.arange(len(frames)) * step
    heights: dict[str, list[float]] = {"happy": [], "sad": []}
    for t, frame in zip(times, frames):
        sample = int(t * AUDIO_RATE)
        which = "happy" if h0 <= sample < h1 else "sad" if s0 <= sample < s1 else None
        if which:
            value = corner_height(frame, model)
            if value is not None:
                heights[which].append(value)
    from PIL import Image

    photo = np.asarray(Image.open(ROOT / "assets" / "portrait.png").convert("RGB"))
    photo_corner = corner_height(photo, model)
    corner_h, corner_s = float(np.median(heights["happy"])), float(np.median(heights["sad"]))

    studio = Studio(StudioPaths(home))
    heard = speech_recognizer(studio).transcribe(audio, AUDIO_RATE, language="en", word_timestamps=False).text
    error = wer(HAPPY + " " + SAD, heard)
    similarity = voice_similarity(studio)
    profile_similarity = None
    if not args.skip_profile:  # a voice profile (voice match) made from an eSpeak NG "user"
        from voice_fixtures import SPEAKERS, read_aloud, write

        from studio.voice.profiles import VoiceLibrary

        recording = write(work / "user.wav", read_aloud(None, SPEAKERS[0], 34, sample_rate=44_100), 44_100)
        VoiceLibrary(studio.paths, studio=studio).add("bench user", recording)
        profile_similarity = voice_similarity(studio, "bench user")

    speed = None
    if not args.skip_speed:
        home0 = work / "home0"
        (home0 / "cache").mkdir(parents=True)
        if models.is_dir():
            (home0 / "cache" / "models").symlink_to(models, target_is_directory=True)
        wall0 = render(work / "strength0.mp4", home0, SCRIPT, 0.0)
        speed = {"wall_s_strength_1": round(wall, 2), "wall_s_strength_0": round(wall0, 2)}
        speed["slower_by"] = round(wall / wall0 - 1, 3)

    if args.frames:
        pick = {
            k: int(np.argmin(np.abs(times - ((a + b) / 2 / AUDIO_RATE))))
            for k, (a, b) in {"happy": (h0, h1), "sad": (s0, s1)}.items()
        }
        size = frames.shape[1]
        face = np.asarray(Image.fromarray(photo).resize((size * photo.shape[1] // photo.shape[0], size)))
        Image.fromarray(np.concatenate([frames[pick["happy"]], face, frames[pick["sad"]]], axis=1)).save(args.frames)

    result = {
        "script": SCRIPT,
        "happy_minus_sad": {
            "f0_semitones": round(semitones(f0_h, f0_s), 2),
            "loudness_lufs_db": round(lufs_h - lufs_s, 2),
            "rms_db": round(rms_h - rms_s, 2),
            "mouth_corner_height": round(corner_h - corner_s, 4),
        },
        "happy": {"f0_hz": round(f0_h, 1), "lufs": round(lufs_h, 2), "corner_height": round(corner_h, 4)},
        "sad": {"f0_hz": round(f0_s, 1), "lufs": round(lufs_s, 2), "corner_height": round(corner_s, 4)},
        "photo_corner_height": None if photo_corner is None else round(photo_corner, 4),
        "frames_measured": {k: len(v) for k, v in heights.items()},
        "wer": round(error, 3),
        "heard": heard,
        "similarity_to_neutral": similarity,
        "profile_similarity_to_neutral": profile_similarity,
        "render": speed or {"wall_s_strength_1": round(wall, 2)},
        "load": os.getloadavg(),
        "targets": TARGETS,
    }
    d = result["happy_minus_sad"]
    rows = [
        ("median F0, happy - sad (pYIN)", f"{d['f0_semitones']:+.2f} st", f">= +{TARGETS['f0_semitones']:g} st"),
        ("loudness, happy - sad (BS.1770)", f"{d['loudness_lufs_db']:+.2f} dB", f">= +{TARGETS['loudness_db']:g} dB"),
        ("RMS, happy - sad", f"{d['rms_db']:+.2f} dB", ""),
        ("mouth-corner height, happy - sad (dlib)", f"{d['mouth_corner_height']:+.4f}", "> 0"),
        ("Whisper WER on the export", f"{error:.3f}", f"<= {TARGETS['wer']:g}"),
        ("resemblyzer cosine to neutral (min)", f"{min(similarity.values()):.3f}", f">= {TARGETS['similarity']:g}"),
    ]
    if profile_similarity:
        low = min(profile_similarity.values())
        rows.append(("... voice profile (voice match), min", f"{low:.3f}", f">= {TARGETS['similarity']:g}"))
    if speed:
        rows.append(("render time, strength 1 vs 0", f"{speed['slower_by']:+.1%}", f"<= +{TARGETS['speed']:.0%}"))
    print(f"{'measure':42} {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:42} {value:>12}  {target}")
    print(f"heard: {heard}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
