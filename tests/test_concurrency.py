"""Seat changes under real concurrency: many people answering, withdrawing and being revoked at once.

These tests need PostgreSQL. SQLite serializes every writer for the whole database, so races
that matter in production (row locks, READ COMMITTED, foreign-key share locks) cannot happen there.
Each thread runs in its own app context, so it gets its own session and its own connection,
exactly as two gunicorn workers would. Every race runs several rounds, because a single lucky
interleaving proves little.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import TEST_DATABASE_URL, errors, make_candidate, make_event, make_user, race
from workshop import mail
from workshop.extensions import db
from workshop.models import Candidate, CandidateStatus, Event, EventStatus, Invitation, User, utcnow
from workshop.services import invites

S = CandidateStatus
ROUNDS = 4

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgresql"),
                       reason="concurrency tests need TEST_DATABASE_URL pointing at PostgreSQL"),
]


def invite_all(organizer: User, event: Event, candidates: list[Candidate], sent) -> dict[str, str]:
    """Send one wave through the service and read each person's token back from the delivered mail."""
    invites.send_wave(organizer, event, candidates)
    db.session.commit()
    mail.send_due()
    tokens = {}
    for candidate in candidates:
        [message] = sent.to(candidate.email)
        body = message.get_body(("plain",)).get_content()
        tokens[candidate.email] = re.search(r"/invitation/(\S+)", body).group(1)
    return tokens


def statuses(event_id: int) -> dict[str, CandidateStatus]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Candidate.email, Candidate.status).where(Candidate.event_id == event_id))
    return {email: status for email, status in rows}


def accepted_count(event_id: int) -> int:
    return sum(1 for status in statuses(event_id).values() if status == S.ACCEPTED)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_twenty_acceptances_for_five_seats_never_overbook(app, ctx, sent, round_):
    organizer = make_user("org@example.org")
    event = make_event(f"race{round_}", organizers=[organizer], capacity=5, status=EventStatus.INVITING)
    people = [make_candidate(event, f"p{i}@example.org", S.APPROVED) for i in range(20)]
    tokens = invite_all(organizer, event, people, sent)
    event_id = event.id
    db.session.commit()  # the test's own session must hold no locks while the threads run

    results = race(app, [lambda t=token: invites.accept_invitation(t).status.value for token in tokens.values()])

    assert errors(results) == []
    assert all(outcome == "ok" for outcome, _ in results)  # every token was valid: nobody is turned away
    assert sorted(value for _, value in results) == ["accepted"] * 5 + ["waitlisted"] * 15
    final = statuses(event_id)
    assert sum(s == S.ACCEPTED for s in final.values()) == 5
    assert sum(s == S.WAITLISTED for s in final.values()) == 15
    waitlist = db.session.scalars(
        sa.select(Candidate).where(Candidate.event_id == event_id, Candidate.status == S.WAITLISTED)
    ).all()
    # A fair queue needs a strict order: no two people may share a place.
    assert len({c.waitlisted_at for c in waitlist}) == 15
    assert sorted(invites.waitlist_position(c) for c in waitlist) == list(range(1, 16))
    # Everyone who answered is linked to an account, and every link was used exactly once.
    assert all(c.user_id is not None for c in waitlist)
    used = db.session.scalar(sa.select(sa.func.count()).select_from(Invitation).where(Invitation.used_at.is_not(None)))
    assert used == 20


def _full_event_with_queue(round_: int, sent):
    """Five seats taken, five people waiting (in a known order), five invitations outstanding."""
    organizer = make_user("org@example.org")
    event = make_event(f"churn{round_}", organizers=[organizer], capacity=5, status=EventStatus.OPEN)
    seated = []
    for i in range(5):
        user = make_user(f"seated{i}@example.org")
        make_candidate(event, user.email, S.ACCEPTED, user=user)
        seated.append(user)
    start = utcnow() - timedelta(hours=1)
    waiting = []
    for i in range(5):
        user = make_user(f"waiting{i}@example.org")
        make_candidate(event, user.email, S.WAITLISTED, user=user, waitlisted_at=start + timedelta(minutes=i))
        waiting.append(user.email)
    newcomers = [make_candidate(event, f"new{i}@example.org", S.APPROVED) for i in range(5)]
    tokens = invite_all(organizer, event, newcomers, sent)
    db.session.commit()
    return organizer.id, event, seated, waiting, tokens


def _withdraw_job(user_id: int, event_id: int):
    def job():
        user, event = db.session.get(User, user_id), db.session.get(Event, event_id)
        return invites.withdraw(user, event).status.value
    return job


def _revoke_job(organizer_id: int, event_id: int, candidate_id: int):
    def job():
        organizer, event = db.session.get(User, organizer_id), db.session.get(Event, event_id)
        candidate = db.session.get(Candidate, candidate_id)
        return len(invites.revoke(organizer, event, [candidate]).done)
    return job


def _candidate_id(event_id: int, email: str) -> int:
    return db.session.scalar(sa.select(Candidate.id).where(Candidate.event_id == event_id, Candidate.email == email))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_withdrawals_and_revocations_while_others_accept(app, ctx, sent, round_):
    organizer_id, event, seated, waiting, tokens = _full_event_with_queue(round_, sent)
    event_id = event.id
    jobs = [_withdraw_job(user.id, event_id) for user in seated[:3]]
    jobs += [_revoke_job(organizer_id, event_id, _candidate_id(event_id, user.email)) for user in seated[3:]]
    jobs += [lambda t=token: invites.accept_invitation(t).status.value for token in tokens.values()]
    db.session.commit()

    results = race(app, jobs)

    assert errors(results) == []
    assert all(outcome == "ok" for outcome, _ in results)
    final = statuses(event_id)
    # Five seats freed and five people already waiting: each freed seat goes to the head of the
    # queue, and nobody who answered during the churn jumps it.
    assert accepted_count(event_id) == 5
    assert sorted(email for email, s in final.items() if s == S.ACCEPTED) == sorted(waiting)
    assert all(final[f"new{i}@example.org"] == S.WAITLISTED for i in range(5))
    assert [final[u.email] for u in seated] == [S.DECLINED] * 3 + [S.REVOKED] * 2


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_revocation_while_the_same_person_accepts_refills_the_seat(app, ctx, sent, round_):
    """An organizer revokes someone at the very moment they accept, while one more person accepts.

    Any serial order is acceptable (revoked first: that answer is refused; accepted first: the
    revocation frees the seat again), so the outcome is fixed: the revoked person ends revoked and
    the other answer holds the last seat, directly or by promotion from the waitlist.
    """
    organizer = make_user("org@example.org")
    event = make_event(f"grab{round_}", organizers=[organizer], capacity=2, status=EventStatus.OPEN)
    holder = make_user("holder@example.org")
    make_candidate(event, holder.email, S.ACCEPTED, user=holder)
    newcomer = make_candidate(event, "new@example.org", S.APPROVED)
    other = make_candidate(event, "other@example.org", S.APPROVED)
    tokens = invite_all(organizer, event, [newcomer, other], sent)
    event_id, newcomer_id, organizer_id = event.id, newcomer.id, organizer.id
    db.session.commit()

    results = race(app, [
        lambda: invites.accept_invitation(tokens["new@example.org"]).status.value,
        _revoke_job(organizer_id, event_id, newcomer_id),
        lambda: invites.accept_invitation(tokens["other@example.org"]).status.value,
    ])

    assert errors(results) == []
    final = statuses(event_id)
    assert final["new@example.org"] == S.REVOKED
    assert final["other@example.org"] == S.ACCEPTED
    assert accepted_count(event_id) == 2


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_revocation_and_withdrawal_of_the_same_person_at_once(app, ctx, sent, round_):
    """Revocation must win: a person who withdraws as they are revoked may not end up merely 'declined'
    (declined people still see the landing page), and exactly one waiting person gets the seat."""
    organizer = make_user("org@example.org")
    event = make_event(f"both{round_}", organizers=[organizer], capacity=1, status=EventStatus.OPEN)
    seated = make_user("seated@example.org")
    seated_candidate = make_candidate(event, seated.email, S.ACCEPTED, user=seated)
    start = utcnow() - timedelta(hours=1)
    for i in range(2):
        make_candidate(event, f"waiting{i}@example.org", S.WAITLISTED, user=make_user(f"waiting{i}@example.org"),
                       waitlisted_at=start + timedelta(minutes=i))
    event_id, seated_id, candidate_id, organizer_id = event.id, seated.id, seated_candidate.id, organizer.id
    db.session.commit()

    results = race(app, [_withdraw_job(seated_id, event_id), _revoke_job(organizer_id, event_id, candidate_id)])

    assert errors(results) == []
    final = statuses(event_id)
    assert final["seated@example.org"] == S.REVOKED
    assert final["waiting0@example.org"] == S.ACCEPTED
    assert final["waiting1@example.org"] == S.WAITLISTED


@pytest.mark.parametrize("round_", range(ROUNDS * 2))
def test_one_token_used_by_two_threads_wins_once(app, ctx, sent, round_):
    organizer = make_user("org@example.org")
    event = make_event(f"twice{round_}", organizers=[organizer], capacity=5, status=EventStatus.INVITING)
    person = make_candidate(event, "p@example.org", S.APPROVED)
    token = invite_all(organizer, event, [person], sent)["p@example.org"]
    event_id = event.id
    db.session.commit()

    # One tab accepts, the other accepts too (a double click, or a replayed request).
    results = race(app, [lambda: invites.accept_invitation(token).status.value] * 2)

    assert errors(results) == []
    assert sorted(outcome for outcome, _ in results) == ["ok", "refused"]
    assert statuses(event_id) == {"p@example.org": S.ACCEPTED}
    used = db.session.scalars(sa.select(Invitation.used_at)).all()
    assert len(used) == 1 and used[0] is not None
    # Only one account was created for the address.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.email == "p@example.org")) == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_accept_and_decline_of_one_token_at_once(app, ctx, sent, round_):
    """Two tabs, one accepting and one declining: exactly one answer counts, and no seat is held by a decliner."""
    organizer = make_user("org@example.org")
    event = make_event(f"split{round_}", organizers=[organizer], capacity=5, status=EventStatus.INVITING)
    person = make_candidate(event, "p@example.org", S.APPROVED)
    token = invite_all(organizer, event, [person], sent)["p@example.org"]
    event_id = event.id
    db.session.commit()

    results = race(app, [lambda: invites.accept_invitation(token).status.value,
                         lambda: invites.decline_invitation(token).status.value])

    assert errors(results) == []
    outcomes = [outcome for outcome, _ in results]
    assert sorted(outcomes) == ["ok", "refused"]
    winner = results[outcomes.index("ok")][1]
    assert statuses(event_id) == {"p@example.org": S(winner)}
