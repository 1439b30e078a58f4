"""Stamped copies: size and time per download, and how much of the page's look they keep.

    .venv/bin/python -m bench.stamp [--runs 5]

For a 20-page slide deck and a 30-page paper (``bench.samples``), prints the unstamped size, then
for the stamping Conclave had before (``legacy_stamp``: a reportlab overlay page with a white band
under the footer and a diagonal name, merged into each page by pypdf) and for the current one
(``workshop.watermark``: visible line + forensic mark, in a child process): the size ratio to the
unstamped file, the time per download (median of ``--runs``) and, per page kind, the worst
whole-page PSNR and the worst SSIM outside the visible stamp's strip, at 100 dpi. The current
stamping's one-off ``prepare`` time at upload is printed too.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import time
from collections import defaultdict

from pypdf import PdfReader, PdfWriter, Transformation

from bench import quality, samples
from workshop import pdfsafe, watermark
from workshop.models.base import public_id

LEGACY_FONT = pdfsafe.FONT_NAME
drawable = pdfsafe.drawable


# --- the stamping of before, kept here only to measure against ------------------------------


def _legacy_overlay(width: float, height: float, rotation: int, lines: list[str], mark: str) -> bytes:
    """One page of ``width`` × ``height`` (unrotated user space) holding the footer and the mark,
    drawn so that they read upright once the page's ``/Rotate`` is applied."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width, height))
    # Draw in the coordinates the reader sees: (0, 0) at the visible bottom-left corner.
    if rotation == 90:
        pdf.transform(0, 1, -1, 0, width, 0)
        seen_w, seen_h = height, width
    elif rotation == 180:
        pdf.transform(-1, 0, 0, -1, width, height)
        seen_w, seen_h = width, height
    elif rotation == 270:
        pdf.transform(0, -1, 1, 0, 0, height)
        seen_w, seen_h = height, width
    else:
        seen_w, seen_h = width, height

    margin = min(14.0, seen_w / 20, seen_h / 20)
    room = max(seen_w - 2 * margin, 1.0)

    def fitting(text: str, size: float) -> float:
        wide = stringWidth(text, LEGACY_FONT, size)
        return size if wide <= room else max(size * room / wide, 7.0 / 2)

    # The footer: one line when it fits, else one line per item, smallest at the bottom.
    joined = "  ·  ".join(lines)
    rows = [joined] if stringWidth(joined, LEGACY_FONT, 7.0) <= room else list(lines)
    size = min(fitting(row, 7.0) for row in rows)
    leading = size * 1.3
    band = leading * len(rows) + size * 0.8
    pdf.saveState()
    pdf.setFillColorRGB(1, 1, 1)
    pdf.setFillAlpha(0.75)
    pdf.rect(0, 0, seen_w, band, stroke=0, fill=1)
    pdf.restoreState()
    pdf.setFillColorRGB(0.25, 0.25, 0.3)
    pdf.setFont(LEGACY_FONT, size)
    y = size * 0.6 + leading * (len(rows) - 1)
    for row in rows:
        pdf.drawCentredString(seen_w / 2, y, row)
        y -= leading

    # The diagonal mark, corner to corner, light enough to read the page through it.
    if mark:
        angle = math.degrees(math.atan2(seen_h, seen_w))
        diagonal = math.hypot(seen_w, seen_h) * 0.8
        mark_size = max(min(diagonal / max(stringWidth(mark, LEGACY_FONT, 1), 1), seen_h / 8, 48), 4)
        pdf.saveState()
        pdf.setFillColorRGB(0.5, 0.5, 0.55)
        pdf.setFillAlpha(0.13)
        pdf.translate(seen_w / 2, seen_h / 2)
        pdf.rotate(angle)
        pdf.setFont(LEGACY_FONT, mark_size)
        pdf.drawCentredString(0, -mark_size / 3, mark)
        pdf.restoreState()
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()



def legacy_stamp(data: bytes, lines: list[str], mark: str | None = None) -> bytes:
    """A copy of ``data`` with ``lines`` as a footer and ``mark`` (by default the first line)
    written across every page. Raises StampError when that cannot be done."""

    pdfsafe._vera()
    lines = [text for text in (drawable(line) for line in lines) if text] or ["?"]
    mark = drawable(mark if mark is not None else lines[0])
    reader = PdfReader(io.BytesIO(data))
    try:
        writer = PdfWriter(clone_from=reader)
        overlays: dict[tuple, object] = {}
        for page in writer.pages:
            box = page.cropbox
            left, bottom = float(box.left), float(box.bottom)
            width, height = float(box.width), float(box.height)
            if width <= 1 or height <= 1:
                raise ValueError("A page of this PDF has no visible area.")
            rotation = (page.rotation or 0) % 360
            shape = (round(width, 2), round(height, 2), rotation)
            if shape not in overlays:
                overlays[shape] = PdfReader(io.BytesIO(_legacy_overlay(width, height, rotation, lines, mark))).pages[0]
            page.merge_transformed_page(overlays[shape], Transformation().translate(left, bottom), over=True)
        out = io.BytesIO()
        writer.write(out)
    except ValueError:
        raise
    except Exception as error:  # a damaged page tree, a broken content stream...
        raise ValueError("This PDF is damaged and cannot be stamped.") from error
    return out.getvalue()




# --- the measurements -----------------------------------------------------------------------


def lines_for(download_id: str) -> list[str]:
    return ["Ada Lovelace", "ada@example.org", "2025-01-01 10:00 UTC", f"download id {download_id}"]


def timed(runs: int, function, *args, **kwargs) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def looks(original: bytes, stamped: bytes, kinds: list[str]) -> dict[str, tuple[float, float]]:
    worst: dict[str, list[float]] = defaultdict(lambda: [math.inf, math.inf])
    for kind, before, after in zip(kinds, quality.render(original), quality.render(stamped), strict=True):
        worst[kind][0] = min(worst[kind][0], quality.psnr(before, after))
        worst[kind][1] = min(worst[kind][1], quality.ssim_outside_stamp(before, after))
    return {kind: (values[0], values[1]) for kind, values in worst.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    documents = [("20-page deck", samples.deck(20), samples.deck_kinds(20)),
                 ("30-page paper", samples.paper(30), ["paper"] * 30)]
    for title, original, kinds in documents:
        download_id = public_id()
        lines = lines_for(download_id)
        legacy_time, legacy = timed(args.runs, legacy_stamp, original, lines, mark=f"{lines[0]} · {download_id}")
        prepare_time, prepared = timed(1, watermark.prepare, original, watermark.PDF)
        current_time, current = timed(args.runs, watermark.stamp, prepared.data, watermark.PDF, lines, download_id)
        print(f"{title}: unstamped {len(original) / 1024:.0f} KB, {len(kinds)} pages")
        print(f"  {'':8} {'size':>9} {'ratio':>6} {'per download':>13}")
        print(f"  {'before':8} {len(legacy) / 1024:7.0f}KB {len(legacy) / len(original):6.2f} "
              f"{legacy_time * 1000:10.0f} ms")
        print(f"  {'after':8} {len(current) / 1024:7.0f}KB {len(current) / len(original):6.2f} "
              f"{current_time * 1000:10.0f} ms   (prepare at upload, once: {prepare_time * 1000:.0f} ms)")
        before, after = looks(original, legacy, kinds), looks(original, current, kinds)
        print(f"  {'page kind':12} {'PSNR before':>12} {'after':>7} {'SSIM before':>12} {'after':>7}   (worst page)")
        for kind in dict.fromkeys(kinds):
            print(f"  {kind:12} {before[kind][0]:10.1f}dB {after[kind][0]:5.1f}dB {before[kind][1]:12.4f} "
                  f"{after[kind][1]:7.4f}")
        print()


if __name__ == "__main__":
    main()
