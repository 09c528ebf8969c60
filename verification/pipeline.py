"""The image pipeline of ID-document photos (issue 12): decode, check, orient, strip, shrink, re-encode.

Pure, synchronous CPU work (about 0.3 s for a 12-megapixel phone photo, ``bench/images.py``): callers run it in a
worker thread (:func:`clean_image_in_worker`), never on the event loop. Nothing touches the disk.

The type of an upload is decided by decoding it, never by its name or declared type: only what Pillow decodes as
JPEG, PNG, WebP or HEIC/HEIF (pillow-heif; iPhones send HEIC by default) is accepted. The pixel count is checked
from the header before anything is decoded (decompression bombs). What is kept is only the re-encoded JPEG: EXIF
(GPS, camera, date), XMP, ICC, comments and thumbnails of the upload are all dropped, its EXIF orientation is
applied to the pixels, and it is shrunk to at most ``long_side`` pixels on its long side. Source: issue 12
(本人確認オプション, seed 003) and DESIGN.md's upload rules.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Final

import pillow_heif
from PIL import ExifTags, Image, ImageFile

from app.workers import IMAGES, run_in_worker

pillow_heif.register_heif_opener()

# The formats Pillow may decode an upload as (its plugin ids; MPO, the multi-picture JPEG of many phones, is opened
# by the JPEG plugin). Everything else Pillow knows (GIF, TIFF, BMP, PSD, AVIF, EPS...) is refused.
ACCEPTED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "HEIF")
JPEG_QUALITY: Final = 85
DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS: Final = 40_000_000
DEFAULT_LONG_SIDE: Final = 2400

UNREADABLE = "画像を読み取れませんでした。JPEG・PNG・WebP・HEIC の写真を選んでください。"
BROKEN = "画像が途中で切れているか壊れているため読み取れませんでした。もう一度撮影するか、別の写真を選んでください。"
EMPTY = "画像ファイルが空です。写真を選び直してください。"

# EXIF Orientation -> the transposition that shows the picture upright (the mapping of PIL.ImageOps.exif_transpose).
_ORIENTATION: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, slots=True)
class CleanImage:
    """The re-encoded image: JPEG bytes without any metadata, upright, and its size in pixels."""

    jpeg: bytes
    width: int
    height: int


class ImageRejected(Exception):
    """The upload is not an image we accept; ``message`` is the Japanese sentence for the uploader (what to do)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    long_side: int = DEFAULT_LONG_SIDE,
) -> CleanImage:
    """Decode an uploaded photo and return it re-encoded as a clean JPEG.

    ``data``: the upload's bytes; ``max_bytes``: its size limit (setting ``MNV_VERIFICATION_MAX_IMAGE_BYTES``);
    ``max_pixels``: the pixel-count limit checked from the header before decoding; ``long_side``: the longest side
    of the result in pixels. Returns :class:`CleanImage` (EXIF orientation applied, RGB, JPEG quality 85, no EXIF,
    GPS, XMP, ICC or comment). Raises :class:`ImageRejected` with a Japanese message for an empty or too large
    file, a file that is not a JPEG/PNG/WebP/HEIC image, a truncated or corrupt one, or one with too many pixels.
    """
    if not data:
        raise ImageRejected(EMPTY)
    if len(data) > max_bytes:
        raise ImageRejected(
            f"画像のファイルサイズが大きすぎます（{_megabytes(max_bytes)} MB まで）。"
            "カメラの画質を下げて撮り直すか、別の写真を選んでください。"
        )
    image = _open(data, max_pixels)
    try:
        orientation = _orientation_of(image)
        target = _fitted(image.size, long_side)
        if image.format in ("JPEG", "MPO") and target != image.size:
            image.draft("RGB", target)  # DCT scaling: a large JPEG decodes straight to a size near the target
        _decode(image, max_pixels)
        pixels = _rgb(image)
        if pixels.size != target:
            # Bicubic (Pillow's thumbnail filter): text on a card stays sharp, and on a 12-megapixel photo it takes
            # ~125 ms where Lanczos takes ~175 ms (bench/images.py); the resize is most of the pipeline's cost.
            pixels = pixels.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
        if orientation in _ORIENTATION:
            pixels = pixels.transpose(_ORIENTATION[orientation])
        return _encoded(pixels)
    finally:
        image.close()


async def clean_image_in_worker(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    long_side: int = DEFAULT_LONG_SIDE,
) -> CleanImage:
    """:func:`clean_image` in a thread of the ``IMAGES`` worker pool (Pillow releases the GIL while it decodes,
    resizes and encodes), so the event loop keeps serving; ImageRejected as there. ``app.workers.off_loop`` is not
    the way for one image: below 64 items it runs inline, on the loop."""
    call = functools.partial(clean_image, max_bytes=max_bytes, max_pixels=max_pixels, long_side=long_side)
    return await run_in_worker(IMAGES, call, data)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Read the header (no pixels yet) as one of the accepted formats and check the pixel count."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise ImageRejected(_too_many_pixels(max_pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, RuntimeError):
        raise ImageRejected(UNREADABLE) from None
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise ImageRejected(UNREADABLE)
    if width * height > max_pixels:
        image.close()
        raise ImageRejected(_too_many_pixels(max_pixels))
    return image


def _too_many_pixels(max_pixels: int) -> str:
    return (
        f"画像の画素数が多すぎます（{max_pixels // 10_000:,}万画素まで）。"
        "スマートフォンのカメラで撮り直すか、縮小した写真を選んでください。"
    )


def _orientation_of(image: Image.Image) -> int:
    """The EXIF (or XMP) orientation of the upload, 1 when absent or unreadable."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a malformed EXIF block is dropped anyway; the picture is kept as stored
        return 1
    return value if isinstance(value, int) else 1


def _decode(image: Image.Image, max_pixels: int) -> None:
    """Decode every pixel; a truncated or corrupt file is refused (never decoded partially)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # a process-wide switch someone may have turned on: never for uploads
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay off for uploads")
    try:
        image.load()
    except Image.DecompressionBombError:
        raise ImageRejected(_too_many_pixels(max_pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, RuntimeError, MemoryError):
        raise ImageRejected(BROKEN) from None


def _fitted(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``size`` shrunk (never enlarged) so its longer side is at most ``long_side``, aspect ratio kept."""
    width, height = size
    longest = max(width, height)
    if longest <= long_side:
        return size
    scale = long_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _rgb(image: Image.Image) -> Image.Image:
    """The pixels as RGB: transparency laid on white (a screenshot of a card), 16-bit greys scaled to 8 bits."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return image.convert("I").point(lambda value: value / 256).convert("L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _encoded(pixels: Image.Image) -> CleanImage:
    """The pixels as a baseline JPEG with nothing else: no EXIF, ICC, XMP or comment is carried over."""
    pixels.info = {}  # convert/resize copy the upload's info (a JPEG comment would otherwise be written back)
    out = io.BytesIO()
    pixels.save(out, format="JPEG", quality=JPEG_QUALITY)
    return CleanImage(out.getvalue(), pixels.width, pixels.height)
