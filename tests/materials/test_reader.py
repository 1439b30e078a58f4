"""View-only materials: the speakers' switch, the reader's pages (decided, logged and stamped one by one),
the download route's refusal, the reports of time in view, and the speakers' reading report."""

from __future__ import annotations

import io
from datetime import timedelta

import pikepdf
import pypdfium2
import pytest
import sqlalchemy as sa

from tests.helpers import counting, login_as, make_participant, make_pdf
from workshop import watermark
from workshop.extensions import db
from workshop.models import AuditEntry, Candidate, Material, MaterialAccess, PageView, Tier, utcnow
from workshop.services import invites, proposals, reader


@pytest.fixture
def view_only(client, talk) -> Material:
    """The speaker's three-page PDF, made view-only through the materials card's button."""
    material = talk.upload_ok(client, make_pdf("Unpublished result", pages=3), "results.pdf")
    response = client.post(talk.material_url(material, "/view-only"), data={"mode": "view-only"})
    assert response.status_code == 302
    db.session.refresh(material)
    assert material.view_only and material.reader_pages == 3
    talk.material = material
    return material


def page_url(material: Material, page: int) -> str:
    return f"/m/{material.public_id}/read/{page}"


def views() -> list[PageView]:
    return list(db.session.scalars(sa.select(PageView).order_by(PageView.id)))


def accesses() -> list[MaterialAccess]:
    return list(db.session.scalars(sa.select(MaterialAccess).order_by(MaterialAccess.id)))


# --- the switch ---------------------------------------------------------------------------------


def test_speaker_makes_a_pdf_view_only_and_back_and_the_audit_log_says_so(client, talk, view_only):
    response = client.post(talk.material_url(view_only, "/view-only"), data={"mode": "download"})
    assert response.status_code == 302
    db.session.refresh(view_only)
    assert not view_only.view_only
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["make view-only", "allow downloads"]


def test_only_the_speakers_switch_and_only_pdfs(client, talk):
    material = talk.upload_ok(client, make_pdf(), "slides.pdf")
    picture = talk.upload_ok(client, pikepdf_free_png(), "figure.png")
    for person, status in ((talk.ada, 403), (talk.organizer, 403), (talk.stranger, 404)):
        login_as(client, person)
        assert client.post(talk.material_url(material, "/view-only"), data={"mode": "view-only"}).status_code == status
    login_as(client, talk.speaker)
    refused = client.post(talk.material_url(picture, "/view-only"), data={"mode": "view-only"})
    assert refused.status_code == 409
    assert "Only PDFs can be read in the browser" in refused.get_data(as_text=True)
    assert client.post(talk.material_url(material, "/view-only"), data={"mode": "sideways"}).status_code == 400
    db.session.refresh(material), db.session.refresh(picture)
    assert not material.view_only and not picture.view_only


def pikepdf_free_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(out, "PNG")
    return out.getvalue()


# --- the download route refuses, the reader serves ------------------------------------------------


def test_download_of_a_view_only_file_is_refused_with_a_way_to_the_reader(client, talk, view_only):
    login_as(client, talk.ada)
    response = client.get(f"/m/{view_only.public_id}")
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "read in the browser only" in body and f'href="/m/{view_only.public_id}/read"' in body
    assert accesses()[-1].reason == "view only" and not accesses()[-1].allowed
    login_as(client, talk.organizer)  # organizers read it like everyone else
    assert client.get(f"/m/{view_only.public_id}").status_code == 403
    login_as(client, talk.speaker)  # it is the speakers' own file
    assert client.get(f"/m/{view_only.public_id}").status_code == 200


def test_the_card_offers_the_reader_and_no_download_to_attendees(client, talk, view_only):
    login_as(client, talk.ada)
    body = client.get(talk.detail_url()).get_data(as_text=True)
    assert f'href="/m/{view_only.public_id}/read"' in body
    assert f'href="/m/{view_only.public_id}"' not in body
    reader_page = client.get(f"/m/{view_only.public_id}/read")
    assert reader_page.status_code == 200
    text = reader_page.get_data(as_text=True)
    assert f"/m/{view_only.public_id}\"" not in text and "download" not in text.lower().replace("downloaded", "")
    login_as(client, talk.speaker)
    body = client.get(talk.detail_url()).get_data(as_text=True)
    assert f'href="/m/{view_only.public_id}/read"' in body and f'href="/m/{view_only.public_id}"' in body


def test_a_page_is_a_stamped_image_in_a_one_page_pdf_and_is_logged(client, talk, view_only):
    login_as(client, talk.ada)
    response = client.get(page_url(view_only, 2))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    data = response.get_data()
    (access,) = accesses()
    assert access.allowed and access.user_id == talk.ada.id and access.reason == "tier attendees"
    assert response.headers["X-Download-Id"] == access.download_id
    (view,) = views()
    assert (view.page, view.user_id, view.access_id, view.seconds) == (2, talk.ada.id, access.id, 0)
    # Pixels only: no text to copy, no fonts; the forensic mark leads back to this page view.
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert len(pdf.pages) == 1
        assert list(pdf.pages[0].Resources.keys()) == ["/XObject"]
    document = pypdfium2.PdfDocument(data)
    assert document[0].get_textpage().get_text_range().strip() == ""
    document.close()
    found = watermark.find_download_ids(data)
    assert [f.download_id for f in found] == [access.download_id[:8]]  # the mark carries the first 48 bits


def test_the_visible_stamp_names_the_reader(client, talk, view_only, monkeypatch):
    lines_seen = []
    real = reader.render_page

    def spy(data, page, lines, download_id, dpi, limits):
        lines_seen.append(lines)
        return real(data, page, lines, download_id, dpi, limits)

    monkeypatch.setattr(reader, "render_page", spy)
    login_as(client, talk.ada)
    assert client.get(page_url(view_only, 1)).status_code == 200
    assert lines_seen[0][:2] == ["Ada Lovelace", "ada@example.org"]
    assert lines_seen[0][-1] == f"download id {accesses()[-1].download_id}"


def test_pages_outside_the_file_and_files_without_a_reader(client, talk, view_only):
    login_as(client, talk.ada)
    for page in (0, 4, 10**9):
        assert client.get(page_url(view_only, page)).status_code == 404
    assert client.get(f"/m/{view_only.public_id}/read/x").status_code == 404
    assert client.get(f"/m/{view_only.public_id}/read?page=9").status_code == 400
    assert accesses() == []
    plain = talk.upload_ok(client, make_pdf(), "plain.pdf")
    login_as(client, talk.ada)
    assert client.get(f"/m/{plain.public_id}/read").status_code == 404
    assert client.get(page_url(plain, 1)).status_code == 404
    assert client.get(f"/m/{plain.public_id}").status_code == 200  # downloaded as before


def test_people_the_tier_keeps_out_find_no_reader(client, talk, view_only):
    for person in (talk.stranger, talk.unsigned, None):
        login_as(client, person)
        assert client.get(f"/m/{view_only.public_id}/read").status_code == 404
        page = client.get(page_url(view_only, 1))
        assert page.status_code == 404 and page.get_json() == {"message": reader_views_gone(), "closed": True}
    assert all(not a.allowed for a in accesses()) and views() == []


def reader_views_gone() -> str:
    from workshop.views.reader import GONE

    return GONE


# --- revocation and exclusion stop it at the next page ---------------------------------------------


def test_revocation_stops_the_reader_at_the_next_page(client, talk, view_only):
    login_as(client, talk.ada)
    assert client.get(page_url(view_only, 1)).status_code == 200
    candidate = db.session.scalar(sa.select(Candidate).where(Candidate.user_id == talk.ada.id))
    invites.revoke(talk.organizer, talk.event, [candidate])
    db.session.commit()
    page = client.get(page_url(view_only, 2))
    assert page.status_code == 404 and page.get_json()["closed"]
    seen = client.post(f"/m/{view_only.public_id}/read/seen", data={"page": 1, "seconds": 10})
    assert seen.status_code == 404
    # Revocation also ends the person's sessions, so the refused page was asked by no one signed in.
    assert [(a.allowed, a.reason) for a in accesses()] == [(True, "tier attendees"), (False, "no access to the event")]
    assert [v.page for v in views()] == [1]


def test_exclusion_stops_the_reader_at_the_next_page(client, talk, view_only):
    login_as(client, talk.ada)
    assert client.get(page_url(view_only, 1)).status_code == 200
    proposals.set_access(talk.speaker, talk.proposal, "", "ada@example.org")
    db.session.commit()
    assert client.get(page_url(view_only, 2)).status_code == 404
    assert accesses()[-1].reason == "excluded"


def test_turning_view_only_off_closes_open_readers(client, talk, view_only):
    login_as(client, talk.ada)
    assert client.get(page_url(view_only, 1)).status_code == 200
    login_as(client, talk.speaker)
    client.post(talk.material_url(view_only, "/view-only"), data={"mode": "download"})
    login_as(client, talk.ada)
    assert client.get(page_url(view_only, 2)).status_code == 404
    assert client.get(f"/m/{view_only.public_id}").status_code == 200


# --- time in view ---------------------------------------------------------------------------------


def backdate(view: PageView, seconds: int) -> None:
    view.started_at -= timedelta(seconds=seconds)
    view.access.created_at = view.started_at
    db.session.commit()


def test_reports_count_time_in_view_within_the_time_since_the_page_and_the_cap(client, talk, view_only):
    login_as(client, talk.ada)
    client.get(page_url(view_only, 1))
    (view,) = views()
    backdate(view, 40)
    seen = f"/m/{view_only.public_id}/read/seen"
    assert client.post(seen, data={"page": 1, "seconds": 25}).status_code == 204
    db.session.refresh(view)
    assert view.seconds == 25
    assert client.post(seen, data={"page": 1, "seconds": 10}).status_code == 204  # never lowered
    assert client.post(seen, data={"page": 1, "seconds": 5000}).status_code == 204  # never beyond the clock
    db.session.refresh(view)
    assert 40 <= view.seconds <= 42
    backdate(view, 3600)
    client.post(seen, data={"page": 1, "seconds": 3000})
    db.session.refresh(view)
    assert view.seconds == reader.PAGE_CAP_SECONDS
    for bad in ({"page": 1}, {"page": "one", "seconds": 3}, {"page": 1, "seconds": -4}, {"page": 0, "seconds": 1}):
        assert client.post(seen, data=bad).status_code == 400
    db.session.refresh(view)
    assert view.seconds == reader.PAGE_CAP_SECONDS


def test_the_next_page_closes_a_page_whose_time_never_came(client, talk, view_only):
    login_as(client, talk.ada)
    client.get(page_url(view_only, 1))
    backdate(views()[0], 70)
    client.get(page_url(view_only, 2))
    first, second = views()
    assert 70 <= first.seconds <= 72 and second.seconds == 0


def test_a_report_for_someone_elses_view_changes_nothing(client, talk, view_only):
    login_as(client, talk.ada)
    client.get(page_url(view_only, 1))
    backdate(views()[0], 30)
    login_as(client, talk.bob)
    assert client.post(f"/m/{view_only.public_id}/read/seen", data={"page": 1, "seconds": 20}).status_code == 204
    assert views()[0].seconds == 0


# --- the speakers' reading report ---------------------------------------------------------------


def test_the_reading_report_shows_pages_time_and_first_and_last_view(client, talk, view_only):
    login_as(client, talk.ada)
    for page in (1, 2, 1):
        client.get(page_url(view_only, page))
    ada_views = views()
    now = utcnow()
    for view, (ago, seconds) in zip(ada_views, ((600, 90), (500, 30), (400, 15)), strict=True):
        view.started_at, view.seconds = now - timedelta(seconds=ago), seconds
    db.session.commit()
    login_as(client, talk.bob)
    client.get(page_url(view_only, 3))

    (bob, ada) = reader.reading_report(view_only)
    assert (ada.user.email, ada.pages, ada.page_views, ada.seconds, ada.views) == (
        "ada@example.org", {1: 105, 2: 30}, {1: 2, 2: 1}, 135, 3)
    assert ada.first == ada_views[0].started_at and ada.last == ada_views[2].started_at
    assert (bob.user.email, bob.pages_read) == ("bob@example.org", 1)

    login_as(client, talk.speaker)
    page = client.get(talk.material_url(view_only, "/log"))
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Who read it" in body and "Ada Lovelace" in body and "Bob Brown" in body
    assert "2 of 3" in body and "2 min 15 s" in body and "p. 1: 1 min 45 s (2 views)" in body
    assert body.count("page 1 in the reader") == 2 and body.count("page 3 in the reader") == 1


def test_the_reading_report_costs_the_same_queries_for_many_readers(client, talk, view_only):
    def page_queries() -> int:
        login_as(client, talk.speaker)
        with counting() as count:
            assert client.get(talk.material_url(view_only, "/log")).status_code == 200
        return len(count)

    login_as(client, talk.ada)
    client.get(page_url(view_only, 1))
    few = page_queries()
    for number in range(4):
        person = make_participant(talk.event, f"reader{number}@example.org")
        login_as(client, person)
        client.get(page_url(view_only, 1 + number % 3))
    assert page_queries() == few


def test_attendees_do_not_see_the_reading_report(client, talk, view_only):
    login_as(client, talk.ada)
    assert client.get(talk.material_url(view_only, "/log")).status_code == 403


def test_pages_are_rate_limited_per_person(app, client, talk, view_only, monkeypatch):
    monkeypatch.setitem(app.config, "READER_RATE_LIMIT", "2 per minute")
    login_as(client, talk.ada)
    assert [client.get(page_url(view_only, 1)).status_code for _ in range(3)] == [200, 200, 429]
    assert len(views()) == 2
    login_as(client, talk.bob)  # another person is not slowed down by her
    assert client.get(page_url(view_only, 1)).status_code == 200


def test_a_talk_with_extra_terms_asks_for_them_before_the_reader_opens(client, talk, view_only):
    talk.proposal.extra_terms = "Do not cite before the paper is out."
    db.session.commit()
    login_as(client, talk.ada)
    shell = client.get(f"/m/{view_only.public_id}/read")
    assert shell.status_code == 303 and shell.headers["Location"].endswith(f"{talk.detail_url()}/terms")
    page = client.get(page_url(view_only, 1))
    assert page.status_code == 403 and page.get_json() == {
        "message": "Accept the talk's terms to open its materials.", "closed": True}
    assert views() == [] and [a.reason for a in accesses()] == ["extra terms not accepted"]


def test_a_public_talks_view_only_file_is_read_by_anyone_and_reported_as_not_signed_in(client, talk, view_only):
    talk.event.public_page = True
    talk.proposal.tier = Tier.PUBLIC
    db.session.commit()
    login_as(client, None)
    assert client.get(f"/m/{view_only.public_id}/read").status_code == 200
    assert client.get(page_url(view_only, 2)).status_code == 200
    assert client.post(f"/m/{view_only.public_id}/read/seen", data={"page": 2, "seconds": 5}).status_code == 204
    assert client.get(f"/m/{view_only.public_id}").status_code == 403  # no download for anyone but the speakers
    (anonymous,) = reader.reading_report(view_only)
    assert anonymous.user is None and anonymous.pages == {2: 0}
    login_as(client, talk.speaker)
    assert "Not signed in" in client.get(talk.material_url(view_only, "/log")).get_data(as_text=True)
