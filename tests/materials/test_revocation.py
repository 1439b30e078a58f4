"""Revocation bites: the next request fails, and the speakers whose files the person opened are told."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from tests.helpers import login_as, make_participant, make_pdf, make_talk
from workshop.extensions import db
from workshop.models import Candidate, Material, MaterialAccess, OutboxMessage, ProposalSpeaker
from workshop.services import invites, materials


def outbox(to: str) -> list[OutboxMessage]:
    return list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.to_email == to)))


def entry(event, user) -> Candidate:
    return db.session.scalar(sa.select(Candidate).where(Candidate.event_id == event.id, Candidate.user_id == user.id))


@pytest.fixture
def downloaded(client, talk):
    """Ada downloaded the speaker's slides and a co-spoken talk's notes; Bob was refused one file."""
    slides = talk.upload_ok(client, make_pdf(), "slides.pdf")
    talk.second_speaker = make_participant(talk.event, "second@example.org")
    talk.cospeaker = make_participant(talk.event, "co@example.org")
    talk.other = make_talk(talk.event, talk.second_speaker, title="Second talk")
    talk.other.speakers.append(ProposalSpeaker(user_id=talk.cospeaker.id, confirmed=True))
    talk.invited = make_participant(talk.event, "invited@example.org")
    talk.other.speakers.append(ProposalSpeaker(user_id=talk.invited.id, confirmed=False))
    db.session.commit()
    login_as(client, talk.second_speaker)
    notes = client.post(f"/e/retreat/proposals/{talk.other.public_id}/materials",
                        data={"file": (io.BytesIO(make_pdf("Notes")), "notes.pdf")},
                        content_type="multipart/form-data")
    assert notes.status_code == 302
    talk.slides = slides
    for _ in range(2):
        login_as(client, talk.ada)
        assert client.get(f"/m/{slides.public_id}").status_code == 200
    notes_material = db.session.scalar(sa.select(Material).where(
        Material.proposal_id == talk.other.id))
    assert client.get(f"/m/{notes_material.public_id}").status_code == 200
    talk.notes = notes_material
    return talk


def test_the_speakers_whose_files_were_opened_are_told(downloaded):
    talk = downloaded
    assert materials.notify_revocation(talk.event, talk.ada) == 3
    db.session.commit()
    (to_speaker,) = outbox("speaker@example.org")
    assert "Ada Lovelace" in to_speaker.subject and "The Retreat" in to_speaker.subject
    assert "ada@example.org" in to_speaker.body_text
    assert "slides.pdf" in to_speaker.body_text and "2 times" in to_speaker.body_text
    assert "notes.pdf" not in to_speaker.body_text
    for address in ("second@example.org", "co@example.org"):
        (message,) = outbox(address)
        assert "notes.pdf" in message.body_text and "Second talk" in message.body_text
        assert "slides.pdf" not in message.body_text
        assert f"/e/retreat/proposals/{talk.other.public_id}" in message.body_text
    assert outbox("invited@example.org") == []  # not a confirmed speaker
    assert outbox("ada@example.org") == []


def test_refused_requests_and_other_people_tell_no_one(downloaded):
    talk = downloaded
    db.session.add(MaterialAccess(material_id=talk.slides.id, user_id=talk.bob.id, allowed=False,
                                  reason="did not attend the session"))
    db.session.commit()
    assert materials.notify_revocation(talk.event, talk.bob) == 0
    assert materials.notify_revocation(talk.event, None) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_a_speaker_revoked_is_not_told_about_their_own_files(downloaded):
    talk = downloaded
    db.session.add(MaterialAccess(material_id=talk.notes.id, user_id=talk.cospeaker.id, allowed=True,
                                  reason="speaker"))
    db.session.commit()
    assert materials.notify_revocation(talk.event, talk.cospeaker) == 1
    assert outbox("co@example.org") == [] and len(outbox("second@example.org")) == 1


def test_after_revocation_the_next_download_is_404_and_logged(client, downloaded):
    talk = downloaded
    invites.revoke(talk.organizer, talk.event, [entry(talk.event, talk.ada)])
    db.session.commit()
    db.session.refresh(talk.ada)
    # Her old session ended; signed in again, she is still refused.
    for _ in range(2):
        response = client.get(f"/m/{talk.slides.public_id}")
        assert response.status_code == 404
        login_as(client, talk.ada)
    rows = list(db.session.scalars(sa.select(MaterialAccess).where(MaterialAccess.material_id == talk.slides.id)
                                   .order_by(MaterialAccess.id.desc()).limit(2)))
    assert [(r.allowed, r.reason) for r in rows] == [(False, "revoked"), (False, "no access to the event")]
    assert [r.user_id for r in rows] == [talk.ada.id, None]


def test_revoking_through_the_invite_list_tells_the_speakers(downloaded):
    talk = downloaded
    invites.revoke(talk.organizer, talk.event, [entry(talk.event, talk.ada)])
    db.session.commit()
    assert len(outbox("speaker@example.org")) == 1
    assert len(outbox("second@example.org")) == 1
