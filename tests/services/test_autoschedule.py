"""The auto-scheduler wired to the database: scopes, pins, unconference blocks, lengths and breaks, running
events (started slots and sessions under way), demand from sign-ups, a run in the worker, then apply."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import login_as, make_event, make_participant, make_user, text_of
from workshop import mail, policy
from workshop.extensions import db
from workshop.models import (
    EventStatus,
    Job,
    JobStatus,
    Placement,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    SignUp,
    Tier,
    Unavailability,
    Vote,
    utcnow,
)
from workshop.services import autoschedule, schedule
from workshop.services.errors import DomainError


class Cast:
    pass


@pytest.fixture
def cast(ctx):
    """Rooms: a 30-seat closed-door Hall and a 3-seat Nook. Slots on the first day: 09:00 and 09:50 (50 min,
    consecutive) in "Morning"; 14:00 and 15:00 (50 min, a gap between) in "Afternoon"."""
    c = Cast()
    c.organizer = make_user("org@example.org")
    c.event = make_event("unconf", organizers=[c.organizer], status=EventStatus.RUNNING)
    c.voters = [make_participant(c.event, f"voter{i}@example.org") for i in range(4)]
    c.rooms = [schedule.add_room(c.organizer, c.event, name, cap, closed) for name, cap, closed in
               (("Hall", 30, True), ("Nook", 3, False))]
    day = c.event.starts_on
    c.morning = schedule.add_slots(c.organizer, c.event, day, [time(9), time(9, 50)], 50, "Morning")
    c.afternoon = schedule.add_slots(c.organizer, c.event, day, [time(14), time(15)], 50, "Afternoon")
    db.session.commit()
    return c


def talk(c, title: str, speaker, voters=(), tier=Tier.ATTENDEES, minutes: int = 30) -> Proposal:
    proposal = Proposal(event_id=c.event.id, title=title, tier=tier, status=ProposalStatus.ACCEPTED,
                        duration_minutes=minutes)
    proposal.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
    db.session.add(proposal)
    db.session.flush()
    db.session.add_all([Vote(proposal_id=proposal.id, user_id=v.id) for v in voters])
    db.session.commit()
    return proposal


def where(proposal) -> tuple[int, int] | None:
    placement = db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))
    return (placement.room_id, placement.slot_id) if placement else None


def run(c, scope: str = "unplaced", time_limit: int = 2, seed: int = 0) -> Job:
    """Start a run; the tests' queue runs it as it is committed, as the worker would."""
    job = autoschedule.start(c.organizer, c.event, scope, time_limit, seed)
    db.session.commit()
    db.session.refresh(job)
    assert job.status == JobStatus.DONE, job.error
    return job


def apply(c, job: Job, confirmed: bool = False) -> int:
    count = autoschedule.apply(c.organizer, c.event, job, confirmed)
    db.session.commit()
    return count


def test_two_sessions_wanted_by_the_same_people_go_to_different_slots(cast):
    v = cast.voters
    a = talk(cast, "A", v[0], voters=v[1:])
    b = talk(cast, "B", v[1], voters=[v[2], v[3]])
    job = run(cast, seed=3)
    figures = job.result["figures"]
    assert figures["clashes"] == 0 and figures["missed"] == 0 and figures["optimal"]
    assert job.result["unplaced"] == []
    assert apply(cast, job) == 2
    assert where(a)[1] != where(b)[1]
    # The most wanted session gets the big room.
    assert where(a)[0] == cast.rooms[0].id


def test_the_same_event_and_seed_give_the_same_schedule(cast):
    v = cast.voters
    for i in range(6):
        talk(cast, f"T{i}", v[i % 4], voters=v[: (i % 4) + 1])
    first = autoschedule.compute(cast.event, "all", 2, 7)["placements"]
    second = autoschedule.compute(cast.event, "all", 2, 7)["placements"]
    assert first == second and first


def test_pinned_sessions_never_move_and_unplaced_scope_keeps_everything(cast):
    v = cast.voters
    pinned = talk(cast, "Pinned", v[0], voters=v)
    placed = talk(cast, "Placed", v[1], voters=v)
    schedule.place(cast.organizer, pinned, cast.rooms[1].id, cast.afternoon[0].id, pinned=True)
    schedule.place(cast.organizer, placed, cast.rooms[1].id, cast.afternoon[1].id)
    newcomer = talk(cast, "New", v[2], voters=v)
    db.session.commit()
    apply(cast, run(cast, "unplaced"))
    assert where(pinned) == (cast.rooms[1].id, cast.afternoon[0].id)
    assert where(placed) == (cast.rooms[1].id, cast.afternoon[1].id)
    assert where(newcomer) is not None and where(newcomer)[1] not in {cast.afternoon[0].id, cast.afternoon[1].id}

    result = run(cast, "all").result
    assert [pinned.id, cast.rooms[1].id, cast.afternoon[0].id, 1] in result["placements"]


def test_unconference_mode_fills_only_the_chosen_block(cast, monkeypatch):
    v = cast.voters
    already = talk(cast, "Morning talk", v[0], voters=v)
    schedule.place(cast.organizer, already, cast.rooms[0].id, cast.morning[0].id)
    fresh = [talk(cast, f"Fresh {i}", v[i], voters=v) for i in range(1, 4)]
    db.session.commit()
    # Blocks on offer are those still ahead: move "now" to the morning of the event.
    now = cast.morning[0].starts_at - timedelta(hours=1)
    monkeypatch.setattr(autoschedule, "utcnow", lambda: now)
    assert autoschedule.blocks(cast.event) == ["Morning", "Afternoon"]
    apply(cast, run(cast, "block:Afternoon"))
    afternoon = {s.id for s in cast.afternoon}
    assert where(already) == (cast.rooms[0].id, cast.morning[0].id)
    placed = [where(t) for t in fresh if where(t)]
    assert placed and all(slot in afternoon for _, slot in placed)
    # Four cells in the block, three talks: all placed, none in a double-booked cell.
    assert len(set(placed)) == len(placed) == 3


def test_a_long_talk_runs_over_consecutive_slots_and_none_goes_in_a_break(cast):
    v = cast.voters
    schedule.set_break(cast.organizer, cast.event, cast.afternoon[1], True)
    long = talk(cast, "Long", v[0], voters=v, minutes=100)
    short = talk(cast, "Short", v[1], voters=v[:2])
    db.session.commit()
    job = run(cast, "unplaced")
    # Four want the long talk: the Hall, both morning slots. The short one shares two of its voters, so it
    # goes where nothing clashes: 14:00 (15:00 is a break now).
    assert [long.id, cast.rooms[0].id, cast.morning[0].id, 2] in job.result["placements"]
    assert job.result["figures"]["missed"] == 0
    apply(cast, job)
    placement = db.session.scalar(sa.select(Placement).where(Placement.proposal_id == long.id))
    assert (placement.room_id, placement.slot_id, placement.span) == (cast.rooms[0].id, cast.morning[0].id, 2)
    assert where(short)[1] == cast.afternoon[0].id
    assert schedule.board(cast.event).conflicts == []


def test_a_talk_that_cannot_fit_is_named_with_the_reason(cast):
    v = cast.voters
    busy = talk(cast, "Never free", v[0])
    db.session.add_all([Unavailability(user_id=v[0].id, slot_id=s.id) for s in cast.morning + cast.afternoon])
    too_long = talk(cast, "Too long", v[1], minutes=240)
    db.session.commit()
    job = run(cast)
    reasons = dict(job.result["unplaced"])
    assert reasons[busy.id] == "its speakers are unavailable in every slot"
    assert "would run past the end of consecutive slots (240 min)" in reasons[too_long.id]
    preview = autoschedule.preview_of(cast.event, job)
    assert [(p.title, r) for p, r in preview.unplaced] == [("Never free", reasons[busy.id]),
                                                           ("Too long", reasons[too_long.id])]


# --- running events -------------------------------------------------------------------------


def test_the_scheduler_never_uses_a_slot_that_has_started(cast, monkeypatch):
    v = cast.voters
    talks = [talk(cast, f"T{i}", v[i], voters=v) for i in range(3)]
    # Now is the middle of the first morning slot: three talks, three cells left that have not started.
    now = cast.morning[0].starts_at + timedelta(minutes=10)
    monkeypatch.setattr(autoschedule, "utcnow", lambda: now)
    job = run(cast, "unplaced")
    slots = {slot for _, _, slot, _ in job.result["placements"]}
    assert cast.morning[0].id not in slots
    assert apply(cast, job) == 3
    assert all(where(t)[1] != cast.morning[0].id for t in talks)


def test_reschedule_all_keeps_sessions_under_way_where_they_are(cast, monkeypatch):
    v = cast.voters
    under_way = talk(cast, "Under way", v[0], voters=v)
    later = talk(cast, "Later", v[1], voters=v)
    schedule.place(cast.organizer, under_way, cast.rooms[1].id, cast.morning[0].id)
    schedule.place(cast.organizer, later, cast.rooms[1].id, cast.afternoon[1].id)
    db.session.commit()
    now = cast.morning[0].starts_at + timedelta(minutes=10)
    monkeypatch.setattr(autoschedule, "utcnow", lambda: now)
    job = run(cast, "all")
    assert job.result["kept"] == [under_way.id]
    assert [under_way.id, cast.rooms[1].id, cast.morning[0].id, 1] in job.result["placements"]
    preview = autoschedule.preview_of(cast.event, job)
    assert [p.title for p in preview.kept] == ["Under way"]
    apply(cast, job)
    assert where(under_way) == (cast.rooms[1].id, cast.morning[0].id)
    assert where(later)[1] != cast.morning[0].id


def test_demand_is_sign_ups_once_sign_up_is_open_and_votes_before(cast):
    v = cast.voters
    popular = talk(cast, "Popular", v[0], voters=[v[1]])
    assert [t.demand for t in autoschedule.build(cast.event, "all", utcnow()).problem.talks] == [1]
    schedule.place(cast.organizer, popular, cast.rooms[1].id, cast.afternoon[0].id)
    schedule.publish(cast.organizer, cast.event)
    fans = [make_participant(cast.event, f"fan{i}@example.org") for i in range(5)]
    db.session.add_all([SignUp(proposal_id=popular.id, user_id=f.id) for f in fans])
    db.session.commit()
    policy.forget_memo()
    built = autoschedule.build(cast.event, "all", utcnow())
    [problem_talk] = built.problem.talks
    assert problem_talk.demand == 5  # its sign-ups, not its one vote
    assert problem_talk.voters == frozenset([v[1].id, *(f.id for f in fans)])
    # Five people do not fit the Nook: the scheduler moves it to the Hall.
    job = run(cast, "all")
    assert [popular.id, cast.rooms[0].id] == job.result["placements"][0][:2]


def test_applying_moves_of_sessions_people_signed_up_for_asks_first_and_tells_them(cast, sent):
    v = cast.voters
    popular = talk(cast, "Popular", v[0], voters=[v[1]])
    schedule.place(cast.organizer, popular, cast.rooms[1].id, cast.afternoon[0].id)
    schedule.publish(cast.organizer, cast.event)
    fans = [make_participant(cast.event, f"fan{i}@example.org") for i in range(5)]
    db.session.add_all([SignUp(proposal_id=popular.id, user_id=f.id) for f in fans])
    db.session.commit()
    policy.forget_memo()
    job = run(cast, "all")
    preview = autoschedule.preview_of(cast.event, job)
    assert preview.people_told == 5 and [r.signed_up for r in preview.rows if r.change] == [5]
    with pytest.raises(autoschedule.SignedUpToTell, match="5 people signed up"):
        autoschedule.apply(cast.organizer, cast.event, job)
    db.session.rollback()
    assert where(popular) == (cast.rooms[1].id, cast.afternoon[0].id)
    apply(cast, job, confirmed=True)
    assert where(popular)[0] == cast.rooms[0].id
    mail.send_due()
    assert sorted(m["To"] for m in sent.refresh() if "Popular" in m["Subject"]) == [
        f"fan{i}@example.org" for i in range(5)]


# --- stale or bad requests ------------------------------------------------------------------


def test_a_run_the_schedule_moved_on_from_is_refused_and_nothing_changes(cast):
    v = cast.voters
    a = talk(cast, "A", v[0], voters=v)
    b = talk(cast, "B", v[1], voters=v)
    job = run(cast)
    schedule.place(cast.organizer, a, cast.rooms[0].id, cast.afternoon[1].id)  # by hand, after the run
    db.session.commit()
    with pytest.raises(DomainError, match="changed since this run"):
        autoschedule.apply(cast.organizer, cast.event, job)
    db.session.rollback()
    assert where(b) is None

    job = run(cast)
    talk(cast, "Accepted since", v[2])
    with pytest.raises(DomainError, match="changed since this run"):
        autoschedule.apply(cast.organizer, cast.event, job)
    db.session.rollback()
    # A run applied once cannot be applied again over what it did.
    job = run(cast)
    apply(cast, job)
    with pytest.raises(DomainError, match="changed since this run"):
        autoschedule.apply(cast.organizer, cast.event, job)


def test_a_run_into_a_slot_that_started_since_is_refused(cast, monkeypatch):
    talk(cast, "A", cast.voters[0], voters=cast.voters)
    job = run(cast)
    [[_, _, slot_id, _]] = job.result["placements"]
    starts = db.session.get(type(cast.morning[0]), slot_id).starts_at
    with pytest.raises(DomainError, match="has started since this run"):
        autoschedule.apply(cast.organizer, cast.event, job, now=starts + timedelta(minutes=1))


@pytest.mark.parametrize("scope, limit, field", [("bogus", 5, "scope"), ("unplaced", 0, "time_limit"),
                                                 ("unplaced", 301, "time_limit"), ("block:Nowhere", 5, "scope")])
def test_bad_requests(cast, scope, limit, field):
    with pytest.raises(DomainError) as caught:
        autoschedule.start(cast.organizer, cast.event, scope, time_limit=limit)
    assert caught.value.field == field
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_only_organizers_run_cancel_or_apply_it(cast):
    talk(cast, "A", cast.voters[0], voters=cast.voters)
    job = run(cast)
    with pytest.raises(DomainError):
        autoschedule.start(cast.voters[0], cast.event, "unplaced")
    with pytest.raises(DomainError):
        autoschedule.apply(cast.voters[0], cast.event, job)
    with pytest.raises(DomainError):
        autoschedule.cancel(cast.voters[0], cast.event, job)


def test_start_watch_and_apply_through_the_pages(cast, client):
    v = cast.voters
    talk(cast, "A", v[0], voters=v)
    talk(cast, "B", v[1], voters=v)
    login_as(client, cast.organizer)
    response = client.post("/e/unconf/manage/schedule/auto/", data={"scope": "unplaced", "time_limit": 1, "seed": 0})
    assert response.status_code == 302
    job = db.session.scalar(sa.select(Job))
    assert response.headers["Location"].endswith(f"/e/unconf/manage/schedule/auto/runs/{job.public_id}")
    page = text_of(client.get(response.headers["Location"]))
    assert "Proposed schedule" in page and "proven lower bound" in page and "Apply this schedule" in page
    status = client.get(f"/e/unconf/manage/schedule/auto/runs/{job.public_id}/status").get_json()
    assert status["finished"] and status["status"] == "done" and status["percent"] == 100
    assert status["fields"]["missed"] == "0" and status["preview_url"].endswith("/preview")
    fragment = text_of(client.get(status["preview_url"]))
    assert "<html" not in fragment and "Proposed schedule" in fragment  # a part of the page, for its script
    assert client.post(f"/e/unconf/manage/schedule/auto/runs/{job.public_id}/apply").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Placement)) == 2
    # A second apply of the same run is refused, with the reason on the run's page.
    again = client.post(f"/e/unconf/manage/schedule/auto/runs/{job.public_id}/apply")
    assert again.status_code == 409 and "changed since this run" in text_of(again)
    login_as(client, v[0])
    assert client.get("/e/unconf/manage/schedule/auto/").status_code == 403
    assert client.get(f"/e/unconf/manage/schedule/auto/runs/{job.public_id}/status").status_code == 403


def test_a_run_of_another_event_is_no_run(cast, client):
    other = make_event("other", organizers=[cast.organizer])
    talk(cast, "A", cast.voters[0], voters=cast.voters)
    job = run(cast)
    login_as(client, cast.organizer)
    for path in ("", "/status", "/preview"):
        assert client.get(f"/e/{other.slug}/manage/schedule/auto/runs/{job.public_id}{path}").status_code == 404
    assert client.post(f"/e/{other.slug}/manage/schedule/auto/runs/{job.public_id}/apply").status_code == 404


def test_a_queued_run_is_cancelled_at_once_and_shows_so(cast, client):
    job = Job(kind=autoschedule.KIND, event_id=cast.event.id, params={"scope": "all", "time_limit": 5, "seed": 0})
    db.session.add(job)
    db.session.commit()
    login_as(client, cast.organizer)
    base = f"/e/unconf/manage/schedule/auto/runs/{job.public_id}"
    waiting = client.get(f"{base}/status").get_json()
    assert waiting["status"] == "queued" and "Waiting for a worker" in waiting["fields"]["state"]
    answer = client.post(f"{base}/cancel", headers={"Accept": "application/json"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "cancelled"
    assert client.get(f"{base}/preview").status_code == 409
    again = client.post(f"{base}/cancel", headers={"Accept": "application/json"})
    assert again.status_code == 409 and again.get_json()["error"] == "This job has already finished."
    assert "you cancelled this run" in text_of(client.get(base))
