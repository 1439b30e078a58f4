"""PNG and JPEG materials: prepared (upright, no metadata, no bombs) and stamped like a PDF page."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pytest
from PIL import Image

from bench import quality, samples
from bench.trace import grey_rgb, jpeg_bytes, png, quarter
from workshop.watermark import (
    AGAINST_ORIGINAL,
    JPEG,
    PDF,
    PNG,
    StampError,
    can_stamp,
    find_against_originals,
    find_download_ids,
    prepare,
    stamp,
)

pytestmark = pytest.mark.dbfree  # nothing here touches the database: CI runs it once

DOWNLOAD_ID = "Im4geStampedOnce"
LINES = ["Ada Lovelace", "ada@example.org", "2025-01-01 10:00 UTC", f"download id {DOWNLOAD_ID}"]


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@cache
def slide_png() -> bytes:
    return png(quality.render(samples.deck(2), 144)[1])


@cache
def photo_jpeg() -> bytes:
    # A photograph without large pure-black areas: there SSIM's luminance term punishes any light
    # module at all (bench.stamp's "black" row shows by how much).
    return samples._photo("coffee.png", (1200, 900), 90)


def test_which_types_are_stamped():
    assert [can_stamp(kind) for kind in (PDF, PNG, JPEG)] == [True, True, True]
    assert not any(can_stamp(kind) for kind in ("image/gif", "image/webp", "application/zip", "video/mp4",
                                                "application/vnd.openxmlformats-officedocument.presentationml"
                                                ".presentation"))


def test_prepare_turns_a_photo_upright_and_drops_its_metadata():
    image = Image.fromarray(np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (200, 1)))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90°
    exif[0x010F] = "Camera maker"
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", exif=exif.tobytes())
    prepared = Image.open(io.BytesIO(prepare(out.getvalue(), JPEG).data))
    assert prepared.size == (200, 300)
    assert not prepared.getexif() and b"Camera maker" not in prepare(out.getvalue(), JPEG).data


@pytest.mark.parametrize("data, content_type, message", [
    (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64, PNG, "damaged"),
    (jpeg_bytes(np.zeros((20, 20, 3), np.uint8)), PNG, "not the PNG"),
    (b"GIF89a" + b"\x00" * 40, "image/gif", "not stamped"),
])
def test_what_cannot_be_prepared_is_refused(data, content_type, message):
    with pytest.raises(StampError, match=message):
        prepare(data, content_type)


def test_an_image_bomb_is_refused_without_decoding_it():
    out = io.BytesIO()
    Image.new("1", (12000, 12000)).save(out, "PNG")  # a few kilobytes, 144 million pixels
    assert len(out.getvalue()) < 100_000
    with pytest.raises(StampError, match="million pixels"):
        prepare(out.getvalue(), PNG)


@pytest.mark.parametrize("kind", ["slide", "photo"])
def test_a_stamped_image_keeps_its_look_and_names_its_person(kind):
    data, content_type = (slide_png(), PNG) if kind == "slide" else (photo_jpeg(), JPEG)
    prepared = prepare(data, content_type).data
    stamped = stamp(prepared, content_type, LINES, DOWNLOAD_ID)
    assert Image.open(io.BytesIO(stamped)).format == ("PNG" if content_type == PNG else "JPEG")
    before, after = decoded(prepared), decoded(stamped)
    assert before.shape == after.shape
    height = before.shape[0]
    assert quality.psnr(before, after) >= 30
    assert quality.ssim_outside_stamp(before, after, dpi=100 * height / 562) >= 0.97
    strip = np.abs(quality.grey(after)[-height // 30:] - quality.grey(before)[-height // 30:])
    assert (strip > 40).mean() > 0.005, "the visible line is there"
    assert [found.download_id for found in find_download_ids(stamped)] == [DOWNLOAD_ID[:8]]


def test_a_quarter_of_a_stamped_slide_image_in_grey_jpeg_still_names_its_person():
    stamped = decoded(stamp(prepare(slide_png(), PNG).data, PNG, LINES, DOWNLOAD_ID))
    h, w = stamped.shape[:2]
    leaked = jpeg_bytes(grey_rgb(stamped[h // 4:h // 4 + h // 2, w // 3:w // 3 + w // 2]), 60)
    assert [found.download_id for found in find_download_ids(leaked)] == [DOWNLOAD_ID[:8]]


def test_transparency_is_kept():
    rgba = np.zeros((300, 500, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 200, np.tile(np.linspace(0, 255, 500, dtype=np.uint8), (300, 1))
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, "PNG")
    stamped = Image.open(io.BytesIO(stamp(prepare(out.getvalue(), PNG).data, PNG, LINES, DOWNLOAD_ID)))
    assert stamped.mode == "RGBA"
    assert np.array_equal(np.asarray(stamped)[..., 3], rgba[..., 3])


@pytest.mark.parametrize("level", [0, 8])
def test_a_black_or_near_black_slide_image_keeps_its_look_and_survives_jpeg(level):
    """As on a PDF page: on black the light modules add two levels in smaller squares; near black the
    mark adds a level to light modules and takes one from dark ones, which JPEG's rounding keeps."""
    original = png(quality.render(samples.ground_slide(level), 144)[0])
    prepared = prepare(original, PNG).data
    before, after = decoded(prepared), decoded(stamp(prepared, PNG, LINES, DOWNLOAD_ID))
    assert quality.ssim_outside_stamp(before, after, dpi=144) >= 0.97
    assert [found.download_id for found in find_download_ids(jpeg_bytes(after, 60))] == [DOWNLOAD_ID[:8]]


def test_a_quarter_of_a_photograph_image_is_read_against_its_original():
    original = prepare(photo_jpeg(), JPEG).data
    served = decoded(stamp(original, JPEG, LINES, DOWNLOAD_ID))
    leak = jpeg_bytes(quarter(grey_rgb(served), np.random.default_rng(2)), 60)
    (found,) = find_against_originals(leak, [(prepare(slide_png(), PNG).data, PNG), (original, JPEG)])
    assert found.download_id == DOWNLOAD_ID[:8] and found.how == (AGAINST_ORIGINAL,) and found.pages == ()
