"""The forensic mark: a download id drawn faintly into every served page, and read back from a leak.

The mark is a Data Matrix code (written by zxing-cpp) of the download id's 12 bytes plus a check
byte, drawn as part of the page's own drawing: dark modules darken what is under them and light
modules lighten it, both at a low opacity, so it shows on white, dark and photographic pages
alike. Copies sit on a sheared lattice fixed in points from the page's visible top-left corner,
so that every window of half the page's width and half its height holds at least one whole
copy. Modules are 5.76 pt (8 px at 100 dpi, a JPEG block) unless the page is too small for that.

Reading (``find_ids_in_image``) does not rely on any one copy being clean: it removes the local
background (the image minus its blur), leaves out pixels where the page's own drawing is strong
(text, edges), and folds the image onto one lattice cell, averaging every copy it holds, so the
page's content averages away while the mark adds up. Then zxing-cpp reads the folded cell at a
few contrasts. The scale is known for a rendered PDF and searched for an image (autocorrelation
of the residual gives the lattice period). A result counts only with the right length and check
byte, after the code's own Reed-Solomon correction: noise does not name anyone.
"""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import zxingcpp
from PIL import Image

MODULE_PT = 5.76  # 8 px at 100 dpi
QUIET = 1  # light modules around the symbol, part of each copy
ROW_SHIFT = 20  # in modules: each row of copies is shifted by one copy's width ...
ROW_STEP = 12  # ... and sits 12 modules below the previous one
MARK_DARK_ALPHA = 0.02
MARK_LIGHT_ALPHA = 0.02
CHECK_DOMAIN = b"conclave forensic mark v1"
FOLD_MODULE_PX = 8


# --- the payload --------------------------------------------------------------------------


def _check(body: bytes) -> bytes:
    return hashlib.sha256(CHECK_DOMAIN + body).digest()[:1]


def payload(download_id: str) -> bytes:
    """The bytes the code carries: the id's 12 bytes (ids are 16 base64url characters) and a check
    byte; an id of another form is carried as its UTF-8 text, in a larger symbol."""
    try:
        body = base64.urlsafe_b64decode(download_id.encode("ascii"))
        canonical = len(download_id) == 16 and base64.urlsafe_b64encode(body).decode() == download_id
    except (ValueError, UnicodeEncodeError):
        canonical = False
    if not canonical:
        body = b"\x00" + download_id.encode("utf-8")
    return body + _check(body)


def id_from_payload(data: bytes) -> str | None:
    """The download id a decoded symbol carries, or None when its length or check byte is wrong."""
    if len(data) < 2:
        return None
    body, check = data[:-1], data[-1:]
    if _check(body) != check:
        return None
    if len(body) == 12:
        return base64.urlsafe_b64encode(body).decode()
    if body[:1] == b"\x00":
        try:
            text = body[1:].decode("utf-8")
        except UnicodeDecodeError:
            return None
        return text if text.isprintable() and text else None
    return None


def symbol(download_id: str) -> np.ndarray:
    """The Data Matrix modules (True = dark) with the quiet zone, top row first."""
    code = zxingcpp.create_barcode(payload(download_id), zxingcpp.BarcodeFormat.DataMatrix)
    modules = np.array(code.to_image(scale=1, add_quiet_zones=False)) < 128
    return np.pad(modules, QUIET, constant_values=False)


# --- drawing ------------------------------------------------------------------------------


def geometry(seen_w: float, seen_h: float, size: int) -> tuple[float, list[tuple[float, float]]]:
    """The module size (pt) and the copies' bottom-left corners (in modules, from the visible
    bottom-left) for a page seen as ``seen_w`` × ``seen_h`` and a symbol ``size`` modules wide.

    Rows ``ROW_STEP`` modules apart, copies ``2 × size`` apart in a row, each row shifted by
    ``size``: a window of half the page's size always holds a whole copy when a copy is at most a
    sixth of the width and ``1/3.2`` of the height (8/5 of a copy plus the row step)."""
    module = min(MODULE_PT, seen_w / 6 / size, seen_h / 3.2 / size)
    step = ROW_STEP * size / 20
    cols, rows = seen_w / module, seen_h / module
    corners = []
    row = 0
    while rows - row * step > 0:
        top = rows - row * step
        x = (row * size) % (2 * size) - 2 * size
        while x < cols:
            if x + size > 0 and top > 0:
                corners.append((x, top - size))
            x += 2 * size
        row += 1
    return module, corners


def _runs(modules: np.ndarray) -> bytes:
    """The dark modules as one path of horizontal runs, in module units, y up."""
    size = modules.shape[0]
    parts = []
    for i, row in enumerate(modules):
        y = size - 1 - i
        j = 0
        while j < size:
            if row[j]:
                k = j
                while k < size and row[k]:
                    k += 1
                parts.append(b"%d %d %d 1 re" % (j, y, k - j))
                j = k
            else:
                j += 1
    return b"\n".join(parts)


def pdf_mark_ops(download_id: str, left: float, bottom: float, width: float, height: float, rotation: int) -> bytes:
    """Content-stream operators that draw the mark over a page whose visible box is given.

    Uses two graphics states, ``/MarkDark`` and ``/MarkLight`` (the caller names them in the
    page's resources). The even-odd fill of the square plus the dark runs paints the light
    modules with the same path text, which compresses to almost nothing."""
    modules = symbol(download_id)
    size = modules.shape[0]
    if rotation == 90:
        seen_w, seen_h, to_user = height, width, b"0 1 -1 0 %.3f %.3f cm" % (left + width, bottom)
    elif rotation == 180:
        seen_w, seen_h, to_user = width, height, b"-1 0 0 -1 %.3f %.3f cm" % (left + width, bottom + height)
    elif rotation == 270:
        seen_w, seen_h, to_user = height, width, b"0 -1 1 0 %.3f %.3f cm" % (left, bottom + height)
    else:
        seen_w, seen_h, to_user = width, height, b"1 0 0 1 %.3f %.3f cm" % (left, bottom)
    module, corners = geometry(seen_w, seen_h, size)
    dark = _runs(modules)
    out = [b"q", to_user, b"%.4f 0 0 %.4f 0 0 cm" % (module, module), b"/MarkDark gs 0 g"]
    out += [b"q 1 0 0 1 %.3f %.3f cm\n%s f Q" % (x, y, dark) for x, y in corners]
    out.append(b"/MarkLight gs 1 g")
    out += [b"q 1 0 0 1 %.3f %.3f cm\n0 0 %d %d re\n%s f* Q" % (x, y, size, size, dark) for x, y in corners]
    out.append(b"Q")
    return b"\n".join(out) + b"\n"


def image_mark(grey_size: tuple[int, int], download_id: str, module_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Masks (dark, light) of the mark for an image ``grey_size`` = (width, height) whose modules
    are ``module_px`` pixels: float arrays in [0, 1], the share of each pixel each kind covers."""
    modules = symbol(download_id)
    size = modules.shape[0]
    width, height = grey_size
    module_pt, corners = geometry(width, height, size)  # one pixel = one point here
    scale = module_px if module_px else module_pt
    dark = np.zeros((height, width), np.float32)
    light = np.zeros((height, width), np.float32)
    tile = np.kron(modules, np.ones((1, 1)))
    for x, y in corners:
        x0 = x * scale
        top = height - (y + size) * scale
        cell = Image.fromarray((tile * 255).astype(np.uint8)).resize(
            (max(1, round(size * scale)), max(1, round(size * scale))), Image.NEAREST)
        cell = np.asarray(cell, np.float32) / 255
        xa, ya = round(x0), round(top)
        xs, ys = max(0, -xa), max(0, -ya)
        xe, ye = min(cell.shape[1], width - xa), min(cell.shape[0], height - ya)
        if xe <= xs or ye <= ys:
            continue
        dark[ya + ys:ya + ye, xa + xs:xa + xe] = cell[ys:ye, xs:xe]
        light[ya + ys:ya + ye, xa + xs:xa + xe] = 1 - cell[ys:ye, xs:xe]
    return dark, light


# --- reading ------------------------------------------------------------------------------


def _box(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    radius = max(int(radius), 1)
    pad = [(radius + 1, radius) if ax == axis else (0, 0) for ax in range(a.ndim)]
    c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
    n = c.shape[axis]
    hi = np.take(c, np.arange(2 * radius + 1, n), axis=axis)
    lo = np.take(c, np.arange(0, n - 2 * radius - 1), axis=axis)
    return ((hi - lo) / (2 * radius + 1)).astype(np.float32)


def blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of about ``sigma`` pixels: three box passes each way."""
    radius = max(int(round((np.sqrt(4 * sigma * sigma + 1) - 1) / 2)), 1)
    out = a.astype(np.float32)
    for _ in range(3):
        out = _box(_box(out, radius, 0), radius, 1)
    return out


def _decode(tile: np.ndarray) -> set[str]:
    found = set()
    spread = float(tile.std()) + 1e-6
    for contrast in (2.5, 1.5, 4.0):
        u8 = np.clip((tile / (contrast * spread) + 1) * 127.5, 0, 255).astype(np.uint8)
        for result in zxingcpp.read_barcodes(u8, formats=zxingcpp.BarcodeFormat.DataMatrix, try_rotate=True):
            download_id = id_from_payload(result.bytes)
            if download_id:
                found.add(download_id)
        if found:
            break
    return found


def _residual(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image minus its local background, and a weight that leaves out the page's strong strokes.

    The background is a blur that ignores the strokes (a normalised convolution), so that text
    leaves no halo of its own around it to fold into the result."""
    sigma = 1.5 * FOLD_MODULE_PX
    weight = np.ones_like(grey, dtype=np.float32)
    residual = grey - blur(grey, sigma)
    for _ in range(2):
        typical = float(np.median(np.abs(residual[weight > 0]))) * 1.4826 + 0.5 if weight.any() else 1.0
        strong = blur((np.abs(residual) > 4 * typical + 2).astype(np.float32), 1.5) > 0.02
        weight = (~strong).astype(np.float32)
        background = blur(grey * weight, sigma) / np.maximum(blur(weight, sigma), 1e-3)
        residual = grey - background
    return residual * weight, weight


def _fold(residual: np.ndarray, weight: np.ndarray, size: int) -> np.ndarray:
    """Average the image onto one lattice cell (2 × size by 2 × ROW_STEP modules, both copies in it)."""
    period_x, period_y = 2 * size * FOLD_MODULE_PX, 2 * ROW_STEP * size // 20 * FOLD_MODULE_PX
    h, w = residual.shape
    rows, cols = -(-h // period_y), -(-w // period_x)
    padded = np.zeros((rows * period_y, cols * period_x), np.float32)
    weights = np.zeros_like(padded)
    padded[:h, :w], weights[:h, :w] = residual, weight
    total = padded.reshape(rows, period_y, cols, period_x).sum(axis=(0, 2))
    count = weights.reshape(rows, period_y, cols, period_x).sum(axis=(0, 2))
    shifted_total = np.roll(total, (period_y // 2, period_x // 2), axis=(0, 1))
    shifted_count = np.roll(count, (period_y // 2, period_x // 2), axis=(0, 1))
    return (total + shifted_total) / np.maximum(count + shifted_count, 1)


def _at_scale(grey: np.ndarray, module_px: float) -> np.ndarray:
    if abs(module_px - FOLD_MODULE_PX) < 0.02:
        return grey
    h, w = grey.shape
    factor = FOLD_MODULE_PX / module_px
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(grey.astype(np.float32), "F").resize(size, Image.BILINEAR), np.float32)


def _period_guesses(grey: np.ndarray, size: int) -> list[float]:
    """Module sizes (px) suggested by the residual's autocorrelation along rows (the lattice repeats
    every 2 × size modules across)."""
    residual = grey - blur(grey, 6)
    residual -= residual.mean(axis=1, keepdims=True)
    spectrum = np.abs(np.fft.rfft(residual, n=2 * residual.shape[1], axis=1)) ** 2
    auto = np.fft.irfft(spectrum.sum(axis=0))[: residual.shape[1]]
    lags = np.arange(len(auto))
    low, high = int(2 * size * 3), min(int(2 * size * 26), len(auto) - 2)
    if high <= low:
        return []
    window = auto[low:high] / (len(auto) - lags[low:high])
    best = np.argsort(window)[::-1]
    guesses: list[float] = []
    for index in best[:40]:
        module = (low + index) / (2 * size)
        if all(abs(module - g) > 0.3 for g in guesses):
            guesses.append(float(module))
        if len(guesses) == 3:
            break
    return guesses


def find_ids_in_image(grey: np.ndarray, module_px: float | None = None, size: int = 20) -> set[str]:
    """Every download id whose mark this greyscale image holds. ``module_px``: the module size when
    known (a page rendered at a known dpi); otherwise it is searched for."""
    grey = np.asarray(grey, np.float32)
    candidates = [module_px] if module_px else []
    candidates += [m for m in _period_guesses(grey, size) if not module_px or abs(m - module_px) > 0.3]
    if not module_px:
        candidates += [8.0, 8.0 * 96 / 100, 8.0 * 72 / 100, 8.0 * 150 / 100, 8.0 * 2]
    found: set[str] = set()
    for module in candidates:
        if module < 2 or module * 2 * size > 2 * max(grey.shape) * 4:
            continue
        scaled = _at_scale(grey, module)
        residual, weight = _residual(scaled)
        folded = _fold(residual, weight, size)
        found |= _decode(blur(np.tile(folded, (2, 2)), 1.0))
        if not found:
            found |= _decode(blur(residual, 1.0))
        if found:
            return found
    return found


def grey_of(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), np.float32)


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
