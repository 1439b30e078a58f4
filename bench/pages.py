"""How heavy the programme's pages are at two sizes: bytes, queries and milliseconds per page.

    .venv/bin/python -m bench.pages [--talks 50,300] [--rooms 10] [--attendees 1000] [--runs 10]
                                     [--database-url URL]

Builds a throw-away database (SQLite in a temporary folder unless --database-url is given; on
PostgreSQL a schema of its own, dropped afterwards) with one event per size: the rooms, a slot
grid of three days, that many accepted talks of every tier placed in it and published, every
attendee's votes and sign-ups. Each page is requested through the WSGI app (no network) as the
person who uses it, and the script prints the median and 95th percentile time, the query count
and the size of the answer.

The targets it checks in the same run: at the largest size the editor stays under 250 KB and
60 ms, the talk list under 100 KB (it is paginated), and every page makes as many queries at
the largest size as at the smallest.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from workshop import calendar
from workshop.extensions import db
from workshop.models import (
    Agreement,
    AgreementAcceptance,
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    Placement,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Room,
    SignUp,
    Slot,
    Tier,
    User,
    Vote,
)
from workshop.services import api_tokens, schedule

from .common import Figures, measure, signed_in_client, throwaway_app

PAGES = [
    # (label, who asks, path under /e/<slug>)
    ("schedule", "attendee", "/schedule"),
    ("editor", "organizer", "/manage/schedule"),
    ("talk list", "attendee", "/proposals/"),
    ("invite list", "organizer", "/manage/invites/"),
    ("agenda", "attendee", "/agenda"),
    ("feed", "attendee", "/calendar.ics"),
    ("my feed", "attendee", "my feed"),
    ("my json", "attendee", "my json"),
    ("my frab xml", "attendee", "my xml"),
    ("schedule csv", "organizer", "/manage/schedule.csv"),
    ("overview", "organizer", "/manage/"),
    ("audit log", "organizer", "/manage/audit"),
    ("api talks", "api", "/api/v1/events/{slug}/talks"),
    ("api schedule", "api", "/api/v1/events/{slug}/schedule"),
]
# What the largest size must stay under: (KiB, ms); None where no target is set.
TARGETS = {"editor": (250, 60), "talk list": (100, None)}
SLOTS_PER_DAY = 10
TIERS = [Tier.PUBLIC, Tier.ATTENDEES, Tier.ATTENDEES, Tier.SESSION, Tier.RESTRICTED]


def insert(model, rows: list[dict]) -> None:
    if rows:
        db.session.execute(sa.insert(model), rows)


def populate(slug: str, n_talks: int, n_rooms: int, people: list[User], organizer: User, seed: int = 7) -> Event:
    """One open event with ``n_talks`` accepted talks placed and published, and ``people`` as attendees."""
    rng = random.Random(seed)
    starts_on = date.today() + timedelta(days=30)
    event = Event(slug=slug, title=f"Bench {n_talks}", starts_on=starts_on, ends_on=starts_on + timedelta(days=2),
                  capacity=len(people), status=EventStatus.OPEN, timezone="Europe/Berlin")
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
    rooms = [Room(event_id=event.id, name=f"Room {i + 1}", capacity=rng.choice([40, 60, 80, 120, 200]),
                  closed_door=i % 3 == 0, position=i) for i in range(n_rooms)]
    n_slots = -(-n_talks // n_rooms)
    slots = []
    for i in range(n_slots):
        day, hour = divmod(i, SLOTS_PER_DAY)
        begins = datetime.combine(starts_on + timedelta(days=day % 3), datetime.min.time()) + timedelta(
            hours=7 + hour, days=3 * (day // 3))
        slots.append(Slot(event_id=event.id, starts_at=begins, ends_at=begins + timedelta(minutes=50),
                          block=f"Day {day + 1}"))
    db.session.add_all(rooms + slots)
    db.session.flush()
    speakers = people[:n_talks]
    talks = [Proposal(event_id=event.id, title=f"Talk {i}: findings on topic {i % 37}",
                      abstract="Work in progress. " * 20, tier=TIERS[i % len(TIERS)], status=ProposalStatus.ACCEPTED,
                      chatham_house=i % 4 == 0, created_by_id=speakers[i].id) for i in range(n_talks)]
    db.session.add_all(talks)
    db.session.flush()
    insert(ProposalSpeaker, [{"proposal_id": t.id, "user_id": s.id, "is_lead": True, "confirmed": True}
                             for t, s in zip(talks, speakers)])
    votes, seats = [], []
    for person in people:
        for talk in rng.sample(talks, min(8, n_talks)):
            votes.append({"proposal_id": talk.id, "user_id": person.id})
        for talk in rng.sample(talks, min(3, n_talks)):
            seats.append({"proposal_id": talk.id, "user_id": person.id, "status": "confirmed"})
    insert(Vote, votes)
    insert(SignUp, seats)
    insert(Placement, [{"event_id": event.id, "proposal_id": t.id, "room_id": rooms[i % n_rooms].id,
                        "slot_id": slots[i // n_rooms].id} for i, t in enumerate(talks)])
    db.session.commit()
    schedule.publish(organizer, event)
    db.session.commit()
    return event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", default="50,300", help="comma-separated sizes")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--attendees", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.talks.split(","))

    results: dict[tuple[str, int], Figures] = {}
    with throwaway_app(args.database_url, SECRET_KEY="bench", BASE_URL="http://bench.test",
                       API_RATE_LIMIT="100000 per minute") as app:
        with app.app_context():
            started = time.perf_counter()
            organizer = User(email="org@bench.test", name="Organizer")
            people = [User(email=f"person{i}@bench.test", name=f"Person {i}") for i in range(args.attendees)]
            db.session.add_all([organizer, *people])
            db.session.commit()
            attendee = people[-1]  # speaks at nothing
            feeds = {}
            for n in sizes:
                event = populate(f"bench{n}", n, args.rooms, people, organizer)
                feeds[n] = calendar.reset_feed(attendee, event)
            _token, api_token = api_tokens.create_token(attendee, "bench")
            db.session.commit()
            print(f"database: {db.engine.url.render_as_string().split('@')[-1]}; {args.rooms} rooms, "
                  f"{args.attendees} attendees, {', '.join(map(str, sizes))} talks built in "
                  f"{time.perf_counter() - started:.1f} s; {args.runs} runs per page\n")
            clients = {"organizer": signed_in_client(app, organizer),
                       "attendee": signed_in_client(app, attendee), "api": app.test_client()}
            clients["api"].environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_token}"
        print(f"machine load (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; cpu ms is the time the "
              "page took to compute, which a busy machine does not stretch\n")
        print(f"{'page':12} {'talks':>5} {'median ms':>10} {'p95 ms':>8} {'cpu ms':>8} {'queries':>8} {'KiB':>8}")
        for label, role, path in PAGES:
            for n in sizes:
                full = path_of(path, f"bench{n}", feeds[n])
                figures = results[(label, n)] = measure(app, clients[role], full, args.runs)
                print(f"{label:12} {n:5d} {figures.median_ms:10.1f} {figures.p95_ms:8.1f} {figures.cpu_ms:8.1f} "
                      f"{figures.queries:8d} {figures.size / 1024:8.1f}")
        print()
        report(results, sizes)


def path_of(path: str, slug: str, feed: str) -> str:
    """A page's address at one size: the personal feed and exports at the secret link, the API by its own path."""
    if path.startswith("my "):
        return f"/calendar/{feed}.{ {'feed': 'ics', 'json': 'json', 'xml': 'xml'}[path[3:]] }"
    if path.startswith("/api/"):
        return path.format(slug=slug)
    return f"/e/{slug}{path}"


def report(results: dict[tuple[str, int], Figures], sizes: list[int]) -> None:
    """The targets, each met or missed, at the largest size; and whether query counts stayed flat."""
    largest = sizes[-1]
    for label, (kib, ms) in TARGETS.items():
        figures = results[(label, largest)]
        size = figures.size / 1024
        checks = [f"{size:.0f} KiB {'<' if size < kib else '>='} {kib} KiB"]
        if ms is not None:
            checks.append(f"{figures.median_ms:.0f} ms {'<' if figures.median_ms < ms else '>='} {ms} ms "
                          f"({figures.cpu_ms:.0f} ms of cpu)")
        met = size < kib and (ms is None or figures.median_ms < ms)
        print(f"target {label} at {largest} talks: {', '.join(checks)}: {'met' if met else 'MISSED'}")
    for label, _role, _path in PAGES:
        counts = [results[(label, n)].queries for n in sizes]
        print(f"queries {label}: {' → '.join(map(str, counts))}: {'flat' if len(set(counts)) == 1 else 'GROWING'}")


if __name__ == "__main__":
    main()
