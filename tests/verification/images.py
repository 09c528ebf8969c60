"""Real image files for the pipeline's tests, generated with Pillow (HEIC through pillow-heif)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

import verification.pipeline  # noqa: F401 - registers the HEIF opener

GPS_TEXT = "WGS-84-MNV-GPS-MARKER"
MAKER_TEXT = "MnvPhoneMaker"


def halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue: where they end up shows how the picture was turned."""
    image = Image.new("RGB", (width, height), (220, 20, 20))
    image.paste((20, 20, 220), (width // 2, 0, width, height))
    return image


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def phone_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a phone writes it: orientation, maker, and a GPS position (Tokyo) with a recognisable datum."""
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = MAKER_TEXT  # Make
    gps = exif.get_ifd(0x8825)  # GPSInfo
    gps[1] = "N"
    gps[2] = (35.0, 40.0, 52.3)
    gps[3] = "E"
    gps[4] = (139.0, 46.0, 1.2)
    gps[18] = GPS_TEXT  # GPSMapDatum
    return exif


def phone_jpeg(width: int = 400, height: int = 300) -> bytes:
    """A JPEG stored sideways with EXIF orientation 6 (turn 90° clockwise to view), GPS and a comment."""
    return encoded(halves(width, height), "JPEG", quality=90, exif=phone_exif(6).tobytes(), comment=b"MNV-COMMENT")


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


def jpeg_markers(data: bytes) -> list[int]:
    """The marker codes of a JPEG's segments up to the start of scan (APPn 0xE0-0xEF, COM 0xFE...)."""
    assert data[:2] == b"\xff\xd8"
    markers: list[int] = []
    position = 2
    while position < len(data):
        assert data[position] == 0xFF
        marker = data[position + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + length
    return markers
