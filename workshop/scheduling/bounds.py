"""A proven lower bound on clashes, from counting alone.

Clashes add up over voters, and each voter's share can be bounded on its own, ignoring everyone
else: the sum of the per-voter minima is at most the clashes of any schedule. For voter v:

* every slot where v already wants two or more pinned or fixed sessions clashes whatever happens;
* v's movable talks must go into the slots those talks can use; a slot where v wants nothing yet
  takes one of them for free, a slot already clashing takes as many as it has free rooms for
  free, and any other slot takes up to its free rooms only by becoming a new clash. If v wants
  more talks than the free places, at least as many new clashes as it takes to make up the
  difference (largest slots first) are unavoidable.

When some talks stay unplaced, the bound holds for every schedule that places at least as many:
each voter is then only assumed to see ``len(wanted) - unplaced`` of its movable talks placed.
On instances where every voter wants fewer talks than there are slots this proves little
(often 0), which the note says; only the exact search can close that gap, on small instances.
"""

from __future__ import annotations

from .instance import Instance


def lower_bound(inst: Instance, unplaced: int = 0) -> tuple[int, str]:
    """Return (bound, note) for the clashes of any schedule leaving at most ``unplaced`` of the
    movable talks out.
    """
    forced = sum(len(c) - c.count(0) - c.count(1) for c in inst.base_counts)
    talks_of: list[list[int]] = [[] for _ in range(inst.n_voters)]
    for t, voters in enumerate(inst.voters):
        for v in voters:
            talks_of[v].append(t)

    extra = 0
    for v, talks in enumerate(talks_of):
        wanted = len(talks) - unplaced
        if wanted <= 0:
            continue
        usable = sorted({s for t in talks for s in inst.allowed[t]})
        free = 0
        gains: list[int] = []
        for s in usable:
            already = inst.base_counts[s][v]
            rooms = inst.capacity[s]
            if already >= 2:
                free += rooms
            elif already == 1:
                gains.append(rooms)
            else:
                free += 1
                gains.append(rooms - 1)
        short = wanted - free
        if short <= 0:
            continue
        for gain in sorted(gains, reverse=True):
            if short <= 0:
                break
            extra += 1
            short -= gain

    bound = forced + extra
    if bound == 0:
        note = ("no lower bound above 0 is known: every voter's talks fit in distinct slots, so counting proves "
                "nothing, and the instance is too large to search exhaustively")
    else:
        note = (f"{forced} clashes among pinned and fixed sessions, plus {extra} from voters who want more talks "
                f"than can be spread over the slots those talks may use")
    return bound, note
