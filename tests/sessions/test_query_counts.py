"""The schedule, agenda and check-in pages ask the database the same number of questions however many
sessions, rooms, sign-ups and attendees there are."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from tests.helpers import Programme, counting, login_as, make_talk
from workshop import calendar, policy
from workshop.extensions import db
from workshop.models import Attendance, ProposalAccess, Tier
from workshop.services import schedule, signups

TIERS = [Tier.PUBLIC, Tier.ATTENDEES, Tier.SESSION, Tier.RESTRICTED]


def grow(programme: Programme, n: int) -> None:
    """n more rooms, a slot grid on the second day, a session of every tier in each cell, sign-ups and
    attendance: the attendee signs up for (or queues for) most of them."""
    event = programme.event
    rooms = [schedule.add_room(programme.organizer, event, f"Room {i}", 1 + i % 3, True) for i in range(n)]
    starts = [time(8 + i // 2, 30 * (i % 2)) for i in range(n)]
    slots = schedule.add_slots(programme.organizer, event, event.starts_on + timedelta(days=1), starts, 25)
    db.session.commit()
    people = programme.more_attendees(n, prefix="crowd")
    for i, (room, slot) in enumerate(zip(rooms, slots)):
        for j, cell_room in enumerate((room, rooms[(i + 1) % n])):
            talk = make_talk(event, programme.speaker, f"Session {i}-{j}", TIERS[(i + j) % len(TIERS)])
            if talk.tier == Tier.RESTRICTED and j:
                db.session.add(ProposalAccess(proposal_id=talk.id, user_id=programme.a.id))
            programme.place(talk, cell_room, slot)
    programme.publish()
    old = {programme.small.id, programme.hall_talk.id, programme.secret.id}
    for proposal_id in [e["proposal"] for e in policy.latest_release(event).entries if e["proposal"] not in old]:
        proposal = db.session.get(type(programme.small), proposal_id)
        for person in (people[proposal_id % n], programme.a):
            if policy.can_sign_up(person, proposal):
                signups.sign_up(person, proposal)
        db.session.add(Attendance(proposal_id=proposal_id, user_id=people[(proposal_id + 1) % n].id))
        db.session.commit()
        policy.forget_memo()


PAGES = [("attendee", "/e/retreat/schedule"), ("organizer", "/e/retreat/schedule"),
         ("named", "/e/retreat/schedule"), ("attendee", "/e/retreat/agenda"), ("organizer", "/e/retreat/agenda"),
         ("organizer", "checkin"),
         # The exports: the organizers' CSV, the public JSON and XML, and the personal ones at the feed address.
         ("organizer", "/e/retreat/manage/schedule.csv"), ("anonymous", "/e/retreat/schedule.json"),
         ("anonymous", "/e/retreat/schedule.xml"), ("attendee", "feed.json"), ("named", "feed.xml")]


@pytest.mark.parametrize("role, url", PAGES)
def test_query_count_does_not_grow_with_the_programme(client, programme, role, url):
    user = {"attendee": programme.a, "organizer": programme.organizer, "named": programme.named,
            "anonymous": None}[role]
    if url == "checkin":
        url = programme.url(programme.small, "checkin")
    if url.startswith("feed."):
        url = f"/calendar/{calendar.reset_feed(user, programme.event)}.{url.split('.')[1]}"
    programme.event.public_page = True
    db.session.commit()
    # Even the small programme has a seat and a waitlist place: the page's queries for each then run.
    for person in (*programme.attendees[1:], programme.a):
        signups.sign_up(person, programme.small)
    signups.sign_up(programme.a, programme.hall_talk)
    db.session.commit()
    login_as(client, user)
    client.get(url)  # warm-up: first-request work is not the page's
    with counting() as small:
        assert client.get(url).status_code == 200

    grow(programme, 12)
    with counting() as large:
        response = client.get(url)
        assert response.status_code == 200
    if url.endswith(("schedule", ".json", ".xml", ".csv")):
        # The growth is in the answer (the public exports hold the public sessions only).
        assert response.get_data(as_text=True).count("Session ") >= (3 if role == "anonymous" else 12)
    assert len(large) == len(small), "\n".join(large)
