"""Bad input to the schedule gets a clear 4xx that says what is wrong, and changes nothing at all."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import Plan, accepted_talk, login_as, nothing_changes, text_of
from workshop.extensions import db
from workshop.models import ProposalStatus
from workshop.services import schedule


@pytest.fixture
def org(client, plan) -> Plan:
    """The plan, with Talk A placed in the Main Hall at 09:00, and the organizer signed in."""
    schedule.place(plan.world.organizer, plan.talks[0], plan.hall.id, plan.day1[0].id)
    db.session.commit()
    login_as(client, plan.world.organizer)
    return plan


def refused(response, status: int, *messages: str) -> None:
    text = text_of(response)
    assert response.status_code == status, (response.status_code, text[:500])
    for message in messages:
        assert message in text, f"{message!r} is not on the page"


def theirs(plan: Plan):
    """A room and a slot of the other event."""
    other, organizer = plan.world.other_event, plan.world.other_organizer
    room = schedule.add_room(organizer, other, "Their Hall", 50, True)
    [slot] = schedule.add_slots(organizer, other, other.starts_on, [plan.day1[1].starts_at.time()], 30)
    db.session.commit()
    return room, slot


def test_unknown_proposal(client, org):
    with nothing_changes():
        response = client.post(org.url("/place"), data={"proposal": "nosuchproposal00", "room": org.hall.id,
                                                        "slot": org.day1[1].id})
    refused(response, 400, "That session is not one of this event's proposals.")


def test_proposal_of_another_event(client, org):
    other = accepted_talk(org.world.other_event, "Their Talk", [org.world.other_organizer])
    with nothing_changes():
        response = client.post(org.url("/place"), data={"proposal": other.public_id, "room": org.hall.id,
                                                        "slot": org.day1[1].id})
    refused(response, 400, "That session is not one of this event's proposals.")


def test_room_of_another_event(client, org):
    room, _ = theirs(org)
    with nothing_changes():
        response = client.post(org.url("/place"), data={"proposal": org.talks[1].public_id, "room": room.id,
                                                        "slot": org.day1[1].id})
    refused(response, 409, "That room or slot is not part of this event.")


def test_slot_of_another_event(client, org):
    _, slot = theirs(org)
    with nothing_changes():
        response = client.post(org.url("/place"), data={"proposal": org.talks[0].public_id, "room": org.hall.id,
                                                        "slot": slot.id})
    refused(response, 409, "That room or slot is not part of this event.")


@pytest.mark.parametrize("status", [ProposalStatus.SUBMITTED, ProposalStatus.REJECTED, ProposalStatus.WITHDRAWN])
def test_proposal_not_accepted(client, org, status):
    talk = accepted_talk(org.event, "Not yet", [org.speakers[0]], status=status)
    with nothing_changes():
        response = client.post(org.url("/place"), data={"proposal": talk.public_id, "room": org.hall.id,
                                                        "slot": org.day1[1].id})
    refused(response, 409, "Only accepted proposals go on the schedule.")


@pytest.mark.parametrize(("data", "message"), [
    ({"room": "1", "slot": "1"}, "Say which session."),
    ({"proposal": "x", "slot": "1"}, "Choose a room."),
    ({"proposal": "x", "room": "1"}, "Choose a time."),
    ({"proposal": "x", "room": "hall", "slot": "1"}, "Invalid Choice"),
    ({"proposal": "x", "room": "1", "slot": "99"}, "That session is not one of this event's proposals."),
])
def test_incomplete_or_malformed_place_forms(client, org, data, message):
    with nothing_changes():
        response = client.post(org.url("/place"), data=data)
    refused(response, 400, message)


@pytest.mark.parametrize(("room", "slot", "message"), [
    (10**20, 1, "Choose a room from the list."),
    (0, 1, "Choose a room from the list."),
    (1, 2**31, "Choose a time from the list."),
])
def test_ids_out_of_range_are_refused_not_crashed(client, org, room, slot, message):
    with nothing_changes():
        response = client.post(org.url("/place"), data={"proposal": org.talks[1].public_id, "room": room,
                                                        "slot": slot})
    refused(response, 400, message)


def test_unplace_or_pin_a_session_that_is_not_placed(client, org):
    with nothing_changes():
        refused(client.post(org.url("/unplace"), data={"proposal": org.talks[1].public_id}), 409,
                "That session is not on the schedule.")
        refused(client.post(org.url("/pin"), data={"proposal": org.talks[1].public_id}), 409,
                "Place the session before pinning it.")
        refused(client.post(org.url("/pin"), data={"proposal": "nosuchproposal00"}), 400,
                "That session is not one of this event's proposals.")
        refused(client.post(org.url("/unplace"), data={}), 400, "Say which session.")


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "Annex", "capacity": "0"}, "A room holds from 1 to 100,000 people."),
    ({"name": "Annex", "capacity": "-3"}, "A room holds from 1 to 100,000 people."),
    ({"name": "Annex", "capacity": "many"}, "Not a valid integer value."),
    ({"name": "Annex", "capacity": ""}, "Say how many people the room holds."),
    ({"name": "", "capacity": "10"}, "Give the room a name."),
    ({"name": "x" * 101, "capacity": "10"}, "Field cannot be longer than 100 characters."),
    ({"name": "Main Hall", "capacity": "10"}, "There is a room called “Main Hall” already."),
    ({"name": "  Main   Hall ", "capacity": "10"}, "There is a room called “Main Hall” already."),
])
def test_bad_rooms(client, org, data, message):
    with nothing_changes():
        response = client.post(org.url("/rooms"), data=data)
    refused(response, 400, message)
    assert 'aria-invalid="true"' in text_of(response) or "class=\"error\"" in text_of(response)


def slots_form(plan: Plan, **changes) -> dict:
    data = {"day": plan.event.starts_on.isoformat(), "starts": "18:00, 19:30", "minutes": "60", "block": ""}
    data.update(changes)
    return data


@pytest.mark.parametrize(("changes", "message"), [
    ({"starts": "25:00"}, "“25:00” is not a time of day: write times as HH:MM, such as 09:00, 14:30."),
    ({"starts": "18:00, 9:75"}, "“9:75” is not a time of day"),
    ({"starts": "noon"}, "“noon” is not a time of day"),
    ({"starts": " , "}, "Give at least one start time"),
    ({"starts": "09:30"}, "09:30 overlaps a slot that already exists."),  # 09:00–10:00 is there
    ({"starts": "18:00, 18:30"}, "18:30 overlaps a slot that already exists."),  # with each other
    ({"minutes": "0"}, "A slot lasts from 5 minutes to 8 hours."),
    ({"minutes": "481"}, "A slot lasts from 5 minutes to 8 hours."),
    ({"day": "2020-01-01"}, "The event runs from"),
    ({"day": "not a date"}, "Not a valid date value."),
    ({"block": "b" * 61}, "Field cannot be longer than 60 characters."),
])
def test_bad_slots(client, org, changes, message):
    with nothing_changes():
        response = client.post(org.url("/slots"), data=slots_form(org, **changes))
    refused(response, 400, message)


def test_day_after_the_event(client, org):
    with nothing_changes():
        response = client.post(org.url("/slots"), data=slots_form(
            org, day=(org.event.ends_on + timedelta(days=1)).isoformat()))
    refused(response, 400, f"The event runs from {org.event.starts_on} to {org.event.ends_on}.")


def test_deleting_a_room_or_slot_in_use_is_refused(client, org):
    with nothing_changes():
        refused(client.post(org.url(f"/rooms/{org.hall.id}/delete")), 409,
                "Sessions are placed in Main Hall; move them first.")
        refused(client.post(org.url(f"/slots/{org.day1[0].id}/delete")), 409,
                "Sessions are placed in this slot, or run over it; move them first.")


def test_publishing_nothing_or_nothing_new(client, org):
    client.post(org.url("/unplace"), data={"proposal": org.talks[0].public_id})
    with nothing_changes():
        refused(client.post(org.url("/publish")), 409, "Place at least one session before publishing.")
    client.post(org.url("/place"), data={"proposal": org.talks[0].public_id, "room": org.hall.id,
                                         "slot": org.day1[0].id})
    assert client.post(org.url("/publish")).status_code == 302
    with nothing_changes():
        refused(client.post(org.url("/publish")), 409, "Nothing changed since release 1.")


@pytest.mark.parametrize("value", ["abc", "99999999", "theirs"])
def test_availability_for_slots_that_are_not_the_events(client, org, value):
    if value == "theirs":
        value = str(theirs(org)[1].id)
    login_as(client, org.speakers[0])
    with nothing_changes():
        response = client.post(f"/e/{org.event.slug}/availability", data={"unavailable": [value]})
    assert response.status_code == 400
    assert "not a valid choice" in text_of(response) or "Invalid choice" in text_of(response)
