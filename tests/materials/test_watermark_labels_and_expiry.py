"""What leaves stamped says so, what cannot be stamped says so too, a talk may take only watermarked files,
and a speaker may end access to a file at a date."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from tests.helpers import attend, login_as, make_pdf
from workshop import dates
from workshop.extensions import db
from workshop.models import (
    AuditEntry,
    Material,
    MaterialAccess,
    MaterialState,
    ProposalSpeaker,
    Tier,
    WideningKind,
    WideningRequest,
    WideningStatus,
    utcnow,
)
from workshop.services import consent, materials
from workshop.services.errors import DomainError
from workshop.storage import get_storage
from workshop.watermark import can_stamp, find_download_ids

GIF = b"GIF89a" + b"\x00" * 20


def image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 420), (236, 240, 246)).save(out, kind)
    return out.getvalue()


def archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as bundle:
        bundle.writestr("data.csv", "a,b\n1,2\n")
    return out.getvalue()


def test_the_model_and_the_library_agree_on_what_is_stamped():
    for content_type in materials.ACCEPTED:
        probe = Material(content_type=content_type)
        assert probe.stamped is can_stamp(content_type), content_type


@pytest.mark.parametrize("kind, content_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_images_are_stamped_at_download_like_pdf_pages(client, talk, kind, content_type):
    data = image(kind)
    material = talk.upload_ok(client, data, f"figure.{kind.lower()}")
    assert material.state == MaterialState.READY and material.pages == 1
    login_as(client, talk.ada)
    response = client.get(f"/m/{material.public_id}")
    assert response.status_code == 200 and response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    served = Image.open(io.BytesIO(response.data))
    assert served.size == (640, 420) and response.data != data
    if kind == "PNG":  # the mark reads back to this very download
        access = db.session.scalars(sa.select(MaterialAccess).order_by(MaterialAccess.id.desc())).first()
        assert any(found.matches(access.download_id) for found in find_download_ids(response.data))
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert "Not watermarked" not in page and "PDF or image you download carries your name" in page


def test_files_that_cannot_be_stamped_are_labelled_at_upload_on_the_list_and_on_the_download(client, talk):
    response = talk.upload(client, archive(), "data.zip")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "It is not watermarked" in page  # what the speaker is told on upload
    material = db.session.scalars(sa.select(Material)).one()
    assert material.state == MaterialState.READY and not material.stamped
    login_as(client, talk.ada)
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert "Not watermarked" in page and "goes out exactly as it was uploaded" in page
    assert "Download (not watermarked)" in page and 'aria-label="Download data.zip, not watermarked"' in page
    served = client.get(f"/m/{material.public_id}")
    assert served.status_code == 200 and served.data.startswith(b"PK")
    assert served.data == get_storage().get(material.storage_key)  # exactly as uploaded: nothing to stamp
    assert served.headers["Content-Type"] == "application/octet-stream"


def only_watermarked(client, talk, on: bool = True):
    login_as(client, talk.speaker)
    return client.post(talk.upload_url() + "/only-watermarked", data={"only_stamped": "y"} if on else {})


def test_a_session_talk_may_take_only_watermarked_files(client, talk):
    talk.proposal.tier = Tier.SESSION
    db.session.commit()
    unstamped = talk.upload_ok(client, GIF, "anim.gif")
    stamped = talk.upload_ok(client, make_pdf(), "slides.pdf")
    login_as(client, talk.speaker)
    assert "Only watermarked files" in client.get(talk.detail_url()).get_data(as_text=True)
    response = only_watermarked(client, talk)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "takes only watermarked files now" in page and "1 file(s) here cannot be watermarked" in page
    assert talk.proposal.only_stamped is True
    # An unstampable upload is refused, with the reason beside the field, and nothing is kept.
    response = talk.upload(client, archive(), "data.zip")
    assert response.status_code == 422
    assert "takes only watermarked files" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Material)) == 2
    # The one already here is not served to attendees, who are told why; the speakers keep it.
    attend(talk.proposal, talk.ada)
    login_as(client, talk.ada)
    refused = client.get(f"/m/{unstamped.public_id}")
    assert refused.status_code == 403 and "only watermarked files" in refused.get_data(as_text=True)
    assert client.get(f"/m/{stamped.public_id}").status_code == 200
    assert "Not served: not watermarked" in client.get(talk.detail_url()).get_data(as_text=True)
    login_as(client, talk.speaker)
    assert client.get(f"/m/{unstamped.public_id}").status_code == 200
    # Turned off again: served as before, labelled.
    assert only_watermarked(client, talk, on=False).status_code == 302
    login_as(client, talk.ada)
    assert client.get(f"/m/{unstamped.public_id}").status_code == 200
    assert [e.action for e in db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action.in_(["only watermarked files", "any file type"])).order_by(AuditEntry.id))] == [
        "only watermarked files", "any file type"]


def test_an_attendees_talk_offers_no_such_setting(client, talk):
    login_as(client, talk.speaker)
    assert "Only watermarked files" not in client.get(talk.detail_url()).get_data(as_text=True)
    assert only_watermarked(client, talk).status_code == 403
    assert talk.proposal.only_stamped is False
    with pytest.raises(DomainError, match="session or restricted"):
        materials.set_only_stamped(talk.speaker, talk.proposal, True)


# --- end of access ----------------------------------------------------------------------------


def expiry_url(talk, material) -> str:
    return talk.material_url(material, "/expiry")


def test_a_speaker_ends_access_at_a_date_and_then_only_speakers_and_organizers_open_it(client, talk):
    material = talk.upload_ok(client, make_pdf())
    event = talk.event
    later = dates.local_naive(event, utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    response = client.post(expiry_url(talk, material), data={"expires_at": later.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    db.session.refresh(material)
    assert material.expires_at == dates.to_utc(event, later)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Access to “slides.pdf” ends on" in page
    login_as(client, talk.ada)
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert "Access ends" in page and dates.datefmt(later, "long moment") in page
    assert client.get(f"/m/{material.public_id}").status_code == 200

    material.expires_at = utcnow() - timedelta(minutes=1)  # the date has come
    db.session.commit()
    response = client.get(f"/m/{material.public_id}")
    assert response.status_code == 403
    assert "Access has ended" in response.get_data(as_text=True) and "ended access" in response.get_data(as_text=True)
    page = client.get(talk.detail_url()).get_data(as_text=True)
    assert "Access ended" in page and f"/m/{material.public_id}" not in page
    for person in (talk.speaker, talk.organizer):
        login_as(client, person)
        assert client.get(f"/m/{material.public_id}").status_code == 200
    assert db.session.scalar(sa.select(MaterialAccess.reason).where(MaterialAccess.user_id == talk.ada.id)
                             .order_by(MaterialAccess.id.desc()).limit(1)) == "access ended"


def test_the_end_of_access_is_removed_with_an_empty_date(client, talk):
    material = talk.upload_ok(client, make_pdf())
    material.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    response = client.post(expiry_url(talk, material), data={"expires_at": ""})
    assert response.status_code == 302
    db.session.refresh(material)
    assert material.expires_at is None
    login_as(client, talk.ada)
    assert client.get(f"/m/{material.public_id}").status_code == 200


def test_a_date_in_the_past_ends_access_at_once_and_says_so(client, talk):
    material = talk.upload_ok(client, make_pdf())
    response = client.post(expiry_url(talk, material), data={"expires_at": "2020-01-01T09:00"})
    assert response.status_code == 302
    assert "has ended" in client.get(response.headers["Location"]).get_data(as_text=True)
    login_as(client, talk.ada)
    assert client.get(f"/m/{material.public_id}").status_code == 403


@pytest.mark.parametrize("value", ["tomorrow", "2027-13-45T10:00", "2027-06-01", "x" * 300])
def test_a_date_that_is_no_date_is_400_with_the_form_and_nothing_changes(client, talk, value):
    material = talk.upload_ok(client, make_pdf())
    response = client.post(expiry_url(talk, material), data={"expires_at": value})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "End access to" in body and 'name="expires_at"' in body and "error" in body
    db.session.refresh(material)
    assert material.expires_at is None


@pytest.mark.parametrize("role, status", [("ada", 403), ("organizer", 403), ("stranger", 404), ("anonymous", 404)])
def test_only_speakers_end_access(client, talk, role, status):
    material = talk.upload_ok(client, make_pdf())
    login_as(client, getattr(talk, role, None))
    assert client.post(expiry_url(talk, material), data={"expires_at": "2030-01-01T10:00"}).status_code == status
    db.session.refresh(material)
    assert material.expires_at is None


# --- a file travels longer or unwatermarked only with every speaker's consent -------------------


def with_cospeaker(talk):
    """Bob joins the talk as a confirmed co-speaker."""
    talk.proposal.speakers.append(ProposalSpeaker(user_id=talk.bob.id, is_lead=False, confirmed=True))
    db.session.commit()
    return talk.bob


def pending_requests(talk) -> list[WideningRequest]:
    return list(db.session.scalars(sa.select(WideningRequest).where(
        WideningRequest.proposal_id == talk.proposal.id, WideningRequest.status == WideningStatus.PENDING)))


def test_moving_the_end_of_access_later_waits_for_the_co_speaker_and_applies_at_their_consent(client, talk, sent):
    material = talk.upload_ok(client, make_pdf())
    bob = with_cospeaker(talk)
    soon = utcnow().replace(second=0, microsecond=0) + timedelta(days=2)
    materials.set_expiry(talk.speaker, material, soon)  # narrowing: at once
    db.session.commit()
    assert material.expires_at == soon and pending_requests(talk) == []
    already = len(sent.refresh())
    later = soon + timedelta(days=30)
    response = client.post(expiry_url(talk, material), data={"expires_at": dates.local(
        talk.event, later).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "waits for the consent of every speaker" in page and "Waiting for the speakers" in page
    db.session.refresh(material)
    assert material.expires_at == soon  # not yet
    (request,) = pending_requests(talk)
    assert request.kind == WideningKind.EXPIRY and request.material_id == material.id
    asked = sent.refresh()[already:]
    assert [m["To"] for m in asked] == [bob.email] and "consent" in asked[0]["Subject"].lower()
    assert consent.answer(bob, request, accept=True) == WideningStatus.APPLIED
    db.session.commit()
    db.session.refresh(material)
    assert material.expires_at == later
    # Removing the end altogether is wider still: it waits too, and a decline keeps the date.
    assert isinstance(materials.set_expiry(talk.speaker, material, None), WideningRequest)
    db.session.commit()
    (request,) = pending_requests(talk)
    assert consent.answer(bob, request, accept=False) == WideningStatus.DECLINED
    db.session.commit()
    db.session.refresh(material)
    assert material.expires_at == later


def test_an_earlier_end_applies_at_once_and_sets_a_waiting_extension_of_that_file_aside(client, talk):
    first, second = talk.upload_ok(client, make_pdf(), "a.pdf"), talk.upload_ok(client, make_pdf(), "b.pdf")
    with_cospeaker(talk)
    end = utcnow().replace(microsecond=0) + timedelta(days=5)
    for material in (first, second):
        materials.set_expiry(talk.speaker, material, end)
    materials.set_expiry(talk.speaker, first, None)
    materials.set_expiry(talk.speaker, second, None)
    db.session.commit()
    assert sorted(r.material_id for r in pending_requests(talk)) == sorted([first.id, second.id])
    materials.set_expiry(talk.bob, first, end - timedelta(days=1))  # narrower: at once, and the wish is moot
    db.session.commit()
    assert [r.material_id for r in pending_requests(talk)] == [second.id]
    assert first.expires_at == end - timedelta(days=1)
    with pytest.raises(DomainError, match="Nothing changed"):
        materials.set_expiry(talk.speaker, second, end)


def test_a_talk_with_one_speaker_moves_its_end_of_access_at_once(client, talk):
    material = talk.upload_ok(client, make_pdf())
    end = utcnow().replace(microsecond=0) + timedelta(days=1)
    materials.set_expiry(talk.speaker, material, end)
    assert materials.set_expiry(talk.speaker, material, None) is None
    assert material.expires_at is None and pending_requests(talk) == []


def test_taking_any_file_type_again_waits_for_the_co_speaker_turning_it_on_does_not(client, talk, sent):
    talk.proposal.tier = Tier.SESSION
    db.session.commit()
    unstamped = talk.upload_ok(client, GIF, "anim.gif")
    bob = with_cospeaker(talk)
    assert only_watermarked(client, talk).status_code == 302  # narrowing: at once
    assert talk.proposal.only_stamped is True
    already = len(sent.refresh())
    response = only_watermarked(client, talk, on=False)
    assert "waits for the consent of every speaker" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert talk.proposal.only_stamped is True
    (request,) = pending_requests(talk)
    assert request.kind == WideningKind.ANY_FILE and [m["To"] for m in sent.refresh()[already:]] == [bob.email]
    attend(talk.proposal, talk.ada)
    login_as(client, talk.ada)
    assert client.get(f"/m/{unstamped.public_id}").status_code == 403  # still refused while it waits
    login_as(client, bob)
    response = client.post(f"{talk.detail_url()}/requests/{request.public_id}/answer", data={"answer": "accept"})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    db.session.refresh(talk.proposal)
    assert talk.proposal.only_stamped is False
    login_as(client, talk.ada)
    assert client.get(f"/m/{unstamped.public_id}").status_code == 200
    # Turned on again while a new request to turn it off waits: that request is set aside.
    materials.set_only_stamped(talk.speaker, talk.proposal, True)
    materials.set_only_stamped(talk.speaker, talk.proposal, False)
    db.session.commit()
    assert len(pending_requests(talk)) == 1
    materials.set_only_stamped(bob, talk.proposal, True)
    db.session.commit()
    assert pending_requests(talk) == [] and talk.proposal.only_stamped is True
