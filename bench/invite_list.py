"""How fast the organizer's pages answer with thousands of candidates, and how many queries they make.

    .venv/bin/python -m bench.invite_list [--candidates 5000] [--runs 20] [--database-url URL]

Builds a throw-away database (SQLite in a temporary folder unless --database-url is given; on
PostgreSQL it uses a schema of its own and drops it afterwards), fills one event with seeded
random candidates, tags, vouches and audit entries, and requests each page through the WSGI app
(no network), printing the median and 95th percentile time and the query count per page.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import date, timedelta

from workshop.extensions import db
from workshop.models import (
    Agreement,
    AgreementAcceptance,
    AuditEntry,
    Candidate,
    CandidateStatus,
    CandidateTag,
    Event,
    EventStatus,
    User,
    Vouch,
)

from .common import measure, signed_in_client, throwaway_app

PAGES = [
    ("invite list", "/e/bench/manage/invites/"),
    ("invite list, filtered", "/e/bench/manage/invites/?status=accepted&tag=tag3&sort=name"),
    ("invite list, search", "/e/bench/manage/invites/?q=person12"),
    ("invite list, page 20", "/e/bench/manage/invites/?page=20"),
    ("overview + funnel", "/e/bench/manage/"),
    ("audit log", "/e/bench/manage/audit"),
    ("agreement + signatures", "/e/bench/manage/agreement"),
    ("CSV export", "/e/bench/manage/invites/export.csv"),
    ("my events", "/"),
]


def populate(n: int, seed: int = 7) -> User:
    rng = random.Random(seed)
    organizer = User(email="org@bench.test", name="Organizer")
    db.session.add(organizer)
    today = date.today()
    event = Event(slug="bench", title="Bench", starts_on=today + timedelta(days=30), ends_on=today + timedelta(days=31),
                  capacity=n, status=EventStatus.OPEN)
    event.organizers = [organizer]
    db.session.add(event)
    db.session.flush()
    agreement = Agreement(event_id=event.id, version=1, text="Keep it in the room.")
    db.session.add(agreement)
    vouchers = [User(email=f"voucher{i}@bench.test", name=f"Voucher {i}") for i in range(20)]
    db.session.add_all(vouchers)
    db.session.flush()
    statuses = list(CandidateStatus)
    candidates = [
        Candidate(event_id=event.id, email=f"person{i}@bench.test", name=f"Person {i}", affiliation=f"Lab {i % 97}",
                  status=rng.choice(statuses))
        for i in range(n)
    ]
    db.session.add_all(candidates)
    db.session.flush()
    for candidate in candidates:
        for tag in rng.sample(range(10), 2):
            db.session.add(CandidateTag(candidate_id=candidate.id, tag=f"tag{tag}"))
        if rng.random() < 0.2:
            db.session.add(Vouch(candidate_id=candidate.id, user_id=rng.choice(vouchers).id, note="Vouched."))
        db.session.add(AuditEntry(event_id=event.id, actor_id=organizer.id, action="add candidate",
                                  target=f"candidate {candidate.email}"))
    for voucher in vouchers:
        db.session.add(AgreementAcceptance(agreement_id=agreement.id, user_id=voucher.id, typed_name=voucher.name))
    db.session.commit()
    return organizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    args = parser.parse_args()

    with throwaway_app(args.database_url) as app:
        with app.app_context():
            started = time.perf_counter()
            organizer = populate(args.candidates)
            print(f"database: {db.engine.url.render_as_string().split('@')[-1]}; {args.candidates} candidates "
                  f"built in {time.perf_counter() - started:.1f} s; {args.runs} runs per page\n")
            client = signed_in_client(app, organizer)
        print(f"{'page':26} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'KiB':>7}")
        for label, path in PAGES:
            figures = measure(app, client, path, args.runs)
            print(f"{label:26} {figures.median_ms:10.1f} {figures.p95_ms:8.1f} {figures.queries:8d} "
                  f"{figures.size / 1024:7.0f}")


if __name__ == "__main__":
    main()
