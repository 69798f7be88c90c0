"""OpenVoice V2 tone-colour conversion of finished speech (our TTS output), timing kept sample for sample.

The model folder holds the released ``config.json`` and ``checkpoint.pth`` (``{"model": state_dict}``),
loaded with ``torch.load(weights_only=True)``. Conversion maps every spectrogram frame to one hop of
output samples, so the converted audio has the source's length and every phoneme and word timing of
the TTS stays exact (lips and subtitles in sync); pitch contour and loudness, and so the emotion's
prosody, come through from the source.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from engines.registry import register

CHECKPOINT, CONFIG = "checkpoint.pth", "config.json"
REFERENCE_WINDOW_S = 10.0  # the tone colour of a long recording: mean over windows this long


class ConverterLoadError(RuntimeError):
    """The model folder is missing files or its checkpoint is not in the OpenVoice V2 converter layout."""


def find_model_files(model_dir: Path) -> tuple[Path, Path]:
    """``config.json`` and ``checkpoint.pth`` in ``model_dir`` or its ``converter/`` sub-folder (the release layout)."""
    for folder in (model_dir, model_dir / "converter"):
        if (folder / CHECKPOINT).exists() and (folder / CONFIG).exists():
            return folder / CONFIG, folder / CHECKPOINT
    raise ConverterLoadError(f"no {CONFIG} and {CHECKPOINT} in {model_dir}")


@register("voice_convert", "openvoice")
class OpenVoiceConverter:
    """Moves speech into a target tone colour (256-d vectors from :meth:`tone_colour`)."""

    name = "openvoice"

    def __init__(self, model_dir: str | Path):
        import torch

        from engines.voice.openvoice.network import ConverterConfig, ToneColourConverter

        config_path, checkpoint_path = find_model_files(Path(model_dir))
        try:
            self.config = ConverterConfig.from_json(json.loads(config_path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise ConverterLoadError(f"{config_path} is not an OpenVoice converter config: {exc}") from exc
        try:
            blob = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged file
            raise ConverterLoadError(f"{checkpoint_path} cannot be read: {exc}") from exc
        state = blob.get("model", blob) if isinstance(blob, dict) else None
        if not isinstance(state, dict):
            raise ConverterLoadError(f"{checkpoint_path} holds no state dict")
        self.model = ToneColourConverter(self.config)
        expected = self.model.state_dict()
        missing = [k for k in expected if k not in state]
        wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
        if missing or wrong:
            example = (missing or wrong)[0]
            raise ConverterLoadError(
                f"{checkpoint_path} does not match the OpenVoice V2 converter layout "
                f"({len(missing)} missing, {len(wrong)} of another shape, e.g. {example})"
            )
        self.model.load_state_dict({k: state[k] for k in expected})  # extra keys (training leftovers) ignored
        self.model.eval()
        self.sample_rate = self.config.sampling_rate
        self._lock = threading.Lock()

    def _tensor(self, audio: np.ndarray, sample_rate: int):
        import soxr
        import torch

        x = np.asarray(audio, dtype=np.float32)
        if sample_rate != self.sample_rate:
            x = soxr.resample(x, sample_rate, self.sample_rate).astype(np.float32)
        return torch.from_numpy(np.clip(x, -1.0, 1.0)).unsqueeze(0)

    def tone_colour(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The speaker's tone colour (gin_channels floats), averaged over REFERENCE_WINDOW_S windows."""
        import torch

        x = self._tensor(audio, sample_rate)
        hop = int(REFERENCE_WINDOW_S * self.sample_rate)
        pieces = [x[:, i : i + hop] for i in range(0, x.shape[1], hop) if x[:, i : i + hop].shape[1] > hop // 4]
        pieces = pieces or [x]
        with self._lock, torch.inference_mode():
            vecs = [self.model.tone_colour(self.model.spectrogram(p))[0, :, 0] for p in pieces]
        return torch.stack(vecs).mean(0).numpy().astype(np.float32)

    def convert(
        self,
        audio: np.ndarray,
        sample_rate: int,
        source: np.ndarray,
        target: np.ndarray,
        *,
        tau: float = 0.3,
        seed: int = 0,
    ) -> np.ndarray:
        """``audio`` (from the voice with tone colour ``source``) in the ``target`` tone colour.

        Float32 at ``sample_rate`` with exactly ``len(audio)`` samples. ``tau`` scales the sampling
        noise of the encoder (0.3 as released); ``seed`` fixes it, so the same input gives the same output.
        """
        import soxr
        import torch

        if len(audio) < self.config.filter_length:
            return np.asarray(audio, dtype=np.float32)
        x = self._tensor(audio, sample_rate)
        src = torch.from_numpy(np.asarray(source, np.float32)).reshape(1, -1, 1)
        tgt = torch.from_numpy(np.asarray(target, np.float32)).reshape(1, -1, 1)
        gen = torch.Generator().manual_seed(int(seed))
        with self._lock, torch.inference_mode():
            y = self.model.convert(self.model.spectrogram(x), src, tgt, tau=tau, generator=gen)[0, 0].numpy()
        if sample_rate != self.sample_rate:
            y = soxr.resample(y, self.sample_rate, sample_rate)
        y = np.asarray(y, dtype=np.float32)
        n = len(audio)
        return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))
