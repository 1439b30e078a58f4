"""Image comparisons for the watermark bench and tests: PDFs rendered with pdfium, PSNR and SSIM.

SSIM is the standard one (Wang et al. 2004: Gaussian window of σ 1.5, K1 0.01, K2 0.03, on the
luminance), from scikit-image, averaged over the page outside the visible stamp's strip.
"""

from __future__ import annotations

import io

import numpy as np
import pypdfium2
from PIL import Image
from skimage.metrics import structural_similarity

STAMP_STRIP_PT = 21.6  # the visible stamp's line at the foot of the page (30 px at 100 dpi)


def render(data: bytes, dpi: float = 100) -> list[np.ndarray]:
    """Every page of a PDF as an RGB array."""
    document = pypdfium2.PdfDocument(data)
    try:
        return [np.asarray(page.render(scale=dpi / 72).to_pil().convert("RGB")) for page in document]
    finally:
        document.close()


def grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"), np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def ssim_outside_stamp(a: np.ndarray, b: np.ndarray, dpi: float = 100) -> float:
    _, local = structural_similarity(grey(a), grey(b), data_range=255, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, full=True)
    strip = int(round(STAMP_STRIP_PT * dpi / 72))
    return float(local[:-strip].mean())


def jpeg(rgb: np.ndarray, quality: int = 60) -> np.ndarray:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("RGB"))
