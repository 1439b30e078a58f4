"""The auto-scheduler's entry points: :func:`solve` and the :func:`greedy_schedule` baseline."""

from __future__ import annotations

import random
import time
from collections.abc import Hashable

from .bounds import lower_bound
from .exact import branch_and_bound
from .instance import Instance, build_instance
from .model import Placement, Problem, Result, evaluate
from .rooms import assign_rooms
from .search import State, anneal, greedy, polish

#: Seconds per annealing step: a fixed part plus a part per voter (the bit masks grow with the
#: number of voters), measured on a modest two-core machine and rounded up, so that the planned
#: steps fit well inside the time limit.
STEP_SECONDS = 1.0e-6
STEP_SECONDS_PER_VOTER = 0.3e-9
#: Seconds per branch-and-bound node, per movable talk and slot (each node looks at every
#: remaining talk's usable slots), measured the same way.
NODE_SECONDS_PER_TALK_SLOT = 0.18e-6
#: Shares of the time limit planned for the annealing plus the exact search, and for the polish;
#: the rest is slack for slower machines.
SEARCH_SHARE = 0.75
POLISH_SHARE = 0.05
#: Annealing steps are capped at this many times the square of the number of movable talks:
#: on small instances more steps were measured to buy nothing (40 talks settled within 300 000
#: steps), and the time left goes to the exact search instead.
STEPS_PER_TALK_SQUARED = 1500
#: Share of the search time the exact search gets at least, when the instance is small enough
#: to try it at all: up to about 20 talks it was measured to finish within a few seconds, beyond
#: 24 it did not finish in a minute.
EXACT_SHARE = 0.15
EXACT_MAX_TALKS = 24


def step_seconds(inst: Instance) -> float:
    return STEP_SECONDS + STEP_SECONDS_PER_VOTER * inst.n_voters


def plan(inst: Instance, time_limit: float, steps: int | None = None) -> tuple[int, int, int]:
    """(annealing steps, branch-and-bound nodes, polish steps) that fit the time limit.

    The plan depends only on the instance and the limit (or the given annealing ``steps``),
    never on the clock, so a run that completes its plan gives the same schedule on any machine
    fast enough to complete it.
    """
    if inst.n_talks == 0:
        return 0, 0, 0
    step = step_seconds(inst)
    search_seconds = time_limit * SEARCH_SHARE
    exact = inst.n_talks <= EXACT_MAX_TALKS
    if steps is None:
        steps = int(search_seconds * (1 - EXACT_SHARE if exact else 1) / step)
        steps = min(steps, STEPS_PER_TALK_SQUARED * inst.n_talks ** 2)
    else:
        search_seconds = steps * step / (1 - EXACT_SHARE if exact else 1)
    nodes = 0
    if exact:
        node = NODE_SECONDS_PER_TALK_SLOT * inst.n_talks * max(1, inst.n_slots)
        nodes = max(1000, int((search_seconds - steps * step) / node))
    polish_steps = max(1000, int(search_seconds * POLISH_SHARE / SEARCH_SHARE / step))
    return steps, nodes, polish_steps


def solve(problem: Problem, time_limit: float = 10.0, seed: int = 0, *, steps: int | None = None) -> Result:
    """Place every talk that is neither pinned nor fixed, minimizing clashes.

    Hard rules: one session per room and slot; no speaker in two talks in one slot; no talk in a
    slot its speakers are unavailable; pinned and fixed placements stay. The objective, in order:
    place as many talks as possible, then fewest clashes ((voter, slot) pairs where the voter
    wants two or more of the slot's sessions), then fewest closed-door misses, then least
    overflow.

    The same problem, limit and seed give the same schedule, unless the time limit cuts the
    plan short, which ``Result.stopped_by_time`` reports. ``steps`` sets the annealing steps
    instead of deriving them from the limit (the rest of the plan scales with it); with a
    generous limit, that reproduces a schedule on any machine, however slow.
    Never raises for an infeasible problem: what cannot be placed is listed in ``unplaced``.
    """
    started = time.monotonic()
    deadline = started + time_limit * 0.97
    inst = build_instance(problem)
    rng = random.Random(seed)
    budget, node_budget, polish_budget = plan(inst, time_limit, None if steps is None else max(0, steps))
    method = ["greedy"]

    state = greedy(inst)
    left_out = len(state.unplaced())
    bound, bound_note = lower_bound(inst, left_out)
    iterations = 0
    stopped_by_time = False

    if state.missed > bound:
        best, _, done, timed_out = anneal(state, rng, budget, bound, deadline)
        state.load(best)
        iterations += done
        stopped_by_time |= timed_out
        method.append("simulated annealing")

    optimal = left_out == 0 and state.missed == bound
    if not optimal and node_budget and not stopped_by_time:
        best, missed, complete, nodes, timed_out = branch_and_bound(inst, state.slot_of, node_budget, deadline)
        iterations += nodes
        stopped_by_time |= timed_out
        method.append("branch and bound")
        if best != state.slot_of:
            state.load(best)
            if len(state.unplaced()) != left_out:
                left_out = len(state.unplaced())
                bound, bound_note = lower_bound(inst, left_out)
        if complete:
            optimal = True
            bound = missed
            bound_note = "proven optimal by exhaustive branch and bound"
        elif not timed_out:
            bound_note += "; branch and bound did not finish within its share of the time limit"
    elif optimal:
        bound_note = "the schedule reaches the lower bound, so it is optimal"

    if not stopped_by_time:
        done, timed_out = polish(state, rng, polish_budget, deadline)
        iterations += done
        stopped_by_time |= timed_out

    placements = schedule_placements(inst, state)
    unplaced = dict(inst.static_unplaced)
    for t in state.unplaced():
        unplaced[inst.talks[t].id] = _why_unplaced(inst, state, t)
    return _result(problem, inst, placements, unplaced, bound, bound_note, optimal, " + ".join(method),
                   started, seed, iterations, stopped_by_time)


def greedy_schedule(problem: Problem) -> Result:
    """The greedy seed alone (most-wanted first, each into its cheapest slot, then ejection-chain
    repair and the room matching): the baseline the benchmark compares :func:`solve` with.
    """
    started = time.monotonic()
    inst = build_instance(problem)
    state = greedy(inst)
    left_out = len(state.unplaced())
    bound, bound_note = lower_bound(inst, left_out)
    unplaced = dict(inst.static_unplaced)
    for t in state.unplaced():
        unplaced[inst.talks[t].id] = _why_unplaced(inst, state, t)
    optimal = left_out == 0 and state.missed == bound
    if optimal:
        bound_note = "the schedule reaches the lower bound, so it is optimal"
    return _result(problem, inst, schedule_placements(inst, state), unplaced, bound, bound_note, optimal, "greedy",
                   started, 0, 0, False)


def schedule_placements(inst: Instance, state: State) -> list[Placement]:
    """Pinned and fixed placements as given, plus each slot's talks matched to its free rooms."""
    placements = list(inst.fixed_placements)
    for s, slot_id in enumerate(inst.slot_ids):
        talks = sorted(state.members[s])
        free = inst.free_rooms[s]
        chosen = assign_rooms([(inst.demand[t], inst.needs_closed_door[t]) for t in talks],
                              [(inst.rooms[r].capacity, inst.rooms[r].closed_door) for r in free])
        for t, k in zip(talks, chosen):
            placements.append(Placement(inst.talks[t].id, inst.room_ids[free[k]], slot_id))
    slot_rank = {slot_id: s for s, slot_id in enumerate(inst.slot_ids)}
    room_rank = {room_id: r for r, room_id in enumerate(inst.room_ids)}
    placements.sort(key=lambda p: (slot_rank[p.slot_id], room_rank[p.room_id]))
    return placements


def _why_unplaced(inst: Instance, state: State, t: int) -> str:
    """Explain, in an organizer's words, why talk t found no place in the final schedule."""
    usable = inst.allowed[t]
    for sp in inst.speakers[t]:
        theirs = [x for x in range(inst.n_talks) if sp in inst.speaker_sets[x]]
        slots = {s for x in theirs for s in inst.allowed[x]}
        if len(theirs) > len(slots):
            return (f"speaker {inst.speaker_names[sp]!r} has {len(theirs)} talks to place but only {len(slots)} "
                    f"slots they can speak in")
    full = sum(1 for s in usable if not state.has_room(s))
    busy = len(usable) - full
    parts = []
    if full:
        parts.append(f"{full} have every room taken")
    if busy:
        parts.append(f"{busy} already have one of its speakers in another talk")
    reason = f"no place left: of the {len(usable)} slots it can use, " + " and ".join(parts)
    rooms = sum(inst.capacity)
    if inst.n_talks > rooms:
        reason = f"there are more talks to place ({inst.n_talks}) than free rooms in all slots ({rooms}); " + reason
    return reason


def _result(problem: Problem, inst: Instance, placements: list[Placement], unplaced: dict[Hashable, str],
            bound: int, bound_note: str, optimal: bool, method: str, started: float, seed: int,
            iterations: int, stopped_by_time: bool) -> Result:
    figures = evaluate(problem, placements)
    return Result(
        placements=placements,
        unplaced=unplaced,
        clashes=figures.clashes,
        missed=figures.missed,
        bound=bound,
        bound_note=bound_note,
        optimal=optimal,
        method=method,
        elapsed=time.monotonic() - started,
        overflow=figures.overflow,
        closed_door_violations=figures.closed_door_violations,
        seed=seed,
        iterations=iterations,
        stopped_by_time=stopped_by_time,
        notes=list(inst.notes),
    )
