"""The auto-scheduler: pure functions over plain data (no Flask, no database).

Interface
---------
Input, all frozen dataclasses (ids are any hashable: database ids, strings):

* ``Talk(id, speakers=frozenset(), voters=frozenset(), unavailable_slots=frozenset(),
  needs_closed_door=False, length=None, demand=None)`` -- ``length`` in minutes (None: fits any
  one slot); ``demand`` is how many people are expected, the number the room must seat (pass
  sign-ups once sign-up is open, votes before; None: the number of voters). ``voters`` are who
  want it, for missed talks, whatever the demand says;
* ``Room(id, capacity, closed_door=False)``;
* ``Slot(id, start, length=None, open=True, is_break=False)`` -- ``start`` sorts slots in time
  and, with ``length``, is in minutes from any fixed origin. A slot follows another when it
  starts where the other ends; a talk longer than its slot takes the slots that follow it, in
  one room, until their lengths add up to its own (a gap, a break or a slot without length ends
  the run). ``open=False`` closes a slot to every talk the solver places (it has started, or the
  organizer keeps it); ``is_break`` marks a slot that holds no talk;
* ``Placement(talk_id, room_id, slot_id)`` -- a long talk is placed in the slot it starts in;
* ``Problem(talks, rooms, slots, pinned=(), fixed=())`` -- ``talks`` includes the pinned and fixed
  ones; ``pinned`` are the organizer's pins, ``fixed`` the sessions already placed (the earlier
  blocks of an unconference, sessions under way). Neither ever moves, even into a closed slot;
  both count for missed talks, block their rooms and keep their speakers busy while they run.

``solve(problem, time_limit=10.0, seed=0, *, steps=None, progress=None, should_stop=None) ->
Result`` places every other talk. ``greedy_schedule(problem) -> Result`` is the greedy seed alone.
``evaluate(problem, placements) -> Evaluation`` recounts any schedule's figures from scratch and
lists its hard-rule conflicts (what the schedule editor flags).

``Result`` holds ``placements`` (every session, pinned and fixed included), ``unplaced`` (talk id
-> why it could not be placed: length, availability, closed slots, no free room...),
``over_capacity`` (talk id -> why it sits in a room too small for its demand), ``missed``,
``clashes``, ``bound`` and ``bound_note``, ``optimal``, ``method``, ``elapsed``, ``overflow``,
``closed_door_violations``, ``seed``, ``iterations``, ``stopped_by_time``, ``cancelled`` and
``notes`` (odd input worked around).

Long runs: ``progress`` is called at most every half second with a ``Progress`` (the best
schedule's missed talks, clashes, talks over capacity and unplaced; the bound once known and
whether it is reached; seconds elapsed and left; the phase). If it returns False, or
``should_stop()`` returns True, the solver stops within milliseconds (CP-SAT included) and
returns its best schedule so far with ``cancelled`` set.

Rules and objective
-------------------
Hard: one session per room and slot; no speaker in two talks at once; no talk in a slot its
speakers are unavailable, in a break or in a closed slot; a talk runs over consecutive slots of
one room for its whole length; pinned and fixed placements stay; every talk in a room that seats
its demand, whenever a schedule placing as many talks can give it one. What cannot satisfy them
is reported in ``unplaced`` or ``over_capacity`` with its reason; infeasible input never raises.

Objective, in order: place as many talks as possible; then as few as possible in rooms too small
for them; then minimize **missed talks**: for each attendee and slot holding k of the talks they
want, k - 1 are missed (a long talk counts in every slot it runs over); then minimize sessions
that need a closed door but are in an open room; then overflow (people beyond capacity). Clashes,
the (attendee, slot) pairs with k >= 2, are reported alongside. Minimizing clashes instead lets a
third and fourth wanted talk pile into a slot that already clashes; minimizing missed talks does
not.

Method
------
Given which floating talks (those that fit one slot wherever they start) share a slot, whether
rooms can seat them is one count per room level (room sizes are nested, so Hall's condition for
the matching reduces to "no more talks needing rooms of level j or bigger than there are such
rooms"), and the best rooms are a small exact assignment (:mod:`.rooms`); a talk that spans
slots holds an explicit room. So the search is over slots, with rooms checked in O(levels):

1. greedy seed: spanning talks first, then from the most demanding room level down, each where
   it adds the fewest missed talks; talks left over are placed by ejection chains, and only a
   talk that still finds no room seating it is let into smaller rooms (:mod:`.search`);
2. when every talk is placed in a room that seats it, with at most 120 talks and 6 rooms a slot
   (:func:`.columns.applicable`): a lower bound from what each slot can hold (:mod:`.columns`).
   A slot's missed talks depend only on the set of talks it holds, so a schedule is one such
   set per slot covering every talk once (set partitioning); the linear relaxation of that
   model, solved by column generation (GLOP, and a branch and bound over slot contents for the
   pricing), is within 1 to 2% of the optimum on the benchmark's instances, where the model over
   (talk, slot) pairs proves next to nothing. It gets up to 35% of the time limit. Then a
   ladder: for X from the bound up, every slot content a schedule missing X talks could use is
   listed (those whose reduced cost fits in X minus the bound) and CP-SAT picks the best
   schedule made of them: none raises the bound to X + 1, one is proven optimal. Until 60% of
   the time limit; on the benchmark's instances of 30 to 60 talks it usually ends proven optimal
   within seconds. Talks spanning slots are left out of the bound (it stays valid) and the
   ladder then does not run;
3. CP-SAT on an exact model of the hard rules over (talk, slot) pairs, when the ladder could not
   run and the instance is small enough (:func:`.exact.small_enough`), up to 30% of the time
   (60% after the bound from slot contents): it settles tiny instances, proves what it can and
   may hand the search a better start;
4. simulated annealing with moves (a talk to a slot with a room for it) and swaps (two talks
   trade slots). Missed talks are counted incrementally: per slot, each voter's count is kept as
   bit planes over all voters, so a proposal costs about a microsecond in pure Python. The
   temperature follows the clock over the time limit (or the step budget, see below), so a run
   always ends cooled; when the budget lets a cooling settle several times over, the rest goes
   to restarts from the best schedule, reheated. It stops as soon as it reaches the bound;
5. a polish pass that improves closed-door misses and overflow without adding a missed talk.

``bound`` is proven: by counting per voter (:mod:`.bounds`), by the relaxation over slot
contents and its ladder, or by CP-SAT; ``optimal`` is set only when the schedule reaches it. On
instances too big for either exact method the bound usually stays 0.

Determinism
-----------
With ``steps`` (a work budget), the annealing runs that many steps, the pricing search of the
bound a number of nodes in proportion, and CP-SAT a deterministic time in proportion, one worker:
the same problem, seed and budget give the same schedule in any process, on any machine that
finishes within ``time_limit`` (``stopped_by_time`` says when one did not: the search then
cooled by the clock for what was left). With only a time limit the temperature follows the
clock, so the schedule may differ from run to run. Randomness comes from ``random.Random(seed)``
and every loop runs in an order fixed by the input, never by hashing.
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
