"""A talk's page shows its day, time and room; the agenda lists the sessions one speaks at."""

from __future__ import annotations

from datetime import time, timedelta

import icalendar
import pytest

from tests.helpers import Programme, element, login_as, make_talk, text_of
from workshop import policy
from workshop.extensions import db
from workshop.services import schedule, signups


@pytest.fixture
def programme(ctx) -> Programme:
    """The published programme, plus a 100-minute talk over two slots that follow one another (11:00, 11:50)."""
    p = Programme()
    p.later = schedule.add_slots(p.organizer, p.event, p.event.starts_on, [time(11), time(11, 50)], 50)
    p.long = make_talk(p.event, p.speaker, "A long afternoon", duration_minutes=100)
    p.place(p.long, p.hall, p.later[0])
    p.publish()
    return p


def box(client, p: Programme, talk) -> str | None:
    response = client.get(f"/e/{p.event.slug}/proposals/{talk.public_id}")
    assert response.status_code == 200
    found = element(response, "talk-time-heading")
    return text_of(response) if found else None


def test_the_talk_page_shows_day_time_and_room_of_the_release(client, programme):
    login_as(client, programme.a)
    page = box(client, programme, programme.long)
    day = f"{programme.event.starts_on:%A %-d %B}"
    assert f"{day}, 11:00</time>–12:40" in page  # to the end of its second slot
    assert "Great Hall" in page and "Times in Europe/Berlin" in page
    assert "working schedule" not in page


def test_organizers_see_a_move_that_is_not_published_yet(client, programme):
    schedule.place(programme.organizer, programme.hall_talk, programme.small_room.id, programme.later[1].id)
    db.session.commit()
    login_as(client, programme.organizer)
    page = box(client, programme, programme.hall_talk)
    assert "In the working schedule, not published yet" in page and "11:50–12:40, Library" in page
    assert "09:00</time>–09:50" in page  # still the released time
    login_as(client, programme.a)
    assert "working schedule" not in box(client, programme, programme.hall_talk)


def test_an_unreleased_talk_has_no_box_for_attendees(client, programme):
    fresh = make_talk(programme.event, programme.speaker, "Not yet")
    policy.forget_memo()
    login_as(client, programme.a)
    assert box(client, programme, fresh) is None
    schedule.place(programme.organizer, fresh, programme.hall.id, programme.slots[1].id)
    db.session.commit()
    login_as(client, programme.organizer)
    assert "Not on the published schedule yet." in box(client, programme, fresh)


def test_the_agenda_lists_the_sessions_one_speaks_at(client, programme):
    login_as(client, programme.speaker)
    response = client.get(f"/e/{programme.event.slug}/agenda")
    speaking = element(response, "speaking-heading")
    assert speaking is not None
    page = text_of(response)
    for talk in (programme.small, programme.hall_talk, programme.secret, programme.long):
        assert f'id="speaking-{talk.public_id}"' in page
    assert "11:00</time>–12:40 · Great Hall" in page
    login_as(client, programme.a)
    assert element(client.get(f"/e/{programme.event.slug}/agenda"), "speaking-heading") is None


def test_a_long_session_ends_where_its_last_slot_ends_everywhere_it_is_read(client, programme):
    """The schedule page says until when, the calendar's DTEND and the check-in window end with the last slot."""
    login_as(client, programme.a)
    page = text_of(client.get(f"/e/{programme.event.slug}/schedule"))
    assert "Until 12:40" in page
    feed = client.get(f"/e/{programme.event.slug}/proposals/{programme.long.public_id}/session.ics")
    assert feed.status_code == 200
    [event] = [e for e in icalendar.Calendar.from_ical(feed.data).walk("VEVENT")]
    assert event["DTEND"].dt - event["DTSTART"].dt == timedelta(minutes=100)
    opens, closes = signups.check_in_window(programme.long)
    assert closes == programme.later[1].ends_at and opens < programme.later[0].starts_at
