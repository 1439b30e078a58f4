"""The editor with real time: a long talk placed over consecutive slots (the form's span, or as many as its
length needs), a talk longer than its slots flagged, breaks, and the confirmation a move or a removal asks
for when people signed up for the session."""

from __future__ import annotations

from datetime import time

import pytest
import sqlalchemy as sa

from tests.helpers import cell, element, login_as, make_participant, nothing_changes, placement_of, text_of
from workshop import policy
from workshop.extensions import db
from workshop.models import OutboxMessage, Proposal, SignUp
from workshop.services import schedule


@pytest.fixture
def day(client, plan):
    """The plan, plus three 45-minute slots on its second day that follow one another (11:00, 11:45, 12:30),
    then a break at 13:15; Talk A lasts 90 minutes. Signed in as the organizer."""
    event, organizer = plan.event, plan.world.organizer
    plan.run = schedule.add_slots(organizer, event, event.ends_on, [time(11), time(11, 45), time(12, 30)], 45)
    [plan.lunch] = schedule.add_slots(organizer, event, event.ends_on, [time(13, 15)], 45, is_break=True)
    plan.talks[0].duration_minutes = 90
    db.session.commit()
    login_as(client, organizer)
    return plan


def test_a_long_talk_placed_through_the_form_runs_on_into_the_next_cell(client, day):
    long = day.talks[0]
    response = client.post(day.url("/place"), data={"proposal": long.public_id, "room": day.hall.id,
                                                    "slot": day.run[0].id, "span": ""})
    assert response.status_code == 302
    assert placement_of(long).span == 2
    page = client.get(day.url())
    first, second = cell(page, day.hall, day.run[0]), cell(page, day.hall, day.run[1])
    assert "Talk A" in first.text and "90 min, 2 slots" in first.text
    assert "Talk A runs on" in second.text and "is-running" in second.classes
    assert "Empty" not in second.text


def test_the_flash_names_the_whole_run(client, day):
    response = client.post(day.url("/place"), data={"proposal": day.talks[0].public_id, "room": day.hall.id,
                                                    "slot": day.run[0].id}, follow_redirects=True)
    assert "“Talk A” is in Main Hall, " in text_of(response) and "11:00–12:30." in text_of(response)


def test_an_explicit_span_and_a_short_one_flagged(client, day):
    long = day.talks[0]
    assert client.post(day.url("/place"), data={"proposal": long.public_id, "room": day.vault.id,
                                                "slot": day.run[0].id, "span": "1"}).status_code == 302
    page = client.get(day.url())
    assert "Talk longer than its slots" in element(page, "conflicts").text
    flagged = cell(page, day.vault, day.run[0])
    assert "has-conflict" in flagged.classes and "“Talk A” lasts 90 min" in flagged.text


@pytest.mark.parametrize("slot, span, message", [
    ("run2", "2", "Nothing follows"),  # the break is next
    ("run0", "4", "choose at most 3"),
    ("lunch", "", "is a break: it takes no sessions"),
])
def test_a_span_or_a_slot_that_cannot_be_had_is_refused_on_the_editor(client, day, slot, span, message):
    target = day.lunch if slot == "lunch" else day.run[int(slot[-1])]
    with nothing_changes():
        response = client.post(day.url("/place"), data={"proposal": day.talks[1].public_id, "room": day.hall.id,
                                                        "slot": target.id, "span": span})
    assert response.status_code == 409
    assert message in text_of(response)


@pytest.mark.parametrize("span", ["13", "-1", "two"])
def test_a_bad_span_is_a_400(client, day, span):
    with nothing_changes():
        response = client.post(day.url("/place"), data={"proposal": day.talks[1].public_id, "room": day.hall.id,
                                                        "slot": day.run[0].id, "span": span})
    assert response.status_code == 400


def test_breaks_show_as_such_and_take_no_drop(client, day):
    page = client.get(day.url())
    text = text_of(page)
    assert "Break: no talks" in text
    assert element(page, f"cell-{day.hall.id}-{day.lunch.id}") is None  # no cell to drop on
    assert f'<option value="{day.lunch.id}"' not in text  # nor to choose in a form


def test_slots_page_adds_breaks_and_turns_a_slot_into_one(client, day):
    response = client.post(day.url("/slots"), data={"day": day.event.starts_on.isoformat(), "starts": "12:00",
                                                    "minutes": "60", "is_break": "y"}, follow_redirects=True)
    assert "1 break added" in text_of(response)
    page = text_of(client.get(day.url("/slots")))
    assert page.count("Open for talks") == 2  # the lunch break and the new one
    assert client.post(day.url(f"/slots/{day.run[2].id}/break"), data={"is_break": "1"}).status_code == 302
    db.session.refresh(day.run[2])
    assert day.run[2].is_break
    assert client.post(day.url(f"/slots/{day.run[2].id}/break"), data={"is_break": "0"}).status_code == 302
    db.session.refresh(day.run[2])
    assert not day.run[2].is_break


def test_a_slot_a_session_runs_over_cannot_become_a_break(client, day):
    schedule.place(day.world.organizer, day.talks[0], day.hall.id, day.run[0].id)
    db.session.commit()
    with nothing_changes():
        response = client.post(day.url(f"/slots/{day.run[1].id}/break"), data={"is_break": "1"})
    assert response.status_code == 409 and "run over it" in text_of(response)
    assert "In use" in text_of(client.get(day.url("/slots")))


# --- sessions people signed up for --------------------------------------------------------


@pytest.fixture
def signed(day) -> Proposal:
    """Talk B in the Vault on day 1 at 09:00, released; two attendees hold a seat."""
    talk = day.talks[1]
    schedule.place(day.world.organizer, talk, day.vault.id, day.day1[0].id)
    schedule.publish(day.world.organizer, day.event)
    for i in range(2):
        db.session.add(SignUp(proposal_id=talk.id, user_id=make_participant(day.event, f"seat{i}@example.org").id))
    db.session.commit()
    policy.forget_memo()
    return talk


def outbox() -> list[str]:
    return sorted(db.session.scalars(sa.select(OutboxMessage.to_email)))


def test_moving_asks_for_confirmation_then_emails_those_signed_up(client, day, signed):
    data = {"proposal": signed.public_id, "room": day.hall.id, "slot": day.run[0].id, "span": ""}
    with nothing_changes():
        question = client.post(day.url("/place"), data=data)
    assert question.status_code == 200
    text = text_of(question)
    assert "Move “Talk B”?" in text and "2 people" in text and "Move it and email 2" in text
    assert "11:00–11:45, Main Hall" in text  # where it goes
    assert 'name="confirm" value="1"' in text and f'name="slot" value="{day.run[0].id}"' in text

    response = client.post(day.url("/place"), data={**data, "confirm": "1"})
    assert response.status_code == 302
    assert (placement_of(signed).room_id, placement_of(signed).slot_id) == (day.hall.id, day.run[0].id)
    assert outbox() == ["seat0@example.org", "seat1@example.org"]


def test_removing_asks_for_confirmation_then_emails_those_signed_up(client, day, signed):
    with nothing_changes():
        question = client.post(day.url("/unplace"), data={"proposal": signed.public_id})
    assert question.status_code == 200
    assert "Take “Talk B” off the schedule?" in text_of(question)
    assert client.post(day.url("/unplace"), data={"proposal": signed.public_id, "confirm": "1"}).status_code == 302
    assert placement_of(signed) is None
    assert outbox() == ["seat0@example.org", "seat1@example.org"]


def test_the_editor_counts_sign_ups_once_sign_up_is_open(client, day, signed):
    page = client.get(day.url())
    assert "2 signed up" in cell(page, day.vault, day.day1[0]).text
    schedule.place(day.world.organizer, signed, day.closet.id, day.day1[0].id, confirmed=True)
    db.session.commit()
    page = client.get(day.url())
    assert "2 signed up for “Talk B”; Closet seats 1." in cell(page, day.closet, day.day1[0]).text
