"""Which room each session of one slot gets.

Once it is known which talks share a slot, rooms only matter for the secondary goals, and the best
choice is a small assignment problem solved exactly here: first keep sessions that need a closed
door in closed-door rooms, then seat as many people as possible (least overflow).
"""

from __future__ import annotations

from collections.abc import Sequence


def assignment_cost(demand: int, needs_closed_door: bool, capacity: int, closed_door: bool, weight: int) -> int:
    """Cost of one session in one room: a closed-door miss outweighs any overflow (``weight``)."""
    return (weight if needs_closed_door and not closed_door else 0) + max(0, demand - capacity)


def assign_rooms(sessions: Sequence[tuple[int, bool, int]], rooms: Sequence[tuple[int, bool, int]]) -> list[int]:
    """Give each session (demand, needs_closed_door, need) a distinct room (capacity, closed_door,
    level) of level ``need`` or lower (see :mod:`.instance`).

    Returns, for each session, the index of its room in ``rooms``; the search only asks when such
    an assignment exists. Sorting by demand is optimal for overflow alone, but not once closed-door
    rooms are reserved (a small restricted talk should not take the big closed room a popular talk
    needs), so this solves the assignment exactly with the Hungarian method: at most a few dozen
    rooms per slot, so it costs little. A room below a session's level costs more than every
    closed-door miss and overflow together, so it is only used when nothing else is left.
    """
    n, m = len(sessions), len(rooms)
    if n == 0:
        return []
    if n > m:
        raise ValueError("more sessions than rooms in one slot")
    weight = sum(demand for demand, _, _ in sessions) + 1
    too_small = weight * (n + 1)
    cost = [[assignment_cost(d, need_closed, c, closed, weight) + (too_small if level > need else 0)
             for c, closed, level in rooms] for d, need_closed, need in sessions]
    return _hungarian(cost)


def _hungarian(cost: list[list[int]]) -> list[int]:
    """Minimum-cost assignment of every row to a distinct column (rows <= columns), O(n^2 m).

    Integer potentials keep it exact; the scan order is fixed, so ties break the same way on
    every run.
    """
    n, m = len(cost), len(cost[0])
    inf = float("inf")
    u = [0] * (n + 1)
    v = [0] * (m + 1)
    match = [0] * (m + 1)  # match[j] = row (1-based) assigned to column j, 0 if none
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        match[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = match[j0]
            delta = inf
            j1 = 0
            row = cost[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    reduced = row[j - 1] - u[i0] - v[j]
                    if reduced < minv[j]:
                        minv[j] = reduced
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[match[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    result = [0] * n
    for j in range(1, m + 1):
        if match[j]:
            result[match[j] - 1] = j - 1
    return result


def slot_secondary(demands: Sequence[int], closed_needed: int, capacities_desc: Sequence[int],
                   closed_rooms: int, weight: int) -> int:
    """A fast estimate of one slot's secondary cost for the search: closed-door misses (exact)
    times ``weight``, plus overflow with demands matched to capacities in sorted order (exact
    when no session needs a closed door, a lower estimate otherwise).
    """
    over = 0
    for demand, capacity in zip(sorted(demands, reverse=True), capacities_desc):
        if demand > capacity:
            over += demand - capacity
    return max(0, closed_needed - closed_rooms) * weight + over
