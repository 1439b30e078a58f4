"""How good the auto-scheduler is within its time limit, against its own greedy seed.

    .venv/bin/python -m bench.schedule [--time-limit 10] [--seed 1] [--sizes small,medium,large,reference,tiny]

Generates seeded random instances of the sizes the scheduling issue names (talks, rooms, slots,
voters; each voter wants 6 to 12 talks, some talks more popular than others; speakers, some with
two talks and some talks with two speakers; a few unavailabilities; rooms of varied capacity,
some closed-door; a few talks that need a closed door), plus the issue's reference instance
(60 talks, 6 rooms, 10 slots, 200 voters wanting 8 talks each, uniformly at random) whose figures
the issue quotes for other methods, and a tiny instance that the exact search can prove. For
each it prints, for the greedy baseline and the solver: time, clashes, missed, bound, whether
optimality was proved, overflow, closed-door misses and unplaced talks. Every schedule is
re-checked from scratch with ``evaluate``.
"""

from __future__ import annotations

import argparse
import random
import time

from workshop.scheduling import Problem, Room, Slot, Talk, evaluate, greedy_schedule, solve

SIZES = {
    "small": (40, 4, 12, 100),
    "medium": (150, 10, 18, 300),
    "large": (400, 20, 24, 1000),
    # Not one of the sizes: small enough for the exact search to prove its optimum.
    "tiny": (10, 3, 4, 25),
}


def make_problem(n_talks: int, n_rooms: int, n_slots: int, n_voters: int, seed: int) -> Problem:
    """A seeded random instance with the features a real event has (see the module docstring)."""
    rng = random.Random(seed)
    talk_ids = [f"t{i}" for i in range(n_talks)]
    slots = [Slot(f"s{i}", i) for i in range(n_slots)]

    # About one talk in seven shares its speaker with another talk; one in ten has a co-speaker.
    speakers: list[set[str]] = [{f"p{i}"} for i in range(n_talks)]
    for i in range(n_talks):
        if rng.random() < 0.15:
            speakers[i] = set(speakers[rng.randrange(n_talks)])
        if rng.random() < 0.10:
            speakers[i].add(f"p{rng.randrange(n_talks)}")

    popularity = [rng.uniform(0.5, 3.0) for _ in range(n_talks)]
    wanted: list[set[str]] = [set() for _ in range(n_talks)]
    for v in range(n_voters):
        k = rng.randint(6, 12)
        chosen: set[int] = set()
        while len(chosen) < min(k, n_talks):
            chosen.add(rng.choices(range(n_talks), weights=popularity)[0])
        for t in chosen:
            wanted[t].add(f"v{v}")

    talks = []
    for i, talk_id in enumerate(talk_ids):
        unavailable = set()
        if rng.random() < 0.10:
            unavailable = {slots[rng.randrange(n_slots)].id for _ in range(rng.randint(1, 2))}
        talks.append(Talk(talk_id, frozenset(speakers[i]), frozenset(wanted[i]), frozenset(unavailable),
                          needs_closed_door=rng.random() < 0.08))

    mean_demand = sum(len(w) for w in wanted) / n_talks
    rooms = [Room(f"r{i}", max(10, int(mean_demand * rng.uniform(0.5, 2.0))), closed_door=rng.random() < 0.3)
             for i in range(n_rooms)]
    return Problem(talks, rooms, slots)


def make_reference(seed: int) -> Problem:
    """The issue's reference size: 60 talks, 6 rooms, 10 slots, 200 voters wanting 8 each."""
    rng = random.Random(seed)
    talk_ids = [f"t{i}" for i in range(60)]
    wanted: dict[str, set[str]] = {t: set() for t in talk_ids}
    for v in range(200):
        for t in rng.sample(talk_ids, 8):
            wanted[t].add(f"v{v}")
    talks = [Talk(t, frozenset({f"p{t}"}), frozenset(wanted[t])) for t in talk_ids]
    rooms = [Room(f"r{i}", 30) for i in range(6)]
    return Problem(talks, rooms, [Slot(f"s{i}", i) for i in range(10)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", default="small,medium,large,reference,tiny")
    args = parser.parse_args()

    header = (f"{'instance':<30} {'method':<8} {'time s':>7} {'clashes':>8} {'missed':>7} {'bound':>6} "
              f"{'optimal':>7} {'overflow':>8} {'closed':>6} {'unplaced':>8}")
    print(f"time limit {args.time_limit:g} s, seed {args.seed}")
    print(header)
    print("-" * len(header))
    for name in args.sizes.split(","):
        if name == "reference":
            problem = make_reference(args.seed)
            label = "reference 60/6/10/200x8"
        else:
            n_talks, n_rooms, n_slots, n_voters = SIZES[name]
            problem = make_problem(n_talks, n_rooms, n_slots, n_voters, args.seed)
            label = f"{name} {n_talks}/{n_rooms}/{n_slots}/{n_voters}"
        for method, run in (("greedy", lambda p=problem: greedy_schedule(p)),
                            ("solve", lambda p=problem: solve(p, time_limit=args.time_limit, seed=args.seed))):
            started = time.perf_counter()
            result = run()
            seconds = time.perf_counter() - started
            check = evaluate(problem, result.placements)
            if check.conflicts or check.clashes != result.clashes:
                raise SystemExit(f"{label} {method}: schedule fails its recheck: {check}")
            print(f"{label:<30} {method:<8} {seconds:>7.2f} {result.clashes:>8} {result.missed:>7} "
                  f"{result.bound:>6} {'yes' if result.optimal else 'no':>7} {result.overflow:>8} "
                  f"{result.closed_door_violations:>6} {len(result.unplaced):>8}")
            if method == "solve" and result.stopped_by_time:
                print(f"{'':<30} (the time limit cut the planned search short after {result.iterations} steps)")


if __name__ == "__main__":
    main()
