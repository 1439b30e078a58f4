"""A proven lower bound on missed talks (and, on small instances, the optimum) from CP-SAT.

The model is exact for the hard rules: a boolean per talk and slot it may start in (per room as
well for a spanning talk, which holds one room over its run); at most the free rooms of each
level per slot (Hall's condition for nested room sizes, see :mod:`.instance`, so any solution
can be seated); a spanning talk's room taken once per slot; a speaker in at most one talk per
slot. For each voter and slot where they could want two sessions, ``missed[v, s] >= wanted - 1``;
the objective is the sum of those. Whatever the solver proves about that objective holds for
every schedule that the search could return, so its best bound is the ``bound`` the organizer
sees, and a schedule that reaches it is optimal.

When the search had to leave talks unplaced or let some into rooms too small for them, the model
may do the same (any of them), but a talk left out weighs more than every talk over capacity
together, and one over capacity more than every missed talk together: it then looks for a
schedule better on those counts too, and its bound on missed talks holds for every schedule at
least as good on them.

CP-SAT runs in a thread of its own (it releases the interpreter while it searches), so that the
caller's thread can report progress and stop it promptly. With a work budget it runs one worker
under a deterministic time limit, which makes its outcome the same on any machine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from .instance import Instance

#: Above these sizes the model is not even built: CP-SAT proves nothing useful within seconds
#: there, and building it would eat the search's time.
MAX_PLACEMENT_VARIABLES = 3000
MAX_VOTER_SLOT_PAIRS = 6000
#: How often the caller's thread looks at the clock and the stop request while CP-SAT runs.
POLL_SECONDS = 0.05


@dataclass
class ExactOutcome:
    """What CP-SAT proved and found: ``bound`` on missed talks (None when nothing was proved),
    ``optimal`` when the search completed, and the best schedule found (``slot_of``, ``room_of``
    per movable talk, ``over`` the talks it let into rooms below their level, and its ``missed``
    talks), if any."""

    bound: int | None
    optimal: bool
    missed: int | None
    slot_of: list[int] | None
    room_of: list[int] | None
    over: set[int]
    status: str
    wall_time: float = 0.0


def small_enough(inst: Instance) -> bool:
    """True when the model is worth building (see MAX_PLACEMENT_VARIABLES)."""
    placements = sum(len(options) if inst.spanning[t] else len(inst.allowed[t])
                     for t, options in enumerate(inst.options))
    return 0 < placements <= MAX_PLACEMENT_VARIABLES and inst.n_voters * inst.n_slots <= MAX_VOTER_SLOT_PAIRS


def solve_exact(inst: Instance, *, placed: int, over_capacity: int, hint: tuple[list[int], list[int], set[int]],
                seconds: float, work: float | None, keep_going: Callable[[], bool],
                known_bound: int | None = None) -> ExactOutcome:
    """Look with CP-SAT for the schedule placing the most talks, then with the fewest in rooms below
    their level (not counting those no room seats), then with the fewest missed talks, among those
    at least as good on the first two counts as one placing ``placed`` talks with ``over_capacity``
    of them too big for their rooms.

    ``hint`` is the search's schedule (slot per talk, room per spanning talk, talks it let into
    smaller rooms), given as a starting solution. ``seconds`` limits the wall-clock time; ``work``,
    when given, the deterministic time, which makes the outcome reproducible unless ``seconds``
    cuts in first. ``keep_going`` is asked every
    POLL_SECONDS; when it returns False the search stops and what it has is returned.
    ``known_bound``, a bound on missed talks already proven for the schedules placing every talk
    with none over capacity (:mod:`.columns`), is only given when those are the schedules
    sought; CP-SAT then starts from it instead of proving it again.
    """
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    n_levels = inst.n_levels
    occupying: dict[tuple[int, int], list] = {}
    choices: list[list[tuple[object, int, int, bool]]] = []  # per talk: (literal, room, slot, over)
    may_leave = placed < inst.n_talks
    # A schedule placing more talks may need more of them over capacity.
    may_overflow = over_capacity > 0 or may_leave
    per_level: dict[tuple[int, int], list] = {}
    per_cell: dict[tuple[int, int], list] = {}
    overflowing = []
    for t in range(inst.n_talks):
        own = []
        need = inst.need[t]
        if inst.spanning[t]:
            for r, s, k in inst.options[t]:
                over = inst.room_level[r] > need
                if over and not may_overflow:
                    continue
                literal = model.new_bool_var("")
                own.append((literal, r, s, over))
                for x in range(s, s + k):
                    occupying.setdefault((t, x), []).append(literal)
                    per_cell.setdefault((r, x), []).append(literal)
                    for j in range(inst.room_level[r], n_levels):
                        per_level.setdefault((x, j), []).append(literal)
                if over:
                    overflowing.append(literal)
        else:
            for s in inst.allowed[t]:
                for over in (False, True) if may_overflow and need < n_levels - 1 else (False,):
                    literal = model.new_bool_var("")
                    own.append((literal, -1, s, over))
                    occupying.setdefault((t, s), []).append(literal)
                    for j in range(n_levels - 1 if over else need, n_levels):
                        per_level.setdefault((s, j), []).append(literal)
                    if over:
                        overflowing.append(literal)
        choices.append(own)
        literals = [literal for literal, _, _, _ in own]
        if may_leave:
            model.add_at_most_one(literals)
        else:
            model.add_exactly_one(literals)
    if may_leave:
        model.add(sum(literal for own in choices for literal, _, _, _ in own) >= placed)
    for (s, j), literals in per_level.items():
        model.add(sum(literals) <= inst.free_levels[s][j])
    for literals in per_cell.values():
        if len(literals) > 1:
            model.add_at_most_one(literals)
    for sp in range(len(inst.speaker_names)):
        theirs = [t for t in range(inst.n_talks) if sp in inst.speaker_sets[t]]
        if len(theirs) < 2:
            continue
        for s in range(inst.n_slots):
            literals = [literal for t in theirs for literal in occupying.get((t, s), ())]
            if len(literals) > 1:
                model.add_at_most_one(literals)

    _break_slot_symmetry(inst, choices, model)

    talks_of: list[list[int]] = [[] for _ in range(inst.n_voters)]
    for t, voters in enumerate(inst.voters):
        for v in voters:
            talks_of[v].append(t)
    forced = 0
    objective = []
    for s in range(inst.n_slots):
        counts = inst.base_counts[s]
        for v, talks in enumerate(talks_of):
            base = counts[v]
            literals = [literal for t in talks for literal in occupying.get((t, s), ())]
            if not literals:
                forced += max(0, base - 1)
                continue
            if base + len(literals) < 2:
                continue
            missed = model.new_int_var(max(0, base - 1), base + len(literals) - 1, "")
            model.add(missed >= base - 1 + sum(literals))
            objective.append(missed)
    # A talk left out, or over capacity, outweighs every missed talk together.
    over_weight = 1 + sum(len(voters) * max((k for _, _, k in inst.options[t]), default=1)
                          for t, voters in enumerate(inst.voters)) + forced
    left_weight = over_weight * (inst.n_talks + 1)
    placed_literals = [literal for own in choices for literal, _, _, _ in own]
    penalty = 0
    if may_leave:
        penalty += left_weight * (inst.n_talks - sum(placed_literals))
    if overflowing:
        penalty += over_weight * sum(overflowing)
    if known_bound is not None and not may_leave and not may_overflow:
        model.add(sum(objective) + forced >= known_bound)
    model.minimize(sum(objective) + forced + penalty)

    slot_of, room_of, over_hint = hint
    for t, own in enumerate(choices):
        for literal, r, s, over in own:
            model.add_hint(literal, slot_of[t] == s and room_of[t] == r and over == (t in over_hint))

    solver = cp_model.CpSolver()
    # One worker: the search runs beside nothing else, and one worker is deterministic.
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = max(0.0, seconds)
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
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ExactOutcome(None, False, None, None, None, set(), solver.status_name(status), solver.wall_time)
    found_slot = [-1] * inst.n_talks
    found_room = [-1] * inst.n_talks
    found_over: set[int] = set()
    for t, own in enumerate(choices):
        for literal, r, s, over in own:
            if solver.boolean_value(literal):
                found_slot[t], found_room[t] = s, r
                if over:
                    found_over.add(t)
    # What the bound says about missed talks for schedules no worse on the other two counts.
    left, over = inst.n_talks - placed, over_capacity
    bound = max(0, int(round(solver.best_objective_bound)) - left_weight * left * may_leave - over_weight * over)
    found_missed = int(round(solver.objective_value))
    found_missed -= left_weight * found_slot.count(-1) * may_leave + over_weight * len(found_over)
    return ExactOutcome(bound, status == cp_model.OPTIMAL, found_missed, found_slot,
                        found_room, found_over, solver.status_name(status), solver.wall_time)


def _break_slot_symmetry(inst: Instance, choices: list, model) -> None:
    """Slots that nothing tells apart (same free rooms, usable by the same talks, no pinned or
    fixed session, no spanning talk anywhere) can be renumbered freely, so every schedule has a
    twin in which they are used in the order of the talks (most demanding first): talk number k
    of that order then sits in one of the first k + 1 of them. Saying so spares CP-SAT from
    proving the same thing once per renumbering."""
    if any(inst.spanning):
        return
    classes: dict[tuple, list[int]] = {}
    for s in range(inst.n_slots):
        if any(inst.base_counts[s]) or not inst.free_rooms[s]:
            continue
        signature = (tuple(inst.free_levels[s]), tuple(s in allowed for allowed in inst.allowed_sets),
                     inst.slots[s].length)
        classes.setdefault(signature, []).append(s)
    order = sorted(range(inst.n_talks), key=lambda t: (inst.need[t], -inst.demand[t], t))
    for slots in classes.values():
        if len(slots) < 2:
            continue
        rank = {s: i for i, s in enumerate(slots)}
        users = [t for t in order if slots[0] in inst.allowed_sets[t]]
        for k, t in enumerate(users[: len(slots)]):
            for literal, _, s, _ in choices[t]:
                if rank.get(s, -1) > k:
                    model.add(literal == 0)
