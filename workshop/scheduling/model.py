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

    ``voters`` are the people who want to attend it (its demand is how many there are);
    ``unavailable_slots`` holds slot ids in which at least one of its speakers cannot speak;
    ``needs_closed_door`` marks a session (restricted tier) that should be in a closed-door room.
    Sets are stored as frozensets whatever iterable is passed, so a Talk can be hashed and shared.
    """

    id: Hashable
    speakers: frozenset = frozenset()
    voters: frozenset = frozenset()
    unavailable_slots: frozenset = frozenset()
    needs_closed_door: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "speakers", _frozen(self.speakers))
        object.__setattr__(self, "voters", _frozen(self.voters))
        object.__setattr__(self, "unavailable_slots", _frozen(self.unavailable_slots))

    @property
    def demand(self) -> int:
        """How many people are expected: one per voter."""
        return len(self.voters)


@dataclass(frozen=True)
class Room:
    """A room: how many people it seats, and whether its door closes (for restricted sessions)."""

    id: Hashable
    capacity: int
    closed_door: bool = False


@dataclass(frozen=True)
class Slot:
    """A time slot; ``order`` sorts slots in time (ties keep the order they were given in)."""

    id: Hashable
    order: int


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
    voters and speakers count for clashes and conflicts). ``pinned`` placements were set by an
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

    ``clashes``: (voter, slot) pairs in which the voter wants two or more of the sessions placed
    in that slot. ``missed``: sum over (voter, slot) of max(0, k - 1), k being how many of the
    slot's sessions the voter wants, i.e. sessions a voter cannot attend because of a clash.
    ``overflow``: people beyond room capacity, summed over sessions (demand = number of voters).
    ``closed_door_violations``: sessions needing a closed door that are in a room without one.
    ``conflicts``: every broken hard rule, in words (empty for a valid schedule).
    """

    clashes: int
    missed: int
    overflow: int
    closed_door_violations: int
    conflicts: list[str] = field(default_factory=list)


def evaluate(problem: Problem, placements: Iterable[Placement]) -> Evaluation:
    """Count the objective and list hard-rule conflicts of ``placements``, trusting nothing.

    The solver's own figures are kept incrementally; this independent recount is what tests and
    the schedule editor compare them with.
    """
    # The first entry wins for a repeated id, as in the solver.
    talks: dict = {}
    for talk in problem.talks:
        talks.setdefault(talk.id, talk)
    rooms: dict = {}
    for room in problem.rooms:
        rooms.setdefault(room.id, room)
    slots = {slot.id for slot in problem.slots}
    placements = list(placements)
    conflicts: list[str] = []

    per_cell: dict[tuple, list] = defaultdict(list)
    per_talk: Counter = Counter()
    speaker_slots: dict[tuple, list] = defaultdict(list)
    wanted: Counter = Counter()
    overflow = 0
    closed_door_violations = 0
    for placement in placements:
        talk = talks.get(placement.talk_id)
        room = rooms.get(placement.room_id)
        if talk is None:
            conflicts.append(f"unknown talk {placement.talk_id!r}")
        if room is None:
            conflicts.append(f"talk {placement.talk_id!r} in unknown room {placement.room_id!r}")
        if placement.slot_id not in slots:
            conflicts.append(f"talk {placement.talk_id!r} in unknown slot {placement.slot_id!r}")
        per_cell[(placement.room_id, placement.slot_id)].append(placement.talk_id)
        per_talk[placement.talk_id] += 1
        if talk is None:
            continue
        if placement.slot_id in talk.unavailable_slots:
            conflicts.append(f"talk {talk.id!r} placed in slot {placement.slot_id!r}, "
                             "where its speakers are unavailable")
        for speaker in talk.speakers:
            speaker_slots[(speaker, placement.slot_id)].append(talk.id)
        for voter in talk.voters:
            wanted[(voter, placement.slot_id)] += 1
        if room is not None:
            overflow += max(0, talk.demand - room.capacity)
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
    return Evaluation(clashes, missed, overflow, closed_door_violations, sorted(conflicts))


@dataclass
class Result:
    """What :func:`workshop.scheduling.solve` found.

    ``placements`` holds every session of the schedule, pinned and fixed ones included, sorted by
    slot then room. ``unplaced`` maps each talk that could not be placed to the reason, in words.
    ``clashes`` is the objective (see :class:`Evaluation`); ``bound`` is a proven lower bound on the
    clashes of any schedule that places at least as many talks, explained by ``bound_note``.
    ``optimal`` is True only when the search proved that no schedule places more talks, nor as
    many with fewer clashes (then ``bound == clashes``). ``iterations`` counts search steps, and
    ``stopped_by_time`` says the time limit cut the planned work short, in which case the same
    input and seed may give a different schedule on another run. ``notes`` reports anything odd
    in the input (pinned sessions that collide, unknown ids) that the solver worked around.
    """

    placements: list[Placement]
    unplaced: dict[Hashable, str]
    clashes: int
    missed: int
    bound: int
    bound_note: str
    optimal: bool
    method: str
    elapsed: float
    overflow: int
    closed_door_violations: int
    seed: int = 0
    iterations: int = 0
    stopped_by_time: bool = False
    notes: list[str] = field(default_factory=list)
