"""Preparing uploads in the worker: time and sizes for ordinary and hostile PDFs.

    .venv/bin/python -m bench.upload_prepare [--runs 3]

For each file (an ordinary 20-page deck, and the hostile PDFs the upload tests use:
``tests.materials.pdfs.hostile_uploads``), prints its size, what ``watermark.prepare`` (the
worker's step, in a child process with the default limits: 300 pages, 60 s, 1024 MB) came to
(kept, or the first words of the refusal), the median wall time of ``--runs`` runs, the size of
the prepared copy and of one stamped download of it.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tests.materials import pdfs
from workshop.watermark import PDF, Limits, StampError, prepare, stamp

from . import samples

LINES = ["Ada Lovelace", "ada@example.org", "2026-12-04 10:00 UTC", "download id AbCdEfGhIjKlMnOp"]


def kb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1024:,.0f} KB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    limits = Limits()
    files = {"ordinary 20-page deck": samples.deck(20)}
    files.update({name: data for name, (data, _) in pdfs.hostile_uploads().items()})
    print(f"{'file':42} {'size':>10} {'outcome':34} {'prepare':>9} {'kept':>10} {'stamped':>10}")
    for name, data in files.items():
        times, outcome, kept, stamped = [], "", None, None
        for _ in range(args.runs):
            started = time.perf_counter()
            try:
                prepared = prepare(data, PDF, limits)
                outcome = f"kept, {prepared.pages} pages" + (f", removed {len(prepared.removed)}"
                                                            if prepared.removed else "")
                kept = len(prepared.data)
            except StampError as error:
                prepared, outcome = None, "refused: " + error.message[:24] + "…"
            times.append(time.perf_counter() - started)
        if prepared is not None:
            stamped = len(stamp(prepared.data, PDF, LINES, "AbCdEfGhIjKlMnOp", limits))
        print(f"{name:42} {kb(len(data)):>10} {outcome:34} {statistics.median(times):8.2f}s {kb(kept):>10} "
              f"{kb(stamped):>10}")


if __name__ == "__main__":
    main()
