from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .enums import SignUpStatus, enum_column
from .events import Event
from .proposals import Proposal
from .users import User


class Room(db.Model):
    __tablename__ = "rooms"
    CLONE_WITH_EVENT = True  # a new edition of the event starts with the same rooms (services/cloning.py)
    __table_args__ = (sa.UniqueConstraint("event_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    capacity: Mapped[int]
    # A room whose door closes: the only kind fit for session-tier and restricted talks.
    closed_door: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)


class Slot(db.Model):
    """A time in the grid, stored in UTC; shown in the event's time zone. ``block`` groups slots
    (e.g. "Day 1, morning") so the unconference scheduler can fill one block at a time.

    A break (``is_break``) is a slot that takes no talks: lunch, coffee, a plenary. It also ends a run
    of consecutive slots, so no long talk runs through it.
    """

    __tablename__ = "slots"
    __table_args__ = (sa.UniqueConstraint("event_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    block: Mapped[str] = mapped_column(sa.String(60), default="")
    is_break: Mapped[bool] = mapped_column(default=False)

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


class Unavailability(db.Model):
    """A speaker cannot be at the event during this slot."""

    __tablename__ = "unavailabilities"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    slot_id: Mapped[int] = mapped_column(sa.ForeignKey("slots.id", ondelete="CASCADE"), primary_key=True, index=True)


class Placement(db.Model):
    """Where and when an accepted proposal takes place, in the organizers' working schedule.

    The editor allows conflicts (it flags them); publishing copies the working schedule into a
    numbered release, which is what attendees see. ``sequence`` rises whenever the session moves,
    for calendar clients (iCalendar SEQUENCE).

    ``slot_id`` is the slot the session starts in; a talk longer than one slot runs over ``span``
    consecutive slots of the same room (each starting where the one before ends, on the same day, none
    a break), which the service checks when it places it.
    """

    __tablename__ = "placements"
    __table_args__ = (sa.Index("ix_placements_event_slot", "event_id", "slot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), unique=True)
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id", ondelete="CASCADE"))
    slot_id: Mapped[int] = mapped_column(sa.ForeignKey("slots.id", ondelete="CASCADE"))
    pinned: Mapped[bool] = mapped_column(default=False)
    span: Mapped[int] = mapped_column(default=1)
    sequence: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    proposal: Mapped[Proposal] = relationship()
    room: Mapped[Room] = relationship()
    slot: Mapped[Slot] = relationship()


class ScheduleRelease(db.Model):
    """A published schedule: number N of the event, with the placements it made public.

    ``entries`` is a list of {"proposal": id, "room": id, "slot": id, "end_slot": id, "sequence": n}:
    ``slot`` is where the session starts and ``end_slot`` the last slot it runs over (the same slot for
    a session of one slot). Releases published before sessions could span slots have no ``end_slot``:
    read it as ``entry.get("end_slot", entry["slot"])``.
    """

    __tablename__ = "schedule_releases"
    __table_args__ = (sa.UniqueConstraint("event_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    entries: Mapped[list] = mapped_column(sa.JSON)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship()
    created_by: Mapped[User | None] = relationship()


class SignUp(db.Model):
    """An attendee's seat in a session (``confirmed``) or place in its queue (``waitlisted``)."""

    __tablename__ = "signups"
    __table_args__ = (sa.Index("ix_signups_proposal_status", "proposal_id", "status"),)

    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    status: Mapped[SignUpStatus] = mapped_column(enum_column(SignUpStatus), default=SignUpStatus.CONFIRMED)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()
    proposal: Mapped[Proposal] = relationship()


class CalendarFeed(db.Model):
    """A personal calendar feed's secret. Only its hash is kept; resetting replaces it."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (sa.UniqueConstraint("user_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The owner asked for the abstracts and speakers of talks that are not public in this feed.
    include_details: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship()
    event: Mapped[Event] = relationship()
