"""A schedule to work on: rooms, slots over two days and accepted talks with speakers and votes.

``plan`` builds on ``world``: three rooms (one closed-door, one tiny), four slots on the event's first
day and one on its second (09:00 in the event's time zone, Europe/Berlin), and talks that are accepted,
unplaced, each with its own confirmed speaker.
"""

from __future__ import annotations

import html
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import time
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from tests.conftest import make_participant
from workshop.extensions import db
from workshop.models import (
    AuditEntry,
    Event,
    Placement,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Room,
    Slot,
    Tier,
    User,
    Vote,
)
from workshop.services import schedule

TIMES = [time(9), time(10, 30), time(14), time(15, 30)]


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    attrs: dict
    text: str

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class _Finder(HTMLParser):
    def __init__(self, element_id: str):
        super().__init__(convert_charrefs=True)
        self.element_id, self.depth, self.found, self.parts = element_id, 0, None, []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += tag not in VOID
        elif dict(attrs).get("id") == self.element_id and self.found is None:
            self.found, self.depth = dict(attrs), 1

    def handle_endtag(self, tag):
        if self.depth and tag not in VOID:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def element(response, element_id: str) -> Element | None:
    """The element with this id on the page: its attributes and its text, spaces collapsed."""
    finder = _Finder(element_id)
    finder.feed(response.get_data(as_text=True))
    if finder.found is None:
        return None
    return Element(finder.found, " ".join("".join(finder.parts).split()))


def cell(response, room: Room, slot: Slot) -> Element:
    found = element(response, f"cell-{room.id}-{slot.id}")
    assert found is not None, f"no cell for {room.name} at slot {slot.id}"
    return found


def snapshot() -> dict[str, list]:
    """Every row of every table, so that 'changed nothing' means exactly that."""
    db.session.expire_all()
    with db.engine.connect() as connection:
        return {table.name: sorted((tuple(row) for row in connection.execute(table.select())), key=repr)
                for table in db.metadata.sorted_tables}


@contextmanager
def nothing_changes():
    before = snapshot()
    yield
    assert snapshot() == before, "a refused request changed the database"


def accepted_talk(event: Event, title: str, speakers: list[User], tier: Tier = Tier.ATTENDEES,
                  voters: list[User] = (), status: ProposalStatus = ProposalStatus.ACCEPTED) -> Proposal:
    proposal = Proposal(event_id=event.id, title=title, tier=tier, status=status)
    proposal.speakers = [ProposalSpeaker(user_id=s.id, is_lead=i == 0, confirmed=True) for i, s in enumerate(speakers)]
    db.session.add(proposal)
    db.session.flush()
    db.session.add_all([Vote(proposal_id=proposal.id, user_id=v.id) for v in voters])
    db.session.commit()
    return proposal


def audit_actions(event: Event) -> list[tuple[str, str]]:
    return [(a, t) for a, t in db.session.execute(sa.select(AuditEntry.action, AuditEntry.target)
                                                  .where(AuditEntry.event_id == event.id).order_by(AuditEntry.id))]


def placement_of(proposal: Proposal) -> Placement | None:
    return db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))


@dataclass
class Plan:
    world: object
    event: Event
    hall: Room  # 100 seats, open door
    vault: Room  # 30 seats, closed door
    closet: Room  # 1 seat, open door
    day1: list[Slot]  # 09:00, 10:30, 14:00, 15:30 local
    day2: list[Slot]  # 09:00 local
    speakers: list[User] = field(default_factory=list)
    talks: list[Proposal] = field(default_factory=list)

    def url(self, path: str = "") -> str:
        return f"/e/{self.event.slug}/manage/schedule{path}"


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
