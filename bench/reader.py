"""The reader of view-only materials: what one page costs the server and the network.

    .venv/bin/python -m bench.reader [--runs 5] [--dpi 144]

For a 20-page slide deck and a 30-page paper (``bench.samples``), prints per page, as the reader's
page route does it: the time to render and stamp the page in the child process
(``watermark.render_page``, visible line and forensic mark), the time to wrap the PNG as a one-page
PDF for pdf.js (``readerpages.page_pdf``), and the bytes sent; medians over ``--runs`` passes over
every page, with the slowest page. Also the one-off page count taken when a file is made view-only.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import samples
from workshop import readerpages, watermark
from workshop.pdfsafe import Limits

LINES = ["Ada Lovelace", "ada@example.org", "2026-12-04 16:40 UTC", "download id AbCdEfGhIjKlMnOp"]


def measure(name: str, data: bytes, runs: int, dpi: float) -> None:
    limits = Limits()
    started = time.perf_counter()
    pages = watermark._isolated(readerpages.count_pages, (data, limits), 60, limits, "This PDF")
    counted = time.perf_counter() - started
    render, wrap, sizes = [], [], []
    for _ in range(runs):
        for page in range(1, pages + 1):
            started = time.perf_counter()
            png = watermark.render_page(data, page, LINES, "AbCdEfGhIjKlMnOp", dpi, limits)
            middle = time.perf_counter()
            pdf = readerpages.page_pdf(png, dpi)
            render.append(middle - started)
            wrap.append(time.perf_counter() - middle)
            sizes.append(len(pdf))
    print(f"{name}: {pages} pages, {len(data) / 1024:.0f} KB; page count when made view-only {counted * 1000:.0f} ms")
    print(f"  render + stamp per page: median {statistics.median(render) * 1000:.0f} ms, "
          f"slowest {max(render) * 1000:.0f} ms")
    print(f"  wrap as PDF per page:    median {statistics.median(wrap) * 1000:.1f} ms")
    print(f"  bytes per page:          median {statistics.median(sizes) / 1024:.0f} KB, "
          f"largest {max(sizes) / 1024:.0f} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dpi", type=float, default=144)
    args = parser.parse_args()
    watermark.render_page(samples.deck(1), 1, LINES, None, args.dpi)  # start the isolation helper first
    print(f"Reader pages at {args.dpi:g} dpi, {args.runs} run(s)")
    measure("slide deck", samples.deck(), args.runs, args.dpi)
    measure("paper", samples.paper(), args.runs, args.dpi)


if __name__ == "__main__":
    main()
