"""The vouch chain: who vouched for whom, back to a person the organizers added, with each note."""

import pytest
import sqlalchemy as sa

from tests.helpers import counting, login_as, make_event, make_participant, make_user, sign_agreement, text_of
from workshop.extensions import db
from workshop.models import Candidate, CandidateStatus, Vouch
from workshop.services import invites


@pytest.fixture
def chain(ctx):
    organizer = make_user("org@example.org", "Olga Organizer")
    event = make_event("retreat", organizers=[organizer])
    ann = make_participant(event, "ann@example.org")  # added by the organizers
    invites.nominate(ann, event, "bob@example.org", "Bob", "", "Bob reviewed my drafts for years.")
    db.session.commit()
    bob_entry = db.session.scalar(sa.select(Candidate).where(Candidate.email == "bob@example.org"))
    bob = make_user("bob@example.org", "Bob")
    bob_entry.user_id, bob_entry.status = bob.id, CandidateStatus.ACCEPTED
    db.session.commit()
    sign_agreement(bob, event)
    invites.nominate(bob, event, "cy@example.org", "Cy", "", "Cy is careful with early results.")
    invites.nominate(ann, event, "cy@example.org", "Cy", "", "I second Bob: Cy is discreet.")
    db.session.commit()
    cy = db.session.scalar(sa.select(Candidate).where(Candidate.email == "cy@example.org"))
    return event, organizer, cy


def test_chain_goes_back_to_someone_the_organizers_added(chain):
    _event, _organizer, cy = chain
    links = invites.vouch_chain(cy)
    assert [(link.voucher.email, link.note) for link in links] == [
        ("bob@example.org", "Cy is careful with early results."), ("ann@example.org", "I second Bob: Cy is discreet.")]
    via_bob = links[0].vouched_by
    assert [(link.voucher.email, link.note, link.origin) for link in via_bob] == [
        ("ann@example.org", "Bob reviewed my drafts for years.", "organizers")]
    assert links[1].origin == "organizers"


def test_a_loop_stops_the_chain(chain):
    event, _organizer, cy = chain
    ann_entry = db.session.scalar(sa.select(Candidate).where(Candidate.email == "ann@example.org"))
    bob = db.session.scalar(sa.select(Candidate).where(Candidate.email == "bob@example.org")).user
    db.session.add(Vouch(candidate_id=ann_entry.id, user_id=bob.id, note="Ann and I go back."))
    db.session.commit()
    links = invites.vouch_chain(cy)
    ann_via_bob = links[0].vouched_by[0]
    assert ann_via_bob.voucher.email == "ann@example.org"
    assert [(link.voucher.email, link.origin) for link in ann_via_bob.vouched_by] == [("bob@example.org", "loop")]


def test_the_chain_takes_two_queries_however_long(chain):
    _event, _organizer, cy = chain
    db.session.expire_all()
    with counting() as statements:
        invites.vouch_chain(cy)
    assert len(statements) <= 3  # the candidate's own row may be reloaded, then two


def test_the_persons_page_shows_the_chain(client, chain):
    event, organizer, cy = chain
    login_as(client, organizer)
    page = text_of(client.get(f"/e/{event.slug}/manage/invites/{cy.id}"))
    assert "Cy is careful with early results." in page and "Bob reviewed my drafts for years." in page
    assert "Ann was added by the organizers." in page
