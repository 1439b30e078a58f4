"""What each slot holds: a strong lower bound on missed talks, and exact optima on small events.

Given which floating talks share a slot (its *pattern*), the slot's missed talks are known: they
depend on that set alone, not on the rest of the schedule. A schedule is then a choice of one
pattern per slot such that every talk is in exactly one of them: a set partitioning problem. Its
linear relaxation is much stronger than that of the model over (talk, slot) pairs, whose
fractional optimum spreads every talk evenly over the slots and misses nothing: on the
benchmark's instances of 30 to 60 talks it is within 1 to 2% of the optimum, where the pair model
proves next to nothing.

The bound (:meth:`Columns.bound`). There are far too many patterns to list, so the relaxation is
solved by column generation: a linear program over the patterns found so far (GLOP) gives each
talk a price; the *pricing* looks for patterns whose missed talks are lowest once the prices of
their talks are taken off, and adds them: first a local search from the patterns the linear
program uses (cheap, and enough most rounds), then, when that finds none, a branch and bound
over all patterns; when that finds none either, the linear program is optimal over all
patterns. Whatever the prices, their sum plus, per slot, the lowest price-net cost of a pattern
is a lower bound (the Lagrangian bound), known from every round whose branch and bound was
complete.

The optimum (:meth:`Columns.ladder`). With those prices, a schedule's missed talks are the
Lagrangian bound plus the reduced costs of its patterns, none below zero; so a schedule missing
at most X talks only uses patterns of reduced cost at most X minus the bound, and those are few
when X is close to it. For X from the bound up, the ladder lists every such pattern (the same
branch and bound, with a fixed threshold) and CP-SAT looks for the best schedule made of them:
none proves X + 1 a bound; one is the optimum. It climbs while the lists stay small.

The relaxation, kept valid for every schedule of the search's kind:

* talks that span several slots are left out, with the rooms they hold (adding a talk never
  lowers missed talks, and freeing rooms only allows more); the ladder only runs without them;
* slots alike for the count (same free rooms of each level, same voters wanting a pinned or fixed
  session in them) share their patterns, and a pattern may hold any talk allowed in at least one
  of those slots (the ladder's schedule then goes slot by slot, with each talk's own slots);
* each pattern's rooms follow Hall's condition for nested room levels, and no speaker appears
  twice in it.

It only applies when every movable talk is placed in a room of its own level: the bound then
holds for the schedules the solver compares with it, those placing as many talks with none over
capacity.

Everything runs in a fixed order, under a work budget counted in search nodes and CP-SAT's
deterministic time, so the same input and budget give the same bound and schedule; the clock
only ends it early.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .instance import Instance

#: Above this many floating talks, or rooms free in one slot, the pricing search (exponential in
#: the rooms, a pattern's size) is too slow in pure Python to settle within the usual seconds:
#: with 6 rooms and 60 talks the relaxation is solved in one to three seconds, with 8 rooms and
#: 80 talks it takes fifteen.
MAX_TALKS = 120
MAX_ROOMS = 6
#: Reduced costs above -EPSILON are taken as zero (GLOP's duals carry rounding errors).
EPSILON = 1e-6
#: The Lagrangian bound is rounded up to whole missed talks after taking this off, more than the
#: rounding errors of the linear program's prices, so that the rounding never claims a talk too
#: many.
ROUNDING = 1e-4
#: A pricing search stops at this many improvements (each pattern better than the last) unless
#: it completes: the search for the very best costs most of the nodes, and the linear program
#: moves on from any; the round that proves the relaxation solved is complete by definition.
ENOUGH = 32
#: How close the bound must come to the linear program's value for the relaxation to count as
#: solved.
CLOSE_ENOUGH = 1e-3
#: Patterns added per pricing: the best the search met.
KEEP_PER_PRICING = 32
#: The ladder stops climbing when a rung lists more patterns than this, or more than CP-SAT can
#: settle in the time (or deterministic time) left, at about RUNG_SECONDS times the square of the
#: thousands of patterns (measured on the benchmark's instances: 1000 patterns, a few tenths of
#: a second; 2700, one to five seconds; 9500, twenty).
MAX_LADDER_PATTERNS = 12000
RUNG_SECONDS = 0.3
#: Reduced costs are scaled by this and rounded down for CP-SAT, which wants integers.
EXCESS_SCALE = 1000
#: A step of the local search before the exact pricing costs about as much as this many nodes
#: of the exact search (it tries every single change of one pattern); the work budget counts it so.
NODES_PER_CHANGE = 10
#: Nodes of the pricing search between two looks at the clock and the stop request.
CHECK_NODES = 2000
#: How often the caller's thread looks at the clock and the stop request while CP-SAT runs.
POLL_SECONDS = 0.05

Pattern = tuple[int, ...]
#: The gain of a talk whose speaker is already in the pattern: it can never be added.
EXCLUDED = float("-inf")


@dataclass
class SlotClass:
    """Slots alike for the count: ``slots`` share ``levels`` (free rooms of each level or lower)
    and ``base`` (voters wanting a pinned or fixed session there, as bits); ``talks`` are the
    floating talks allowed in at least one of them."""

    slots: list[int]
    levels: tuple[int, ...]
    base: int
    talks: list[int]


@dataclass
class BoundOutcome:
    """``bound``: proven lower bound on missed talks (None when none was proven); ``value``: the
    linear program's value over the patterns found (its optimum over all of them when
    ``converged``); ``rounds`` of pricing; ``nodes`` of pricing search spent; ``why`` it stopped:
    "converged", "stalled", "budget", "deadline", "stopped" or "infeasible"."""

    bound: int | None
    value: float | None
    converged: bool
    rounds: int
    nodes: int
    why: str


@dataclass
class LadderOutcome:
    """``bound``: the bound the ladder proved (no schedule misses fewer talks); ``slot_of``: a
    schedule it found, with its ``missed`` talks (None when it found none); ``optimal`` when that
    schedule reaches ``bound``; ``nodes`` of search and ``work`` (CP-SAT's deterministic time)
    spent; ``why`` it stopped climbing."""

    bound: int
    slot_of: list[int] | None
    missed: int | None
    optimal: bool
    nodes: int
    work: float
    why: str


def applicable(inst: Instance, slot_of: list[int], need: list[int]) -> bool:
    """True when the bound applies to the schedules the search's one is compared with (every
    movable talk placed, none in a room below its level), and the pricing search is affordable."""
    floating = sum(1 for spanning in inst.spanning if not spanning)
    rooms = max((len(free) for free in inst.free_rooms), default=0)
    return (0 < floating <= MAX_TALKS and rooms <= MAX_ROOMS and -1 not in slot_of
            and list(need) == list(inst.need))


class Columns:
    """The set partitioning relaxation of one instance, with its pool of patterns and, once
    :meth:`bound` has run, the prices that gave its best bound."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.floating = [t for t in range(inst.n_talks) if not inst.spanning[t]]
        self.forced = sum(max(0, k - 1) for counts in inst.base_counts for k in counts)
        by_key: dict[tuple, int] = {}
        self.class_of = [-1] * inst.n_slots
        self.classes: list[SlotClass] = []
        for s in range(inst.n_slots):
            if not inst.free_rooms[s]:
                continue
            base = 0
            for v, k in enumerate(inst.base_counts[s]):
                if k:
                    base |= 1 << v
            key = (tuple(inst.free_levels[s]), base)
            if key not in by_key:
                by_key[key] = len(self.classes)
                self.classes.append(SlotClass([], key[0], base, []))
            self.class_of[s] = by_key[key]
            self.classes[by_key[key]].slots.append(s)
        for cls in self.classes:
            members = set(cls.slots)
            cls.talks = [t for t in self.floating if members & inst.allowed_sets[t]]
        self.allowed_in = [set(cls.talks) for cls in self.classes]
        # The pool: per pattern (class, sorted talks) its missed talks, in the order found.
        self.pool: dict[tuple[int, Pattern], int] = {}
        self.order: list[tuple[int, Pattern]] = []
        # The prices of the best Lagrangian bound: per talk, per class (its own price plus its
        # lowest reduced cost, i.e. the lowest price-net cost of its patterns), and the bound.
        self.prices: list[float] | None = None
        self.floor: list[float] | None = None
        self.lagrangian: float | None = None

    # -- patterns --------------------------------------------------------------------------------
    def cost(self, c: int, talks: Pattern) -> int:
        """Missed talks a slot of class c gets from holding ``talks`` beside its pinned and
        fixed sessions (those they miss among themselves are counted once, in ``forced``)."""
        masks = self.inst.masks
        union = self.classes[c].base
        missed = 0
        for t in talks:
            missed += (masks[t] & union).bit_count()
            union |= masks[t]
        return missed

    def feasible(self, c: int, talks: Pattern) -> bool:
        """True when a slot of class c can seat ``talks`` with no speaker twice."""
        inst = self.inst
        levels = self.classes[c].levels
        counts = [0] * len(levels)
        speakers = 0
        for t in talks:
            if speakers & inst.speaker_masks[t] or t not in self.allowed_in[c]:
                return False
            speakers |= inst.speaker_masks[t]
            for j in range(inst.need[t], len(levels)):
                counts[j] += 1
        return all(k <= free for k, free in zip(counts, levels))

    def add(self, c: int, talks: Pattern) -> bool:
        """Add a pattern to the pool; False when it was there already."""
        key = (c, tuple(sorted(talks)))
        if key in self.pool:
            return False
        self.pool[key] = self.cost(*key)
        self.order.append(key)
        return True

    def add_schedule(self, slot_of: list[int]) -> None:
        """Add the patterns of a schedule (its floating talks, slot by slot)."""
        for s, talks in enumerate(self._held(slot_of)):
            c = self.class_of[s]
            if c >= 0 and self.feasible(c, talks):
                self.add(c, talks)

    def _held(self, slot_of: list[int]) -> list[Pattern]:
        held: list[list[int]] = [[] for _ in range(self.inst.n_slots)]
        for t in self.floating:
            if slot_of[t] >= 0:
                held[slot_of[t]].append(t)
        return [tuple(talks) for talks in held]

    # -- the bound -------------------------------------------------------------------------------
    def bound(self, node_budget: int, deadline: float, keep_going: Callable[[], bool]) -> BoundOutcome:
        """Column generation until no pattern prices out, the node budget is spent, the deadline
        passes or ``keep_going`` says stop. Returns the best Lagrangian bound seen, rounded up
        (missed talks are whole), and keeps the prices that gave it for :meth:`ladder`."""
        from ortools.linear_solver import pywraplp

        inst = self.inst
        for c in range(len(self.classes)):
            self.add(c, ())
        lp = pywraplp.Solver.CreateSolver("GLOP")
        cover = {t: lp.Constraint(1, 1) for t in self.floating}
        convex = [lp.Constraint(len(cls.slots), len(cls.slots)) for cls in self.classes]
        objective = lp.Objective()
        objective.SetMinimization()
        in_lp = 0
        nodes = 0
        rounds = 0
        value: float | None = None
        variables = []
        while True:
            for c, talks in self.order[in_lp:]:
                x = lp.NumVar(0.0, lp.infinity(), "")
                variables.append(x)
                for t in talks:
                    cover[t].SetCoefficient(x, 1)
                convex[c].SetCoefficient(x, 1)
                objective.SetCoefficient(x, self.pool[(c, talks)])
            in_lp = len(self.order)
            if lp.Solve() != pywraplp.Solver.OPTIMAL:
                # Cannot happen when the pool holds a schedule; nothing is proven otherwise.
                return self._outcome(value, False, rounds, nodes, "infeasible")
            value = objective.Value()
            if self.lagrangian is not None and value - self.lagrangian <= CLOSE_ENOUGH:
                return self._outcome(value, True, rounds, nodes, "converged")
            if nodes >= node_budget:
                return self._outcome(value, False, rounds, nodes, "budget")
            if time.monotonic() > deadline:
                return self._outcome(value, False, rounds, nodes, "deadline")
            if not keep_going():
                return self._outcome(value, False, rounds, nodes, "stopped")
            prices = [0.0] * inst.n_talks
            for t, row in cover.items():
                prices[t] = row.dual_value()
            mus = [row.dual_value() for row in convex]
            # First a cheap local search from the patterns the linear program uses; the exact
            # search (which also proves the bound) only when that finds nothing.
            added = 0
            for c, mu in enumerate(mus):
                used = [talks for (cc, talks), x in zip(self.order, variables)
                        if cc == c and talks and x.solution_value() > EPSILON]
                found, steps = self._improve(c, prices, mu, used)
                nodes += steps * NODES_PER_CHANGE
                for _, talks in found:
                    added += self.add(c, talks)
            if added:
                rounds += 1
                continue
            floor = []
            complete = True
            for c, mu in enumerate(mus):
                found, spent, why = self._search(c, prices, mu, node_budget - nodes, deadline, keep_going)
                nodes += spent
                if why not in ("done", "enough"):
                    return self._outcome(value, False, rounds, nodes, why)
                complete &= why == "done"
                # A complete search finds every pattern below -EPSILON: none is lower than this.
                floor.append(mu + min(-EPSILON, found[-1][0] if found else 0.0))
                for _, talks in found:
                    added += self.add(c, talks)
            rounds += 1
            if complete:
                lagrangian = sum(prices) + sum(len(cls.slots) * f for cls, f in zip(self.classes, floor))
                if self.lagrangian is None or lagrangian > self.lagrangian:
                    self.prices, self.floor, self.lagrangian = prices, floor, lagrangian
            if not added:
                converged = complete
                return self._outcome(value, converged, rounds, nodes, "converged" if converged else "stalled")

    def proven(self) -> int | None:
        """The best Lagrangian bound so far in whole missed talks, pinned and fixed included."""
        if self.lagrangian is None:
            return None
        return self.forced + max(0, math.ceil(self.lagrangian - ROUNDING))

    def _outcome(self, value: float | None, converged: bool, rounds: int, nodes: int, why: str) -> BoundOutcome:
        return BoundOutcome(self.proven(), value, converged, rounds, nodes, why)

    def _improve(self, c: int, prices: list[float], mu: float,
                 seeds: list[Pattern]) -> tuple[list[tuple[float, Pattern]], int]:
        """Patterns of class c with negative reduced cost near ``seeds``: from each, the best
        single change (add, drop or exchange one talk) as long as it lowers the reduced cost.
        Returns the best KEEP_PER_PRICING met below -EPSILON, best last, and the changes made.

        A talk joining a pattern adds the missed talks of its voters already served there (or
        wanting a pinned or fixed session), so every change is priced with one ``&`` and
        ``bit_count`` against the union of the talks that stay."""
        inst = self.inst
        cls = self.classes[c]
        levels = cls.levels
        masks, speakers, need = inst.masks, inst.speaker_masks, inst.need
        base = cls.base
        n_levels = len(levels)
        met: dict[Pattern, float] = {}
        steps = 0
        for seed in seeds:
            current = list(seed)
            value = self.cost(c, tuple(current)) - sum(prices[t] for t in current) - mu
            while True:
                steps += 1
                inside = set(current)
                outside = [u for u in cls.talks if u not in inside]
                k = len(current)
                # Rooms to spare at each level, and the speakers already in the pattern: which
                # changes keep it seatable is known without building them.
                spare = list(levels)
                busy = 0
                for t in current:
                    busy |= speakers[t]
                    for j in range(need[t], n_levels):
                        spare[j] -= 1
                spare_from = list(spare)
                for j in range(n_levels - 2, -1, -1):
                    spare_from[j] = min(spare_from[j], spare_from[j + 1])
                # Unions of the talks before and after each position, with the pinned ones.
                before = [base] * (k + 1)
                for i, t in enumerate(current):
                    before[i + 1] = before[i] | masks[t]
                after = [base] * (k + 1)
                for i in range(k - 1, -1, -1):
                    after[i] = after[i + 1] | masks[current[i]]
                best = (value - EPSILON, -2, -2)
                union = before[k]
                for u in outside:
                    v = value + (masks[u] & union).bit_count() - prices[u]
                    if v < best[0] and spare_from[need[u]] > 0 and not busy & speakers[u]:
                        best = (v, -1, u)
                for i, t in enumerate(current):
                    rest = before[i] | after[i + 1]
                    without = value - (masks[t] & rest).bit_count() + prices[t]
                    if without < best[0] and k > 1:
                        best = (without, t, -1)
                    others = busy ^ speakers[t]
                    nt = need[t]
                    for u in outside:
                        v = without + (masks[u] & rest).bit_count() - prices[u]
                        if v < best[0] and not others & speakers[u]:
                            nu = need[u]
                            if nu >= nt or min(spare[nu:nt]) > 0:
                                best = (v, t, u)
                v, t, u = best
                if t == -2:
                    break
                current = [x for x in current if x != t] + ([u] if u >= 0 else [])
                value = v
                if value < -EPSILON:
                    met[tuple(sorted(current))] = value
        ranked = sorted(met.items(), key=lambda pair: (pair[1], pair[0]))[:KEEP_PER_PRICING]
        return [(v, talks) for talks, v in reversed(ranked)], steps

    def _search(self, c: int, prices: list[float], mu: float, budget: int, deadline: float,
                keep_going: Callable[[], bool],
                below: float | None = None) -> tuple[list[tuple[float, Pattern]], int, str]:
        """Branch and bound over the patterns of class c, by reduced cost: missed talks minus the
        prices of its talks minus ``mu``, the class's price.

        Talks are tried in order of room level; what the talks still to come could take off is
        bounded by the largest prices among them, each net of the missed talks it would add to
        what is chosen so far (which only grows deeper down), as many as there are rooms left.

        Pricing (``below`` None): looks for the lowest, and stops at the ENOUGH-th improvement;
        returns the best KEEP_PER_PRICING patterns below -EPSILON that it met, best last.
        Listing (``below`` a threshold): returns every pattern whose reduced cost is at most
        ``below``, unless there are more than MAX_LADDER_PATTERNS ("enough").
        Also returns the nodes searched and "done" when the search was complete, else why it
        stopped: "enough", "budget", "deadline" or "stopped"."""
        inst = self.inst
        levels = self.classes[c].levels
        n_levels = len(levels)
        talks = sorted(self.classes[c].talks, key=lambda t: (inst.need[t], -prices[t], t))
        n = len(talks)
        masks = [inst.masks[t] for t in talks]
        speakers = [inst.speaker_masks[t] for t in talks]
        need = [inst.need[t] for t in talks]
        price = [prices[t] for t in talks]
        listing = below is not None
        # start_of[j]: the first talk of level j or more (n when none).
        start_of = [next((i for i in range(n) if need[i] >= j), n) for j in range(n_levels + 1)]
        counts = [0] * n_levels
        chosen: list[int] = []
        met: list[tuple[float, Pattern]] = []
        # Pricing prunes what cannot beat the best so far; listing what cannot reach the threshold.
        best = [below if listing else -EPSILON]
        spent = [0]
        improved = [0]
        stop = [""]

        def search(first: int, union: int, busy: int, value: float, room: int) -> None:
            spent[0] += 1
            if spent[0] > budget:
                stop[0] = "budget"
            elif not spent[0] % CHECK_NODES:
                if time.monotonic() > deadline:
                    stop[0] = "deadline"
                elif not keep_going():
                    stop[0] = "stopped"
            if stop[0]:
                return
            # Talks are sorted by level, and the rooms left admit exactly the talks from some
            # level on (nested rooms): start there, so that talks that no longer fit neither
            # cost time nor inflate the bound below.
            j = n_levels - 1
            while j >= 0 and counts[j] < levels[j]:
                j -= 1
            first = max(first, start_of[j + 1])
            if busy:
                gains = [price[i] - (masks[i] & union).bit_count() if not busy & speakers[i] else EXCLUDED
                         for i in range(first, n)]
            else:
                gains = [price[i] - (masks[i] & union).bit_count() for i in range(first, n)]
            # reach[i]: the sum of the `room` largest positive gains among gains[i:].
            reach = [0.0] * (len(gains) + 1)
            top: list[float] = []
            for i in range(len(gains) - 1, -1, -1):
                g = gains[i]
                if g > 0 and (len(top) < room or g > top[0]):
                    if len(top) == room:
                        top.pop(0)
                    k = 0
                    while k < len(top) and top[k] < g:
                        k += 1
                    top.insert(k, g)
                reach[i] = sum(top)
            for i, g in enumerate(gains):
                floor = value - reach[i]
                if floor > best[0] or (not listing and floor >= best[0]):
                    return
                if listing:
                    # A talk that costs more than it brings may still be in a listed pattern,
                    # unless the talks after it cannot make up for it.
                    if value - g - reach[i + 1] > best[0]:
                        continue
                elif g <= 0:
                    # It cannot lead to the lowest: whatever follows gains no more without it.
                    continue
                x = first + i
                now = value - g
                for j in range(need[x], n_levels):
                    counts[j] += 1
                chosen.append(talks[x])
                if listing:
                    if now <= best[0]:
                        met.append((now, tuple(sorted(chosen))))
                        if len(met) > MAX_LADDER_PATTERNS:
                            stop[0] = "enough"
                elif now < -EPSILON:
                    met.append((now, tuple(sorted(chosen))))
                    if now < best[0]:
                        best[0] = now
                        improved[0] += 1
                        if improved[0] >= ENOUGH:
                            stop[0] = "enough"
                if room > 1:
                    search(x + 1, union | masks[x], busy | speakers[x], now, room - 1)
                chosen.pop()
                for j in range(need[x], n_levels):
                    counts[j] -= 1
                if stop[0]:
                    return

        rooms = levels[-1] if levels else 0
        if rooms > 0 and n:
            search(0, self.classes[c].base, 0, -mu, rooms)
        if listing:
            return met, spent[0], stop[0] or "done"
        met.sort(key=lambda pair: pair[0])
        return met[:KEEP_PER_PRICING][::-1], spent[0], stop[0] or "done"

    # -- the optimum -----------------------------------------------------------------------------
    def ladder(self, upper: int, node_budget: int, work: float | None, deadline: float,
               keep_going: Callable[[], bool]) -> LadderOutcome:
        """From the proven bound up to ``upper`` - 1 (the missed talks of the best schedule
        known), list every pattern a schedule missing that many talks could use and let CP-SAT
        find the best such schedule: none raises the bound by one, one is optimal. Stops when a
        rung lists too many patterns, or the budget, deadline or ``keep_going`` say so."""
        bound = self.proven()
        if bound is None or self.prices is None or self.floor is None or self.lagrangian is None:
            return LadderOutcome(bound or 0, None, None, False, 0, 0.0, "no bound")
        if any(self.inst.spanning):
            return LadderOutcome(bound, None, None, False, 0, 0.0, "spanning talks")
        nodes = 0
        spent_work = 0.0
        while bound < upper:
            most = bound - self.forced
            listed: list[tuple[int, Pattern, float]] = []
            for c, floor in enumerate(self.floor):
                # Each slot's pattern costs, net of prices, at least its class's floor, and the
                # floors add up to the Lagrangian bound: so one pattern of a schedule missing
                # `most` talks exceeds its floor by at most `most` minus that bound.
                below = most - self.lagrangian + floor + EPSILON
                found, spent, why = self._search(c, self.prices, 0.0, node_budget - nodes, deadline, keep_going,
                                                 below=below)
                nodes += spent
                if why != "done":
                    return LadderOutcome(bound, None, None, False, nodes, spent_work,
                                         "too many patterns" if why == "enough" else why)
                listed.extend((c, talks, value - floor) for value, talks in found)
            left = None if work is None else work - spent_work
            if time.monotonic() >= deadline or (left is not None and left <= 0):
                return LadderOutcome(bound, None, None, False, nodes, spent_work, "deadline")
            # CP-SAT's time grows about with the square of the patterns listed: a rung that
            # would not finish in what is left only takes that time from the annealing.
            available = deadline - time.monotonic() if left is None else left
            if RUNG_SECONDS * (len(listed) / 1000) ** 2 > available:
                return LadderOutcome(bound, None, None, False, nodes, spent_work, "too many patterns")
            status, slot_of, used = self._solve_patterns(listed, most, most - self.lagrangian, deadline, left,
                                                         keep_going)
            spent_work += used
            if status == "infeasible":
                bound += 1
                continue
            if status in ("unknown", "feasible") and time.monotonic() >= deadline - POLL_SECONDS:
                # The clock, not the work budget, ended CP-SAT: say so (the outcome may differ
                # from run to run).
                status = "deadline"
            if slot_of is None:
                return LadderOutcome(bound, None, None, False, nodes, spent_work, status)
            missed = self.missed(slot_of)
            if status == "optimal":
                # Every schedule missing at most `most` talks was in CP-SAT's reach, and none
                # missing fewer than `bound`: this one is the best of all.
                return LadderOutcome(missed, slot_of, missed, True, nodes, spent_work, "optimal")
            return LadderOutcome(bound, slot_of, missed, False, nodes, spent_work, status)
        return LadderOutcome(bound, None, None, False, nodes, spent_work, "reached the best known")

    def missed(self, slot_of: list[int]) -> int:
        """Missed talks of a schedule of floating talks only."""
        return self.forced + sum(self.cost(self.class_of[s], talks)
                                 for s, talks in enumerate(self._held(slot_of)) if self.class_of[s] >= 0)

    def _solve_patterns(self, listed: list[tuple[int, Pattern, float]], most: int, gap: float, deadline: float,
                        work: float | None, keep_going: Callable[[], bool]) -> tuple[str, list[int] | None, float]:
        """The best schedule whose slots hold patterns of ``listed`` and which misses at most
        ``most`` talks beside those forced by pinned and fixed sessions. Slots alike share their
        patterns (interchangeable slots would otherwise multiply CP-SAT's search); when the
        patterns chosen cannot be given slots where all their talks are available, the same
        question is asked slot by slot. Returns (status: "optimal", "infeasible", "feasible" or
        "unknown"; slot per movable talk or None; CP-SAT's deterministic time spent)."""
        status, chosen, used = self._partition(listed, most, gap, deadline, work, keep_going, by_slot=False)
        if status not in ("optimal", "feasible"):
            return status, None, used
        slot_of = self._give_slots(chosen)
        if slot_of is not None:
            return status, slot_of, used
        left = None if work is None else max(0.0, work - used)
        status, chosen, more = self._partition(listed, most, gap, deadline, left, keep_going, by_slot=True)
        used += more
        if status not in ("optimal", "feasible"):
            return status, None, used
        slot_of = [-1] * self.inst.n_talks
        for s, talks in chosen:
            for t in talks:
                slot_of[t] = s
        return status, slot_of, used

    def _partition(self, listed: list[tuple[int, Pattern, float]], most: int, gap: float, deadline: float,
                   work: float | None, keep_going: Callable[[], bool], by_slot: bool) -> tuple[str, list, float]:
        from ortools.sat.python import cp_model

        inst = self.inst
        model = cp_model.CpModel()
        per_talk: dict[int, list] = {t: [] for t in self.floating}
        per_group: dict[int, list] = {}
        terms = []
        excess = []
        choices = []
        for c, talks, above in listed:
            if not talks:
                continue
            cost = self.cost(c, talks)
            if by_slot:
                places = [s for s in self.classes[c].slots if all(s in inst.allowed_sets[t] for t in talks)]
            else:
                places = [c]
            for place in places:
                literal = model.new_bool_var("")
                choices.append((literal, place, c, talks))
                per_group.setdefault(place, []).append(literal)
                for t in talks:
                    per_talk[t].append(literal)
                terms.append(cost * literal)
                excess.append(math.floor(above * EXCESS_SCALE) * literal)
        for literals in per_talk.values():
            model.add_exactly_one(literals)
        for place, literals in per_group.items():
            limit = 1 if by_slot else len(self.classes[place].slots)
            if len(literals) > limit:
                model.add(sum(literals) <= limit)
        total = sum(terms)
        model.add(total <= most)
        # The same limit seen through the prices: the patterns' costs above their floors add up
        # to at most `gap`. Implied for the linear relaxation, but CP-SAT propagates it pattern
        # by pattern, which the raw costs cannot do (rounded down, so it stays valid).
        model.add(sum(excess) <= math.floor((gap + len(self.inst.slots) * EPSILON) * EXCESS_SCALE))
        model.minimize(total)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        # The linear relaxation of set partitioning is what makes this quick: use it fully.
        solver.parameters.linearization_level = 2
        solver.parameters.max_time_in_seconds = max(0.0, deadline - time.monotonic())
        if work is not None:
            solver.parameters.max_deterministic_time = max(0.0, work)
        outcome: dict[str, int] = {}
        thread = threading.Thread(target=lambda: outcome.setdefault("status", solver.solve(model)), daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(POLL_SECONDS)
            if thread.is_alive() and not keep_going():
                solver.stop_search()
                thread.join()
        status = outcome.get("status", cp_model.UNKNOWN)
        used = solver.deterministic_time
        if status == cp_model.INFEASIBLE:
            return "infeasible", [], used
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return "unknown", [], used
        chosen = [(place, talks) if by_slot else (c, talks)
                  for literal, place, c, talks in choices if solver.boolean_value(literal)]
        return ("optimal" if status == cp_model.OPTIMAL else "feasible"), chosen, used

    def _give_slots(self, chosen: list[tuple[int, Pattern]]) -> list[int] | None:
        """Give each chosen (class, pattern) a slot of its class where all its talks are
        available; None when it cannot."""
        inst = self.inst
        slot_of = [-1] * inst.n_talks
        for c, cls in enumerate(self.classes):
            patterns = [talks for cc, talks in chosen if cc == c]
            fits = [[s for s in cls.slots if all(s in inst.allowed_sets[t] for t in talks)] for talks in patterns]
            holder = match(fits)
            if holder is None:
                return None
            for s, p in holder.items():
                for t in patterns[p]:
                    slot_of[t] = s
        return slot_of


def match(fits: list[list[int]]) -> dict[int, int] | None:
    """A matching of every row into one of its columns ``fits[row]`` (augmenting paths, in a
    fixed order), as column -> row; None when there is none."""
    holder: dict[int, int] = {}

    def augment(row: int, seen: set[int]) -> bool:
        for column in fits[row]:
            if column in seen:
                continue
            seen.add(column)
            if column not in holder or augment(holder[column], seen):
                holder[column] = row
                return True
        return False

    for row in range(len(fits)):
        if not augment(row, set()):
            return None
    return holder
