"""The editor: the grid in the event's time zone, each kind of conflict flagged in its cell and listed,
placing, moving, unplacing and pinning (each audited), empty states, and a query count that does not grow
with the number of sessions."""

from __future__ import annotations

import re

import pytest

from tests.helpers import (
    Plan,
    accepted_talk,
    audit_actions,
    cell,
    counting,
    element,
    login_as,
    make_participant,
    placement_of,
    text_of,
)
from workshop.extensions import db
from workshop.models import Tier, Unavailability
from workshop.services import schedule

KINDS = {"room double-booked": "Room double-booked", "speaker in two places": "Speaker in two places",
         "speaker unavailable": "Speaker unavailable", "room too small": "Room too small",
         "not closed-door": "Not a closed-door room"}


@pytest.fixture
def editor(client, plan):
    """GET the editor as the plan's organizer."""
    login_as(client, plan.world.organizer)

    def get():
        response = client.get(plan.url())
        assert response.status_code == 200, text_of(response)[:500]
        return response

    return get


def place(plan: Plan, talk, room, slot) -> None:
    schedule.place(plan.world.organizer, talk, room.id, slot.id)
    db.session.commit()


def conflict_kinds(response) -> list[str]:
    panel = element(response, "conflicts")
    return [label for label in KINDS.values() if label in panel.text]


def test_the_grid_shows_rooms_slots_and_sessions_in_the_events_time_zone(plan, editor):
    place(plan, plan.talks[0], plan.vault, plan.day1[1])
    page = editor()
    text = text_of(page)
    # 10:30 in Berlin is 09:30 UTC in winter or 08:30 in summer: the page shows 10:30 either way.
    assert "10:30–11:30" in element(page, f"cell-{plan.vault.id}-{plan.day1[1].id}").attrs["data-label"]
    assert "Main Hall" in text and "100 seats" in text and "Europe/Berlin" in text
    placed = cell(page, plan.vault, plan.day1[1])
    assert "Talk A" in placed.text and "1 vote" in placed.text and "attendees" in placed.text
    assert "Speaker A" in placed.text
    unplaced = element(page, "unplaced-heading")
    assert unplaced.text == "Unplaced 2"
    assert "Closed door" in text_of(page).split("Vault", 1)[1].split("Closet", 1)[0]


def test_a_clean_schedule_has_no_conflicts(plan, editor):
    place(plan, plan.talks[0], plan.hall, plan.day1[0])
    place(plan, plan.talks[1], plan.vault, plan.day1[0])
    page = editor()
    assert conflict_kinds(page) == []
    assert "No conflicts" in element(page, "conflicts").text
    assert "has-conflict" not in text_of(page)


def test_room_double_booked(plan, editor):
    place(plan, plan.talks[0], plan.hall, plan.day1[0])
    place(plan, plan.talks[1], plan.hall, plan.day1[0])
    page = editor()
    assert conflict_kinds(page) == ["Room double-booked"]
    flagged = cell(page, plan.hall, plan.day1[0])
    assert "has-conflict" in flagged.classes
    assert "⚠ Room double-booked: Main Hall at " in flagged.text and "has 2 sessions" in flagged.text
    assert "09:00 has" in flagged.text and "UTC" not in flagged.text  # in the event's time zone, as the grid
    assert "has-conflict" not in cell(page, plan.vault, plan.day1[0]).classes


def test_speaker_in_two_places(plan, editor):
    both = accepted_talk(plan.event, "Talk D", [plan.speakers[0]])
    place(plan, plan.talks[0], plan.hall, plan.day1[0])
    place(plan, both, plan.vault, plan.day1[0])
    page = editor()
    assert conflict_kinds(page) == ["Speaker in two places"]
    for room in (plan.hall, plan.vault):  # flagged in both cells where the speaker is expected
        flagged = cell(page, room, plan.day1[0])
        assert "has-conflict" in flagged.classes
        assert "Speaker in two places: Speaker A speaks in 2 sessions" in flagged.text
    panel = element(page, "conflicts").text
    assert "“Talk A”" in panel and "“Talk D”" in panel


def test_speaker_unavailable(plan, editor):
    db.session.add(Unavailability(user_id=plan.speakers[1].id, slot_id=plan.day1[2].id))
    db.session.commit()
    place(plan, plan.talks[1], plan.hall, plan.day1[2])
    place(plan, plan.talks[0], plan.hall, plan.day1[3])
    page = editor()
    assert conflict_kinds(page) == ["Speaker unavailable"]
    flagged = cell(page, plan.hall, plan.day1[2])
    assert "has-conflict" in flagged.classes
    assert "Speaker unavailable: Speaker B is unavailable at" in flagged.text and "14:00" in flagged.text
    assert "has-conflict" not in cell(page, plan.hall, plan.day1[3]).classes


def test_room_smaller_than_the_votes(plan, editor):
    talk = accepted_talk(plan.event, "Popular", [plan.speakers[2]],
                         voters=[make_participant(plan.event, f"fan{i}@example.org") for i in range(2)])
    place(plan, talk, plan.closet, plan.day1[0])
    place(plan, plan.talks[0], plan.closet, plan.day1[1])  # one vote, one seat: fits
    page = editor()
    assert conflict_kinds(page) == ["Room too small"]
    flagged = cell(page, plan.closet, plan.day1[0])
    assert "has-conflict" in flagged.classes
    assert "2 want to attend “Popular”; Closet seats 1." in flagged.text
    assert "has-conflict" not in cell(page, plan.closet, plan.day1[1]).classes


@pytest.mark.parametrize("tier", [Tier.SESSION, Tier.RESTRICTED])
def test_session_or_restricted_talk_in_a_room_that_is_not_closed_door(plan, editor, tier):
    talk = accepted_talk(plan.event, "Confidential", [plan.speakers[2]], tier)
    place(plan, talk, plan.hall, plan.day1[0])
    place(plan, plan.talks[0], plan.vault, plan.day1[0])
    safe = accepted_talk(plan.event, "Also confidential", [plan.speakers[1]], tier)
    place(plan, safe, plan.vault, plan.day1[1])  # closed door: fine
    page = editor()
    assert conflict_kinds(page) == ["Not a closed-door room"]
    flagged = cell(page, plan.hall, plan.day1[0])
    assert f"“Confidential” is {tier.value}-tier but Main Hall is not a closed-door room." in flagged.text
    assert "has-conflict" not in cell(page, plan.vault, plan.day1[1]).classes


def test_every_kind_at_once_is_listed_with_a_link_to_where_it_is(plan, editor):
    db.session.add(Unavailability(user_id=plan.speakers[0].id, slot_id=plan.day1[0].id))
    db.session.commit()
    secret = accepted_talk(plan.event, "Secret", [plan.speakers[0]], Tier.RESTRICTED)
    place(plan, plan.talks[0], plan.closet, plan.day1[0])  # unavailable; 1 vote, 1 seat
    place(plan, secret, plan.hall, plan.day1[0])  # same speaker; restricted in an open room
    place(plan, plan.talks[1], plan.hall, plan.day1[0])  # double-booked
    talk = accepted_talk(plan.event, "Crowded", [plan.speakers[2]],
                         voters=[make_participant(plan.event, f"v{i}@example.org") for i in range(2)])
    place(plan, talk, plan.closet, plan.day1[1])
    page = editor()
    assert conflict_kinds(page) == list(KINDS.values())
    assert element(page, "conflicts-heading").text == "Conflicts 6"  # unavailable at two talks' slot: one each
    assert f'href="#cell-{plan.hall.id}-{plan.day1[0].id}"' in text_of(page)
    assert f'href="#cell-{plan.closet.id}-{plan.day1[1].id}"' in text_of(page)


def test_place_move_pin_unplace_through_the_forms_are_audited(client, plan, editor):
    talk = plan.talks[2]
    response = client.post(plan.url("/place"), data={"proposal": talk.public_id, "room": plan.hall.id,
                                                     "slot": plan.day1[0].id})
    assert response.status_code == 302 and response.headers["Location"].endswith(plan.url())
    assert (placement_of(talk).room_id, placement_of(talk).slot_id) == (plan.hall.id, plan.day1[0].id)
    page = editor()
    assert "“Talk C” is in Main Hall, " in text_of(page)
    assert "Talk C" in cell(page, plan.hall, plan.day1[0]).text
    assert "Talk C" not in element(page, "unplaced-heading").text

    assert client.post(plan.url("/place"), data={"proposal": talk.public_id, "room": plan.vault.id,
                                                 "slot": plan.day2[0].id}).status_code == 302
    moved = placement_of(talk)
    assert (moved.room_id, moved.slot_id, moved.sequence) == (plan.vault.id, plan.day2[0].id, 1)

    assert client.post(plan.url("/pin"), data={"proposal": talk.public_id}).status_code == 302
    assert placement_of(talk).pinned
    page = editor()
    assert "Pinned" in cell(page, plan.vault, plan.day2[0]).text
    assert "Unpin" in cell(page, plan.vault, plan.day2[0]).text
    assert client.post(plan.url("/pin"), data={"proposal": talk.public_id}).status_code == 302
    assert not placement_of(talk).pinned

    assert client.post(plan.url("/unplace"), data={"proposal": talk.public_id}).status_code == 302
    assert placement_of(talk) is None
    assert "Talk C" in element(editor(), f"s-{talk.public_id}").text

    target = f"proposal {talk.public_id}"
    assert [a for a, t in audit_actions(plan.event) if t == target] == [
        "place session", "place session", "pin session", "unpin session", "unplace session"]


def test_a_move_keeps_the_pin(client, plan):
    place(plan, plan.talks[0], plan.hall, plan.day1[0])
    schedule.set_pinned(plan.world.organizer, plan.talks[0], True)
    db.session.commit()
    login_as(client, plan.world.organizer)
    assert client.post(plan.url("/place"), data={"proposal": plan.talks[0].public_id, "room": plan.vault.id,
                                                 "slot": plan.day1[0].id}).status_code == 302
    assert placement_of(plan.talks[0]).pinned


def test_cards_carry_the_forms_that_drag_and_drop_submits(plan, editor):
    place(plan, plan.talks[0], plan.hall, plan.day1[0])
    page = editor()
    html = text_of(page)
    placed = element(page, f"s-{plan.talks[0].public_id}")
    assert placed.attrs["draggable"] == "true"
    assert (placed.attrs["data-room"], placed.attrs["data-slot"]) == (str(plan.hall.id), str(plan.day1[0].id))
    assert "tabindex" not in placed.attrs  # the forms are the keyboard path; cards take no focus of their own
    drop = element(page, f"cell-{plan.vault.id}-{plan.day2[0].id}")
    assert (drop.attrs["data-room"], drop.attrs["data-slot"]) == (str(plan.vault.id), str(plan.day2[0].id))
    assert html.count('class="place-form"') == 3  # one move form, two "place in" forms
    assert '<script src="/static/schedule.js" defer></script>' in html
    assert "<script>" not in html and " style=" not in html  # the CSP forbids inline scripts and styles


def test_publish_panel_shows_the_release_and_where_attendees_see_it(client, plan, editor):
    page = editor()
    assert "Not published yet" in text_of(page)
    assert "Publish release 1" in text_of(page)
    assert 'href="/e/retreat/schedule"' in text_of(page)
    place(plan, plan.talks[0], plan.hall, plan.day1[0])
    assert client.post(plan.url("/publish")).status_code == 302
    page = editor()
    assert "Release 1 is published" in text_of(page)
    assert "Nothing changed since release 1." in text_of(page)
    assert "Publish release 2" in text_of(page)
    place(plan, plan.talks[1], plan.hall, plan.day1[1])
    assert "changes attendees do not see yet" in text_of(editor())


def test_the_auto_schedule_link_is_shown_only_when_the_page_exists(app, plan, editor, monkeypatch):
    assert "autoschedule.form" in app.view_functions
    assert 'href="/e/retreat/manage/schedule/auto/"' in text_of(editor())
    monkeypatch.delitem(app.view_functions, "autoschedule.form")
    page = editor()
    assert "Auto-schedule" not in text_of(page)


def test_empty_states_say_what_to_do_next(client, world):
    login_as(client, world.organizer)
    page = text_of(client.get("/e/retreat/manage/schedule"))
    assert "No rooms yet." in page and 'href="/e/retreat/manage/schedule/rooms">Add rooms' in page
    assert "No slots yet." in page and 'href="/e/retreat/manage/schedule/slots">Add slots' in page
    assert "No accepted proposals yet." in page and "Accept some talks" in page
    assert "Nothing is placed yet." in page

    schedule.add_room(world.organizer, world.event, "Hall", 10, False)
    db.session.commit()
    page = text_of(client.get("/e/retreat/manage/schedule"))
    assert "No rooms yet." not in page and "No slots yet." in page


def test_every_session_placed_says_so(plan, editor):
    for talk, slot in zip(plan.talks, plan.day1):
        place(plan, talk, plan.hall, slot)
    page = editor()
    assert "Every accepted session is on the grid." in text_of(page)
    assert "3 of 3 accepted sessions placed" in text_of(page)


def test_proposals_not_accepted_are_not_on_the_editor(plan, editor):
    from workshop.models import ProposalStatus

    accepted_talk(plan.event, "Still in review", [plan.speakers[0]], status=ProposalStatus.SUBMITTED)
    assert "Still in review" not in text_of(editor())


def _grow(plan: Plan, n: int, offset: int) -> None:
    """n more accepted talks, each with its own speaker and a vote, half of them placed (with conflicts)."""
    voters = [plan.world.attendee]
    for i in range(offset, offset + n):
        speaker = make_participant(plan.event, f"grow{i}@example.org")
        talk = accepted_talk(plan.event, f"Grown {i}", [speaker], Tier.SESSION if i % 2 else Tier.ATTENDEES,
                             voters=voters)
        db.session.add(Unavailability(user_id=speaker.id, slot_id=plan.day1[i % 4].id))
        if i % 2:
            schedule.place(plan.world.organizer, talk, (plan.hall, plan.closet)[i % 3 % 2].id, plan.day1[i % 4].id)
    db.session.commit()


def test_the_editors_query_count_does_not_grow_with_the_sessions(client, plan, editor):
    place(plan, plan.talks[0], plan.hall, plan.day1[0])
    editor()  # warm-up
    with counting() as small:
        editor()
    _grow(plan, 40, 100)
    with counting() as large:
        page = editor()
    assert "Grown 139" in text_of(page) and "Conflicts" in text_of(page)
    assert len(large) == len(small), "\n".join(large)


# --- moving without dragging: one form, reached from the card ----------------------------------


def test_a_placed_session_moves_or_leaves_the_grid_through_its_move_form(client, plan):
    talk = plan.talks[0]
    schedule.place(plan.world.organizer, talk, plan.hall.id, plan.day1[0].id)
    db.session.commit()
    login_as(client, plan.world.organizer)

    page = client.get(plan.url())
    assert element(page, "move") is None  # no form until a session is chosen
    card = text_of(page)
    link = f'href="/e/retreat/manage/schedule?move={talk.public_id}#move"'
    assert link in card

    page = client.get(plan.url(f"?move={talk.public_id}"))
    panel = element(page, "move")
    assert panel is not None and f"Move “{talk.title}”" in panel.text and "Main Hall" in panel.text
    html = text_of(page)
    assert re.search(rf'id="move-room-{talk.public_id}".*?<option value="{plan.hall.id}" selected>', html, re.S)
    assert re.search(rf'id="move-slot-{talk.public_id}".*?<option value="{plan.day1[0].id}" selected>', html, re.S)

    moved = client.post(plan.url("/place"), data={"proposal": talk.public_id, "room": plan.vault.id,
                                                  "slot": plan.day1[1].id})
    assert moved.status_code == 302
    assert (placement_of(talk).room_id, placement_of(talk).slot_id) == (plan.vault.id, plan.day1[1].id)
    # The panel's Unplace button posts the same form to unplace.
    assert 'formaction="/e/retreat/manage/schedule/unplace"' in html
    assert client.post(plan.url("/unplace"), data={"proposal": talk.public_id, "room": plan.vault.id,
                                                    "slot": plan.day1[1].id}).status_code == 302
    assert placement_of(talk) is None


def test_a_move_for_a_session_that_is_not_placed_shows_no_form(client, plan):
    login_as(client, plan.world.organizer)
    for wanted in (plan.talks[0].public_id, "nosuchsession00", "x" * 300):
        page = client.get(plan.url(), query_string={"move": wanted})
        assert page.status_code == 200 and element(page, "move") is None


def test_the_grids_pin_buttons_post_the_grid_form_to_pin(client, plan):
    talk = plan.talks[0]
    schedule.place(plan.world.organizer, talk, plan.hall.id, plan.day1[0].id)
    db.session.commit()
    login_as(client, plan.world.organizer)
    html = text_of(client.get(plan.url()))
    form = re.search(r'<form method="post" action="([^"]+)" class="place-form" id="grid-form"', html)
    assert form and form.group(1) == "/e/retreat/manage/schedule/pin"
    assert f'<button name="proposal" value="{talk.public_id}">Pin</button>' in html
    assert client.post(form.group(1), data={"proposal": talk.public_id}).status_code == 302
    assert placement_of(talk).pinned
