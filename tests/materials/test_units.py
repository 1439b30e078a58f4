"""The pieces on their own: storage keys, local storage, filenames, type detection, the watermark's geometry."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen import canvas

from tests.helpers import make_pdf
from workshop.services.errors import DomainError
from workshop.services.materials import detect_type, human_size, sanitize_filename
from workshop.storage import LocalStorage, S3Storage, StorageError, new_key, storage_from_config
from workshop.watermark import StampError, check_pdf, drawable, stamp_pdf

# --- storage ------------------------------------------------------------------------------


def test_keys_are_random_and_path_safe():
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(k) == 43 and k.replace("-", "").replace("_", "").isalnum() for k in keys)


@pytest.mark.parametrize("key", ["../../etc/passwd", "short", "a" * 101, "abc/def/ghi/jkl/mno", "x" * 15 + ".",
                                 "é" * 20, ""])
def test_local_storage_refuses_any_key_that_could_form_a_path(tmp_path, key):
    storage = LocalStorage(tmp_path)
    for call in (lambda: storage.put(key, b"x"), lambda: storage.get(key), lambda: storage.delete(key)):
        with pytest.raises(ValueError):
            call()
    assert list(tmp_path.iterdir()) == []


def test_local_storage_round_trip(tmp_path):
    storage = LocalStorage(tmp_path / "m")
    key = new_key()
    storage.put(key, b"bytes")
    assert storage.get(key) == b"bytes"
    assert (tmp_path / "m" / key[:2] / key).read_bytes() == b"bytes"
    storage.delete(key)
    storage.delete(key)  # deleting twice is fine
    with pytest.raises(StorageError):
        storage.get(key)


def test_the_backend_follows_storage_url(tmp_path):
    base = {"MATERIALS_DIR": str(tmp_path / "default"), "S3_ENDPOINT_URL": "http://127.0.0.1:9"}
    assert storage_from_config({**base, "STORAGE_URL": ""}).root == tmp_path / "default"
    assert storage_from_config({**base, "STORAGE_URL": "file://"}).root == tmp_path / "default"
    assert storage_from_config({**base, "STORAGE_URL": f"file://{tmp_path}/other"}).root == tmp_path / "other"
    s3 = storage_from_config({**base, "STORAGE_URL": "s3://bucket/a/b/"})
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "a/b/")
    assert s3.object_name("k" * 20) == "a/b/" + "k" * 20
    assert storage_from_config({**base, "STORAGE_URL": "s3://bucket"}).prefix == ""
    with pytest.raises(RuntimeError):
        storage_from_config({**base, "STORAGE_URL": "ftp://host/dir"})


def test_materials_are_never_stored_under_static(app, monkeypatch):
    from workshop.storage import get_storage

    monkeypatch.setitem(app.config, "STORAGE_URL", "")
    monkeypatch.setitem(app.config, "MATERIALS_DIR", app.static_folder + "/uploads")
    with app.app_context(), pytest.raises(RuntimeError, match="static"):
        get_storage()


# --- names and types ----------------------------------------------------------------------


@pytest.mark.parametrize("name, clean", [
    ("slides.pdf", "slides.pdf"),
    ("C:\\Users\\ada\\slides.pdf", "slides.pdf"),
    ("  .hidden.pdf ", "hidden.pdf"),
    ("a\u202egpj.exe", "agpj.exe"),
    ("a\u0000b\u0007c.pdf", "abc.pdf"),
    ("line\u2028break.pdf", "line break.pdf"),
    ("many    spaces.pdf", "many spaces.pdf"),
    ("n" * 200, "n" * 150),
    ("n" * 200 + ".tar.pdf", "n" * 146 + ".pdf"),
    (None, "file"),
])
def test_sanitize_filename(name, clean):
    assert sanitize_filename(name) == clean


def test_type_detection_names_what_it_found():
    assert detect_type(make_pdf()) == "application/pdf"
    assert detect_type(b"\xff\xd8\xff\xe0" + b"\x00" * 40) == "image/jpeg"
    with pytest.raises(DomainError, match="of type GZ"):
        detect_type(b"\x1f\x8b\x08" + b"\x00" * 40)
    with pytest.raises(DomainError, match="an HTML page"):
        detect_type(b"\xef\xbb\xbf<!DOCTYPE html><p>hi")


def test_human_size():
    assert [human_size(n) for n in (1, 512, 1536, 50 * 1024 * 1024)] == ["1 byte", "512 bytes", "1.5 KB", "50 MB"]


# --- the watermark ------------------------------------------------------------------------


def test_characters_the_font_lacks_are_replaced_not_dropped():
    assert drawable("Zoë Ærø") == "Zoë Ærø"
    assert drawable("Żaneta 李") == "Zaneta ?"
    assert drawable("a\u202eb\u0000c\nd") == "abc d"


def rotated_pdf(rotation: int, size=A4) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=size)
    pdf.drawString(72, 72, "content")
    pdf.showPage()
    pdf.save()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buffer.getvalue())))
    writer.pages[0].rotate(rotation)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def footer_placement(data: bytes) -> tuple[float, float, float, float, float, float]:
    """Where the footer's text starts and which way it runs, in the coordinates a reader sees."""
    page = PdfReader(io.BytesIO(data)).pages[0]
    width, height = float(page.cropbox.width), float(page.cropbox.height)
    found = []

    def visit(text, cm, tm, font, size):
        if "ada@example.org" in text:
            # The text matrix times the current transformation: its direction (a, b) and origin (e, f).
            found.append((tm[0] * cm[0] + tm[1] * cm[2], tm[0] * cm[1] + tm[1] * cm[3],
                          tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5]))

    page.extract_text(visitor_text=visit)
    a, b, x, y = found[0]
    rotation = page.rotation % 360
    # user space → what the reader sees: (u, v) with v up from the visible bottom edge, and the direction.
    if rotation == 90:
        return y, width - x, b, -a, height, width
    if rotation == 180:
        return width - x, height - y, -a, -b, width, height
    if rotation == 270:
        return height - y, x, -b, a, height, width
    return x, y, a, b, width, height


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("size", [A4, landscape(A4), (400, 225)])
def test_the_footer_reads_upright_at_the_visible_bottom_whatever_the_rotation(rotation, size):
    stamped = stamp_pdf(rotated_pdf(rotation, size), ["Ada Lovelace", "ada@example.org", "2025-01-01 10:00 UTC",
                                                      "download id abcdefghijklmnop"])
    u, v, du, dv, seen_w, seen_h = footer_placement(stamped)
    assert 0 <= v < 30, "the footer sits at the bottom as the page is shown"
    assert 0 <= u < seen_w
    assert du > 0 and abs(dv) < 1e-6, "the footer runs left to right as the page is shown"
    assert PdfReader(io.BytesIO(stamped)).pages[0].rotation == rotation


def test_a_crop_box_is_respected():
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(pages=1))))
    writer.pages[0].cropbox.lower_left = (100, 200)
    writer.pages[0].cropbox.upper_right = (500, 700)
    out = io.BytesIO()
    writer.write(out)
    stamped = stamp_pdf(out.getvalue(), ["ada@example.org"])
    page = PdfReader(io.BytesIO(stamped)).pages[0]
    positions = []
    page.extract_text(visitor_text=lambda text, cm, tm, *_: positions.append((cm[4] + tm[4], cm[5] + tm[5]))
                      if "ada@example.org" in text else None)
    x, y = positions[0]
    assert 100 <= x <= 500 and 200 <= y < 230


def test_long_lines_shrink_or_stack_to_fit_the_page():
    stamped = stamp_pdf(rotated_pdf(0, (200, 120)), ["A very long name " * 3, "someone@a-long-domain.example.org",
                                                     "download id abcdefghijklmnop"])
    text = PdfReader(io.BytesIO(stamped)).pages[0].extract_text()
    assert "someone@a-long-domain.example.org" in text and "abcdefghijklmnop" in text


@pytest.mark.parametrize("data", [b"", b"not a pdf", b"%PDF-1.4\n%%EOF", make_pdf()[:300]])
def test_what_cannot_be_stamped_raises(data):
    with pytest.raises(StampError):
        stamp_pdf(data, ["x"])
    with pytest.raises(StampError):
        check_pdf(data)


def test_a_pdf_with_no_pages_cannot_be_stamped():
    out = io.BytesIO()
    PdfWriter().write(out)
    with pytest.raises(StampError, match="no pages"):
        check_pdf(out.getvalue())
