"""Mail through the worker: how long a request takes to queue a wave, and how fast workers send.

    .venv/bin/python -m bench.mail [--people 2000] [--workers 4] [--database-url URL] [--queue-url URL]

Builds a throw-away database (SQLite in a temporary folder unless --database-url is given; on
PostgreSQL a schema of its own, dropped afterwards) and a task queue (a SQLite file beside it
unless --queue-url, e.g. redis://127.0.0.1:6379/15), starts a local fake SendGrid, and prints:

1. The organizer's request that invites the whole wave (one POST, through the WSGI app), against
   its baseline: the same wave with every email written and sent inside the request, as the
   outbox did before it had a worker.
2. Real worker processes (``flask worker``) sending the wave to the fake provider: mails per
   second from the first call to the last, against the baseline of one sender in one process
   (``flask send-mail``). The global rate limit is lifted for this (the default is 50 a second).
3. The sign-in form for a known and an unknown address: the same work, so the same time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.fake_sendgrid import FakeSendGrid
from workshop import create_app, mail, tasks
from workshop.extensions import db
from workshop.models import Candidate, CandidateStatus, Event, EventStatus, MessageStatus, OutboxMessage, User
from workshop.services import accounts

ROOT = Path(__file__).resolve().parent.parent


def populate(n: int, slug: str) -> tuple[User, list[int]]:
    organizer = db.session.scalar(sa.select(User).where(User.email == "org@bench.test"))
    if organizer is None:
        organizer = User(email="org@bench.test", name="Organizer")
        db.session.add(organizer)
    today = date.today()
    event = Event(slug=slug, title=f"Bench {slug}", starts_on=today + timedelta(days=30),
                  ends_on=today + timedelta(days=31), capacity=n, status=EventStatus.INVITING)
    event.organizers = [organizer]
    db.session.add(event)
    db.session.flush()
    people = [Candidate(event_id=event.id, email=f"{slug}-{i}@bench.test", name=f"Person {i}",
                        status=CandidateStatus.APPROVED) for i in range(n)]
    db.session.add_all(people)
    db.session.commit()
    return organizer, [p.id for p in people]


def invite_all(app, signed_in: tuple[str, str], slug: str, ids: list[int]) -> float:
    """``signed_in``: the organizer's user id and session key, as a sign-in leaves them in the cookie."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"], session[accounts.SESSION_KEY] = signed_in
    began = time.perf_counter()
    response = client.post(f"/e/{slug}/manage/invites/bulk", data={"action": "invite", "ids": ids})
    elapsed = time.perf_counter() - began
    assert response.status_code == 302, response.status_code
    return elapsed


def waiting(slug: str) -> int:
    db.session.remove()
    event_id = db.session.scalar(sa.select(Event.id).where(Event.slug == slug))
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.event_id == event_id, OutboxMessage.status != MessageStatus.SENT))


def use_queue(app, url: str) -> None:
    app.config["TASK_QUEUE_URL"] = url
    tasks.init_app(app)


def stop(workers: list[subprocess.Popen]) -> None:
    for process in workers:
        process.terminate()
    for process in workers:
        process.wait()
    workers.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4, help="worker threads (in one worker process)")
    parser.add_argument("--processes", type=int, default=1, help="worker processes")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--queue-url", default="")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="conclave-bench-"))
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    queue_url = args.queue_url or f"sqlite:///{tmp}/queue.db"
    options: dict = {}
    schema = ""
    worker_url = url
    if url.startswith("postgresql"):
        schema = f"bench_{os.getpid()}"
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        options = {"connect_args": {"options": f"-csearch_path={schema}"}}
        worker_url = f"{url}?options=-csearch_path%3D{schema}"
    provider = FakeSendGrid().start()
    settings = {
        "SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options, "TASK_QUEUE_URL": queue_url,
        "TASK_QUEUE_NAME": f"bench-{os.getpid()}", "MAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": "SG.bench",
        "SENDGRID_API_URL": provider.url, "MAIL_RATE_PER_SECOND": 0.0, "BASE_URL": "http://conclave.bench",
    }
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, **settings})
    workers: list[subprocess.Popen] = []
    try:
        with app.app_context():
            db.create_all()
            organizer, queued_ids = populate(args.people, "queued")
            _, inline_ids = populate(args.people, "inline")
            _, drained_ids = populate(args.people, "drained")
            user_id = (organizer.get_id(), accounts.open_session(organizer))
            db.session.commit()
        print(f"database: {url.split('@')[-1]}; queue: {queue_url.split('@')[-1]}; {args.people:,} people a wave\n")

        # 1. The request that invites a wave, and the same request sending every email before it answers.
        queued = invite_all(app, user_id, "queued", queued_ids)
        use_queue(app, "immediate")
        inline = invite_all(app, user_id, "inline", inline_ids)
        use_queue(app, queue_url)
        print(f"request inviting {args.people:,} people:            {queued * 1000:8.0f} ms  (queued for the worker)")
        print(f"baseline, every email sent in the request: {inline * 1000:8.0f} ms  "
              f"({len(provider.calls):,} calls to the provider)\n")

        # 2. Worker processes send the queued wave; then one sender in one process sends another.
        env = {**os.environ, "SECRET_KEY": "bench", "DATABASE_URL": worker_url,
               **{k: str(v) for k, v in settings.items() if not k.startswith("SQLALCHEMY")}}
        calls_before = len(provider.calls)
        began = time.perf_counter()
        workers = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "-w", str(args.workers),
                                     "--no-periodic"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for _ in range(args.processes)]
        with app.app_context():
            while waiting("queued"):
                time.sleep(0.05)
                if time.perf_counter() - began > 600:
                    raise SystemExit("the workers did not finish in 10 minutes")
        elapsed = time.perf_counter() - began
        calls = provider.calls[calls_before:]
        sending = calls[-1].at - calls[0].at
        stop(workers)
        print(f"{args.processes} worker process(es) x {args.workers} threads:    {len(calls) / sending:8.0f} mails/s  "
              f"({len(calls):,} from the first call to the last in {sending:.1f} s; {elapsed:.1f} s with start-up)")
        invite_all(app, user_id, "drained", drained_ids)
        with app.app_context():
            began = time.perf_counter()
            total = 0
            while count := mail.send_due(limit=500)["sent"]:
                total += count
            elapsed = time.perf_counter() - began
        print(f"baseline, one sender in one process:     {total / elapsed:8.0f} mails/s  "
              f"({total:,} in {elapsed:.1f} s)\n")

        # 3. The sign-in form, known and unknown addresses.
        with app.app_context():
            db.session.add(User(email="known@example.org", name="Known"))
            db.session.commit()
        client = app.test_client()
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        for _ in range(100):
            for label, address in (("known", "known@example.org"), ("unknown", "nobody@example.org")):
                began = time.perf_counter()
                response = client.post("/auth/sign-in", data={"email": address})
                timings[label].append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:300])
        for label, values in timings.items():
            print(f"sign-in form, {label:7} address: median {statistics.median(values):6.2f} ms, "
                  f"p90 {sorted(values)[int(len(values) * 0.9)]:6.2f} ms")
    finally:
        stop(workers)
        provider.stop()
        with app.app_context():
            db.session.remove()
            if schema:
                with db.engine.begin() as connection:
                    connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            db.engine.dispose()


if __name__ == "__main__":
    main()
