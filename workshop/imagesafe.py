"""PNG and JPEG materials, prepared and stamped like PDF pages (with Pillow). Runs inside ``isolate``.

``prepare`` decodes the upload within a pixel limit (a decompression bomb is refused), turns it
upright from its EXIF orientation and re-encodes it without metadata (no camera, no GPS
position). ``stamp`` draws the forensic mark, with the same symbol, lattice and strengths as on
a PDF page, taking the image as a page at 100 dpi (modules of 9 px on an image at least as large
as a slide at 100 dpi, smaller on a smaller image), and the visible line at the foot, sized to
the image, in a grey chosen against what is under it.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from . import forensic
from .isolate import Refusal

PT_PER_PX = 0.72  # an image is laid out as a page at 100 dpi
MAX_PIXELS = 60_000_000
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
JPEG_QUALITY = 92


class ImageRefused(Refusal):
    """This image cannot be prepared or stamped; ``message`` says why."""


def _open(data: bytes, content_type: str) -> Image.Image:
    expected = FORMATS.get(content_type)
    if expected is None:
        raise ImageRefused("Only PNG and JPEG images are stamped.")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = Image.open(io.BytesIO(data))
        if image.format != expected:
            raise ImageRefused(f"This image is not the {expected} file its type says.")
        if image.width * image.height > MAX_PIXELS:
            raise ImageRefused(f"This image has more than {MAX_PIXELS // 1_000_000} million pixels; "
                               "save a smaller copy.")
        image.load()
        image = ImageOps.exif_transpose(image)
    except ImageRefused:
        raise
    except Image.DecompressionBombError as error:
        raise ImageRefused(f"This image has more than {MAX_PIXELS // 1_000_000} million pixels; "
                           "save a smaller copy.") from error
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageRefused("This image is damaged and cannot be read.") from error
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    return image


def _encode(image: Image.Image, content_type: str) -> bytes:
    out = io.BytesIO()
    if FORMATS[content_type] == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        image.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def prepare(data: bytes, content_type: str, limits) -> bytes:
    """The clean copy to keep: upright, metadata gone, re-encoded."""
    del limits  # the budget is the child process's
    return _encode(_open(data, content_type), content_type)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    import reportlab

    return ImageFont.truetype(str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"), size)


def _mark(rgb: np.ndarray, download_id: str) -> np.ndarray:
    """``rgb`` (float, 0–255) with the mark blended in, each copy as strong as the texture under it allows."""
    height, width = rgb.shape[:2]
    module_pt, corners = forensic.geometry(width * PT_PER_PX, height * PT_PER_PX)
    module_px = module_pt / PT_PER_PX
    grey = rgb.mean(axis=2)
    look_scale = 36 / 100  # the resolution ``pdfsafe`` looks at a PDF page with, for the same levels
    small = np.asarray(Image.fromarray(grey.astype(np.float32), "F").resize(
        (max(1, round(width * look_scale)), max(1, round(height * look_scale))), Image.BOX), np.float32)
    levels = forensic.busyness(small, width * PT_PER_PX, height * PT_PER_PX)
    modules = forensic.symbol(download_id)
    dark = np.zeros((height, width), np.float32)
    light = np.zeros((height, width), np.float32)
    across, down = max(1, round(forensic.COLS * module_px)), max(1, round(forensic.ROWS * module_px))
    cell = np.asarray(Image.fromarray(np.where(modules, 255, 0).astype(np.uint8)).resize(
        (across, down), Image.NEAREST), np.float32) / 255
    # On a black ground (level 3) the light modules are smaller squares, as in a PDF. Near black
    # (level 4) a PDF renderer adds or takes away a whole grey level (see ``forensic.MARK_ALPHAS``);
    # here that is done directly, since blending in floating point would take away nothing.
    shift = np.zeros((height, width), np.float32)
    def centred(pixels: int, side: float) -> np.ndarray:
        return np.abs((np.arange(pixels) + 0.5) / module_px % 1 - 0.5) <= side / 2

    def squares(side: tuple[float, float]) -> np.ndarray:
        return centred(down, side[1])[:, None] & centred(across, side[0])[None, :]

    black_light = (1 - cell) * squares(forensic.BLACK_LIGHT_SIDE)
    near_black = squares(forensic.NEAR_BLACK_SIDE)
    for (x, y), level in zip(corners, levels, strict=True):
        dark_alpha, light_alpha = forensic.MARK_ALPHAS[int(level)]
        left, top = round(x * module_px), round(height - (y + forensic.ROWS) * module_px)
        xs, ys = max(0, -left), max(0, -top)
        xe, ye = min(cell.shape[1], width - left), min(cell.shape[0], height - top)
        if xe <= xs or ye <= ys:
            continue
        block = cell[ys:ye, xs:xe]
        if level == "4":
            shift[top + ys:top + ye, left + xs:left + xe] = (1 - 2 * block) * near_black[ys:ye, xs:xe]
            continue
        dark[top + ys:top + ye, left + xs:left + xe] = block * dark_alpha
        light_block = black_light[ys:ye, xs:xe] if level == "3" else 1 - block
        light[top + ys:top + ye, left + xs:left + xe] = light_block * light_alpha
    out = rgb * (1 - dark[..., None])
    return np.clip(out + light[..., None] * (255 - out) + shift[..., None], 0, 255)


def _footer(image: Image.Image, lines: list[str]) -> None:
    """The visible line at the foot of ``image``, sized to it, in a grey that reads on what is under it."""
    from .pdfsafe import drawable, text_colour

    lines = [text for text in (drawable(line) for line in lines) if text] or ["?"]
    width, height = image.size
    size = max(9, round(min(width, height * 1.8) / 110))
    font = _font(size)
    draw = ImageDraw.Draw(image)
    joined = "  ·  ".join(lines)
    rows = [joined] if draw.textlength(joined, font=font) <= width * 0.94 else lines
    while size > 7 and max(draw.textlength(row, font=font) for row in rows) > width * 0.94:
        size -= 1
        font = _font(size)
    leading = round(size * 1.25)
    strip = np.asarray(image.convert("L"))[-leading * len(rows) - size // 2:, :]
    tone = float(np.median(strip)) / 255 if strip.size else 1.0
    shadow = text_colour(1 - tone if abs(tone - 0.45) > 0.05 else 0.0)
    y = height - leading * len(rows) - max(2, size // 4)
    for row in rows:
        x = (width - draw.textlength(row, font=font)) / 2
        offset = max(1, size // 14)
        draw.text((x + offset, y + offset), row, font=font, fill=tuple(round(c * 255) for c in shadow))
        draw.text((x, y), row, font=font, fill=tuple(round(c * 255) for c in text_colour(tone)))
        y += leading


def stamp(data: bytes, content_type: str, limits, lines: list[str], download_id: str | None) -> bytes:
    """A copy of the prepared image with the mark of ``download_id`` and the visible ``lines``."""
    del limits
    image = _open(data, content_type)
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    rgb = np.asarray(image.convert("RGB"), np.float32)
    if download_id and forensic.is_markable(download_id):
        rgb = _mark(rgb, download_id)
    stamped = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")
    _footer(stamped, lines)
    if alpha is not None:
        stamped.putalpha(alpha)
    return _encode(stamped, content_type)
