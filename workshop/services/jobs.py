"""Jobs: long work done by the worker, with progress, cancel, retries and a lease.

A kind of job is a handler registered with ``@handler("kind")``: a function that takes a
``JobRun``, reports progress through it, checks for a cancel, and returns a JSON-able result.
``start`` writes the job row in the caller's transaction and queues it once that commits.

A failed attempt is retried (``JOB_MAX_ATTEMPTS`` in all, waiting longer each time) and then
kept as ``failed`` with its error. A running job holds a lease that a heartbeat renews; if its
worker dies, the lease runs out and the periodic sweep hands the job to another worker. So a
handler may run twice (a second time after a crash), and must be written for that: compute,
then write its outcome in one transaction, or check what an earlier run already did.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm.attributes import set_committed_value

from .. import tasks
from ..extensions import db
from ..models import Event, Job, JobStatus, User, utcnow
from .errors import DomainError

J = JobStatus
HANDLERS: dict[str, Callable[[JobRun], dict | None]] = {}
SWEEP_GRACE = timedelta(seconds=60)


class JobCancelled(Exception):
    """Raised by ``JobRun.check_cancel`` when someone asked to stop the job."""


def handler(kind: str):
    """Register the function that does jobs of ``kind``."""
    def register(function: Callable[[JobRun], dict | None]):
        HANDLERS[kind] = function
        return function
    return register


def start(kind: str, *, event: Event | None = None, actor: User | None = None, params: dict | None = None,
          max_attempts: int | None = None) -> Job:
    """Add a job to the caller's transaction; a worker starts it once that commits."""
    if kind not in HANDLERS:
        raise ValueError(f"No handler for jobs of kind {kind!r}")
    job = Job(kind=kind, event_id=event.id if event is not None else None,
              started_by_id=actor.id if actor is not None else None, params=params or {}, progress={},
              max_attempts=max_attempts or current_app.config["JOB_MAX_ATTEMPTS"])
    db.session.add(job)
    db.session.flush()
    tasks.after_commit("run_job", job.id)
    return job


def get(public_id: str) -> Job | None:
    return db.session.scalar(sa.select(Job).where(Job.public_id == public_id))


def jobs_of_event(event: Event, kind: str | None = None) -> sa.Select:
    """The event's jobs, newest first (a query, for a page to paginate)."""
    statement = sa.select(Job).where(Job.event_id == event.id)
    if kind is not None:
        statement = statement.where(Job.kind == kind)
    return statement.order_by(Job.created_at.desc(), Job.id.desc())


def request_cancel(job: Job) -> None:
    """Stop a job: at once if it has not started, at its next check if it runs. The caller commits."""
    if job.status.finished:
        raise DomainError("This job has already finished.")
    now = utcnow()
    stopped = db.session.execute(
        sa.update(Job).where(Job.id == job.id, Job.status == J.QUEUED)
        .values(status=J.CANCELLED, cancel_requested=True, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not stopped:
        db.session.execute(
            sa.update(Job).where(Job.id == job.id, Job.status == J.RUNNING)
            .values(cancel_requested=True, updated_at=now).execution_options(synchronize_session=False)
        )
    db.session.refresh(job)


@dataclass
class JobRun:
    """What a handler gets: the job, and the means to report progress and to notice a cancel."""

    job: Job
    attempt: int

    @property
    def params(self) -> dict:
        return self.job.params or {}

    def progress(self, done: int, total: int | None = None, note: str = "", figures: dict | None = None) -> None:
        """Record progress (and renew the lease). Commits the session. ``figures``: what else the job's page
        shows while it runs (JSON-able: the auto-scheduler's best result so far, say)."""
        value = {"done": done, "total": total if total is not None else (self.job.progress or {}).get("total"),
                 "note": note[:300]}
        if figures:
            value["figures"] = figures
        now = utcnow()
        db.session.execute(
            sa.update(Job).where(_mine(self.job.id, self.attempt))
            .values(progress=value, updated_at=now, lease_until=now + _lease())
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        set_committed_value(self.job, "progress", value)  # seen by the handler, not written again

    def cancel_requested(self) -> bool:
        return bool(db.session.scalar(sa.select(Job.cancel_requested).where(Job.id == self.job.id)))

    def check_cancel(self) -> None:
        if self.cancel_requested():
            raise JobCancelled


def _lease() -> timedelta:
    return timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"])


def _mine(job_id: int, attempt: int):
    """The job, as long as this attempt still holds it (a worker that took it over bumped attempts)."""
    return sa.and_(Job.id == job_id, Job.status == J.RUNNING, Job.attempts == attempt)


def backoff(attempts: int) -> timedelta:
    ceiling = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


def run(job_id: int) -> str:
    """Claim the job and run its handler (the ``run_job`` task). Returns what became of it."""
    now = utcnow()
    claimed = db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, sa.or_(
            sa.and_(Job.status == J.QUEUED, Job.next_attempt_at <= now, Job.cancel_requested.is_(False)),
            sa.and_(Job.status == J.RUNNING, Job.lease_until < now),
        ))
        .values(status=J.RUNNING, attempts=Job.attempts + 1, lease_until=now + _lease(), updated_at=now,
                started_at=sa.func.coalesce(Job.started_at, now))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        _close_if_cancelled(job_id)
        return "skipped"
    job = db.session.get(Job, job_id)
    attempt = job.attempts
    if attempt > job.max_attempts:  # its worker died every time: do not try a fourth time
        return _finish(job_id, attempt, J.FAILED, error=f"The worker stopped while running it, {attempt - 1} times.")
    function = HANDLERS.get(job.kind)
    if function is None:
        return _finish(job_id, attempt, J.FAILED, error=f"No worker here knows jobs of kind “{job.kind}”.")
    heartbeat = _Heartbeat(current_app._get_current_object(), job_id, attempt)
    heartbeat.start()
    try:
        result = function(JobRun(job, attempt))
    except JobCancelled:
        db.session.rollback()
        return _finish(job_id, attempt, J.CANCELLED)
    except Exception as error:  # recorded on the job, retried, and visible once attempts run out
        db.session.rollback()
        current_app.logger.exception("job %s (%s) failed", job_id, job.kind)
        message = f"{type(error).__name__}: {error}"[:2000]
        if attempt >= job.max_attempts:
            return _finish(job_id, attempt, J.FAILED, error=message)
        when = utcnow() + backoff(attempt)
        db.session.execute(
            sa.update(Job).where(_mine(job_id, attempt))
            .values(status=J.QUEUED, next_attempt_at=when, lease_until=None, error=message, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        tasks.enqueue_safely("run_job", job_id, eta=when)
        return "retrying"
    finally:
        heartbeat.stop()
    return _finish(job_id, attempt, J.DONE, result=result if result is not None else {})


def _finish(job_id: int, attempt: int, status: JobStatus, error: str = "", result: dict | None = None) -> str:
    now = utcnow()
    values = {"status": status, "finished_at": now, "lease_until": None, "updated_at": now, "error": error}
    if result is not None:
        values["result"] = result
    if status == J.DONE:
        total = (db.session.scalar(sa.select(Job.progress).where(Job.id == job_id)) or {}).get("total")
        if total:
            values["progress"] = {"done": total, "total": total, "note": ""}
    db.session.execute(
        sa.update(Job).where(_mine(job_id, attempt)).values(**values).execution_options(synchronize_session=False)
    )
    db.session.commit()
    return str(status)


def _close_if_cancelled(job_id: int) -> None:
    now = utcnow()
    db.session.execute(
        sa.update(Job).where(Job.id == job_id, Job.status == J.QUEUED, Job.cancel_requested.is_(True))
        .values(status=J.CANCELLED, finished_at=now, updated_at=now).execution_options(synchronize_session=False)
    )
    db.session.commit()


class _Heartbeat:
    """Renews a running job's lease from a thread of its own, so that a long step without progress
    reports is not mistaken for a dead worker. Stops with the job; dies with the process."""

    def __init__(self, app: Flask, job_id: int, attempt: int):
        self.app, self.job_id, self.attempt = app, job_id, attempt
        self.interval = max(app.config["JOB_LEASE_SECONDS"] / 3, 0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"job-{job_id}-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.app.app_context():
                    now = utcnow()
                    db.session.execute(
                        sa.update(Job).where(_mine(self.job_id, self.attempt)).values(lease_until=now + _lease())
                        .execution_options(synchronize_session=False)
                    )
                    db.session.commit()
            except Exception:  # a busy database: the next beat tries again, well within the lease
                self.app.logger.warning("could not renew the lease of job %s", self.job_id, exc_info=True)


def sweep(grace: timedelta = SWEEP_GRACE) -> int:
    """Queue again jobs whose task was lost or whose worker died (lease run out); close queued jobs
    that were cancelled. Safe to run at any time, by any number of workers."""
    now = utcnow()
    db.session.execute(
        sa.update(Job).where(Job.status == J.QUEUED, Job.cancel_requested.is_(True))
        .values(status=J.CANCELLED, finished_at=now, updated_at=now).execution_options(synchronize_session=False)
    )
    ids = db.session.scalars(
        sa.select(Job.id).where(sa.or_(
            sa.and_(Job.status == J.QUEUED, Job.next_attempt_at <= now - grace),
            sa.and_(Job.status == J.RUNNING, Job.lease_until < now),
        )).order_by(Job.id).limit(1000)
    ).all()
    if ids:
        db.session.execute(
            sa.update(Job).where(Job.id.in_(ids), Job.status == J.QUEUED).values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    for job_id in ids:
        tasks.enqueue_safely("run_job", job_id)
    return len(ids)
