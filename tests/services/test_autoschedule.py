"""The auto-scheduler wired to the database: scopes, pins, unconference blocks, preview then apply."""

from __future__ import annotations

import json
from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import login_as, make_event, make_participant, make_user
from workshop.extensions import db
from workshop.models import EventStatus, Placement, Proposal, ProposalSpeaker, ProposalStatus, Tier, Vote
from workshop.services import autoschedule, schedule
from workshop.services.errors import DomainError


class Cast:
    pass


@pytest.fixture
def cast(ctx):
    c = Cast()
    c.organizer = make_user("org@example.org")
    c.event = make_event("unconf", organizers=[c.organizer], status=EventStatus.RUNNING)
    c.voters = [make_participant(c.event, f"voter{i}@example.org") for i in range(4)]
    c.rooms = [schedule.add_room(c.organizer, c.event, name, cap, closed) for name, cap, closed in
               (("Hall", 30, True), ("Nook", 3, False))]
    day = c.event.starts_on
    c.morning = schedule.add_slots(c.organizer, c.event, day, [time(9), time(10)], 50, "Morning")
    c.afternoon = schedule.add_slots(c.organizer, c.event, day, [time(14), time(15)], 50, "Afternoon")
    db.session.commit()
    return c


def talk(c, title: str, speaker, voters=(), tier=Tier.ATTENDEES) -> Proposal:
    proposal = Proposal(event_id=c.event.id, title=title, tier=tier, status=ProposalStatus.ACCEPTED)
    proposal.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
    db.session.add(proposal)
    db.session.flush()
    db.session.add_all([Vote(proposal_id=proposal.id, user_id=v.id) for v in voters])
    db.session.commit()
    return proposal


def where(proposal) -> tuple[int, int] | None:
    placement = db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))
    return (placement.room_id, placement.slot_id) if placement else None


def test_two_sessions_wanted_by_the_same_people_go_to_different_slots(cast):
    v = cast.voters
    a = talk(cast, "A", v[0], voters=v[1:])
    b = talk(cast, "B", v[1], voters=[v[2], v[3]])
    preview = autoschedule.preview(cast.organizer, cast.event, "unplaced", time_limit=2, seed=3)
    assert preview.result.clashes == 0 and not preview.result.unplaced
    autoschedule.apply(cast.organizer, cast.event, preview.payload())
    db.session.commit()
    assert where(a)[1] != where(b)[1]
    # The most wanted session gets the big room.
    assert where(a)[0] == cast.rooms[0].id


def test_same_input_and_seed_give_the_same_preview(cast):
    v = cast.voters
    for i in range(6):
        talk(cast, f"T{i}", v[i % 4], voters=v[: (i % 4) + 1])
    first = autoschedule.preview(cast.organizer, cast.event, "all", time_limit=2, seed=7).payload()
    second = autoschedule.preview(cast.organizer, cast.event, "all", time_limit=2, seed=7).payload()
    assert first == second and json.loads(first)


def test_pinned_sessions_never_move_and_unplaced_scope_keeps_everything(cast):
    v = cast.voters
    pinned = talk(cast, "Pinned", v[0], voters=v)
    placed = talk(cast, "Placed", v[1], voters=v)
    schedule.place(cast.organizer, pinned, cast.rooms[1].id, cast.morning[0].id, pinned=True)
    schedule.place(cast.organizer, placed, cast.rooms[1].id, cast.morning[1].id)
    newcomer = talk(cast, "New", v[2], voters=v)
    db.session.commit()
    preview = autoschedule.preview(cast.organizer, cast.event, "unplaced", time_limit=2)
    autoschedule.apply(cast.organizer, cast.event, preview.payload())
    db.session.commit()
    assert where(pinned) == (cast.rooms[1].id, cast.morning[0].id)
    assert where(placed) == (cast.rooms[1].id, cast.morning[1].id)
    assert where(newcomer) is not None and where(newcomer)[1] not in {cast.morning[0].id, cast.morning[1].id}

    preview = autoschedule.preview(cast.organizer, cast.event, "all", time_limit=2)
    assert all(p.talk_id != pinned.id or (p.room_id, p.slot_id) == where(pinned) for p in preview.result.placements)


def test_unconference_mode_fills_only_the_chosen_block(cast, monkeypatch):
    v = cast.voters
    already = talk(cast, "Morning talk", v[0], voters=v)
    schedule.place(cast.organizer, already, cast.rooms[0].id, cast.morning[0].id)
    fresh = [talk(cast, f"Fresh {i}", v[i], voters=v) for i in range(1, 4)]
    db.session.commit()
    # Blocks on offer are those still ahead: move "now" to the morning of the event.
    monkeypatch.setattr(autoschedule, "utcnow", lambda: cast.morning[0].starts_at - timedelta(hours=1))
    assert autoschedule.blocks(cast.event) == ["Morning", "Afternoon"]
    preview = autoschedule.preview(cast.organizer, cast.event, "block:Afternoon", time_limit=2)
    autoschedule.apply(cast.organizer, cast.event, preview.payload())
    db.session.commit()
    afternoon = {s.id for s in cast.afternoon}
    assert where(already) == (cast.rooms[0].id, cast.morning[0].id)
    placed = [where(t) for t in fresh if where(t)]
    assert placed and all(slot in afternoon for _, slot in placed)
    # Four cells in the block, three talks: all placed, none in a double-booked cell.
    assert len(set(placed)) == len(placed) == 3


def test_a_tampered_or_stale_preview_is_refused_and_nothing_changes(cast):
    other = make_event("other", organizers=[cast.organizer])
    foreign = talk(cast, "Foreign", cast.voters[0])
    foreign.event_id = other.id
    mine = talk(cast, "Mine", cast.voters[1])
    db.session.commit()
    for payload in ("not json", json.dumps([[foreign.id, cast.rooms[0].id, cast.morning[0].id]]),
                    json.dumps([[mine.id, 999999, cast.morning[0].id]])):
        with pytest.raises(DomainError):
            autoschedule.apply(cast.organizer, cast.event, payload)
        db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Placement)) == 0


@pytest.mark.parametrize("scope, limit, field", [("bogus", 5, "scope"), ("unplaced", 0, "time_limit"),
                                                 ("block:Nowhere", 5, "scope")])
def test_bad_requests(cast, scope, limit, field):
    with pytest.raises(DomainError) as caught:
        autoschedule.preview(cast.organizer, cast.event, scope, time_limit=limit)
    assert caught.value.field == field


def test_only_organizers_run_it(cast):
    with pytest.raises(DomainError):
        autoschedule.preview(cast.voters[0], cast.event, "unplaced")


def test_preview_and_apply_through_the_pages(cast, client):
    v = cast.voters
    talk(cast, "A", v[0], voters=v)
    talk(cast, "B", v[1], voters=v)
    login_as(client, cast.organizer)
    page = client.post("/e/unconf/manage/schedule/auto/", data={"scope": "unplaced", "time_limit": 1, "seed": 0})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Apply this schedule" in text and "proven lower bound" in text
    payload = autoschedule.preview(cast.organizer, cast.event, "unplaced", time_limit=1).payload()
    assert client.post("/e/unconf/manage/schedule/auto/apply", data={"payload": payload}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Placement)) == 2
    login_as(client, v[0])
    assert client.get("/e/unconf/manage/schedule/auto/").status_code == 403
    assert client.post("/e/unconf/manage/schedule/auto/apply", data={"payload": payload}).status_code == 403
