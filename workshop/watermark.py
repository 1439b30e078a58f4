"""Materials made safe to keep and stamped for the person they are served to.

What the services call:

- ``prepare(data, content_type)`` at upload (in a worker later): validates, defuses and
  normalises a PDF or image and returns the ``PreparedFile`` to keep; raises ``StampError``.
- ``stamp(prepared, content_type, lines, download_id)`` at each download: the copy to serve,
  with the visible stamp (``lines``) and the forensic mark of ``download_id`` on every page.
- ``render_page(prepared, page_number, lines, download_id, dpi)``: one page, stamped, as PNG.
- ``find_download_ids(data)``: every download id (or, from the mark, its first 8 characters) a
  leaked PDF, PNG or JPEG still carries.
- ``find_against_originals(data, originals)``: the mark read with each original taken away, where
  the blind reading sees none (a corner of a photograph).
- ``can_stamp(content_type)``: whether files of that type are stamped at all.

Every call runs in a child process with a time and memory budget (``isolate``): a hostile file
costs a ``StampError`` with a message a speaker can act on, never the calling worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import isolate, pdfsafe
from .forensic import PREFIX_CHARS as MARK_CHARS
from .pdfsafe import Limits, drawable

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
STAMPABLE = (PDF, PNG, JPEG)
logger = logging.getLogger(__name__)

__all__ = ["AGAINST_ORIGINAL", "JPEG", "PDF", "PNG", "Found", "Limits", "PreparedFile", "StampError", "can_stamp",
           "check_pdf", "drawable", "find_against_originals", "find_download_ids", "limits_from_config", "prepare",
           "render_page", "stamp", "stamp_pdf"]


class StampError(Exception):
    """This file cannot be prepared, stamped or read; ``message`` says why and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PreparedFile:
    """The clean copy to keep: its bytes, type, page count and what was removed from it, in words."""

    data: bytes
    content_type: str
    pages: int
    removed: tuple[str, ...] = ()


def can_stamp(content_type: str) -> bool:
    """Whether files of this type leave stamped; others are served as they are, labelled so."""
    return content_type in STAMPABLE


def limits_from_config(config: Mapping) -> Limits:
    """The PDF_* settings (see ``config.py``) as Limits; missing ones keep their defaults."""
    default = Limits()
    return Limits(max_pages=int(config.get("PDF_MAX_PAGES", default.max_pages)),
                  prepare_seconds=float(config.get("PDF_PREPARE_SECONDS", default.prepare_seconds)),
                  stamp_seconds=float(config.get("PDF_STAMP_SECONDS", default.stamp_seconds)),
                  memory_mb=int(config.get("PDF_MEMORY_MB", default.memory_mb)),
                  max_expanded_mb=int(config.get("PDF_MAX_EXPANDED_MB", default.max_expanded_mb)))


def _isolated(function, args: tuple, seconds: float, limits: Limits, what: str):
    try:
        return isolate.run(function, args, isolate.Budget(seconds, limits.memory_mb), what)
    except isolate.Refusal as error:
        raise StampError(error.message) from None
    except isolate.Overrun as error:
        hint = (" It may be built to exhaust the programs that open it; save it again from the program "
                "that made it." if error.kind != "time" else " Try a smaller file.")
        raise StampError(error.message + hint) from None


def _kind(content_type: str) -> str:
    if content_type == PDF:
        return "This PDF"
    if content_type in (PNG, JPEG):
        return "This image"
    raise StampError("Files of this type are not stamped.")


def prepare(data: bytes, content_type: str, limits: Limits | None = None) -> PreparedFile:
    """The clean copy of an upload to keep. Raises StampError when none can be made."""
    limits = limits or Limits()
    what = _kind(content_type)
    if content_type == PDF:
        result = _isolated(pdfsafe.prepare, (data, limits), limits.prepare_seconds, limits, what)
        return PreparedFile(result["data"], PDF, result["pages"], tuple(result["removed"]))
    from . import imagesafe

    result = _isolated(imagesafe.prepare, (data, content_type, limits), limits.prepare_seconds, limits, what)
    return PreparedFile(result, content_type, 1)



def stamp(prepared: bytes, content_type: str, lines: list[str], download_id: str | None,
          limits: Limits | None = None) -> bytes:
    """The copy to serve: ``lines`` visible on every page and ``download_id`` marked in it."""
    limits = limits or Limits()
    what = _kind(content_type)
    if content_type == PDF:
        return _isolated(pdfsafe.stamp, (prepared, limits, list(lines), download_id), limits.stamp_seconds,
                         limits, what)
    from . import imagesafe

    return _isolated(imagesafe.stamp, (prepared, content_type, limits, list(lines), download_id),
                     limits.stamp_seconds, limits, what)


def render_page(prepared: bytes, page_number: int, lines: list[str], download_id: str | None, dpi: float = 100,
                limits: Limits | None = None) -> bytes:
    """Page ``page_number`` (from 1) of a prepared PDF, stamped, as PNG bytes, at ``dpi`` (36 to 300)."""
    limits = limits or Limits()
    if not 36 <= dpi <= 300:
        raise StampError("Pages are shown at 36 to 300 dpi.")
    return _isolated(pdfsafe.render_page, (prepared, limits, int(page_number), list(lines), download_id, float(dpi)),
                     limits.stamp_seconds, limits, "This PDF")


@dataclass(frozen=True)
class Found:
    """A download id found in a leaked file: how (``visible text``, ``forensic mark``) and on which
    pages of a PDF (from 1; empty for an image). The forensic mark carries a download id's first
    ``MARK_CHARS`` characters (48 random bits), so where only the mark was found ``download_id``
    is those characters and the access log completes it (``matches``)."""

    download_id: str
    how: tuple[str, ...]
    pages: tuple[int, ...] = ()

    def matches(self, download_id: str) -> bool:
        """Whether this is ``download_id``, whole or its beginning as the mark carries it."""
        return download_id == self.download_id or (
            len(self.download_id) == MARK_CHARS and download_id[:MARK_CHARS] == self.download_id)


def find_download_ids(data: bytes, limits: Limits | None = None) -> list[Found]:
    """Every download id a leaked PDF, PNG or JPEG still carries, and how each was found.

    A PDF's text is searched for the visible line, and each page is rendered and searched for the
    forensic mark; an image is searched for the mark. An id is only reported when the mark's
    error correction and check agree (or the visible line names it): never a guess. The mark gives
    an id's first ``MARK_CHARS`` characters, the visible line a whole id, each on a row of its own.
    Raises StampError for a file that is none of these or cannot be read.
    """
    from . import forensic

    limits = limits or Limits()
    if data[:1024].count(b"%PDF-"):
        rows = _isolated(forensic.find_in_pdf, (data, limits.prepare_seconds, limits.max_pages),
                         limits.prepare_seconds, limits, "This PDF")
    elif data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff":
        rows = _isolated(forensic.find_in_image, (data, limits.prepare_seconds), limits.prepare_seconds, limits,
                         "This image")
    else:
        raise StampError("Conclave reads download ids from PDF, PNG and JPEG files.")
    return [Found(row["download_id"], tuple(row["how"]), tuple(row["pages"])) for row in rows]


AGAINST_ORIGINAL = "forensic mark, against the original"


def find_against_originals(data: bytes, originals: Iterable[tuple[bytes, str]], limits: Limits | None = None
                           ) -> list[Found]:
    """The forensic mark of a leaked PDF, PNG or JPEG read against each of ``originals`` (prepared copies
    and their content types, taken one at a time) in turn, until one names an id or the time allowed
    for a file is spent (``informed``: where the blind reading of ``find_download_ids`` sees nothing,
    as in a quarter of a photograph). One original takes at most a quarter of that time, so that a
    long one leaves time for the next. An original that cannot be compared (damaged, too big for the
    budget) is passed over and logged: it says nothing about the leak."""
    from . import informed

    limits = limits or Limits()
    deadline = time.monotonic() + limits.prepare_seconds
    for original, content_type in originals:
        left = deadline - time.monotonic()
        if left < 1:
            break
        if content_type not in STAMPABLE:
            continue
        seconds = min(left, max(limits.prepare_seconds / 4, 1.0))
        try:
            rows = _isolated(informed.find_against_original,
                             (data, original, content_type, seconds, limits.max_pages), seconds, limits, "This file")
        except StampError as error:
            logger.warning("a leak could not be compared with an original: %s", error.message)
            continue
        if rows:
            return [Found(row["download_id"], (AGAINST_ORIGINAL,), tuple(row["pages"])) for row in rows]
    return []


# --- the names the services used before ``prepare`` and ``stamp`` ---------------------------


def check_pdf(data: bytes, limits: Limits | None = None) -> None:
    """Raise StampError unless ``data`` is a PDF that can be prepared and stamped."""
    prepare(data, PDF, limits)


def stamp_pdf(data: bytes, lines: list[str], download_id: str | None = None, limits: Limits | None = None) -> bytes:
    """``stamp`` for a PDF: ``lines`` at the foot of every page, the mark when an id is given."""
    return stamp(data, PDF, lines, download_id, limits)
