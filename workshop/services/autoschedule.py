"""Between the database and the auto-scheduler (workshop.scheduling, which knows nothing of either).

Three scopes:
- ``unplaced``: place the accepted sessions not yet on the schedule; everything placed stays;
- ``all``: place every unpinned session afresh; pinned sessions stay;
- ``block:<name>`` (unconference mode): fill the free cells of one block of slots with the
  unplaced sessions, without moving anything already placed.
Organizers preview the result, then apply it (or discard it by not applying).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa

from .. import policy, scheduling
from ..extensions import db
from ..models import (
    Event,
    Placement,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Room,
    Slot,
    Unavailability,
    User,
    Vote,
    utcnow,
)
from . import audit, schedule
from .errors import DomainError

MAX_SECONDS = 60


@dataclass
class Preview:
    scope: str
    result: scheduling.Result
    proposals: dict[int, Proposal]
    rooms: dict[int, Room]
    slots: dict[int, Slot]
    before: dict[int, tuple[int, int]]  # proposal id → (room id, slot id) now

    def rows(self):
        """Each placed session with where it goes and whether that is a change, in time order."""
        rows = []
        for p in self.result.placements:
            now = self.before.get(p.talk_id)
            rows.append((self.slots[p.slot_id], self.rooms[p.room_id], self.proposals[p.talk_id],
                         "new" if now is None else ("moved" if now != (p.room_id, p.slot_id) else "")))
        return sorted(rows, key=lambda r: (r[0].starts_at, r[1].position, r[1].id))

    def payload(self) -> str:
        """What the apply form carries back: the placements that change something."""
        changed = [[p.talk_id, p.room_id, p.slot_id] for p in self.result.placements
                   if self.before.get(p.talk_id) != (p.room_id, p.slot_id)]
        return json.dumps(sorted(changed))


def blocks(event: Event) -> list[str]:
    """Named blocks of slots that start in the future, in time order (unconference mode)."""
    rows = db.session.execute(sa.select(Slot.block, sa.func.min(Slot.starts_at)).where(
        Slot.event_id == event.id, Slot.block != "", Slot.starts_at > utcnow()).group_by(Slot.block)).all()
    return [name for name, _ in sorted(rows, key=lambda r: r[1])]


def preview(actor: User, event: Event, scope: str, time_limit: float = 10.0, seed: int = 0) -> Preview:
    """Run the scheduler for organizers; nothing is saved. Raises DomainError for a bad request."""
    if not policy.can_manage_schedule(actor, event):
        raise DomainError("Only organizers run the auto-scheduler.")
    if not 1 <= time_limit <= MAX_SECONDS:
        raise DomainError(f"Give the scheduler from 1 to {MAX_SECONDS} seconds.", field="time_limit")
    block = scope.removeprefix("block:") if scope.startswith("block:") else None
    if scope not in ("unplaced", "all") and block is None:
        raise DomainError("Choose what to schedule.", field="scope")
    rooms = {r.id: r for r in db.session.scalars(sa.select(Room).where(Room.event_id == event.id))}
    slots = {s.id: s for s in db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id))}
    if not rooms or not slots:
        raise DomainError("Add rooms and slots first.")
    if block is not None and not any(s.block == block for s in slots.values()):
        raise DomainError(f"There is no block called “{block}”.", field="scope")
    proposals = {p.id: p for p in db.session.scalars(sa.select(Proposal).where(
        Proposal.event_id == event.id, Proposal.status == ProposalStatus.ACCEPTED))}
    placements = [p for p in db.session.scalars(policy.placements_of(event)) if p.proposal_id in proposals]
    before = {p.proposal_id: (p.room_id, p.slot_id) for p in placements}
    speakers: dict[int, set[int]] = defaultdict(set)
    for proposal_id, user_id in db.session.execute(sa.select(ProposalSpeaker.proposal_id, ProposalSpeaker.user_id)
                                                   .where(ProposalSpeaker.proposal_id.in_(proposals),
                                                          ProposalSpeaker.confirmed.is_(True))):
        speakers[proposal_id].add(user_id)
    voters: dict[int, set[int]] = defaultdict(set)
    for proposal_id, user_id in db.session.execute(sa.select(Vote.proposal_id, Vote.user_id)
                                                   .where(Vote.proposal_id.in_(proposals))):
        voters[proposal_id].add(user_id)
    unavailable: dict[int, set[int]] = defaultdict(set)
    for user_id, slot_id in db.session.execute(sa.select(Unavailability.user_id, Unavailability.slot_id)
                                               .where(Unavailability.slot_id.in_(slots))):
        unavailable[user_id].add(slot_id)
    outside_block = {s.id for s in slots.values() if block is not None and s.block != block}
    talks = [scheduling.Talk(
        id=pid, speakers=frozenset(speakers[pid]), voters=frozenset(voters[pid]),
        unavailable_slots=frozenset(set().union(*(unavailable[u] for u in speakers[pid])) | outside_block),
        needs_closed_door=policy.needs_closed_door(p)) for pid, p in sorted(proposals.items())]
    as_placement = [scheduling.Placement(p.proposal_id, p.room_id, p.slot_id) for p in placements]
    # "all" moves everything but the pins; the other scopes keep every placed session where it is.
    kept = [sp for sp, p in zip(as_placement, placements) if p.pinned or scope != "all"]
    problem = scheduling.Problem(
        talks=talks,
        rooms=[scheduling.Room(r.id, r.capacity, r.closed_door) for r in sorted(rooms.values(), key=lambda r: r.id)],
        slots=[scheduling.Slot(s.id, i) for i, s in enumerate(sorted(slots.values(), key=lambda s: s.starts_at))],
        pinned=kept if scope == "all" else [], fixed=kept if scope != "all" else [])
    result = scheduling.solve(problem, time_limit=time_limit, seed=seed)
    return Preview(scope, result, proposals, rooms, slots, before)


def apply(actor: User, event: Event, payload: str) -> int:
    """Save a previewed schedule. Each placement is checked again, so a stale or edited preview is
    refused rather than half-applied. Returns how many sessions moved or were placed."""
    if not policy.can_manage_schedule(actor, event):
        raise DomainError("Only organizers apply a schedule.")
    try:
        rows = json.loads(payload)
        changes = [(int(p), int(r), int(s)) for p, r, s in rows]
    except (ValueError, TypeError) as error:
        raise DomainError("The preview could not be read; run the scheduler again.") from error
    pinned = set(db.session.scalars(sa.select(Placement.proposal_id).where(Placement.event_id == event.id,
                                                                           Placement.pinned.is_(True))))
    for proposal_id, room_id, slot_id in changes:
        proposal = db.session.get(Proposal, proposal_id)
        if proposal is None or proposal.event_id != event.id or proposal.status != ProposalStatus.ACCEPTED:
            raise DomainError("The preview names a session that is no longer accepted; run the scheduler again.")
        if proposal_id in pinned:
            raise DomainError("The preview moves a pinned session; run the scheduler again.")
        schedule.place(actor, proposal, room_id, slot_id)
    audit.record(actor, event, "apply auto-schedule", f"event {event.slug}", f"{len(changes)} sessions")
    return len(changes)
