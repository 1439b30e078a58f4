"""Can a leaked copy be traced to its person? A slide deck stamped for many people, attacked.

    .venv/bin/python -m bench.trace [--people 50] [--seed 1]

Stamps the 20-page deck of ``bench.samples`` for each person (a fresh download id each), then
attacks each copy the way a leaker would and asks who it was, as the trace page does: the mark read
alone (``find_download_ids``), then, when that names nobody, read against the event's files
(``find_against_originals``: a 30-page paper, then the deck):

- stripped: the visible line removed from every page of the PDF (the text operators deleted);
- reprinted: every page rasterized at 150 dpi and printed into a new PDF on Letter paper;
- raster: one page (a different kind each time) rendered at 100 dpi, as PNG;
- screenshot: one page shown 1366 px wide, as PNG;
- quarter: a random quarter (half the width, half the height, anywhere) of the 100-dpi page;
- jpeg60: the 100-dpi page saved as JPEG at quality 60;
- grey: the 100-dpi page in greyscale;
- all: visible line stripped, 100 dpi, greyscale, a random quarter, JPEG at quality 60.

For each attack it prints how often the right person is named, how often the blind reading alone
named them, how often anyone else is named (must be never), and the time a search took; beside
it, the same for the stamping Conclave had before (``bench.stamp.legacy_stamp``: visible text
only) on the first few people. Then the same for files that carry no mark (noise, unstamped
pages, read against the event's files too), where nobody may be named; then, for one slide on a
flat ground of each grey level in ``--grounds`` (black, near black), the JPEG attacks for
``--ground-people`` people each; then the time per download of stamping the deck and a 30-page
paper (median, the child process included).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections import defaultdict

import numpy as np
import pikepdf
from PIL import Image

from bench import quality, samples
from bench.stamp import legacy_stamp
from workshop import watermark
from workshop.models.base import public_id

# A machine shared with other work can stretch a search past the production deadline; the bench
# measures what is found (and prints the time), so it allows far longer.
READ_LIMITS = watermark.Limits(prepare_seconds=900.0)
ATTACKS = ("stripped", "reprinted", "raster", "screenshot", "quarter", "jpeg60", "grey", "all")


def named(leaked: bytes, download_id: str, originals=()) -> tuple[bool, int, bool]:
    """Whether the trace of ``leaked`` names ``download_id`` (whole, or the mark's first characters of it),
    how many other ids it names, and whether the blind reading alone named it. As on the trace page, the
    leak is read against ``originals`` (prepared files, content types) when the blind reading names nobody."""
    rows = watermark.find_download_ids(leaked, READ_LIMITS)
    blind = any(row.matches(download_id) for row in rows)
    if not rows and originals:
        rows = watermark.find_against_originals(leaked, originals, READ_LIMITS)
    return any(row.matches(download_id) for row in rows), sum(not row.matches(download_id) for row in rows), blind


def lines_for(person: int, download_id: str) -> list[str]:
    return [f"Person {person}", f"person{person}@example.org", "2025-01-01 10:00 UTC", f"download id {download_id}"]


def strip_visible_line(data: bytes, lines: list[str]) -> bytes:
    """The PDF with every text block that shows part of the visible stamp deleted."""
    pdf = pikepdf.open(io.BytesIO(data))
    needles = [line.encode("cp1252", "replace") for line in lines]
    for page in pdf.pages:
        kept, block, in_text = [], [], False
        for operands, operator in pikepdf.parse_content_stream(page):
            name = str(operator)
            if name == "BT":
                in_text, block = True, [(operands, operator)]
                continue
            if in_text:
                block.append((operands, operator))
                if name == "ET":
                    in_text = False
                    shown = b"".join(bytes(o) for ops, _ in block for o in ops if isinstance(o, pikepdf.String))
                    if not any(needle in shown for needle in needles):
                        kept.extend(block)
                continue
            kept.append((operands, operator))
        page.obj.Contents = pdf.make_stream(pikepdf.unparse_content_stream(kept))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def png(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(rgb: np.ndarray, quality_level: int = 60) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=quality_level)
    return out.getvalue()


def reprinted(data: bytes) -> bytes:
    """Each page rasterized at 150 dpi and placed, scaled to the width, on a Letter page."""
    pages = [Image.fromarray(rgb) for rgb in quality.render(data, 150)]
    out = io.BytesIO()
    resolution = pages[0].width / 8.5
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=resolution)
    return out.getvalue()


def quarter(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    y, x = int(rng.integers(0, h - h // 2 + 1)), int(rng.integers(0, w - w // 2 + 1))
    return rgb[y:y + h // 2, x:x + w // 2]


def grey_rgb(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L").convert("RGB"))


def attacked(name: str, stamped: bytes, lines: list[str], page: int, rng: np.random.Generator) -> bytes:
    if name == "stripped":
        return strip_visible_line(stamped, lines)
    if name == "reprinted":
        return reprinted(stamped)
    source = strip_visible_line(stamped, lines) if name == "all" else stamped
    if name == "screenshot":
        width = quality.render(source, 72)[page].shape[1]
        return png(quality.render(source, 72 * 1366 / width)[page])
    rgb = quality.render(source, 100)[page]
    if name == "raster":
        return png(rgb)
    if name == "quarter":
        return png(quarter(rgb, rng))
    if name == "jpeg60":
        return jpeg_bytes(rgb)
    if name == "grey":
        return png(grey_rgb(rgb))
    return jpeg_bytes(quarter(grey_rgb(rgb), rng))


def unmarked_files(rng: np.random.Generator, count: int) -> list[bytes]:
    """Files no mark was ever drawn on: noise, and unstamped pages of the deck."""
    files = []
    pages = quality.render(samples.deck(10), 100)
    for number in range(count):
        if number % 2:
            files.append(png(rng.integers(0, 256, (540, 960, 3), dtype=np.uint8)))
        else:
            files.append(jpeg_bytes(quarter(pages[number % len(pages)], rng) if number % 4 else pages[number % 10]))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-people", type=int, default=5)
    parser.add_argument("--grounds", default="0,3,8,15")
    parser.add_argument("--ground-people", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    deck = samples.deck(20)
    kinds = samples.deck_kinds(20)
    prepared = watermark.prepare(deck, watermark.PDF).data
    paper = watermark.prepare(samples.paper(30), watermark.PDF).data
    # The event's files a leak is compared with when its mark cannot be read alone: another file first.
    originals = [(paper, watermark.PDF), (prepared, watermark.PDF)]
    right: dict[str, int] = defaultdict(int)
    blind_right: dict[str, int] = defaultdict(int)
    wrong: dict[str, int] = defaultdict(int)
    seconds: dict[str, list[float]] = defaultdict(list)
    missed: dict[str, list[str]] = defaultdict(list)
    stamping: list[float] = []
    for person in range(args.people):
        download_id = public_id()
        lines = lines_for(person, download_id)
        start = time.perf_counter()
        stamped = watermark.stamp(prepared, watermark.PDF, lines, download_id)
        stamping.append(time.perf_counter() - start)
        page = person % len(kinds)
        for name in ATTACKS:
            leaked = attacked(name, stamped, lines, page, rng)
            start = time.perf_counter()
            hit, others, blind = named(leaked, download_id, originals)
            seconds[name].append(time.perf_counter() - start)
            right[name] += hit
            blind_right[name] += blind
            wrong[name] += others
            if not hit:
                missed[name].append(kinds[page])
    before: dict[str, int] = defaultdict(int)
    for person in range(args.baseline_people):
        download_id = public_id()
        lines = lines_for(person, download_id)
        stamped = legacy_stamp(deck, lines, mark=f"{lines[0]} · {download_id}")
        for name in ATTACKS:
            before[name] += named(attacked(name, stamped, lines, person % len(kinds), rng), download_id)[2]
    print(f"{args.people} copies of a 20-page deck; image attacks use one page each, every kind in turn")
    print("(right person: as the trace page names them, the leak read against the event's files when its mark")
    print(" cannot be read alone; blind: the mark read alone)")
    print(f"  {'attack':11} {'right person':>13} {'blind':>9} {'anyone else':>12} {'search':>9}   {'before':>8}"
          "   pages missed")
    for name in ATTACKS:
        search = statistics.median(seconds[name])
        print(f"  {name:11} {right[name]:>6} / {args.people:<4} {blind_right[name]:>4} / {args.people:<3}"
              f" {wrong[name]:>12} {search:8.2f}s   {before[name]:>2} / {args.baseline_people:<3}"
              f"   {', '.join(sorted(set(missed[name]))) or '-'}")
    noise = unmarked_files(rng, args.people)
    anyone = 0
    for data in noise:
        anyone += len(watermark.find_download_ids(data, READ_LIMITS) or watermark.find_against_originals(
            data, originals, READ_LIMITS))
    print(f"  {'no mark':11} {'':>13} {'':>9} {anyone:>12}            ({len(noise)} files: noise, unstamped pages"
          ", read against the deck too)")
    print(f"one slide on a flat ground, {args.ground_people} people each: right person (anyone else)")
    for level in (int(v) for v in args.grounds.split(",") if v.strip()):
        slide = watermark.prepare(samples.ground_slide(level), watermark.PDF).data
        counts = defaultdict(lambda: [0, 0])
        for person in range(args.ground_people):
            download_id = public_id()
            lines = lines_for(person, download_id)
            stamped = watermark.stamp(slide, watermark.PDF, lines, download_id)
            for name in ("jpeg60", "all"):
                hit, others, _ = named(attacked(name, stamped, lines, 0, rng), download_id)
                counts[name][0] += hit
                counts[name][1] += others
        print(f"  grey {level:3}   " + "   ".join(f"{name} {right:>3} / {args.ground_people} ({wrong})"
                                                for name, (right, wrong) in counts.items()))
    paper_times = []
    for _ in range(10):
        download_id = public_id()
        start = time.perf_counter()
        watermark.stamp(paper, watermark.PDF, lines_for(0, download_id), download_id)
        paper_times.append(time.perf_counter() - start)
    print(f"stamping per download: 20-page deck {statistics.median(stamping) * 1000:.0f} ms, "
          f"30-page paper {statistics.median(paper_times) * 1000:.0f} ms (median)")


if __name__ == "__main__":
    main()
