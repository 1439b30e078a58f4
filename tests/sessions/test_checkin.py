"""Check-in: organizers tick people in; attendees type the room code during the session only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import Programme, add_material, make_talk
from workshop import policy
from workshop.extensions import db
from workshop.models import Attendance
from workshop.services import signups
from workshop.services.errors import DomainError


def attendance(proposal) -> dict[int, tuple[str, int | None]]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Attendance.user_id, Attendance.source, Attendance.recorded_by_id)
                              .where(Attendance.proposal_id == proposal.id))
    return {user_id: (source, by) for user_id, source, by in rows}


def test_organizer_check_in_records_attendance_and_opens_session_tier_materials(programme: Programme):
    material = add_material(programme.small)
    assert not policy.material_decision(programme.a, material).allowed

    assert signups.check_in(programme.organizer, programme.small, programme.a) is True
    db.session.commit()
    policy.forget_memo()

    assert attendance(programme.small) == {programme.a.id: ("organizer", programme.organizer.id)}
    decision = policy.material_decision(programme.a, material)
    assert decision.allowed and decision.reason == "tier session"
    # Ticking twice changes nothing and says so.
    assert signups.check_in(programme.organizer, programme.small, programme.a) is False
    # Someone else still may not download.
    assert not policy.material_decision(programme.attendees[1], material).allowed


def test_only_organizers_check_people_in(programme: Programme):
    for actor in (programme.attendees[1], programme.speaker, programme.stranger, None):
        with pytest.raises(DomainError, match="Only organizers"):
            signups.check_in(actor, programme.small, programme.a)
    assert attendance(programme.small) == {}


def test_organizers_cannot_check_in_people_the_session_is_closed_to(programme: Programme):
    for person in (programme.a, programme.unsigned):
        with pytest.raises(DomainError, match="may not see this session"):
            signups.check_in(programme.organizer, programme.secret, person)
    with pytest.raises(DomainError, match="not an attendee of this event"):
        signups.check_in(programme.organizer, programme.secret, programme.stranger)
    assert signups.check_in(programme.organizer, programme.secret, programme.named) is True
    db.session.commit()
    assert set(attendance(programme.secret)) == {programme.named.id}


# --- the room code ------------------------------------------------------------------------


def test_room_code_is_short_unambiguous_stable_within_its_minute_and_per_session(programme: Programme, app):
    starts, _ = window(programme)
    code = signups.room_code(programme.small, starts)

    assert len(code) == 6 and set(code) <= set(signups.CODE_ALPHABET)
    assert not set(code) & set("0O1IL5S2Z8B")
    # No storage: derived again within the same minute, the same.
    assert signups.room_code(programme.small, starts + timedelta(seconds=59)) == code
    assert len({signups.room_code(p, starts) for p in (programme.small, programme.hall_talk, programme.secret)}) == 3


def test_the_code_changes_every_minute_and_a_photo_of_an_old_one_is_useless(programme: Programme):
    """Each minute has its own code; the one of the minute before still works (it may have changed while
    someone typed it), and an older one is a wrong code."""
    starts, _ = window(programme)
    codes = [signups.room_code(programme.small, starts + timedelta(minutes=m)) for m in range(4)]
    assert len(set(codes)) == 4
    now = starts + timedelta(minutes=3, seconds=30)
    assert signups.codes_match(codes[3], programme.small, now)
    assert signups.codes_match(codes[2], programme.small, now)
    for old in codes[:2]:
        assert not signups.codes_match(old, programme.small, now)
        with pytest.raises(DomainError, match="The code is wrong"):
            signups.self_check_in(programme.a, programme.small, old, now=now)
        with pytest.raises(DomainError, match="The code is wrong"):
            signups.find_session_by_code(programme.a, programme.event, old, now)
    assert attendance(programme.small) == {}
    assert signups.self_check_in(programme.a, programme.small, codes[2], now=now) is True


def test_the_projector_is_told_when_the_code_changes(programme: Programme):
    starts, _ = window(programme)  # on a whole minute
    assert signups.code_changes_in(starts) == 60
    assert signups.code_changes_in(starts + timedelta(seconds=59, milliseconds=500)) == 1
    assert signups.code_changes_in(starts + timedelta(seconds=20)) == 40


def test_room_code_depends_on_the_secret_key_and_changes_when_the_session_moves(programme: Programme, app,
                                                                                 monkeypatch):
    starts, _ = window(programme)
    code = signups.room_code(programme.small, starts)
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-secret")
    assert signups.room_code(programme.small, starts) != code
    monkeypatch.setitem(app.config, "SECRET_KEY", "test-secret")

    programme.place(programme.small, programme.hall, programme.slots[1])
    programme.publish()
    assert signups.room_code(programme.small, starts) != code


def test_a_session_off_the_schedule_has_no_code(programme: Programme):
    unplaced = make_talk(programme.event, programme.speaker, "Not placed")
    with pytest.raises(DomainError, match="not on the published schedule"):
        signups.room_code(unplaced)


# --- self check-in ------------------------------------------------------------------------


def window(programme: Programme):
    slot = programme.slots[0]
    return slot.starts_at, slot.ends_at


def test_self_check_in_only_from_ten_minutes_before_to_the_end(programme: Programme):
    starts, ends = window(programme)
    a0, a1, a2 = programme.attendees

    def check_in(person, now):
        return signups.self_check_in(person, programme.small, signups.room_code(programme.small, now), now=now)

    with pytest.raises(DomainError, match="Check-in opens 10 minutes before the session, at 08:50"):
        check_in(a0, starts - timedelta(minutes=10, seconds=1))
    with pytest.raises(DomainError, match="This session is over"):
        check_in(a0, ends)
    assert attendance(programme.small) == {}

    assert check_in(a0, starts - timedelta(minutes=10)) is True
    assert check_in(a1, starts + timedelta(minutes=20)) is True
    assert check_in(a2, ends - timedelta(seconds=1)) is True
    db.session.commit()
    assert attendance(programme.small) == {a.id: ("checkin", None) for a in (a0, a1, a2)}
    assert check_in(a0, starts) is False


def test_self_check_in_opens_session_tier_materials(programme: Programme):
    material = add_material(programme.small)
    starts, _ = window(programme)
    assert not policy.material_decision(programme.a, material).allowed

    signups.self_check_in(programme.a, programme.small, signups.room_code(programme.small, starts), now=starts)
    db.session.commit()
    policy.forget_memo()

    assert policy.material_decision(programme.a, material).allowed


def test_the_code_is_typed_in_any_case_with_spaces_but_must_match(programme: Programme):
    starts, _ = window(programme)
    code = signups.room_code(programme.small, starts)
    wrong = signups.room_code(programme.hall_talk, starts)

    for typed in (wrong, code[:5], code + "A", "", "ÄÖÜ😀"):
        with pytest.raises(DomainError, match="The code is wrong"):
            signups.self_check_in(programme.a, programme.small, typed, now=starts)
    assert attendance(programme.small) == {}

    typed = f" {code[:3].lower()} {code[3:].lower()} "
    assert signups.self_check_in(programme.a, programme.small, typed, now=starts) is True


def test_self_check_in_needs_a_session_one_may_see(programme: Programme):
    slot = programme.slots[1]
    code = signups.room_code(programme.secret, slot.starts_at)
    for person in (programme.a, programme.unsigned, programme.stranger):
        with pytest.raises(DomainError, match="cannot check in"):
            signups.self_check_in(person, programme.secret, code, now=slot.starts_at)
    assert signups.self_check_in(programme.named, programme.secret, code, now=slot.starts_at) is True


def test_find_session_by_code_among_those_under_way(programme: Programme):
    starts, ends = window(programme)
    small, hall = programme.small, programme.hall_talk

    late = ends - timedelta(minutes=1)
    assert signups.find_session_by_code(programme.a, programme.event, signups.room_code(small, starts),
                                        starts) == small
    assert signups.find_session_by_code(programme.a, programme.event,
                                        signups.room_code(hall, late).lower(), late) == hall
    with pytest.raises(DomainError, match="The code is wrong"):
        signups.find_session_by_code(programme.a, programme.event, "ACDEFG", starts)
    with pytest.raises(DomainError, match="Check-in opens 10 minutes before the session"):
        early = starts - timedelta(hours=1)
        signups.find_session_by_code(programme.a, programme.event, signups.room_code(small, early), early)
    with pytest.raises(DomainError, match="This session is over"):
        signups.find_session_by_code(programme.a, programme.event, signups.room_code(small, ends), ends)


def test_find_session_by_code_does_not_reveal_a_closed_session(programme: Programme):
    """The restricted session's code, typed during it by someone not named, is just a wrong code."""
    slot = programme.slots[1]
    code = signups.room_code(programme.secret, slot.starts_at)
    with pytest.raises(DomainError) as refused:
        signups.find_session_by_code(programme.a, programme.event, code, slot.starts_at)
    assert refused.value.message.startswith("The code is wrong")
    assert signups.find_session_by_code(programme.named, programme.event, code, slot.starts_at) == programme.secret
    with pytest.raises(DomainError, match="The code is wrong"):
        signups.find_session_by_code(programme.stranger, programme.event, code, slot.starts_at)


def test_the_qr_code_of_a_minute_is_given_only_while_that_minute_is_accepted(programme: Programme):
    """The projector's image asks for the code of its page's minute: given for that minute and the next,
    and for any other minute (an old one, or one ahead of time) the code of now."""
    starts, _ = window(programme)
    now = starts + timedelta(minutes=5, seconds=10)
    minute = signups.code_minute(now)
    current = signups.room_code(programme.small, now)
    previous = signups.room_code(programme.small, now - timedelta(minutes=1))
    assert signups.room_code_of_minute(programme.small, minute, now) == current
    assert signups.room_code_of_minute(programme.small, minute - 1, now) == previous
    for other in (minute + 1, minute - 2, 0, None):
        assert signups.room_code_of_minute(programme.small, other, now) == current
