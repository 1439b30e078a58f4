"""Uploading: the size limit, the type read from the bytes, hostile names, PDFs that cannot be stamped."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
import sqlalchemy as sa
from pypdf import PdfReader, PdfWriter

from tests.helpers import login_as, make_pdf, stored_files
from workshop.extensions import db
from workshop.models import AuditEntry, Material, MaterialAccess, MaterialState, ProposalStatus
from workshop.services import materials
from workshop.services.errors import DomainError
from workshop.storage import KEY_RE

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def material_count() -> int:
    """Materials still offered: a deleted one keeps its row (and access log) for tracing."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Material).where(Material.deleted_at.is_(None)))


def test_a_speaker_uploads_a_pdf_and_it_is_stored_under_a_random_key(client, talk):
    data = make_pdf()
    material = talk.upload_ok(client, data, "slides.pdf")
    assert material.filename == "slides.pdf"
    assert material.content_type == "application/pdf"
    # The queue runs at once in the tests: the worker has already kept the prepared copy, and only that.
    assert (material.state, material.pages, material.refusal) == (MaterialState.READY, 2, "")
    assert KEY_RE.fullmatch(material.storage_key) and "slides" not in material.storage_key
    files = stored_files(talk.storage_dir)
    assert [f.name for f in files] == [material.storage_key]
    kept = files[0].read_bytes()
    assert kept.startswith(b"%PDF-") and kept != data
    assert (material.size, material.sha256) == (len(kept), hashlib.sha256(kept).hexdigest())
    assert db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.target == f"material {material.public_id}")
                              .order_by(AuditEntry.id)).all() == ["upload material", "prepare material"]
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert "slides.pdf" in page and f"/m/{material.public_id}" in page


def test_the_limit_itself_is_accepted(app, client, talk, monkeypatch):
    data = make_pdf()
    monkeypatch.setitem(app.config, "MATERIAL_MAX_BYTES", len(data))
    material = talk.upload_ok(client, data)
    assert material.state == MaterialState.READY


def test_one_byte_over_the_limit_is_413_and_nothing_is_stored(app, client, talk, monkeypatch):
    data = make_pdf()
    monkeypatch.setitem(app.config, "MATERIAL_MAX_BYTES", len(data) - 1)
    response = talk.upload(client, data)
    assert response.status_code == 413
    assert "The file is too large" in response.get_data(as_text=True)
    assert material_count() == 0
    assert stored_files(talk.storage_dir) == []


def test_a_request_over_the_server_limit_is_413_and_names_the_material_limit(app, client, talk, monkeypatch):
    monkeypatch.setitem(app.config, "MATERIAL_MAX_BYTES", 2048)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    response = talk.upload(client, make_pdf() + b"\n" * 8192)
    assert response.status_code == 413
    assert "2 KB" in response.get_data(as_text=True)
    assert material_count() == 0


@pytest.mark.parametrize("filename, data, found", [
    ("slides.pdf", b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>", "an HTML page"),
    ("slides.pdf", b"  <html><body onload=alert(1)>", "an HTML page"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "an SVG image"),
    ("logo.png", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
     "an SVG image"),
    ("notes.pdf", b"just some text", "a text file"),
    ("run.pdf", b"MZ\x90\x00" + b"\x00" * 64, "of type EXE"),
])
def test_types_are_read_from_the_bytes_not_the_name(client, talk, filename, data, found):
    response = talk.upload(client, data, filename)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert found in body and "whatever its name says" in body and "Accepted: PDF" in body
    assert material_count() == 0
    assert stored_files(talk.storage_dir) == []


def test_an_empty_file_is_refused(client, talk):
    response = talk.upload(client, b"", "slides.pdf")
    assert response.status_code == 422
    assert "The file is empty." in response.get_data(as_text=True)
    assert material_count() == 0


def test_no_file_at_all_is_400(client, talk):
    login_as(client, talk.speaker)
    response = client.post(talk.upload_url(), data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a file to upload." in response.get_data(as_text=True)


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf())))
    writer.encrypt(user_password="", owner_password="owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("data, message", [
    (encrypted_pdf(), "password-protected or encrypted"),
    (b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
     "cannot be"),
    (make_pdf()[:700], "damaged"),
    (b"%PDF-1.4\n" + bytes(range(256)) * 4, "damaged"),
])
def test_a_pdf_that_cannot_be_stamped_is_refused_by_the_worker_and_never_served(client, talk, data, message):
    response = talk.upload(client, data, "slides.pdf")
    assert response.status_code == 302  # the request only stored it; the worker (run at once here) refused it
    [material] = db.session.scalars(sa.select(Material)).all()
    assert material.state == MaterialState.REFUSED
    assert message in material.refusal and "cannot be stamped" in material.refusal
    assert stored_files(talk.storage_dir) == []  # the refused bytes are gone
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "was refused" in page and message in page.replace("&#39;", "'") and "Refused" in page
    # Nobody gets it, the speaker included, and the attendees do not even see it listed.
    assert client.get(f"/m/{material.public_id}").status_code == 403
    login_as(client, talk.ada)
    assert client.get(f"/m/{material.public_id}").status_code == 403
    assert material.public_id not in client.get(talk.detail_url()).get_data(as_text=True)


@pytest.mark.parametrize("filename, shown", [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("slides\u202efdp.exe", "slidesfdp.exe.pdf"),
    ("\u2066evil\u2069\u200e.pdf", "evil.pdf"),
    ("x" * 296 + ".pdf", "x" * 146 + ".pdf"),
    ("...", "file.pdf"),
    ("Résumé – talk ✓.pdf", "Résumé – talk ✓.pdf"),
])
def test_hostile_filenames_are_cleaned_and_never_reach_storage(client, talk, filename, shown):
    material = talk.upload_ok(client, make_pdf(), filename)
    assert material.filename == shown
    assert len(material.filename) <= 150
    assert KEY_RE.fullmatch(material.storage_key)
    assert [f.relative_to(talk.storage_dir).as_posix() for f in stored_files(talk.storage_dir)] == [
        f"{material.storage_key[:2]}/{material.storage_key}"]
    assert not any(part in material.storage_key for part in ("..", "/", "\\", "etc", "passwd"))
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert f">{shown}<" in page.replace("&#39;", "'")


@pytest.mark.parametrize("filename, shown", [
    ("evil\x00.pdf", "evil.pdf"),
    ("a\r\nContent-Type: text\r\n\r\n.pdf", "a Content-Type: text .pdf"),
    ("", "file.pdf"),
    ("tab\there.pdf", "tab here.pdf"),
    ("/", "file.pdf"),
    ("..\\..\\windows\\system32\\slides.pdf", "slides.pdf"),
    ("zero\u200bwidth.pdf", "zerowidth.pdf"),
])
def test_control_characters_in_names_are_removed(talk, filename, shown):
    # Some of these cannot travel through a test client's multipart encoder: the service is asked directly.
    material = materials.store_upload(talk.speaker, talk.proposal, filename, io.BytesIO(make_pdf()))
    db.session.commit()
    assert material.filename == shown
    assert KEY_RE.fullmatch(material.storage_key)


def test_the_extension_follows_the_detected_type(client, talk):
    photo = talk.upload_ok(client, PNG, "photo.html")
    assert (photo.filename, photo.content_type) == ("photo.html.png", "image/png")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    bundle = talk.upload_ok(client, buffer.getvalue(), "data.zip")
    assert (bundle.filename, bundle.content_type) == ("data.zip", "application/zip")


def zipped(first: str, content: str, *rest: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(first), content)  # stored first, as office suites write it
        for name in rest:
            archive.writestr(name, "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize("data, filename, content_type, shown", [
    (zipped("[Content_Types].xml", "<Types/>", "_rels/.rels", "ppt/presentation.xml"), "deck.pptx",
     "application/vnd.openxmlformats-officedocument.presentationml.presentation", "deck.pptx"),
    (zipped("[Content_Types].xml", "<Types/>", "_rels/.rels", "word/document.xml"), "paper.docx",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "paper.docx"),
    (zipped("[Content_Types].xml", "<Types/>", "_rels/.rels", "xl/workbook.xml"), "data.xlsx",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "data.xlsx"),
    (zipped("mimetype", "application/vnd.oasis.opendocument.presentation", "content.xml"), "deck.odp",
     "application/vnd.oasis.opendocument.presentation", "deck.odp"),
    (zipped("mimetype", "application/vnd.oasis.opendocument.text", "content.xml"), "paper",
     "application/vnd.oasis.opendocument.text", "paper.odt"),
    (zipped("mimetype", "application/vnd.oasis.opendocument.spreadsheet", "content.xml"), "data.ods",
     "application/vnd.oasis.opendocument.spreadsheet", "data.ods"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "photo.JPEG", "image/jpeg", "photo.JPEG"),
    (b"GIF89a" + b"\x00" * 20, "anim.gif", "image/gif", "anim.gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "pic.webp", "image/webp", "pic.webp"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41" + b"\x00" * 32, "demo.mp4", "video/mp4", "demo.mp4"),
])
def test_accepted_types_are_recognised_from_their_bytes(client, talk, data, filename, content_type, shown):
    material = talk.upload_ok(client, data, filename)
    assert (material.content_type, material.filename) == (content_type, shown)


@pytest.mark.parametrize("role, status", [("ada", 403), ("organizer", 403), ("stranger", 404), ("unsigned", 404),
                                          ("anonymous", 404)])
def test_only_speakers_upload(client, talk, role, status):
    login_as(client, getattr(talk, role, None))
    response = client.post(talk.upload_url(), data={"file": (io.BytesIO(make_pdf()), "x.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == status
    assert material_count() == 0
    assert stored_files(talk.storage_dir) == []


def test_a_withdrawn_talk_takes_no_uploads(client, talk):
    talk.proposal.status = ProposalStatus.WITHDRAWN
    db.session.commit()
    assert talk.upload(client, make_pdf()).status_code == 403


def test_the_service_refuses_a_non_speaker(talk):
    with pytest.raises(DomainError, match="Only the speakers"):
        materials.store_upload(talk.ada, talk.proposal, "x.pdf", io.BytesIO(make_pdf()))


def test_a_speaker_deletes_a_material_and_its_bytes_go(client, talk):
    material = talk.upload_ok(client, make_pdf())
    download_url, delete_url = f"/m/{material.public_id}", talk.material_url(material, "/delete")
    assert len(stored_files(talk.storage_dir)) == 1
    login_as(client, talk.ada)
    assert client.post(delete_url).status_code == 403
    assert len(stored_files(talk.storage_dir)) == 1
    login_as(client, talk.speaker)
    response = client.post(delete_url)
    assert response.status_code == 302 and response.headers["Location"].endswith(talk.detail_url())
    assert material_count() == 0
    assert stored_files(talk.storage_dir) == []
    assert client.get(download_url).status_code == 404
    # The row and the record of every request stay: a copy leaked before the deletion is still traced.
    assert db.session.scalar(sa.select(MaterialAccess.reason).order_by(MaterialAccess.id.desc()).limit(1)) == "deleted"
    assert materials.trace_download(talk.proposal.event, db.session.scalar(
        sa.select(MaterialAccess.download_id).order_by(MaterialAccess.id).limit(1))) is not None


def test_a_rolled_back_upload_takes_its_bytes_with_it(talk):
    materials.store_upload(talk.speaker, talk.proposal, "x.pdf", io.BytesIO(make_pdf()))
    assert len(stored_files(talk.storage_dir)) == 1
    db.session.rollback()
    assert stored_files(talk.storage_dir) == []
    assert material_count() == 0
