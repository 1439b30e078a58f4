"""The schedule: rooms, slots, speakers' availability, placements, conflicts and published releases.

Time is real: a slot lasts from its start to its end, a break is a slot that takes no talk, and a talk
longer than its slot runs over consecutive slots of one room (each starting where the one before ends,
on the same day, none a break): the placement's ``span``. A release records where each session starts
and the slot it ends in, so every reader of the published schedule shows its real times.

Running events: moving or removing a session people signed up for needs the organizer's confirmation
(``ConfirmationNeeded``), and then emails them; rooms are checked against sign-ups once sign-up is open,
against votes before (``demand``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from .. import mail, policy
from ..dates import datefmt, local, to_utc
from ..extensions import db
from ..models import (
    Event,
    OutboxMessage,
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

# The most slots one session may run over (a whole day of short slots).
MAX_SPAN = 12


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


def _released_over(event: Event, slot: Slot) -> bool:
    """Whether a session of the latest release runs in ``slot`` (starts in it, ends in it, or runs over it)."""
    release = policy.latest_release(event)
    if release is None:
        return False
    slots = {s.id: s for s in db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id))}
    for entry in release.entries:
        first, last = slots.get(entry["slot"]), slots.get(entry.get("end_slot", entry["slot"]))
        if slot.id in (entry["slot"], entry.get("end_slot")) or (
                first is not None and last is not None and first.starts_at <= slot.starts_at < last.ends_at):
            return True
    return False


def _placed_over(event: Event, slot: Slot) -> bool:
    """Whether a session of the working schedule starts in ``slot`` or runs over it."""
    placements = db.session.scalars(sa.select(Placement).where(Placement.event_id == event.id)).all()
    if not placements:
        return False
    return any(slot in run for run in runs_of(event, ordered_slots(event), placements).values())


def delete_room(actor: User, event: Event, room: Room) -> None:
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    if db.session.scalar(sa.select(Placement.id).where(Placement.room_id == room.id).limit(1)):
        raise DomainError(f"Sessions are placed in {room.name}; move them first.")
    if _in_release(event, "room", room.id):
        raise DomainError(f"The published schedule uses {room.name}; publish without it first.")
    audit.record(actor, event, "delete room", f"room {room.name}",
                 f"{room.capacity} seats{', closed door' if room.closed_door else ''} → (deleted)")
    db.session.delete(room)


def add_slots(actor: User, event: Event, day: date, starts: list[time], minutes: int, block: str = "",
              is_break: bool = False) -> list[Slot]:
    """Slots on ``day`` at each local start time, each ``minutes`` long, in the event's time zone; with
    ``is_break``, breaks (slots that take no talk)."""
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
        new.append(Slot(event_id=event.id, starts_at=begins, ends_at=ends, block=(block or "").strip()[:60],
                        is_break=is_break))
    db.session.add_all(new)
    audit.record(actor, event, "add breaks" if is_break else "add slots", day.isoformat(),
                 ", ".join(datefmt(s, "time") for s in sorted(set(starts))))
    return new


def delete_slot(actor: User, event: Event, slot: Slot) -> None:
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    if _placed_over(event, slot):
        raise DomainError("Sessions are placed in this slot, or run over it; move them first.")
    if _released_over(event, slot):
        raise DomainError("The published schedule uses this slot; publish without it first.")
    audit.record(actor, event, "delete slot", f"slot {datefmt(slot.starts_at, 'stamp')} UTC")
    db.session.delete(slot)


def set_break(actor: User, event: Event, slot: Slot, is_break: bool) -> None:
    """Make a slot a break (it takes no talk, and ends a run of consecutive slots), or a slot for talks
    again. Raises DomainError when sessions are placed in it or run over it."""
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    if slot.is_break == is_break:
        return
    if is_break and _placed_over(event, slot):
        raise DomainError("Sessions are placed in this slot, or run over it; move them before making it a break.")
    if is_break and _released_over(event, slot):
        raise DomainError("The published schedule has a session in this slot; publish without it first.")
    slot.is_break = is_break
    audit.record(actor, event, "make slot a break" if is_break else "open slot for talks",
                 f"slot {datefmt(slot.starts_at, 'stamp')} UTC")


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


# --- time: lengths, breaks and runs of consecutive slots ----------------------------------


def ordered_slots(event: Event) -> list[Slot]:
    return list(db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id).order_by(Slot.starts_at)))


def follows(event: Event, before: Slot, after: Slot) -> bool:
    """One talk may run from ``before`` into ``after``: it starts where ``before`` ends, on the same day
    of the event's calendar, and neither is a break."""
    return (not before.is_break and not after.is_break and before.ends_at == after.starts_at
            and local(event, before.starts_at).date() == local(event, after.starts_at).date())


def run_from(event: Event, ordered: list[Slot], first: int, limit: int = MAX_SPAN) -> list[Slot]:
    """The slots a session starting in ``ordered[first]`` may run over: that slot and those that follow it
    without a gap, a break or a new day (at most ``limit``). Empty for a break."""
    if ordered[first].is_break:
        return []
    run = [ordered[first]]
    while len(run) < limit and first + len(run) < len(ordered) and follows(event, run[-1], ordered[first + len(run)]):
        run.append(ordered[first + len(run)])
    return run


def span_for(minutes: int, run: list[Slot]) -> int | None:
    """How many slots of ``run``, from its first, a talk of ``minutes`` takes; None when the run ends first."""
    total = 0
    for taken, slot in enumerate(run, start=1):
        total += slot.minutes
        if total >= minutes:
            return taken
    return None


def _run_problem(event: Event, run: list[Slot], span: int) -> str:
    start = _when(event, run[0])
    if len(run) == 1:
        return (f"Nothing follows {start} without a gap, a break or a new day: the session can take that one "
                f"slot only, not {span}.")
    return (f"From {start}, {len(run)} slots follow one another without a gap, a break or a new day: choose "
            f"at most {len(run)}, not {span}.")


# --- placing sessions ---------------------------------------------------------------------


class ConfirmationNeeded(DomainError):
    """Moving or removing a session people signed up for: the organizer confirms first, and those people
    are emailed. Nothing was written."""

    def __init__(self, proposal: Proposal, seated: int, waiting: int, before: str, after: str | None):
        verb = "Moving it" if after else "Taking it off the schedule"
        super().__init__(f"{people(seated, waiting)} signed up for “{proposal.title}”. {verb} emails each of them; "
                         "confirm to go on.")
        self.proposal, self.seated, self.waiting = proposal, seated, waiting
        self.before, self.after = before, after  # where it is, and where it goes (None: off the schedule)

    @property
    def count(self) -> int:
        return self.seated + self.waiting


def people(seated: int, waiting: int) -> str:
    """"3 people (2 with a seat, 1 on the waitlist)"."""
    total = seated + waiting
    text = f"{total} {'person' if total == 1 else 'people'}"
    if seated and waiting:
        text += f" ({seated} with a seat, {waiting} on the waitlist)"
    elif waiting:
        text += " (on the waitlist)"
    return text


def _signups_of(proposal: Proposal) -> list[SignUp]:
    return list(db.session.scalars(sa.select(SignUp).where(SignUp.proposal_id == proposal.id)
                                   .options(selectinload(SignUp.user)).order_by(SignUp.created_at, SignUp.user_id)))


def _confirm_and_tell(proposal: Proposal, confirmed: bool, before: str, after: str | None) -> None:
    """A session moves from ``before`` to ``after`` (None: off the schedule). When people signed up for it,
    the organizer confirms first (``ConfirmationNeeded``), and then each of them is emailed."""
    signed = _signups_of(proposal)
    if signed and not confirmed:
        seated = sum(1 for s in signed if s.status.seated)
        raise ConfirmationNeeded(proposal, seated, len(signed) - seated, before, after)
    if signed:
        _tell_signed_up(proposal, signed, before, after)


def _moved_subject(proposal: Proposal, after: str | None) -> str:
    """The subject of the email telling those signed up where a session goes (None: off the schedule)."""
    text = f"“{proposal.title}” moves: {after}" if after else f"“{proposal.title}” is off the schedule"
    return mail.clean_header(text[:200])


def _tell_signed_up(proposal: Proposal, signed: list[SignUp], before: str, after: str | None) -> None:
    """Email everyone signed up for ``proposal`` (seat or waitlist) who may still see it: where it goes now
    (``after``), or that it is off the schedule (None)."""
    event = proposal.event
    subject = _moved_subject(proposal, after)
    for signup in signed:
        if not policy.can_view_proposal(signup.user, proposal):  # revoked or excluded since: told nothing
            continue
        mail.queue(signup.user.email, subject, "session_moved", event=event, proposal=proposal,
                   user=signup.user, seated=signup.status.seated, before=before, after=after)


def when(event: Event, run: list[Slot]) -> str:
    """The time a session takes, from the start of its first slot to the end of its last: "Tue 3 Jun,
    09:00–10:30", in the event's time zone."""
    return f"{datefmt(local(event, run[0].starts_at), 'slot')}–{datefmt(local(event, run[-1].ends_at), 'time')}"


def where(event: Event, room: Room, run: list[Slot]) -> str:
    """A session's place as people read it: "Tue 3 Jun, 09:00–10:30, Hall"."""
    return f"{when(event, run)}, {room.name}"


def _cell(event: Event, room_id: int, slot_id: int) -> tuple[Room, Slot]:
    room, slot = db.session.get(Room, room_id), db.session.get(Slot, slot_id)
    if room is None or slot is None or room.event_id != event.id or slot.event_id != event.id:
        raise DomainError("That room or slot is not part of this event.")
    return room, slot


def _placement_of(proposal: Proposal) -> Placement | None:
    return db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))


def place(actor: User, proposal: Proposal, room_id: int, slot_id: int, pinned: bool | None = None,
          span: int | None = None, *, confirmed: bool = False) -> Placement:
    """Put an accepted session in a room, starting in a slot (or move it there). Conflicts are allowed and
    flagged, but a break takes no session.

    ``span``: how many consecutive slots it runs over (each starting where the one before ends, on the same
    day, none a break); None fits the talk's length, or takes as many as follow when they are too few (the
    editor then flags the talk as longer than its slots). Raises DomainError for a break or a span the
    slots do not have; ``ConfirmationNeeded`` when the session moves and people signed up for it, until
    ``confirmed``: they are then emailed where it goes.
    """
    event = proposal.event
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    if proposal.status != ProposalStatus.ACCEPTED:
        raise DomainError("Only accepted proposals go on the schedule.")
    room, slot = _cell(event, room_id, slot_id)
    if slot.is_break:
        raise DomainError(f"{_when(event, slot)} is a break: it takes no sessions.", field="slot")
    ordered = ordered_slots(event)
    run = run_from(event, ordered, ordered.index(slot))
    if span is None:
        span = span_for(proposal.duration_minutes, run) or len(run)
    elif not 1 <= span <= len(run):
        raise DomainError(_run_problem(event, run, span), field="span")
    placement = _placement_of(proposal)
    was = ""  # where it was, for the audit's before → after
    if placement is None:
        # A session taken off and put back must still look newer to calendars than what they hold.
        prior = policy.released_entry(proposal)
        placement = Placement(event_id=event.id, proposal_id=proposal.id, room_id=room.id, slot_id=slot.id,
                              span=span, pinned=bool(pinned), sequence=prior["sequence"] + 1 if prior else 0)
        db.session.add(placement)
    else:
        if (placement.room_id, placement.slot_id, placement.span) != (room.id, slot.id, span):
            was = _audit_place(db.session.get(Room, placement.room_id), db.session.get(Slot, placement.slot_id),
                               placement.span)
            _confirm_and_tell(proposal, confirmed, placed_where(event, placement, ordered),
                              where(event, room, run[:span]))
            placement.sequence += 1
        placement.room_id, placement.slot_id, placement.span = room.id, slot.id, span
        if pinned is not None:
            placement.pinned = pinned
    now_at = _audit_place(room, slot, span)
    audit.record(actor, event, "place session", f"proposal {proposal.public_id}",
                 f"{was} → {now_at}" if was else now_at)
    return placement


def _audit_place(room: Room, slot: Slot, span: int) -> str:
    return f"{room.name}, {datefmt(slot.starts_at, 'stamp')} UTC" + (f", {span} slots" if span > 1 else "")


def placed_where(event: Event, placement: Placement, ordered: list[Slot] | None = None, *,
                 room_first: bool = False) -> str:
    """Where a placed session is, as people read it: "Tue 3 Jun, 09:00–10:30, Hall" (or, ``room_first``,
    "Hall, Tue 3 Jun, 09:00–10:30")."""
    ordered = ordered if ordered is not None else ordered_slots(event)
    run = runs_of(event, ordered, [placement])[placement.proposal_id]
    room = db.session.get(Room, placement.room_id)
    return f"{room.name}, {when(event, run)}" if room_first else where(event, room, run)


def sessions_per_slot(event: Event, ordered: list[Slot]) -> dict[int, int]:
    """How many sessions of the working schedule start in or run over each slot."""
    placements = db.session.scalars(sa.select(Placement).where(Placement.event_id == event.id)).all()
    counts = {slot.id: 0 for slot in ordered}
    for run in runs_of(event, ordered, placements).values():
        for slot in run:
            counts[slot.id] += 1
    return counts


def unplace(actor: User, proposal: Proposal, *, confirmed: bool = False) -> None:
    """Take a session off the working schedule. Raises DomainError when it is not on it, and
    ``ConfirmationNeeded`` when people signed up for it, until ``confirmed``: they are then emailed."""
    event = proposal.event
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    placement = _placement_of(proposal)
    if placement is None:
        raise DomainError("That session is not on the schedule.")
    _confirm_and_tell(proposal, confirmed, placed_where(event, placement), None)
    was = _audit_place(db.session.get(Room, placement.room_id), db.session.get(Slot, placement.slot_id),
                       placement.span)
    db.session.delete(placement)
    audit.record(actor, event, "unplace session", f"proposal {proposal.public_id}", f"{was} → (not placed)")


def set_pinned(actor: User, proposal: Proposal, pinned: bool) -> None:
    event = proposal.event
    _require(policy.can_manage_schedule(actor, event), "Only organizers edit the schedule.")
    placement = _placement_of(proposal)
    if placement is None:
        raise DomainError("Place the session before pinning it.")
    placement.pinned = pinned
    # Pins decide what the auto-scheduler may move, so they are on the record.
    audit.record(actor, event, "pin session" if pinned else "unpin session", f"proposal {proposal.public_id}")


def toggle_pin(actor: User, proposal: Proposal) -> bool:
    """Pin a placed session, or unpin a pinned one; returns whether it is pinned now."""
    placement = _placement_of(proposal)
    pinned = not (placement is not None and placement.pinned)
    set_pinned(actor, proposal, pinned)
    return pinned


# --- how many people a session's room must seat -------------------------------------------


@dataclass
class Demand:
    """How many people each session's room must seat: its sign-ups (seats and waitlist) when it is released
    and sign-up is open (``policy.counts_signups``), its votes before."""

    count: dict[int, int]
    signups: set[int]  # the sessions whose count is sign-ups

    def of(self, proposal_id: int) -> int:
        return self.count.get(proposal_id, 0)

    def says(self, proposal_id: int) -> str:
        """"12 signed up for" or "12 want to attend", for a conflict's sentence."""
        n = self.of(proposal_id)
        return f"{n} signed up for" if proposal_id in self.signups else f"{n} want{'s' if n == 1 else ''} to attend"


def demand(event: Event, proposal_ids, votes: dict[int, int] | None = None) -> Demand:
    """Each session's demand (see ``Demand``), in at most two queries (one if ``votes`` are given)."""
    ids = list(proposal_ids)
    if votes is None:
        votes = dict(db.session.execute(sa.select(Vote.proposal_id, sa.func.count()).where(
            Vote.proposal_id.in_(ids)).group_by(Vote.proposal_id)).all()) if ids else {}
    count = {pid: votes.get(pid, 0) for pid in ids}
    signups: set[int] = set()
    if ids and policy.counts_signups(event):
        released = {e["proposal"] for e in policy.latest_release(event).entries} & set(ids)
        signed = dict(db.session.execute(sa.select(SignUp.proposal_id, sa.func.count()).where(
            SignUp.proposal_id.in_(released)).group_by(SignUp.proposal_id)).all()) if released else {}
        for pid in released:
            count[pid] = signed.get(pid, 0)
        signups = released
    return Demand(count, signups)


# --- the organizers' view: grid and conflicts ---------------------------------------------

CONFLICT_KINDS = ["room double-booked", "speaker in two places", "speaker unavailable", "in a break",
                  "longer than its slots", "room too small", "not closed-door"]


@dataclass
class Conflict:
    kind: str  # one of CONFLICT_KINDS
    message: str
    proposal_ids: list[int]
    cell: tuple[int, int] | None = None  # (room id, slot id)


@dataclass
class Board:
    """Everything the editor shows, loaded in a fixed number of queries, and indexed by cell so that a
    page of hundreds of cells reads each in constant time.

    A session placed over several slots is in ``by_cell`` at its first cell only, and in ``continues`` at
    the cells after it that it runs over; ``runs`` holds the slots each placed session runs over.
    """

    event: Event
    rooms: list[Room]
    slots: list[Slot]
    placements: list[Placement]
    unplaced: list[Proposal]
    votes: dict[int, int]
    speakers: dict[int, list[User]]
    proposals: dict[int, Proposal] = field(default_factory=dict)  # every accepted one, by id
    demand: Demand = field(default_factory=lambda: Demand({}, set()))
    runs: dict[int, list[Slot]] = field(default_factory=dict)  # proposal id → the slots it runs over
    conflicts: list[Conflict] = field(default_factory=list)
    by_cell: dict[tuple[int, int], list[Placement]] = field(default_factory=dict)
    continues: dict[tuple[int, int], list[Placement]] = field(default_factory=dict)
    used_slots: set[int] = field(default_factory=set)  # slots a session starts in or runs over
    conflicts_by_cell: dict[tuple[int, int], list[Conflict]] = field(default_factory=dict)

    def cell(self, room_id: int, slot_id: int) -> list[Placement]:
        return self.by_cell.get((room_id, slot_id), [])

    def conflicts_at(self, room_id: int, slot_id: int) -> list[Conflict]:
        """The conflicts of the cell itself, and those of the sessions placed in it."""
        return self.conflicts_by_cell.get((room_id, slot_id), [])

    def minutes(self, proposal_id: int) -> int:
        """How long the slots a placed session runs over last, together."""
        return sum(slot.minutes for slot in self.runs.get(proposal_id, []))

    def index(self) -> None:
        self.by_cell, self.continues = defaultdict(list), defaultdict(list)
        for placement in self.placements:
            self.by_cell[(placement.room_id, placement.slot_id)].append(placement)
            for slot in self.runs[placement.proposal_id][1:]:
                self.continues[(placement.room_id, slot.id)].append(placement)
        self.used_slots = {slot.id for run in self.runs.values() for slot in run}
        where = {p.proposal_id: (p.room_id, p.slot_id) for p in self.placements}
        self.conflicts_by_cell = defaultdict(list)
        for conflict in self.conflicts:
            cells = {conflict.cell} if conflict.cell else set()
            cells |= {where[pid] for pid in conflict.proposal_ids if pid in where}
            for cell in cells:
                self.conflicts_by_cell[cell].append(conflict)
        self.by_cell, self.continues = dict(self.by_cell), dict(self.continues)
        self.conflicts_by_cell = dict(self.conflicts_by_cell)


def runs_of(event: Event, ordered: list[Slot], placements) -> dict[int, list[Slot]]:
    """The slots each placement runs over: its first slot and the ``span - 1`` after it, as far as they
    follow one another (a run cut short by a slot made a break since shows as a session too long)."""
    position = {slot.id: i for i, slot in enumerate(ordered)}
    runs = {}
    for placement in placements:
        first = position[placement.slot_id]
        runs[placement.proposal_id] = run_from(event, ordered, first, max(placement.span, 1)) or [ordered[first]]
    return runs


def board(event: Event) -> Board:
    rooms = db.session.scalars(sa.select(Room).where(Room.event_id == event.id)
                               .order_by(Room.position, Room.id)).all()
    slots = ordered_slots(event)
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
    mine = [p for p in placements if p.proposal_id in by_id]
    result = Board(event=event, rooms=list(rooms), slots=list(slots), placements=mine,
                   unplaced=[p for p in accepted if p.id not in placed_ids], votes=votes, speakers=dict(speakers),
                   proposals=by_id, demand=demand(event, ids, votes), runs=runs_of(event, slots, mine))
    result.conflicts = find_conflicts(result, by_id, unavailable)
    result.index()
    return result


def find_conflicts(grid: Board, proposals: dict[int, Proposal], unavailable: set[tuple[int, int]]) -> list[Conflict]:
    """Every conflict of the working schedule, each with where it occurs. A session over several slots
    holds its room, and its speakers, in each of them."""
    rooms = {r.id: r for r in grid.rooms}
    slots = {s.id: s for s in grid.slots}
    now = utcnow()
    conflicts: list[Conflict] = []
    by_cell: dict[tuple[int, int], list[Placement]] = defaultdict(list)
    by_slot_speaker: dict[tuple[int, int], list[int]] = defaultdict(list)
    for placement in grid.placements:
        room, proposal = rooms[placement.room_id], proposals[placement.proposal_id]
        run = grid.runs[placement.proposal_id]
        start = (room.id, placement.slot_id)
        for slot in run:
            by_cell[(room.id, slot.id)].append(placement)
            for speaker in grid.speakers.get(placement.proposal_id, []):
                by_slot_speaker[(slot.id, speaker.id)].append(placement.proposal_id)
                if (speaker.id, slot.id) in unavailable:
                    conflicts.append(Conflict("speaker unavailable", f"{speaker.display_name} is unavailable at "
                                              f"{_when(grid.event, slot)}.", [proposal.id], (room.id, slot.id)))
        if run[0].is_break:
            conflicts.append(Conflict("in a break", f"“{proposal.title}” is in the break at "
                                      f"{_when(grid.event, run[0])}.", [proposal.id], start))
        else:
            given = sum(slot.minutes for slot in run)
            if given < proposal.duration_minutes:
                slots_word = f"{len(run)} slot{'s' if len(run) != 1 else ''}"
                conflicts.append(Conflict("longer than its slots", f"“{proposal.title}” lasts "
                                          f"{proposal.duration_minutes} min; its {slots_word} from "
                                          f"{_when(grid.event, run[0])} {'give' if len(run) > 1 else 'gives'} "
                                          f"it {given} min.", [proposal.id], start))
        wanted = grid.demand.of(proposal.id)
        if wanted > room.capacity:
            conflicts.append(Conflict("room too small", f"{grid.demand.says(proposal.id)} “{proposal.title}”; "
                                      f"{room.name} seats {room.capacity}.", [proposal.id], start))
        if policy.needs_closed_door(proposal, now) and not room.closed_door:
            tier = proposal.effective_tier(now)
            conflicts.append(Conflict("not closed-door", f"“{proposal.title}” is {tier.value}-tier but "
                                      f"{room.name} is not a closed-door room.", [proposal.id], start))
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
    return sorted(conflicts, key=lambda c: (CONFLICT_KINDS.index(c.kind), c.message))


def _when(event: Event, slot: Slot) -> str:
    """A slot as people read it: in the event's time zone."""
    return datefmt(local(event, slot.starts_at), "slot")


# --- publishing ---------------------------------------------------------------------------


@dataclass
class Change:
    proposal_id: int
    kind: str  # added | moved | removed


def _position(entry: dict) -> tuple[int, int, int]:
    return entry["room"], entry["slot"], entry.get("end_slot", entry["slot"])


def diff(old: list[dict], new: list[dict]) -> list[Change]:
    before = {e["proposal"]: _position(e) for e in old}
    after = {e["proposal"]: _position(e) for e in new}
    changes = [Change(pid, "added") for pid in after if pid not in before]
    changes += [Change(pid, "moved") for pid in after if pid in before and before[pid] != after[pid]]
    changes += [Change(pid, "removed") for pid in before if pid not in after]
    return sorted(changes, key=lambda c: (c.kind, c.proposal_id))


def entries_of(grid: Board) -> list[dict]:
    """The working schedule as a release records it (and so comparable with the latest one)."""
    return sorted(({"proposal": p.proposal_id, "room": p.room_id, "slot": p.slot_id,
                    "end_slot": grid.runs[p.proposal_id][-1].id, "sequence": p.sequence}
                   for p in grid.placements), key=lambda e: e["proposal"])


def same_entries(old: list[dict], new: list[dict]) -> bool:
    """Whether two releases' entries place every session alike (a release from before sessions could span
    slots has no ``end_slot``: its sessions end in the slot they start in)."""
    def normal(entries):
        return sorted(({**e, "end_slot": e.get("end_slot", e["slot"])} for e in entries), key=lambda e: e["proposal"])

    return normal(old) == normal(new)


def unpublished_changes(event: Event, grid: Board) -> bool:
    """Whether the working schedule differs from what attendees see."""
    release = policy.latest_release(event)
    return bool(grid.placements) and (release is None or not same_entries(release.entries, entries_of(grid)))


def publish(actor: User, event: Event) -> ScheduleRelease:
    """Publish the working schedule as release N+1 and email each affected attendee the changes
    they may see (sessions they signed up for, voted for or speak at)."""
    _require(policy.can_manage_schedule(actor, event), "Only organizers publish the schedule.")
    grid = board(event)
    if not grid.placements:
        raise DomainError("Place at least one session before publishing.")
    entries = entries_of(grid)
    previous = policy.latest_release(event)
    if previous is not None and same_entries(previous.entries, entries):
        raise DomainError(f"Nothing changed since release {previous.number}.")
    release = ScheduleRelease(event_id=event.id, number=(previous.number + 1 if previous else 1), entries=entries,
                              created_by_id=actor.id)
    db.session.add(release)
    changes = diff(previous.entries if previous else [], entries)
    audit.record(actor, event, "publish schedule", f"release {release.number}",
                 f"{len(entries)} sessions, {len(changes)} changes")
    if previous is not None:  # the first release is announced by the event itself, not as changes
        _email_changes(event, release, changes, previous.created_at)
    policy.forget_memo()
    # A session moved to a bigger room may have seats for its waitlist now.
    from .signups import fill_from_waitlist

    for change in changes:
        if change.kind == "moved":
            fill_from_waitlist(grid.proposals[change.proposal_id])
    return release


def _email_changes(event: Event, release: ScheduleRelease, changes: list[Change], since: datetime) -> None:
    """Each person hears, in one email, the changes to sessions they signed up for, voted for or speak at,
    as far as they may see them; but not what they were already emailed in the same words when the
    session moved (``_tell_signed_up``, since the previous release at ``since``)."""
    ids = [c.proposal_id for c in changes]
    if not ids:
        return
    told = set(db.session.execute(sa.select(OutboxMessage.to_email, OutboxMessage.subject).where(
        OutboxMessage.event_id == event.id, OutboxMessage.template == "session_moved",
        OutboxMessage.created_at >= since)).tuples())
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
            place = None
            if entry is not None:
                run = [slots[entry["slot"]], slots[entry.get("end_slot", entry["slot"])]]
                place = where(event, rooms[entry["room"]], run)
            if change.kind != "added" and (user.email, _moved_subject(proposal, place)) in told:
                continue
            lines.append(f"{proposal.title} — {change.kind}{f': {place}' if place else ''}")
        if lines:
            mail.queue(user.email, f"Schedule changes for {event.title}", "schedule_changed", event=event,
                       release=release, lines=lines)


# --- reading the released schedule --------------------------------------------------------


@dataclass
class Session:
    """A released session as one person may see it. ``proposal`` is None for a closed-session placeholder.

    ``slot`` is the slot it starts in and ``end_slot`` the one it ends in (the same for a session of one
    slot): ``starts_at`` and ``ends_at`` are its real times.
    """

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
    end_slot: Slot | None = None  # set by ``published``; None reads as ``slot``

    def __post_init__(self) -> None:
        if self.end_slot is None:
            self.end_slot = self.slot

    @property
    def placeholder(self) -> bool:
        return self.proposal is None

    @property
    def starts_at(self) -> datetime:
        return self.slot.starts_at

    @property
    def ends_at(self) -> datetime:
        """When the session ends (UTC): the end of the last slot it runs over. Calendars and exports read it here."""
        return self.end_slot.ends_at


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
                        speaking=any(u.id == reader for u in speakers.get(e["proposal"], [])),
                        end_slot=slots.get(e.get("end_slot", e["slot"]), slots[e["slot"]]))
                for e in entries if e["room"] in room_by_id and e["slot"] in slots and e["proposal"] in keys
                and not (public_only and e["proposal"] not in visible)]
    used_slots = sorted({s.slot.id for s in sessions}, key=lambda i: slots[i].starts_at)
    return Published(release, list(rooms), [slots[i] for i in used_slots],
                     sorted(sessions, key=lambda s: (s.slot.starts_at, s.room.position, s.room.id)))


# --- a talk's own time and place, and the sessions a person speaks at ---------------------


def speaking_in(user, event: Event, now: datetime | None = None) -> list[Session]:
    """The released sessions this person is a confirmed speaker of, in time order (their agenda lists them
    beside the ones they signed up for). A fixed number of queries."""
    if not getattr(user, "is_authenticated", False) or not policy.can_view_schedule(user, event):
        return []
    ids = set(db.session.scalars(sa.select(ProposalSpeaker.proposal_id).join(
        Proposal, ProposalSpeaker.proposal_id == Proposal.id).where(
        Proposal.event_id == event.id, ProposalSpeaker.user_id == user.id, ProposalSpeaker.confirmed.is_(True))))
    if not ids:
        return []
    return [s for s in published(user, event, now, only=ids).sessions if s.speaking and not s.placeholder]


@dataclass
class TalkTime:
    """Where and when a talk takes place, for its page: as released, and (for organizers) as in the
    working schedule when that differs or is not published yet."""

    released: Session | None
    working: tuple[Room, list[Slot]] | None = None

    @property
    def working_differs(self) -> bool:
        if self.working is None:
            return False
        if self.released is None:
            return True
        room, run = self.working
        return (room.id, run[0].id, run[-1].id) != (self.released.room.id, self.released.slot.id,
                                                     self.released.end_slot.id)


def talk_time(user, proposal: Proposal, now: datetime | None = None) -> TalkTime | None:
    """The talk page's schedule box: None when the person may not see the schedule, or when there is
    nothing to say (not released, and not in the working schedule of an organizer)."""
    if not policy.can_see_session_time(user, proposal):
        return None
    event = proposal.event
    released = None
    if policy.released_entry(proposal) is not None:
        sessions = published(user, event, now, only={proposal.id}).sessions
        released = sessions[0] if sessions and not sessions[0].placeholder else None
    working = None
    if policy.can_manage_schedule(user, event):
        placement = _placement_of(proposal)
        if placement is not None:
            run = runs_of(event, ordered_slots(event), [placement])[proposal.id]
            working = (db.session.get(Room, placement.room_id), run)
    if released is None and working is None:
        return None
    return TalkTime(released, working)
