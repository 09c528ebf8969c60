# STAND-IN: replaced by ft12-store at merge
"""Image pipeline (stand-in): decode with Pillow, apply EXIF orientation, drop metadata, downscale, re-encode."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError


@dataclass(frozen=True, slots=True)
class CleanImage:
    """The re-encoded image: JPEG bytes without metadata and its size in pixels."""

    jpeg: bytes
    width: int
    height: int


class ImageRejected(Exception):
    """An upload that is not an acceptable image; ``message`` says why in Japanese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean_image(
    data: bytes, *, max_bytes: int = 10 * 1024 * 1024, max_pixels: int = 40_000_000, long_side: int = 2400
) -> CleanImage:
    """Decode ``data`` (JPEG, PNG, WebP), orient it, strip metadata, fit ``long_side`` px, re-encode as JPEG.

    Errors: ``ImageRejected`` (too big, not an image, broken, too many pixels).
    """
    if len(data) > max_bytes:
        raise ImageRejected(f"画像が大きすぎます（1枚 {max_bytes // (1024 * 1024)} MB まで）。")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ("JPEG", "PNG", "WEBP"):
                raise ImageRejected("画像として読み取れません。写真（JPEG・PNG・WebP）を選んでください。")
            if image.width * image.height > max_pixels:
                raise ImageRejected("画像の画素数が多すぎます。カメラで撮り直してください。")
            image.load()
    except ImageRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning):
        raise ImageRejected("画像として読み取れません。写真（JPEG・PNG・WebP）を選んでください。") from None
    upright = ImageOps.exif_transpose(image).convert("RGB")
    upright.thumbnail((long_side, long_side))
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=85)
    return CleanImage(out.getvalue(), upright.width, upright.height)
