"""Heuristic search: greedy seed, ejection-chain repair, simulated annealing, polish.

The state says where each movable talk is. A floating talk (see :class:`.instance.Instance`)
only has a slot: which rooms the slot's floating talks get is decided at the end, and the state
only keeps, per slot and room level, how many rooms are still to spare (``slack``), which is
all it takes to know that they can be seated (rooms seating a talk are nested, so Hall's
condition is one count per level). A spanning talk has a room and a run of slots, and takes that
room in each of them.

The state also keeps, per slot, how many of the slot's sessions each voter wants (pinned and
fixed ones included), so moving a talk changes the missed talks only through that talk's voters:
a voter misses one talk fewer in the old slot when it wanted two or more there, and one more in
the new slot when it wanted anything there. The counts are bit planes over all voters
(:class:`.instance.Counts`) and each talk's voters one integer mask, so a move's change is four
``&`` and ``bit_count`` operations, run in C: in pure Python this was about ten times faster than
reading the talk's voters' counts one by one, and steps are what a local search lives on.

Every random choice comes from one ``random.Random(seed)`` and every loop runs over lists in a
fixed order. With a step budget the clock is read only to stop at the time limit, so the outcome
depends on the input, the seed and the budget, not on the machine's speed; with a time budget
the temperature follows the clock, so that a run always ends cooled.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .instance import Counts, Instance
from .rooms import slot_secondary

#: How often (in steps) the loops look at the clock, adjust the temperature and report.
CHECK_EVERY = 512
#: Spanning talks try at most this many options each when the repair has to evict talks for them.
MAX_EVICTING_OPTIONS = 60

Snapshot = tuple[list[int], list[int]]


class State:
    """Where each movable talk is (slot -1: unplaced), with the counts that make moves cheap."""

    def __init__(self, inst: Instance, need: list[int] | None = None) -> None:
        self.inst = inst
        n = inst.n_talks
        self.need = list(inst.need) if need is None else list(need)
        self.slot_of = [-1] * n
        self.room_of = [-1] * n
        self.span = [0] * n
        self.members: list[list[int]] = [[] for _ in range(inst.n_slots)]
        self.position = [0] * n
        self.counts: list[Counts] = inst.base_planes()
        # Speakers of the slot's movable talks, as bits: a speaker is never in two of them at once,
        # so a talk's speakers are added and removed with a plain XOR.
        self.speaking = [0] * inst.n_slots
        self.slack = [list(per_level) for per_level in inst.free_levels]
        self.taken = [[False] * inst.n_slots for _ in inst.room_ids]
        for r, s in inst.fixed_cells:
            self.taken[r][s] = True
        self.missed = sum(c.missed() for c in self.counts)

    # -- queries -----------------------------------------------------------------------------
    def fits(self, t: int, s: int) -> bool:
        """True when floating talk t can join slot s: a room left for it and its speakers free."""
        return not self.speaking[s] & self.inst.speaker_masks[t] and min(self.slack[s][self.need[t]:]) > 0

    def run_fits(self, t: int, r: int, s: int, k: int) -> bool:
        """True when spanning talk t can take room r for slots s..s+k-1."""
        inst = self.inst
        level = inst.room_level[r]
        if level > self.need[t]:
            return False
        speakers = inst.speaker_masks[t]
        taken = self.taken[r]
        for x in range(s, s + k):
            if taken[x] or self.speaking[x] & speakers or min(self.slack[x][level:]) <= 0:
                return False
        return True

    def speakers_free(self, t: int, s: int, leaving: int = -1) -> bool:
        """True when none of t's speakers speaks in slot s (not counting talk ``leaving``)."""
        busy = self.speaking[s]
        if leaving >= 0:
            busy ^= self.inst.speaker_masks[leaving]
        return not busy & self.inst.speaker_masks[t]

    def added(self, t: int, s: int) -> int:
        """Missed talks that placing t in slot s would add."""
        return (self.inst.masks[t] & self.counts[s].wanting).bit_count()

    def unplaced(self) -> list[int]:
        return [t for t, s in enumerate(self.slot_of) if s < 0]

    def snapshot(self) -> Snapshot:
        return list(self.slot_of), list(self.room_of)

    def clashes(self) -> int:
        return sum(c.clashes() for c in self.counts)

    # -- changes -----------------------------------------------------------------------------
    def place(self, t: int, s: int) -> None:
        """Put floating talk t in slot s (the caller has checked it fits)."""
        mask = self.inst.masks[t]
        counts = self.counts[s]
        self.missed += (mask & counts.wanting).bit_count()
        counts.change(0, mask)
        self.speaking[s] ^= self.inst.speaker_masks[t]
        slack = self.slack[s]
        for j in range(self.need[t], len(slack)):
            slack[j] -= 1
        self.slot_of[t] = s
        self.span[t] = 1
        self.position[t] = len(self.members[s])
        self.members[s].append(t)

    def place_run(self, t: int, r: int, s: int, k: int) -> None:
        """Put spanning talk t in room r for slots s..s+k-1 (the caller has checked it fits)."""
        inst = self.inst
        mask, speakers, level = inst.masks[t], inst.speaker_masks[t], inst.room_level[r]
        for x in range(s, s + k):
            counts = self.counts[x]
            self.missed += (mask & counts.wanting).bit_count()
            counts.change(0, mask)
            self.speaking[x] ^= speakers
            self.taken[r][x] = True
            slack = self.slack[x]
            for j in range(level, len(slack)):
                slack[j] -= 1
        self.slot_of[t], self.room_of[t], self.span[t] = s, r, k

    def remove(self, t: int) -> None:
        inst = self.inst
        s, r, k = self.slot_of[t], self.room_of[t], self.span[t]
        mask, speakers = inst.masks[t], inst.speaker_masks[t]
        level = self.need[t] if r < 0 else inst.room_level[r]
        for x in range(s, s + k):
            counts = self.counts[x]
            self.missed -= (mask & counts.missing).bit_count()
            counts.change(mask, 0)
            self.speaking[x] ^= speakers
            slack = self.slack[x]
            for j in range(level, len(slack)):
                slack[j] += 1
            if r >= 0:
                self.taken[r][x] = False
        if r < 0:
            members = self.members[s]
            last = members.pop()
            if last != t:
                members[self.position[t]] = last
                self.position[last] = self.position[t]
        self.slot_of[t], self.room_of[t], self.span[t] = -1, -1, 0

    def put(self, t: int, where: tuple[int, int, int]) -> None:
        """Place t at (room, slot, span), room -1 for a floating talk."""
        r, s, k = where
        if r < 0:
            self.place(t, s)
        else:
            self.place_run(t, r, s, k)

    def load(self, snapshot: Snapshot, need: list[int] | None = None) -> None:
        """Reset to ``snapshot``, placing talks in index order."""
        slot_of, room_of = snapshot
        self.__init__(self.inst, self.need if need is None else need)
        for t, s in enumerate(slot_of):
            if s < 0:
                continue
            r = room_of[t]
            if r < 0:
                self.place(t, s)
            else:
                self.place_run(t, r, s, next(k for rr, ss, k in self.inst.options[t] if (rr, ss) == (r, s)))


# -- greedy seed ---------------------------------------------------------------------------------
def greedy(inst: Instance) -> State:
    """Hardest talks first, each where it adds the fewest missed talks; then repair.

    Spanning talks go first (they need a room free over several slots), then floating talks from
    the most demanding room level down, most wanted first. Ties go to the emptier slot, so that
    early choices leave room for what comes later, and a spanning talk takes the smallest room
    that seats it. Talks left over are placed by ejection chains; a talk that still finds no room
    that seats it is allowed one level smaller rooms at a time (it will be reported over capacity)
    before it is given up.
    """
    state = State(inst)
    order = sorted(range(inst.n_talks), key=lambda t: (not inst.spanning[t], len(inst.options[t]) or 0,
                                                        inst.need[t], -inst.demand[t], len(inst.allowed[t]), t))
    for t in order:
        best = _best_place(state, t)
        if best is not None:
            state.put(t, best[-1])
    repair(state)
    return state


def _best_place(state: State, t: int) -> tuple | None:
    inst = state.inst
    best = None
    if inst.spanning[t]:
        for r, s, k in inst.options[t]:
            if state.run_fits(t, r, s, k):
                key = (sum(state.added(t, x) for x in range(s, s + k)), -inst.room_level[r], s, r, (r, s, k))
                if best is None or key < best:
                    best = key
    else:
        for s in inst.allowed[t]:
            if state.fits(t, s):
                key = (state.added(t, s), len(state.members[s]), s, (-1, s, 1))
                if best is None or key < best:
                    best = key
    return best


def repair(state: State) -> None:
    """Place what is left: ejection chains first, then smaller rooms for talks that still fail."""
    inst = state.inst
    _place_left_over(state)
    for t in state.unplaced():
        while state.slot_of[t] < 0 and state.need[t] < inst.n_levels - 1:
            state.need[t] += 1
            _place_left_over(state, [t])
        if state.slot_of[t] < 0:
            state.need[t] = inst.need[t]


def _place_left_over(state: State, talks: list[int] | None = None) -> None:
    progress = True
    while progress:
        progress = False
        for t in talks if talks is not None else state.unplaced():
            if state.slot_of[t] >= 0:
                continue
            progress |= _place_spanning(state, t) if state.inst.spanning[t] else _chain(state, t)


def _chain(state: State, start: int) -> bool:
    """Place floating talk ``start`` by an ejection chain, as an augmenting path in matching.

    Talk x enters slot s, evicting one floating talk y whose leaving makes room for x (a room of
    its level, or x's speaker); y then looks for its own slot, and so on until a talk lands in a
    slot with room to spare. Each slot appears at most once in a chain, so the checks made along
    the way stay true when the chain is applied.
    """
    inst = state.inst
    need = state.need
    visited = [False] * inst.n_slots
    parent: dict[int, tuple[int, int, int] | None] = {start: None}  # talk -> (talk, slot, evicted) that moved it
    queue = deque([start])
    while queue:
        x = queue.popleft()
        for s in inst.allowed[x]:
            if visited[s]:
                continue
            if state.fits(x, s):
                chain = [(x, s, -1)]
                step = parent[x]
                while step is not None:
                    chain.append(step)
                    step = parent[step[0]]
                for mover, slot, evicted in reversed(chain):
                    if evicted >= 0:
                        state.remove(evicted)
                    state.place(mover, slot)
                return True
            visited[s] = True
            slack = state.slack[s]
            for y in state.members[s]:
                if y in parent:
                    continue
                if need[x] < need[y] and min(slack[need[x]:need[y]]) <= 0:
                    continue
                if state.speakers_free(x, s, leaving=y):
                    parent[y] = (x, s, y)
                    queue.append(y)
    return False


def _place_spanning(state: State, t: int) -> bool:
    """Place spanning talk t where it fits, or where evicting a few floating talks that the
    ejection chains then place elsewhere makes room for it."""
    inst = state.inst
    for r, s, k in inst.options[t]:
        if state.run_fits(t, r, s, k):
            state.place_run(t, r, s, k)
            return True
    candidates = []
    for r, s, k in inst.options[t]:
        if inst.room_level[r] > state.need[t] or any(state.taken[r][x] for x in range(s, s + k)):
            continue
        candidates.append((sum(len(state.members[x]) for x in range(s, s + k)), s, r, k))
    candidates.sort()
    for _, s, r, k in candidates[:MAX_EVICTING_OPTIONS]:
        saved, saved_need = state.snapshot(), list(state.need)
        evicted = _evict_for(state, t, r, s, k)
        if evicted is not None and state.run_fits(t, r, s, k):
            state.place_run(t, r, s, k)
            if all(_chain(state, y) for y in evicted):
                return True
        state.load(saved, saved_need)
    return False


def _evict_for(state: State, t: int, r: int, s: int, k: int) -> list[int] | None:
    """Remove the floating talks that keep spanning talk t out of room r in slots s..s+k-1."""
    inst = state.inst
    level = inst.room_level[r]
    evicted = []
    for x in range(s, s + k):
        for y in list(state.members[x]):
            if inst.speaker_masks[y] & inst.speaker_masks[t]:
                state.remove(y)
                evicted.append(y)
        while True:
            slack = state.slack[x]
            short = [j for j in range(level, len(slack)) if slack[j] <= 0]
            if not short:
                break
            movable = [y for y in state.members[x] if state.need[y] <= short[0]]
            if not movable:
                return None
            y = max(movable, key=lambda y: (state.need[y], -y))
            state.remove(y)
            evicted.append(y)
    return evicted


# -- simulated annealing -------------------------------------------------------------------------
@dataclass
class Cooling:
    """Geometric cooling from ``t_start`` to ``t_end``, by steps or by the clock.

    With ``steps`` the temperature follows the steps done, so the run is the same on any machine;
    but as soon as the clock says the steps will not all fit before ``until`` (the time used so
    far is a larger share of the time available than the steps done are of the budget), it follows
    the clock instead and sets ``switched``: the run will not be reproducible anyway, and it still
    ends cooled. Without ``steps`` it follows the clock from the start, ending at ``until``.
    """

    t_start: float
    t_end: float
    until: float
    steps: int | None = None
    switched: bool = False

    def __post_init__(self) -> None:
        self.began = time.monotonic()

    def fraction(self, done: int) -> float:
        available = self.until - self.began
        by_clock = (time.monotonic() - self.began) / available if available > 0 else 1.0
        if self.steps is None or self.switched:
            return by_clock
        by_steps = done / self.steps if self.steps else 1.0
        if by_clock > by_steps:
            self.switched = True
            return by_clock
        return by_steps

    def temperature(self, fraction: float) -> float:
        return self.t_start * (self.t_end / self.t_start) ** min(1.0, fraction)


#: What the annealing calls every CHECK_EVERY steps with the best missed count and a way to get
#: that schedule; returning False stops it.
Watch = Callable[[int, Callable[[], Snapshot]], bool]


def anneal(state: State, rng: random.Random, cooling: Cooling, target: int, deadline: float,
           watch: Watch | None = None) -> tuple[Snapshot, int, int, str]:
    """Simulated annealing from ``state`` over moves (a talk to another slot with room for it) and
    swaps (two floating talks trade slots); a spanning talk moves to another of its options.

    Returns (best snapshot, its missed talks, steps, why it stopped: "cooled", "target" when the
    missed talks reached ``target`` (a proven lower bound), "deadline" or "stopped" by ``watch``).
    ``state`` is left at the last schedule visited, not the best.
    """
    inst = state.inst
    slot_of = state.slot_of
    best = state.snapshot()
    best_missed = state.missed
    movers = [t for t in range(inst.n_talks)
              if slot_of[t] >= 0 and (len(inst.allowed[t]) > 1 or len(inst.options[t]) > 1)]
    if not movers or best_missed <= target:
        return best, best_missed, 0, "target" if best_missed <= target else "cooled"

    allowed, allowed_sets, masks = inst.allowed, inst.allowed_sets, inst.masks
    speaker_masks, spanning = inst.speaker_masks, inst.spanning
    members, position = state.members, state.position
    counts, speaking, slack, need = state.counts, state.speaking, state.slack, state.need
    random_ = rng.random
    n_movers = len(movers)
    exp = math.exp
    missed = state.missed

    def best_now() -> Snapshot:
        return best

    temp = cooling.temperature(0.0)
    accept = [exp(-d / temp) for d in range(64)]
    done = 0
    last = cooling.steps if cooling.steps is not None else -1
    reason = "cooled"
    while True:
        if done == last and not cooling.switched:
            break
        done += 1
        if not done % CHECK_EVERY:
            fraction = cooling.fraction(done)
            if fraction >= 1.0:
                break
            if time.monotonic() > deadline:
                reason = "deadline"
                break
            if watch is not None and not watch(best_missed, best_now):
                reason = "stopped"
                break
            temp = cooling.temperature(fraction)
            accept = [exp(-d / temp) for d in range(64)]
        t = movers[int(random_() * n_movers)]
        if spanning[t]:
            state.missed = missed
            delta = _move_spanning(state, t, rng, accept)
            if delta is None:
                continue
            missed = state.missed
        else:
            a = slot_of[t]
            options_t = allowed[t]
            b = options_t[int(random_() * len(options_t))]
            if b == a:
                continue
            ca, cb = counts[a], counts[b]
            mt = masks[t]
            in_b = members[b]
            nt = need[t]
            if (not in_b or random_() < 0.5) and min(slack[b][nt:]) > 0:
                st = speaker_masks[t]
                if speaking[b] & st:
                    continue
                delta = (mt & cb.wanting).bit_count() - (mt & ca.missing).bit_count()
                if delta > 0 and (delta >= 64 or random_() >= accept[delta]):
                    continue
                ca.change(mt, 0)
                cb.change(0, mt)
                speaking[a] ^= st
                speaking[b] ^= st
                sa, sb = slack[a], slack[b]
                for j in range(nt, len(sa)):
                    sa[j] += 1
                    sb[j] -= 1
                _relocate(t, a, b, members, position, slot_of)
            else:
                if not in_b:
                    continue
                u = in_b[int(random_() * len(in_b))]
                if a not in allowed_sets[u]:
                    continue
                nu = need[u]
                if nu < nt and min(slack[a][nu:nt]) <= 0:
                    continue
                if nt < nu and min(slack[b][nt:nu]) <= 0:
                    continue
                st, su = speaker_masks[t], speaker_masks[u]
                if (speaking[b] ^ su) & st or (speaking[a] ^ st) & su:
                    continue
                mu = masks[u]
                common = mt & mu
                only_t, only_u = mt ^ common, mu ^ common
                delta = ((only_t & cb.wanting).bit_count() - (only_t & ca.missing).bit_count()
                         + (only_u & ca.wanting).bit_count() - (only_u & cb.missing).bit_count())
                if delta > 0 and (delta >= 64 or random_() >= accept[delta]):
                    continue
                ca.change(only_t, only_u)
                cb.change(only_u, only_t)
                speaking[a] ^= st ^ su
                speaking[b] ^= st ^ su
                if nt != nu:
                    sa, sb = slack[a], slack[b]
                    step = 1 if nt < nu else -1
                    for j in range(min(nt, nu), max(nt, nu)):
                        sa[j] += step
                        sb[j] -= step
                _relocate(t, a, b, members, position, slot_of)
                _relocate(u, b, a, members, position, slot_of)
            missed += delta
        if missed < best_missed:
            best_missed = missed
            best = state.snapshot()
            if best_missed <= target:
                reason = "target"
                break
    state.missed = missed
    return best, best_missed, done, reason


def _move_spanning(state: State, t: int, rng: random.Random, accept: list[float]) -> int | None:
    """Try spanning talk t at a random other option; returns the change in missed talks, or None
    when the move was impossible or refused (the state is then as it was)."""
    inst = state.inst
    options = inst.options[t]
    r, s, k = options[int(rng.random() * len(options))]
    old = (state.room_of[t], state.slot_of[t], state.span[t])
    if (r, s) == old[:2] or inst.room_level[r] > state.need[t]:
        return None
    before = state.missed
    state.remove(t)
    if not state.run_fits(t, r, s, k):
        state.place_run(t, *old)
        return None
    state.place_run(t, r, s, k)
    delta = state.missed - before
    if delta > 0 and (delta >= 64 or rng.random() >= accept[delta]):
        state.remove(t)
        state.place_run(t, *old)
        return None
    return delta


def _relocate(t: int, a: int, b: int, members: list[list[int]], position: list[int], slot_of: list[int]) -> None:
    """Move floating talk t's membership (not its counts or speakers) from slot a to slot b."""
    old = members[a]
    last = old.pop()
    if last != t:
        old[position[t]] = last
        position[last] = position[t]
    position[t] = len(members[b])
    members[b].append(t)
    slot_of[t] = b


# -- secondary goals -----------------------------------------------------------------------------
class SlotCosts:
    """Per-slot estimate of the secondary goals (closed-door misses, then overflow)."""

    def __init__(self, state: State) -> None:
        inst = state.inst
        self.inst = inst
        self.state = state
        self.weight = sum(inst.demand) + 1

    def of(self, s: int, talks: list[int]) -> int:
        inst, state = self.inst, self.state
        free = [r for r in inst.free_rooms[s] if not _run_room(state, r, s)]
        capacities = sorted((inst.rooms[r].capacity for r in free), reverse=True)
        closed = sum(1 for r in free if inst.rooms[r].closed_door)
        return slot_secondary([inst.demand[t] for t in talks], sum(inst.needs_closed_door[t] for t in talks),
                              capacities, closed, self.weight)


def _run_room(state: State, r: int, s: int) -> bool:
    """True when a spanning talk holds room r in slot s (pinned and fixed cells are not free)."""
    return state.taken[r][s] and (r, s) not in state.inst.fixed_cells


def polish(state: State, rng: random.Random, budget: int, deadline: float,
           watch: Callable[[], bool] | None = None) -> tuple[int, str]:
    """Improve rooms (closed-door misses, then overflow) without ever adding a missed talk.

    Same moves as the annealing for floating talks, accepted when they lower the missed talks,
    or keep them and do not worsen the secondary estimate (equal moves let the search drift
    across the plateau). Returns (steps, why it stopped: "done", "deadline" or "stopped").
    """
    inst = state.inst
    movers = [t for t in range(inst.n_talks)
              if state.slot_of[t] >= 0 and not inst.spanning[t] and len(inst.allowed[t]) > 1]
    costs = SlotCosts(state)
    slot_cost = [costs.of(s, state.members[s]) for s in range(inst.n_slots)]
    if not movers or budget <= 0 or not any(slot_cost):
        return 0, "done"
    members, slot_of = state.members, state.slot_of
    counts, speaking, slack, need = state.counts, state.speaking, state.slack, state.need
    masks, speaker_masks = inst.masks, inst.speaker_masks
    random_ = rng.random
    steps = 0
    while steps < budget:
        steps += 1
        if not steps % CHECK_EVERY:
            if time.monotonic() > deadline:
                return steps, "deadline"
            if watch is not None and not watch():
                return steps, "stopped"
        t = movers[int(random_() * len(movers))]
        a = slot_of[t]
        options = inst.allowed[t]
        b = options[int(random_() * len(options))]
        if b == a:
            continue
        ca, cb = counts[a], counts[b]
        mt = masks[t]
        in_b = members[b]
        u = -1
        st, su = speaker_masks[t], 0
        nt = need[t]
        if (not in_b or random_() < 0.5) and min(slack[b][nt:]) > 0:
            if speaking[b] & st:
                continue
            only_t, only_u = mt, 0
        else:
            if not in_b:
                continue
            u = in_b[int(random_() * len(in_b))]
            if a not in inst.allowed_sets[u]:
                continue
            nu = need[u]
            if (nu < nt and min(slack[a][nu:nt]) <= 0) or (nt < nu and min(slack[b][nt:nu]) <= 0):
                continue
            su = speaker_masks[u]
            if (speaking[b] ^ su) & st or (speaking[a] ^ st) & su:
                continue
            common = mt & masks[u]
            only_t, only_u = mt ^ common, masks[u] ^ common
        delta = ((only_t & cb.wanting).bit_count() - (only_t & ca.missing).bit_count()
                 + (only_u & ca.wanting).bit_count() - (only_u & cb.missing).bit_count())
        if delta > 0:
            continue
        new_a = [x for x in members[a] if x != t] + ([u] if u >= 0 else [])
        new_b = [x for x in in_b if x != u] + [t]
        cost_a, cost_b = costs.of(a, new_a), costs.of(b, new_b)
        if delta == 0 and cost_a + cost_b > slot_cost[a] + slot_cost[b]:
            continue
        state.remove(t)
        if u >= 0:
            state.remove(u)
            state.place(u, a)
        state.place(t, b)
        slot_cost[a], slot_cost[b] = cost_a, cost_b
    return steps, "done"
