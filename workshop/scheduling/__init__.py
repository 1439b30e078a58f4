"""The auto-scheduler: pure functions over plain data (no Flask, no database).

Interface
---------
Input, all frozen dataclasses (ids are any hashable: database ids, strings):

* ``Talk(id, speakers=frozenset(), voters=frozenset(), unavailable_slots=frozenset(),
  needs_closed_door=False)`` -- its demand is ``len(voters)``;
* ``Room(id, capacity, closed_door=False)``;
* ``Slot(id, order)`` -- ``order`` sorts slots in time;
* ``Placement(talk_id, room_id, slot_id)``;
* ``Problem(talks, rooms, slots, pinned=(), fixed=())`` -- ``talks`` includes the pinned and fixed
  ones; ``pinned`` are the organizer's pins, ``fixed`` the sessions already placed (the earlier
  blocks of an unconference). Neither ever moves; both count for clashes, block their cells and
  keep their speakers busy in their slots.

``solve(problem, time_limit=10.0, seed=0, *, steps=None) -> Result`` places every other talk.
``greedy_schedule(problem) -> Result`` is the greedy seed alone, the baseline for comparison.
``evaluate(problem, placements) -> Evaluation`` recounts any schedule's figures from scratch and
lists its hard-rule conflicts (what the schedule editor flags).

``Result`` holds ``placements`` (every session, pinned and fixed included), ``unplaced``
(talk id -> why it could not be placed), ``clashes``, ``missed``, ``bound`` and ``bound_note``,
``optimal``, ``method``, ``elapsed``, ``overflow``, ``closed_door_violations``, ``seed``,
``iterations``, ``stopped_by_time`` and ``notes`` (odd input worked around).

Rules and objective
-------------------
Hard: one session per room and slot; no speaker in two talks in the same slot; no talk in a slot
its speakers are unavailable; pinned and fixed placements stay. What cannot satisfy them is
reported in ``unplaced`` with its reason; infeasible input never raises.

Objective, in order: place as many talks as possible; then minimize **clashes**, the number of
(voter, slot) pairs in which the voter wants two or more of the sessions placed in that slot
(``missed``, reported alongside, is the sum over (voter, slot) of max(0, k - 1) for k such
sessions: how many wanted sessions people cannot attend); then minimize sessions that need a
closed door but are in an open room; then minimize **overflow**, the people beyond room capacity
summed over sessions. Closed-door misses come before overflow because a restricted talk in an
open room is a confidentiality breach, an overfull room only an inconvenience.

Method
------
Given which talks share a slot, the best room for each is a small exact assignment
(:mod:`.rooms`), so the search is over slot assignments only:

1. greedy seed: most-wanted talks first, each into the slot adding the fewest clashes; talks
   left over are placed by ejection chains (:mod:`.search`);
2. simulated annealing with moves (a talk to a free room in another slot) and swaps (two talks
   trade slots). Clashes are counted incrementally: per slot, each voter's count is kept as bit
   planes over all voters, so a proposal costs about a microsecond in pure Python and a ten
   second limit buys millions of them. One long cooling; reheats were measured and did not pay.
   It stops as soon as it reaches the lower bound;
3. branch and bound (:mod:`.exact`) on instances of up to 24 movable talks, which proves
   optimality when it completes within its share of the time;
4. a polish pass that improves closed-door misses and overflow without adding any clash.

Why: on the issue's reference size (60 talks, 6 rooms, 10 slots, 200 voters wanting 8 each) a
pairwise CP-SAT model, a HiGHS MILP and an ILP conference scheduler all ended above 300 clashes
after about two minutes, while a simple annealing reached 242 in one second; this annealing
reaches about 215 in six seconds on an instance of that size (``bench/schedule.py`` prints the
figures for every size, against the greedy seed alone). ``bound`` is proven: from pinned and
fixed sessions and per-voter counting (:mod:`.bounds`), or equal to ``clashes`` when the
exhaustive search completes. On large random instances counting proves nothing (every voter's
talks fit in distinct slots) and the bound is 0, as it was for the CP-SAT model.

Determinism
-----------
Each phase runs a step budget derived from the instance size and ``time_limit`` (or from
``steps``), not from the clock; the clock is only a safety stop. Randomness comes from
``random.Random(seed)`` and every loop runs in an order fixed by the input, so the same problem,
limit and seed give the same schedule in every process, unless ``stopped_by_time`` is set.
"""

from .model import Evaluation, Placement, Problem, Progress, Result, Room, Slot, Talk, evaluate
from .solver import greedy_schedule, solve

__all__ = [
    "Evaluation",
    "Placement",
    "Problem",
    "Progress",
    "Result",
    "Room",
    "Slot",
    "Talk",
    "evaluate",
    "greedy_schedule",
    "solve",
]
