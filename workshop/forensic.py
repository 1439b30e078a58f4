"""The forensic mark: a download id drawn faintly into every served page, and read back from a leak.

The mark is a 14 × 14 Data Matrix symbol (written by zxing-cpp) of the download id's first 48 bits
(its first 8 characters; the access log has the rest) and a 5-bit check, drawn as part of the
page's own drawing: dark modules darken what is under them and light modules lighten it, both at a
low opacity, so it shows on white, dark and photographic pages alike. Copies are tiled edge to
edge from the page's visible top-left corner, so that every window of half the page's width and
half its height holds at least one whole copy: a quarter of a slide holds about nine. Modules are
6.48 pt (9 px at 100 dpi: out of step with a JPEG's 8-pixel blocks, so that no copy loses the same
modules to them as the next) unless the page is too small for that. Over a photograph the copies
are drawn stronger, as far as the texture under them hides it (``busyness``, noted at prepare).

Reading (``find_ids_in_image``) does not rely on any one copy being clean: it removes the local
background (the image minus its blur), leaves out pixels where the page's own drawing is strong
(text, edges) and weights the rest by how flat it is, and folds the image onto one lattice cell,
averaging every copy it holds, so the page's content averages away while the mark adds up. The
symbol is found in the cell by the modules every symbol shares (finder, timing),
each module is sampled, and zxing-cpp reads the clean matrix (each module also decided with its
neighbours' spill taken out, as a JPEG's rounding of whole blocks leaves it). A cell is read in up to
three ways (``READINGS``): the background a wide blur; the rows' and columns' means taken out too (a
table's bands); a closer background (a photograph's own detail). The scale is known for a rendered
PDF and searched for in an image (the lattice's autocorrelation gives it, with and without the rows'
and columns' means). A result counts only after the symbol's own Reed-Solomon correction (five of
its 18 codewords mended) and with the right form and check: noise does not name anyone. Where this
blind reading sees nothing (a quarter of a photograph), ``informed`` reads the leak again with its
original taken away.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import time
from functools import cache

import numpy as np
import zxingcpp
from PIL import Image, ImageOps

from .isolate import Refusal

MODULE_PT = 6.48  # 9 px at 100 dpi, at most
ROWS = COLS = 14  # modules of a copy: the symbol alone, copies touching (the reader needs no quiet zone)
# Opacity of the dark and light modules, by what is under a copy (see ``busyness``): 0 plain, 1
# textured, 2 very textured (texture hides the mark from the eye and from the reader alike), 3 black,
# 4 near black.
# On a dark ground SSIM's luminance term punishes a shift of a grey level or two, and JPEG at
# quality 60 rounds each 8 × 8 block's mean to steps of 1.6 grey levels, so a mark of one level
# vanishes. Near black (level 4), light modules add and dark ones take away a level over a centred
# square ``NEAR_BLACK_SIDE`` (of a module, across and down): two levels between them outlive that
# rounding. On black (level 3) nothing can be taken away and every level added is costly, so light
# modules add two levels over a centred rectangle ``BLACK_LIGHT_SIDE`` and dark ones do nothing: a
# block of black that holds most of one is rounded up, not away (5 × 5 px is read a little more
# often after JPEG but takes black pages' SSIM below 0.97; 4 × 4 px of three levels costs more and
# is read less). Renderers draw an opacity of n/255 over black as n grey levels; over a ground of g
# a little less, which pdfium rounds down: hence 2, not 1. The sides are whole pixels at 100 dpi,
# where the edges stay sharp.
MARK_ALPHAS = ((0.017, 0.017), (0.03, 0.03), (0.045, 0.045), (0.0, 0.008), (0.02, 0.008))
BUSY_LEVELS = (9.0, 18.0)  # local contrast (grey levels) from which a copy is drawn stronger
BLACK_GROUND = 2.5  # median grey level under a plain copy below which it is drawn as level 3
DARK_GROUND = 16.0  # ... and below which as level 4
BLACK_LIGHT_SIDE = (6 / 9, 4 / 9)  # 6 × 4 px of a 9-px module
NEAR_BLACK_SIDE = (8 / 9, 8 / 9)  # 8 × 8 px
SQUARE_SIDES = {"3": BLACK_LIGHT_SIDE, "4": NEAR_BLACK_SIDE}  # levels drawn as centred rectangles
LEVEL_DIGITS = "01234"
CHECK_DOMAIN = b"conclave forensic mark v2"
FOLD_MODULE_PX = 8
SAMPLE = 3  # a module is sampled over the 6 × 6 pixels at its centre (of 8 × 8 in a folded cell)
PEAKS = 5  # places in a folded cell tried for the symbol, best first
# Finer and coarser periods tried around each guess of an image's scale: a JPEG's 8-pixel blocks pull
# the lattice's autocorrelation peak towards them by up to a percent.
# Where the lattice's own repetition says nothing, the scales leaks are most often at: a page at 100 dpi,
# and a slide shown 1366 pixels wide.
SCREEN_DPIS = (100, 72 * 1366 / 720)
SCALE_STEPS = (0.0, -0.005, 0.005, -0.0025, 0.0025, -0.0075, 0.0075, -0.01, 0.01)
LIKELY = 0.15  # correlation with the shared modules above which doubtful modules are tried flipped


# --- the payload --------------------------------------------------------------------------


def is_markable(download_id: str) -> bool:
    """Download ids are ``public_id()``s: 16 base64url characters, 12 bytes."""
    try:
        body = base64.urlsafe_b64decode(download_id.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False
    return len(download_id) == 16 and base64.urlsafe_b64encode(body).decode() == download_id


PREFIX_CHARS = 8  # the mark carries a download id's first 8 characters: 48 bits
CHECK_BITS = 5
DIGITS = 16  # 48 + 5 bits < 10 ** 16


def _check(body: bytes) -> int:
    return hashlib.sha256(CHECK_DOMAIN + body).digest()[0] >> (8 - CHECK_BITS)


def payload(download_id: str) -> str:
    """What the symbol carries: the first 48 bits of the download id (its first 8 characters) and a
    5-bit check as one number of 16 decimal digits. Data Matrix packs two digits into a codeword, so
    every id takes 8 codewords and every symbol is the same 14 × 14 square, the smallest that holds
    them with 10 codewords of correction (it mends 5 of 18 codewords). 48 random bits tell apart
    the downloads of any event; the trace looks up the rest."""
    if not is_markable(download_id):
        raise ValueError("A download id is 16 base64url characters.")
    body = base64.urlsafe_b64decode(download_id[:PREFIX_CHARS].encode("ascii"))
    return str((int.from_bytes(body, "big") << CHECK_BITS) | _check(body)).zfill(DIGITS)


def id_from_payload(text: str) -> str | None:
    """The download id's first 8 characters that a decoded symbol carries, or None when its form or
    check is wrong."""
    if len(text) != DIGITS or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    if number >> (48 + CHECK_BITS):
        return None
    body = (number >> CHECK_BITS).to_bytes(6, "big")
    if _check(body) != number & ((1 << CHECK_BITS) - 1):
        return None
    return base64.urlsafe_b64encode(body).decode()


def symbol(download_id: str) -> np.ndarray:
    """The Data Matrix modules (True = dark), top row first: 14 × 14."""
    code = zxingcpp.create_barcode(payload(download_id), zxingcpp.BarcodeFormat.DataMatrix)
    return np.array(code.to_image(scale=1, add_quiet_zones=False)) < 128


# --- drawing ------------------------------------------------------------------------------


def geometry(seen_w: float, seen_h: float) -> tuple[float, list[tuple[float, float]]]:
    """The module size (pt) and the copies' bottom-left corners (in modules, from the visible
    bottom-left) for a page seen as ``seen_w`` × ``seen_h``.

    Copies touch, in rows and columns from the top-left corner: a window of half the page's width
    and height always holds a whole copy when two copies fit across half the width and two down
    half the height."""
    module = min(MODULE_PT, seen_w / 2 / (2 * COLS), seen_h / 2 / (2 * ROWS))
    cols, rows = seen_w / module, seen_h / module
    return module, [(x, rows - (row + 1) * ROWS) for row in range(int(-(-rows // ROWS)))
                    for x in range(0, int(-(-cols // COLS)) * COLS, COLS)]


def _runs(modules: np.ndarray) -> bytes:
    """The dark modules as one path of horizontal runs, in module units, y up."""
    height, width = modules.shape
    parts = []
    for i, row in enumerate(modules):
        y = height - 1 - i
        j = 0
        while j < width:
            if row[j]:
                k = j
                while k < width and row[k]:
                    k += 1
                parts.append(b"%d %d %d 1 re" % (j, y, k - j))
                j = k
            else:
                j += 1
    return b"\n".join(parts)


def _squares(modules: np.ndarray, side: tuple[float, float]) -> bytes:
    """The marked modules as one path of rectangles ``side`` (across, down) of a module, centred, y up."""
    height = modules.shape[0]
    across, down = side
    return b"\n".join(b"%.4f %.4f %.4f %.4f re" % (j + (1 - across) / 2, height - 1 - i + (1 - down) / 2, across, down)
                       for i, j in zip(*np.nonzero(modules), strict=True))


def busyness(grey: np.ndarray, seen_w: float, seen_h: float) -> str:
    """One digit per copy of the mark (in ``geometry``'s order for a page seen as ``seen_w`` × ``seen_h``
    pt) saying how textured the page is under it: 0 plain, 1 textured, 2 very, 3 plain and black, 4 plain
    and near black. ``grey``: the page rendered upright (at any scale)."""
    h, w = grey.shape
    module, corners = geometry(seen_w, seen_h)
    module_px = module * w / seen_w
    detail = grey - blur(grey, 2.0)
    local = np.sqrt(np.maximum(blur(detail * detail, 1.5), 0))
    digits = []
    for x, y in corners:
        left, top = int(max(0, x * module_px)), int(max(0, h - (y + ROWS) * module_px))
        right, bottom = int(min(w, (x + COLS) * module_px)), int(min(h, h - y * module_px))
        area, shades = local[top:bottom, left:right], grey[top:bottom, left:right]
        if not area.size:
            digits.append("0")
            continue
        # Text and charts on a plain background leave most of it plain: there a stronger mark
        # shows as it would on a blank page. Only a copy over texture nearly everywhere (a
        # photograph) is drawn stronger.
        plain = float((np.abs(shades - np.median(shades)) <= 4).mean())
        level = float(np.median(area))
        digit = ("2" if plain < 0.15 and level >= BUSY_LEVELS[1] else
                 "1" if plain < 0.3 and level >= BUSY_LEVELS[0] else "0")
        ground = float(np.median(shades))
        if digit == "0" and ground < DARK_GROUND:
            digit = "3" if ground < BLACK_GROUND else "4"
        digits.append(digit)
    return "".join(digits)


def pdf_mark_ops(download_id: str, left: float, bottom: float, width: float, height: float, rotation: int,
                 levels: str = "") -> bytes:
    """Content-stream operators that draw the mark over a page whose visible box is given.

    Uses the graphics states ``/MarkDark<n>`` and ``/MarkLight<n>``, n the copy's level from
    ``levels`` (the caller names them in the page's resources). The even-odd fill of the square
    plus the dark runs paints the light modules with the same path text, which compresses to
    almost nothing."""
    modules = symbol(download_id)
    if rotation == 90:
        seen_w, seen_h, to_user = height, width, b"0 1 -1 0 %.3f %.3f cm" % (left + width, bottom)
    elif rotation == 180:
        seen_w, seen_h, to_user = width, height, b"-1 0 0 -1 %.3f %.3f cm" % (left + width, bottom + height)
    elif rotation == 270:
        seen_w, seen_h, to_user = height, width, b"0 -1 1 0 %.3f %.3f cm" % (left, bottom + height)
    else:
        seen_w, seen_h, to_user = width, height, b"1 0 0 1 %.3f %.3f cm" % (left, bottom)
    module, corners = geometry(seen_w, seen_h)
    if len(levels) != len(corners) or set(levels) - set(LEVEL_DIGITS):
        levels = "0" * len(corners)
    dark = _runs(modules)
    out = [b"q", to_user, b"%.4f 0 0 %.4f 0 0 cm" % (module, module)]
    for level in sorted(set(levels)):
        chosen = [corner for corner, mine in zip(corners, levels, strict=True) if mine == level]
        side = SQUARE_SIDES.get(level)
        if MARK_ALPHAS[int(level)][0] > 0:
            out.append(b"/MarkDark%s gs 0 g" % level.encode())
            shape = _squares(modules, side) if side else dark
            out += [b"q 1 0 0 1 %.3f %.3f cm\n%s f Q" % (x, y, shape) for x, y in chosen]
        out.append(b"/MarkLight%s gs 1 g" % level.encode())
        if side:
            light = _squares(~modules, side)
            out += [b"q 1 0 0 1 %.3f %.3f cm\n%s f Q" % (x, y, light) for x, y in chosen]
        else:
            out += [b"q 1 0 0 1 %.3f %.3f cm\n0 0 %d %d re\n%s f* Q" % (x, y, COLS, ROWS, dark) for x, y in chosen]
    out.append(b"Q")
    return b"\n".join(out) + b"\n"


# --- reading ------------------------------------------------------------------------------


def _box(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """The mean over ``2 × radius + 1`` pixels along ``axis``, edges repeated."""
    radius = max(int(radius), 1)
    a = np.moveaxis(a, axis, 0)
    padded = np.concatenate([np.repeat(a[:1], radius + 1, 0), a, np.repeat(a[-1:], radius, 0)])
    sums = np.cumsum(padded, axis=0, dtype=np.float64)
    out = (sums[2 * radius + 1:] - sums[: -2 * radius - 1]) / (2 * radius + 1)
    return np.moveaxis(out.astype(np.float32), 0, axis)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    return _box(_box(mask.astype(np.float32), radius, 0), radius, 1) > 1e-6


def blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of about ``sigma`` pixels: three box passes each way, on a copy shrunk by
    ``sigma / 2`` first when the blur is wide (the result is smooth, so nothing is lost)."""
    a = np.asarray(a, np.float32)
    factor = int(sigma // 2)
    if factor >= 2 and min(a.shape) >= 4 * factor:
        h, w = a.shape
        small = np.asarray(Image.fromarray(a, "F").resize((max(1, w // factor), max(1, h // factor)), Image.BOX))
        small = blur(small, sigma / factor)
        return np.asarray(Image.fromarray(small, "F").resize((w, h), Image.BILINEAR), np.float32)
    radius = max(int(round((np.sqrt(4 * sigma * sigma + 1) - 1) / 2)), 1)
    out = a
    for _ in range(3):
        out = _box(_box(out, radius, 0), radius, 1)
    return out


def _residual(grey: np.ndarray, flatten_lines: bool = False, background_modules: float = 1.5
              ) -> tuple[np.ndarray, np.ndarray]:
    """The image minus its local background, and a weight that leaves out the page's strong strokes.

    The background is a blur that ignores the strokes (a normalised convolution), so that text
    leaves no halo of its own around it to fold into the result."""
    sigma = background_modules * FOLD_MODULE_PX
    weight = np.ones_like(grey, dtype=np.float32)
    residual = grey - blur(grey, sigma)
    for _ in range(2):
        typical = float(np.median(np.abs(residual[weight > 0]))) * 1.4826 + 0.5 if weight.any() else 1.0
        strong = _dilate(np.abs(residual) > 4 * typical + 2, 2)
        weight = (~strong).astype(np.float32)
        background = blur(grey * weight, sigma) / np.maximum(blur(weight, sigma), 1e-3)
        residual = grey - background
    # Horizontal and vertical edges (table rows, bands, columns) leave a bias along them that the
    # blur cannot follow; along a whole row or column the mark itself averages to nothing.
    # A row of the mark has a mean of its own too (a finder edge is solid), so this is a second
    # reading, tried when the first finds nothing.
    if flatten_lines:
        for axis in (1, 0):
            total = (residual * weight).sum(axis=axis, keepdims=True)
            residual = residual - total / np.maximum(weight.sum(axis=axis, keepdims=True), 1)
    # Textured parts of a photo hide the mark under noise of their own: each pixel counts in
    # inverse proportion to the local variance around it, so flat parts carry the average.
    local = blur((residual * weight) ** 2, FOLD_MODULE_PX) / np.maximum(blur(weight, FOLD_MODULE_PX), 1e-3)
    weight = weight / (local + 4.0)
    return residual * weight, weight


def _fold(residual: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Average the image onto one copy's place (ROWS × COLS modules of ``FOLD_MODULE_PX``)."""
    period_x, period_y = COLS * FOLD_MODULE_PX, ROWS * FOLD_MODULE_PX
    h, w = residual.shape
    rows, cols = -(-h // period_y), -(-w // period_x)
    padded = np.zeros((rows * period_y, cols * period_x), np.float32)
    weights = np.zeros_like(padded)
    padded[:h, :w], weights[:h, :w] = residual, weight
    total = padded.reshape(rows, period_y, cols, period_x).sum(axis=(0, 2))
    count = weights.reshape(rows, period_y, cols, period_x).sum(axis=(0, 2))
    return total / np.maximum(count, 1)


def _at_scale(grey: np.ndarray, module_px: float, target: float = FOLD_MODULE_PX) -> np.ndarray:
    """``grey`` resampled so that a module of ``module_px`` pixels becomes ``target`` pixels."""
    if abs(module_px - target) < 0.0005 * target:
        return grey
    h, w = grey.shape
    factor = target / module_px
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(grey.astype(np.float32), "F").resize(size, Image.BILINEAR), np.float32)


def _period_guesses(grey: np.ndarray, count: int = 3, flatten_lines: bool = False) -> list[float]:
    """Module sizes (px) at which the image repeats the way the mark's tiling does: peaks of the
    weighted residual's autocorrelation at the tiling's vectors (COLS, 0), (0, ROWS) and their
    sum and difference, in modules, scanned over module sizes of 3 to 30 px."""
    shrink = max(1.0, max(grey.shape) / 1200)
    if shrink > 1:
        h, w = grey.shape
        grey = np.asarray(Image.fromarray(grey.astype(np.float32), "F").resize(
            (round(w / shrink), round(h / shrink)), Image.BOX), np.float32)
    residual, weight = _residual(grey, flatten_lines)
    h, w = residual.shape
    shape = (2 * h, 2 * w)
    auto = np.fft.irfft2(np.abs(np.fft.rfft2(residual, s=shape)) ** 2, s=shape)
    overlap = np.fft.irfft2(np.abs(np.fft.rfft2(weight, s=shape)) ** 2, s=shape)
    auto = auto / np.maximum(overlap, 0.05 * overlap.max())
    auto /= auto[0, 0] + 1e-9

    def at(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        y0, x0 = np.floor(dy).astype(int), np.floor(dx).astype(int)
        fy, fx = dy - y0, dx - x0
        total = 0
        for oy, ox, weight_ in ((0, 0, (1 - fy) * (1 - fx)), (1, 0, fy * (1 - fx)), (0, 1, (1 - fy) * fx),
                                (1, 1, fy * fx)):
            total = total + weight_ * auto[(y0 + oy) % shape[0], (x0 + ox) % shape[1]]
        return total

    modules = np.exp(np.linspace(np.log(3 / shrink), np.log(30 / shrink), 1200))
    vectors = [(0, COLS), (ROWS, 0), (ROWS, COLS), (ROWS, -COLS)]
    fits = []
    for dy, dx in vectors:
        usable = (np.abs(dy * modules) < h * 0.8) & (np.abs(dx * modules) < w * 0.8)
        fits.append(np.where(usable, at(dy * modules, dx * modules), 0.0))
    score = np.sum(fits, axis=0)
    guesses: list[float] = []
    for index in np.argsort(score)[::-1]:
        module = float(modules[index] * shrink)
        if score[index] <= 0:
            break
        if all(abs(module / g - 1) > 0.03 for g in guesses):
            guesses.append(module)
        if len(guesses) == count:
            break
    return guesses


@cache
def _ring() -> np.ndarray:
    """+1 (light) / -1 (dark) on the modules every symbol shares: the solid L of the finder and the
    alternating timing edges; 0 on the data modules."""
    sample = symbol("A" * 16)
    ring = np.zeros((ROWS, COLS), np.float32)
    edge = np.zeros((ROWS, COLS), bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    ring[edge] = np.where(sample[edge], -1.0, 1.0)
    return ring


def _pure(modules: np.ndarray) -> np.ndarray:
    """A clean picture of a module matrix (True = dark) for zxing: 6 px a module, wide quiet zone."""
    image = np.where(np.pad(modules, 3, constant_values=False), 0, 255).astype(np.uint8)
    return np.kron(image, np.ones((6, 6), np.uint8))


def _template(turn: int) -> np.ndarray:
    """The ring as a folded cell shows it, turned by ``turn`` quarter turns (a leak may be turned)."""
    return np.kron(np.rot90(_ring(), turn), np.ones((FOLD_MODULE_PX, FOLD_MODULE_PX), np.float32))


def _read_cell(cell: np.ndarray) -> tuple[set[str], float]:
    """Find the symbol in a folded cell by correlating it with the ring every symbol shares, sample
    each module's centre and hand the clean matrix to zxing. Returns the ids and the best score.
    The cell is one copy's place, so the symbol may straddle its edges: indices wrap around."""
    px = FOLD_MODULE_PX
    found: set[str] = set()
    best_score = 0.0
    spectrum = np.fft.rfft2(cell)
    for turn in range(4):
        ring = np.rot90(_ring(), turn)
        template = _template(turn)
        score = np.fft.irfft2(spectrum * np.conj(np.fft.rfft2(template)), s=cell.shape)
        norm = float(np.sqrt((cell**2).sum() * (template**2).sum())) + 1e-9
        tried: list[tuple[int, int]] = []
        for flat in np.argsort(score, axis=None)[::-1][:64]:
            dy, dx = (int(v) for v in np.unravel_index(flat, score.shape))
            if any(abs(dy - y) <= 2 and abs(dx - x) <= 2 for y, x in tried):
                continue  # the same peak, a pixel off
            tried.append((dy, dx))
            if len(tried) > PEAKS:
                break
            best_score = max(best_score, float(score[dy, dx]) / norm)
            rows = (dy + np.arange(ROWS)[:, None] * px + px // 2 + np.arange(-SAMPLE, SAMPLE)[None, :]) % cell.shape[0]
            cols = (dx + np.arange(COLS)[:, None] * px + px // 2 + np.arange(-SAMPLE, SAMPLE)[None, :]) % cell.shape[1]
            means = cell[rows[:, None, :, None], cols[None, :, None, :]].mean(axis=(2, 3))
            found = _decode_modules(means, ring, turn, score[dy, dx] / norm >= LIKELY)
            if found:
                return found, best_score
    return found, best_score


def _decode_modules(means: np.ndarray, ring: np.ndarray, turn: int, likely: bool) -> set[str]:
    """Read a sampled module matrix (negative = dark). When zxing cannot, flip the least certain
    data modules one and two at a time: a handful of wrong modules in a dozen doubtful ones is
    the usual failure, and Reed-Solomon plus the id's check keep a flip from naming anyone else."""
    known = ring != 0
    data = np.flatnonzero(~known)
    # Where light and dark modules meet: between the shared modules' two means, which is not always
    # zero (a JPEG of a near-black page lifts whole blocks, so light modules stand out more than dark
    # ones sink). A few thresholds around that are tried before any flip.
    light, dark = float(means[ring > 0].mean()), float(means[ring < 0].mean())
    middle = (light + dark) / 2 if light > dark else 0.0
    spread = max(light - dark, 0.0)
    thresholds = [middle, 0.0, middle - 0.15 * spread, middle + 0.15 * spread]
    doubtful = data[np.argsort(np.abs(means.ravel()[data] - middle))[:12]]
    first = [means < t for t in thresholds] + [_equalized(means, ring, middle)]
    trials: list[tuple[np.ndarray, tuple]] = [(modules, ()) for modules in first]
    if likely:  # only where the shared modules stand out: the flips cost time, not certainty
        trials += [(first[0], (i,)) for i in doubtful]
        trials += [(first[0], (i, j)) for n, i in enumerate(doubtful) for j in doubtful[n + 1:]]
    for decided, flips in trials:
        modules = decided.copy()
        modules[known] = ring[known] < 0  # the shared modules are known: no error there
        modules = modules.ravel()
        modules[list(flips)] ^= True
        picture = _pure(np.rot90(modules.reshape(means.shape), -turn))
        for result in zxingcpp.read_barcodes(picture, formats=zxingcpp.BarcodeFormat.DataMatrix, is_pure=True,
                                             try_rotate=False, try_downscale=False, try_invert=False):
            download_id = id_from_payload(result.text)
            if download_id:
                return {download_id}
    return set()


def _equalized(means: np.ndarray, ring: np.ndarray, middle: float, rounds: int = 4) -> np.ndarray:
    """The dark modules, each decided with what its neighbours spill into it taken out.

    A JPEG of a dark page rounds whole 8-pixel blocks up or down, so a light module among dark ones
    reads darker than one among light ones (and the other way round). The sampled value is taken
    as a constant plus the module's own part plus a part of its four side and four corner
    neighbours; the parts are fitted by least squares on the current decisions (the shared modules
    are known), each module is decided again with its neighbours' spill removed, and so on."""
    known = ring != 0
    light = means >= middle
    light[known] = ring[known] > 0
    for _ in range(rounds):
        padded = np.pad(light.astype(np.float32), 1, mode="edge")
        sides = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
        corners = padded[:-2, :-2] + padded[:-2, 2:] + padded[2:, :-2] + padded[2:, 2:]
        terms = np.stack([np.ones(means.size), light.ravel(), sides.ravel(), corners.ravel()], 1)
        (base, own, side, corner), *_ = np.linalg.lstsq(terms, means.ravel().astype(np.float64), rcond=None)
        spill = base + side * sides + corner * corners
        decided = np.abs(means - spill - own) < np.abs(means - spill)
        decided[known] = ring[known] > 0
        if (decided == light).all():
            break
        light = decided
    return ~light


# The ways a cell is read, tried in turn: the local background taken as a blur of 1.5 modules; the same
# with each row's and column's mean taken out too (a table's bands, a chart's axes); a background of
# 0.75 modules (a photograph's own detail, removed more closely, at the cost of some of the mark's).
READINGS = ((False, 1.5), (True, 1.5), (False, 0.75))


def _cell_at(grey: np.ndarray, module_px: float, reading: tuple[bool, float] = READINGS[0]) -> np.ndarray:
    residual, weight = _residual(_at_scale(grey, module_px), *reading)
    return _fold(residual, weight)


def _distinct(*lists: list[float]) -> list[float]:
    """The scales of ``lists`` taken in turn (first of each, then second of each...), none within 3% of one
    taken before."""
    out: list[float] = []
    for rank in range(max(map(len, lists), default=0)):
        for scales in lists:
            if rank < len(scales) and all(abs(scales[rank] / g - 1) > 0.03 for g in out):
                out.append(scales[rank])
    return out


def find_ids_in_image(grey: np.ndarray, module_px: float | None = None, deadline: float | None = None) -> set[str]:
    """The first 8 characters of every download id whose mark this greyscale image holds (the mark
    carries no more; the access log has the rest). ``module_px``: the module size when
    known (a page rendered at a known dpi); otherwise it is searched for, scale after scale until
    ``deadline`` (``time.monotonic()``), when given, has passed."""
    grey = np.asarray(grey, np.float32)
    if grey.shape[0] < 2 * ROWS or grey.shape[1] < 2 * COLS:
        return set()
    if module_px:
        for reading in READINGS:
            found = _read_cell(_cell_at(grey, module_px, reading))[0]
            if found:
                return found
        return set()
    return _search(grey, deadline)[0]


def _search(grey: np.ndarray, deadline: float | None) -> tuple[set[str], float]:
    """``find_ids_in_image`` at an unknown scale: the ids and the module size (px) they were read at.

    Where the image repeats as the lattice does (with and without the rows' and columns' means, which a
    table's bands would otherwise lead astray), then the usual screen scales. Every scale is read the
    first way; the two likeliest the other ways too."""
    guesses = _distinct(_distinct(_period_guesses(grey), _period_guesses(grey, flatten_lines=True))
                        + [MODULE_PT * dpi / 72 for dpi in SCREEN_DPIS])
    attempts = [(guess, READINGS[0]) for guess in guesses]
    attempts += [(guess, reading) for guess in guesses[:2] for reading in READINGS[1:]]
    for guess, reading in attempts:
        if deadline is not None and time.monotonic() > deadline:
            break
        residual, weight = _residual(_at_scale(grey, guess), *reading)
        # Slightly finer and coarser periods (the residual is resampled, not recomputed): each folded
        # cell is scored by how well the shared modules stand out in it, and only the best three are read.
        cells = [_fold(_at_scale(residual, 1 + step, 1.0), _at_scale(weight, 1 + step, 1.0))
                 for step in SCALE_STEPS]
        scores = [_ring_score(cell) for cell in cells]
        for index in sorted(range(len(cells)), key=lambda i: -scores[i])[:3]:
            found, _ = _read_cell(cells[index])
            if found:
                return found, guess * (1 + SCALE_STEPS[index])
    return set(), 0.0


def _ring_score(cell: np.ndarray) -> float:
    """How strongly the ring every symbol shares stands out in a folded cell (normalised correlation)."""
    spectrum = np.fft.rfft2(cell)
    best = 0.0
    for turn in range(4):
        template = _template(turn)
        score = np.fft.irfft2(spectrum * np.conj(np.fft.rfft2(template)), s=cell.shape)
        norm = float(np.sqrt((cell**2).sum() * (template**2).sum())) + 1e-9
        best = max(best, float(score.max()) / norm)
    return best


def grey_of(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), np.float32)


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- leaked files (each runs in a child process) -------------------------------------------

VISIBLE_ID = re.compile(r"download\s*id\s*([A-Za-z0-9_-]{16})(?![A-Za-z0-9_-])", re.IGNORECASE)
READ_DPI = 100
SEARCHED_PAGES = 5  # pages of a PDF searched at every scale while none has shown a mark
MAX_IMAGE_PIXELS = 80_000_000


def page_grey(page, dpi: float = READ_DPI) -> np.ndarray:
    """A pypdfium2 page rendered upright at ``dpi``, in grey."""
    return grey_of(page.render(scale=dpi / 72, may_draw_forms=False).to_pil())


def leaked_image_grey(data: bytes) -> np.ndarray:
    """A leaked PNG or JPEG upright (its EXIF orientation), in grey, within the pixel limit. Raises Refusal."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        return grey_of(ImageOps.exif_transpose(open_image(data)))
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise Refusal("This image cannot be read.") from error


def note(found: dict, download_id: str, how: str, page: int | None) -> None:
    """Add ``download_id`` found ``how`` (on ``page``) to ``found``, one entry per id."""
    entry = found.setdefault(download_id, {"download_id": download_id, "how": [], "pages": []})
    if how not in entry["how"]:
        entry["how"].append(how)
    if page is not None and page not in entry["pages"]:
        entry["pages"].append(page)


def find_in_pdf(data: bytes, seconds: float, max_pages: int) -> list[dict]:
    """Ids in a leaked PDF: whole ones in its text, and the first 8 characters of ones in the mark of
    each page rendered at 100 dpi, at the scale the page size implies. While no page has shown a mark,
    the first pages are also searched at every scale (as after a reprint to another paper size), and
    the scale a search finds is used for the pages after it. The mark's 8 characters are reported on
    their own even where they begin an id in the text: the text may have been altered."""
    import pypdfium2

    deadline = time.monotonic() + seconds * 0.8
    found: dict = {}
    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as error:
        raise Refusal("This PDF is damaged and cannot be read.") from error
    try:
        count = min(len(document), max_pages)
        scale, searched, marked = 1.0, 0, False  # scale: the mark's size against what the page size implies
        for index in range(count):
            page = document[index]
            text = page.get_textpage().get_text_range()
            for match in VISIBLE_ID.finditer(text):
                if is_markable(match.group(1)):
                    note(found, match.group(1), "visible text", index + 1)
            if time.monotonic() > deadline:
                continue
            width, height = page.get_size()  # as shown, rotation applied
            module_pt, _ = geometry(width, height)
            grey = page_grey(page)
            implied = module_pt * READ_DPI / 72
            ids = find_ids_in_image(grey, implied * scale)
            if not ids and not marked and searched < SEARCHED_PAGES:
                searched += 1
                ids, module_px = _search(grey, deadline)
                scale = module_px / implied if ids else scale
            marked = marked or bool(ids)
            for download_id in ids:
                note(found, download_id, "forensic mark", index + 1)
    finally:
        document.close()
    return list(found.values())


def find_in_image(data: bytes, seconds: float) -> list[dict]:
    """The first 8 characters of the ids in a leaked PNG or JPEG: the mark, at a scale searched for."""
    deadline = time.monotonic() + seconds * 0.8
    grey = leaked_image_grey(data)
    found: dict = {}
    for download_id in find_ids_in_image(grey, deadline=deadline):
        note(found, download_id, "forensic mark", None)
    return list(found.values())
