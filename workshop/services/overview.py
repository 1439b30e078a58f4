"""The organizers' overview: what needs doing now, read from the event's state in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from .. import policy
from ..extensions import db
from ..models import (
    AgreementAcceptance,
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    MessageStatus,
    OutboxMessage,
    Proposal,
    ProposalStatus,
)
from . import schedule
from .invites import status_counts


@dataclass
class Task:
    """One thing to do. ``key`` names where the overview sends the organizer to do it."""

    key: str
    text: str
    count: int = 0
    urgent: bool = False


@dataclass
class RoomLoad:
    """A room against the people its busiest session must seat."""

    name: str
    capacity: int
    sessions: int
    busiest: str = ""  # that session's title
    demand: int = 0
    from_signups: bool = False  # the demand counts sign-ups (released sessions), not votes

    @property
    def too_small(self) -> bool:
        return self.demand > self.capacity

    @property
    def use(self) -> int:
        """How full the room is, in percent (over 100 when too small)."""
        return round(100 * self.demand / self.capacity) if self.capacity else 0


@dataclass
class Overview:
    tasks: list[Task] = field(default_factory=list)
    rooms: list[RoomLoad] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    mail: dict[str, int] = field(default_factory=dict)
    next_status: EventStatus | None = None  # the status to switch to so that attendees can sign up


def unsigned_count(event: Event) -> int:
    """Accepted people who have not signed the current version of the agreement."""
    current = policy.current_agreement(event)
    accepted = sa.select(sa.func.count()).select_from(Candidate).where(
        Candidate.event_id == event.id, Candidate.status == CandidateStatus.ACCEPTED)
    if current is None:
        return 0
    return db.session.scalar(accepted.where(sa.or_(Candidate.user_id.is_(None), ~sa.exists().where(
        AgreementAcceptance.agreement_id == current.id, AgreementAcceptance.user_id == Candidate.user_id))))


def mail_counts(event: Event) -> dict[str, int]:
    """The event's outbox: waiting (pending or being sent) and failed messages."""
    rows = dict(db.session.execute(sa.select(OutboxMessage.status, sa.func.count()).where(
        OutboxMessage.event_id == event.id).group_by(OutboxMessage.status)).all())
    return {"waiting": rows.get(MessageStatus.PENDING, 0) + rows.get(MessageStatus.SENDING, 0),
            "failed": rows.get(MessageStatus.FAILED, 0)}


def room_loads(grid: schedule.Board) -> list[RoomLoad]:
    """Each room, with the busiest session placed in it: its sign-ups once released, its votes before."""
    loads = {room.id: RoomLoad(room.name, room.capacity, 0) for room in grid.rooms}
    for placement in grid.placements:
        load = loads.get(placement.room_id)
        if load is None:
            continue
        load.sessions += 1
        wanted = grid.demand.of(placement.proposal_id)
        if wanted >= load.demand:
            load.demand, load.busiest = wanted, grid.proposals[placement.proposal_id].title
            load.from_signups = placement.proposal_id in grid.demand.signups
    return list(loads.values())


def overview(event: Event) -> Overview:
    """What the organizers should do next, most pressing first. Who may: organizers (the caller checks)."""
    result = Overview(counts=status_counts(event), mail=mail_counts(event))
    tasks = result.tasks
    to_decide = db.session.scalar(sa.select(sa.func.count()).select_from(Proposal).where(
        Proposal.event_id == event.id, Proposal.status == ProposalStatus.SUBMITTED))
    if result.mail["failed"]:
        tasks.append(Task("mail_failed", "messages could not be sent: read why and retry them",
                          result.mail["failed"], urgent=True))
    grid = schedule.board(event)
    if grid.conflicts:
        tasks.append(Task("conflicts", "schedule conflicts to resolve", len(grid.conflicts), urgent=True))
    if schedule.unpublished_changes(event, grid):
        tasks.append(Task("publish", "schedule changes are not published yet: attendees still see the old one",
                          urgent=True))
    release = policy.latest_release(event)
    if release is not None and event.status in (EventStatus.DRAFT, EventStatus.INVITING):
        result.next_status = EventStatus.OPEN
        tasks.append(Task("status", "the schedule is published, but attendees cannot sign up for sessions "
                                    "until the event is open", urgent=True))
    if to_decide:
        tasks.append(Task("decide", "talks to decide", to_decide))
    unsigned = unsigned_count(event)
    if unsigned:
        tasks.append(Task("unsigned", "accepted people have not signed the agreement, so they see nothing yet",
                          unsigned))
    if result.counts[CandidateStatus.PROPOSED]:
        tasks.append(Task("review", "people proposed for the list to review", result.counts[CandidateStatus.PROPOSED]))
    if result.counts[CandidateStatus.APPROVED] and event.status not in (EventStatus.CLOSED, EventStatus.ARCHIVED):
        tasks.append(Task("invite", "approved people not invited yet", result.counts[CandidateStatus.APPROVED]))
    if grid.unplaced:
        tasks.append(Task("place", "accepted talks not on the schedule yet", len(grid.unplaced)))
    if result.mail["waiting"]:
        tasks.append(Task("mail_waiting", "messages waiting to be sent", result.mail["waiting"]))
    result.rooms = room_loads(grid)
    return result
