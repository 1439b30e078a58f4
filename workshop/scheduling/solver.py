"""The auto-scheduler's entry points: :func:`solve` and the :func:`greedy_schedule` seed alone."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable

from .bounds import lower_bound
from .columns import Columns, applicable
from .exact import small_enough, solve_exact
from .instance import Instance, build_instance
from .model import Placement, Problem, Progress, Result, evaluate
from .rooms import assign_rooms
from .search import Cooling, Snapshot, State, anneal, greedy, polish

#: Temperatures of the annealing: a worsening by one missed talk is accepted about one time in
#: three at the start and one time in 270 000 at the end.
T_START = 1.0
T_END = 0.08
#: The annealing's cycles: share of its time (or steps) and starting temperature. The first
#: starts from the greedy (or CP-SAT's) schedule; each later one restarts from the best schedule
#: so far, reheated, to leave the valley the first cooling settled in.
CYCLES = ((0.6, T_START), (0.2, T_START / 2), (0.2, T_START / 2))
#: ... but only when each cycle has the steps to settle, about this many times the square of the
#: movable talks (measured: 40 talks settle within 300 000 steps); otherwise one long cooling
#: does better (on 400 talks and ten seconds, three cycles missed 12% more talks than one).
SETTLE_STEPS_PER_TALK_SQUARED = 1500
#: Annealing steps per second on a modest machine, for that decision when only time is given
#: (each step costs more with more voters: the bit masks grow).
STEPS_PER_SECOND = 1.0e6
STEPS_PER_SECOND_VOTERS = 3000
#: Share of the time limit the annealing may use, up to which point it cools; the polish and the
#: bookkeeping get the rest.
SEARCH_SHARE = 0.9
#: Share of the time limit CP-SAT gets for the bound, when the instance is small enough
#: (:func:`.exact.small_enough`); it stops sooner when it proves the optimum.
EXACT_SHARE = 0.3
#: Shares of the time limit, from the start, by which the bound from slot contents
#: (:mod:`.columns`) must be done, and then its ladder towards the optimum; the annealing gets
#: what they leave. On the benchmark's instances of 30 to 60 talks both together take 0.5 to 5
#: seconds and end with a proven optimum.
COLUMNS_SHARE = 0.35
LADDER_SHARE = 0.6
#: With a step budget, the pricing search nodes per annealing step (a node costs about as much
#: as fifteen steps, so the bound gets about as much time as the annealing would).
NODES_PER_STEP = 0.05
#: With a step budget, CP-SAT's deterministic time per annealing step (a step is about a
#: microsecond, a unit of deterministic time about a second on a modest machine), at the same
#: ratio to the annealing as EXACT_SHARE.
WORK_PER_STEP = 1e-6 * EXACT_SHARE / (SEARCH_SHARE - EXACT_SHARE)
#: Polish steps per movable talk (it only looks for rooms that suit better, and settles fast).
POLISH_STEPS_PER_TALK = 300
#: Seconds between two calls of the ``progress`` callback.
REPORT_EVERY = 0.5

ProgressCallback = Callable[[Progress], "bool | None"]

#: A work budget that never binds (the clock does).
_UNLIMITED = 1 << 62


class Watcher:
    """Calls ``progress`` at most every REPORT_EVERY seconds and asks ``should_stop``; remembers
    whether either asked to stop."""

    def __init__(self, inst: Instance, started: float, time_limit: float,
                 progress: ProgressCallback | None, should_stop: Callable[[], bool] | None) -> None:
        self.inst = inst
        self.started = started
        self.time_limit = time_limit
        self.progress = progress
        self.should_stop = should_stop
        self.last = started
        self.cancelled = False
        self.phase = "greedy"
        self.bound: int | None = None
        self.optimal = False
        self.need: list[int] = list(inst.need)

    def __call__(self, best_missed: int, best: Callable[[], Snapshot]) -> bool:
        if self.cancelled:
            return False
        if self.should_stop is not None and self.should_stop():
            self.cancelled = True
            return False
        now = time.monotonic()
        if self.progress is not None and now - self.last >= REPORT_EVERY:
            self.last = now
            if self.report(best()) is False:
                self.cancelled = True
                return False
        return True

    def report(self, snapshot: Snapshot, optimal: bool = False) -> bool | None:
        if self.progress is None:
            return True
        inst = self.inst
        state = State(inst, self.need)
        state.load(snapshot)
        unplaced = state.unplaced()
        over = len(_over_capacity(inst, state, schedule_placements(inst, state)))
        elapsed = time.monotonic() - self.started
        return self.progress(Progress(
            missed=state.missed, clashes=state.clashes(), over_capacity=over,
            unplaced=len(unplaced) + len(inst.static_unplaced), bound=self.bound, optimal=optimal or self.optimal,
            elapsed=elapsed, remaining=max(0.0, self.time_limit - elapsed), phase=self.phase))


def solve(problem: Problem, time_limit: float = 10.0, seed: int = 0, *, steps: int | None = None,
          progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None) -> Result:
    """Place every talk that is neither pinned nor fixed, missing as few wanted talks as possible.

    Hard rules: one session per room and slot (a long talk holds its room over consecutive
    slots); no speaker in two talks at once; no talk when its speakers are unavailable, in a
    break or in a closed slot; pinned and fixed placements stay; every talk in a room that seats
    its demand, unless no schedule can give it one (it is then placed all the same and named in
    ``Result.over_capacity``). The objective, in order: place as many talks as possible, with as
    few over capacity as possible; then fewest missed talks; then fewest closed-door misses; then
    least overflow.

    With ``steps``, the annealing runs exactly that many steps and the same problem and seed give
    the same schedule in any process (unless ``time_limit`` cuts the run short, which
    ``Result.stopped_by_time`` reports). Without it, the annealing cools over the time limit by
    the clock, so a run always ends cooled, however fast the machine.

    ``progress`` is called at most every half second with a :class:`Progress`; when it returns
    False, or ``should_stop()`` returns True, the solver stops within a few milliseconds and
    returns the best schedule found so far (``Result.cancelled``).
    Never raises for an infeasible problem: what cannot be placed is listed in ``unplaced``.
    """
    started = time.monotonic()
    deadline = started + time_limit
    inst = build_instance(problem)
    rng = random.Random(seed)
    watcher = Watcher(inst, started, time_limit, progress, should_stop)
    method = ["greedy"]

    state = greedy(inst)
    watcher.need = state.need
    left_out = len(state.unplaced())
    bound, bound_note = lower_bound(inst, left_out)
    watcher.bound = bound
    iterations = 0
    stopped_by_time = False
    optimal = _reaches(state, bound)
    work = None if steps is None else max(0, steps) * WORK_PER_STEP
    columns_bound = None
    laddered = False

    if not optimal and applicable(inst, state.slot_of, state.need) and watcher(state.missed, state.snapshot):
        watcher.phase = "bound"
        columns = Columns(inst)
        columns.add_schedule(state.slot_of)
        nodes = None if steps is None else int(max(0, steps) * NODES_PER_STEP)
        keep_going = lambda: watcher(state.missed, state.snapshot)  # noqa: E731
        relaxed = columns.bound(_UNLIMITED if nodes is None else nodes, started + time_limit * COLUMNS_SHARE,
                                keep_going)
        method.append("column generation")
        stopped_by_time |= steps is not None and relaxed.why == "deadline"
        if relaxed.bound is not None:
            columns_bound = relaxed.bound
            if relaxed.bound > bound:
                bound = relaxed.bound
                bound_note = ("proven by the linear relaxation over what each slot can hold (column generation), for "
                              "any schedule placing every talk in a room that seats it")
                watcher.bound = bound
        optimal = _reaches(state, bound)
        if not optimal and relaxed.bound is not None and not watcher.cancelled:
            watcher.phase = "exact"
            ladder = columns.ladder(state.missed, _UNLIMITED if nodes is None else max(0, nodes - relaxed.nodes),
                                    work, started + time_limit * LADDER_SHARE, keep_going)
            laddered = ladder.why not in ("spanning talks", "no bound")
            if laddered:
                method.append("CP-SAT over slot contents")
            stopped_by_time |= steps is not None and ladder.why == "deadline"
            if ladder.slot_of is not None and ladder.missed is not None and ladder.missed < state.missed:
                state.load((ladder.slot_of, [-1] * inst.n_talks))
            if ladder.bound > bound:
                bound = ladder.bound
                columns_bound = bound
                bound_note = ("proven by trying, with CP-SAT, every combination of slot contents that the linear "
                              "relaxation over them leaves possible for a schedule missing fewer talks")
                watcher.bound = bound
            optimal = _reaches(state, bound)
            if optimal:
                bound_note = ("proven optimal: the linear relaxation over what each slot can hold, and CP-SAT over "
                              "every combination of slot contents it leaves possible, rule out anything better")

    # The model over (talk, slot) pairs, when the ladder could not run (talks spanning slots,
    # talks left out or in smaller rooms): its bound is weak but it settles tiny instances.
    if (not optimal and not laddered and small_enough(inst) and not watcher.cancelled
            and watcher(state.missed, state.snapshot)):
        watcher.phase = "bound"
        demoted = {t for t in range(inst.n_talks) if state.need[t] != inst.need[t]}
        share = EXACT_SHARE if columns_bound is None else LADDER_SHARE
        seconds = max(0.0, started + time_limit * share - time.monotonic())
        exact = solve_exact(inst, placed=inst.n_talks - left_out, over_capacity=len(demoted),
                            hint=(state.slot_of, state.room_of, demoted), seconds=seconds, work=work,
                            keep_going=lambda: watcher(state.missed, state.snapshot), known_bound=columns_bound)
        method.append("CP-SAT")
        # With a work budget, CP-SAT's wall-clock limit should never be what stops it.
        stopped_by_time |= steps is not None and exact.wall_time >= seconds and not exact.optimal
        if exact.bound is not None and exact.bound > bound:
            bound = exact.bound
            bound_note = "proven by CP-SAT for any schedule placing as many talks, with no more over capacity"
            watcher.bound = bound
        demoted_found = len(exact.over)
        if exact.slot_of is not None and exact.room_of is not None and exact.missed is not None and (
                exact.slot_of.count(-1), demoted_found, exact.missed) < (left_out, len(demoted), state.missed):
            need = list(inst.need)
            for t in exact.over:
                need[t] = inst.n_levels - 1 if exact.room_of[t] < 0 else inst.room_level[exact.room_of[t]]
            state.load((exact.slot_of, exact.room_of), need)
            watcher.need = state.need
            left_out = len(state.unplaced())
        if exact.optimal:
            bound = state.missed
            optimal = True
            bound_note = "proven optimal by CP-SAT"

    if not optimal and not watcher.cancelled and watcher(state.missed, state.snapshot):
        watcher.phase = "annealing"
        search_ends = started + time_limit * SEARCH_SHARE
        now = time.monotonic()
        budget = None if steps is None else max(0, steps)
        if budget is not None:
            available = budget
        else:
            available = (search_ends - now) * STEPS_PER_SECOND / (1 + inst.n_voters / STEPS_PER_SECOND_VOTERS)
        settle = SETTLE_STEPS_PER_TALK_SQUARED * inst.n_talks ** 2
        cycles = CYCLES if available * min(share for share, _ in CYCLES) >= settle else ((1.0, T_START),)
        for cycle, (share, t_start) in enumerate(cycles):
            # Each cycle ends at its share of what is left of the search's time (or steps).
            until = now + (search_ends - now) * sum(s for s, _ in cycles[: cycle + 1])
            cycle_steps = None if budget is None else int(budget * share)
            if cycle:
                watcher.phase = "annealing, restarted from the best"
            cooling = Cooling(t_start, T_END, until, cycle_steps)
            best, best_missed, done, reason = anneal(state, rng, cooling, bound, deadline, watcher)
            state.load(best)
            iterations += done
            stopped_by_time |= cooling.switched
            if reason in ("target", "stopped", "deadline"):
                break
        method.append("simulated annealing")

    promote(state)
    if not optimal and _reaches(state, bound):
        optimal = True
        bound_note = "the schedule reaches the lower bound, so it is optimal"
    watcher.optimal = optimal

    if not watcher.cancelled:
        watcher.phase = "rooms"
        done, reason = polish(state, rng, POLISH_STEPS_PER_TALK * inst.n_talks, deadline,
                              lambda: watcher(state.missed, state.snapshot))
        iterations += done
        stopped_by_time |= reason == "deadline" and steps is not None

    return _result(problem, inst, state, bound, bound_note, optimal, " + ".join(method), started, seed,
                   iterations, stopped_by_time, watcher.cancelled)


def greedy_schedule(problem: Problem) -> Result:
    """The greedy seed alone (hardest talks first, each where it adds the fewest missed talks,
    then ejection-chain repair and the room matching)."""
    started = time.monotonic()
    inst = build_instance(problem)
    state = greedy(inst)
    left_out = len(state.unplaced())
    bound, bound_note = lower_bound(inst, left_out)
    optimal = _reaches(state, bound)
    if optimal:
        bound_note = "the schedule reaches the lower bound, so it is optimal"
    return _result(problem, inst, state, bound, bound_note, optimal, "greedy", started, 0, 0, False, False)


def _reaches(state: State, bound: int) -> bool:
    """True when the schedule is proven optimal by a bound on missed talks: every movable talk is
    placed in a room that seats it (or in a biggest room) and no more are missed than the bound."""
    inst = state.inst
    return (state.missed <= bound and -1 not in state.slot_of
            and all(need == own for need, own in zip(state.need, inst.need)))


def promote(state: State) -> None:
    """Give back its own room level to each talk that the repair let into smaller rooms, where its
    slot now has a room to spare at that level."""
    inst = state.inst
    for t, s in enumerate(state.slot_of):
        if s < 0 or inst.spanning[t] or state.need[t] == inst.need[t]:
            continue
        state.remove(t)
        wider = state.need[t]
        state.need[t] = inst.need[t]
        if not state.fits(t, s):
            state.need[t] = wider
        state.place(t, s)


def schedule_placements(inst: Instance, state: State) -> list[Placement]:
    """Pinned and fixed placements as given, spanning talks in their rooms, and each slot's
    floating talks matched to the rooms left free."""
    placements = list(inst.fixed_placements)
    for t, r in enumerate(state.room_of):
        if r >= 0:
            placements.append(Placement(inst.talks[t].id, inst.room_ids[r], inst.slot_ids[state.slot_of[t]]))
    for s, slot_id in enumerate(inst.slot_ids):
        talks = sorted(state.members[s])
        if not talks:
            continue
        free = [r for r in inst.free_rooms[s] if not state.taken[r][s]]
        chosen = assign_rooms([(inst.demand[t], inst.needs_closed_door[t], state.need[t]) for t in talks],
                              [(inst.rooms[r].capacity, inst.rooms[r].closed_door, inst.room_level[r]) for r in free])
        for t, k in zip(talks, chosen):
            placements.append(Placement(inst.talks[t].id, inst.room_ids[free[k]], slot_id))
    slot_rank = {slot_id: s for s, slot_id in enumerate(inst.slot_ids)}
    room_rank = {room_id: r for r, room_id in enumerate(inst.room_ids)}
    placements.sort(key=lambda p: (slot_rank[p.slot_id], room_rank[p.room_id]))
    return placements


def _over_capacity(inst: Instance, state: State, placements: list[Placement]) -> dict[Hashable, str]:
    """Each placed talk whose room seats fewer than its demand, with the reason."""
    index = {talk.id: t for t, talk in enumerate(inst.talks)}
    talks = {talk.id: talk for talk in inst.problem.talks}
    capacity = {room.id: room.capacity for room in inst.rooms}
    over: dict[Hashable, str] = {}
    for p in placements:
        talk = talks.get(p.talk_id)
        if talk is None or p.room_id not in capacity or talk.demand <= capacity[p.room_id]:
            continue
        expected = f"{talk.demand} people are expected and {p.room_id!r} seats {capacity[p.room_id]}"
        t = index.get(p.talk_id)
        if t is None:
            over[p.talk_id] = f"{expected}; it is pinned or fixed there"
        elif inst.fits_nowhere[t]:
            over[p.talk_id] = f"{talk.demand} people are expected and no room seats that many (the largest seats " \
                              f"{inst.levels[0]})"
        else:
            fitting = sum(1 for level in inst.room_level if level <= inst.need[t])
            over[p.talk_id] = (f"{expected}: the {fitting} room{'s' if fitting != 1 else ''} seating that many "
                               "are taken, in every slot it can use, by talks that need them as much")
    return over


def _why_unplaced(inst: Instance, state: State, t: int) -> str:
    """Explain, in an organizer's words, why talk t found no place in the final schedule."""
    usable = inst.allowed[t]
    for sp in inst.speakers[t]:
        theirs = [x for x in range(inst.n_talks) if sp in inst.speaker_sets[x]]
        slots = {s for x in theirs for s in inst.allowed[x]}
        if len(theirs) > len(slots):
            return (f"speaker {inst.speaker_names[sp]!r} has {len(theirs)} talks to place but only {len(slots)} "
                    f"slots they can speak in")
    if inst.spanning[t]:
        return (f"no free room for {inst.talks[t].length} minutes in a row: of the {len(usable)} slots it could "
                "start in, none has one room free for its whole length")
    full = sum(1 for s in usable if min(state.slack[s]) <= 0)
    busy = len(usable) - full
    parts = []
    if full:
        parts.append(f"{full} have every room taken")
    if busy:
        parts.append(f"{busy} already have one of its speakers in another talk")
    reason = f"no free room: of the {len(usable)} slots it can use, " + " and ".join(parts)
    rooms = sum(len(free) for free in inst.free_rooms)
    if inst.n_talks > rooms:
        reason = f"there are more talks to place ({inst.n_talks}) than free rooms in all slots ({rooms}); " + reason
    return reason


def _result(problem: Problem, inst: Instance, state: State, bound: int, bound_note: str, optimal: bool,
            method: str, started: float, seed: int, iterations: int, stopped_by_time: bool,
            cancelled: bool) -> Result:
    placements = schedule_placements(inst, state)
    unplaced: dict[Hashable, str] = dict(inst.static_unplaced)
    for t in state.unplaced():
        unplaced[inst.talks[t].id] = _why_unplaced(inst, state, t)
    over = _over_capacity(inst, state, placements)
    figures = evaluate(problem, placements)
    return Result(
        placements=placements,
        unplaced=unplaced,
        missed=figures.missed,
        clashes=figures.clashes,
        bound=bound,
        bound_note=bound_note,
        optimal=optimal,
        method=method,
        elapsed=time.monotonic() - started,
        overflow=figures.overflow,
        closed_door_violations=figures.closed_door_violations,
        over_capacity=over,
        seed=seed,
        iterations=iterations,
        stopped_by_time=stopped_by_time,
        cancelled=cancelled,
        notes=list(inst.notes),
    )
