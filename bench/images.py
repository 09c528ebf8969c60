"""The image pipeline on a 12-megapixel phone photo, beside Pillow's bare decode + encode of the same file.

Run: ``.venv/bin/python -m bench.images [--rounds N]``. Generates a 4032 × 3024 noisy gradient JPEG (quality 92)
carrying EXIF orientation 6 and a GPS position, as an iPhone or Android camera writes it, then times
``verification.pipeline.clean_image`` (header and pixel checks, decode with DCT scaling where it helps, shrink to
2,400 px, turn upright, re-encode at quality 85 without metadata) and, in the same run, Pillow's plain
``Image.open(...).load()`` + ``save(JPEG, quality=85)`` of the same bytes at full size. Prints the median
milliseconds per image of each and the ratio pipeline ÷ bare.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

from PIL import Image

from verification.pipeline import clean_image

WIDTH, HEIGHT = 4032, 3024


def phone_photo() -> bytes:
    """A 12-megapixel JPEG with noise over a colour gradient (compresses like a photo, not like a flat card)."""
    noise = Image.effect_noise((WIDTH, HEIGHT), 40)
    horizontal = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    vertical = Image.linear_gradient("L").rotate(90).resize((WIDTH, HEIGHT))
    red = Image.blend(horizontal, noise, 0.35)
    green = Image.blend(vertical, noise, 0.35)
    blue = Image.blend(horizontal.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise, 0.35)
    photo = Image.merge("RGB", (red, green, blue))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90° clockwise to view
    exif[0x010F] = "BenchPhone"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (35.0, 40.0, 52.3), 3: "E", 4: (139.0, 46.0, 1.2), 18: "WGS-84"})
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def bare(data: bytes) -> bytes:
    """Pillow alone: decode every pixel and encode again at the same quality, nothing else."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=85)
        return out.getvalue()


def pipeline(data: bytes) -> bytes:
    return clean_image(data).jpeg


def median_ms(fn: Callable[[bytes], bytes], data: bytes, rounds: int) -> float:
    fn(data)  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn(data)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    data = phone_photo()
    clean = clean_image(data)
    print(f"photo: {WIDTH}×{HEIGHT} JPEG, {len(data) / 1e6:.1f} MB, EXIF orientation 6 + GPS")
    print(f"clean: {clean.width}×{clean.height} JPEG, {len(clean.jpeg) / 1e6:.1f} MB, no metadata")
    pipeline_ms = median_ms(pipeline, data, rounds)
    bare_ms = median_ms(bare, data, rounds)
    print(f"pipeline (clean_image):           {pipeline_ms:7.1f} ms per image (median of {rounds})")
    print(f"Pillow bare decode + encode:      {bare_ms:7.1f} ms per image (median of {rounds})")
    print(f"ratio pipeline ÷ bare:            {pipeline_ms / bare_ms:7.2f}")


if __name__ == "__main__":
    main()
