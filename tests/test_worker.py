"""A real worker process (``flask worker``) against a local fake SendGrid, on the test database.

The test process queues work through the app (a request, a service call) into a SQLite queue
file in a temporary folder; the worker, started as a separate process with its own settings,
takes it from there. Workers are killed outright (SIGKILL) in the middle of a send and of a
job, and a new one finishes the work.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import time as clock
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests import job_kinds  # noqa: F401  (the job kinds the worker knows too)
from tests.fake_sendgrid import FakeSendGrid
from tests.helpers import login_as, make_candidate, make_event, make_participant, make_pdf, make_talk, make_user
from tests.materials import pdfs
from workshop import tasks
from workshop.extensions import db
from workshop.models import (
    CandidateStatus,
    Event,
    EventStatus,
    Job,
    JobStatus,
    Material,
    MaterialState,
    MessageStatus,
    OutboxMessage,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    User,
    Vote,
    utcnow,
)
from workshop.services import accounts, autoschedule, jobs, schedule

ROOT = Path(__file__).resolve().parent.parent
M = MessageStatus


def wait_for(condition, timeout: float = 60.0, what: str = "the worker"):
    """Poll ``condition`` (reading the database afresh each time) until it is true."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.remove()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


class Worker:
    """``flask --app tests.worker_app worker`` in a process of its own."""

    def __init__(self, env: dict[str, str], log: Path, threads: int):
        self.env, self.log, self.threads = env, log, threads
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "tests.worker_app", "worker", "-w", str(self.threads)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """As a crash, an OOM kill or a pulled plug would: no chance to tidy up."""
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """Ctrl-C: finish what is under way, then exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def provider():
    fake = FakeSendGrid().start()
    yield fake
    fake.stop()


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["sqlite"])
def queue_url(request, tmp_path):
    """Where the test process and the worker meet: a SQLite file, or (when a test asks) Redis."""
    if request.param == "redis":
        if not redis_reachable():
            pytest.skip(f"no Redis at {REDIS_URL}")
        return REDIS_URL
    return f"sqlite:///{tmp_path / 'queue.db'}"


@pytest.fixture
def worker(app, tmp_path, provider, queue_url, monkeypatch):
    """The app's queue becomes the one the worker reads; returns a factory of workers."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "TASK_QUEUE_URL", queue_url)
    monkeypatch.setitem(app.config, "TASK_QUEUE_NAME", name)
    monkeypatch.setitem(app.extensions, tasks.EXTENSION, tasks.TaskQueue(app))
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("options")
    if options:  # the test run's own PostgreSQL schema
        database_url += "?options=" + quote(options)
    env = {
        **os.environ,
        "SECRET_KEY": "test-secret", "DATABASE_URL": database_url, "BASE_URL": app.config["BASE_URL"],
        "TASK_QUEUE_URL": queue_url, "TASK_QUEUE_NAME": name,
        "MAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": "SG.test", "SENDGRID_API_URL": provider.url,
        "MAIL_TIMEOUT_SECONDS": "1", "MAIL_RETRY_SECONDS": "0.5", "MAIL_PROVIDER_BACKOFF_SECONDS": "0.5",
        "MAIL_PAUSE_MAX_SECONDS": "5", "MAIL_LEASE_SECONDS": "3", "MAIL_RATE_PER_SECOND": "0",
        "MAIL_MAX_ATTEMPTS": "20", "JOB_LEASE_SECONDS": "2",
        "MATERIALS_DIR": app.config["MATERIALS_DIR"], "STORAGE_URL": app.config["STORAGE_URL"],
    }
    started: list[Worker] = []

    def make(threads: int = 2) -> Worker:
        worker = Worker(env, tmp_path / "worker.log", threads).start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        if worker.process.poll() is None:
            worker.stop()
    tasks.queue_of(app).huey.storage.flush_all()  # nothing of this test stays in a shared Redis


def messages() -> list[OutboxMessage]:
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def all_sent() -> bool:
    rows = messages()
    return bool(rows) and all(m.status == M.SENT for m in rows)


@pytest.mark.parametrize("queue_url", ["sqlite", "redis"], indirect=True)
def test_requests_never_call_the_provider_and_each_message_is_sent_once_it_recovers(app, client, provider, worker):
    """A wave and sign-in requests while the provider answers 500, then hangs, then recovers."""
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING, capacity=100)
    people = [make_candidate(event, f"p{i}@example.org", CandidateStatus.APPROVED) for i in range(40)]
    members = [make_user(f"member{i}@example.org") for i in range(3)]
    expected = [p.email for p in people] + [m.email for m in members]
    provider.set("error")

    login_as(client, organizer)
    response = client.post("/e/retreat/manage/invites/bulk", data={"action": "invite", "ids": [p.id for p in people]})
    assert response.status_code == 302
    login_as(client, None)
    for address in expected[-3:] + ["nobody@example.org"]:
        assert client.post("/auth/sign-in", data={"email": address}).status_code == 200
    # No worker runs yet: everything the requests did, they did without the provider.
    assert provider.calls == []
    assert len(messages()) == 44 and {m.status for m in messages()} == {M.PENDING}

    running = worker(threads=2)
    wait_for(lambda: len(provider.calls) >= 2, what="calls to the failing provider")
    provider.set("hang")
    hanging_from = len(provider.calls)
    wait_for(lambda: len(provider.calls) > hanging_from, what="a call to the hanging provider")
    time.sleep(1.5)  # long enough for a call to time out
    provider.set("ok")
    wait_for(all_sent, timeout=120, what="every message to be sent")

    assert sorted(c.to for c in provider.accepted()) == sorted(expected)  # each exactly once
    assert provider.accepted_to("nobody@example.org") == []
    assert {c.status for c in provider.calls} >= {500, None, 202}  # it did fail, hang, then answer
    assert all(m.lease_until is None for m in messages())
    assert running.stop() == 0, running.output()


@pytest.mark.parametrize("queue_url", ["sqlite", "redis"], indirect=True)
def test_a_worker_killed_during_a_send_is_replaced_and_the_message_goes_once(app, ctx, provider, worker):
    make_user("ada@example.org")
    provider.set("hang")
    accounts.request_sign_in("ada@example.org")
    db.session.commit()

    first = worker(threads=1)
    wait_for(lambda: provider.calls, what="the send to start")
    first.kill()
    [message] = messages()
    assert message.status == M.SENDING  # held by a worker that is gone

    provider.set("ok")
    wait_for(lambda: messages()[0].lease_until < utcnow(), timeout=10, what="the lease to run out")
    worker(threads=1)  # on start it takes back what the dead worker held
    wait_for(all_sent, what="the message to be sent")
    assert [c.to for c in provider.accepted()] == ["ada@example.org"]
    assert messages()[0].attempts == 2


def test_a_429_pauses_the_worker_for_its_retry_after_with_one_probe_per_pause(app, ctx, provider, worker):
    for i in range(8):
        make_user(f"p{i}@example.org")
        accounts.request_sign_in(f"p{i}@example.org")
    db.session.commit()
    provider.retry_after = "2"
    provider.throttle_next = 2

    worker(threads=1)
    wait_for(all_sent, timeout=60, what="every message to be sent")
    calls = provider.calls
    assert [c.status for c in calls] == [429, 429] + [202] * 8
    # Nothing arrived during either pause: the only call after each 429 is the one probe at its end.
    assert calls[1].at - calls[0].at >= 2 - 0.05
    assert calls[2].at - calls[1].at >= 2 - 0.05
    assert sorted(c.to for c in provider.accepted()) == [f"p{i}@example.org" for i in range(8)]


def test_a_worker_killed_mid_job_is_replaced_and_the_job_completes_from_its_progress(app, ctx, worker):
    job = jobs.start("test.steps", params={"steps": 8, "delay": 0.4})
    db.session.commit()
    job_id = job.id

    first = worker(threads=1)
    wait_for(lambda: (db.session.get(Job, job_id).progress or {}).get("done", 0) >= 2, what="the job to progress")
    first.kill()
    held = db.session.get(Job, job_id)
    assert held.status == JobStatus.RUNNING and held.attempts == 1

    wait_for(lambda: db.session.get(Job, job_id).lease_until < utcnow(), timeout=10, what="the lease to run out")
    worker(threads=1)
    done = wait_for(lambda: (j := db.session.get(Job, job_id)).status.finished and j, what="the job to finish")
    assert done.status == JobStatus.DONE, done.error
    assert done.attempts == 2
    assert done.result["counted"] == 8 and done.result["resumed_at"] >= 2 and done.result["attempt"] == 2
    assert done.progress == {"done": 8, "total": 8, "note": ""}


# --- the auto-scheduler in a real worker --------------------------------------------------------


def crowded_event():
    """An event the scheduler cannot finish early (no schedule reaches the bound it can prove): 120 accepted
    talks, 5 rooms, 32 slots over two days (consecutive pairs, so the long talks span two), 200 attendees
    who each want 20 of the talks."""
    rng = random.Random(7)
    organizer = make_user("org@example.org")
    event = make_event("crowded", organizers=[organizer], status=EventStatus.OPEN, capacity=300)
    for name, seats in (("Hall", 120), ("Room A", 60), ("Room B", 40), ("Room C", 40), ("Nook", 20)):
        schedule.add_room(organizer, event, name, seats, False)
    starts = [clock(h, m) for h in (8, 10, 12, 14, 16, 18, 20, 22) for m in (0, 45)]
    for day in range(2):
        schedule.add_slots(organizer, event, event.starts_on + timedelta(days=day), starts, 45)
    people = [User(email=f"p{i}@example.org", name=f"P {i}") for i in range(200)]
    db.session.add_all(people)
    db.session.flush()
    talks = [Proposal(event_id=event.id, title=f"Talk {i}", status=ProposalStatus.ACCEPTED,
                      duration_minutes=90 if i % 10 == 0 else 45) for i in range(120)]
    db.session.add_all(talks)
    db.session.flush()
    db.session.add_all([ProposalSpeaker(proposal_id=t.id, user_id=people[i % 60].id, is_lead=True, confirmed=True)
                        for i, t in enumerate(talks)])
    db.session.add_all([Vote(proposal_id=t.id, user_id=person.id) for person in people
                        for t in rng.sample(talks, 20)])
    db.session.commit()
    return organizer, event


def test_a_worker_killed_during_an_auto_schedule_is_replaced_and_the_run_completes(app, ctx, worker):
    organizer, event = crowded_event()
    job = autoschedule.start(organizer, event, "all", time_limit=6, seed=1)
    db.session.commit()
    job_id, organizer_id, event_id = job.id, organizer.id, event.id

    first = worker(threads=1)
    # The bar has moved and the best schedule so far is reported: the solver is well under way.
    wait_for(lambda: ((db.session.get(Job, job_id).progress or {}).get("figures") or {}).get("missed") is not None
             and db.session.get(Job, job_id).progress["done"] >= 10, what="the run to report progress")
    first.kill()
    held = db.session.get(Job, job_id)
    assert held.status == JobStatus.RUNNING and held.attempts == 1 and held.result is None

    wait_for(lambda: db.session.get(Job, job_id).lease_until < utcnow(), timeout=10, what="the lease to run out")
    worker(threads=1)
    done = wait_for(lambda: (j := db.session.get(Job, job_id)).status.finished and j, timeout=90,
                    what="the run to finish")
    assert done.status == JobStatus.DONE, done.error
    assert done.attempts == 2
    assert len(done.result["placements"]) == 120 and done.result["unplaced"] == []
    assert done.result["figures"]["bound"] <= done.result["figures"]["missed"]
    # What the restarted run proposes applies like any other.
    organizer, event = db.session.get(User, organizer_id), db.session.get(Event, event_id)
    assert autoschedule.apply(organizer, event, done) == 120
    db.session.commit()


def test_an_auto_schedule_cancelled_while_it_runs_stops_within_seconds(app, ctx, worker):
    organizer, event = crowded_event()
    job = autoschedule.start(organizer, event, "all", time_limit=120, seed=1)
    db.session.commit()
    job_id, organizer_id, event_id = job.id, organizer.id, event.id
    running = worker(threads=1)
    wait_for(lambda: (db.session.get(Job, job_id).progress or {}).get("figures"), what="the run to report progress")
    autoschedule.cancel(db.session.get(User, organizer_id), db.session.get(Event, event_id),
                        db.session.get(Job, job_id))
    db.session.commit()
    asked = utcnow()
    done = wait_for(lambda: (j := db.session.get(Job, job_id)).status.finished and j, timeout=30,
                    what="the run to stop")
    assert done.status == JobStatus.CANCELLED and done.result is None
    assert (done.finished_at - asked).total_seconds() < 5
    assert jobs.get(done.public_id).attempts == 1
    assert running.stop() == 0, running.output()


# --- uploads prepared by a real worker ----------------------------------------------------------


def png_image() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (480, 320), (230, 236, 245)).save(out, "PNG")
    return out.getvalue()


def test_a_worker_prepares_uploads_refuses_hostile_ones_and_carries_on(app, client, worker):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], capacity=20)
    speaker = make_participant(event, "speaker@example.org")
    attendee = make_participant(event, "ada@example.org")
    talk = make_talk(event, speaker)
    attendee_id = attendee.id
    uploads = {"scripts.pdf": pdfs.with_scripts(), "pages.pdf": pdfs.many_pages(2000),
               "bomb.pdf": pdfs.with_bomb("content", gigabytes=3), "loop.pdf": pdfs.page_tree(cycle=True),
               "slides.pdf": make_pdf("Plain", pages=3), "photo.png": png_image()}
    login_as(client, speaker)
    for name, data in uploads.items():
        response = client.post(f"/e/{event.slug}/proposals/{talk.public_id}/materials",
                               data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
        assert response.status_code == 302
    # No worker yet: every upload waits, stored as sent, and is served to nobody.
    states = {m.filename: m.state for m in db.session.scalars(sa.select(Material))}
    assert states == dict.fromkeys(uploads, MaterialState.PROCESSING)

    running = worker(threads=1)
    wait_for(lambda: not db.session.scalar(sa.select(sa.func.count()).select_from(Material).where(
        Material.state == MaterialState.PROCESSING)), timeout=240, what="every upload to be prepared")
    rows = {m.filename: m for m in db.session.scalars(sa.select(Material))}
    assert {name: m.state for name, m in rows.items()} == {
        "scripts.pdf": MaterialState.READY, "pages.pdf": MaterialState.REFUSED, "bomb.pdf": MaterialState.REFUSED,
        "loop.pdf": MaterialState.READY, "slides.pdf": MaterialState.READY, "photo.png": MaterialState.READY}
    assert "more than 300 pages" in rows["pages.pdf"].refusal
    assert "unpacks to more than" in rows["bomb.pdf"].refusal
    assert "JavaScript" in rows["scripts.pdf"].removed
    assert (rows["loop.pdf"].pages, rows["slides.pdf"].pages) == (2, 3)
    assert running.process.poll() is None, running.output()  # the hostile files cost the worker nothing

    login_as(client, db.session.get(User, attendee_id))
    served = client.get(f"/m/{rows['scripts.pdf'].public_id}")
    assert served.status_code == 200 and b"app.alert" not in pdfs.everything(served.data)
    image = client.get(f"/m/{rows['photo.png'].public_id}")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.data.startswith(b"\x89PNG") and image.data != uploads["photo.png"]
    assert client.get(f"/m/{rows['bomb.pdf'].public_id}").status_code == 403
    assert running.stop() == 0, running.output()
