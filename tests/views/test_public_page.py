"""The public page: public talks with their times and rooms; nothing of the others."""

from datetime import time

from tests.helpers import make_event, make_participant, make_talk, make_user, text_of
from workshop.extensions import db
from workshop.models import EventStatus, Tier
from workshop.services import schedule


def test_public_page_shows_times_and_rooms_of_public_talks_only(client, ctx):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.OPEN, public_page=True,
                       timezone="Europe/Berlin")
    speaker = make_participant(event, "speaker@example.org")
    hall = schedule.add_room(organizer, event, "Great Hall", 80, closed_door=False)
    annex = schedule.add_room(organizer, event, "Annex", 20, closed_door=True)
    [nine, ten] = schedule.add_slots(organizer, event, event.starts_on, [time(9), time(10)], 45)
    opening = make_talk(event, speaker, "Opening words", tier=Tier.PUBLIC)
    secret = make_talk(event, speaker, "Secret results", tier=Tier.ATTENDEES)
    make_talk(event, speaker, "Public, not placed", tier=Tier.PUBLIC)
    schedule.place(organizer, opening, hall.id, ten.id)
    schedule.place(organizer, secret, annex.id, nine.id)
    schedule.publish(organizer, event)
    db.session.commit()
    page = text_of(client.get("/e/retreat/public"))
    day = event.starts_on.strftime("%a %-d %b")
    assert f"{day}, 10:00–10:45" in page and "Great Hall" in page
    assert "Public, not placed" in page and "Time and room to be announced." in page
    for word in ("Secret results", "Annex", "09:00–"):
        assert word not in page, page[max(0, page.find(word) - 200):page.find(word) + 100]
    assert page.index("Opening words") < page.index("Public, not placed")  # scheduled talks first, by time
