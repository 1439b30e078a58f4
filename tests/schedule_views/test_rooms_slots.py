"""Rooms, slots and speakers' availability, through their pages."""

from __future__ import annotations

from datetime import datetime, time

import sqlalchemy as sa

from tests.helpers import accepted_talk, audit_actions, element, login_as, text_of
from workshop.extensions import db
from workshop.models import Room, Slot, Unavailability
from workshop.services import schedule


def test_add_rooms_and_list_them(client, world):
    login_as(client, world.organizer)
    page = text_of(client.get("/e/retreat/manage/schedule/rooms"))
    assert "No rooms yet." in page
    response = client.post("/e/retreat/manage/schedule/rooms", data={"name": " Seminar  Room ", "capacity": "24",
                                                                    "closed_door": "y"}, follow_redirects=True)
    assert "Seminar Room is added (24 seats, closed door)." in text_of(response)
    client.post("/e/retreat/manage/schedule/rooms", data={"name": "Atrium", "capacity": "200"})
    rooms = db.session.execute(sa.select(Room.name, Room.capacity, Room.closed_door)
                               .where(Room.event_id == world.event.id).order_by(Room.position)).all()
    assert rooms == [("Seminar Room", 24, True), ("Atrium", 200, False)]
    listing = element(client.get("/e/retreat/manage/schedule/rooms"), "rooms-heading")
    assert listing.text == "The event's rooms 2"
    table = text_of(client.get("/e/retreat/manage/schedule/rooms")).split("The event's rooms", 1)[1]
    assert table.index("Seminar Room") < table.index("Atrium") and "Closed door" in table
    assert ("add room", "room Seminar Room") in audit_actions(world.event)


def test_delete_an_empty_room(client, world):
    room = schedule.add_room(world.organizer, world.event, "Annex", 10, False)
    db.session.commit()
    login_as(client, world.organizer)
    response = client.post(f"/e/retreat/manage/schedule/rooms/{room.id}/delete", follow_redirects=True)
    assert "Annex is deleted." in text_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Room)) == 0
    assert ("delete room", "room Annex") in audit_actions(world.event)


def test_add_several_slots_at_once_in_the_events_time_zone(client, world):
    world.event.timezone = "America/New_York"
    db.session.commit()
    login_as(client, world.organizer)
    day = world.event.starts_on
    response = client.post("/e/retreat/manage/schedule/slots", data={
        "day": day.isoformat(), "starts": "14:00, 09:00;10.30 ", "minutes": "45", "block": "Day 1, morning"},
        follow_redirects=True)
    assert "3 slots added on" in text_of(response)
    slots = db.session.scalars(sa.select(Slot).where(Slot.event_id == world.event.id).order_by(Slot.starts_at)).all()
    local = [schedule.local(world.event, s.starts_at).time() for s in slots]
    assert local == [time(9), time(10, 30), time(14)]
    assert all((s.ends_at - s.starts_at).total_seconds() == 45 * 60 for s in slots)
    assert {s.block for s in slots} == {"Day 1, morning"}
    # Stored in UTC: New York is 4 or 5 hours behind.
    assert slots[0].starts_at.hour in (13, 14)
    page = client.get("/e/retreat/manage/schedule/slots")
    html = text_of(page)
    assert "09:00–09:45" in html and "10:30–11:15" in html and "14:00–14:45" in html
    assert day.strftime("%A") in html and "America/New_York" in html


def test_the_slots_form_starts_on_the_first_day(client, world):
    login_as(client, world.organizer)
    page = client.get("/e/retreat/manage/schedule/slots")
    assert element(page, "day").attrs["value"] == world.event.starts_on.isoformat()


def test_delete_an_empty_slot(client, world):
    [slot] = schedule.add_slots(world.organizer, world.event, world.event.starts_on, [time(9)], 30)
    db.session.commit()
    login_as(client, world.organizer)
    response = client.post(f"/e/retreat/manage/schedule/slots/{slot.id}/delete", follow_redirects=True)
    assert "is deleted." in text_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Slot)) == 0


def test_a_speaker_states_and_changes_availability_and_the_editor_flags_it(client, plan):
    speaker, talk = plan.speakers[0], plan.talks[0]
    login_as(client, speaker)
    url = f"/e/{plan.event.slug}/availability"
    page = text_of(client.get(url))
    assert "Talk A" in page and "I cannot make 09:00–10:00" in page and "Europe/Berlin" in page
    response = client.post(url, data={"unavailable": [str(plan.day1[0].id), str(plan.day2[0].id)]},
                           follow_redirects=True)
    assert "you cannot make 2 slots" in text_of(response)
    mine = set(db.session.scalars(sa.select(Unavailability.slot_id).where(Unavailability.user_id == speaker.id)))
    assert mine == {plan.day1[0].id, plan.day2[0].id}
    checked = [s.id for s in plan.day1 + plan.day2 if f'value="{s.id}" checked' in text_of(client.get(url))]
    assert checked == [plan.day1[0].id, plan.day2[0].id]

    schedule.place(plan.world.organizer, talk, plan.hall.id, plan.day1[0].id)
    db.session.commit()
    login_as(client, plan.world.organizer)
    assert "Speaker A is unavailable at" in element(client.get(plan.url()), "conflicts").text

    login_as(client, speaker)
    response = client.post(url, data={}, follow_redirects=True)
    assert "you can make every slot" in text_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unavailability)) == 0


def test_availability_before_any_slot_exists(client, world):
    speaker = world.attendee
    accepted_talk(world.event, "Early", [speaker])
    login_as(client, speaker)
    page = text_of(client.get("/e/retreat/availability"))
    assert "The organizers have not set the times of the event yet." in page


def test_slot_times_cross_midnight_into_the_next_local_day(client, world):
    """A slot is grouped under its local day, not its UTC day."""
    world.event.timezone = "Pacific/Auckland"
    db.session.commit()
    schedule.add_slots(world.organizer, world.event, world.event.starts_on, [time(8)], 60)
    db.session.commit()
    slot = db.session.scalar(sa.select(Slot))
    assert slot.starts_at.date() != world.event.starts_on  # the UTC day is the day before
    login_as(client, world.organizer)
    html = text_of(client.get("/e/retreat/manage/schedule/slots"))
    assert datetime.combine(world.event.starts_on, time()).strftime("%A") in html
    assert datetime.combine(slot.starts_at.date(), time()).strftime("%A") not in html.split("Slots per day")[1]
