"""Coqui XTTS-v2 neural voice cloning (``coqui-tts``, import name ``TTS``), run out of process.

coqui-tts needs torchaudio, and no torchaudio on PyPI loads beside the studio's CPU torch, so XTTS
lives in its own optional environment (``.venv-xtts``: torch 2.11.0, torchaudio 2.11.0,
torchcodec 0.11.1, coqui-tts 0.28.0, six; made by ``./launch.sh xtts``). This module is both:

* the client (:class:`XttsWorker`, registered as tts/xtts) used inside the studio: it starts
  ``<env python> -m engines.tts.xtts --serve --model-dir DIR`` once and talks to it;
* the worker (:func:`serve`), which imports only numpy and the XTTS stack.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout; arrays travel in
files (``.safetensors`` latents, ``.npy`` audio, never pickles):

    {"op": "latents", "audio": "voice.wav", "out": "xtts_latents.safetensors"}
    -> {"ok": true, "shapes": {"gpt_cond_latent": [1, 32, 1024], "speaker_embedding": [1, 512, 1]}}
    {"op": "synthesize", "text": "...", "latents": "...", "out": "x.npy", "language": "en", "speed": 1.0}
    -> {"ok": true, "sample_rate": 24000, "samples": 52000}
    {"op": "quit"}

Latents are computed once per voice from the whole reference and cached next to it; synthesis
reads only the cached latents, never the recording.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
XTTS_SAMPLE_RATE = 24_000  # Hz of XTTS-v2 output
LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh-cn", "ja", "hu", "ko", "hi")
MODEL_FILES = ("model.pth", "config.json", "vocab.json")


def find_python() -> Path | None:
    """The XTTS environment's Python: ``$STUDIO_XTTS_PYTHON``, else ``.venv-xtts`` in the repository."""
    env = os.environ.get("STUDIO_XTTS_PYTHON")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT / ".venv-xtts" / "bin" / "python", REPO_ROOT / ".venv-xtts" / "Scripts" / "python.exe"]
    return next((p for p in candidates if p.is_file()), None)


@dataclass
class RuntimeStatus:
    """Whether XTTS-v2 can run: its environment and its model files."""

    python: Path | None
    model_dir: Path | None

    @property
    def ready(self) -> bool:
        return (
            self.python is not None
            and self.model_dir is not None
            and all((self.model_dir / f).is_file() for f in MODEL_FILES)
        )

    def problem(self) -> str:
        if self.python is None:
            return "the XTTS-v2 environment is not installed: run `./launch.sh xtts` (about 5.6 GB)"
        if self.model_dir is None or not all((self.model_dir / f).is_file() for f in MODEL_FILES):
            return "the XTTS-v2 model is not downloaded: run `python app.py models fetch xtts-v2 --accept-license`"
        return ""


class XttsError(RuntimeError):
    """The worker failed; the message ends with the last lines it wrote to stderr."""


class XttsWorker:
    """Client of one long-lived XTTS worker process (the model loads once, ~10-30 s on CPU)."""

    name = "xtts"
    sample_rate = XTTS_SAMPLE_RATE

    def __init__(
        self,
        model_dir: str | os.PathLike,
        python: str | os.PathLike | None = None,
        device: str = "auto",
        startup_timeout_s: float = 600.0,
    ):
        self.model_dir = Path(model_dir)
        self.python = Path(python) if python else find_python()
        if self.python is None:
            raise XttsError(RuntimeStatus(None, self.model_dir).problem())
        self.device = device
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stderr_tail: list[str] = []
        self._startup_timeout_s = startup_timeout_s
        self._tmp = Path(tempfile.mkdtemp(prefix="xtts-"))

    # -- process management --
    def _start(self) -> None:
        env = dict(
            os.environ, PYTHONPATH=str(REPO_ROOT), COQUI_TOS_AGREED="1", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1"
        )
        self._proc = subprocess.Popen(
            [
                str(self.python),
                "-m",
                "engines.tts.xtts",
                "--serve",
                "--model-dir",
                str(self.model_dir),
                "--device",
                self.device,
            ],
            cwd=str(REPO_ROOT),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._drain_stderr, args=(self._proc,), daemon=True).start()
        reply = self._read_reply()
        if not reply.get("ok"):
            raise XttsError(f"XTTS-v2 did not start: {reply.get('error')}{self._tail()}")

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            self._stderr_tail = (self._stderr_tail + [line.rstrip()])[-20:]

    def _tail(self) -> str:
        lines = [ln for ln in self._stderr_tail if ln.strip()][-5:]
        return ("\n" + "\n".join(lines)) if lines else ""

    def _read_reply(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait(timeout=10)
            raise XttsError(f"the XTTS-v2 worker stopped (exit {code}){self._tail()}")
        return json.loads(line)

    def _call(self, request: dict) -> dict:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            reply = self._read_reply()
        if not reply.get("ok"):
            raise XttsError(f"XTTS-v2 failed: {reply.get('error')}")
        return reply

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                try:
                    self._proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                    self._proc.stdin.flush()
                    self._proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    self._proc.kill()
            self._proc = None

    def __del__(self):  # best effort: never leave a worker behind
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # -- the engine --
    def compute_latents(self, reference_wav: str | os.PathLike, out: str | os.PathLike) -> dict[str, list[int]]:
        """Conditioning latents from the whole reference (mono WAV), saved as safetensors at ``out``."""
        reply = self._call({"op": "latents", "audio": str(reference_wav), "out": str(out)})
        return reply["shapes"]

    def synthesize_audio(
        self,
        text: str,
        latents: str | os.PathLike,
        *,
        language: str = "en",
        speed: float = 1.0,
        temperature: float = 0.75,
        seed: int | None = 0,
    ) -> np.ndarray:
        """Mono float32 speech at 24 kHz for ``text`` in the cached voice ``latents``."""
        out = self._tmp / f"{threading.get_ident()}.npy"
        self._call(
            {
                "op": "synthesize",
                "text": text,
                "latents": str(latents),
                "out": str(out),
                "language": language,
                "speed": float(speed),
                "temperature": float(temperature),
                "seed": seed,
            }
        )
        try:
            return np.load(out, allow_pickle=False).astype(np.float32)
        finally:
            out.unlink(missing_ok=True)


try:  # the registry is importable in both environments, but keep the worker free of it if not
    from engines.registry import register

    register("tts", "xtts")(XttsWorker)
except ImportError:  # pragma: no cover
    pass


# ---------------------------------------------------------------------------------------------
# The worker (runs inside .venv-xtts).


def _read_wav(path: str) -> tuple[np.ndarray, int]:
    """Mono float32 samples of a PCM WAV (the studio writes 16-bit voice.wav files)."""
    import wave

    with wave.open(path, "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    data = np.frombuffer(raw, dtype=dtype).astype(np.float32)
    data = (data - 128) / 128 if width == 1 else data / float(np.iinfo(dtype).max)
    return data.reshape(-1, channels).mean(axis=1), rate


class _Model:
    def __init__(self, model_dir: Path, device: str):
        import torch
        from TTS.tts.configs.xtts_config import XttsConfig
        from TTS.tts.models.xtts import Xtts

        self.torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        config = XttsConfig()
        config.load_json(str(model_dir / "config.json"))
        self.model = Xtts.init_from_config(config)
        # coqui-tts loads with torch.load(weights_only=True) on torch >= 2.4.
        self.model.load_checkpoint(
            config,
            checkpoint_dir=str(model_dir),
            eval=True,
            use_deepspeed=False,
            speaker_file_path=str(model_dir / "no-builtin-speakers.pth"),
        )
        self.model.to(device)
        self.device = device
        self.config = config
        self._latents: dict[tuple[str, float], tuple] = {}

    def latents(self, audio_path: str, out: str) -> dict:
        import torch
        import torchaudio.functional as AF
        from safetensors.torch import save_file

        samples, rate = _read_wav(audio_path)
        audio = torch.from_numpy(samples)[None, :]
        sr = self.config.audio.sample_rate  # 22050
        if rate != sr:
            audio = AF.resample(audio, rate, sr)
        audio = audio.to(self.device)
        seconds = max(6, int(audio.shape[-1] / sr))
        with torch.inference_mode():
            speaker_embedding = self.model.get_speaker_embedding(audio, sr)
            # The whole recording, in 6 s chunks averaged, conditions the GPT.
            gpt_cond_latent = self.model.get_gpt_cond_latents(audio, sr, length=seconds, chunk_length=6)
        tensors = {
            "gpt_cond_latent": gpt_cond_latent.float().cpu().contiguous(),
            "speaker_embedding": speaker_embedding.float().cpu().contiguous(),
        }
        tmp = f"{out}.part"
        save_file(tensors, tmp, metadata={"model": "xtts-v2", "seconds": str(seconds)})
        os.replace(tmp, out)
        return {k: list(v.shape) for k, v in tensors.items()}

    def synthesize(self, req: dict) -> dict:
        import torch
        from safetensors.torch import load_file

        path = req["latents"]
        key = (path, os.path.getmtime(path))
        if key not in self._latents:
            t = load_file(path)
            self._latents = {key: (t["gpt_cond_latent"].to(self.device), t["speaker_embedding"].to(self.device))}
        gpt_cond_latent, speaker_embedding = self._latents[key]
        if req.get("seed") is not None:
            torch.manual_seed(int(req["seed"]))
        with torch.inference_mode():
            out = self.model.inference(
                req["text"],
                req.get("language", "en"),
                gpt_cond_latent,
                speaker_embedding,
                temperature=float(req.get("temperature", 0.75)),
                speed=float(req.get("speed", 1.0)),
                enable_text_splitting=False,
            )
        wav = np.asarray(out["wav"], dtype=np.float32).reshape(-1)
        tmp = req["out"] + ".part.npy"
        np.save(tmp, wav, allow_pickle=False)
        os.replace(tmp, req["out"])
        return {"sample_rate": XTTS_SAMPLE_RATE, "samples": int(len(wav))}


def serve(model_dir: Path, device: str = "auto") -> int:
    """Answer JSON-lines requests on stdin until "quit" or end of input."""
    # Libraries print to stdout; keep the protocol on a private copy of it.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(obj: dict) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    try:
        model = _Model(model_dir, device)
    except Exception as exc:  # noqa: BLE001 - reported to the client, which shows it
        reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    reply({"ok": True, "device": model.device})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "quit":
                break
            if op == "latents":
                reply({"ok": True, "shapes": model.latents(req["audio"], req["out"])})
            elif op == "synthesize":
                reply({"ok": True, **model.synthesize(req)})
            else:
                reply({"ok": False, "error": f"unknown op {op!r}"})
        except Exception as exc:  # noqa: BLE001 - one bad request must not kill the worker
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return 0


def _main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="XTTS-v2 worker (JSON lines on stdin/stdout)")
    p.add_argument("--serve", action="store_true")
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    return serve(args.model_dir, args.device)


if __name__ == "__main__":
    sys.exit(_main())
