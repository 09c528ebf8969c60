"""The image pipeline: what it accepts (by decoding), what it refuses, and what it keeps of an upload."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.verification.images import (
    GPS_TEXT,
    MAKER_TEXT,
    encoded,
    halves,
    jpeg_markers,
    phone_exif,
    phone_jpeg,
    png_header_only,
)
from verification.pipeline import UNREADABLE, CleanImage, ImageRejected, clean_image

APP1_EXIF, APP2_ICC, APP13_IPTC, COMMENT = 0xE1, 0xE2, 0xED, 0xFE


def opened(clean: CleanImage) -> Image.Image:
    image = Image.open(io.BytesIO(clean.jpeg))
    image.load()
    return image


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {"quality": 90}), ("HEIF", {"quality": 90})],
)
def test_each_accepted_format_comes_out_as_a_clean_jpeg(fmt: str, params: dict[str, object]) -> None:
    data = encoded(halves(640, 480), fmt, **params)
    clean = clean_image(data)
    image = opened(clean)
    assert image.format == "JPEG" and image.mode == "RGB"
    assert (clean.width, clean.height) == image.size == (640, 480)
    assert image.getpixel((100, 240))[0] > 150 and image.getpixel((540, 240))[2] > 150  # red left, blue right


def test_a_heic_declared_as_jpeg_by_name_is_still_decoded_by_content() -> None:
    heic = encoded(halves(320, 240), "HEIF")
    assert heic[4:12] == b"ftypheic"
    assert clean_image(heic).width == 320


def test_a_phone_jpeg_is_turned_upright_and_loses_its_exif_gps_and_comment() -> None:
    data = phone_jpeg(400, 300)
    assert GPS_TEXT.encode() in data and MAKER_TEXT.encode() in data  # the fixture really carries them
    clean = clean_image(data)
    image = opened(clean)
    assert (clean.width, clean.height) == image.size == (300, 400)  # orientation 6: stored sideways, shown upright
    # Turned 90° clockwise: the stored left (red) half is now on top, the right (blue) half at the bottom.
    assert image.getpixel((150, 50))[0] > 150 and image.getpixel((150, 350))[2] > 150
    assert not image.getexif() and "exif" not in image.info and "comment" not in image.info
    assert GPS_TEXT.encode() not in clean.jpeg and MAKER_TEXT.encode() not in clean.jpeg
    assert b"MNV-COMMENT" not in clean.jpeg
    assert not {APP1_EXIF, APP2_ICC, APP13_IPTC, COMMENT} & set(jpeg_markers(clean.jpeg))


@pytest.mark.parametrize("fmt", ["HEIF", "WEBP", "PNG"])
def test_other_formats_with_exif_orientation_and_gps_come_out_upright_and_clean(fmt: str) -> None:
    data = encoded(halves(400, 300), fmt, exif=phone_exif(6).tobytes())
    clean = clean_image(data)
    image = opened(clean)
    assert image.size == (300, 400)
    assert image.getpixel((150, 50))[0] > 150 and image.getpixel((150, 350))[2] > 150
    assert GPS_TEXT.encode() not in clean.jpeg and not image.getexif()


def test_an_icc_profile_and_xmp_are_dropped() -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encoded(halves(200, 100), "JPEG", icc_profile=icc, xmp=b"<x:xmpmeta>MNV-XMP</x:xmpmeta>")
    clean = clean_image(data)
    assert "icc_profile" not in opened(clean).info and b"MNV-XMP" not in clean.jpeg
    assert not {APP1_EXIF, APP2_ICC} & set(jpeg_markers(clean.jpeg))


def test_a_large_photo_is_shrunk_to_the_long_side_keeping_its_shape() -> None:
    clean = clean_image(encoded(halves(3000, 1000), "JPEG"), long_side=2400)
    assert (clean.width, clean.height) == (2400, 800)
    clean = clean_image(encoded(halves(1000, 3000), "PNG"), long_side=1200)
    assert (clean.width, clean.height) == (400, 1200)


def test_a_small_photo_is_not_enlarged() -> None:
    clean = clean_image(encoded(halves(300, 200), "PNG"))
    assert (clean.width, clean.height) == (300, 200)


def test_transparency_is_laid_on_white_and_sixteen_bit_greys_are_kept() -> None:
    transparent = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    assert opened(clean_image(encoded(transparent, "PNG"))).getpixel((50, 50)) >= (250, 250, 250)
    grey = Image.new("I;16", (100, 100), 40000)
    value = opened(clean_image(encoded(grey, "PNG"))).getpixel((50, 50))
    assert 150 < value[0] < 165  # 40000 / 256 ≈ 156


def test_a_pdf_is_refused() -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    with pytest.raises(ImageRejected) as refused:
        clean_image(pdf)
    assert refused.value.message == UNREADABLE


def test_an_executable_named_like_a_photo_is_refused() -> None:
    executable = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(range(256)) * 8  # "IMG_0001.jpg"
    with pytest.raises(ImageRejected) as refused:
        clean_image(executable)
    assert "JPEG・PNG・WebP・HEIC" in refused.value.message


def test_a_gif_is_refused_although_pillow_could_read_it() -> None:
    with pytest.raises(ImageRejected) as refused:
        clean_image(encoded(halves(50, 50), "GIF"))
    assert refused.value.message == UNREADABLE


def test_a_truncated_jpeg_is_refused() -> None:
    noisy = Image.effect_noise((600, 400), 60).convert("RGB")
    data = encoded(noisy, "JPEG", quality=90)
    with pytest.raises(ImageRejected) as refused:
        clean_image(data[: len(data) // 2])
    assert "途中で切れている" in refused.value.message


def test_a_twenty_thousand_square_bomb_is_refused_before_decoding() -> None:
    bomb = png_header_only(20_000, 20_000)
    assert len(bomb) < 200
    with pytest.raises(ImageRejected) as refused:
        clean_image(bomb)
    assert "画素数が多すぎます" in refused.value.message


def test_an_image_over_our_own_pixel_limit_is_refused_before_decoding() -> None:
    # 8,000 × 8,000 = 64 megapixels: under Pillow's own bomb limit, over ours (40 megapixels); the pixel data is
    # absent, so only a decode would notice.
    with pytest.raises(ImageRejected) as refused:
        clean_image(png_header_only(8_000, 8_000))
    assert "4,000万画素まで" in refused.value.message


def test_a_highly_compressed_huge_image_is_refused() -> None:
    data = encoded(Image.new("L", (7_000, 7_000), 0), "PNG", optimize=True)  # 49 megapixels in a few KB
    assert len(data) < 100_000
    with pytest.raises(ImageRejected) as refused:
        clean_image(data)
    assert "画素数が多すぎます" in refused.value.message


def test_a_file_over_the_size_limit_is_refused() -> None:
    data = encoded(Image.effect_noise((500, 500), 80).convert("RGB"), "PNG")
    with pytest.raises(ImageRejected) as refused:
        clean_image(data, max_bytes=len(data) - 1)
    assert "ファイルサイズが大きすぎます" in refused.value.message
    assert clean_image(data, max_bytes=len(data)).width == 500


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(ImageRejected) as refused:
        clean_image(b"")
    assert "空です" in refused.value.message


async def test_the_pipeline_runs_in_an_image_worker_thread() -> None:
    import threading

    from verification import pipeline

    seen: list[str] = []
    original = pipeline.clean_image

    def spy(data: bytes, **limits: int) -> CleanImage:
        seen.append(threading.current_thread().name)
        return original(data, **limits)

    pipeline.clean_image = spy  # type: ignore[assignment]
    try:
        clean = await pipeline.clean_image_in_worker(encoded(halves(300, 200), "PNG"), long_side=150)
    finally:
        pipeline.clean_image = original
    assert (clean.width, clean.height) == (150, 100)
    assert seen and seen[0].startswith("mnv-images")
    with pytest.raises(ImageRejected):
        await pipeline.clean_image_in_worker(b"not an image")
