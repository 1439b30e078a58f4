"""The plain data the scheduler reads and writes, and a from-scratch evaluation of any schedule.

Everything here is immutable input or a plain report: the web layer builds these objects from its
models, calls :func:`workshop.scheduling.solve`, and shows or applies the result. Nothing here knows
about Flask or the database, so the same code serves the editor's conflict list, the benchmark and
the tests.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field


def _frozen(values: Iterable[Hashable] | None) -> frozenset:
    return frozenset(values or ())


@dataclass(frozen=True)
class Talk:
    """A session to place.

    ``voters`` are the people who want to attend it; ``demand`` is how many people are expected
    (sign-ups once sign-up is open, votes before): it defaults to the number of voters, and the
    room the talk gets must seat that many. ``length`` is in minutes; ``None`` means it fits any
    single slot. ``unavailable_slots`` holds slot ids in which at least one of its speakers
    cannot speak; ``needs_closed_door`` marks a session (restricted tier) that should be in a
    closed-door room. Sets are stored as frozensets whatever iterable is passed, so a Talk can be
    hashed and shared.
    """

    id: Hashable
    speakers: frozenset = frozenset()
    voters: frozenset = frozenset()
    unavailable_slots: frozenset = frozenset()
    needs_closed_door: bool = False
    length: int | None = None
    demand: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "speakers", _frozen(self.speakers))
        object.__setattr__(self, "voters", _frozen(self.voters))
        object.__setattr__(self, "unavailable_slots", _frozen(self.unavailable_slots))
        if self.demand is None:
            object.__setattr__(self, "demand", len(self.voters))


@dataclass(frozen=True)
class Room:
    """A room: how many people it seats, and whether its door closes (for restricted sessions)."""

    id: Hashable
    capacity: int
    closed_door: bool = False


@dataclass(frozen=True)
class Slot:
    """A time slot, the same for every room.

    ``start`` sorts slots in time (ties keep the order they were given in); with ``length`` it is
    in minutes from any fixed origin. A slot without a length holds any one talk, whatever its
    length, and is never joined to another. A slot ``b`` follows a slot ``a`` when ``a`` ends
    where ``b`` starts; a talk longer than its slot takes that slot and the ones that follow it,
    in one room, until their lengths add up to its own. ``open=False`` closes the slot to every
    talk the solver places (it has started, or the organizer keeps it): pinned and fixed sessions
    may still be in it. ``is_break`` marks a slot that holds no talk at all (a gap between slots
    is a break too).
    """

    id: Hashable
    start: float
    length: float | None = None
    open: bool = True
    is_break: bool = False


def follows(before: Slot, after: Slot) -> bool:
    """True when ``after`` starts exactly where ``before`` ends, so one talk may run over both."""
    return (before.length is not None and after.length is not None and not before.is_break
            and not after.is_break and before.start + before.length == after.start)


def span_of(length: int | None, slots: Sequence[Slot], first: int) -> int | None:
    """How many slots, from ``slots[first]`` on (sorted in time), a talk of ``length`` minutes
    takes; None when the following slots end, break or stop being consecutive before it ends.
    """
    slot = slots[first]
    if slot.is_break:
        return None
    if length is None or slot.length is None:
        return 1
    total = slot.length
    last = first
    while total < length:
        if last + 1 >= len(slots) or not follows(slots[last], slots[last + 1]):
            return None
        last += 1
        total += slots[last].length
    return last - first + 1


@dataclass(frozen=True)
class Placement:
    """One session in one room during one slot."""

    talk_id: Hashable
    room_id: Hashable
    slot_id: Hashable


@dataclass(frozen=True)
class Problem:
    """What to schedule.

    ``talks`` lists every talk the schedule involves, including the pinned and fixed ones (their
    voters and speakers count for missed talks and conflicts). ``pinned`` placements were set by an
    organizer; ``fixed`` placements are sessions already in the schedule (an unconference's earlier
    blocks). The solver never moves either; every other talk is placed by the solver.
    """

    talks: Sequence[Talk]
    rooms: Sequence[Room]
    slots: Sequence[Slot]
    pinned: Sequence[Placement] = ()
    fixed: Sequence[Placement] = ()


@dataclass
class Evaluation:
    """The figures of a schedule, counted from scratch.

    ``missed``: sum over (voter, slot) of max(0, k - 1), k being how many of the sessions running
    in that slot the voter wants: sessions a voter cannot attend because of a clash (a talk over
    several slots counts in each). ``clashes``: (voter, slot) pairs with k >= 2.
    ``over_capacity``: talks in a room that seats fewer than their demand, and ``overflow`` the
    people beyond capacity summed over them. ``closed_door_violations``: sessions needing a
    closed door that are in a room without one. ``conflicts``: every broken hard rule, in words
    (empty for a valid schedule): a room double-booked, a speaker in two places, a speaker
    unavailable, a talk longer than the consecutive slots from its start, a talk in a break.
    """

    missed: int
    clashes: int
    overflow: int
    closed_door_violations: int
    over_capacity: list = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def evaluate(problem: Problem, placements: Iterable[Placement]) -> Evaluation:
    """Count the objective and list hard-rule conflicts of ``placements``, trusting nothing.

    A placement names the slot a talk starts in; a talk longer than that slot also takes the
    slots that follow it in the same room. The solver's own figures are kept incrementally; this
    independent recount is what tests and the schedule editor compare them with.
    """
    # The first entry wins for a repeated id, as in the solver.
    talks: dict = {}
    for talk in problem.talks:
        talks.setdefault(talk.id, talk)
    rooms: dict = {}
    for room in problem.rooms:
        rooms.setdefault(room.id, room)
    ordered_slots: list[Slot] = []
    seen: set = set()
    for slot in sorted(problem.slots, key=lambda slot: slot.start):
        if slot.id not in seen:
            seen.add(slot.id)
            ordered_slots.append(slot)
    position = {slot.id: i for i, slot in enumerate(ordered_slots)}
    placements = list(placements)
    conflicts: list[str] = []

    per_cell: dict[tuple, list] = defaultdict(list)
    per_talk: Counter = Counter()
    speaker_slots: dict[tuple, list] = defaultdict(list)
    wanted: Counter = Counter()
    overflow = 0
    closed_door_violations = 0
    over_capacity: list = []
    for placement in placements:
        talk = talks.get(placement.talk_id)
        room = rooms.get(placement.room_id)
        if talk is None:
            conflicts.append(f"unknown talk {placement.talk_id!r}")
        if room is None:
            conflicts.append(f"talk {placement.talk_id!r} in unknown room {placement.room_id!r}")
        per_talk[placement.talk_id] += 1
        first = position.get(placement.slot_id)
        if first is None:
            conflicts.append(f"talk {placement.talk_id!r} in unknown slot {placement.slot_id!r}")
            continue
        span = span_of(talk.length if talk is not None else None, ordered_slots, first)
        if span is None:
            if ordered_slots[first].is_break:
                conflicts.append(f"talk {placement.talk_id!r} placed in the break {placement.slot_id!r}")
            else:
                conflicts.append(f"talk {placement.talk_id!r} ({talk.length} min) is longer than the consecutive "
                                 f"slots from {placement.slot_id!r}")
            span = 1
        covered = [slot.id for slot in ordered_slots[first:first + span]]
        for slot_id in covered:
            per_cell[(placement.room_id, slot_id)].append(placement.talk_id)
        if talk is None:
            continue
        for slot_id in covered:
            if slot_id in talk.unavailable_slots:
                conflicts.append(f"talk {talk.id!r} placed in slot {slot_id!r}, where its speakers are unavailable")
            for speaker in talk.speakers:
                speaker_slots[(speaker, slot_id)].append(talk.id)
            for voter in talk.voters:
                wanted[(voter, slot_id)] += 1
        if room is not None:
            if talk.demand > room.capacity:
                over_capacity.append(talk.id)
                overflow += talk.demand - room.capacity
            if talk.needs_closed_door and not room.closed_door:
                closed_door_violations += 1

    for (room_id, slot_id), talk_ids in per_cell.items():
        if len(talk_ids) > 1:
            conflicts.append(f"room {room_id!r} double-booked in slot {slot_id!r}: {talk_ids!r}")
    for talk_id, times in per_talk.items():
        if times > 1:
            conflicts.append(f"talk {talk_id!r} placed {times} times")
    for (speaker, slot_id), talk_ids in speaker_slots.items():
        if len(talk_ids) > 1:
            conflicts.append(f"speaker {speaker!r} in two places in slot {slot_id!r}: {talk_ids!r}")

    clashes = sum(1 for k in wanted.values() if k >= 2)
    missed = sum(k - 1 for k in wanted.values() if k >= 2)
    return Evaluation(missed, clashes, overflow, closed_door_violations, over_capacity, sorted(conflicts))


@dataclass(frozen=True)
class Progress:
    """What :func:`workshop.scheduling.solve` tells its ``progress`` callback: the figures of the
    best schedule so far, the proven bound on missed talks (None until one is known), whether that
    schedule is proven optimal, and the seconds spent and left of the time limit.
    """

    missed: int
    clashes: int
    over_capacity: int
    unplaced: int
    bound: int | None
    optimal: bool
    elapsed: float
    remaining: float
    phase: str


@dataclass
class Result:
    """What :func:`workshop.scheduling.solve` found.

    ``placements`` holds every session of the schedule, pinned and fixed ones included, sorted by
    slot then room (a long talk is placed in the slot it starts in). ``unplaced`` maps each talk
    that could not be placed to the reason, in words; ``over_capacity`` maps each placed talk whose
    room seats fewer than its demand to the reason no room that seats it could be had.
    ``missed`` is the objective and ``clashes`` its companion (see :class:`Evaluation`);
    ``bound`` is a proven lower bound on the missed talks of any schedule that places as many
    talks with no more of them over capacity, explained by ``bound_note``. ``optimal`` is True only
    when that bound is reached (then ``bound == missed``). ``iterations`` counts search steps;
    ``stopped_by_time`` says the time limit cut an explicit step budget short (the same input and
    seed may then give another schedule on another run); ``cancelled`` says the progress callback
    or ``should_stop`` ended the run early. ``notes`` reports anything odd in the input (pinned
    sessions that collide, unknown ids) that the solver worked around.
    """

    placements: list[Placement]
    unplaced: dict[Hashable, str]
    missed: int
    clashes: int
    bound: int
    bound_note: str
    optimal: bool
    method: str
    elapsed: float
    overflow: int
    closed_door_violations: int
    over_capacity: dict[Hashable, str] = field(default_factory=dict)
    seed: int = 0
    iterations: int = 0
    stopped_by_time: bool = False
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
