"""Uploads are checked and prepared by the worker: the request stores the bytes and says "processing";
the worker keeps the defused copy or refuses the file with a reason; only a ready file is served."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from tests.helpers import defer_tasks, login_as, make_pdf, stored_files
from tests.materials import pdfs
from workshop import tasks
from workshop.extensions import db
from workshop.models import AuditEntry, Material, MaterialState
from workshop.services import materials
from workshop.storage import get_storage

P = MaterialState


def only_material() -> Material:
    db.session.expire_all()
    [material] = db.session.scalars(sa.select(Material)).all()
    return material


@pytest.fixture
def deferred(app, monkeypatch, tmp_path):
    """No worker runs: what the request queued waits."""
    defer_tasks(app, monkeypatch, tmp_path / "queue.db")
    yield tasks.queue_of(app).huey
    tasks.queue_of(app).huey.storage.flush_all()


def test_the_request_only_stores_the_upload_and_the_worker_prepares_it(client, talk, deferred):
    data = pdfs.with_scripts()
    response = talk.upload(client, data)
    assert response.status_code == 302
    material = only_material()
    assert material.state == P.PROCESSING and material.pages is None
    assert [f.read_bytes() for f in stored_files(talk.storage_dir)] == [data]  # as sent, for the worker
    assert deferred.pending_count() == 1  # one task waits for a worker
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "is being checked and prepared" in page and "Processing" in page
    assert 'data-status-url="' in page and "materials.js" in page
    status = client.get(talk.upload_url() + "/status")
    assert status.get_json() == {"processing": 1, "materials": [{"id": material.public_id, "state": "processing"}]}
    # Not served yet, not even to its speaker; attendees are told why in words.
    assert client.get(f"/m/{material.public_id}").status_code == 403
    login_as(client, talk.ada)
    response = client.get(f"/m/{material.public_id}")
    assert response.status_code == 403 and "still being checked and prepared" in response.get_data(as_text=True)
    assert "Not ready yet" in response.get_data(as_text=True)
    panel = client.get(talk.detail_url()).get_data(as_text=True)
    assert "slides.pdf" not in panel  # attendees see ready files only
    assert client.get(talk.upload_url() + "/status").status_code == 403

    assert materials.prepare_upload(material.id) == P.READY  # what the worker's task calls
    material = only_material()
    assert material.state == P.READY and material.pages == 2
    assert "JavaScript" in material.removed
    [kept] = stored_files(talk.storage_dir)
    assert kept.name == material.storage_key and kept.read_bytes() != data  # the upload as sent is gone
    assert not any(marker in pdfs.everything(kept.read_bytes()) for marker in pdfs.DEFUSED_MARKERS)
    response = client.get(f"/m/{material.public_id}")
    assert response.status_code == 200
    assert "ada@example.org" in PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    login_as(client, talk.speaker)
    assert client.get(talk.upload_url() + "/status").get_json()["processing"] == 0
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert "Removed when it was prepared: JavaScript" in page and "data-status-url" not in page
    # Run again (a task delivered twice, a sweep): nothing changes.
    assert materials.prepare_upload(material.id) is None
    assert only_material().storage_key == material.storage_key


def test_a_lost_task_is_found_by_the_sweep(app, client, talk, deferred):
    talk.upload(client, make_pdf())
    material = only_material()
    deferred.storage.flush_all()  # the task is lost
    assert materials.sweep_uploads() == 0  # too early: its worker may still be at it
    assert materials.sweep_uploads(now=material.created_at + timedelta(minutes=5)) == 1
    assert deferred.pending_count() == 1


def test_a_file_deleted_while_it_is_prepared_stays_deleted(client, talk, deferred):
    talk.upload(client, make_pdf())
    material = only_material()
    materials.delete_material(talk.speaker, material)
    db.session.commit()
    assert materials.prepare_upload(material.id) is None
    assert only_material().state == P.PROCESSING and stored_files(talk.storage_dir) == []


def test_a_file_that_keeps_failing_is_refused_in_the_end(client, talk, deferred):
    talk.upload(client, make_pdf())
    material = only_material()
    material.prepare_attempts = materials.MAX_PREPARE_ATTEMPTS
    db.session.commit()
    assert materials.prepare_upload(material.id) == P.REFUSED
    material = only_material()
    assert "could not finish checking" in material.refusal and stored_files(talk.storage_dir) == []


HOSTILE = pdfs.hostile_uploads()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_pdfs_through_the_upload_are_defused_or_refused(client, talk, name):
    data, outcome = HOSTILE[name]
    assert len(data) < 8 * 1024 * 1024
    response = talk.upload(client, data)  # the queue runs at once: the worker's work happens here
    assert response.status_code == 302
    material = only_material()
    pid = os.getpid()
    if outcome == "defused":
        assert material.state == P.READY, material.refusal
        kept = get_storage().get(material.storage_key)
        assert not any(marker in pdfs.everything(kept) for marker in pdfs.DEFUSED_MARKERS)
        login_as(client, talk.ada)
        served = client.get(f"/m/{material.public_id}")
        assert served.status_code == 200
        pages = PdfReader(io.BytesIO(served.data)).pages
        assert len(pages) == material.pages <= 300
        assert all("ada@example.org" in page.extract_text() for page in pages)
        # Bounded: the copy grows by the stamps (about 3 KB a page), never by a copy of the drawing.
        assert len(served.data) < 2 * len(data) + len(pages) * 4 * 1024, (len(data), len(served.data))
    else:
        assert material.state == P.REFUSED and outcome in material.refusal
        assert stored_files(talk.storage_dir) == []
        page = client.get(talk.detail_url()).get_data(as_text=True)
        assert "Refused" in page and outcome in page
        login_as(client, talk.ada)
        assert client.get(f"/m/{material.public_id}").status_code == 403
        assert material.public_id not in client.get(talk.detail_url()).get_data(as_text=True)
    assert db.session.scalar(sa.select(AuditEntry.action).where(
        AuditEntry.target == f"material {material.public_id}").order_by(AuditEntry.id.desc()).limit(1)) == (
        "prepare material" if outcome == "defused" else "refuse material")
    # The process that ran the work carries on: the next upload is prepared as usual.
    assert os.getpid() == pid
    talk.upload(client, make_pdf("After"))
    db.session.expire_all()
    latest = db.session.scalars(sa.select(Material).order_by(Material.id.desc())).first()
    assert latest.state == P.READY and latest.pages == 2


def test_with_more_pages_allowed_a_thousand_pages_sharing_one_stream_stay_bounded(app, client, talk, monkeypatch):
    monkeypatch.setitem(app.config, "PDF_MAX_PAGES", 1000)
    data, _ = HOSTILE["1,000 pages sharing one content stream"]
    talk.upload(client, data)
    material = only_material()
    assert material.state == P.READY and material.pages == 1000
    # The drawing (200 KB) is kept once, not once a page (which would be 200 MB): each page adds its dictionary.
    assert material.size < len(data) + 1000 * 1024, (len(data), material.size)
    login_as(client, talk.ada)
    served = client.get(f"/m/{material.public_id}")
    assert served.status_code == 200
    assert len(served.data) < len(data) + 1000 * 3 * 1024, (len(data), len(served.data))


@pytest.mark.parametrize("settings, data, message", [
    ({"PDF_PREPARE_SECONDS": 0.05}, lambda: pdfs.many_pages(300, shared=pdfs.busy_drawing(3000)), "takes too long"),
    ({"PDF_MAX_EXPANDED_MB": 100_000, "PDF_MEMORY_MB": 300}, lambda: pdfs.with_bomb("content", gigabytes=3),
     "more memory|too long"),
], ids=["time", "memory"])
def test_the_worker_s_time_and_memory_limits_refuse_through_the_upload(app, client, talk, monkeypatch, settings, data,
                                                                      message):
    usual = {name: app.config[name] for name in settings}
    for name, value in settings.items():
        monkeypatch.setitem(app.config, name, value)
    assert talk.upload(client, data()).status_code == 302
    material = only_material()
    assert material.state == P.REFUSED
    assert any(part in material.refusal for part in message.split("|")), material.refusal
    assert stored_files(talk.storage_dir) == []
    app.config.update(usual)  # the usual limits again: the next upload is prepared as usual
    talk.upload(client, make_pdf("After"))
    db.session.expire_all()
    assert db.session.scalars(sa.select(Material).order_by(Material.id.desc())).first().state == P.READY
