"""PDFs taken apart and put back safely, with qpdf (through pikepdf). Runs inside ``isolate``.

``prepare`` turns an upload into the clean copy Conclave keeps: it refuses what it cannot make
safe (encrypted, damaged, too many pages, streams that inflate past the limit) and removes what
could run or hide something (JavaScript, actions run on open or on a page or field event, launch
and form-submit actions, ``javascript:`` links, embedded files and attachment annotations, XFA,
rich media). It flattens the page tree (a deep or looping tree becomes one list of pages), turns
content streams that several pages share into one form each, so that a per-page change never
copies them, and notes on each page the tone of its bottom margin, where the visible stamp goes.

``stamp`` adds the visible stamp and the forensic mark to every page of a prepared copy. It does
the cheap part of the defusing again (a stored file is never trusted to be the prepared one) and
writes each page's drawing, mark and stamp as one content stream, compressed; the resources it
adds (one font, one graphics state) are shared by all pages.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zlib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2
from pikepdf import Array, Dictionary, Name, Stream
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from . import forensic
from .isolate import Refusal

FONT_NAME = "ConclaveVera"
FOOTER_SIZE = 6.5
MIN_FOOTER_SIZE = 3.5
MARGIN = 14.0
# The key under which ``prepare`` notes each page's bottom-margin tone (0 black … 1 white).
TONE_KEY = "/ConclaveTone"
# ... and how strong each copy of the mark may be (a digit per copy, see ``forensic.busyness``).
LEVELS_KEY = "/ConclaveMarkLevels"
# Names of the resources the stamp adds to a page; numbered further when a page already has one.
FONT_RESOURCE = "CnclStampFont"

# Actions that only move within the document or to a web page; every other kind goes.
SAFE_ACTIONS = {"/GoTo", "/URI", "/Named"}
SAFE_NAMED = {"/NextPage", "/PrevPage", "/FirstPage", "/LastPage"}
SAFE_URI = re.compile(rb"^\s*(https?|mailto):", re.IGNORECASE)
UNSAFE_ANNOTATIONS = {"/FileAttachment", "/RichMedia", "/Movie", "/Sound", "/Screen", "/3D"}
UNSAFE_NAMES = ("/JavaScript", "/EmbeddedFiles", "/AlternatePresentations", "/Renditions")
INHERITABLE = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")


class PdfRefused(Refusal):
    """This PDF cannot be prepared or stamped; ``message`` says why, in words a speaker can act on."""


@dataclass(frozen=True)
class Limits:
    """How much one PDF may cost. ``watermark.limits_from_config`` reads them from the settings."""

    max_pages: int = 300
    prepare_seconds: float = 60.0
    stamp_seconds: float = 20.0
    memory_mb: int = 1024
    max_expanded_mb: int = 1024


# --- opening and the page tree ---------------------------------------------------------------


def _open(data: bytes) -> pikepdf.Pdf:
    if b"%PDF-" not in data[:1024]:
        raise PdfRefused("This is not a PDF file.")
    try:
        pdf = pikepdf.open(io.BytesIO(data), inherit_page_attributes=False)
    except pikepdf.PasswordError as error:
        raise PdfRefused("This PDF is password-protected or encrypted; save a copy without protection.") from error
    except (pikepdf.PdfError, ValueError, RuntimeError) as error:
        raise PdfRefused("This PDF is damaged and cannot be read.") from error
    if pdf.is_encrypted:
        raise PdfRefused("This PDF is password-protected or encrypted; save a copy without protection.")
    return pdf


def _flatten_pages(pdf: pikepdf.Pdf, limits: Limits) -> int:
    """Replace the page tree by one node listing every page, attributes pushed down to the pages.

    Walks the tree without recursion and visits each node once, so a tree nested thousands deep
    or looping back on itself becomes a plain list (a node met again is skipped); refuses more
    than ``max_pages`` pages or none.
    """
    try:
        root = pdf.Root
        top = root.get("/Pages")
    except (pikepdf.PdfError, RuntimeError) as error:
        raise PdfRefused("This PDF is damaged and cannot be read.") from error
    if not isinstance(top, Dictionary):
        raise PdfRefused("This PDF is damaged and cannot be read: it has no list of pages.")
    leaves: list[tuple[Dictionary, dict]] = []
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[object, dict]] = [(top, {})]
    visited = 0
    while stack:
        node, inherited = stack.pop()
        if not isinstance(node, Dictionary):
            continue
        if node.is_indirect:
            if node.objgen in seen:
                continue
            seen.add(node.objgen)
        visited += 1
        if visited > 20 * limits.max_pages + 1000:
            raise PdfRefused("The list of pages of this PDF is far larger than its pages; save it again "
                             "from the program that made it (for example with Print to PDF).")
        kids = node.get("/Kids")
        if isinstance(kids, Array) and node.get("/Type") != Name.Page:
            here = dict(inherited)
            for key in INHERITABLE:
                if key in node:
                    here[key] = node[key]
            stack.extend((kid, here) for kid in reversed(list(kids)))
            continue
        leaves.append((node, inherited))
        if len(leaves) > limits.max_pages:
            raise PdfRefused(f"This PDF has more than {limits.max_pages} pages, the most Conclave accepts; "
                             "split it into smaller files.")
    if not leaves:
        raise PdfRefused("This PDF has no pages.")
    flat = pdf.make_indirect(Dictionary(Type=Name.Pages, Count=len(leaves), Kids=Array()))
    for page, inherited in leaves:
        for key, value in inherited.items():
            if key not in page:
                page[key] = value
        if "/MediaBox" not in page:
            page.MediaBox = Array([0, 0, 612, 792])
        if "/Resources" not in page:
            page.Resources = Dictionary()
        if not page.is_indirect:
            page = pdf.make_indirect(page)
        page.Type = Name.Page
        page.Parent = flat
        flat.Kids.append(page)
    root.Pages = flat
    return len(leaves)


# --- defusing --------------------------------------------------------------------------------


def _unsafe_action(action) -> str | None:
    """What is wrong with an action dictionary, or None when it only navigates or opens a web page."""
    if not isinstance(action, Dictionary):
        return None if isinstance(action, Array) else "a broken action"  # an array is a destination
    kind = action.get("/S")
    if kind not in SAFE_ACTIONS:
        return f"{str(kind)[1:] or 'unknown'} actions"
    if kind == Name.URI:
        uri = action.get("/URI")
        raw = bytes(uri) if isinstance(uri, pikepdf.String) else b""
        if not SAFE_URI.match(raw):
            return "links that run code or open local files"
    if kind == Name.Named and action.get("/N") not in SAFE_NAMED:
        return "named actions"
    return None


def _defuse(pdf: pikepdf.Pdf) -> list[str]:
    """Remove everything that can run code, call out or carry a hidden file; say what went."""
    removed: set[str] = set()
    root = pdf.Root
    if "/OpenAction" in root and isinstance(root.OpenAction, Dictionary):
        del root.OpenAction
        removed.add("an action run when the file opens")
    for key, what in (("/AA", "actions run on document events"), ("/Collection", "a portfolio")):
        if key in root:
            del root[key]
            removed.add(what)
    names = root.get("/Names")
    if isinstance(names, Dictionary):
        for key in UNSAFE_NAMES:
            if key in names:
                del names[key]
                removed.add({"/JavaScript": "JavaScript", "/EmbeddedFiles": "embedded files"}.get(key, "media"))
    form = root.get("/AcroForm")
    if isinstance(form, Dictionary):
        for key in ("/XFA", "/NeedsRendering"):
            if key in form:
                del form[key]
                removed.add("an XFA form")
    # Every dictionary in the file, indirect or nested, once: actions hide in annotations, form
    # fields, outlines and in each other (/Next).
    stack: list = [obj for obj in pdf.objects if isinstance(obj, (Dictionary, Stream, Array))]
    stack.append(pdf.trailer)
    budget = 5_000_000
    while stack:
        budget -= 1
        if budget < 0:
            raise PdfRefused("This PDF has too many objects to check.")
        obj = stack.pop()
        if isinstance(obj, Array):
            stack.extend(item for item in obj if isinstance(item, (Dictionary, Array)) and not item.is_indirect)
            continue
        target = obj.stream_dict if isinstance(obj, Stream) else obj
        if "/AA" in target:
            del target["/AA"]
            removed.add("actions run on page or field events")
        for key in ("/JS", "/Next"):
            if key in target:
                del target[key]
                removed.add("JavaScript" if key == "/JS" else "chained actions")
        for key in ("/A", "/PA"):
            if key in target:
                problem = _unsafe_action(target[key])
                if problem:
                    del target[key]
                    removed.add(problem)
        if "/EF" in target or "/RF" in target:
            for key in ("/EF", "/RF"):
                if key in target:
                    del target[key]
            removed.add("embedded files")
        for value in target.values():
            if isinstance(value, (Dictionary, Array)) and not value.is_indirect:
                stack.append(value)
    for page in pdf.pages:
        annots = page.obj.get("/Annots")
        if not isinstance(annots, Array):
            if annots is not None:
                del page.obj["/Annots"]
            continue
        kept = Array()
        for annot in annots:
            if isinstance(annot, Dictionary) and annot.get("/Subtype") in UNSAFE_ANNOTATIONS:
                removed.add("attached files and media")
                continue
            kept.append(annot)
        if len(kept) != len(annots):
            page.obj.Annots = kept
    return sorted(removed)


# --- content: shared streams, size checks ----------------------------------------------------


def _content_streams(page: Dictionary) -> list[Stream]:
    contents = page.get("/Contents")
    if isinstance(contents, Stream):
        return [contents]
    if isinstance(contents, Array):
        return [item for item in contents if isinstance(item, Stream)]
    return []


def _unshare_contents(pdf: pikepdf.Pdf) -> None:
    """Give each page a content stream of its own without copying shared drawing.

    A stream used by several pages would otherwise be copied into every page the stamp touches
    (a thousand pages sharing one stream made a 290 MB copy of a 117 KB file). Such a page's
    drawing becomes one form, shared, which the page's own small stream paints.
    """
    users: dict[tuple[int, int], int] = {}
    for page in pdf.pages:
        for stream in _content_streams(page.obj):
            users[stream.objgen] = users.get(stream.objgen, 0) + 1
    forms: dict[tuple, Stream] = {}
    for page in pdf.pages:
        streams = _content_streams(page.obj)
        if not any(users.get(s.objgen, 0) > 1 for s in streams):
            continue
        resources = page.obj.get("/Resources")
        if resources is not None and not resources.is_indirect:
            resources = pdf.make_indirect(resources)
            page.obj.Resources = resources
        key = (tuple(s.objgen for s in streams), resources.objgen if resources is not None else None)
        form = forms.get(key)
        if form is None:
            body = b"\n".join(s.read_bytes() for s in streams)
            form = pdf.make_stream(body)
            form.Type, form.Subtype = Name.XObject, Name.Form
            form.BBox = page.obj.MediaBox
            if resources is not None:
                form.Resources = resources
            forms[key] = form
        name = _place(page.obj, "/XObject", "CnclPage", form)
        page.obj.Contents = pdf.make_stream(f"q {name} Do Q".encode())


def _check_expansion(pdf: pikepdf.Pdf, limits: Limits) -> None:
    """Refuse streams that inflate past the limit (a compression bomb), counting without keeping."""
    allowed = limits.max_expanded_mb * 1024 * 1024
    total = 0
    for obj in pdf.objects:
        if not isinstance(obj, Stream):
            continue
        filters = obj.stream_dict.get("/Filter")
        if isinstance(filters, Array) and len(filters) == 1:
            filters = filters[0]
        if filters == Name.FlateDecode:
            inflater = zlib.decompressobj()
            chunk = obj.read_raw_bytes()
            try:
                while chunk:
                    total += len(inflater.decompress(chunk, 1 << 20))
                    if total > allowed:
                        raise PdfRefused(_bomb_message(limits))
                    chunk = inflater.unconsumed_tail
            except zlib.error:
                continue  # a broken stream is the viewer's problem, not a size one
        elif filters is not None and filters not in (Name.DCTDecode, Name.JPXDecode, Name.CCITTFaxDecode,
                                                     Name.JBIG2Decode):
            try:
                total += len(obj.read_bytes())
            except pikepdf.PdfError:
                continue
            if total > allowed:
                raise PdfRefused(_bomb_message(limits))


def _bomb_message(limits: Limits) -> str:
    return (f"This PDF unpacks to more than {limits.max_expanded_mb} MB of data, far more than its size "
            "suggests; save it again from the program that made it.")


def _place(page: Dictionary, category: str, stem: str, obj) -> Name:
    """Put ``obj`` in the page's resources under ``category`` and return its name: ``stem``, or
    ``stem`` numbered when the page (or pages sharing its resources) already use that name for
    something else. Shared resources end up with one entry, not one per page."""
    resources = page.get("/Resources")
    if not isinstance(resources, Dictionary):
        page.Resources = resources = Dictionary()
    existing = resources.get(category)
    if not isinstance(existing, Dictionary):
        resources[category] = existing = Dictionary()
    number = 1
    while True:
        name = Name(f"/{stem}" if number == 1 else f"/{stem}{number}")
        if name not in existing:
            existing[name] = obj
            return name
        if existing[name].is_indirect and existing[name].objgen == obj.objgen:
            return name
        number += 1


# --- geometry and tone -----------------------------------------------------------------------


def _box(page: Dictionary) -> tuple[float, float, float, float]:
    """The visible box (crop box within the media box) as (left, bottom, width, height)."""
    def numbers(value):
        try:
            x0, y0, x1, y1 = (float(v) for v in value)
        except (TypeError, ValueError):
            return None
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    media = numbers(page.get("/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    crop = numbers(page.get("/CropBox")) or media
    left, bottom = max(crop[0], media[0]), max(crop[1], media[1])
    right, top = min(crop[2], media[2]), min(crop[3], media[3])
    if right - left <= 1 or top - bottom <= 1:
        raise PdfRefused("A page of this PDF has no visible area.")
    return left, bottom, right - left, top - bottom


def _rotation(page: Dictionary) -> int:
    try:
        return int(page.get("/Rotate", 0)) % 360 // 90 * 90
    except (TypeError, ValueError):
        return 0


LOOK_DPI = 36


def _stale_levels(page: Dictionary) -> bool:
    """Whether the page's noted strengths were counted for another layout of the mark (one digit a copy)."""
    levels = page.get(LEVELS_KEY)
    if not isinstance(levels, pikepdf.String):
        return False
    _, _, width, height = _box(page)
    seen = (height, width) if _rotation(page) in (90, 270) else (width, height)
    return len(bytes(levels)) != len(forensic.geometry(*seen)[1])


def _note_looks(pdf: pikepdf.Pdf, data: bytes, dpi: float = LOOK_DPI, busy: bool = True) -> None:
    """Note on each page how light its bottom margin is, so the stamp's text can contrast with it,
    and how busy the page is under each copy of the mark, so the mark can be stronger where a
    photograph's own texture would drown it (and hides it from the eye as well).

    Pages that draw the same thing in the same box (after ``_unshare_contents``: the same form)
    are rendered once."""
    document = pypdfium2.PdfDocument(data)
    looks: dict[tuple, tuple[Decimal, pikepdf.String]] = {}
    try:
        for index, page in enumerate(pdf.pages):
            xobjects = page.obj.get("/Resources", Dictionary()).get("/XObject", Dictionary())
            drawn = tuple(x.objgen for x in xobjects.values() if isinstance(x, Stream)) if isinstance(
                xobjects, Dictionary) else ()
            contents = tuple(s.objgen for s in _content_streams(page.obj))
            key = (drawn if len(contents) == 1 and drawn and _is_form_call(page.obj) else contents,
                   _box(page.obj), _rotation(page.obj))
            if key not in looks:
                shown = document[index]
                image = shown.render(scale=dpi / 72, grayscale=True, may_draw_forms=False).to_numpy()
                grey = (image[..., 0] if image.ndim == 3 else image).astype(np.float32)
                strip = grey[-max(2, grey.shape[0] // 20):, :]  # rendered upright: the visible bottom
                tone = Decimal(f"{float(np.median(strip)) / 255:.3f}")
                looks[key] = (tone, pikepdf.String(forensic.busyness(grey, *shown.get_size())) if busy else None)
            page.obj[TONE_KEY] = looks[key][0]
            if busy:
                page.obj[LEVELS_KEY] = looks[key][1]
    finally:
        document.close()


def _is_form_call(page: Dictionary) -> bool:
    streams = _content_streams(page)
    return len(streams) == 1 and streams[0].stream_dict.get("/Length", 0) < 64 and streams[0].read_bytes().startswith(
        b"q /CnclPage")


# --- the visible stamp -----------------------------------------------------------------------


@cache
def _vera():
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
    glyphs = _vera().face.charToGlyph
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


def _font_for(lines: list[str]) -> str:
    """Helvetica (not embedded, nothing added to the file) when every character is in its encoding."""
    try:
        for line in lines:
            line.encode("cp1252")
        return "Helvetica"
    except UnicodeEncodeError:
        _vera()
        return FONT_NAME


def text_colour(tone: float) -> tuple[float, float, float]:
    """A grey that reads on a background of this tone: dark on light pages, light on dark ones."""
    return (0.28, 0.28, 0.32) if tone >= 0.45 else (0.86, 0.86, 0.88)


def _footer_drawing(width: float, height: float, rotation: int, lines: list[str], tone: float, font: str) -> bytes:
    """A one-page PDF (made by reportlab) of ``width`` × ``height`` holding only the footer text, upright
    as the page is shown; its content stream and font are moved into the stamped page."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width, height), pageCompression=0)
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
        wide = stringWidth(text, font, size)
        return size if wide <= room else max(size * room / wide, MIN_FOOTER_SIZE)

    # One line when it fits, else one line per item; never a band over the page.
    joined = "  ·  ".join(lines)
    rows = [joined] if stringWidth(joined, font, FOOTER_SIZE) <= room else list(lines)
    size = min(fitting(row, FOOTER_SIZE) for row in rows)
    leading = size * 1.25
    pdf.setFont(font, size)
    # A hairline shadow in the opposite tone keeps the line readable where a photo under it is
    # partly light and partly dark, without painting a band.
    shadow = text_colour(1 - tone if abs(tone - 0.45) > 0.05 else 0.0)
    for colour, dx, dy in ((shadow, size * 0.06, -size * 0.06), (text_colour(tone), 0.0, 0.0)):
        pdf.setFillColorRGB(*colour)
        y = size * 0.55 + leading * (len(rows) - 1)
        for row in rows:
            pdf.drawCentredString(seen_w / 2 + dx, y + dy, row)
            y -= leading
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


class _Stamper:
    """Adds the footer (and, given a download id, the forensic mark) to the pages of one document."""

    def __init__(self, pdf: pikepdf.Pdf, lines: list[str], download_id: str | None):
        self.pdf = pdf
        self.lines = [text for text in (drawable(line) for line in lines) if text] or ["?"]
        self.font = _font_for(self.lines)
        self.download_id = download_id
        self.footers: dict[tuple, tuple[bytes, dict]] = {}
        self.fonts: dict[str, object] = {}
        self.marks: dict[tuple, bytes] = {}
        self.mark_states = {
            f"/Mark{kind}{level}": pdf.make_indirect(Dictionary(Type=Name.ExtGState, ca=Decimal(f"{alpha:.4f}")))
            for level, (dark, light) in enumerate(forensic.MARK_ALPHAS)
            for kind, alpha in (("Dark", dark), ("Light", light))
        }

    def _footer(self, width, height, rotation, tone) -> tuple[bytes, dict]:
        key = (round(width, 2), round(height, 2), rotation, tone >= 0.45)
        if key not in self.footers:
            drawing = pikepdf.open(io.BytesIO(_footer_drawing(width, height, rotation, self.lines, tone, self.font)))
            page = drawing.pages[0].obj
            content = b"\n".join(s.read_bytes() for s in _content_streams(page))
            fonts = {}
            for name, font in page.Resources.get("/Font", Dictionary()).items():
                base = str(font.get("/BaseFont"))
                if base not in self.fonts:
                    self.fonts[base] = self.pdf.copy_foreign(font)
                fonts[name] = self.fonts[base]
            self.footers[key] = (content, fonts)
        return self.footers[key]

    def _mark(self, page: Dictionary, box: tuple[float, float, float, float], rotation: int) -> bytes:
        if not self.download_id or not forensic.is_markable(self.download_id):
            return b""
        levels = page.get(LEVELS_KEY)
        levels = bytes(levels).decode("ascii", "replace") if isinstance(levels, pikepdf.String) else ""
        key = (*(round(v, 2) for v in box), rotation, levels)
        if key not in self.marks:
            self.marks[key] = forensic.pdf_mark_ops(self.download_id, *box, rotation, levels)
        ops = self.marks[key]
        for name, state in self.mark_states.items():
            if name.encode() + b" gs" in ops:
                ours = _place(page, "/ExtGState", "Cncl" + name[1:], state)
                ops = ops.replace(name.encode() + b" gs", str(ours).encode() + b" gs")
        return ops

    def stamp(self, page: Dictionary) -> None:
        left, bottom, width, height = _box(page)
        rotation = _rotation(page)
        try:
            tone = float(page.get(TONE_KEY, 1))
        except (TypeError, ValueError):
            tone = 1.0
        footer, fonts = self._footer(width, height, rotation, tone)
        for name, font in fonts.items():
            ours = _place(page, "/Font", FONT_RESOURCE + name[1:], font)
            footer = re.sub(rb"/" + re.escape(name[1:].encode()) + rb"(?=\s)", str(ours).encode(), footer)
        mark = self._mark(page, (left, bottom, width, height), rotation)
        body = b"\n".join(s.read_bytes() for s in _content_streams(page))
        # The page's own drawing is isolated in q…Q; the footer is placed in the crop box.
        drawing = b"q\n" + body + b"\nQ\n" + mark + b"\nq 1 0 0 1 %.3f %.3f cm\n" % (left, bottom) + footer + b"\nQ\n"
        page.Contents = self.pdf.make_stream(drawing)
        for key in (TONE_KEY, LEVELS_KEY):
            if key in page:
                del page[key]


def _save(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate,
             stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return out.getvalue()


# --- the entry points (each runs in a child process) -----------------------------------------


def _guarded(work, message: str):
    try:
        return work()
    except PdfRefused:
        raise
    except MemoryError:
        raise
    except Exception as error:  # qpdf and reportlab raise many kinds on damaged input
        if "bad_alloc" in str(error):  # qpdf reports running out of memory as a decoding error
            raise MemoryError from error
        raise PdfRefused(message) from error


def prepare(data: bytes, limits: Limits) -> dict:
    """The clean copy of ``data`` to keep, as {"data", "pages", "removed"}. Raises PdfRefused when no
    safe copy can be made."""
    def work():
        pdf = _open(data)
        pages = _flatten_pages(pdf, limits)
        _check_expansion(pdf, limits)
        removed = _defuse(pdf)
        read: set[tuple[int, int]] = set()
        for page in pdf.pages:
            _box(page.obj)
            for stream in _content_streams(page.obj):
                if stream.objgen not in read:  # every page must be drawable now, not fail at a download
                    stream.read_bytes()
                    read.add(stream.objgen)
        _unshare_contents(pdf)
        clean = _save(pdf)
        pdf = pikepdf.open(io.BytesIO(clean))
        _note_looks(pdf, clean)
        return {"data": _save(pdf), "pages": pages, "removed": removed}

    return _guarded(work, "This PDF is damaged and cannot be read.")


def stamp(data: bytes, limits: Limits, lines: list[str], download_id: str | None) -> bytes:
    """A copy of prepared ``data`` with the footer and the forensic mark on every page."""
    def work():
        pdf = _open(data)
        _flatten_pages(pdf, limits)
        _defuse(pdf)
        _unshare_contents(pdf)
        if any(TONE_KEY not in page.obj for page in pdf.pages):
            # Not a prepared copy (a file stored before preparation was kept): a quick look at each
            # page's margin, so the line still contrasts with it; the mark keeps its plain strength.
            # Its content is read first, so that a bomb in it is met by qpdf, which says so.
            for page in pdf.pages:
                for stream in _content_streams(page.obj):
                    stream.read_bytes()
            _note_looks(pdf, data, dpi=12, busy=False)
        elif any(_stale_levels(page.obj) for page in pdf.pages):
            _note_looks(pdf, data)  # prepared for another layout of the mark: its strengths are noted again
        stamper = _Stamper(pdf, lines, download_id)
        for page in pdf.pages:
            stamper.stamp(page.obj)
        out = _save(pdf)
        # By construction a copy grows by its stamps only; anything else is a fault, never served.
        if len(out) > 2 * len(data) + 64 * 1024 + 16 * 1024 * len(pdf.pages):
            raise PdfRefused("This PDF cannot be stamped without growing far beyond its size.")
        return out

    return _guarded(work, "This PDF is damaged and cannot be stamped.")


def render_page(data: bytes, limits: Limits, page_number: int, lines: list[str], download_id: str | None,
                dpi: float) -> bytes:
    """One page of prepared ``data``, stamped, as PNG bytes."""
    def work():
        pdf = _open(data)
        count = _flatten_pages(pdf, limits)
        if not 1 <= page_number <= count:
            raise PdfRefused(f"This PDF has no page {page_number}; it has {count}.")
        _defuse(pdf)
        keep = pdf.pages[page_number - 1]
        for index in reversed(range(count)):
            if index != page_number - 1:
                del pdf.pages[index]
        del keep
        _Stamper(pdf, lines, download_id).stamp(pdf.pages[0].obj)
        single = _save(pdf)
        document = pypdfium2.PdfDocument(single)
        try:
            image = document[0].render(scale=dpi / 72, may_draw_forms=False).to_pil()
        finally:
            document.close()
        out = io.BytesIO()
        image.convert("RGB").save(out, "PNG", optimize=False)
        return out.getvalue()

    return _guarded(work, "This PDF is damaged and cannot be shown.")
