"""A published programme: rooms, slots, accepted talks of every tier placed and released, and its people."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import make_event, make_participant, make_user
from workshop import policy
from workshop.extensions import db
from workshop.models import (
    Event,
    Material,
    Proposal,
    ProposalAccess,
    ProposalSpeaker,
    ProposalStatus,
    Room,
    Slot,
    Tier,
    User,
)
from workshop.services import schedule


def make_talk(event: Event, speaker: User, title: str, tier: Tier = Tier.ATTENDEES,
              status: ProposalStatus = ProposalStatus.ACCEPTED) -> Proposal:
    proposal = Proposal(event_id=event.id, title=title, abstract="Early work.", tier=tier, status=status,
                        created_by_id=speaker.id)
    proposal.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
    db.session.add(proposal)
    db.session.commit()
    return proposal


def add_material(proposal: Proposal) -> Material:
    material = Material(proposal_id=proposal.id, filename="slides.pdf", content_type="application/pdf", size=10,
                        sha256="0" * 64, storage_key=f"key-{proposal.public_id}-{'k' * 20}")
    db.session.add(material)
    db.session.commit()
    return material


def utc(event: Event, day: date, at: time) -> datetime:
    """A local wall-clock time of the event as the naive UTC the database stores."""
    moment = datetime.combine(day, at, tzinfo=ZoneInfo(event.timezone))
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


class Programme:
    """An open event in Berlin's time zone with two rooms (a two-seat closed-door room and a hall) and
    two morning slots on its first day. Talks: ``small`` (session tier, 2 seats), ``hall`` (attendees
    tier), ``secret`` (restricted, only ``named`` may see it). All three are placed and released.

    People: the organizer, a speaker, three attendees, one named for the secret talk, an accepted person
    who has not signed the agreement, and a stranger.
    """

    def __init__(self, slug: str = "retreat", starts_on: date | None = None):
        self.organizer = make_user("org@example.org", "Olga Organizer")
        starts_on = starts_on or date.today() + timedelta(days=30)
        self.event = make_event(slug, organizers=[self.organizer], capacity=50, timezone="Europe/Berlin",
                                starts_on=starts_on, ends_on=starts_on + timedelta(days=1))
        self.speaker = make_participant(self.event, "speaker@example.org")
        self.speaker.name = "Quentin Quillfeather"
        self.attendees = [make_participant(self.event, f"a{i}@example.org") for i in range(3)]
        self.named = make_participant(self.event, "named@example.org")
        self.unsigned = make_participant(self.event, "unsigned@example.org", signed=False)
        self.stranger = make_user("stranger@example.org")
        db.session.commit()
        self.small_room = schedule.add_room(self.organizer, self.event, "Library", 2, True)
        self.hall = schedule.add_room(self.organizer, self.event, "Great Hall", 50, False)
        self.slots = schedule.add_slots(self.organizer, self.event, starts_on, [time(9, 0), time(10, 0)], 50)
        db.session.commit()
        self.small = make_talk(self.event, self.speaker, "Sparse probes for deceptive circuits", Tier.SESSION)
        self.hall_talk = make_talk(self.event, self.speaker, "Evaluations that bite", Tier.ATTENDEES)
        self.secret = make_talk(self.event, self.speaker, "Zanzibar weight exfiltration", Tier.RESTRICTED)
        db.session.add(ProposalAccess(proposal_id=self.secret.id, user_id=self.named.id))
        db.session.commit()
        self.place(self.small, self.small_room, self.slots[0])
        self.place(self.hall_talk, self.hall, self.slots[0])
        self.place(self.secret, self.small_room, self.slots[1])
        self.publish()

    @property
    def a(self) -> User:
        return self.attendees[0]

    def place(self, proposal: Proposal, room: Room, slot: Slot) -> None:
        schedule.place(self.organizer, proposal, room.id, slot.id)
        db.session.commit()

    def publish(self) -> None:
        schedule.publish(self.organizer, self.event)
        db.session.commit()
        policy.forget_memo()

    def url(self, proposal: Proposal, action: str) -> str:
        return f"/e/{self.event.slug}/proposals/{proposal.public_id}/{action}"

    def more_attendees(self, n: int, prefix: str = "p") -> list[User]:
        people = [make_participant(self.event, f"{prefix}{i}@example.org") for i in range(n)]
        policy.forget_memo()
        return people


@pytest.fixture
def programme(ctx) -> Programme:
    return Programme()

