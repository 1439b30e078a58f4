"""The problem turned into small integers, with everything the search needs precomputed.

Ids may be any hashable; the search works on indices, so that sets of voters and speakers can be
bits of Python integers and counts can be kept in lists.
Every order here is derived from the input order or from sorted ids, never from set iteration or
hashing, so that the same input gives the same indices in every process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from .model import Placement, Problem, Room, Talk


def ordered(items: Iterable[Hashable]) -> list:
    """Sort ids deterministically, even when they are of mixed, mutually incomparable types."""
    items = list(items)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=lambda item: (type(item).__name__, repr(item)))


def mask_of(indices: Iterable[int]) -> int:
    """A set of voter indices as the bits of one integer."""
    mask = 0
    for i in indices:
        mask |= 1 << i
    return mask


class Counts:
    """How many sessions of one slot each voter wants, as bit planes over all voters at once.

    ``planes[k]`` holds bit k of every voter's count, so adding a talk to the slot is a binary
    increment of the voters in its mask, done with a few operations on Python integers instead
    of a loop over voters. ``wanting`` holds the voters whose count is at least 1 and ``missing``
    those whose count is at least 2: a move's change in missed talks is then a couple of
    ``bit_count`` calls (moving a talk in makes each of its voters in ``wanting`` miss one more
    talk; moving it out gives back one to each of its voters in ``missing``).
    """

    __slots__ = ("planes", "wanting", "missing")

    def __init__(self, planes: list[int]) -> None:
        self.planes = planes
        self._levels()

    def change(self, leaving: int, arriving: int) -> None:
        """Count one session fewer for the voters in ``leaving``, one more for ``arriving``."""
        planes = self.planes
        borrow = leaving
        k = 0
        while borrow:
            plane = planes[k]
            planes[k] = plane ^ borrow
            borrow &= ~plane
            k += 1
        carry = arriving
        k = 0
        while carry:
            plane = planes[k]
            planes[k] = plane ^ carry
            carry &= plane
            k += 1
        self._levels()

    def _levels(self) -> None:
        planes = self.planes
        above_one = 0
        for plane in planes[1:]:
            above_one |= plane
        self.missing = above_one
        self.wanting = above_one | planes[0]

    def missed(self) -> int:
        """Sum over voters of max(0, count - 1): the sessions of this slot its voters miss."""
        total = sum(plane.bit_count() << k for k, plane in enumerate(self.planes))
        return total - self.wanting.bit_count()


@dataclass
class Instance:
    """The indexed problem.

    Movable talks (those neither pinned nor fixed, and with at least one usable slot) are numbered
    0..n-1. ``allowed[t]`` lists the slots talk t may go to: its speakers are available, none of
    them speaks in a pinned or fixed session then, and the slot has a room free of pinned and fixed
    sessions. ``capacity[s]`` is how many such free rooms slot s has. ``base_counts[s][v]`` is how
    many pinned or fixed sessions in slot s voter v wants. ``masks[t]`` and ``speaker_masks[t]``
    are t's voters and speakers as bits of one integer each.
    """

    problem: Problem
    slot_ids: list
    room_ids: list
    rooms: list[Room]
    n_slots: int
    n_voters: int
    talks: list[Talk]
    voters: list[list[int]]
    masks: list[int]
    speakers: list[tuple[int, ...]]
    speaker_sets: list[frozenset]
    speaker_masks: list[int]
    speaker_names: list
    allowed: list[list[int]]
    allowed_sets: list[frozenset]
    demand: list[int]
    needs_closed_door: list[bool]
    capacity: list[int]
    free_rooms: list[list[int]]
    base_counts: list[list[int]]
    n_planes: int
    fixed_placements: list[Placement]
    static_unplaced: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _planes: list[list[int]] | None = field(default=None, repr=False)

    @property
    def n_talks(self) -> int:
        return len(self.talks)

    def base_planes(self) -> list[Counts]:
        """Fresh per-slot counts holding only the pinned and fixed sessions."""
        if self._planes is None:
            self._planes = []
            for counts in self.base_counts:
                planes = [0] * self.n_planes
                for v, c in enumerate(counts):
                    for k in range(c.bit_length()):
                        if c >> k & 1:
                            planes[k] |= 1 << v
                self._planes.append(planes)
        return [Counts(list(planes)) for planes in self._planes]


def build_instance(problem: Problem) -> Instance:
    """Index ``problem``, keep pinned and fixed placements as given, and set aside talks that
    cannot go anywhere (with the reason), reporting odd input in ``notes`` rather than raising.
    """
    notes: list[str] = []
    talks_by_id: dict = {}
    for talk in problem.talks:
        if talk.id in talks_by_id:
            notes.append(f"talk {talk.id!r} is listed twice; the first entry is used")
            continue
        talks_by_id[talk.id] = talk

    slot_order = sorted(range(len(problem.slots)), key=lambda i: (problem.slots[i].order, i))
    slot_ids: list = []
    for i in slot_order:
        if problem.slots[i].id in slot_ids:
            notes.append(f"slot {problem.slots[i].id!r} is listed twice; the first entry is used")
            continue
        slot_ids.append(problem.slots[i].id)
    room_ids: list = []
    rooms: list[Room] = []
    for room in problem.rooms:
        if room.id in room_ids:
            notes.append(f"room {room.id!r} is listed twice; the first entry is used")
            continue
        room_ids.append(room.id)
        rooms.append(room)
    slot_index = {slot_id: s for s, slot_id in enumerate(slot_ids)}
    room_index = {room_id: r for r, room_id in enumerate(room_ids)}
    n_slots = len(slot_ids)

    static_unplaced: dict = {}
    fixed_placements: list[Placement] = []
    fixed_talk_ids: set = set()
    occupied: dict[tuple[int, int], list] = defaultdict(list)
    busy_speakers: list[dict] = [defaultdict(list) for _ in range(n_slots)]
    for kind, placements in (("pinned", problem.pinned), ("fixed", problem.fixed)):
        for placement in placements:
            if placement.talk_id in fixed_talk_ids:
                notes.append(f"talk {placement.talk_id!r} is pinned or fixed twice; the first placement is kept")
                continue
            if placement.room_id not in room_index or placement.slot_id not in slot_index:
                static_unplaced[placement.talk_id] = (
                    f"{kind} to room {placement.room_id!r} in slot {placement.slot_id!r}, which does not exist"
                )
                fixed_talk_ids.add(placement.talk_id)
                continue
            fixed_talk_ids.add(placement.talk_id)
            fixed_placements.append(placement)
            cell = (room_index[placement.room_id], slot_index[placement.slot_id])
            occupied[cell].append(placement.talk_id)
            talk = talks_by_id.get(placement.talk_id)
            if talk is None:
                notes.append(f"{kind} session {placement.talk_id!r} is not among the talks; it only blocks its room")
                continue
            if placement.slot_id in talk.unavailable_slots:
                notes.append(f"{kind} talk {talk.id!r} is in slot {placement.slot_id!r}, "
                             "where its speakers are unavailable")
            for speaker in talk.speakers:
                busy_speakers[cell[1]][speaker].append(talk.id)
    for (r, s), talk_ids in sorted(occupied.items()):
        if len(talk_ids) > 1:
            notes.append(f"room {room_ids[r]!r} holds {len(talk_ids)} pinned or fixed sessions in slot {slot_ids[s]!r}")
    for s in range(n_slots):
        for speaker in ordered(busy_speakers[s]):
            if len(busy_speakers[s][speaker]) > 1:
                notes.append(f"speaker {speaker!r} has pinned or fixed talks {busy_speakers[s][speaker]!r} "
                             f"in the same slot {slot_ids[s]!r}")

    free_rooms = [[r for r in range(len(room_ids)) if (r, s) not in occupied] for s in range(n_slots)]
    capacity = [len(rooms_free) for rooms_free in free_rooms]

    all_voters = ordered({v for talk in talks_by_id.values() for v in talk.voters})
    voter_index = {v: i for i, v in enumerate(all_voters)}
    base_counts = [[0] * len(all_voters) for _ in range(n_slots)]
    for placement in fixed_placements:
        talk = talks_by_id.get(placement.talk_id)
        if talk is not None:
            counts = base_counts[slot_index[placement.slot_id]]
            for v in talk.voters:
                counts[voter_index[v]] += 1

    movable: list[Talk] = []
    allowed: list[list[int]] = []
    for talk in talks_by_id.values():
        if talk.id in fixed_talk_ids:
            continue
        usable = []
        unavailable = busy = full = 0
        for s, slot_id in enumerate(slot_ids):
            if slot_id in talk.unavailable_slots:
                unavailable += 1
            elif any(speaker in busy_speakers[s] for speaker in talk.speakers):
                busy += 1
            elif capacity[s] == 0:
                full += 1
            else:
                usable.append(s)
        if usable:
            movable.append(talk)
            allowed.append(usable)
        else:
            static_unplaced[talk.id] = _no_slot_reason(n_slots, len(room_ids), unavailable, busy, full)

    fixed_per_slot = [0] * n_slots
    for placement in fixed_placements:
        fixed_per_slot[slot_index[placement.slot_id]] += 1
    speaker_names = ordered({sp for talk in movable for sp in talk.speakers})
    speaker_index = {sp: i for i, sp in enumerate(speaker_names)}
    voters = [sorted(voter_index[v] for v in talk.voters) for talk in movable]
    speakers = [tuple(sorted(speaker_index[sp] for sp in talk.speakers)) for talk in movable]
    return Instance(
        problem=problem,
        slot_ids=slot_ids,
        room_ids=room_ids,
        rooms=rooms,
        n_slots=n_slots,
        n_voters=len(all_voters),
        talks=movable,
        voters=voters,
        masks=[mask_of(vs) for vs in voters],
        speakers=speakers,
        speaker_sets=[frozenset(sp) for sp in speakers],
        speaker_masks=[mask_of(sp) for sp in speakers],
        speaker_names=speaker_names,
        allowed=allowed,
        allowed_sets=[frozenset(a) for a in allowed],
        demand=[talk.demand for talk in movable],
        needs_closed_door=[talk.needs_closed_door for talk in movable],
        capacity=capacity,
        free_rooms=free_rooms,
        base_counts=base_counts,
        n_planes=max(2, max((capacity[s] + fixed_per_slot[s] for s in range(n_slots)), default=0).bit_length()),
        fixed_placements=fixed_placements,
        static_unplaced=static_unplaced,
        notes=notes,
    )


def _no_slot_reason(n_slots: int, n_rooms: int, unavailable: int, busy: int, full: int) -> str:
    if n_slots == 0 or n_rooms == 0:
        return "there are no rooms or no slots to place it in"
    if unavailable == n_slots:
        return "its speakers are unavailable in every slot"
    parts = []
    if unavailable:
        parts.append(f"its speakers are unavailable in {unavailable}")
    if busy:
        parts.append(f"one of its speakers already speaks in a pinned or fixed session in {busy}")
    if full:
        parts.append(f"every room is taken by pinned or fixed sessions in {full}")
    return f"no usable slot: of {n_slots} slots, " + "; ".join(parts)
