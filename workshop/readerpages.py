"""The reader's pages: a view-only PDF's page count, counted where untrusted files are opened
(``isolate``), and a stamped page image wrapped as a one-page PDF for the in-browser reader.

The reader is shown pixels, not the speaker's PDF: each page is rendered and stamped by the server
(``watermark.render_page``, forensic mark included), and only that image leaves, inside a PDF that
holds nothing else (no text to copy, no fonts, no links), which pdf.js draws.
"""

from __future__ import annotations

import struct
import zlib

import pikepdf

from . import pdfsafe
from .pdfsafe import Limits

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def count_pages(data: bytes, limits: Limits) -> int:
    """How many pages ``data`` has (run in the child: it opens the speaker's file)."""
    def work():
        return pdfsafe._flatten_pages(pdfsafe._open(data), limits)

    return pdfsafe._guarded(work, "This PDF is damaged and cannot be read.")


def _png_parts(png: bytes) -> tuple[int, int, int, int, bytes]:
    """Width, height, bit depth, colour type and the joined image data of a non-interlaced PNG."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    offset, header, data = len(PNG_SIGNATURE), None, []
    while offset + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        body = png[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data.append(body)
        elif kind == b"IEND":
            break
        offset += 12 + length
    if header is None or not data:
        raise ValueError("a PNG without a header or image data")
    width, height, depth, colour, _compression, _filter, interlace = header
    if interlace or depth != 8 or colour not in (0, 2):
        raise ValueError("an interlaced, paletted or transparent PNG")
    return width, height, depth, colour, b"".join(data)


def page_pdf(png: bytes, dpi: float) -> bytes:
    """A one-page PDF showing ``png`` (a page image rendered at ``dpi``) at the page's real size.

    The PNG's compressed rows go in as they are: PDF's Flate filter with PNG predictors reads them, so
    the pixels (and the forensic mark in them) reach the reader exactly as they were rendered.
    """
    try:
        width, height, depth, colour, data = _png_parts(png)
        colours = 3 if colour == 2 else 1
        parms = pikepdf.Dictionary(Predictor=15, Colors=colours, BitsPerComponent=depth, Columns=width)
        zlib.decompressobj().decompress(data, 16)  # the rows must at least start as zlib data
    except (ValueError, struct.error, zlib.error):
        from io import BytesIO

        from PIL import Image

        image = Image.open(BytesIO(png)).convert("RGB")
        width, height, depth, colours = image.width, image.height, 8, 3
        data, parms = zlib.compress(image.tobytes(), 6), None
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, data, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image, Width=width,
                           Height=height, BitsPerComponent=depth,
                           ColorSpace=pikepdf.Name.DeviceRGB if colours == 3 else pikepdf.Name.DeviceGray,
                           Filter=pikepdf.Name.FlateDecode)
    if parms is not None:
        image.DecodeParms = parms
    points_wide, points_high = width * 72 / dpi, height * 72 / dpi
    content = f"q {points_wide:.2f} 0 0 {points_high:.2f} 0 0 cm /Page Do Q".encode()
    page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=[0, 0, round(points_wide, 2), round(points_high, 2)],
                              Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Page=image)),
                              Contents=pikepdf.Stream(pdf, content))
    pdf.pages.append(pikepdf.Page(page))
    pdf.docinfo[pikepdf.Name.Producer] = "Conclave reader"
    from io import BytesIO

    out = BytesIO()
    pdf.save(out, compress_streams=False, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    return out.getvalue()
