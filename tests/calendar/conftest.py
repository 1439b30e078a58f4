"""A published schedule in Europe/Berlin that spans the spring DST change, seen by every role.

The event runs Saturday 30 March to Monday 1 April 2030; clocks go forward at 02:00 on Sunday
31 March, so 10:00 local is 09:00 UTC on the Saturday and 08:00 UTC from the Sunday on.
"""

from __future__ import annotations

from datetime import date, time

import pytest
import sqlalchemy as sa

from tests.helpers import (
    MONDAY,
    SATURDAY,
    SECRET_ABSTRACT,
    SECRET_SPEAKER,
    SECRET_TITLE,
    SUNDAY,
    ZONE,
    make_speaker,
    make_talk,
)
from workshop import policy
from workshop.extensions import db
from workshop.models import Proposal, Slot, Tier
from workshop.services import proposals, schedule


class Scene:
    """world's roles and event (moved to Berlin, around the DST change), three talks on a published
    schedule, a named attendee for the restricted one, and free slots to move talks into."""

    def slot(self, day: date, hour: int) -> Slot:
        wanted = [s for s in self.slots if schedule.local(self.event, s.starts_at).date() == day
                  and schedule.local(self.event, s.starts_at).hour == hour]
        assert len(wanted) == 1
        return wanted[0]

    def move(self, proposal: Proposal, day: date, hour: int) -> None:
        schedule.place(self.organizer, proposal, self.hall.id, self.slot(day, hour).id)
        db.session.commit()
        schedule.publish(self.organizer, self.event)
        db.session.commit()


@pytest.fixture
def scene(world) -> Scene:
    s = Scene()
    s.world, s.event, s.users = world, world.event, world.users
    for name, user in world.users.items():
        setattr(s, name, user)
    event = world.event
    event.timezone, event.starts_on, event.ends_on = ZONE, SATURDAY, MONDAY
    db.session.commit()

    s.public_speaker = make_speaker(event, "pia@example.org", "Pia Publica")
    s.speaker = make_speaker(event, "rosalind@example.org", SECRET_SPEAKER)
    s.named = make_speaker(event, "named@example.org", "Nadia Named")
    s.public_talk = make_talk(event, s.public_speaker, "Open Results", Tier.PUBLIC)
    s.attendees_talk = make_talk(event, s.public_speaker, "Early Findings", Tier.ATTENDEES, chatham_house=True,
                                 no_recording=True)
    s.secret_talk = make_talk(event, s.speaker, SECRET_TITLE, Tier.RESTRICTED, abstract=SECRET_ABSTRACT,
                              chatham_house=True)
    proposals.set_access(s.speaker, s.secret_talk, s.named.email, "")
    db.session.commit()

    organizer = world.organizer
    s.hall = schedule.add_room(organizer, event, "Hall A", 80, closed_door=True)
    s.vault = schedule.add_room(organizer, event, "The Vault", 12, closed_door=True)
    schedule.add_slots(organizer, event, SATURDAY, [time(10, 0), time(14, 0)], 60, "Saturday")
    schedule.add_slots(organizer, event, SUNDAY, [time(10, 0)], 60, "Sunday")
    schedule.add_slots(organizer, event, MONDAY, [time(10, 0), time(14, 0)], 90, "Monday")
    db.session.commit()
    s.slots = db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id).order_by(Slot.starts_at)).all()
    schedule.place(organizer, s.public_talk, s.hall.id, s.slot(SATURDAY, 10).id)
    schedule.place(organizer, s.secret_talk, s.vault.id, s.slot(SUNDAY, 10).id)
    schedule.place(organizer, s.attendees_talk, s.hall.id, s.slot(MONDAY, 10).id)
    db.session.commit()
    schedule.publish(organizer, event)
    db.session.commit()
    policy.forget_memo()
    return s
