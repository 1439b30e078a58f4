"""How heavy a talk's audience is: the talk page (with its figures) and the audience page, at several
event sizes, as a speaker asks for them.

    .venv/bin/python -m bench.audience [--people 100,1000,3000] [--runs 10] [--database-url URL]

Each size is an open event with that many accepted attendees who signed the agreement, a restricted talk
by two speakers with a scheduled release to the attendees tier, extra terms, a tenth of the attendees
named, a tenth recorded as attending, an exclusion by domain matching every twentieth attendee, and the
organizers. Each page is requested through the WSGI app (no network); the script prints the median and
95th percentile time, the query count and the size of the answer, and whether the query count stays flat.
"""

from __future__ import annotations

import argparse
import os
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from workshop.extensions import db
from workshop.models import (
    Agreement,
    AgreementAcceptance,
    Attendance,
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    Proposal,
    ProposalAccess,
    ProposalExclusion,
    ProposalSpeaker,
    ProposalStatus,
    Tier,
    User,
)

from .common import Figures, measure, signed_in_client, throwaway_app


def insert(model, rows: list[dict]) -> None:
    if rows:
        db.session.execute(sa.insert(model), rows)


def populate(n: int) -> tuple[Event, Proposal, User]:
    starts_on = date.today() + timedelta(days=30)
    organizer = User(email=f"org{n}@bench.test", name="Organizer")
    people = [User(email=f"p{i}@{'rival.test' if i % 20 == 0 else 'bench.test'}".replace("@", f".{n}@"),
                   name=f"Person {i}") for i in range(n)]
    db.session.add_all([organizer, *people])
    db.session.flush()
    event = Event(slug=f"bench{n}", title=f"Bench {n}", starts_on=starts_on, ends_on=starts_on + timedelta(days=2),
                  capacity=n, status=EventStatus.OPEN, timezone="UTC")
    event.organizers = [organizer]
    db.session.add(event)
    db.session.flush()
    agreement = Agreement(event_id=event.id, version=1, text="Keep it in the room.")
    db.session.add(agreement)
    db.session.flush()
    insert(Candidate, [{"event_id": event.id, "email": u.email, "name": u.name, "status": CandidateStatus.ACCEPTED,
                        "user_id": u.id} for u in people])
    insert(AgreementAcceptance, [{"agreement_id": agreement.id, "user_id": u.id, "typed_name": u.name}
                                 for u in people])
    talk = Proposal(event_id=event.id, title="Early results", tier=Tier.RESTRICTED, status=ProposalStatus.ACCEPTED,
                    release_tier=Tier.ATTENDEES, release_at=datetime.combine(starts_on, datetime.min.time()),
                    extra_terms="Do not cite.")
    db.session.add(talk)
    db.session.flush()
    speaker = people[1]
    insert(ProposalSpeaker, [{"proposal_id": talk.id, "user_id": people[1].id, "is_lead": True, "confirmed": True},
                             {"proposal_id": talk.id, "user_id": people[2].id, "is_lead": False, "confirmed": True}])
    insert(ProposalAccess, [{"proposal_id": talk.id, "user_id": u.id} for u in people[3::10]])
    insert(Attendance, [{"proposal_id": talk.id, "user_id": u.id} for u in people[5::10]])
    db.session.add(ProposalExclusion(proposal_id=talk.id, domain="rival.test"))
    db.session.commit()
    return event, talk, speaker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", default="100,1000,3000", help="comma-separated sizes")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.people.split(","))
    results: dict[tuple[str, int], Figures] = {}
    with throwaway_app(args.database_url, SECRET_KEY="bench", BASE_URL="http://bench.test") as app:
        targets = {}
        with app.app_context():
            for n in sizes:
                event, talk, speaker = populate(n)
                targets[n] = (f"/e/{event.slug}/proposals/{talk.public_id}", speaker.get_id())
            print(f"database: {db.engine.url.render_as_string().split('@')[-1]}; {args.runs} runs per page; "
                  f"machine load (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
        print(f"{'page':14} {'people':>6} {'median ms':>10} {'p95 ms':>8} {'cpu ms':>8} {'queries':>8} {'KiB':>8}")
        for label, suffix in (("talk page", ""), ("audience page", "/audience")):
            for n in sizes:
                path, user_id = targets[n]
                client = signed_in_client(app, user_id)
                figures = results[(label, n)] = measure(app, client, path + suffix, args.runs)
                print(f"{label:14} {n:6d} {figures.median_ms:10.1f} {figures.p95_ms:8.1f} {figures.cpu_ms:8.1f} "
                      f"{figures.queries:8d} {figures.size / 1024:8.1f}")
        print()
        for label in ("talk page", "audience page"):
            counts = [results[(label, n)].queries for n in sizes]
            print(f"queries {label}: {' → '.join(map(str, counts))}: {'flat' if len(set(counts)) == 1 else 'GROWING'}")


if __name__ == "__main__":
    main()
