"""Reading a leak against its original: where the blind reading (``forensic``) sees no mark.

A copy of a photograph cut to a quarter holds three or four copies of the mark under fur, grass or
skin whose own detail is several times stronger than the mark. Without the original the reader
cannot tell the two apart; with it, the page's own picture can be taken away and only the mark
(and the leak's compression noise) is left. The organizers' trace has the originals at hand: the
prepared copies of the event's materials.

For each picture of the leak (an image, or the first pages of a PDF) and each page of an original,
OpenCV's ORB features are matched and a similarity transform (scale, rotation, shift) is fitted
with RANSAC. Where enough features agree, the original page is rendered at the leak's scale (a
PDF) or resized to it (an image), placed where the leak shows it, matched in brightness and
contrast, and subtracted. The difference is read as the blind reader reads a page (``forensic.
find_ids_in_image``) at the module size the transform gives. As there, a result counts only after
the symbol's own error correction and check: a wrong match names nobody.
"""

from __future__ import annotations

import time
from functools import cache

import numpy as np
from PIL import Image

from . import forensic
from .isolate import Refusal


@cache
def _cv():
    """OpenCV, imported in the child process that compares (``watermark`` only names this module to it):
    the web and task workers never load it. One thread: the child's memory budget counts every
    thread's stack, and a trace is one job among others."""
    import cv2

    cv2.setNumThreads(1)
    return cv2


FEATURES = 4000  # ORB keypoints in a picture of the leak ...
PAGE_FEATURES = 10000  # ... and in a whole page of an original, of which a quarter may be all the leak shows
MATCH_RATIO = 0.85  # a feature's best match must be this much closer than its second best
# Features that must agree on one transform before a page counts as the leak's. A wrong match costs
# only time: the difference it leaves holds no mark that passes the symbol's correction and check.
MIN_INLIERS = 15
MAX_DRIFT = 1.0  # pixels: a leak turned so that its far side drifts by more is turned back first
LEAK_PAGES = 5  # pages of a leaked PDF compared
SETTLE = 2  # pixels either way the fitted placement is tried around
SAME_SCALE = 0.005  # a fitted scale this close to 1 is taken as 1 (a crop, not a resize)
ORIGINAL_DPI = 100
MIN_SIDE = 32  # pixels: a picture smaller than this either way has no features to match
MAX_LEAK_PIXELS = 4_000_000  # a larger leak (a phone's photo of a screen) is matched and read shrunk to this
SCALES = (0.1, 10.0)  # a fitted scale outside these is a wrong match


def _u8(grey: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def _features(grey: np.ndarray, count: int = FEATURES) -> tuple[np.ndarray, np.ndarray | None]:
    """ORB keypoints (their positions only) and descriptors; none for a picture too small to hold any."""
    if min(grey.shape) < MIN_SIDE:
        return np.zeros((0, 2), np.float32), None
    points, descriptors = _cv().ORB_create(nfeatures=count).detectAndCompute(_u8(grey), None)
    return np.float32([point.pt for point in points]).reshape(-1, 2), descriptors


def _transform(leak_features, page_features) -> np.ndarray | None:
    """The 2 × 3 similarity taking page pixels to leak pixels, or None when too few features agree."""
    (leak_points, leak_descriptors), (page_points, page_descriptors) = leak_features, page_features
    if leak_descriptors is None or page_descriptors is None or len(leak_points) < MIN_INLIERS \
            or len(page_points) < MIN_INLIERS:
        return None
    cv = _cv()
    pairs = cv.BFMatcher(cv.NORM_HAMMING).knnMatch(leak_descriptors, page_descriptors, k=2)
    good = [pair[0] for pair in pairs if len(pair) == 2 and pair[0].distance < MATCH_RATIO * pair[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    source = page_points[[m.trainIdx for m in good]]
    target = leak_points[[m.queryIdx for m in good]]
    matrix, inliers = cv.estimateAffinePartial2D(source, target, method=cv.RANSAC, ransacReprojThreshold=2.0)
    if matrix is None or inliers is None or int(inliers.sum()) < MIN_INLIERS:
        return None
    return matrix


def _difference(leak: np.ndarray, page: np.ndarray, shift: tuple[float, float]) -> np.ndarray | None:
    """``leak`` minus ``page`` (same scale) placed at ``shift`` (where the page's top-left pixel lands in
    the leak), over the part they share, the page's brightness and contrast fitted to the leak's first.
    The fitted shift may be a pixel or two off: the placement that leaves the least is taken."""
    best = None
    for dy in range(-SETTLE, SETTLE + 1):
        for dx in range(-SETTLE, SETTLE + 1):
            difference = _placed(leak, page, (round(shift[0]) + dx, round(shift[1]) + dy))
            if difference is not None and (best is None or difference.var() < best.var()):
                best = difference
    return None if best is None else best + 128


def _placed(leak: np.ndarray, page: np.ndarray, shift: tuple[int, int]) -> np.ndarray | None:
    dx, dy = shift
    h, w = leak.shape
    top, left = max(0, dy), max(0, dx)
    bottom, right = min(h, dy + page.shape[0]), min(w, dx + page.shape[1])
    if bottom - top < 4 * forensic.ROWS or right - left < 4 * forensic.COLS:
        return None
    seen = leak[top:bottom, left:right]
    under = page[top - dy:bottom - dy, left - dx:right - dx]
    spread = float(under.var())
    gain = float(((under - under.mean()) * (seen - seen.mean())).mean()) / spread if spread > 1 else 1.0
    return seen - seen.mean() - gain * (under - under.mean())


class _Original:
    """The pages of one original, rendered (a PDF) or opened (an image). Only each page's features are
    kept between pictures of the leak: a page is rendered again where it matches."""

    def __init__(self, data: bytes, content_type: str, max_pages: int):
        self.pdf = None
        self.image: np.ndarray | None = None
        self.features: list = []
        if content_type == "application/pdf":
            import pypdfium2

            self.pdf = pypdfium2.PdfDocument(data)
            self.count = min(len(self.pdf), max_pages)
        else:
            self.image = forensic.leaked_image_grey(data)
            self.count = 1

    def page_features(self, index: int):
        while len(self.features) <= index:
            self.features.append(_features(self.at_scale(len(self.features), 1.0)[0], PAGE_FEATURES))
        return self.features[index]

    def at_scale(self, index: int, scale: float) -> tuple[np.ndarray, float]:
        """Page ``index`` and its module size in pixels, ``scale`` times its size at ``ORIGINAL_DPI`` (an
        image: at its own pixels): rendered so (a PDF), resized (an image)."""
        if abs(scale - 1) < SAME_SCALE:
            scale = 1.0
        if self.pdf is not None:
            page = self.pdf[index]
            width, height = page.get_size()
            dpi = ORIGINAL_DPI * scale
            grey = forensic.page_grey(page, dpi)
            return grey, forensic.geometry(width, height)[0] * dpi / 72
        from .imagesafe import PT_PER_PX

        h, w = self.image.shape
        module_px = forensic.geometry(w * PT_PER_PX, h * PT_PER_PX)[0] / PT_PER_PX
        if scale == 1.0:
            return self.image, module_px
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return np.asarray(Image.fromarray(self.image, "F").resize(size, Image.BICUBIC), np.float32), module_px * scale

    def close(self) -> None:
        if self.pdf is not None:
            self.pdf.close()


def _read_against(leak: np.ndarray, original: _Original, deadline: float) -> set[str]:
    leak_features = _features(leak)
    for index in range(original.count):
        if time.monotonic() > deadline:
            break
        matrix = _transform(leak_features, original.page_features(index))
        if matrix is None:
            continue
        scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
        turn = float(np.arctan2(matrix[1, 0], matrix[0, 0]))
        if not SCALES[0] <= scale <= SCALES[1]:
            continue
        seen = leak
        h, w = leak.shape
        if abs(turn) * max(h, w) > MAX_DRIFT:  # turn the leak back first: the mark's lattice must be upright
            cv = _cv()
            back = cv.getRotationMatrix2D((w / 2, h / 2), np.degrees(turn), 1.0)
            across = round(h * abs(back[0, 1]) + w * abs(back[0, 0]))  # the turned picture's whole extent
            down = round(h * abs(back[0, 0]) + w * abs(back[0, 1]))
            back[0, 2] += (across - w) / 2
            back[1, 2] += (down - h) / 2
            seen = cv.warpAffine(leak, back, (across, down), flags=cv.INTER_LINEAR,
                                 borderMode=cv.BORDER_CONSTANT, borderValue=float(np.median(leak)))
            matrix = np.vstack([back, [0, 0, 1]])[:2] @ np.vstack([matrix, [0, 0, 1]])
        page, module_px = original.at_scale(index, scale)
        shift = (float(matrix[0, 2]), float(matrix[1, 2]))
        difference = _difference(seen, page, shift)
        if difference is None:
            continue
        found = forensic.find_ids_in_image(difference, module_px)
        if found:
            return found
    return set()


def _shrunk(grey: np.ndarray) -> np.ndarray:
    h, w = grey.shape
    if h * w <= MAX_LEAK_PIXELS:
        return grey
    factor = (MAX_LEAK_PIXELS / (h * w)) ** 0.5
    return np.asarray(Image.fromarray(grey, "F").resize((max(1, round(w * factor)), max(1, round(h * factor))),
                                                        Image.BOX), np.float32)


def _leak_pictures(data: bytes, max_pages: int):
    if data[:1024].count(b"%PDF-"):
        import pypdfium2

        document = pypdfium2.PdfDocument(data)
        try:
            for index in range(min(len(document), max_pages, LEAK_PAGES)):
                yield index + 1, forensic.page_grey(document[index])
        finally:
            document.close()
    else:
        yield None, forensic.leaked_image_grey(data)


def find_against_original(data: bytes, original: bytes, content_type: str, seconds: float,
                          max_pages: int) -> list[dict]:
    """The first 8 characters of the ids the mark in a leaked PNG, JPEG or PDF carries, read against one
    ``original`` (a prepared PDF, PNG or JPEG of the event), rows as ``forensic.find_in_pdf`` gives them."""
    deadline = time.monotonic() + seconds * 0.8
    try:
        source = _Original(original, content_type, max_pages)
    except Exception as error:  # a prepared file always opens; a damaged one is not the leak's fault
        raise Refusal("An original could not be opened.") from error
    found: dict = {}
    try:
        for page, picture in _leak_pictures(data, max_pages):
            if time.monotonic() > deadline:
                break
            for download_id in _read_against(_shrunk(picture), source, deadline):
                forensic.note(found, download_id, "forensic mark", page)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise Refusal("This file cannot be read.") from error
    finally:
        source.close()
    return list(found.values())

