"""Between the database and the auto-scheduler (workshop.scheduling, which knows nothing of either).

Three scopes:
- ``unplaced``: place the accepted sessions not yet on the schedule; everything placed stays;
- ``all``: place every unpinned session afresh; pinned sessions stay;
- ``block:<name>`` (unconference mode): fill the free cells of one block of slots with the
  unplaced sessions, without moving anything already placed.

The scheduler runs in the worker, as a job of kind ``KIND``: ``start`` records it, and the worker reads the
event, runs the solver (reporting its best result so far, the bound and the time left as the job's
progress, and stopping when the organizer cancels) and keeps the proposed schedule as the job's result.
That is all a run writes, so a run cut short by a dead worker is simply run again. Organizers then preview
the result (``preview_of``) and apply it, or let it be.

Time is real: talks have their lengths and slots theirs; a long talk runs over consecutive slots of one
room; breaks take no talk. Running events: a slot that has started takes no session from the scheduler,
and a session that has started (or is over) stays where it is, whatever the scope. Each room must seat a
session's demand: its sign-ups once sign-up is open, its votes before (``schedule.demand``); who wants a
session, for missed talks, is whoever voted for it or signed up for it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from .. import policy, scheduling
from ..dates import local
from ..extensions import db
from ..models import (
    Event,
    Job,
    JobStatus,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Room,
    SignUp,
    Slot,
    Unavailability,
    User,
    Vote,
    utcnow,
)
from . import audit, jobs, schedule
from .errors import DomainError

KIND = "autoschedule"
MAX_SECONDS = 300
# Progress is counted in tenths of a second of the time limit.
TICKS_PER_SECOND = 10
# How often a run asks the database whether the organizer cancelled it.
CANCEL_CHECK_SECONDS = 0.5


def blocks(event: Event) -> list[str]:
    """Named blocks of slots that start in the future, in time order (unconference mode)."""
    rows = db.session.execute(sa.select(Slot.block, sa.func.min(Slot.starts_at)).where(
        Slot.event_id == event.id, Slot.block != "", Slot.starts_at > utcnow()).group_by(Slot.block)).all()
    return [name for name, _ in sorted(rows, key=lambda r: r[1])]


def describe(scope: str) -> str:
    """A scope as organizers read it."""
    if scope == "unplaced":
        return "Place the unplaced sessions; keep everything placed where it is"
    if scope == "all":
        return "Reschedule every session that is not pinned (sessions under way stay)"
    return f"Fill the free cells of “{scope.removeprefix('block:')}”"


def _check(actor: User, event: Event, scope: str, time_limit: float) -> str | None:
    """Raises DomainError for a request that cannot run; returns the block a block scope names."""
    if not policy.can_manage_schedule(actor, event):
        raise DomainError("Only organizers run the auto-scheduler.")
    if not 1 <= time_limit <= MAX_SECONDS:
        raise DomainError(f"Give the scheduler from 1 to {MAX_SECONDS} seconds.", field="time_limit")
    block = scope.removeprefix("block:") if scope.startswith("block:") else None
    if scope not in ("unplaced", "all") and block is None:
        raise DomainError("Choose what to schedule.", field="scope")
    if not db.session.scalar(sa.select(Room.id).where(Room.event_id == event.id).limit(1)) or \
            not db.session.scalar(sa.select(Slot.id).where(Slot.event_id == event.id).limit(1)):
        raise DomainError("Add rooms and slots first.")
    if block is not None and not db.session.scalar(sa.select(Slot.id).where(
            Slot.event_id == event.id, Slot.block == block).limit(1)):
        raise DomainError(f"There is no block called “{block}”.", field="scope")
    return block


def start(actor: User, event: Event, scope: str, time_limit: int = 10, seed: int = 0) -> Job:
    """Queue a run of the auto-scheduler for the worker; the caller commits. Organizers only. Raises
    DomainError for a scope, a time limit or an event (no rooms or slots) it cannot run on."""
    _check(actor, event, scope, time_limit)
    audit.record(actor, event, "run auto-scheduler", f"event {event.slug}",
                 f"{describe(scope)}; {time_limit} s, seed {seed}")
    return jobs.start(KIND, event=event, actor=actor, max_attempts=3,
                      params={"scope": scope, "time_limit": time_limit, "seed": seed})


# --- the run ------------------------------------------------------------------------------


@dataclass
class Built:
    """The solver's problem, and what turning its answer back into placements needs, as plain data (the
    job commits its progress while the solver runs, which expires every loaded row)."""

    problem: scheduling.Problem
    before: dict[int, tuple[int, int, int]]  # proposal id → (room, slot, span) now
    pinned: set[int]
    staying: set[int]  # placed sessions the solver may not move: pinned, kept, or the scope keeps them
    kept: set[int]  # sessions that stay because they have started (or are over)
    runs: dict[int, list[int]]  # slot id → the slots a session starting there may run over
    minutes: dict[int, int]  # slot id → its length
    lengths: dict[int, int]  # proposal id → its length


def build(event: Event, scope: str, now: datetime) -> Built:
    """The problem for ``scope`` at ``now``, in a fixed number of queries."""
    block = scope.removeprefix("block:") if scope.startswith("block:") else None
    rooms = db.session.scalars(sa.select(Room).where(Room.event_id == event.id).order_by(Room.id)).all()
    ordered = schedule.ordered_slots(event)
    proposals = {p.id: p for p in db.session.scalars(sa.select(Proposal).where(
        Proposal.event_id == event.id, Proposal.status == ProposalStatus.ACCEPTED).order_by(Proposal.id))}
    ids = list(proposals)
    placements = [p for p in db.session.scalars(policy.placements_of(event)) if p.proposal_id in proposals]
    taken = schedule.runs_of(event, ordered, placements)
    speakers: dict[int, set[int]] = defaultdict(set)
    for proposal_id, user_id in db.session.execute(sa.select(ProposalSpeaker.proposal_id, ProposalSpeaker.user_id)
                                                   .where(ProposalSpeaker.proposal_id.in_(ids),
                                                          ProposalSpeaker.confirmed.is_(True))):
        speakers[proposal_id].add(user_id)
    wanting: dict[int, set[int]] = defaultdict(set)
    for model in (Vote, SignUp):
        for proposal_id, user_id in db.session.execute(sa.select(model.proposal_id, model.user_id)
                                                       .where(model.proposal_id.in_(ids))):
            wanting[proposal_id].add(user_id)
    demand = schedule.demand(event, ids)
    unavailable: dict[int, set[int]] = defaultdict(set)
    for user_id, slot_id in db.session.execute(sa.select(Unavailability.user_id, Unavailability.slot_id)
                                               .where(Unavailability.slot_id.in_([s.id for s in ordered]))):
        unavailable[user_id].add(slot_id)

    started = {slot.id for slot in ordered if slot.starts_at <= now}
    kept = {p.proposal_id for p in placements if taken[p.proposal_id][0].id in started}
    pinned = {p.proposal_id for p in placements if p.pinned}
    # "all" moves everything but the pins and what has started; the other scopes keep every placed session.
    staying = [p for p in placements if scope != "all" or p.pinned or p.proposal_id in kept]
    staying_ids = {p.proposal_id for p in staying}

    def length(pid: int) -> int:
        # A session that stays takes exactly the slots it holds now, whatever its own length.
        if pid in staying_ids:
            return sum(slot.minutes for slot in taken[pid])
        return proposals[pid].duration_minutes

    talks = [scheduling.Talk(
        id=pid, speakers=frozenset(speakers[pid]), voters=frozenset(wanting[pid]),
        unavailable_slots=frozenset(set().union(*(unavailable[u] for u in speakers[pid]))),
        needs_closed_door=policy.needs_closed_door(p, now), length=length(pid), demand=demand.of(pid))
        for pid, p in proposals.items()]
    first_day = local(event, ordered[0].starts_at).date() if ordered else None
    solver_slots = []
    for slot in ordered:
        # Minutes from the first slot; each day of the event's calendar is shifted by a minute more, so
        # that a slot ending at midnight is not followed by one starting then (a new day ends a run).
        day = (local(event, slot.starts_at).date() - first_day).days
        start = int((slot.starts_at - ordered[0].starts_at).total_seconds() // 60) + day
        solver_slots.append(scheduling.Slot(
            slot.id, start, slot.minutes, open=slot.id not in started and (block is None or slot.block == block),
            is_break=slot.is_break))
    as_placement = {p.proposal_id: scheduling.Placement(p.proposal_id, p.room_id, p.slot_id) for p in staying}
    problem = scheduling.Problem(
        talks=talks,
        rooms=[scheduling.Room(r.id, r.capacity, r.closed_door) for r in rooms],
        slots=solver_slots,
        pinned=[as_placement[pid] for pid in sorted(as_placement) if pid in pinned],
        fixed=[as_placement[pid] for pid in sorted(as_placement) if pid not in pinned])
    runs = {slot.id: [s.id for s in schedule.run_from(event, ordered, i)] for i, slot in enumerate(ordered)}
    return Built(problem=problem,
                 before={p.proposal_id: (p.room_id, p.slot_id, p.span) for p in placements},
                 pinned=pinned, staying=staying_ids, kept=kept if scope == "all" else set(), runs=runs,
                 minutes={slot.id: slot.minutes for slot in ordered},
                 lengths={pid: p.duration_minutes for pid, p in proposals.items()})


def _span(built: Built, pid: int, slot_id: int) -> int:
    """The slots a session the solver placed runs over: as many as its length needs, from its start."""
    if pid in built.staying:
        return built.before[pid][2]
    run = built.runs.get(slot_id) or [slot_id]
    total = 0
    for taken, sid in enumerate(run, start=1):
        total += built.minutes[sid]
        if total >= built.lengths.get(pid, 0):
            return taken
    return len(run)


def compute(event: Event, scope: str, time_limit: float, seed: int, *, progress=None, should_stop=None,
            now: datetime | None = None) -> dict:
    """Run the solver on the event as it is now and return the proposed schedule as JSON-able data (the
    job's result): every session with its room, first slot and span; the working schedule it started from;
    what could not be placed, and why; the figures (missed talks, clashes, the proven bound, whether the
    schedule is optimal). ``progress`` is the solver's callback (False stops it)."""
    now = now or utcnow()
    built = build(event, scope, now)
    result = scheduling.solve(built.problem, time_limit=time_limit, seed=seed, progress=progress,
                              should_stop=should_stop)
    return {
        "scope": scope, "seed": seed, "time_limit": time_limit, "computed_at": now.isoformat(),
        "placements": [[p.talk_id, p.room_id, p.slot_id, _span(built, p.talk_id, p.slot_id)]
                       for p in result.placements],
        "before": sorted([pid, *where] for pid, where in built.before.items()),
        "pinned": sorted(built.pinned),
        "kept": sorted(built.kept),
        "unplaced": sorted([pid, reason] for pid, reason in result.unplaced.items()),
        "over_capacity": sorted([pid, reason] for pid, reason in result.over_capacity.items()),
        "notes": list(result.notes),
        "figures": {
            "missed": result.missed, "clashes": result.clashes, "bound": result.bound,
            "bound_note": result.bound_note, "optimal": result.optimal, "method": result.method,
            "elapsed": round(result.elapsed, 2), "overflow": result.overflow,
            "closed_door_violations": result.closed_door_violations, "iterations": result.iterations,
            "stopped_by_time": result.stopped_by_time,
        },
        "cancelled": result.cancelled,
    }


@jobs.handler(KIND)
def run_job(run: jobs.JobRun) -> dict:
    """The worker's side: compute, reporting progress every half second and stopping when cancelled.
    Writes nothing but the job's row, so running it again (after a crash) is safe."""
    run.check_cancel()
    event = db.session.get(Event, run.job.event_id)
    params = run.params
    time_limit = float(params["time_limit"])
    total = int(time_limit * TICKS_PER_SECOND)

    asked = {"at": 0.0, "stop": False}

    def should_stop() -> bool:
        # The solver asks often; the database is asked at most twice a second.
        if time.monotonic() - asked["at"] >= CANCEL_CHECK_SECONDS:
            asked["at"], asked["stop"] = time.monotonic(), run.cancel_requested()
        return asked["stop"]

    def progress(report: scheduling.Progress) -> bool:
        run.progress(min(int(report.elapsed * TICKS_PER_SECOND), total), total, report.phase, figures={
            "missed": report.missed, "clashes": report.clashes, "over_capacity": report.over_capacity,
            "unplaced": report.unplaced, "bound": report.bound, "optimal": report.optimal,
            "elapsed": round(report.elapsed, 1), "remaining": round(report.remaining, 1)})
        return not should_stop()

    run.progress(0, total, "preparing")
    result = compute(event, params["scope"], time_limit, int(params["seed"]), progress=progress,
                     should_stop=should_stop)
    if result["cancelled"]:
        raise jobs.JobCancelled
    return result


PHASES = {
    "preparing": "reading the event",
    "greedy": "finding a first schedule",
    "bound": "proving a bound on missed talks",
    "annealing": "improving the schedule",
    "annealing, restarted from the best": "improving the schedule, restarted from the best so far",
    "rooms": "choosing the best rooms",
}


@dataclass
class RunState:
    """A run as its page shows it: the state in words, the share of the time limit spent (``waiting``: no
    worker has it yet), and the figures of the best schedule so far, or of the result once done."""

    status: str
    finished: bool
    waiting: bool
    has_schedule: bool
    percent: int
    fields: dict[str, str]

    def as_json(self) -> dict:
        return {"status": self.status, "finished": self.finished, "waiting": self.waiting, "percent": self.percent,
                "fields": self.fields}


def run_state(job: Job) -> RunState:
    state = job.status
    time_limit = (job.params or {}).get("time_limit", 0)
    progress = job.progress or {}
    result = job.result or {}
    figures = dict(progress.get("figures") or {})
    fraction = job.fraction or 0.0
    done = state == JobStatus.DONE and "placements" in result
    if done:
        figures.update(result.get("figures", {}))
        figures["remaining"], figures["unplaced"] = 0, len(result.get("unplaced", []))
        fraction = 1.0
    waiting = state == JobStatus.QUEUED
    text = {
        JobStatus.QUEUED: "Waiting for a worker to start it." if not job.attempts else
        "Waiting to run again: its worker stopped or failed, and the work starts over.",
        JobStatus.RUNNING: f"Running: {PHASES.get(progress.get('note', ''), progress.get('note') or 'starting')}.",
        JobStatus.DONE: "Done: the proposed schedule is below." + (" It is optimal." if figures.get("optimal") else ""),
        JobStatus.CANCELLED: "Stopped: you cancelled this run. Nothing changed.",
        JobStatus.FAILED: f"Failed: {job.error or 'the worker gave up'}. Nothing changed.",
    }[state]
    elapsed, remaining, bound = figures.get("elapsed"), figures.get("remaining"), figures.get("bound")

    def number(name: str) -> str:
        return str(figures[name]) if figures.get(name) is not None else "—"

    return RunState(
        status=state.value, finished=state.finished, waiting=waiting, has_schedule=done,
        percent=0 if waiting else round(fraction * 100),
        fields={
            "state": text,
            "elapsed": f"{elapsed:.1f} s of {time_limit} s" if elapsed is not None else f"up to {time_limit} s",
            "left": f"{remaining:.0f} s left" if remaining and not state.finished else "",
            "missed_label": "Missed talks" if state.finished else "Missed talks, best so far",
            "missed": number("missed"),
            "clashes": number("clashes"),
            "bound": (f"{bound}, reached: optimal" if figures.get("optimal") else str(bound))
            if bound is not None else "not known yet",
            "unplaced": number("unplaced"),
        })


def load_run(event: Event, public_id: str) -> Job | None:
    """One of the event's auto-scheduler runs by its public id (another event's finds nothing)."""
    if not public_id or len(public_id) > 24:
        return None
    return db.session.scalar(sa.select(Job).where(Job.public_id == public_id, Job.event_id == event.id,
                                                  Job.kind == KIND))


def latest_runs(event: Event, limit: int = 5) -> list[Job]:
    return list(db.session.scalars(jobs.jobs_of_event(event, KIND).limit(limit)))


def cancel(actor: User, event: Event, job: Job) -> None:
    """Stop a run (at once if no worker took it yet). Organizers only; DomainError once it has finished."""
    if not policy.can_manage_schedule(actor, event):
        raise DomainError("Only organizers stop the auto-scheduler.")
    jobs.request_cancel(job)
    audit.record(actor, event, "cancel auto-scheduler", f"event {event.slug}", f"run {job.public_id}")


# --- the preview, and applying it ---------------------------------------------------------


@dataclass
class Row:
    run: list[Slot]  # the slots it runs over
    room: Room
    proposal: Proposal
    change: str  # "new", "moved" or ""
    signed_up: int = 0  # people signed up for it, told when it moves


@dataclass
class Preview:
    """A finished run's proposed schedule, read against the event as it is now."""

    job: Job
    result: dict
    proposals: dict[int, Proposal]
    rooms: dict[int, Room]
    slots: list[Slot]
    signed: dict[int, int]  # proposal id → people signed up
    rows: list[Row] = field(default_factory=list)
    removed: list[tuple[Proposal, str]] = field(default_factory=list)  # placed before, not in this schedule
    unplaced: list[tuple[Proposal, str]] = field(default_factory=list)
    over_capacity: list[tuple[Proposal, str]] = field(default_factory=list)

    @property
    def figures(self) -> dict:
        return self.result.get("figures", {})

    @property
    def changes(self) -> int:
        return sum(1 for row in self.rows if row.change) + len(self.removed)

    @property
    def people_told(self) -> int:
        """People signed up for a session this schedule moves or takes off: each is emailed on applying."""
        moved = [row.proposal.id for row in self.rows if row.change == "moved"]
        return sum(self.signed.get(pid, 0) for pid in moved) + sum(self.signed.get(p.id, 0) for p, _ in self.removed)

    @property
    def kept(self) -> list[Proposal]:
        return [self.proposals[pid] for pid in self.result.get("kept", []) if pid in self.proposals]


def preview_of(event: Event, job: Job) -> Preview | None:
    """The proposed schedule of a finished run, in a fixed number of queries; None while it has none.
    Sessions, rooms or slots removed since the run are left out (applying it is then refused)."""
    result = job.result
    if job.status != JobStatus.DONE or not result or "placements" not in result:
        return None
    proposals = {p.id: p for p in db.session.scalars(sa.select(Proposal).where(Proposal.event_id == event.id))}
    rooms = {r.id: r for r in db.session.scalars(sa.select(Room).where(Room.event_id == event.id))}
    slots = schedule.ordered_slots(event)
    position = {slot.id: i for i, slot in enumerate(slots)}
    ids = [pid for pid in proposals]
    signed = dict(db.session.execute(sa.select(SignUp.proposal_id, sa.func.count()).where(
        SignUp.proposal_id.in_(ids)).group_by(SignUp.proposal_id)).all()) if ids else {}
    preview = Preview(job, result, proposals, rooms, slots, signed)
    before = {pid: (room, slot, span) for pid, room, slot, span in result.get("before", [])}
    placed = set()
    for pid, room_id, slot_id, span in result["placements"]:
        if pid not in proposals or room_id not in rooms or slot_id not in position:
            continue
        placed.add(pid)
        run = slots[position[slot_id]:position[slot_id] + max(span, 1)]
        now = before.get(pid)
        change = "new" if now is None else ("moved" if tuple(now) != (room_id, slot_id, span) else "")
        preview.rows.append(Row(run, rooms[room_id], proposals[pid], change, signed.get(pid, 0)))
    preview.rows.sort(key=lambda r: (r.run[0].starts_at, r.room.position, r.room.id))
    reasons = {pid: reason for pid, reason in result.get("unplaced", [])}
    preview.removed = [(proposals[pid], reasons.get(pid, "")) for pid in sorted(before)
                       if pid not in placed and pid in proposals]
    preview.unplaced = [(proposals[pid], reason) for pid, reason in result.get("unplaced", [])
                        if pid in proposals and pid not in before]
    preview.over_capacity = [(proposals[pid], reason) for pid, reason in result.get("over_capacity", [])
                             if pid in proposals]
    return preview


class SignedUpToTell(DomainError):
    """Applying moves or takes off sessions people signed up for: the organizer confirms, and they are told."""


def apply(actor: User, event: Event, job: Job, confirmed: bool = False, now: datetime | None = None) -> int:
    """Save a finished run's schedule: place or move every session it changes and take off the ones it no
    longer holds. Refused (DomainError, nothing written) when the working schedule, the pins or the accepted
    sessions changed since the run, when a session would start in a slot that has started since, and, until
    ``confirmed``, when people signed up for a session it moves or takes off (they are then emailed).
    Organizers only. Returns how many sessions it placed, moved or took off."""
    if not policy.can_manage_schedule(actor, event):
        raise DomainError("Only organizers apply a schedule.")
    preview = preview_of(event, job)
    if preview is None:
        raise DomainError("This run has no schedule to apply; run the scheduler again.")
    result = preview.result
    accepted = {pid for pid, p in preview.proposals.items() if p.status == ProposalStatus.ACCEPTED}
    placements = db.session.scalars(policy.placements_of(event)).all()
    current = sorted([p.proposal_id, p.room_id, p.slot_id, p.span] for p in placements if p.proposal_id in accepted)
    pinned = sorted(p.proposal_id for p in placements if p.pinned and p.proposal_id in accepted)
    proposed = {pid for pid, *_ in result["placements"]}
    known = {pid for pid, *_ in result["before"]} | proposed | {pid for pid, _ in result["unplaced"]}
    if current != result["before"] or pinned != result["pinned"] or accepted != known or len(preview.rows) != len(
            result["placements"]):
        raise DomainError("The schedule changed since this run (a session was placed, moved, pinned, accepted or "
                          "withdrawn, or a room or slot went): run the scheduler again.")
    now = now or utcnow()
    moving = [row for row in preview.rows if row.change]
    late = [row for row in moving if row.run[0].starts_at <= now]
    if late:
        raise DomainError(f"“{late[0].proposal.title}” would start in a slot that has started since this run; "
                          "run the scheduler again.")
    if preview.people_told and not confirmed:
        raise SignedUpToTell(f"{preview.people_told} people signed up for sessions this schedule moves or takes "
                             "off; confirm to apply it and email them.")
    for proposal, _reason in preview.removed:
        schedule.unplace(actor, proposal, confirmed=True)
    for row in moving:
        schedule.place(actor, row.proposal, row.room.id, row.run[0].id, span=len(row.run), confirmed=True)
    audit.record(actor, event, "apply auto-schedule", f"event {event.slug}",
                 f"run {job.public_id}: {len(moving)} sessions placed or moved, {len(preview.removed)} taken off")
    return len(moving) + len(preview.removed)
