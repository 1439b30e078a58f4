"""The one download route: policy, headers, watermark, the access log, tracing, and the panel."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from tests.helpers import attend, counting, login_as, make_event, make_pdf, make_talk
from workshop.extensions import db
from workshop.models import (
    Material,
    MaterialAccess,
    ProposalAccess,
    ProposalExclusion,
    ProposalStatus,
    TermsAcceptance,
    Tier,
    utcnow,
)
from workshop.policy import terms_hash
from workshop.storage import get_storage
from workshop.views.materials import content_disposition

GIF = b"GIF89a" + b"\x00" * 20  # a type that is not stamped: ready at once, served as it is


def accesses(material_id: int | None = None) -> list[MaterialAccess]:
    statement = sa.select(MaterialAccess).order_by(MaterialAccess.id)
    if material_id is not None:
        statement = statement.where(MaterialAccess.material_id == material_id)
    return list(db.session.scalars(statement))


def pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def download(client, user, material: Material, **kwargs):
    login_as(client, user)
    return client.get(f"/m/{material.public_id}", **kwargs)


# --- headers ------------------------------------------------------------------------------


def assert_safe_download(response) -> None:
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "html" not in response.headers["Content-Type"] and "svg" not in response.headers["Content-Type"]


def test_a_pdf_is_sent_as_a_pdf_attachment_that_no_cache_keeps(client, talk):
    material = talk.upload_ok(client, make_pdf(), "slides.pdf")
    response = download(client, talk.ada, material)
    assert_safe_download(response)
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=slides.pdf"
    assert response.data.startswith(b"%PDF-")


def test_other_files_are_sent_as_bytes_to_save_never_to_render(client, talk):
    material = talk.upload_ok(client, GIF, "photo.html")
    response = download(client, talk.ada, material)
    assert_safe_download(response)
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == "attachment; filename=photo.html.gif"
    assert response.data == GIF


def test_a_name_beyond_ascii_is_sent_encoded_with_an_ascii_fallback(client, talk):
    material = talk.upload_ok(client, make_pdf(), "Résumé – 幻灯片.pdf")
    header = download(client, talk.ada, material).headers["Content-Disposition"]
    assert header == ("attachment; filename=Resume.pdf; "
                      "filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%80%93%20%E5%B9%BB%E7%81%AF%E7%89%87.pdf")


@pytest.mark.parametrize("name, expected", [
    ("slides.pdf", "attachment; filename=slides.pdf"),
    ("my slides.pdf", 'attachment; filename="my slides.pdf"'),
    ("幻灯片.pdf", "attachment; filename=file.pdf; filename*=UTF-8''%E5%B9%BB%E7%81%AF%E7%89%87.pdf"),
    ('a"b\\c.pdf', "attachment; filename=a_b_c.pdf; filename*=UTF-8''a%22b%5Cc.pdf"),
])
def test_content_disposition(name, expected):
    assert content_disposition(name) == expected


# --- the watermark ------------------------------------------------------------------------


def test_each_copy_names_its_own_downloader_and_no_one_else(client, talk):
    talk.ada.name = "Ada Lovelace-Müller Ærø"
    db.session.commit()
    original = make_pdf("Secret slide", pages=3)
    material = talk.upload_ok(client, original)
    copies = {person: download(client, person, material).data for person in (talk.ada, talk.bob)}
    rows = {row.user_id: row for row in accesses(material.id)}
    for person, other in ((talk.ada, talk.bob), (talk.bob, talk.ada)):
        pages = pdf_text(copies[person])
        assert len(pages) == 3
        for number, text in enumerate(pages, start=1):
            assert f"Secret slide {number}" in text
            assert person.name in text and person.email in text
            assert rows[person.id].download_id in text
            assert other.name not in text and other.email not in text
            assert rows[other.id].download_id not in text
    assert copies[talk.ada] != copies[talk.bob]
    # The stored file is the prepared copy, the same for everyone: no one's name is in it.
    stored = get_storage().get(material.storage_key)
    assert stored not in copies.values()
    assert [f"Secret slide {n}" in text for n, text in enumerate(pdf_text(stored), start=1)] == [True] * 3
    assert not any(p.email in "".join(pdf_text(stored)) for p in (talk.ada, talk.bob))


def test_a_public_copy_says_so(client, talk):
    talk.event.public_page = True
    talk.proposal.tier = Tier.PUBLIC
    db.session.commit()
    material = talk.upload_ok(client, make_pdf())
    response = download(client, None, material)
    assert response.status_code == 200
    (row,) = accesses(material.id)
    assert row.user_id is None and row.allowed and row.reason == "tier public"
    text = pdf_text(response.data)[0]
    assert "Public copy" in text and row.download_id in text


def test_a_pdf_that_cannot_be_stamped_is_never_served(client, talk):
    material = talk.upload_ok(client, make_pdf())
    get_storage().put(material.storage_key, b"%PDF-1.4\n" + b"\x00garbage" * 100)
    response = download(client, talk.ada, material)
    assert response.status_code == 409
    assert b"%PDF" not in response.data and "cannot be served" in response.get_data(as_text=True)
    (row,) = accesses(material.id)
    assert not row.allowed and row.reason == "cannot be stamped"


def test_missing_bytes_are_a_503_not_a_500(client, talk):
    material = talk.upload_ok(client, make_pdf())
    get_storage().delete(material.storage_key)
    response = download(client, talk.ada, material)
    assert response.status_code == 503
    (row,) = accesses(material.id)
    assert not row.allowed and row.reason == "file unavailable"


# --- the policy decides, the log records --------------------------------------------------


def test_every_request_allowed_or_denied_leaves_a_row(client, talk):
    material = talk.upload_ok(client, make_pdf())
    expected = [(None, 404), (talk.stranger, 404), (talk.unsigned, 404), (talk.ada, 200), (talk.organizer, 200),
                (talk.speaker, 200), (talk.ada, 200)]
    for person, status in expected:
        assert download(client, person, material, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == status
    rows = accesses(material.id)
    assert [(r.user_id, r.allowed) for r in rows] == [
        (p.id if p else None, s == 200) for p, s in expected]
    assert {r.ip for r in rows} == {"203.0.113.9"}
    assert len({r.download_id for r in rows}) == len(rows)
    assert [r.reason for r in rows][:3] == ["no access to the event"] * 3


def test_an_unknown_id_is_404_and_looks_like_any_refusal(client, talk):
    login_as(client, talk.ada)
    unknown = client.get("/m/no-such-material")
    assert unknown.status_code == 404
    assert client.get("/m/" + "x" * 300).status_code == 404
    material = talk.upload_ok(client, make_pdf())
    hidden = download(client, talk.stranger, material)
    assert hidden.status_code == 404
    def page(response) -> str:
        return re.sub(r'value="[^"]+"', "", response.get_data(as_text=True)).replace("stranger@", "ada@")

    assert page(hidden) == page(unknown)


def make_session_talk(talk):
    talk.proposal.tier = Tier.SESSION
    db.session.commit()
    attend(talk.proposal, talk.ada)


@pytest.mark.parametrize("arrange, person, status, reason", [
    (make_session_talk, "ada", 200, "tier session"),
    (make_session_talk, "bob", 403, "did not attend the session"),
    (make_session_talk, "organizer", 403, "did not attend the session"),
    (lambda t: setattr(t.proposal, "status", ProposalStatus.SUBMITTED), "ada", 403, "talk not accepted"),
    (lambda t: setattr(t.proposal, "tier", Tier.RESTRICTED), "bob", 404, "not on the named list"),
    (lambda t: (setattr(t.proposal, "tier", Tier.RESTRICTED),
                db.session.add(ProposalAccess(proposal_id=t.proposal.id, user_id=t.ada.id))), "ada", 200,
     "tier restricted"),
    (lambda t: db.session.add(ProposalExclusion(proposal_id=t.proposal.id, domain="example.org")), "ada", 404,
     "excluded"),
    (lambda t: db.session.add(ProposalExclusion(proposal_id=t.proposal.id, domain="example.org")), "speaker", 200,
     "speaker"),
])
def test_the_policy_decides_and_the_reason_is_logged(client, talk, arrange, person, status, reason):
    material = talk.upload_ok(client, make_pdf())
    arrange(talk)
    db.session.commit()
    response = download(client, getattr(talk, person), material)
    assert response.status_code == status
    (row,) = accesses(material.id)
    assert (row.allowed, row.reason) == (status == 200, reason)
    if status == 403:
        assert "Not available to you" in response.get_data(as_text=True)


def test_extra_terms_send_the_person_to_accept_them_first(client, talk):
    talk.proposal.extra_terms = "Do not cite before publication."
    db.session.commit()
    material = talk.upload_ok(client, make_pdf())
    response = download(client, talk.ada, material)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/e/retreat/proposals/{talk.proposal.public_id}/terms")
    db.session.add(TermsAcceptance(proposal_id=talk.proposal.id, user_id=talk.ada.id,
                                   terms_hash=terms_hash(talk.proposal)))
    db.session.commit()
    assert download(client, talk.ada, material).status_code == 200
    assert [(r.allowed, r.reason) for r in accesses(material.id)] == [
        (False, "extra terms not accepted"), (True, "tier attendees")]


def test_a_material_of_another_talk_is_not_reachable_through_this_one(client, talk):
    material = talk.upload_ok(client, make_pdf())
    other = make_talk(talk.event, talk.bob, title="Other talk")
    login_as(client, talk.organizer)
    assert client.get(f"/e/retreat/proposals/{other.public_id}/materials/{material.public_id}/log").status_code == 404
    login_as(client, talk.bob)
    assert client.post(f"/e/retreat/proposals/{other.public_id}/materials/{material.public_id}/delete"
                       ).status_code == 404
    assert db.session.get(Material, material.id) is not None


# --- the access log and tracing -----------------------------------------------------------


def test_speakers_and_organizers_see_who_opened_it(client, talk):
    material = talk.upload_ok(client, make_pdf())
    download(client, talk.ada, material, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    download(client, talk.stranger, material)
    log_url = talk.material_url(material, "/log")
    for person in (talk.speaker, talk.organizer):
        login_as(client, person)
        response = client.get(log_url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "ada@example.org" in page and "198.51.100.7" in page
        assert "stranger@example.org" in page and "no access to the event" in page
        assert page.index("stranger@example.org") < page.index("ada@example.org")  # newest first
    for person, status in ((talk.ada, 403), (talk.stranger, 404), (None, 404)):
        login_as(client, person)
        assert client.get(log_url).status_code == status
    # The accepted person who has not signed is led to the agreement (the same for any talk, seen or not).
    login_as(client, talk.unsigned)
    response = client.get(log_url)
    assert response.status_code == 302 and "/agreement?next=" in response.headers["Location"]


def test_the_log_is_paged_and_its_query_count_does_not_grow(client, talk):
    material = talk.upload_ok(client, make_pdf())
    log_url = talk.material_url(material, "/log")

    def add_rows(n: int, start: int) -> None:
        for i in range(start, start + n):
            db.session.add(MaterialAccess(material_id=material.id, user_id=talk.ada.id, allowed=True,
                                          reason="tier attendees", ip=f"10.0.0.{i % 250}"))
        db.session.commit()

    login_as(client, talk.speaker)
    add_rows(3, 0)
    with counting() as small:
        assert client.get(log_url).status_code == 200
    add_rows(80, 3)
    with counting() as large:
        first = client.get(log_url)
    assert len(large) == len(small)
    page = first.get_data(as_text=True)
    assert page.count("<tr>") == 50 + 1 and "Older requests" in page
    older = re.search(r'href="([^"]*before=\d+)"', page).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert second.count("<tr>") == 33 + 1 and "Older requests" not in second


def test_a_download_id_leads_to_the_person(client, talk):
    material = talk.upload_ok(client, make_pdf())
    copy = download(client, talk.ada, material, environ_base={"REMOTE_ADDR": "192.0.2.44"}).data
    printed = re.search(r"download id ([A-Za-z0-9_-]+)", pdf_text(copy)[0]).group(1)
    login_as(client, talk.organizer)
    response = client.get("/e/retreat/manage/trace", query_string={"download_id": f"  download id {printed} "})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Ada Lovelace" in page and "ada@example.org" in page and "192.0.2.44" in page and "slides.pdf" in page
    missing = client.get("/e/retreat/manage/trace", query_string={"download_id": "AAAAAAAAAAAAAAAA"})
    assert missing.status_code == 404 and "No download of this event" in missing.get_data(as_text=True)
    assert client.get("/e/retreat/manage/trace").status_code == 200


def test_tracing_is_for_organizers_of_that_event_only(client, talk):
    material = talk.upload_ok(client, make_pdf())
    download(client, talk.ada, material)
    (row,) = accesses(material.id)
    url = f"/e/retreat/manage/trace?download_id={row.download_id}"
    for person, status in ((talk.speaker, 403), (talk.ada, 403), (talk.stranger, 404), (None, 404)):
        login_as(client, person)
        assert client.get(url).status_code == status
    from tests.helpers import make_event, make_user

    elsewhere_organizer = make_user("else@example.org")
    make_event("elsewhere", organizers=[elsewhere_organizer])
    login_as(client, elsewhere_organizer)
    response = client.get(f"/e/elsewhere/manage/trace?download_id={row.download_id}")
    assert response.status_code == 404 and "ada@example.org" not in response.get_data(as_text=True)


# --- the panel on the proposal's page -----------------------------------------------------


def test_the_panel_tells_each_person_what_they_may_do(client, talk):
    material = talk.upload_ok(client, make_pdf())
    talk.proposal.tier = Tier.SESSION
    db.session.commit()
    attend(talk.proposal, talk.ada)
    login_as(client, talk.ada)
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert f"/m/{material.public_id}" in page and "Who opened it" not in page and 'type="file"' not in page
    login_as(client, talk.bob)
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert f"/m/{material.public_id}" not in page and "Only for people who attended" in page
    login_as(client, talk.organizer)
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert "Who opened it" in page and "/delete" not in page
    login_as(client, talk.speaker)
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert "Who opened it" in page and "/delete" in page and 'type="file"' in page and "50 MB" in page


def test_the_panel_query_count_does_not_grow_with_the_materials(client, talk):
    talk.upload_ok(client, make_pdf())
    login_as(client, talk.ada)
    with counting() as small:
        assert client.get(talk.detail_url()).status_code == 200
    for i in range(5):
        talk.upload_ok(client, GIF, f"photo{i}.gif")
    login_as(client, talk.ada)
    with counting() as large:
        page = client.get(talk.detail_url()).get_data(as_text=True)
    assert page.count("/m/") == 6
    assert len(large) == len(small)


def test_uploads_are_listed_in_upload_order_with_a_decision_each(app, talk):
    from workshop.views.materials import materials_panel

    first = Material(proposal_id=talk.proposal.id, filename="a.pdf", content_type="application/pdf", size=1,
                     sha256="0" * 64, storage_key="k" * 20, created_at=utcnow())
    second = Material(proposal_id=talk.proposal.id, filename="b.png", content_type="image/png", size=1,
                      sha256="0" * 64, storage_key="j" * 20, created_at=utcnow())
    db.session.add_all([first, second])
    db.session.commit()
    with app.test_request_context():
        panel = materials_panel(talk.bob, talk.proposal)
    assert [m.filename for m in panel["materials"]] == ["a.pdf", "b.png"]
    assert {k: d.allowed for k, d in panel["material_decisions"].items()} == {first.id: True, second.id: True}
    assert not panel["can_upload"] and not panel["can_view_log"]


def test_a_served_download_carries_the_mark_of_its_own_access_row(client, talk):
    from bench import samples
    from bench.trace import strip_visible_line
    from workshop.services import materials as materials_service
    from workshop.watermark import find_download_ids

    material = talk.upload_ok(client, samples.deck(2))
    response = download(client, talk.ada, material)
    (row,) = accesses(material.id)
    found = find_download_ids(response.data)
    assert {(f.download_id, f.how) for f in found} == {
        (row.download_id, ("visible text",)), (row.download_id[:8], ("forensic mark",))}
    stripped = strip_visible_line(response.data, [row.download_id])
    (marked,) = find_download_ids(stripped)
    assert marked.how == ("forensic mark",) and marked.download_id == row.download_id[:8]
    # The access log completes the mark's 48 bits, in this event only, and exactly (SQLite's LIKE ignores case).
    assert materials_service.accesses_by_download_id(talk.event, [marked.download_id]) == {marked.download_id: row}
    assert materials_service.accesses_by_download_id(talk.event, [marked.download_id.swapcase()]) == {}
    elsewhere = make_event("elsewhere", organizers=[talk.organizer])
    assert materials_service.accesses_by_download_id(elsewhere, [marked.download_id]) == {}
