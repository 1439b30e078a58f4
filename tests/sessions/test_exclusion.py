"""Exclusion leaves no trace: excluding someone from a session takes their seat (the waitlist moves up),
drops the session from their agenda and feeds, and leaves their schedule blank where it is, with no
"Closed session" that would tell them they were left out."""

from __future__ import annotations

import sqlalchemy as sa

from tests.helpers import Programme, login_as, text_of
from workshop import calendar, policy
from workshop.extensions import db
from workshop.models import SignUp, SignUpStatus
from workshop.services import proposals, signups


def seats(proposal) -> dict[int, SignUpStatus]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(SignUp.user_id, SignUp.status)
                                   .where(SignUp.proposal_id == proposal.id)).all())


def exclude(programme: Programme, proposal, excluded: str) -> None:
    proposals.set_access(programme.speaker, proposal, "", excluded)
    db.session.commit()
    policy.forget_memo()


def test_excluding_someone_frees_their_seat_for_the_waitlist(programme: Programme, sent):
    a0, a1, a2 = programme.attendees
    for person in (a0, a1, a2):  # the Library seats two: a2 waits
        signups.sign_up(person, programme.small)
        db.session.commit()
        policy.forget_memo()
    assert seats(programme.small) == {a0.id: "confirmed", a1.id: "confirmed", a2.id: "waitlisted"}

    exclude(programme, programme.small, a0.email)

    assert seats(programme.small) == {a1.id: "confirmed", a2.id: "confirmed"}
    assert [m["Subject"] for m in sent.to(a2.email)] == [f"A seat opened for you: {programme.small.title}"]
    assert sent.to(a0.email) == []  # telling them would tell them they were left out


def test_a_domain_exclusion_takes_waitlist_places_too(programme: Programme):
    a0, a1, a2 = programme.attendees
    outsider = programme.more_attendees(1, prefix="elsewhere")[0]
    outsider.email = "someone@elsewhere.org"
    db.session.commit()
    for person in (a0, a1, a2, outsider):
        signups.sign_up(person, programme.small)
        db.session.commit()
        policy.forget_memo()

    exclude(programme, programme.small, "example.org")

    # Everyone at example.org loses seat and place; the outsider, fourth in line, gets a seat.
    assert seats(programme.small) == {outsider.id: "confirmed"}


def test_the_excluded_find_nothing_where_the_session_is(client, programme: Programme):
    a0, a1, _ = programme.attendees
    for person in (a0, a1):
        signups.sign_up(person, programme.hall_talk)
        db.session.commit()
        policy.forget_memo()
    exclude(programme, programme.hall_talk, a0.email)
    title = programme.hall_talk.title

    login_as(client, a0)
    schedule_page = text_of(client.get("/e/retreat/schedule"))
    assert title not in schedule_page and programme.hall_talk.public_id not in schedule_page
    # The one closed session is the restricted talk, which every attendee not named sees closed.
    assert schedule_page.count("Closed session") == 1
    assert "Great Hall" not in schedule_page  # its only session is gone, so is its column
    agenda = text_of(client.get("/e/retreat/agenda"))
    assert title not in agenda and "No longer on the schedule" not in agenda
    body = calendar.personal_feed(a0, programme.event)
    assert title.encode() not in body and calendar.CLOSED_SESSION.encode() not in body

    # Another attendee's view is untouched.
    login_as(client, a1)
    assert title in text_of(client.get("/e/retreat/schedule"))
    assert title in text_of(client.get("/e/retreat/agenda"))


def test_the_speakers_keep_their_session_whatever_the_exclusions(client, programme: Programme):
    exclude(programme, programme.hall_talk, "example.org")  # the speaker's own domain
    login_as(client, programme.speaker)
    assert programme.hall_talk.title in text_of(client.get("/e/retreat/schedule"))
