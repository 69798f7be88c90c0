#!/usr/bin/env python3
"""Voice profile benchmark: voice-match similarity gain, intelligibility (WER), profile creation time, TTS speed.

Test speakers are made offline: the default Piper voice shifted in pitch, formants and rate with
WORLD (three speakers), and eSpeak NG voices (two speakers, via the ``espeakng-loader`` package,
skipped when it is not installed). Each reads about 60 s of text; the profile is created from
that; then five new sentences are spoken by the unmodified default voice and by the voice match.

Targets (issue 4): similarity gain >= 0.05 averaged over speakers, WER <= 10 % for the matched
voice (faster-whisper, bundled base model), profile creation <= 15 s for 60 s, default TTS RTF <= 0.3.

    python bench/bench_voice.py [--seconds 60] [--out bench/results/voice.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SENTENCES = (
    "Thanks for watching, and see you again next week.",
    "Our new bakery opens on Monday morning at eight o'clock.",
    "Please remember to bring a warm jacket and a bottle of water.",
    "The garden looks beautiful after the rain in early spring.",
    "If you have any questions, leave a comment below this video.",
)
ESPEAK_VOICES = ("en-us+f2", "en-gb-x-rp+m3")


def espeak_reading(voice: str, seconds: float, sample_rate: int) -> np.ndarray | None:
    """About ``seconds`` of an eSpeak NG voice reading the test text, or None without espeakng-loader."""
    try:
        import ctypes

        import espeakng_loader
    except ImportError:
        return None
    import soxr
    from voice_fixtures import READING

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)  # 2 = synchronous
    chunks: list[np.ndarray] = []

    def collect(wav, n, _events):
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768)
        return 0

    keep = callback_type(collect)
    lib.espeak_SetSynthCallback(keep)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        return None
    total, i = 0.0, 0
    pieces = [np.zeros(rate // 2, np.float32)]
    while total < seconds:
        chunks.clear()
        text = READING[i % len(READING)].encode()
        i += 1
        lib.espeak_Synth(text, len(text) + 1, 0, 1, 0, 0, None, None)
        lib.espeak_Synchronize()
        audio = np.concatenate(chunks)
        pieces += [audio, np.zeros(int(0.6 * rate), np.float32)]
        total += len(audio) / rate
    audio = soxr.resample(np.concatenate(pieces), rate, sample_rate).astype(np.float32)
    audio *= 0.3 / max(float(np.max(np.abs(audio))), 1e-6)
    return audio + np.random.default_rng(0).normal(0, 3e-4, len(audio)).astype(np.float32)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("o'clock", "oclock")).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate (substitutions + insertions + deletions) / reference words."""
    ref, hyp = words(reference), words(hypothesis)
    d = np.arange(len(hyp) + 1, dtype=float)
    for i, r in enumerate(ref, 1):
        prev, d[0] = d.copy(), i
        for j, h in enumerate(hyp, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return float(d[-1] / max(len(ref), 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each test recording (s)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "voice.json")
    args = parser.parse_args()

    from voice_fixtures import SPEAKERS, make_studio, read_aloud, write

    from studio import models
    from studio.voice.profiles import VoiceLibrary
    from studio.voice.speakers import speaker_for

    work = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    studio = make_studio(work / "home")
    lib = VoiceLibrary(studio.paths, studio=studio)
    asr = studio.engine("asr", "faster-whisper", model_dir=models.resolve("whisper-base", studio.paths))
    tts = studio.tts()

    # Default TTS real-time factor (after one warm-up sentence).
    tts.synthesize("Warming up.")
    t0 = time.perf_counter()
    default_audio_s = sum(tts.synthesize(s).duration for s in SENTENCES)
    default_rtf = (time.perf_counter() - t0) / default_audio_s

    speakers: list[tuple[str, np.ndarray]] = []
    for spk in SPEAKERS:
        speakers.append((f"piper-world-{spk.name}", read_aloud(tts, spk, args.seconds, sample_rate=44_100)))
    for voice in ESPEAK_VOICES:
        audio = espeak_reading(voice, args.seconds, 44_100)
        if audio is not None:
            speakers.append((f"espeak-{voice}", audio))

    rows = []
    for i, (name, audio) in enumerate(speakers):
        path = write(work / f"{name}.wav", audio, 44_100)
        t0 = time.perf_counter()
        profile = lib.add(name, path)
        create_s = time.perf_counter() - t0
        default = speaker_for(studio, None)
        matched = speaker_for(studio, name)
        sims_default, sims_match, wers_default, wers_match = [], [], [], []
        t_match, match_audio_s = 0.0, 0.0
        for s in SENTENCES:
            plain = default.synthesize(s)
            t0 = time.perf_counter()
            moved = matched.synthesize(s)
            t_match += time.perf_counter() - t0
            match_audio_s += moved.duration
            sims_default.append(matched.similarity(plain))
            sims_match.append(matched.similarity(moved))
            wers_default.append(
                wer(s, asr.transcribe(plain.audio, plain.sample_rate, language="en", word_timestamps=False).text)
            )
            wers_match.append(
                wer(s, asr.transcribe(moved.audio, moved.sample_rate, language="en", word_timestamps=False).text)
            )
        m = profile.settings["match"]
        rows.append(
            {
                "speaker": name,
                "recording_s": len(audio) / 44_100,
                "speech_s": profile.report["speech_s"],
                "profile_create_s": create_s,
                "first_profile_includes_model_loading": i == 0,
                "similarity_default": float(np.mean(sims_default)),
                "similarity_match": float(np.mean(sims_match)),
                "gain": float(np.mean(sims_match) - np.mean(sims_default)),
                "wer_default": float(np.mean(wers_default)),
                "wer_match": float(np.mean(wers_match)),
                "match_rtf": t_match / match_audio_s,
                "warp": m["warp"],
                "eq_strength": m["eq_strength"],
                "rate": m["rate"],
                "pitch_hz": float(np.exp(m["target"]["f0_log_mean"])),
            }
        )

    warm = [r["profile_create_s"] for r in rows[1:]] or [rows[0]["profile_create_s"]]
    summary = {
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores, {platform.python_version()}",
        "speakers": len(rows),
        "mean_gain": float(np.mean([r["gain"] for r in rows])),
        "mean_wer_match": float(np.mean([r["wer_match"] for r in rows])),
        "mean_wer_default": float(np.mean([r["wer_default"] for r in rows])),
        "profile_create_s_warm_mean": float(np.mean(warm)),
        "profile_create_s_first": rows[0]["profile_create_s"],
        "default_tts_rtf": default_rtf,
        "match_rtf_mean": float(np.mean([r["match_rtf"] for r in rows])),
        "targets": {"gain>=0.05": None, "wer<=0.10": None, "create<=15s": None, "rtf<=0.3": None},
    }
    summary["targets"] = {
        "gain>=0.05": summary["mean_gain"] >= 0.05,
        "wer<=0.10": summary["mean_wer_match"] <= 0.10,
        "create<=15s": summary["profile_create_s_warm_mean"] <= 15.0,
        "rtf<=0.3": default_rtf <= 0.3,
    }

    head = (
        f"{'speaker':<26}{'speech s':>9}{'create s':>9}{'sim def':>8}{'sim match':>10}{'gain':>7}"
        f"{'WER def':>8}{'WER match':>10}{'warp':>6}{'eq':>5}{'rate':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['speaker']:<26}{r['speech_s']:>9.1f}{r['profile_create_s']:>9.1f}{r['similarity_default']:>8.3f}"
            f"{r['similarity_match']:>10.3f}{r['gain']:>7.3f}"
            f"{r['wer_default'] * 100:>7.1f}%{r['wer_match'] * 100:>9.1f}%"
            f"{r['warp']:>6.2f}{r['eq_strength']:>5.1f}{r['rate']:>6.2f}"
        )
    print("-" * len(head))
    print(
        f"mean similarity gain {summary['mean_gain']:.3f} (target >= 0.05); matched WER "
        f"{summary['mean_wer_match'] * 100:.1f} % (target <= 10 %); "
        f"profile creation {summary['profile_create_s_warm_mean']:.1f} s "
        f"warm, {summary['profile_create_s_first']:.1f} s first (target <= 15 s); default TTS RTF {default_rtf:.3f} "
        f"(target <= 0.3); voice match RTF {summary['match_rtf_mean']:.3f}"
    )
    print(f"machine: {summary['machine']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "speakers": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
