"""How good the auto-scheduler is within its time limit, against a plain simulated annealing.

    .venv/bin/python -m bench.schedule [--time-limit 10] [--seed 1] [--sizes 30/5/6/100x6,...]

Generates seeded instances of the sizes the scheduling issue names (talks/rooms/slots/voters x
wishes per voter) with the features that make a schedule hard: talks fall into topics and each
voter wants mostly talks of one or two topics, so the talks of a topic are wanted by the same
people; popularity is skewed (a few talks are wanted by many); room sizes are nested and close to
demand (sort the talks by demand: the biggest room seats the most wanted of each slot's worth of
talks, the next room the next slot's worth, and so on), so capacity decides which talks may share
a slot. About one speaker in ten gives two talks, and one talk in twenty has a slot its speaker
cannot make.

For each size it runs, with the same time limit, the baseline (simulated annealing over cell
swaps, minimizing pairwise conflicts, i.e. voters shared by two talks in one slot, with room
capacity hard and speaker or availability conflicts as a heavy penalty) and :func:`solve`, and
prints for both: missed talks, clashes, the proven bound on missed talks, talks in rooms too small
for their demand, and talks left unplaced. Every schedule is re-checked from scratch with
``evaluate``. The last columns say by how much the solver misses fewer talks than the baseline,
and by how much any schedule could at most (from the proven bound: no schedule placing every talk
in a room that seats it misses fewer talks than the bound).
"""

from __future__ import annotations

import argparse
import math
import random
import time

from workshop.scheduling import Placement, Problem, Room, Slot, Talk, evaluate, solve

#: talks, rooms, slots, voters, wishes per voter: the sizes of the scheduling issue.
SIZES = [
    (30, 5, 6, 100, 6),
    (40, 5, 8, 120, 6),
    (60, 6, 10, 200, 8),
    (150, 10, 15, 200, 8),
    (400, 20, 24, 1000, 10),
]


def label(size: tuple[int, int, int, int, int]) -> str:
    return "{}/{}/{}/{}x{}".format(*size)


def make_problem(n_talks: int, n_rooms: int, n_slots: int, n_voters: int, wishes: int, seed: int) -> Problem:
    """A seeded topic-clustered, popularity-skewed instance with nested rooms close to demand."""
    rng = random.Random(seed)
    n_topics = max(3, n_talks // 8)
    topic = [rng.randrange(n_topics) for _ in range(n_talks)]
    # Zipf-like popularity, shuffled so that it does not follow the topics.
    popularity = [1.0 / (rank + 1) ** 0.7 for rank in range(n_talks)]
    rng.shuffle(popularity)
    topic_weight = [1.0 / (rank + 1) ** 0.5 for rank in range(n_topics)]
    by_topic: list[list[int]] = [[t for t in range(n_talks) if topic[t] == k] for k in range(n_topics)]

    wanted: list[set[str]] = [set() for _ in range(n_talks)]
    for v in range(n_voters):
        first, second = rng.choices(range(n_topics), weights=topic_weight, k=2)
        chosen: set[int] = set()
        while len(chosen) < min(wishes, n_talks):
            draw = rng.random()
            pool = by_topic[first] if draw < 0.6 else by_topic[second] if draw < 0.85 else range(n_talks)
            pool = [t for t in pool if t not in chosen] or [t for t in range(n_talks) if t not in chosen]
            chosen.add(rng.choices(pool, weights=[popularity[t] for t in pool])[0])
        for t in chosen:
            wanted[t].add(f"v{v}")

    slots = [Slot(f"s{i}", i * 60, 45) for i in range(n_slots)]
    speakers: list[set[str]] = [{f"p{i}"} for i in range(n_talks)]
    for i in range(n_talks):
        if rng.random() < 0.10:
            speakers[i] = {f"p{rng.randrange(n_talks)}"}
    talks = [Talk(f"t{i}", speakers[i], wanted[i],
                  {slots[rng.randrange(n_slots)].id} if rng.random() < 0.05 else ())
             for i in range(n_talks)]

    demands = sorted((len(w) for w in wanted), reverse=True)
    capacities = []
    for r in range(n_rooms):
        rank = r * n_slots
        need = demands[rank] if rank < n_talks else max(1, demands[-1] // 2)
        capacities.append(max(1, math.ceil(need * rng.uniform(1.0, 1.08))))
    capacities.sort(reverse=True)
    rooms = [Room(f"r{i}", capacity) for i, capacity in enumerate(capacities)]
    return Problem(talks, rooms, slots)


def baseline(problem: Problem, time_limit: float, seed: int) -> list[Placement]:
    """Simulated annealing over cell swaps minimizing pairwise conflicts, room capacity hard.

    Starts from the most wanted talks in the biggest rooms (capacity-feasible whenever the
    nested rooms allow it), then swaps the contents of two cells (a talk and a talk, or a talk
    and an empty cell) when both still fit their rooms. The cost is the voters shared by two
    talks of one slot, summed over pairs, plus a heavy penalty for a speaker in two talks of one
    slot or a talk in a slot its speaker cannot make. The temperature falls geometrically with
    elapsed time, from the mean worsening of random swaps to 0.1.
    """
    rng = random.Random(seed)
    started = time.monotonic()
    talks = list(problem.talks)
    n = len(talks)
    slot_ids = [s.id for s in sorted(problem.slots, key=lambda s: s.start)]
    n_slots = len(slot_ids)
    rooms = sorted(problem.rooms, key=lambda r: -r.capacity)
    cells = [(r, s) for r in range(len(rooms)) for s in range(n_slots)]
    penalty = 1000
    voters = [talk.voters for talk in talks]
    weight = [[0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            shared = len(voters[i] & voters[j])
            if talks[i].speakers & talks[j].speakers:
                shared += penalty
            weight[i][j] = weight[j][i] = shared
    bad_slot = [[penalty if slot_id in talk.unavailable_slots else 0 for slot_id in slot_ids] for talk in talks]

    order = sorted(range(n), key=lambda i: -talks[i].demand)
    cell_of = [0] * n
    occupant = [-1] * len(cells)
    for rank, i in enumerate(order[: len(cells)]):
        cell_of[i] = rank
        occupant[rank] = i
    members: list[list[int]] = [[] for _ in range(n_slots)]
    for i in order[: len(cells)]:
        members[cells[cell_of[i]][1]].append(i)
    capacity = [rooms[r].capacity for r, _ in cells]
    demand = [talk.demand for talk in talks]

    def cost_in(i: int, s: int, without: int) -> int:
        row = weight[i]
        return sum(row[j] for j in members[s] if j != without) + bad_slot[i][s]

    def delta(i: int, c: int) -> int | None:
        a_cell = cell_of[i]
        u = occupant[c]
        if demand[i] > capacity[c] or (u >= 0 and demand[u] > capacity[a_cell]):
            return None
        a, b = cells[a_cell][1], cells[c][1]
        if a == b:
            return 0
        change = cost_in(i, b, u) - cost_in(i, a, i)
        if u >= 0:
            change += cost_in(u, a, i) - cost_in(u, b, u)
        return change

    def swap(i: int, c: int) -> None:
        a_cell = cell_of[i]
        u = occupant[c]
        a, b = cells[a_cell][1], cells[c][1]
        members[a].remove(i)
        members[b].append(i)
        occupant[c], occupant[a_cell] = i, u
        cell_of[i] = c
        if u >= 0:
            members[b].remove(u)
            members[a].append(u)
            cell_of[u] = a_cell

    placed = order[: len(cells)]
    worse = [d for d in (delta(rng.choice(placed), rng.randrange(len(cells))) for _ in range(500))
             if d is not None and 0 < d < penalty]
    t_start = max(0.2, sum(worse) / len(worse)) if worse else 1.0
    t_end = 0.1
    temp = t_start
    steps = 0
    while placed:
        steps += 1
        if not steps % 256:
            elapsed = time.monotonic() - started
            if elapsed >= time_limit:
                break
            temp = t_start * (t_end / t_start) ** (elapsed / time_limit) if t_start > t_end else t_end
        i = placed[int(rng.random() * len(placed))]
        c = int(rng.random() * len(cells))
        d = delta(i, c)
        if d is None or (d > 0 and rng.random() >= math.exp(-d / temp)):
            continue
        swap(i, c)
    return [Placement(talks[i].id, rooms[cells[cell_of[i]][0]].id, slot_ids[cells[cell_of[i]][1]]) for i in placed]


def share(fewer: int, of: int) -> str:
    return f"{100 * fewer / max(1, of):.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", default=",".join(label(size) for size in SIZES),
                        help="comma-separated talks/rooms/slots/voters x wishes")
    args = parser.parse_args()

    header = (f"{'instance':<20} {'method':<9} {'time s':>7} {'missed':>7} {'clashes':>8} {'bound':>6} "
              f"{'over cap':>8} {'unplaced':>8} {'fewer missed':>12} {'at most':>8}")
    print(f"time limit {args.time_limit:g} s, seed {args.seed}")
    print(header)
    print("-" * len(header))
    for name in args.sizes.split(","):
        talks, rest = name.split("/", 1)
        rooms, slots, voters_wishes = rest.split("/")
        voters, wishes = voters_wishes.split("x")
        size = (int(talks), int(rooms), int(slots), int(voters), int(wishes))
        problem = make_problem(*size, seed=args.seed)
        talk_ids = {talk.id for talk in problem.talks}

        started = time.perf_counter()
        base = baseline(problem, args.time_limit, args.seed)
        base_seconds = time.perf_counter() - started
        base_figures = evaluate(problem, base)

        started = time.perf_counter()
        result = solve(problem, time_limit=args.time_limit, seed=args.seed)
        seconds = time.perf_counter() - started
        figures = evaluate(problem, result.placements)
        if figures.conflicts or figures.missed != result.missed:
            raise SystemExit(f"{name} solve: schedule fails its recheck: {figures}")

        # The bound holds for schedules placing every talk with none over capacity: the most
        # any such schedule can gain on the baseline, when the baseline's is one.
        comparable = not base_figures.over_capacity and not talk_ids - {p.talk_id for p in base}
        rows = (("baseline", base_seconds, base_figures, "-", talk_ids - {p.talk_id for p in base}, "", ""),
                ("solve", seconds, figures, str(result.bound) + ("*" if result.optimal else ""),
                 set(result.unplaced), share(base_figures.missed - figures.missed, base_figures.missed),
                 share(base_figures.missed - result.bound, base_figures.missed) if comparable else "-"))
        for method, elapsed, fig, bound, unplaced, gain, ceiling in rows:
            conflicts = " (breaks hard rules)" if fig.conflicts else ""
            print(f"{label(size):<20} {method:<9} {elapsed:>7.2f} {fig.missed:>7} {fig.clashes:>8} {bound:>6} "
                  f"{len(fig.over_capacity):>8} {len(unplaced):>8} {gain:>12} {ceiling:>8}{conflicts}")
    print("bound: proven lower bound on missed talks, * when the schedule is proven optimal; "
          "over cap: talks in a room smaller than their demand;\n"
          "at most: the most any schedule placing every talk in a room that seats it could miss fewer than "
          "the baseline, by the bound")


if __name__ == "__main__":
    main()
