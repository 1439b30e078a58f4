"""Writing to people and watching the outbox, with thousands of people on an event.

    .venv/bin/python -m bench.messages [--people 2000] [--runs 10] [--database-url URL]

Builds a throw-away database (SQLite in a temporary folder unless --database-url is given) with one
event of ``--people`` accepted attendees (half of them signed up for one session) and prints:

1. The organizer's preview-and-count request and the send request for a message to all attendees,
   and to the session's sign-ups (the send queues one outbox row per recipient; no worker runs here,
   so the figure is the request's own work).
2. The outbox page, the messages page, a wave's page and its JSON status, the texts page: median and
   95th percentile time and the number of queries, which must not grow with the number of people.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import sqlalchemy as sa

from bench.common import measure, signed_in_client, throwaway_app
from workshop import tasks
from workshop.extensions import db
from workshop.models import (
    Candidate,
    CandidateStatus,
    Event,
    EventMessage,
    EventStatus,
    InviteWave,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    SignUp,
    User,
)
from workshop.services import invites


def populate(n: int) -> tuple[str, str]:
    organizer = User(email="org@bench.test", name="Organizer")
    db.session.add(organizer)
    today = date.today()
    event = Event(slug="bench", title="Bench Retreat", starts_on=today + timedelta(days=30),
                  ends_on=today + timedelta(days=31), capacity=n * 2, status=EventStatus.OPEN)
    event.organizers = [organizer]
    db.session.add(event)
    db.session.flush()
    users = [User(email=f"p{i}@bench.test", name=f"Person {i}") for i in range(n)]
    db.session.add_all(users)
    db.session.flush()
    db.session.add_all([Candidate(event_id=event.id, email=u.email, name=u.name, user_id=u.id,
                                  status=CandidateStatus.ACCEPTED) for u in users])
    talk = Proposal(event_id=event.id, title="Sparse Probes in Practice", status=ProposalStatus.ACCEPTED)
    talk.speakers = [ProposalSpeaker(user_id=users[0].id, is_lead=True, confirmed=True)]
    db.session.add(talk)
    db.session.flush()
    db.session.add_all([SignUp(proposal_id=talk.id, user_id=u.id) for u in users[: n // 2]])
    approved = [Candidate(event_id=event.id, email=f"new{i}@bench.test", status=CandidateStatus.APPROVED)
                for i in range(200)]
    db.session.add_all(approved)
    db.session.commit()
    invites.send_wave(organizer, event, approved)
    db.session.commit()
    return organizer.get_id(), talk.public_id


def timed_post(client, path: str, data: dict, expected: int) -> float:
    began = time.perf_counter()
    response = client.post(path, data=data)
    elapsed = (time.perf_counter() - began) * 1000
    assert response.status_code == expected, (path, response.status_code, response.get_data(as_text=True)[:300])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with throwaway_app(args.database_url) as app:
        tasks.enqueue_safely = lambda *a, **k: None  # no worker: the messages stay queued
        with app.app_context():
            user_id, talk = populate(args.people)
            wave_id = db.session.scalar(sa.select(sa.func.max(InviteWave.id)))
        client = signed_in_client(app, user_id)
        new = "/e/bench/manage/messages/new"
        print(f"{args.people} attendees, {args.people // 2} signed up for one session, a wave of 200 queued")
        for label, segment in (("all attendees", {"segment": "attendees"}),
                               ("one session's sign-ups", {"segment": "session_signups", "session": talk})):
            form = {**segment, "subject": "About {event}", "body": "Hello {name}, doors open at nine. {event_link}"}
            preview = timed_post(client, new, {**form, "action": "preview"}, 200)
            send = timed_post(client, new, {**form, "action": "send"}, 302)
            print(f"  write to {label}: preview and count {preview:.0f} ms, send (queue every copy) {send:.0f} ms")
        with app.app_context():
            message = db.session.scalar(sa.select(EventMessage.public_id).order_by(EventMessage.id.desc()))
        pages = {
            "outbox": "/e/bench/manage/outbox",
            "outbox, queued only": "/e/bench/manage/outbox?status=pending",
            "messages": "/e/bench/manage/messages/",
            "one message": f"/e/bench/manage/messages/{message}",
            "wave page": f"/e/bench/manage/waves/{wave_id}",
            "wave status (JSON)": f"/e/bench/manage/waves/{wave_id}/status",
            "texts": "/e/bench/manage/texts/",
            "invite list": "/e/bench/manage/invites/",
            "compose": new,
        }
        for name, path in pages.items():
            figures = measure(app, client, path, args.runs)
            print(f"  {name:22} median {figures.median_ms:6.1f} ms  p95 {figures.p95_ms:6.1f} ms  "
                  f"{figures.queries:3d} queries")


if __name__ == "__main__":
    main()
