"""Branch and bound over slot assignments, to prove a small schedule optimal.

Talks are taken in a fixed order, most-wanted first (they constrain most; choosing the talk
dynamically was tried and visited more nodes, each dearer); each goes into every slot it can
use, cheapest first, or is left unplaced. The cost is ``unplaced * big + clashes``
with ``big`` above any possible clash count, so placing more talks always wins, then fewer
clashes. Clashes never fall as talks are added, so the cost of a partial assignment is a lower
bound on all its completions and a branch is cut as soon as it reaches the best cost found so far
(starting from the heuristic's schedule, which is usually already optimal: the search only has
to prove it).

A branch is also cut when what the remaining talks will surely add already reaches that cost: a
remaining talk t adds, wherever it goes, at least the fewest of its voters that want exactly one
session in any slot it can still use (each such voter will clash in t's final slot, since counts
only grow), and talks with disjoint voters add disjoint (voter, slot) pairs, so those minima add
up over a set of talks with pairwise disjoint voters. A talk with no usable slot left will stay
unplaced. Slots that are still empty, hold no pinned or fixed session, and are usable by
exactly the same talks are interchangeable, so only the first of them is tried.
"""

from __future__ import annotations

import time

from .instance import Instance

CHECK_EVERY = 1024


class _Stop(Exception):
    pass


def branch_and_bound(inst: Instance, incumbent: list[int], node_budget: int,
                     deadline: float) -> tuple[list[int], int, bool, int, bool]:
    """Search for the assignment of least cost, starting from ``incumbent`` (a slot per talk,
    -1 for unplaced). Returns (best assignment, its clashes, proved optimal, nodes, timed out).
    """
    n, n_slots = inst.n_talks, inst.n_slots
    big = inst.n_voters * max(1, n_slots) + 1
    counts = inst.base_planes()
    base_missed = sum(c.missed() for c in counts)

    best = list(incumbent)
    best_cost = sum(1 for s in incumbent if s < 0) * big + _missed_of(inst, incumbent)

    # A slot holding a pinned or fixed session (it has fewer free rooms than there are rooms)
    # differs from the others by more than this signature shows, so it gets no class.
    klass: list[object] = [
        None if inst.capacity[s] != len(inst.room_ids)
        else (inst.capacity[s], tuple(s in allowed for allowed in inst.allowed_sets))
        for s in range(n_slots)
    ]

    order = sorted(range(n), key=lambda t: (-inst.demand[t], len(inst.allowed[t]), t))
    masks, capacity, allowed = inst.masks, inst.capacity, inst.allowed
    speaker_masks = inst.speaker_masks
    load = [0] * n_slots
    speaking = [0] * n_slots
    slot_of = [-1] * n
    nodes = 0
    timed_out = False

    def usable(t: int) -> list[tuple[int, int]]:
        """(clashes added, slot) for every slot talk t can still go to."""
        mask, speakers = masks[t], speaker_masks[t]
        options = []
        for s in allowed[t]:
            if load[s] >= capacity[s] or speaking[s] & speakers:
                continue
            options.append(((mask & counts[s].wanting).bit_count(), s))
        return options

    def sure_cost(i: int) -> int:
        """What the talks order[i:] will add whatever happens (see the module docstring)."""
        total = 0
        gains = []
        for t in order[i:]:
            options = usable(t)
            if not options:
                total += big
            else:
                least = min(options)[0]
                if least:
                    gains.append((least, t))
        seen = 0
        for least, t in sorted(gains, reverse=True):
            if not masks[t] & seen:
                total += least
                seen |= masks[t]
        return total

    def dfs(i: int, cost: int) -> None:
        nonlocal nodes, best, best_cost, timed_out
        nodes += 1
        if nodes > node_budget:
            raise _Stop
        if not nodes % CHECK_EVERY and time.monotonic() > deadline:
            timed_out = True
            raise _Stop
        if i == n:
            if cost < best_cost:
                best_cost = cost
                best = list(slot_of)
            return
        if cost + sure_cost(i) >= best_cost:
            return
        t = order[i]
        mask, speakers = masks[t], speaker_masks[t]
        tried_classes = set()
        for added, s in sorted(usable(t)):
            if cost + added >= best_cost:
                break
            if load[s] == 0 and klass[s] is not None:
                if klass[s] in tried_classes:
                    continue
                tried_classes.add(klass[s])
            counts[s].change(0, mask)
            speaking[s] ^= speakers
            load[s] += 1
            slot_of[t] = s
            dfs(i + 1, cost + added)
            slot_of[t] = -1
            load[s] -= 1
            speaking[s] ^= speakers
            counts[s].change(mask, 0)
        if cost + big < best_cost:
            dfs(i + 1, cost + big)

    try:
        dfs(0, base_missed)
        complete = True
    except _Stop:
        complete = False
    return best, best_cost % big, complete, nodes, timed_out


def _missed_of(inst: Instance, slot_of: list[int]) -> int:
    counts = inst.base_planes()
    for t, s in enumerate(slot_of):
        if s >= 0:
            counts[s].change(0, inst.masks[t])
    return sum(c.missed() for c in counts)
