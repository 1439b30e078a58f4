"""Jobs: started with their cause, run by the worker, retried, visible when they fail, cancelled on
request, and taken over when their worker dies. The queue runs in its test mode; tests that hold
it (``held``) run the job themselves, as a worker would, one attempt at a time."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from tests import job_kinds  # noqa: F401  (test.steps, test.fails)
from tests.helpers import make_event, make_user
from workshop import tasks
from workshop.extensions import db
from workshop.models import Job, JobStatus, utcnow
from workshop.services import jobs
from workshop.services.errors import DomainError

J = JobStatus


@jobs.handler("test.cancelled_midway")
def cancelled_midway(run: jobs.JobRun) -> dict:
    run.progress(1, 3)
    with current_app.app_context():  # someone else, in a request of their own, presses Cancel
        jobs.request_cancel(db.session.get(Job, run.job.id))
        db.session.commit()
    run.check_cancel()
    run.progress(2, 3)
    return {"finished": True}


@jobs.handler("test.slow_step")
def slow_step(run: jobs.JobRun) -> dict:
    """One long step with no progress report: the heartbeat must keep the lease."""
    lease_at_start = db.session.scalar(sa.select(Job.lease_until).where(Job.id == run.job.id))
    db.session.commit()
    time.sleep(run.params["seconds"])
    lease_now = db.session.scalar(sa.select(Job.lease_until).where(Job.id == run.job.id))
    return {"renewed": lease_now > lease_at_start}


@pytest.fixture
def held(monkeypatch):
    queued: list[tuple[str, tuple, object]] = []
    monkeypatch.setattr(tasks, "enqueue_safely", lambda name, *args, eta=None: queued.append((name, args, eta)))
    return queued


class Clock:
    def __init__(self):
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(jobs, "utcnow", clock)
    return clock


def fresh(job_id: int) -> Job:
    db.session.expire_all()
    return db.session.get(Job, job_id)


def test_a_job_starts_once_its_transaction_commits_and_reports_its_result(ctx):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer])
    job = jobs.start("test.steps", event=event, actor=organizer, params={"steps": 3})
    assert fresh(job.id).status == J.QUEUED  # not before the commit
    job_id = job.id
    db.session.commit()  # the queue's test mode runs it here

    job = fresh(job_id)
    assert job.status == J.DONE and job.attempts == 1 and job.error == ""
    assert job.result == {"counted": 3, "resumed_at": 0, "attempt": 1}
    assert job.progress == {"done": 3, "total": 3, "note": ""} and job.fraction == 1.0
    assert (job.event_id, job.started_by_id) == (event.id, organizer.id)
    assert job.started_at and job.finished_at and job.lease_until is None
    assert jobs.get(job.public_id).id == job_id and len(job.public_id) >= 16
    assert [j.id for j in db.session.scalars(jobs.jobs_of_event(event))] == [job_id]


def test_a_rolled_back_start_leaves_no_job_and_queues_nothing(ctx, held):
    jobs.start("test.steps", params={"steps": 1})
    db.session.rollback()
    make_user("someone@example.org")  # a later commit
    assert held == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_an_unknown_kind_of_job_cannot_be_started(ctx):
    with pytest.raises(ValueError, match="No handler"):
        jobs.start("no.such.kind")


def test_a_failing_job_is_retried_with_backoff_then_kept_as_failed_with_its_error(ctx, held, clock):
    job = jobs.start("test.fails", max_attempts=3)
    db.session.commit()
    job_id = job.id
    assert held == [("run_job", (job_id,), None)]

    for attempt in (1, 2):
        assert jobs.run(job_id) == "retrying"
        job = fresh(job_id)
        assert (job.status, job.attempts) == (J.QUEUED, attempt)
        assert f"attempt {attempt}" in job.error and "RuntimeError" in job.error
        assert job.next_attempt_at > clock.now
        assert held[-1] == ("run_job", (job_id,), job.next_attempt_at)
        assert jobs.run(job_id) == "skipped"  # not before its time
        clock.now = job.next_attempt_at

    assert jobs.run(job_id) == "failed"
    job = fresh(job_id)
    assert (job.status, job.attempts) == (J.FAILED, 3)
    assert "the solver ran out of patience (attempt 3)" in job.error and job.finished_at
    clock.now += timedelta(days=1)
    assert jobs.run(job_id) == "skipped" and jobs.sweep() == 0  # failed is final


def test_a_job_runs_at_most_once_at_a_time(ctx, held):
    job = jobs.start("test.steps", params={"steps": 2})
    db.session.commit()
    assert jobs.run(job.id) == "done"
    assert jobs.run(job.id) == "skipped"  # a duplicate task finds nothing to do
    assert fresh(job.id).attempts == 1


def test_cancelling_a_queued_job_stops_it_before_it_starts(ctx, held):
    job = jobs.start("test.steps", params={"steps": 2})
    db.session.commit()
    jobs.request_cancel(job)
    db.session.commit()
    assert jobs.run(job.id) == "skipped"
    job = fresh(job.id)
    assert job.status == J.CANCELLED and job.attempts == 0 and job.finished_at
    with pytest.raises(DomainError, match="already finished"):
        jobs.request_cancel(job)


def test_cancelling_a_running_job_stops_it_at_its_next_check(ctx, held):
    job = jobs.start("test.cancelled_midway")
    db.session.commit()
    assert jobs.run(job.id) == "cancelled"
    job = fresh(job.id)
    assert job.status == J.CANCELLED and job.cancel_requested and job.result is None
    assert job.progress["done"] == 1


def test_a_job_whose_worker_died_is_taken_over_once_its_lease_runs_out(ctx, held, clock):
    job = jobs.start("test.steps", params={"steps": 4})
    db.session.commit()
    job_id = job.id
    # A worker claimed it, reported two steps and died.
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        status=J.RUNNING, attempts=1, lease_until=clock.now + timedelta(seconds=60),
        progress={"done": 2, "total": 4, "note": ""}))
    db.session.commit()
    held.clear()
    assert jobs.sweep() == 0 and jobs.run(job_id) == "skipped"  # its lease still holds

    clock.now += timedelta(seconds=61)
    assert jobs.sweep() == 1 and held == [("run_job", (job_id,), None)]
    assert jobs.run(job_id) == "done"
    job = fresh(job_id)
    assert job.attempts == 2 and job.result == {"counted": 4, "resumed_at": 2, "attempt": 2}


def test_a_job_that_kills_its_worker_every_time_ends_failed(ctx, held, clock):
    job = jobs.start("test.steps", params={"steps": 1}, max_attempts=2)
    db.session.commit()
    db.session.execute(sa.update(Job).where(Job.id == job.id).values(
        status=J.RUNNING, attempts=2, lease_until=clock.now - timedelta(seconds=1)))
    db.session.commit()
    assert jobs.run(job.id) == "failed"
    job = fresh(job.id)
    assert job.status == J.FAILED and "worker stopped while running it, 2 times" in job.error


def test_an_attempt_that_lost_its_job_to_another_worker_changes_nothing(ctx, held):
    job = jobs.start("test.steps", params={"steps": 4})
    db.session.commit()
    db.session.execute(sa.update(Job).where(Job.id == job.id).values(status=J.RUNNING, attempts=2))
    db.session.commit()
    stale = jobs.JobRun(fresh(job.id), attempt=1)
    stale.progress(3, 4)
    assert jobs._finish(job.id, 1, J.DONE, result={"stale": True}) == "done"
    job = fresh(job.id)
    assert job.status == J.RUNNING and job.progress == {} and job.result is None


def test_a_lost_task_is_found_by_the_sweep_and_a_cancelled_queued_job_is_closed(ctx, held, clock):
    lost = jobs.start("test.steps", params={"steps": 1})
    cancelled = jobs.start("test.steps", params={"steps": 1})
    db.session.commit()
    db.session.execute(sa.update(Job).where(Job.id == cancelled.id).values(cancel_requested=True))
    db.session.commit()
    held.clear()
    assert jobs.sweep() == 0  # just queued: its task is on its way
    clock.now += jobs.SWEEP_GRACE + timedelta(seconds=1)
    assert jobs.sweep() == 1 and held == [("run_job", (lost.id,), None)]
    assert fresh(cancelled.id).status == J.CANCELLED
    assert jobs.sweep() == 0


def test_the_heartbeat_keeps_the_lease_of_a_long_step(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "JOB_LEASE_SECONDS", 1.5)  # a beat every half second
    job = jobs.start("test.slow_step", params={"seconds": 1.6})
    db.session.commit()
    job = fresh(job.id)
    assert job.status == J.DONE and job.result == {"renewed": True}
