"""The schedule: rooms, slots, speakers' availability, placements, conflicts and published releases."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from .. import mail, policy
from ..dates import datefmt, local, to_utc
from ..extensions import db
from ..models import (
    Event,
    Placement,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Room,
    ScheduleRelease,
    SignUp,
    SignUpStatus,
    Slot,
    Unavailability,
    User,
    Vote,
    utcnow,
)
from . import audit
from .errors import DomainError


def _require(may: bool, message: str) -> None:
    if not may:
        raise DomainError(message)


# --- rooms and slots ----------------------------------------------------------------------


def add_room(actor: User, event: Event, name: str, capacity: int, closed_door: bool) -> Room:
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 100:
        raise DomainError("Give the room a name of up to 100 characters.", field="name")
    if not 1 <= capacity <= 100_000:
        raise DomainError("A room holds from 1 to 100,000 people.", field="capacity")
    if db.session.scalar(sa.select(Room.id).where(Room.event_id == event.id, Room.name == name)):
        raise DomainError(f"There is a room called “{name}” already.", field="name")
    position = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(Room.position), 0))
                                 .where(Room.event_id == event.id)) + 1
    room = Room(event_id=event.id, name=name, capacity=capacity, closed_door=closed_door, position=position)
    db.session.add(room)
    audit.record(actor, event, "add room", f"room {name}", f"{capacity} seats{', closed door' if closed_door else ''}")
    return room


def _in_release(event: Event, key: str, value: int) -> bool:
    release = policy.latest_release(event)
    return release is not None and any(entry[key] == value for entry in release.entries)


def delete_room(actor: User, event: Event, room: Room) -> None:
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    if db.session.scalar(sa.select(Placement.id).where(Placement.room_id == room.id).limit(1)):
        raise DomainError(f"Sessions are placed in {room.name}; move them first.")
    if _in_release(event, "room", room.id):
        raise DomainError(f"The published schedule uses {room.name}; publish without it first.")
    audit.record(actor, event, "delete room", f"room {room.name}")
    db.session.delete(room)


def add_slots(actor: User, event: Event, day: date, starts: list[time], minutes: int, block: str = "") -> list[Slot]:
    """Slots on ``day`` at each local start time, each ``minutes`` long, in the event's time zone."""
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    if not event.starts_on <= day <= event.ends_on:
        raise DomainError(f"The event runs from {event.starts_on} to {event.ends_on}.", field="day")
    if not 5 <= minutes <= 480:
        raise DomainError("A slot lasts from 5 minutes to 8 hours.", field="minutes")
    if not starts:
        raise DomainError("Give at least one start time, such as 09:00, 10:30.", field="starts")
    existing = db.session.execute(sa.select(Slot.starts_at, Slot.ends_at).where(Slot.event_id == event.id)).all()
    new: list[Slot] = []
    for start in sorted(set(starts)):
        begins = to_utc(event, datetime.combine(day, start))
        ends = begins + timedelta(minutes=minutes)
        for other_start, other_end in [*existing, *((s.starts_at, s.ends_at) for s in new)]:
            if begins < other_end and other_start < ends:
                raise DomainError(f"{datefmt(start, 'time')} overlaps a slot that already exists.", field="starts")
        new.append(Slot(event_id=event.id, starts_at=begins, ends_at=ends, block=(block or "").strip()[:60]))
    db.session.add_all(new)
    audit.record(actor, event, "add slots", day.isoformat(), ", ".join(datefmt(s, "time") for s in sorted(set(starts))))
    return new


def delete_slot(actor: User, event: Event, slot: Slot) -> None:
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    if db.session.scalar(sa.select(Placement.id).where(Placement.slot_id == slot.id).limit(1)):
        raise DomainError("Sessions are placed in this slot; move them first.")
    if _in_release(event, "slot", slot.id):
        raise DomainError("The published schedule uses this slot; publish without it first.")
    audit.record(actor, event, "delete slot", f"slot {datefmt(slot.starts_at, 'stamp')} UTC")
    db.session.delete(slot)


def set_unavailability(user: User, event: Event, slot_ids: set[int]) -> None:
    """A speaker says which slots they cannot make; the editor and the auto-scheduler respect it."""
    _require(policy.can_state_availability(user, event), "Only the event's speakers state their availability.")
    valid = set(db.session.scalars(sa.select(Slot.id).where(Slot.event_id == event.id, Slot.id.in_(slot_ids))))
    if valid != set(slot_ids):
        raise DomainError("Some of those slots are not in this event's schedule.")
    event_slots = sa.select(Slot.id).where(Slot.event_id == event.id)
    db.session.execute(sa.delete(Unavailability).where(Unavailability.user_id == user.id,
                                                       Unavailability.slot_id.in_(event_slots)))
    db.session.add_all([Unavailability(user_id=user.id, slot_id=slot_id) for slot_id in sorted(valid)])


def unavailable_slots(user: User, event: Event) -> list[int]:
    """The event's slots this person said they cannot make."""
    return list(db.session.scalars(sa.select(Unavailability.slot_id).join(Slot, Unavailability.slot_id == Slot.id)
                                   .where(Unavailability.user_id == user.id, Slot.event_id == event.id)))


def talks_spoken_by(user: User, event: Event) -> list[Proposal]:
    """The accepted talks of the event this person is a confirmed speaker of, by title."""
    return list(db.session.scalars(
        sa.select(Proposal).join(ProposalSpeaker, ProposalSpeaker.proposal_id == Proposal.id)
        .where(Proposal.event_id == event.id, Proposal.status == ProposalStatus.ACCEPTED,
               ProposalSpeaker.user_id == user.id, ProposalSpeaker.confirmed.is_(True))
        .order_by(Proposal.title)))


# --- placing sessions ---------------------------------------------------------------------


def _cell(event: Event, room_id: int, slot_id: int) -> tuple[Room, Slot]:
    room, slot = db.session.get(Room, room_id), db.session.get(Slot, slot_id)
    if room is None or slot is None or room.event_id != event.id or slot.event_id != event.id:
        raise DomainError("That room or slot is not part of this event.")
    return room, slot


def place(actor: User, proposal: Proposal, room_id: int, slot_id: int, pinned: bool | None = None) -> Placement:
    """Put an accepted session in a room and slot (or move it there). Conflicts are allowed and flagged."""
    event = proposal.event
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    if proposal.status != ProposalStatus.ACCEPTED:
        raise DomainError("Only accepted proposals go on the schedule.")
    room, slot = _cell(event, room_id, slot_id)
    placement = db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))
    if placement is None:
        # A session taken off and put back must still look newer to calendars than what they hold.
        prior = policy.released_entry(proposal)
        placement = Placement(event_id=event.id, proposal_id=proposal.id, room_id=room.id, slot_id=slot.id,
                              pinned=bool(pinned), sequence=prior["sequence"] + 1 if prior else 0)
        db.session.add(placement)
    else:
        if (placement.room_id, placement.slot_id) != (room.id, slot.id):
            placement.sequence += 1
        placement.room_id, placement.slot_id = room.id, slot.id
        if pinned is not None:
            placement.pinned = pinned
    audit.record(actor, event, "place session", f"proposal {proposal.public_id}",
                 f"{room.name}, {datefmt(slot.starts_at, 'stamp')} UTC")
    return placement


def unplace(actor: User, proposal: Proposal) -> None:
    event = proposal.event
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    placement = db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))
    if placement is None:
        raise DomainError("That session is not on the schedule.")
    db.session.delete(placement)
    audit.record(actor, event, "unplace session", f"proposal {proposal.public_id}")


def set_pinned(actor: User, proposal: Proposal, pinned: bool) -> None:
    event = proposal.event
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    placement = db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))
    if placement is None:
        raise DomainError("Place the session before pinning it.")
    placement.pinned = pinned
    # Pins decide what the auto-scheduler may move, so they are on the record.
    audit.record(actor, event, "pin session" if pinned else "unpin session", f"proposal {proposal.public_id}")


def toggle_pin(actor: User, proposal: Proposal) -> bool:
    """Pin a placed session, or unpin a pinned one; returns whether it is pinned now."""
    placement = db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))
    pinned = not (placement is not None and placement.pinned)
    set_pinned(actor, proposal, pinned)
    return pinned


# --- the organizers' view: grid and conflicts ---------------------------------------------


@dataclass
class Conflict:
    kind: str  # room double-booked | speaker in two places | speaker unavailable | room too small | not closed-door
    message: str
    proposal_ids: list[int]
    cell: tuple[int, int] | None = None  # (room id, slot id)


@dataclass
class Board:
    """Everything the editor shows, loaded in a fixed number of queries, and indexed by cell so that a
    page of hundreds of cells reads each in constant time."""

    event: Event
    rooms: list[Room]
    slots: list[Slot]
    placements: list[Placement]
    unplaced: list[Proposal]
    votes: dict[int, int]
    speakers: dict[int, list[User]]
    proposals: dict[int, Proposal] = field(default_factory=dict)  # every accepted one, by id
    conflicts: list[Conflict] = field(default_factory=list)
    by_cell: dict[tuple[int, int], list[Placement]] = field(default_factory=dict)
    conflicts_by_cell: dict[tuple[int, int], list[Conflict]] = field(default_factory=dict)

    def cell(self, room_id: int, slot_id: int) -> list[Placement]:
        return self.by_cell.get((room_id, slot_id), [])

    def conflicts_at(self, room_id: int, slot_id: int) -> list[Conflict]:
        """The conflicts of the cell itself, and those of the sessions placed in it."""
        return self.conflicts_by_cell.get((room_id, slot_id), [])

    def index(self) -> None:
        self.by_cell = defaultdict(list)
        for placement in self.placements:
            self.by_cell[(placement.room_id, placement.slot_id)].append(placement)
        where = {p.proposal_id: (p.room_id, p.slot_id) for p in self.placements}
        self.conflicts_by_cell = defaultdict(list)
        for conflict in self.conflicts:
            cells = {conflict.cell} if conflict.cell else set()
            cells |= {where[pid] for pid in conflict.proposal_ids if pid in where}
            for cell in cells:
                self.conflicts_by_cell[cell].append(conflict)
        self.by_cell, self.conflicts_by_cell = dict(self.by_cell), dict(self.conflicts_by_cell)


def board(event: Event) -> Board:
    rooms = db.session.scalars(sa.select(Room).where(Room.event_id == event.id)
                               .order_by(Room.position, Room.id)).all()
    slots = db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id).order_by(Slot.starts_at)).all()
    accepted = db.session.scalars(sa.select(Proposal).where(Proposal.event_id == event.id,
                                                            Proposal.status == ProposalStatus.ACCEPTED)
                                  .order_by(Proposal.title)).all()
    placements = db.session.scalars(sa.select(Placement).where(Placement.event_id == event.id)
                                    .order_by(Placement.id)).all()
    ids = [p.id for p in accepted]
    votes = dict(db.session.execute(sa.select(Vote.proposal_id, sa.func.count()).where(Vote.proposal_id.in_(ids))
                                    .group_by(Vote.proposal_id)).all())
    speakers: dict[int, list[User]] = defaultdict(list)
    for proposal_id, user in db.session.execute(sa.select(ProposalSpeaker.proposal_id, User).join(
            User, ProposalSpeaker.user_id == User.id).where(ProposalSpeaker.proposal_id.in_(ids),
                                                            ProposalSpeaker.confirmed.is_(True))):
        speakers[proposal_id].append(user)
    unavailable = set(db.session.execute(sa.select(Unavailability.user_id, Unavailability.slot_id).where(
        Unavailability.slot_id.in_([s.id for s in slots]))).all())
    by_id = {p.id: p for p in accepted}
    placed_ids = {p.proposal_id for p in placements}
    result = Board(event=event, rooms=list(rooms), slots=list(slots),
                   placements=[p for p in placements if p.proposal_id in by_id],
                   unplaced=[p for p in accepted if p.id not in placed_ids], votes=votes, speakers=dict(speakers),
                   proposals=by_id)
    result.conflicts = find_conflicts(result, by_id, unavailable)
    result.index()
    return result


def find_conflicts(grid: Board, proposals: dict[int, Proposal], unavailable: set[tuple[int, int]]) -> list[Conflict]:
    """Every conflict of the working schedule, each with where it occurs."""
    rooms = {r.id: r for r in grid.rooms}
    slots = {s.id: s for s in grid.slots}
    now = utcnow()
    conflicts: list[Conflict] = []
    by_cell: dict[tuple[int, int], list[Placement]] = defaultdict(list)
    by_slot_speaker: dict[tuple[int, int], list[int]] = defaultdict(list)
    for placement in grid.placements:
        by_cell[(placement.room_id, placement.slot_id)].append(placement)
        for speaker in grid.speakers.get(placement.proposal_id, []):
            by_slot_speaker[(placement.slot_id, speaker.id)].append(placement.proposal_id)
            if (speaker.id, placement.slot_id) in unavailable:
                when = _when(grid.event, slots[placement.slot_id])
                conflicts.append(Conflict("speaker unavailable", f"{speaker.display_name} is unavailable at {when}.",
                                          [placement.proposal_id], (placement.room_id, placement.slot_id)))
        room, proposal = rooms[placement.room_id], proposals[placement.proposal_id]
        wanted = grid.votes.get(placement.proposal_id, 0)
        if wanted > room.capacity:
            conflicts.append(Conflict("room too small", f"{wanted} want to attend “{proposal.title}”; {room.name} "
                                      f"seats {room.capacity}.", [proposal.id], (room.id, placement.slot_id)))
        if policy.needs_closed_door(proposal, now) and not room.closed_door:
            tier = proposal.effective_tier(now)
            conflicts.append(Conflict("not closed-door", f"“{proposal.title}” is {tier.value}-tier but "
                                      f"{room.name} is not a closed-door room.", [proposal.id],
                                      (room.id, placement.slot_id)))
    for (room_id, slot_id), placed in by_cell.items():
        if len(placed) > 1:
            when = _when(grid.event, slots[slot_id])
            conflicts.append(Conflict("room double-booked", f"{rooms[room_id].name} at {when} has {len(placed)} "
                                      "sessions.", [p.proposal_id for p in placed], (room_id, slot_id)))
    speakers_by_id = {u.id: u for users in grid.speakers.values() for u in users}
    for (slot_id, speaker_id), proposal_ids in by_slot_speaker.items():
        if len(proposal_ids) > 1:
            when = _when(grid.event, slots[slot_id])
            conflicts.append(Conflict("speaker in two places", f"{speakers_by_id[speaker_id].display_name} speaks in "
                                      f"{len(proposal_ids)} sessions at {when}.", proposal_ids))
    order = ["room double-booked", "speaker in two places", "speaker unavailable", "room too small", "not closed-door"]
    return sorted(conflicts, key=lambda c: (order.index(c.kind), c.message))


def _when(event: Event, slot: Slot) -> str:
    """A slot as people read it: in the event's time zone."""
    return datefmt(local(event, slot.starts_at), "slot")


# --- publishing ---------------------------------------------------------------------------


@dataclass
class Change:
    proposal_id: int
    kind: str  # added | moved | removed


def diff(old: list[dict], new: list[dict]) -> list[Change]:
    before = {e["proposal"]: (e["room"], e["slot"]) for e in old}
    after = {e["proposal"]: (e["room"], e["slot"]) for e in new}
    changes = [Change(pid, "added") for pid in after if pid not in before]
    changes += [Change(pid, "moved") for pid in after if pid in before and before[pid] != after[pid]]
    changes += [Change(pid, "removed") for pid in before if pid not in after]
    return sorted(changes, key=lambda c: (c.kind, c.proposal_id))


def entries_of(grid: Board) -> list[dict]:
    """The working schedule as a release records it (and so comparable with the latest one)."""
    return sorted(({"proposal": p.proposal_id, "room": p.room_id, "slot": p.slot_id, "sequence": p.sequence}
                   for p in grid.placements), key=lambda e: e["proposal"])


def publish(actor: User, event: Event) -> ScheduleRelease:
    """Publish the working schedule as release N+1 and email each affected attendee the changes
    they may see (sessions they signed up for, voted for or speak at)."""
    _require(policy.can_manage_schedule(actor, event), "Only organizers publish the schedule.")
    grid = board(event)
    if not grid.placements:
        raise DomainError("Place at least one session before publishing.")
    entries = entries_of(grid)
    previous = policy.latest_release(event)
    if previous is not None and previous.entries == entries:
        raise DomainError(f"Nothing changed since release {previous.number}.")
    release = ScheduleRelease(event_id=event.id, number=(previous.number + 1 if previous else 1), entries=entries,
                              created_by_id=actor.id)
    db.session.add(release)
    changes = diff(previous.entries if previous else [], entries)
    audit.record(actor, event, "publish schedule", f"release {release.number}",
                 f"{len(entries)} sessions, {len(changes)} changes")
    if previous is not None:  # the first release is announced by the event itself, not as changes
        _email_changes(event, release, changes)
    policy.forget_memo()
    # A session moved to a bigger room may have seats for its waitlist now.
    from .signups import fill_from_waitlist

    for change in changes:
        if change.kind == "moved":
            fill_from_waitlist(grid.proposals[change.proposal_id])
    return release


def _email_changes(event: Event, release: ScheduleRelease, changes: list[Change]) -> None:
    ids = [c.proposal_id for c in changes]
    if not ids:
        return
    interested: dict[int, set[int]] = defaultdict(set)  # user id → changed proposals they care about
    for model in (SignUp, Vote, ProposalSpeaker):
        for proposal_id, user_id in db.session.execute(sa.select(model.proposal_id, model.user_id)
                                                       .where(model.proposal_id.in_(ids))):
            interested[user_id].add(proposal_id)
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(interested)))}
    proposals = {p.id: p for p in db.session.scalars(sa.select(Proposal).where(Proposal.id.in_(ids)))}
    entries = {e["proposal"]: e for e in release.entries}
    rooms = {r.id: r for r in db.session.scalars(sa.select(Room).where(Room.event_id == event.id))}
    slots = {s.id: s for s in db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id))}
    for user_id, proposal_ids in sorted(interested.items()):
        user = users.get(user_id)
        if user is None:
            continue
        lines = []
        for change in changes:
            if change.proposal_id not in proposal_ids:
                continue
            proposal = proposals[change.proposal_id]
            if not policy.can_view_proposal(user, proposal):  # a revoked or excluded person hears nothing
                continue
            entry = entries.get(change.proposal_id)
            where = ""
            if entry is not None:
                starts = local(event, slots[entry["slot"]].starts_at)
                where = f": {datefmt(starts, 'slot')}, {rooms[entry['room']].name}"
            lines.append(f"{proposal.title} — {change.kind}{where}")
        if lines:
            mail.queue(user.email, f"Schedule changes for {event.title}", "schedule_changed", event=event,
                       release=release, lines=lines)


# --- reading the released schedule --------------------------------------------------------


@dataclass
class Session:
    """A released session as one person may see it. ``proposal`` is None for a closed-session placeholder."""

    room: Room
    slot: Slot
    proposal: Proposal | None
    sequence: int
    # The proposal's public id, for the calendar's UIDs only (which hash it): never shown, since the
    # reader of a placeholder may not know the talk exists.
    key: str
    speakers: list[User] = field(default_factory=list)
    signed_up: SignUpStatus | None = None  # the reader's seat or queue place, if any
    speaking: bool = False  # the reader speaks in it

    @property
    def placeholder(self) -> bool:
        return self.proposal is None

    @property
    def starts_at(self) -> datetime:
        return self.slot.starts_at

    @property
    def ends_at(self) -> datetime:
        """When the session ends (UTC): calendars and exports read it here, so that a session placed over
        several slots shows its real length once releases record spans."""
        return self.slot.ends_at


@dataclass
class Published:
    release: ScheduleRelease | None
    rooms: list[Room]
    slots: list[Slot]
    sessions: list[Session]

    def days(self) -> list[tuple[date, list[Slot]]]:
        grouped: dict[date, list[Slot]] = defaultdict(list)
        for slot in self.slots:
            grouped[local(self.release.event, slot.starts_at).date()].append(slot)
        return sorted(grouped.items())


def published(user, event: Event, now: datetime | None = None, *, public_only: bool = False,
              only: set[int] | None = None) -> Published:
    """The latest release as ``user`` may see it, in a fixed number of queries: the one reader of the
    published schedule, for its page, the agenda and the calendar feeds.

    A released session the person may not see is a placeholder (``proposal`` None), unless they are
    excluded from it: then it is left out, leaving no trace (policy.shows_on_schedule). ``public_only``: the
    public page's view, where sessions that are not public are left out rather than shown closed (an
    outsider learns nothing of them, not even that they exist). ``only``: just these proposals' sessions.
    """
    release = policy.latest_release(event)
    rooms = db.session.scalars(sa.select(Room).where(Room.event_id == event.id).order_by(Room.position, Room.id)).all()
    entries = [e for e in release.entries if only is None or e["proposal"] in only] if release else []
    if not entries:
        return Published(release, list(rooms), [], [])
    proposal_ids = [e["proposal"] for e in entries]
    visible_query = policy.public_proposals(event, now) if public_only else policy.proposals_visible_to(
        user, event, now)
    visible = {p.id: p for p in db.session.scalars(visible_query.where(Proposal.id.in_(proposal_ids)))}
    keys = dict(db.session.execute(sa.select(Proposal.id, Proposal.public_id)
                                   .where(Proposal.id.in_(proposal_ids))).all())
    if not public_only:
        for hidden in db.session.scalars(policy.sessions_hidden_from(user, event).where(
                Proposal.id.in_(proposal_ids))):
            if hidden not in visible:
                keys.pop(hidden, None)
    slots = {s.id: s for s in db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id))}
    room_by_id = {r.id: r for r in rooms}
    speakers: dict[int, list[User]] = defaultdict(list)
    for proposal_id, speaker in db.session.execute(sa.select(ProposalSpeaker.proposal_id, User).join(
            User, ProposalSpeaker.user_id == User.id).where(ProposalSpeaker.proposal_id.in_(list(visible)),
                                                            ProposalSpeaker.confirmed.is_(True))
                                                   .order_by(ProposalSpeaker.id)):
        speakers[proposal_id].append(speaker)
    mine: dict[int, SignUpStatus] = {}
    reader = user.id if getattr(user, "is_authenticated", False) else None
    if reader is not None and not public_only:
        mine = dict(db.session.execute(sa.select(SignUp.proposal_id, SignUp.status).where(
            SignUp.user_id == user.id, SignUp.proposal_id.in_(list(visible)))).all())
    sessions = [Session(room=room_by_id[e["room"]], slot=slots[e["slot"]], proposal=visible.get(e["proposal"]),
                        sequence=int(e.get("sequence", 0)), key=keys[e["proposal"]],
                        speakers=speakers.get(e["proposal"], []), signed_up=mine.get(e["proposal"]),
                        speaking=any(u.id == reader for u in speakers.get(e["proposal"], [])))
                for e in entries if e["room"] in room_by_id and e["slot"] in slots and e["proposal"] in keys
                and not (public_only and e["proposal"] not in visible)]
    used_slots = sorted({s.slot.id for s in sessions}, key=lambda i: slots[i].starts_at)
    return Published(release, list(rooms), [slots[i] for i in used_slots],
                     sorted(sessions, key=lambda s: (s.slot.starts_at, s.room.position, s.room.id)))
