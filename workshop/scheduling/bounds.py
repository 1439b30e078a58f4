"""A proven lower bound on missed talks, from counting alone.

Missed talks add up over voters, and each voter's share can be bounded on its own, ignoring
everyone else: the sum of the per-voter minima is at most the missed talks of any schedule. For
voter v, a slot where v already wants k pinned or fixed sessions costs k - 1 whatever happens,
and each of v's movable talks costs one more missed talk unless it is the first talk v wants in
its slot; so at most one talk per usable slot that v wants nothing in yet comes free.

When some talks stay unplaced, the bound holds for every schedule that places at least as many:
each voter is then only assumed to see ``len(wanted) - unplaced`` of its movable talks placed.
"""

from __future__ import annotations

from .instance import Instance


def lower_bound(inst: Instance, unplaced: int = 0) -> tuple[int, str]:
    """Return (bound, note) for the missed talks of any schedule leaving at most ``unplaced`` of
    the movable talks out.
    """
    forced = sum(max(0, k - 1) for counts in inst.base_counts for k in counts)
    # Every slot a talk could run in, over all its starts: a relaxation, so the bound stays valid.
    covers = [set(allowed) for allowed in inst.allowed]
    for t, options in enumerate(inst.options):
        for _, s, k in options:
            covers[t].update(range(s, s + k))
    talks_of: list[list[int]] = [[] for _ in range(inst.n_voters)]
    for t, voters in enumerate(inst.voters):
        for v in voters:
            talks_of[v].append(t)

    extra = 0
    for v, talks in enumerate(talks_of):
        wanted = len(talks) - unplaced
        if wanted <= 0:
            continue
        usable = {s for t in talks for s in covers[t]}
        free = sum(1 for s in usable if inst.base_counts[s][v] == 0)
        extra += max(0, wanted - free)

    bound = forced + extra
    if bound == 0:
        note = ("no lower bound above 0 is known: every voter's talks fit in distinct slots, so counting proves "
                "nothing, and the instance is too large to search exhaustively")
    else:
        note = (f"{forced} missed among pinned and fixed sessions, plus {extra} from voters who want more talks "
                f"than there are slots those talks may use")
    return bound, note
