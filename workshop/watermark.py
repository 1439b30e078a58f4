"""Per-person PDF watermarks: every page of a served copy names the person it was served to.

``stamp_pdf`` writes a footer (the given lines) and a light diagonal mark on every page, upright
as the page is shown (page size, crop box and rotation respected). The text is real text in an
embedded TrueType font, so it can be read back from a leaked copy. A PDF that cannot be stamped
raises ``StampError``: it is never served unstamped. ``check_pdf`` runs the same stamping at
upload time, so such a PDF is refused then rather than at download.
"""

from __future__ import annotations

import io
import math
import unicodedata
from functools import cache
from pathlib import Path

FONT_NAME = "ConclaveVera"
FOOTER_SIZE = 7.0
MIN_FOOTER_SIZE = 3.5
MARGIN = 14.0


class StampError(Exception):
    """This PDF cannot be stamped (encrypted, broken, or without pages); ``message`` says which."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@cache
def _font():
    """reportlab's bundled Bitstream Vera, registered once: it covers Latin scripts with accents."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    font = TTFont(FONT_NAME, str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"))
    pdfmetrics.registerFont(font)
    return font


def drawable(text: str) -> str:
    """``text`` with what the font cannot draw replaced: control and format characters go, a letter
    without a glyph becomes its unaccented form if the font has that, else '?'."""
    glyphs = _font().face.charToGlyph
    out = []
    for char in unicodedata.normalize("NFC", text):
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(" " if char in "\t\n\r\u2028\u2029" else "")
        elif ord(char) in glyphs:
            out.append(char)
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if ord(c) in glyphs
                           and not unicodedata.combining(c))
            out.append(base or "?")
    return " ".join("".join(out).split())


def _overlay(width: float, height: float, rotation: int, lines: list[str], mark: str) -> bytes:
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

    margin = min(MARGIN, seen_w / 20, seen_h / 20)
    room = max(seen_w - 2 * margin, 1.0)

    def fitting(text: str, size: float) -> float:
        wide = stringWidth(text, FONT_NAME, size)
        return size if wide <= room else max(size * room / wide, MIN_FOOTER_SIZE)

    # The footer: one line when it fits, else one line per item, smallest at the bottom.
    joined = "  ·  ".join(lines)
    rows = [joined] if stringWidth(joined, FONT_NAME, FOOTER_SIZE) <= room else list(lines)
    size = min(fitting(row, FOOTER_SIZE) for row in rows)
    leading = size * 1.3
    band = leading * len(rows) + size * 0.8
    pdf.saveState()
    pdf.setFillColorRGB(1, 1, 1)
    pdf.setFillAlpha(0.75)
    pdf.rect(0, 0, seen_w, band, stroke=0, fill=1)
    pdf.restoreState()
    pdf.setFillColorRGB(0.25, 0.25, 0.3)
    pdf.setFont(FONT_NAME, size)
    y = size * 0.6 + leading * (len(rows) - 1)
    for row in rows:
        pdf.drawCentredString(seen_w / 2, y, row)
        y -= leading

    # The diagonal mark, corner to corner, light enough to read the page through it.
    if mark:
        angle = math.degrees(math.atan2(seen_h, seen_w))
        diagonal = math.hypot(seen_w, seen_h) * 0.8
        mark_size = max(min(diagonal / max(stringWidth(mark, FONT_NAME, 1), 1), seen_h / 8, 48), 4)
        pdf.saveState()
        pdf.setFillColorRGB(0.5, 0.5, 0.55)
        pdf.setFillAlpha(0.13)
        pdf.translate(seen_w / 2, seen_h / 2)
        pdf.rotate(angle)
        pdf.setFont(FONT_NAME, mark_size)
        pdf.drawCentredString(0, -mark_size / 3, mark)
        pdf.restoreState()
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _read(data: bytes):
    from pypdf import PdfReader

    if not data[:1024].count(b"%PDF-"):
        raise StampError("This is not a PDF file.")
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as error:  # pypdf raises many kinds of errors on damaged files
        raise StampError("This PDF is damaged and cannot be read.") from error
    if encrypted:
        raise StampError("This PDF is password-protected or encrypted; save a copy without protection.")
    try:
        count = len(reader.pages)
    except Exception as error:
        raise StampError("This PDF is damaged and cannot be read.") from error
    if count == 0:
        raise StampError("This PDF has no pages.")
    return reader


def stamp_pdf(data: bytes, lines: list[str], mark: str | None = None) -> bytes:
    """A copy of ``data`` with ``lines`` as a footer and ``mark`` (by default the first line)
    written across every page. Raises StampError when that cannot be done."""
    from pypdf import PdfReader, PdfWriter, Transformation

    _font()
    lines = [text for text in (drawable(line) for line in lines) if text] or ["?"]
    mark = drawable(mark if mark is not None else lines[0])
    reader = _read(data)
    try:
        writer = PdfWriter(clone_from=reader)
        overlays: dict[tuple, object] = {}
        for page in writer.pages:
            box = page.cropbox
            left, bottom = float(box.left), float(box.bottom)
            width, height = float(box.width), float(box.height)
            if width <= 1 or height <= 1:
                raise StampError("A page of this PDF has no visible area.")
            rotation = (page.rotation or 0) % 360
            shape = (round(width, 2), round(height, 2), rotation)
            if shape not in overlays:
                overlays[shape] = PdfReader(io.BytesIO(_overlay(width, height, rotation, lines, mark))).pages[0]
            page.merge_transformed_page(overlays[shape], Transformation().translate(left, bottom), over=True)
        out = io.BytesIO()
        writer.write(out)
    except StampError:
        raise
    except Exception as error:  # a damaged page tree, a broken content stream...
        raise StampError("This PDF is damaged and cannot be stamped.") from error
    return out.getvalue()


def check_pdf(data: bytes) -> None:
    """Raise StampError unless ``data`` is a PDF that ``stamp_pdf`` can stamp."""
    stamp_pdf(data, ["Conclave upload check"])
