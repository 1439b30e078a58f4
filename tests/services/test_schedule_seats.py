"""Seats in sessions follow the people and the rooms: revocation frees them, a bigger room lets the
waitlist in, and rooms or slots the published schedule uses cannot be deleted under it."""

from __future__ import annotations

from datetime import time

import pytest
import sqlalchemy as sa

from tests.helpers import make_event, make_participant, make_user
from workshop import mail, policy
from workshop.extensions import db
from workshop.models import EventStatus, Proposal, ProposalSpeaker, ProposalStatus, SignUp, Tier
from workshop.services import invites, schedule, signups
from workshop.services.errors import DomainError


class Cast:
    pass


@pytest.fixture
def cast(ctx):
    c = Cast()
    c.organizer = make_user("org@example.org")
    c.event = make_event("retreat", organizers=[c.organizer], status=EventStatus.OPEN, timezone="Europe/Berlin")
    c.speaker = make_participant(c.event, "speaker@example.org")
    c.people = [make_participant(c.event, f"p{i}@example.org") for i in range(3)]
    c.nook = schedule.add_room(c.organizer, c.event, "Nook", 1, closed_door=True)
    c.hall = schedule.add_room(c.organizer, c.event, "Hall", 40, closed_door=True)
    # 00:30 in Berlin is still the previous day in UTC.
    c.late, c.morning = schedule.add_slots(c.organizer, c.event, c.event.starts_on, [time(0, 30), time(9)], 45)
    c.talk = Proposal(event_id=c.event.id, title="Small room talk", tier=Tier.ATTENDEES,
                      status=ProposalStatus.ACCEPTED)
    c.talk.speakers = [ProposalSpeaker(user_id=c.speaker.id, is_lead=True, confirmed=True)]
    db.session.add(c.talk)
    db.session.flush()
    schedule.place(c.organizer, c.talk, c.nook.id, c.morning.id)
    schedule.publish(c.organizer, c.event)
    db.session.commit()
    return c


def statuses(c) -> dict[str, str]:
    rows = db.session.execute(sa.select(SignUp.user_id, SignUp.status)).all()
    emails = {u.id: u.email for u in c.people}
    return {emails[user_id]: status for user_id, status in rows}


def sign_up_all(c) -> None:
    for person in c.people[:2]:
        policy.forget_memo()
        signups.sign_up(person, c.talk)
        db.session.commit()


def test_revoking_an_attendee_frees_their_seat_for_the_waitlist(cast, sent):
    sign_up_all(cast)
    assert statuses(cast) == {"p0@example.org": "confirmed", "p1@example.org": "waitlisted"}
    entry = policy.participation(cast.people[0], cast.event)
    invites.revoke(cast.organizer, cast.event, [entry])
    db.session.commit()
    mail.send_due()
    assert statuses(cast) == {"p1@example.org": "confirmed"}
    assert sent.to("p1@example.org")


def test_moving_to_a_bigger_room_lets_the_waitlist_in(cast):
    sign_up_all(cast)
    schedule.place(cast.organizer, cast.talk, cast.hall.id, cast.morning.id, confirmed=True)
    schedule.publish(cast.organizer, cast.event)
    db.session.commit()
    assert set(statuses(cast).values()) == {"confirmed"}


def test_rooms_and_slots_of_the_published_schedule_stay(cast):
    schedule.unplace(cast.organizer, cast.talk)  # gone from the working schedule, still published
    db.session.commit()
    with pytest.raises(DomainError, match="published schedule"):
        schedule.delete_room(cast.organizer, cast.event, cast.nook)
    with pytest.raises(DomainError, match="published schedule"):
        schedule.delete_slot(cast.organizer, cast.event, cast.morning)
    schedule.delete_slot(cast.organizer, cast.event, cast.late)  # unused: fine
    db.session.commit()


def test_published_days_are_the_event_zone_days(cast):
    schedule.place(cast.organizer, cast.talk, cast.nook.id, cast.late.id)
    schedule.publish(cast.organizer, cast.event)
    db.session.commit()
    policy.forget_memo()
    days = schedule.published(cast.organizer, cast.event).days()
    assert [day for day, _ in days] == [cast.event.starts_on]
