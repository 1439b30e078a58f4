"""Every schedule route, requested as every role. Organizers of the event and admins may; people who may
not know the event get 404; its participants, who know it, get 403. A refusal changes nothing; an
allowed action really happens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from tests.helpers import ROLES, Plan, login_as, nothing_changes, placement_of, text_of
from workshop.extensions import db
from workshop.models import EventStatus, Room, ScheduleRelease, Slot, Unavailability
from workshop.services import schedule


def by_role(*answers: int) -> dict[str, int]:
    return dict(zip(ROLES, answers, strict=True))


#                    anonymous stranger unsigned attendee other_org organizer admin
MANAGE_PAGE = by_role(404, 404, 403, 403, 404, 200, 200)
MANAGE_ACTION = by_role(404, 404, 403, 403, 404, 302, 302)
# Only speakers of accepted talks state their availability; none of the roles is one.
SPEAKERS_ONLY = by_role(404, 404, 403, 403, 404, 403, 403)
# Asking for the page, the unsigned attendee is led to the agreement first (a speaker may state it once signed).
SPEAKERS_ONLY_PAGE = by_role(404, 404, 302, 403, 404, 403, 403)


@dataclass
class Route:
    name: str
    method: str
    path: Callable[[Plan], str]
    expected: dict[str, int]
    data: Callable[[Plan], dict] = lambda plan: {}
    done: Callable[[Plan], bool] | None = None  # for POSTs: did the action happen?


def _slots(plan: Plan) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Slot).where(Slot.event_id == plan.event.id))


ROUTES = [
    Route("editor", "GET", lambda p: p.url(), MANAGE_PAGE),
    Route("place", "POST", lambda p: p.url("/place"), MANAGE_ACTION,
          lambda p: {"proposal": p.talks[1].public_id, "room": p.vault.id, "slot": p.day1[1].id},
          lambda p: placement_of(p.talks[1]) is not None),
    Route("unplace", "POST", lambda p: p.url("/unplace"), MANAGE_ACTION,
          lambda p: {"proposal": p.talks[0].public_id}, lambda p: placement_of(p.talks[0]) is None),
    Route("pin", "POST", lambda p: p.url("/pin"), MANAGE_ACTION,
          lambda p: {"proposal": p.talks[0].public_id}, lambda p: placement_of(p.talks[0]).pinned),
    Route("publish", "POST", lambda p: p.url("/publish"), MANAGE_ACTION, done=lambda p: db.session.scalar(
        sa.select(ScheduleRelease.number).where(ScheduleRelease.event_id == p.event.id)) == 1),
    Route("releases", "GET", lambda p: p.url("/releases"), MANAGE_PAGE),
    Route("rooms", "GET", lambda p: p.url("/rooms"), MANAGE_PAGE),
    Route("rooms", "POST", lambda p: p.url("/rooms"), MANAGE_ACTION, lambda p: {"name": "Annex", "capacity": "12"},
          lambda p: db.session.scalar(sa.select(Room).where(Room.name == "Annex")) is not None),
    Route("delete_room", "POST", lambda p: p.url(f"/rooms/{p.closet.id}/delete"), MANAGE_ACTION,
          done=lambda p: db.session.scalar(sa.select(Room).where(Room.name == "Closet")) is None),
    Route("slots", "GET", lambda p: p.url("/slots"), MANAGE_PAGE),
    Route("slots", "POST", lambda p: p.url("/slots"), MANAGE_ACTION,
          lambda p: {"day": p.event.starts_on.isoformat(), "starts": "18:00, 19:00", "minutes": "30"},
          lambda p: _slots(p) == 7),
    Route("delete_slot", "POST", lambda p: p.url(f"/slots/{p.day2[0].id}/delete"), MANAGE_ACTION,
          done=lambda p: _slots(p) == 4),
    Route("set_break", "POST", lambda p: p.url(f"/slots/{p.day2[0].id}/break"), MANAGE_ACTION,
          lambda p: {"is_break": "1"}, lambda p: db.session.get(Slot, p.day2[0].id).is_break),
    Route("availability", "GET", lambda p: f"/e/{p.event.slug}/availability", SPEAKERS_ONLY_PAGE),
    Route("availability", "POST", lambda p: f"/e/{p.event.slug}/availability", SPEAKERS_ONLY,
          lambda p: {"unavailable": [str(p.day1[1].id)]}),
]
CASES = [(route, role) for route in ROUTES for role in ROLES]


@pytest.fixture
def placed(plan) -> Plan:
    """The plan with Talk A in the Main Hall at 09:00 on day 1."""
    schedule.place(plan.world.organizer, plan.talks[0], plan.hall.id, plan.day1[0].id)
    db.session.commit()
    return plan


def request(client, route: Route, plan: Plan):
    url = route.path(plan)
    return client.get(url) if route.method == "GET" else client.post(url, data=route.data(plan))


def test_every_schedule_route_is_in_the_table(app):
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("schedule.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == {(f"schedule.{r.name}", r.method) for r in ROUTES}


@pytest.mark.parametrize(("route", "role"), CASES, ids=[f"{r.method}-{r.name}-{role}" for r, role in CASES])
def test_route_answers_each_role(client, placed, route, role):
    login_as(client, placed.world.users[role])
    expected = route.expected[role]
    if route.method == "POST" and expected != 302:
        with nothing_changes():
            response = request(client, route, placed)
    else:
        response = request(client, route, placed)
    assert response.status_code == expected, text_of(response)[:500]
    if expected == 302 and route.method == "GET":  # a page's way to the agreement, then back
        assert response.headers["Location"].startswith(f"/e/{placed.event.slug}/agreement?next=")
    elif expected == 302:
        assert route.done(placed), "the action was answered but did not happen"
    if expected == 200:
        assert placed.event.title in text_of(response)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_speakers_state_their_availability(client, placed, method):
    speaker = placed.speakers[1]
    login_as(client, speaker)
    url = f"/e/{placed.event.slug}/availability"
    if method == "GET":
        response = client.get(url)
        assert response.status_code == 200
        assert "Talk B" in text_of(response)
    else:
        response = client.post(url, data={"unavailable": [str(placed.day1[1].id)]})
        assert response.status_code == 302
        assert db.session.scalars(sa.select(Unavailability.slot_id).where(
            Unavailability.user_id == speaker.id)).all() == [placed.day1[1].id]


def test_a_speaker_who_has_not_signed_may_not_state_availability(client, placed):
    speaker = placed.speakers[0]
    db.session.execute(sa.text("DELETE FROM agreement_acceptances WHERE user_id = :id"), {"id": speaker.id})
    db.session.commit()
    login_as(client, speaker)
    with nothing_changes():
        assert client.post(f"/e/{placed.event.slug}/availability",
                           data={"unavailable": [str(placed.day1[0].id)]}).status_code == 403


@pytest.mark.parametrize("role", ["organizer", "admin"])
def test_an_archived_event_has_a_read_only_schedule(client, placed, role):
    placed.event.status = EventStatus.ARCHIVED
    db.session.commit()
    login_as(client, placed.world.users[role])
    assert client.get(placed.url()).status_code == 403
    with nothing_changes():
        response = client.post(placed.url("/place"), data={"proposal": placed.talks[1].public_id,
                                                           "room": placed.hall.id, "slot": placed.day1[1].id})
    assert response.status_code == 403


def test_other_events_rooms_and_slots_are_not_found(client, placed):
    """A room or slot id of another event, in the URL, finds nothing for this event's organizer."""
    other = placed.world.other_event
    room = schedule.add_room(placed.world.other_organizer, other, "Their Room", 10, False)
    [slot] = schedule.add_slots(placed.world.other_organizer, other, other.starts_on, [placed.day1[0].starts_at.time()],
                                30)
    db.session.commit()
    login_as(client, placed.world.organizer)
    with nothing_changes():
        assert client.post(placed.url(f"/rooms/{room.id}/delete")).status_code == 404
        assert client.post(placed.url(f"/slots/{slot.id}/delete")).status_code == 404
        assert client.post(placed.url("/rooms/99999999/delete")).status_code == 404
