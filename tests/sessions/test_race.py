"""Sign-ups under real concurrency: more people than seats, all at once, from separate connections.

PostgreSQL only (SQLite serializes every writer, so the race cannot happen there). Each thread runs in
its own app context, so it has its own session and connection, as two gunicorn workers would.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.helpers import TEST_DATABASE_URL, Programme, errors, race
from workshop.extensions import db
from workshop.models import Proposal, SignUp, User
from workshop.services import schedule, signups

ROUNDS = 4

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgresql"),
                       reason="concurrency tests need TEST_DATABASE_URL pointing at PostgreSQL"),
]


def _sign_up_job(user_id: int, proposal_id: int):
    def job():
        user, proposal = db.session.get(User, user_id), db.session.get(Proposal, proposal_id)
        return signups.sign_up(user, proposal).status
    return job


def _cancel_job(user_id: int, proposal_id: int):
    def job():
        user, proposal = db.session.get(User, user_id), db.session.get(Proposal, proposal_id)
        return [s.user_id for s in signups.cancel(user, proposal)]
    return job


def final(proposal_id: int) -> dict[int, str]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(SignUp.user_id, SignUp.status).where(SignUp.proposal_id == proposal_id))
    return dict(rows.all())


def _programme(round_: int, capacity: int) -> Programme:
    programme = Programme(f"race{round_}")
    room = schedule.add_room(programme.organizer, programme.event, "Tiny", capacity, True)
    db.session.commit()
    programme.place(programme.hall_talk, room, programme.slots[1])
    programme.publish()
    return programme


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_twenty_signups_for_five_seats_never_overbook(app, ctx, round_):
    programme = _programme(round_, capacity=5)
    people = programme.more_attendees(20)
    proposal_id, ids = programme.hall_talk.id, [p.id for p in people]
    db.session.commit()  # the test's own session must hold no locks while the threads run

    results = race(app, [_sign_up_job(user_id, proposal_id) for user_id in ids])

    assert errors(results) == []
    assert sorted(value for _, value in results) == ["confirmed"] * 5 + ["waitlisted"] * 15
    seats = final(proposal_id)
    assert sum(status == "confirmed" for status in seats.values()) == 5
    assert sum(status == "waitlisted" for status in seats.values()) == 15
    # A fair queue: everyone waiting has a place of their own.
    places = signups.waitlist_positions
    assert sorted(places(uid, [proposal_id])[proposal_id] for uid, s in seats.items() if s == "waitlisted") == (
        list(range(1, 16)))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_person_signing_up_twice_at_once_gets_one_place(app, ctx, round_):
    programme = _programme(round_, capacity=5)
    user_id, proposal_id = programme.a.id, programme.hall_talk.id
    db.session.commit()

    results = race(app, [_sign_up_job(user_id, proposal_id)] * 2)

    assert errors(results) == []
    assert sorted(outcome for outcome, _ in results) == ["ok", "refused"]
    assert final(proposal_id) == {user_id: "confirmed"}


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_cancellations_while_others_sign_up_keep_the_queue_fair(app, ctx, round_):
    """Three seats taken, three people queueing; two seated people cancel while four newcomers sign up.
    Each freed seat goes to the head of the queue: nobody who arrives during the churn jumps it."""
    programme = _programme(round_, capacity=3)
    seated = programme.more_attendees(3, prefix="seated")
    waiting = programme.more_attendees(3, prefix="waiting")
    newcomers = programme.more_attendees(4, prefix="new")
    proposal = programme.hall_talk
    for person in (*seated, *waiting):
        signups.sign_up(person, proposal)
        db.session.commit()
    proposal_id = proposal.id
    jobs = [_cancel_job(person.id, proposal_id) for person in seated[:2]]
    jobs += [_sign_up_job(person.id, proposal_id) for person in newcomers]
    db.session.commit()

    results = race(app, jobs)

    assert errors(results) == []
    assert all(outcome == "ok" for outcome, _ in results)
    seats = final(proposal_id)
    confirmed = {uid for uid, status in seats.items() if status == "confirmed"}
    assert confirmed == {seated[2].id, waiting[0].id, waiting[1].id}
    assert {uid for uid, status in seats.items() if status == "waitlisted"} == {
        waiting[2].id, *(p.id for p in newcomers)}
    assert signups.waitlist_positions(waiting[2].id, [proposal_id]) == {proposal_id: 1}
