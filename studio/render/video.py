"""MP4 export: H.264 yuv420p + AAC, faststart, written atomically (bundled ffmpeg of imageio-ffmpeg).

Frames stream in one at a time, so memory stays flat. Probing uses PyAV. The MP4 is written to a
temporary name beside the target and renamed only
when complete, so an existing export is never replaced by a broken one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from studio.storage import atomic_path

AUDIO_RATE = 48_000  # Hz; AAC at 48 kHz plays everywhere


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono float32 ``audio`` from ``rate`` Hz to ``target`` Hz (soxr, high quality)."""
    if rate == target:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(audio, dtype=np.float32), rate, target, quality="HQ").astype(np.float32)


class VideoWriter:
    """Write RGB frames and one mono audio track to ``path``.

    Frames are piped to the bundled ffmpeg (imageio-ffmpeg), which encodes in its own process
    while Python renders the next frames (measured faster than in-process PyAV, see
    bench/bench_encode.py). ``audio`` (mono float32 at ``sample_rate`` Hz) is written first as a
    WAV and muxed in the same pass; it is padded with silence or trimmed to the video length
    when the writer closes, so both streams end within one frame of each other.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        *,
        fps: int = 25,
        audio: np.ndarray | None = None,
        sample_rate: int = AUDIO_RATE,
        crf: int = 20,
        x264_preset: str = "veryfast",
        audio_bitrate: int = 160_000,
        metadata: dict[str, str] | None = None,
        expected_frames: int | None = None,
        faststart: bool = True,
    ):
        import imageio_ffmpeg
        import soundfile as sf

        if width % 2 or height % 2:
            raise ValueError("yuv420p needs even width and height")
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        self._wav = None
        params = ["-preset", x264_preset, "-crf", str(crf)] + (["-movflags", "+faststart"] if faststart else [])
        for key, value in (metadata or {}).items():
            params += ["-metadata", f"{key}={value}"]
        if audio is not None:
            samples = resample(audio, sample_rate, AUDIO_RATE)
            if expected_frames is not None:  # exact length now; trimmed again by -shortest
                samples = _fit(samples, expected_frames * AUDIO_RATE // fps)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, wav = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".audio.wav", dir=self.path.parent)
            os.close(fd)
            self._wav = Path(wav)
            self._stack.callback(self._wav.unlink, missing_ok=True)
            sf.write(self._wav, _fit(samples, len(samples) + AUDIO_RATE), AUDIO_RATE, subtype="FLOAT")
            params += ["-b:a", str(audio_bitrate), "-ac", "1", "-shortest"]
        self._gen = imageio_ffmpeg.write_frames(
            str(self._tmp),
            (width, height),
            fps=fps,
            codec="libx264",
            pix_fmt_in="yuv420p",  # converted here (OpenCV, BT.601 like ffmpeg's): a third less CPU in x264's process
            pix_fmt_out="yuv420p",
            quality=None,
            macro_block_size=2,
            ffmpeg_log_level="error",
            output_params=params,
            audio_path=str(self._wav) if self._wav else None,
            audio_codec="aac" if self._wav else None,
        )
        self._gen.send(None)
        self._frames = 0
        self._closed = False

    @property
    def frames_written(self) -> int:
        return self._frames

    def write_frame(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 frame of exactly (height, width, 3)."""
        if rgb.shape != (self.height, self.width, 3):
            raise ValueError(f"frame is {rgb.shape}, expected {(self.height, self.width, 3)}")
        self._gen.send(cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2YUV_I420))
        self._frames += 1

    def close(self) -> Path:
        """Flush the encoder and move the finished file into place."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            self._gen.close()
            if self._frames == 0 or self._tmp.stat().st_size == 0:
                raise RuntimeError("the encoder produced no video")
        except BaseException:
            self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
            raise
        self._stack.close()  # renames the temporary file over the target
        return self.path

    def abort(self) -> None:
        """Stop without touching the target file (temporary files are removed)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._gen.close()
        self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class AudioTrack:
    """A mono WAV at :data:`AUDIO_RATE` written piece by piece (memory stays flat), then muxed."""

    def __init__(self, path: str | Path):
        import soundfile as sf

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = sf.SoundFile(str(self.path), "w", samplerate=AUDIO_RATE, channels=1, subtype="FLOAT")
        self.samples = 0

    def append(self, samples: np.ndarray) -> None:
        """Append mono float32 samples at :data:`AUDIO_RATE` Hz."""
        self._file.write(np.asarray(samples, np.float32))
        self.samples += len(samples)

    def close(self) -> Path:
        self._file.close()
        return self.path

    def __enter__(self) -> AudioTrack:
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()


def join_chunks(
    videos: list[Path],
    audio_wav: str | Path,
    out: str | Path,
    *,
    audio_bitrate: int = 160_000,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Concatenate video-only H.264 chunks losslessly (stream copy), add the audio as AAC, write ``out``.

    The chunks must share size, frame rate and encoder settings. ``out`` is written to a temporary
    name and renamed only when ffmpeg succeeded, so an existing file is never replaced by a broken one.
    """
    import subprocess

    import imageio_ffmpeg

    from studio.errors import StudioError

    if not videos:
        raise StudioError("nothing was rendered, so there is no video to save")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, listing = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".concat.txt", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for v in videos:
            fh.write("file '" + str(Path(v).resolve()).replace("'", "'\\''") + "'\n")
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-nostdin",
        "-v",
        "error",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        listing,
        "-i",
        str(audio_wav),
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-b:a",
        str(audio_bitrate),
        "-ac",
        "1",
        "-movflags",
        "+faststart",
    ]
    for key, value in (metadata or {}).items():
        cmd += ["-metadata", f"{key}={value}"]
    try:
        with atomic_path(out) as tmp:
            proc = subprocess.run([*cmd, "-f", "mp4", str(tmp)], capture_output=True, text=True)
            if proc.returncode != 0 or tmp.stat().st_size == 0:
                tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
                raise StudioError(f"could not assemble the video ({tail[0]}): try the render again")
    finally:
        Path(listing).unlink(missing_ok=True)
    return out


def _fit(samples: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``n`` samples."""
    if len(samples) >= n:
        return samples[:n]
    return np.concatenate([samples, np.zeros(n - len(samples), np.float32)])


def probe(path: str | Path) -> dict[str, Any]:
    """Streams of a media file: codec, pixel format, fps, duration (s), frame count, sample rate."""
    import av

    info: dict[str, Any] = {"streams": []}
    with av.open(str(path)) as c:
        info["format"] = c.format.name
        info["duration"] = (c.duration or 0) / 1e6
        info["metadata"] = dict(c.metadata)
        for s in c.streams:
            row = {
                "type": s.type,
                "codec": s.codec_context.name,
                "duration": float(s.duration * s.time_base) if s.duration else None,
            }
            if s.type == "video":
                row.update(
                    pix_fmt=s.codec_context.pix_fmt,
                    width=s.codec_context.width,
                    height=s.codec_context.height,
                    fps=float(s.average_rate) if s.average_rate else None,
                    frames=s.frames,
                )
            elif s.type == "audio":
                row.update(sample_rate=s.codec_context.sample_rate, channels=s.codec_context.channels)
            info["streams"].append(row)
    return info


def is_faststart(path: str | Path) -> bool:
    """True when the MP4 'moov' atom comes before 'mdat' (playback starts before download ends)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    moov, mdat = head.find(b"moov"), head.find(b"mdat")
    return moov != -1 and (mdat == -1 or moov < mdat)
