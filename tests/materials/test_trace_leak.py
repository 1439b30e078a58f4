"""Organizers hand in a leaked file and learn whose copy it was: the page, the worker's job, the audit trail."""

from __future__ import annotations

import io
import re

import numpy as np
import sqlalchemy as sa
from PIL import Image

from bench import quality
from bench.trace import strip_visible_line
from tests.helpers import blank_png, login_as, make_event, make_participant, make_pdf, make_talk, make_user
from workshop.extensions import db
from workshop.models import AuditEntry, Job, JobStatus, MaterialAccess
from workshop.services import materials
from workshop.watermark import Found

RESULT = re.compile(r"/e/retreat/manage/trace/([\w-]+)$")


def served_copy(client, user, material) -> tuple[bytes, MaterialAccess]:
    login_as(client, user)
    response = client.get(f"/m/{material.public_id}")
    assert response.status_code == 200
    access = db.session.scalars(sa.select(MaterialAccess).order_by(MaterialAccess.id.desc())).first()
    return response.data, access


def stripped_copy(client, user, material) -> tuple[bytes, MaterialAccess]:
    """A copy with the line at the foot of each page removed: only the forensic mark is left."""
    data, access = served_copy(client, user, material)
    lines = materials.watermark_lines(user, access.created_at, access.download_id)
    return strip_visible_line(data, lines), access


def screenshot(pdf: bytes, page: int = 0) -> bytes:
    out = io.BytesIO()
    Image.fromarray(quality.render(pdf, 100)[page]).save(out, "PNG")
    return out.getvalue()


def hand_in(client, data: bytes, filename: str = "leak.pdf", slug: str = "retreat"):
    return client.post(f"/e/{slug}/manage/trace", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def trace_page(client, response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    return page.get_data(as_text=True)


def audit_details(action: str) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.detail).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def test_a_leaked_pdf_without_its_visible_line_names_the_person(client, talk):
    material = talk.upload_ok(client, make_pdf("Unpublished result", pages=3))
    leaked, access = stripped_copy(client, talk.ada, material)
    assert b"ada@example.org" not in leaked and access.download_id.encode() not in leaked
    served_copy(client, talk.bob, material)  # someone else's copy is not named
    login_as(client, talk.organizer)
    response = hand_in(client, leaked, "found-on-a-forum.pdf")
    job = db.session.scalars(sa.select(Job).where(Job.kind == materials.TRACE_KIND)).one()
    assert job.status == JobStatus.DONE and RESULT.search(response.headers["Location"]).group(1) == job.public_id
    page = trace_page(client, response)
    assert "Ada Lovelace" in page and "ada@example.org" in page and access.download_id in page
    assert "slides.pdf" in page and "forensic mark" in page and "visible text" not in page
    assert "bob@example.org" not in page
    assert "Not from this event" not in page
    # Recorded twice: the file handed in, and what it named. The file itself is not kept.
    assert "found-on-a-forum.pdf (PDF" in audit_details("trace leak")[0]
    assert audit_details("leak traced") == [f"found-on-a-forum.pdf: names download(s) {access.download_id}"]
    assert sorted(p.name for p in talk.storage_dir.rglob("*") if p.is_file()) == [material.storage_key]
    # The trace is listed on the page it started from.
    assert f"/e/retreat/manage/trace/{job.public_id}" in client.get("/e/retreat/manage/trace").get_data(as_text=True)


def test_a_screenshot_of_one_page_names_the_person(client, talk):
    material = talk.upload_ok(client, make_pdf("Unpublished result", pages=2))
    leaked, access = stripped_copy(client, talk.bob, material)
    login_as(client, talk.organizer)
    page = trace_page(client, hand_in(client, screenshot(leaked, 1), "screen.png"))
    assert "Bob Brown" in page and "bob@example.org" in page and access.download_id in page


def test_a_leak_whose_mark_cannot_be_read_alone_is_compared_with_the_events_files(client, talk, monkeypatch):
    """A corner of a photograph, greyed and saved as JPEG: compared with this event's files (never another
    event's), the mark names the person; the page says it was read against the original."""
    from bench import samples
    from bench.trace import grey_rgb, jpeg_bytes, quarter

    photo = talk.upload_ok(client, samples.slide("photo", 2), "cat.pdf")
    talk.upload_ok(client, make_pdf("Another deck", pages=2), "other.pdf")
    monkeypatch.setattr(materials, "public_id", lambda: "Cat0CornerOfPage")  # the same mark every run
    leaked, access = stripped_copy(client, talk.ada, photo)
    corner = jpeg_bytes(quarter(grey_rgb(quality.render(leaked, 100)[0]), np.random.default_rng(1)), 60)
    compared = []
    real = materials.find_against_originals

    def watched(data, originals, limits):
        def counted():
            for original in originals:
                compared.append(original[1])
                yield original
        return real(data, counted(), limits)

    monkeypatch.setattr(materials, "find_download_ids", lambda data, limits: [])  # as when the blind reading fails
    monkeypatch.setattr(materials, "find_against_originals", watched)
    login_as(client, talk.organizer)
    page = trace_page(client, hand_in(client, corner, "corner.jpg"))
    assert "Ada Lovelace" in page and access.download_id in page and "cat.pdf" in page
    assert "forensic mark, against the original" in page
    assert audit_details("leak traced") == [f"corner.jpg: names download(s) {access.download_id}"]
    assert compared == ["application/pdf", "application/pdf"]  # the newest first: other.pdf, then cat.pdf


def test_a_mark_and_a_visible_line_are_one_row_and_an_altered_line_hides_nobody(client, talk):
    """The mark carries 8 characters; the access log completes them. A visible line whose end was altered
    names nobody, and does not stop the mark from naming the person."""
    material = talk.upload_ok(client, make_pdf("Unpublished result", pages=2))
    _, access = served_copy(client, talk.ada, material)
    whole, mark = access.download_id, access.download_id[:8]
    both = materials.traced_ids(talk.event, [Found(whole, ("visible text",), (1, 2)),
                                             Found(mark, ("forensic mark",), (2, 3))])
    assert both == [materials.TracedId(whole, ("visible text", "forensic mark"), (1, 2, 3), access)]
    altered = mark + ("A" if whole[8] != "A" else "B") + whole[9:]
    rows = materials.traced_ids(talk.event, [Found(altered, ("visible text",), (1,)),
                                             Found(mark, ("forensic mark",), (1,))])
    assert rows == [materials.TracedId(altered, ("visible text",), (1,), None),
                    materials.TracedId(whole, ("forensic mark",), (1,), access)]


def test_a_marks_8_characters_are_looked_up_by_an_index(client, talk):
    """A trace completes the mark's 8 characters through an index on them, not by reading the whole log."""
    material = talk.upload_ok(client, make_pdf("Unpublished result"))
    _, access = served_copy(client, talk.ada, material)
    statement = (sa.select(MaterialAccess.id)
                 .where(sa.func.substr(MaterialAccess.download_id, 1, 8).in_([access.download_id[:8]])))
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))  # a handful of rows would be read whole
        plan = " ".join(db.session.scalars(sa.text("EXPLAIN " + str(statement.compile(
            db.engine, compile_kwargs={"literal_binds": True})))))
    else:
        plan = " ".join(str(row) for row in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + str(
            statement.compile(db.engine, compile_kwargs={"literal_binds": True})))))
    assert "ix_material_accesses_download_prefix" in plan, plan
    db.session.rollback()
    assert materials.accesses_by_download_id(talk.event, [access.download_id[:8]]) == {access.download_id[:8]: access}


def test_a_copy_of_another_events_material_names_nobody_here(client, talk):
    other_organizer = make_user("else@example.org", "Elsa Elsewhere")
    elsewhere = make_event("elsewhere", organizers=[other_organizer])
    speaker = make_participant(elsewhere, "far-speaker@example.org")
    reader = make_participant(elsewhere, "far-reader@example.org")
    proposal = make_talk(elsewhere, speaker, "Far away")
    material = materials.store_upload(speaker, proposal, "far.pdf", io.BytesIO(make_pdf("Far away")))
    db.session.commit()
    leaked, access = served_copy(client, reader, material)
    login_as(client, talk.organizer)
    page = trace_page(client, hand_in(client, leaked))
    assert access.download_id in page and "Not from this event" in page
    assert "far-reader@example.org" not in page and "far.pdf" not in page and "Far away" not in page
    assert audit_details("leak traced") == ["leak.pdf: names nobody of this event; 1 id(s) not from this event"]
    # Its own organizer, handing in the same copy, is told whose it is.
    login_as(client, other_organizer)
    assert "far-reader@example.org" in trace_page(client, hand_in(client, leaked, slug="elsewhere"))


def test_a_file_without_a_mark_names_nobody(client, talk):
    login_as(client, talk.organizer)
    noise = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(noise, "JPEG")
    page = trace_page(client, hand_in(client, noise.getvalue(), "noise.jpg"))
    assert "No download id was found" in page


def test_bad_files_are_refused_with_the_form_again_and_nothing_started(client, talk, monkeypatch, app):
    login_as(client, talk.organizer)
    text = hand_in(client, b"just some words, not a page", "leak.pdf")
    assert text.status_code == 422 and "PDF, PNG and JPEG" in text.get_data(as_text=True)
    empty = hand_in(client, b"", "leak.pdf")
    assert empty.status_code in (400, 422) and 'type="file"' in empty.get_data(as_text=True)
    missing = client.post("/e/retreat/manage/trace", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400 and "Choose the leaked file." in missing.get_data(as_text=True)
    monkeypatch.setitem(app.config, "MATERIAL_MAX_BYTES", 1000)
    assert hand_in(client, make_pdf(pages=3)).status_code == 413
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    assert not [p for p in talk.storage_dir.rglob("*") if p.is_file()]


def test_a_damaged_pdf_says_so_on_the_trace_page(client, talk):
    login_as(client, talk.organizer)
    page = trace_page(client, hand_in(client, b"%PDF-1.7\n" + b"\x00garbage" * 50))
    assert "could not be read" in page and "damaged" in page


def test_a_trace_is_for_its_events_organizers_only(client, talk):
    login_as(client, talk.organizer)
    url = hand_in(client, blank_png(), "leak.png").headers["Location"]
    for person, status in ((talk.speaker, 403), (talk.ada, 403), (talk.stranger, 404), (None, 404)):
        login_as(client, person)
        assert client.get(url).status_code == status
        assert hand_in(client, blank_png(), "leak.png").status_code == status
    other_organizer = make_user("else@example.org")
    make_event("elsewhere", organizers=[other_organizer])
    login_as(client, other_organizer)
    assert client.get(url.replace("/retreat/", "/elsewhere/")).status_code == 404


def test_a_typed_download_id_is_audited_too(client, talk):
    material = talk.upload_ok(client, make_pdf())
    _data, access = served_copy(client, talk.ada, material)
    login_as(client, talk.organizer)
    assert client.get("/e/retreat/manage/trace", query_string={"download_id": access.download_id}).status_code == 200
    assert client.get("/e/retreat/manage/trace", query_string={"download_id": "AAAAAAAAAAAAAAAA"}).status_code == 404
    assert audit_details("trace download id") == [f"download id {access.download_id}: found",
                                                  "download id AAAAAAAAAAAAAAAA: no download of this event"]
