"""Reading photos safely: any common format, its quirks fixed, dangerous files refused.

EXIF orientation is applied, transparency composited on a neutral grey, greyscale, CMYK and 16-bit
images converted to 8-bit RGB, very large photos downscaled; missing, truncated, non-image and
decompression-bomb files raise one plain InputError.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.errors import InputError

MAX_PIXELS = 80_000_000  # larger images are refused: a decompression bomb, or a panorama
BACKDROP = (200, 200, 200)  # neutral grey behind transparent pixels (white would read as blown out)
WORK_MAX_SIDE = 4096  # larger photos are downscaled on load (faces stay far above what we need)
_READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError)


@dataclass
class Photo:
    """A decoded photo: RGB uint8 pixels, the size it had on disk (after rotation), and notes."""

    image: np.ndarray
    original_size: tuple[int, int]  # (width, height) in pixels, EXIF orientation applied
    notes: list[str] = field(default_factory=list)

    @property
    def scale(self) -> float:
        """Loaded pixels per original pixel (1.0 unless the photo was downscaled)."""
        return self.image.shape[1] / max(1, self.original_size[0])


def read_photo(path: str | Path, max_side: int = WORK_MAX_SIDE) -> Photo:
    """Decode any common photo into RGB uint8, whatever its format quirks.

    Applies EXIF orientation, composites transparency on a neutral grey, converts greyscale, CMYK and
    16-bit images, and downscales photos longer than ``max_side`` pixels. Raises InputError for
    missing, truncated, non-image or dangerously large files.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise InputError(f"cannot find the portrait {path}: check the file name")
    if not path.is_file():
        raise InputError(f"{path} is a folder, not a photo: give the path of a JPEG, PNG or WebP file")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS or w <= 0 or h <= 0:
                    raise InputError(
                        f"{path.name} is {w}x{h} pixels, too large to open safely: "
                        f"use a photo under {MAX_PIXELS // 1_000_000} megapixels"
                    )
                if max(w, h) > max_side and im.format == "JPEG":
                    # Decode straight at 1/2, 1/4 or 1/8 scale: fast and light on memory.
                    im.draft("RGB", (math.ceil(w * max_side / max(w, h)), math.ceil(h * max_side / max(w, h))))
                im.load()
                oriented, quarter_turn = _exif_upright(im, notes)
                rgb = _to_rgb(oriented, notes)
                # The size on disk, upright (a draft decode is smaller than that).
                orig_size = (h, w) if quarter_turn else (w, h)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"{path.name} is too large to open safely: use a photo under {MAX_PIXELS // 1_000_000} megapixels"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"{path.name} is not a photo this studio can read: use a JPEG, PNG or WebP file") from exc
    except MemoryError as exc:
        raise InputError(f"{path.name} is too large for the memory of this computer: use a smaller photo") from exc
    except _READ_ERRORS as exc:
        raise InputError(
            f"{path.name} is damaged or incomplete (it could not be decoded): export or copy the photo again"
        ) from exc
    if max(rgb.size) > max_side:
        f = max_side / max(rgb.size)
        rgb = rgb.resize(
            (max(1, round(rgb.size[0] * f)), max(1, round(rgb.size[1] * f))), Image.Resampling.LANCZOS, reducing_gap=2.0
        )
    if rgb.size != orig_size:
        notes.append(f"downscaled from {orig_size[0]}x{orig_size[1]} to {rgb.size[0]}x{rgb.size[1]} pixels")
    return Photo(np.asarray(rgb, dtype=np.uint8).copy(), (int(orig_size[0]), int(orig_size[1])), notes)


def _exif_upright(im, notes: list[str]):
    """The image turned as its EXIF orientation tag says, and whether that swapped width and height."""
    from PIL import ImageOps

    try:
        orientation = im.getexif().get(0x0112, 1)
        out = ImageOps.exif_transpose(im)
    except _READ_ERRORS:  # damaged EXIF: use the pixels as stored
        notes.append("the EXIF orientation tag is damaged and was ignored")
        return im, False
    if orientation not in (None, 1):
        notes.append(f"turned upright from EXIF orientation {orientation}")
    return (out if out is not None else im), orientation in (5, 6, 7, 8)


def _to_rgb(im, notes: list[str]):
    """Any PIL mode -> 8-bit RGB; transparency composited on ``BACKDROP``."""
    from PIL import Image, ImageCms

    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(im).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if mode == "F":
            top = max(1.0, float(arr.max(initial=1.0)))
        arr = np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        notes.append("converted from a 16-bit or floating-point image")
        return Image.fromarray(arr, "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min(initial=255) < 255:
            notes.append("transparent background placed on neutral grey")
        backdrop = Image.new("RGBA", rgba.size, (*BACKDROP, 255))
        return Image.alpha_composite(backdrop, rgba).convert("RGB")
    if mode == "CMYK":
        icc = im.info.get("icc_profile")
        if icc:
            try:
                import io

                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
                if out is not None:
                    notes.append("converted from CMYK with its colour profile")
                    return out
            except (ImageCms.PyCMSError, OSError, ValueError):
                pass  # fall back to the plain conversion below
        notes.append("converted from CMYK")
        return im.convert("RGB")
    if mode in ("1", "L"):
        return im.convert("RGB")
    return im.convert("RGB") if mode != "RGB" else im


def load_image(path: str | Path) -> np.ndarray:
    """Read a photo as RGB uint8 (EXIF orientation applied). Raises InputError if unreadable."""
    return read_photo(path).image
