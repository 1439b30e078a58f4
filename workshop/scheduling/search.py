"""Heuristic search over slot assignments: greedy seed, ejection-chain repair, annealing, polish.

The state says which slot each movable talk is in (rooms are matched per slot afterwards, see
:mod:`.rooms`). It keeps, per slot, how many of the slot's sessions each voter wants (pinned and
fixed ones included), so moving a talk changes the clash count only through that talk's voters:
a voter stops clashing in the old slot when its count drops from 2 to 1, and starts clashing in
the new one when its count rises from 1 to 2. The counts are bit planes over all voters
(:class:`.instance.Counts`) and each talk's voters one integer mask, so a move's change in
clashes is four ``&`` and ``bit_count`` operations, run in C: in pure Python this was about ten
times faster than reading the talk's voters' counts one by one, and steps are what a local
search lives on.

Every random choice comes from one ``random.Random(seed)`` and every loop runs over lists in a
fixed order; the clock is read only to stop at the time limit, so the outcome depends on the
input, the seed and the step budget, not on the machine's speed (unless the limit cuts in).
"""

from __future__ import annotations

import math
import random
import time
from collections import deque

from .instance import Counts, Instance
from .rooms import slot_secondary

#: How often (in steps) the loops look at the clock and adjust the temperature.
CHECK_EVERY = 512


class SearchTimeout(Exception):
    """The deadline passed in the middle of a phase that cannot stop half-way."""


class State:
    """A slot for each movable talk (-1: unplaced), with the counts that make moves cheap."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.slot_of = [-1] * inst.n_talks
        self.members: list[list[int]] = [[] for _ in range(inst.n_slots)]
        self.position = [0] * inst.n_talks
        self.counts: list[Counts] = inst.base_planes()
        # Speakers of the slot's movable talks, as bits: a speaker is never in two of them at once,
        # so a talk's speakers are added and removed with a plain XOR.
        self.speaking = [0] * inst.n_slots
        self.missed = sum(c.missed() for c in self.counts)

    # -- queries -----------------------------------------------------------------------------
    def has_room(self, s: int) -> bool:
        return len(self.members[s]) < self.inst.capacity[s]

    def speakers_free(self, t: int, s: int, leaving: int = -1) -> bool:
        """True when none of t's speakers speaks in slot s (not counting talk ``leaving``)."""
        busy = self.speaking[s]
        if leaving >= 0:
            busy ^= self.inst.speaker_masks[leaving]
        return not busy & self.inst.speaker_masks[t]

    def can_place(self, t: int, s: int) -> bool:
        return self.has_room(s) and self.speakers_free(t, s)

    # -- changes -----------------------------------------------------------------------------
    def place(self, t: int, s: int) -> None:
        mask = self.inst.masks[t]
        counts = self.counts[s]
        self.missed += (mask & counts.wanting).bit_count()
        counts.change(0, mask)
        self.speaking[s] ^= self.inst.speaker_masks[t]
        self.slot_of[t] = s
        self.position[t] = len(self.members[s])
        self.members[s].append(t)

    def remove(self, t: int) -> None:
        s = self.slot_of[t]
        mask = self.inst.masks[t]
        counts = self.counts[s]
        self.missed -= (mask & counts.missing).bit_count()
        counts.change(mask, 0)
        self.speaking[s] ^= self.inst.speaker_masks[t]
        members = self.members[s]
        last = members.pop()
        if last != t:
            members[self.position[t]] = last
            self.position[last] = self.position[t]
        self.slot_of[t] = -1

    def load(self, slot_of: list[int]) -> None:
        """Reset to the assignment ``slot_of``, placing talks in index order."""
        self.__init__(self.inst)
        for t, s in enumerate(slot_of):
            if s >= 0:
                self.place(t, s)

    def unplaced(self) -> list[int]:
        return [t for t, s in enumerate(self.slot_of) if s < 0]


# -- greedy seed ---------------------------------------------------------------------------------
def greedy(inst: Instance) -> State:
    """Most-wanted talks first, each into the slot where it adds the fewest clashes.

    Ties go to the slot where fewest of its voters want anything yet, then to the emptier slot,
    so that early, clash-free choices still leave room for what comes later.
    """
    state = State(inst)
    order = sorted(range(inst.n_talks), key=lambda t: (-inst.demand[t], len(inst.allowed[t]), t))
    for t in order:
        mask = inst.masks[t]
        best = None
        for s in inst.allowed[t]:
            if not state.can_place(t, s):
                continue
            counts = state.counts[s]
            key = ((mask & counts.wanting).bit_count(), len(state.members[s]), s)
            if best is None or key < best:
                best = key
        if best is not None:
            state.place(t, best[2])
    repair(state)
    return state


def repair(state: State) -> None:
    """Place talks the greedy pass left out by ejection chains, as augmenting paths in matching.

    Talk x enters slot s, evicting one talk y whose removal frees a room or x's speaker; y then
    looks for its own slot, and so on until a talk lands in a slot with a free room. Each slot
    appears at most once in a chain, so the speaker checks made along the way stay true when the
    chain is applied.
    """
    progress = True
    while progress:
        progress = False
        for t in state.unplaced():
            chain = _find_chain(state, t)
            if chain is not None:
                # From the unplaced talk onwards: each evicted talk is placed by the next step.
                for x, s, y in reversed(chain):
                    if y >= 0:
                        state.remove(y)
                    state.place(x, s)
                progress = True


def _find_chain(state: State, start: int) -> list[tuple[int, int, int]] | None:
    inst = state.inst
    visited = [False] * inst.n_slots
    parent: dict[int, tuple[int, int, int] | None] = {start: None}  # talk -> (talk, slot, evicted) that moved it
    queue = deque([start])
    while queue:
        x = queue.popleft()
        for s in inst.allowed[x]:
            if visited[s]:
                continue
            if state.can_place(x, s):
                chain = [(x, s, -1)]
                step = parent[x]
                while step is not None:
                    chain.append(step)
                    step = parent[step[0]]
                return chain
            visited[s] = True
            for y in state.members[s]:
                if y in parent:
                    continue
                if state.speakers_free(x, s, leaving=y):
                    parent[y] = (x, s, y)
                    queue.append(y)
    return None


# -- simulated annealing -------------------------------------------------------------------------
def anneal(state: State, rng: random.Random, budget: int, target: int, deadline: float,
           rounds: int = 1, t_start: float = 1.0, t_end: float = 0.08) -> tuple[list[int], int, int, bool]:
    """Simulated annealing over moves (a talk to another slot with a free room) and swaps (two
    talks trade slots), from ``state``; returns (best assignment, its clashes, steps, timed out).

    The temperature falls geometrically from ``t_start`` to ``t_end`` over each of ``rounds``
    runs; a later run restarts from the best assignment so far at half the previous starting
    temperature (a reheat). On the benchmark instances, for the same number of steps, one long
    cooling beat two or three reheated ones, and ending at 0.08 (a one-clash worsening accepted
    about once in 270 000 tries) beat ending at 0.2 or 0.3 by 5-10%, hence the defaults.
    Stops early once the clashes reach ``target`` (a proven lower bound).
    ``state`` is left at the last assignment visited, not the best.
    """
    inst = state.inst
    slot_of = state.slot_of
    best = list(slot_of)
    best_missed = state.missed
    movers = [t for t in range(inst.n_talks) if slot_of[t] >= 0 and len(inst.allowed[t]) > 1]
    if not movers or budget <= 0 or best_missed <= target:
        return best, best_missed, 0, False

    allowed, allowed_sets, masks = inst.allowed, inst.allowed_sets, inst.masks
    speaker_masks = inst.speaker_masks
    capacity = inst.capacity
    random_ = rng.random
    n_movers = len(movers)
    exp = math.exp

    steps = 0
    timed_out = False
    per_round = max(1, budget // rounds)
    for round_no in range(rounds):
        if round_no:
            state.load(best)
        slot_of, members, position = state.slot_of, state.members, state.position
        counts, speaking = state.counts, state.speaking
        missed = state.missed
        start_temp = t_start * (0.5 ** round_no)
        ratio = (t_end / start_temp) if start_temp > t_end else 1.0
        round_steps = per_round if round_no < rounds - 1 else budget - steps
        temp = start_temp
        accept = [exp(-d / temp) for d in range(64)]
        done = 0
        while done < round_steps:
            done += 1
            if not done % CHECK_EVERY:
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                temp = start_temp * ratio ** (done / round_steps)
                accept = [exp(-d / temp) for d in range(64)]
            t = movers[int(random_() * n_movers)]
            a = slot_of[t]
            options = allowed[t]
            b = options[int(random_() * len(options))]
            if b == a:
                continue
            ca, cb = counts[a], counts[b]
            mt = masks[t]
            in_b = members[b]
            if len(in_b) < capacity[b] and (not in_b or random_() < 0.5):
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
                _relocate(t, a, b, members, position, slot_of)
            else:
                if not in_b:
                    continue
                u = in_b[int(random_() * len(in_b))]
                if a not in allowed_sets[u]:
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
                _relocate(t, a, b, members, position, slot_of)
                _relocate(u, b, a, members, position, slot_of)
            missed += delta
            if missed < best_missed:
                best_missed = missed
                best = list(slot_of)
                if best_missed <= target:
                    break
        steps += done
        state.missed = missed
        if timed_out or best_missed <= target:
            break
    return best, best_missed, steps, timed_out


def _relocate(t: int, a: int, b: int, members: list[list[int]], position: list[int], slot_of: list[int]) -> None:
    """Move talk t's membership (not its counts or speakers) from slot a to slot b."""
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

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.weight = sum(inst.demand) + 1
        self.capacities = [sorted((inst.rooms[r].capacity for r in free), reverse=True) for free in inst.free_rooms]
        self.closed = [sum(1 for r in free if inst.rooms[r].closed_door) for free in inst.free_rooms]

    def of(self, s: int, talks: list[int]) -> int:
        inst = self.inst
        return slot_secondary([inst.demand[t] for t in talks], sum(inst.needs_closed_door[t] for t in talks),
                              self.capacities[s], self.closed[s], self.weight)


def polish(state: State, rng: random.Random, budget: int, deadline: float) -> tuple[int, bool]:
    """Improve rooms (closed-door misses, then overflow) without ever adding a clash.

    Same moves as the annealing, accepted when they lower the clashes, or keep them and do not
    worsen the secondary estimate (equal moves let the search drift across the plateau).
    Returns (steps, timed out).
    """
    inst = state.inst
    movers = [t for t in range(inst.n_talks) if state.slot_of[t] >= 0 and len(inst.allowed[t]) > 1]
    costs = SlotCosts(inst)
    slot_cost = [costs.of(s, state.members[s]) for s in range(inst.n_slots)]
    if not movers or budget <= 0 or not any(slot_cost):
        return 0, False
    members, position, slot_of = state.members, state.position, state.slot_of
    counts, speaking = state.counts, state.speaking
    masks, speaker_masks = inst.masks, inst.speaker_masks
    random_ = rng.random
    steps = 0
    while steps < budget:
        steps += 1
        if not steps % CHECK_EVERY and time.monotonic() > deadline:
            return steps, True
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
        if len(in_b) < inst.capacity[b] and (not in_b or random_() < 0.5):
            if speaking[b] & st:
                continue
            only_t, only_u = mt, 0
        else:
            if not in_b:
                continue
            u = in_b[int(random_() * len(in_b))]
            if a not in inst.allowed_sets[u]:
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
        ca.change(only_t, only_u)
        cb.change(only_u, only_t)
        speaking[a] ^= st ^ su
        speaking[b] ^= st ^ su
        _relocate(t, a, b, members, position, slot_of)
        if u >= 0:
            _relocate(u, b, a, members, position, slot_of)
        state.missed += delta
        slot_cost[a], slot_cost[b] = cost_a, cost_b
    return steps, False
