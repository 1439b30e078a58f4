"""Cloning an event: settings, rooms, the slot grid moved to the new dates, the agreement, optionally the invite
list as proposed; never talks, materials or answers."""

from datetime import date, datetime, time

import pytest
import sqlalchemy as sa

from tests.helpers import login_as, make_candidate, make_event, make_participant, make_talk, make_user, text_of
from workshop.dates import local_naive
from workshop.extensions import db
from workshop.models import (
    Agreement,
    AgreementAcceptance,
    Candidate,
    CandidateStatus,
    CandidateTag,
    Event,
    EventStatus,
    Proposal,
    Room,
    Slot,
)
from workshop.services import agreements, cloning, schedule, texts
from workshop.services.errors import DomainError


@pytest.fixture
def last_year(ctx):
    organizer = make_user("org@example.org", "Olga Organizer")
    event = make_event("retreat-2025", organizers=[organizer], status=EventStatus.CLOSED, capacity=25,
                       title="Retreat 2025", timezone="Europe/Berlin", venue="Lakeside",
                       starts_on=date(2025, 3, 27), ends_on=date(2025, 3, 29), public_page=True)
    agreements.publish_version(organizer, event, "Version two: nothing leaves the lake.")
    texts.save(organizer, event, "invitation", "Come to the lake, {name}", "Dear {name}, the lake awaits: {link}")
    schedule.add_room(organizer, event, "Library", 12, closed_door=True)
    schedule.add_room(organizer, event, "Hall", 60, closed_door=False)
    # The last day is after the change to summer time: 09:00 stays 09:00 in Berlin.
    schedule.add_slots(organizer, event, date(2025, 3, 27), [time(9), time(10)], 50, "Day 1")
    schedule.add_slots(organizer, event, date(2025, 3, 29), [time(9)], 50, "Day 3", is_break=True)
    speaker = make_participant(event, "speaker@example.org")
    make_talk(event, speaker, "Secret results")
    make_candidate(event, "ada@example.org", name="Ada", affiliation="Engines", status=CandidateStatus.DECLINED,
                   notes="Ask again next year.")
    make_candidate(event, "gone@example.org", status=CandidateStatus.REVOKED)
    ada = db.session.scalar(sa.select(Candidate).where(Candidate.email == "ada@example.org"))
    ada.tags = [CandidateTag(tag="math")]
    db.session.commit()
    return event, organizer


def of(model, event):
    return db.session.scalars(sa.select(model).where(model.event_id == event.id)).all()


def test_clone_copies_settings_rooms_grid_and_agreement_but_no_talks(last_year):
    source, organizer = last_year
    made = cloning.clone_event(organizer, source, "retreat-2026", date(2026, 3, 26), "Retreat 2026")
    db.session.commit()
    event = made.event
    assert (event.title, event.venue, event.capacity, event.timezone) == ("Retreat 2026", "Lakeside", 25,
                                                                         "Europe/Berlin")
    assert (event.starts_on, event.ends_on, event.status, event.public_page) == (
        date(2026, 3, 26), date(2026, 3, 28), EventStatus.DRAFT, False)
    assert event.organizers == [organizer]
    assert sorted((r.name, r.capacity, r.closed_door) for r in of(Room, event)) == [
        ("Hall", 60, False), ("Library", 12, True)]
    slots = sorted(of(Slot, event), key=lambda s: s.starts_at)
    assert [(local_naive(event, s.starts_at), s.minutes, s.block, s.is_break) for s in slots] == [
        (datetime(2026, 3, 26, 9), 50, "Day 1", False), (datetime(2026, 3, 26, 10), 50, "Day 1", False),
        (datetime(2026, 3, 28, 9), 50, "Day 3", True)]
    [agreement] = of(Agreement, event)
    assert (agreement.version, agreement.text) == (1, "Version two: nothing leaves the lake.")
    assert of(Proposal, event) == [] and of(Candidate, event) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AgreementAcceptance).join(Agreement)
                             .where(Agreement.event_id == event.id)) == 0
    assert (made.rooms, made.slots, made.people) == (2, 3, 0)
    # The event's own wording of its messages comes along.
    copied = texts.own_text(event, "invitation")
    assert (copied.subject, copied.body) == ("Come to the lake, {name}", "Dear {name}, the lake awaits: {link}")


def test_clone_with_invites_proposes_everyone_but_the_revoked(last_year):
    source, organizer = last_year
    event = cloning.clone_event(organizer, source, "retreat-2026", date(2026, 3, 26), with_invites=True).event
    db.session.commit()
    people = {c.email: c for c in of(Candidate, event)}
    assert set(people) == {"ada@example.org", "speaker@example.org"}
    ada = people["ada@example.org"]
    assert (ada.status, ada.name, ada.affiliation, ada.notes, ada.tag_names, ada.user_id) == (
        CandidateStatus.PROPOSED, "Ada", "Engines", "Ask again next year.", ["math"], None)


@pytest.mark.parametrize(("slug", "start", "field"), [
    ("retreat-2025", date(2026, 1, 1), "slug"),
    ("Bad Slug", date(2026, 1, 1), "slug"),
    ("fine", None, "starts_on"),
])
def test_clone_refuses_a_taken_or_bad_address_or_no_date(last_year, slug, start, field):
    source, organizer = last_year
    with pytest.raises(DomainError) as refused:
        cloning.clone_event(organizer, source, slug, start)
    assert refused.value.field == field


def test_clone_from_the_command_line(app, last_year):
    result = app.test_cli_runner().invoke(args=["clone-event", "retreat-2025", "retreat-2026", "--start",
                                                "2026-03-26", "--with-invites"])
    assert result.exit_code == 0, result.output
    assert "2 rooms, 3 slots, 2 people proposed" in result.output
    assert db.session.scalar(sa.select(Event).where(Event.slug == "retreat-2026")).starts_on == date(2026, 3, 26)
    again = app.test_cli_runner().invoke(args=["clone-event", "retreat-2025", "retreat-2026", "--start", "2026-03-26"])
    assert again.exit_code != 0 and "already uses this address" in again.output


def test_clone_page(client, last_year):
    source, organizer = last_year
    login_as(client, organizer)
    assert "Clone this event" in text_of(client.get(f"/e/{source.slug}/manage/settings"))
    page = client.get(f"/e/{source.slug}/manage/clone")
    assert page.status_code == 200 and 'value="Retreat 2025"' in text_of(page)
    bad = client.post(f"/e/{source.slug}/manage/clone", data={"title": "Next", "slug": "retreat-2025",
                                                             "starts_on": "2026-03-26"})
    assert bad.status_code == 400 and "already uses this address" in text_of(bad)
    made = client.post(f"/e/{source.slug}/manage/clone", data={"title": "Retreat 2026", "slug": "retreat-2026",
                                                              "starts_on": "2026-03-26", "with_invites": "y"})
    assert made.status_code == 302 and made.headers["Location"].endswith("/e/retreat-2026/manage/")
    assert "2 people proposed" in text_of(client.get(made.headers["Location"]))
