"""The problem turned into small integers, with everything the search needs precomputed.

Ids may be any hashable; the search works on indices, so that sets of voters and speakers can be
bits of Python integers and counts can be kept in lists.
Every order here is derived from the input order or from sorted ids, never from set iteration or
hashing, so that the same input gives the same indices in every process.

Rooms are ranked by capacity into *levels*: level 0 holds the biggest rooms, level 1 the next
capacity down, and so on. A talk's ``need`` is the last level whose rooms still seat its demand
(the last level of all when no room does: it is over capacity anywhere). Which rooms a talk may take is thus
"every room of level ``need`` or lower", and those sets are nested, so whether a slot's talks can
all be seated is a count per level (see :class:`.search.State`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from .model import Placement, Problem, Room, Slot, Talk, span_of


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

    def clashes(self) -> int:
        """Voters who want two or more of this slot's sessions."""
        return self.missing.bit_count()


@dataclass
class Instance:
    """The indexed problem.

    Movable talks (neither pinned nor fixed, with at least one place to go) are numbered 0..n-1.
    A talk is *spanning* when at some start it would run over more than one slot; it then moves
    between explicit ``options`` (room, first slot, number of slots). Every other talk is
    *floating*: the search only chooses its slot among ``allowed[t]``, and rooms are matched per
    slot at the end. ``allowed[t]`` lists, for either kind, the slots it may start in: open, not a
    break, its speakers available and not speaking in a pinned or fixed session then, for every
    slot it runs over. ``free_rooms[s]`` are the rooms free of pinned and fixed sessions in slot s,
    and ``free_levels[s][j]`` how many of them are of level j or lower. ``base_counts[s][v]`` is
    how many pinned or fixed sessions running in slot s voter v wants. ``masks[t]`` and
    ``speaker_masks[t]`` are t's voters and speakers as bits of one integer each.
    """

    problem: Problem
    slots: list[Slot]
    slot_ids: list
    room_ids: list
    rooms: list[Room]
    n_slots: int
    n_voters: int
    levels: list[int]
    room_level: list[int]
    talks: list[Talk]
    voters: list[list[int]]
    masks: list[int]
    speakers: list[tuple[int, ...]]
    speaker_sets: list[frozenset]
    speaker_masks: list[int]
    speaker_names: list
    allowed: list[list[int]]
    allowed_sets: list[frozenset]
    spanning: list[bool]
    options: list[list[tuple[int, int, int]]]
    demand: list[int]
    need: list[int]
    fits_nowhere: list[bool]
    needs_closed_door: list[bool]
    free_rooms: list[list[int]]
    free_levels: list[list[int]]
    base_counts: list[list[int]]
    n_planes: int
    fixed_placements: list[Placement]
    fixed_cells: set[tuple[int, int]]
    static_unplaced: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _planes: list[list[int]] | None = field(default=None, repr=False)

    @property
    def n_talks(self) -> int:
        return len(self.talks)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

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

    def level_of(self, demand: int) -> int:
        """The last level whose rooms seat ``demand`` (0 when none does)."""
        fitting = [j for j, capacity in enumerate(self.levels) if capacity >= demand]
        return fitting[-1] if fitting else 0


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

    slot_order = sorted(range(len(problem.slots)), key=lambda i: (problem.slots[i].start, i))
    slots: list[Slot] = []
    slot_ids: list = []
    for i in slot_order:
        if problem.slots[i].id in slot_ids:
            notes.append(f"slot {problem.slots[i].id!r} is listed twice; the first entry is used")
            continue
        slot_ids.append(problem.slots[i].id)
        slots.append(problem.slots[i])
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
    n_slots, n_rooms = len(slot_ids), len(room_ids)
    levels = sorted({room.capacity for room in rooms}, reverse=True)
    room_level = [levels.index(room.capacity) for room in rooms]

    static_unplaced: dict = {}
    fixed_placements: list[Placement] = []
    fixed_talk_ids: set = set()
    fixed_runs: list[tuple[Talk | None, list[int]]] = []
    occupied: dict[tuple[int, int], list] = defaultdict(list)
    busy_speakers: list[dict] = [defaultdict(list) for _ in range(n_slots)]
    for kind, placements in (("pinned", problem.pinned), ("fixed", problem.fixed)):
        for placement in placements:
            if placement.talk_id in fixed_talk_ids:
                notes.append(f"talk {placement.talk_id!r} is pinned or fixed twice; the first placement is kept")
                continue
            fixed_talk_ids.add(placement.talk_id)
            if placement.room_id not in room_index or placement.slot_id not in slot_index:
                static_unplaced[placement.talk_id] = (
                    f"{kind} to room {placement.room_id!r} in slot {placement.slot_id!r}, which does not exist"
                )
                continue
            fixed_placements.append(placement)
            talk = talks_by_id.get(placement.talk_id)
            first = slot_index[placement.slot_id]
            span = span_of(talk.length if talk else None, slots, first)
            if span is None:
                notes.append(f"{kind} talk {placement.talk_id!r} does not fit the slots from {placement.slot_id!r}; "
                             "it only takes that slot")
                span = 1
            run = list(range(first, first + span))
            r = room_index[placement.room_id]
            for s in run:
                occupied[(r, s)].append(placement.talk_id)
            fixed_runs.append((talk, run))
            if talk is None:
                notes.append(f"{kind} session {placement.talk_id!r} is not among the talks; it only blocks its room")
                continue
            for s in run:
                if slot_ids[s] in talk.unavailable_slots:
                    notes.append(f"{kind} talk {talk.id!r} is in slot {slot_ids[s]!r}, "
                                 "where its speakers are unavailable")
                for speaker in talk.speakers:
                    busy_speakers[s][speaker].append(talk.id)
    for (r, s), talk_ids in sorted(occupied.items()):
        if len(talk_ids) > 1:
            notes.append(f"room {room_ids[r]!r} holds {len(talk_ids)} pinned or fixed sessions in slot {slot_ids[s]!r}")
    for s in range(n_slots):
        for speaker in ordered(busy_speakers[s]):
            if len(busy_speakers[s][speaker]) > 1:
                notes.append(f"speaker {speaker!r} has pinned or fixed talks {busy_speakers[s][speaker]!r} "
                             f"in the same slot {slot_ids[s]!r}")

    usable_slot = [slot.open and not slot.is_break for slot in slots]
    free_rooms = [[r for r in range(n_rooms) if (r, s) not in occupied] if usable_slot[s] else []
                  for s in range(n_slots)]
    free_levels = []
    for s in range(n_slots):
        per_level = [0] * len(levels)
        for r in free_rooms[s]:
            for j in range(room_level[r], len(levels)):
                per_level[j] += 1
        free_levels.append(per_level)

    all_voters = ordered({v for talk in talks_by_id.values() for v in talk.voters})
    voter_index = {v: i for i, v in enumerate(all_voters)}
    base_counts = [[0] * len(all_voters) for _ in range(n_slots)]
    fixed_per_slot = [0] * n_slots
    for talk, run in fixed_runs:
        for s in run:
            fixed_per_slot[s] += 1
            if talk is not None:
                counts = base_counts[s]
                for v in talk.voters:
                    counts[voter_index[v]] += 1

    movable: list[Talk] = []
    allowed: list[list[int]] = []
    spanning: list[bool] = []
    options: list[list[tuple[int, int, int]]] = []
    for talk in talks_by_id.values():
        if talk.id in fixed_talk_ids:
            continue
        starts: list[tuple[int, int]] = []
        why = defaultdict(int)
        for s in range(n_slots):
            span = span_of(talk.length, slots, s) if usable_slot[s] else None
            if not usable_slot[s]:
                why["break" if slots[s].is_break else "closed"] += 1
            elif span is None:
                why["short"] += 1
            elif any(not usable_slot[x] for x in range(s, s + span)):
                why["closed"] += 1
            elif any(slot_ids[x] in talk.unavailable_slots for x in range(s, s + span)):
                why["unavailable"] += 1
            elif any(speaker in busy_speakers[x] for x in range(s, s + span) for speaker in talk.speakers):
                why["busy"] += 1
            else:
                starts.append((s, span))
        if any(span > 1 for _, span in starts):
            talk_options = [(r, s, span) for s, span in starts for r in range(n_rooms)
                            if all((r, x) not in occupied for x in range(s, s + span))]
            why["full"] += len({s for s, _ in starts} - {s for _, s, _ in talk_options})
            usable = ordered({s for _, s, _ in talk_options})
        else:
            talk_options = []
            usable = [s for s, _ in starts if free_rooms[s]]
            why["full"] += len(starts) - len(usable)
        if usable:
            movable.append(talk)
            allowed.append(usable)
            spanning.append(bool(talk_options))
            options.append(talk_options)
        else:
            static_unplaced[talk.id] = _no_slot_reason(talk, n_slots, n_rooms, why)

    speaker_names = ordered({sp for talk in movable for sp in talk.speakers})
    speaker_index = {sp: i for i, sp in enumerate(speaker_names)}
    voters = [sorted(voter_index[v] for v in talk.voters) for talk in movable]
    speakers = [tuple(sorted(speaker_index[sp] for sp in talk.speakers)) for talk in movable]
    inst = Instance(
        problem=problem,
        slots=slots,
        slot_ids=slot_ids,
        room_ids=room_ids,
        rooms=rooms,
        n_slots=n_slots,
        n_voters=len(all_voters),
        levels=levels,
        room_level=room_level,
        talks=movable,
        voters=voters,
        masks=[mask_of(vs) for vs in voters],
        speakers=speakers,
        speaker_sets=[frozenset(sp) for sp in speakers],
        speaker_masks=[mask_of(sp) for sp in speakers],
        speaker_names=speaker_names,
        allowed=allowed,
        allowed_sets=[frozenset(a) for a in allowed],
        spanning=spanning,
        options=options,
        demand=[talk.demand for talk in movable],
        need=[],
        fits_nowhere=[bool(levels) and talk.demand > levels[0] for talk in movable],
        needs_closed_door=[talk.needs_closed_door for talk in movable],
        free_rooms=free_rooms,
        free_levels=free_levels,
        base_counts=base_counts,
        n_planes=max(2, (n_rooms + max(fixed_per_slot, default=0)).bit_length()),
        fixed_placements=fixed_placements,
        fixed_cells=set(occupied),
        static_unplaced=static_unplaced,
        notes=notes,
    )
    # A talk no room seats is over capacity wherever it goes: it may take any room, so that it
    # does not push a talk that fits out of the biggest one (the room matching still gives it
    # the biggest room left, to turn away as few people as possible).
    inst.need = [len(levels) - 1 if nowhere else inst.level_of(d) for d, nowhere in zip(inst.demand, inst.fits_nowhere)]
    return inst


def _no_slot_reason(talk: Talk, n_slots: int, n_rooms: int, why: dict) -> str:
    if n_slots == 0 or n_rooms == 0:
        return "there are no rooms or no slots to place it in"
    if why["unavailable"] == n_slots:
        return "its speakers are unavailable in every slot"
    if why["closed"] + why["break"] == n_slots:
        return "every slot has started or is closed"
    parts = []
    if why["short"]:
        parts.append(f"in {why['short']} it would run past the end of consecutive slots ({talk.length} min)")
    if why["closed"]:
        parts.append(f"{why['closed']} have started or are closed")
    if why["break"]:
        parts.append(f"{why['break']} are breaks")
    if why["unavailable"]:
        parts.append(f"its speakers are unavailable in {why['unavailable']}")
    if why["busy"]:
        parts.append(f"one of its speakers already speaks in a pinned or fixed session in {why['busy']}")
    if why["full"]:
        parts.append(f"every room it could run in is taken by pinned or fixed sessions in {why['full']}")
    return f"no usable slot: of {n_slots} slots, " + "; ".join(parts)
