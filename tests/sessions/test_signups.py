"""Sign-ups: seats up to the released room's capacity, a waitlist promoted on cancellation, and who may sign up."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import Programme, add_material, make_participant, make_talk
from workshop import policy
from workshop.extensions import db
from workshop.models import Attendance, Candidate, CandidateStatus, EventStatus, ProposalStatus, SignUp, Tier
from workshop.services import schedule, signups
from workshop.services.errors import DomainError


def seats(proposal) -> dict[int, str]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(SignUp.user_id, SignUp.status).where(SignUp.proposal_id == proposal.id))
    return dict(rows.all())


def sign_up(user, proposal, **kwargs) -> SignUp:
    signup = signups.sign_up(user, proposal, **kwargs)
    db.session.commit()
    policy.forget_memo()
    return signup


def test_seats_up_to_the_room_capacity_then_the_waitlist(programme: Programme):
    a0, a1, a2 = programme.attendees
    extra = programme.more_attendees(1)[0]

    assert sign_up(a0, programme.small).status == "confirmed"
    assert sign_up(a1, programme.small).status == "confirmed"
    third = sign_up(a2, programme.small)
    fourth = sign_up(extra, programme.small)

    # The Library seats two: the rest queue, in the order they came.
    assert (third.status, fourth.status) == ("waitlisted", "waitlisted")
    assert seats(programme.small) == {a0.id: "confirmed", a1.id: "confirmed", a2.id: "waitlisted",
                                      extra.id: "waitlisted"}
    assert signups.waitlist_position(third) == 1
    assert signups.waitlist_position(fourth) == 2
    assert signups.waitlist_positions(extra.id, [programme.small.id, programme.hall_talk.id]) == {
        programme.small.id: 2}
    assert signups.confirmed_counts([programme.small.id, programme.hall_talk.id]) == {programme.small.id: 2}
    # The hall's fifty seats are a different session's.
    assert sign_up(a2, programme.hall_talk).status == "confirmed"


def test_signing_up_twice_is_refused_clearly(programme: Programme):
    a0, a1, a2 = programme.attendees
    sign_up(a0, programme.small)
    sign_up(a1, programme.small)
    sign_up(a2, programme.small)

    with pytest.raises(DomainError, match="You have a seat in this session already"):
        signups.sign_up(a0, programme.small)
    db.session.rollback()
    with pytest.raises(DomainError, match=r"waitlist already \(number 1\)"):
        signups.sign_up(a2, programme.small)
    db.session.rollback()
    assert len(seats(programme.small)) == 3


def test_cancelling_a_seat_promotes_the_earliest_waitlisted_person_and_emails_them(programme: Programme, sent):
    a0, a1, a2 = programme.attendees
    later = programme.more_attendees(1)[0]
    for person in (a0, a1, a2, later):
        sign_up(person, programme.small)

    promoted = signups.cancel(a0, programme.small)
    db.session.commit()

    assert [s.user_id for s in promoted] == [a2.id]
    assert seats(programme.small) == {a1.id: "confirmed", a2.id: "confirmed", later.id: "waitlisted"}
    [message] = sent.to(a2.email)
    body = message.get_body(("plain",)).get_content()
    assert "Sparse probes for deceptive circuits" in message["Subject"]
    assert "Library" in body and "09:00" in body  # local time, Berlin
    assert "http://conclave.test/e/retreat/agenda" in body
    assert sent.to(later.email) == []  # still waiting, told nothing
    assert signups.waitlist_position(db.session.get(SignUp, (programme.small.id, later.id))) == 1


def test_leaving_the_waitlist_promotes_nobody(programme: Programme, sent):
    a0, a1, a2 = programme.attendees
    later = programme.more_attendees(1)[0]
    for person in (a0, a1, a2, later):
        sign_up(person, programme.small)

    assert signups.cancel(a2, programme.small) == []
    db.session.commit()

    assert seats(programme.small) == {a0.id: "confirmed", a1.id: "confirmed", later.id: "waitlisted"}
    assert signups.waitlist_position(db.session.get(SignUp, (programme.small.id, later.id))) == 1
    assert sent.refresh() == []


def test_cancel_without_a_signup_is_refused(programme: Programme):
    with pytest.raises(DomainError, match="not signed up"):
        signups.cancel(programme.a, programme.small)


def test_promotion_passes_over_someone_revoked_since(programme: Programme, sent):
    a0, a1, a2 = programme.attendees
    later = programme.more_attendees(1)[0]
    for person in (a0, a1, a2, later):
        sign_up(person, programme.small)
    candidate = db.session.scalar(sa.select(Candidate).where(Candidate.user_id == a2.id))
    candidate.status = CandidateStatus.REVOKED
    db.session.commit()
    policy.forget_memo()

    promoted = signups.cancel(a0, programme.small)
    db.session.commit()

    assert [s.user_id for s in promoted] == [later.id]
    assert seats(programme.small)[a2.id] == "waitlisted"
    assert sent.to(a2.email) == [] and len(sent.to(later.email)) == 1


def test_a_bigger_room_in_a_new_release_lets_the_queue_in(programme: Programme):
    a0, a1, a2 = programme.attendees
    for person in (a0, a1, a2):
        sign_up(person, programme.small)
    assert seats(programme.small)[a2.id] == "waitlisted"
    programme.place(programme.small, programme.hall, programme.slots[1])
    programme.publish()  # publishing the move lets the queue in by itself

    assert set(seats(programme.small).values()) == {"confirmed"}
    assert signups.fill_from_waitlist(programme.small) == []


# --- who may sign up ----------------------------------------------------------------------


def test_a_restricted_session_is_closed_to_those_not_named(programme: Programme):
    with pytest.raises(DomainError):
        signups.sign_up(programme.a, programme.secret)
    db.session.rollback()
    assert sign_up(programme.named, programme.secret).status == "confirmed"


def test_only_released_accepted_sessions_take_signups(programme: Programme):
    unplaced = make_talk(programme.event, programme.speaker, "Not on the grid yet")
    placed_later = make_talk(programme.event, programme.speaker, "Placed after publishing")
    programme.place(placed_later, programme.hall, programme.slots[1])  # in the working schedule only

    for proposal in (unplaced, placed_later):
        with pytest.raises(DomainError, match="not on the published schedule"):
            signups.sign_up(programme.a, proposal)
        db.session.rollback()

    programme.hall_talk.status = ProposalStatus.WITHDRAWN
    db.session.commit()
    policy.forget_memo()
    with pytest.raises(DomainError):
        signups.sign_up(programme.a, programme.hall_talk)
    db.session.rollback()
    assert seats(programme.hall_talk) == {}


def test_people_who_may_not_sign_up(programme: Programme):
    for person in (programme.unsigned, programme.stranger, programme.speaker):
        with pytest.raises(DomainError) as refused:
            signups.sign_up(person, programme.hall_talk)
        db.session.rollback()
        if person is programme.speaker:
            assert "You are speaking" in refused.value.message
    assert seats(programme.hall_talk) == {}


def test_signups_close_with_the_event_and_after_the_session(programme: Programme):
    slot_end = programme.slots[0].ends_at
    with pytest.raises(DomainError, match="session is over"):
        signups.sign_up(programme.a, programme.hall_talk, now=slot_end)
    db.session.rollback()
    assert sign_up(programme.a, programme.hall_talk, now=slot_end - timedelta(minutes=1)).status == "confirmed"

    programme.event.status = EventStatus.CLOSED
    db.session.commit()
    policy.forget_memo()
    with pytest.raises(DomainError, match="open or running"):
        signups.sign_up(programme.attendees[1], programme.hall_talk)


def test_signing_up_is_not_attending(programme: Programme):
    material = add_material(programme.small)
    sign_up(programme.a, programme.small)

    assert not policy.has_attended(programme.a, programme.small)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attendance)) == 0
    assert policy.material_decision(programme.a, material).reason == "did not attend the session"


@pytest.mark.parametrize("who", ["a", "named", "speaker", "organizer", "unsigned"])
def test_the_schedule_pages_shortcut_agrees_with_the_policy(programme: Programme, who):
    """policy.sessions_open_for_signup decides the page's buttons without a query per session; it must agree
    with can_sign_up, session by session."""
    extra = make_talk(programme.event, programme.speaker, "Restricted, then opened", Tier.RESTRICTED)
    make_participant(programme.event, "late@example.org")
    programme.place(extra, programme.hall, programme.slots[1])
    programme.publish()
    user = getattr(programme, who)

    released = schedule.published(user, programme.event)
    shortcut = policy.sessions_open_for_signup(user, programme.event, released.sessions)

    every = [programme.small, programme.hall_talk, programme.secret, extra]
    assert shortcut == {p.id for p in every if policy.can_sign_up(user, p)}
    expected = {"a": {programme.small.id, programme.hall_talk.id}, "named": {programme.small.id,
                                                                            programme.hall_talk.id,
                                                                            programme.secret.id}}
    assert shortcut == expected.get(who, set())
