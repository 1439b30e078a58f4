"""A schedule to work on: rooms, slots over two days and accepted talks with speakers and votes.

``plan`` builds on ``world``: three rooms (one closed-door, one tiny), four slots on the event's first
day and one on its second (09:00 in the event's time zone, Europe/Berlin), and talks that are accepted,
unplaced, each with its own confirmed speaker.
"""

from __future__ import annotations

from datetime import time

import pytest

from tests.helpers import TIMES, Plan, accepted_talk, make_participant
from workshop.extensions import db
from workshop.services import schedule


@pytest.fixture
def plan(world) -> Plan:
    event, organizer = world.event, world.organizer
    event.timezone = "Europe/Berlin"
    db.session.commit()
    hall = schedule.add_room(organizer, event, "Main Hall", 100, False)
    vault = schedule.add_room(organizer, event, "Vault", 30, True)
    closet = schedule.add_room(organizer, event, "Closet", 1, False)
    day1 = schedule.add_slots(organizer, event, event.starts_on, TIMES, 60, "Day 1")
    day2 = schedule.add_slots(organizer, event, event.ends_on, [time(9)], 60, "Day 2")
    db.session.commit()
    speakers = [make_participant(event, f"speaker{i}@example.org") for i in range(3)]
    for i, speaker in enumerate(speakers):
        speaker.name = f"Speaker {'ABC'[i]}"
    db.session.commit()
    talks = [accepted_talk(event, f"Talk {'ABC'[i]}", [speakers[i]], voters=[world.attendee]) for i in range(3)]
    return Plan(world, event, hall, vault, closet, sorted(day1, key=lambda s: s.starts_at), day2, speakers, talks)
