"""Real time in the schedule: lengths, breaks, talks over consecutive slots, and running events (a move of a
session people signed up for is confirmed and told; rooms are checked against sign-ups once sign-up opens)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import make_event, make_participant, make_talk, make_user
from workshop import mail, policy
from workshop.extensions import db
from workshop.models import EventStatus, ProposalExclusion, SignUp, SignUpStatus, Unavailability, Vote
from workshop.services import schedule
from workshop.services.errors import DomainError


class Cast:
    pass


@pytest.fixture
def cast(ctx):
    """Day 1 (Berlin): 09:00, 09:45 and 10:30 follow one another (45 min each), lunch is a break at 11:15, then
    13:00 after a gap; day 2 starts at 00:00, right where a late slot of day 1 ends."""
    c = Cast()
    c.organizer = make_user("org@example.org", "Olga Organizer")
    c.event = make_event("retreat", organizers=[c.organizer], status=EventStatus.OPEN, timezone="Europe/Berlin")
    c.speaker = make_participant(c.event, "speaker@example.org")
    c.other = make_participant(c.event, "other@example.org")
    c.fans = [make_participant(c.event, f"fan{i}@example.org") for i in range(3)]
    c.hall = schedule.add_room(c.organizer, c.event, "Hall", 50, closed_door=True)
    c.nook = schedule.add_room(c.organizer, c.event, "Nook", 2, closed_door=True)
    day = c.event.starts_on
    c.morning = schedule.add_slots(c.organizer, c.event, day, [time(9), time(9, 45), time(10, 30)], 45)
    [c.lunch] = schedule.add_slots(c.organizer, c.event, day, [time(11, 15)], 60, is_break=True)
    [c.noon] = schedule.add_slots(c.organizer, c.event, day, [time(12, 15)], 45)
    [c.afternoon] = schedule.add_slots(c.organizer, c.event, day, [time(14)], 45)
    [c.late] = schedule.add_slots(c.organizer, c.event, day, [time(23)], 60)
    [c.midnight] = schedule.add_slots(c.organizer, c.event, day + timedelta(days=1), [time(0)], 60)
    db.session.commit()
    return c


def talk(c, title: str, minutes: int = 45, speaker=None, votes=()):
    proposal = make_talk(c.event, speaker or c.speaker, title, duration_minutes=minutes)
    db.session.add_all([Vote(proposal_id=proposal.id, user_id=u.id) for u in votes])
    db.session.commit()
    return proposal


def conflicts(c) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for conflict in schedule.board(c.event).conflicts:
        found.setdefault(conflict.kind, []).append(conflict.message)
    return found


def test_a_long_talk_takes_the_consecutive_slots_its_length_needs(cast):
    long = talk(cast, "Long", minutes=90)
    placement = schedule.place(cast.organizer, long, cast.hall.id, cast.morning[0].id)
    db.session.commit()
    assert placement.span == 2
    grid = schedule.board(cast.event)
    assert [s.id for s in grid.runs[long.id]] == [cast.morning[0].id, cast.morning[1].id]
    assert grid.continues[(cast.hall.id, cast.morning[1].id)] == [placement]
    assert (cast.hall.id, cast.morning[1].id) not in grid.by_cell
    assert grid.conflicts == []
    assert schedule.placed_where(cast.event, placement) == f"{cast.event.starts_on:%a %-d %b}, 09:00–10:30, Hall"


def test_a_talk_longer_than_the_slots_that_follow_is_flagged(cast):
    long = talk(cast, "Long", minutes=90)
    # 10:30 is followed by the lunch break: one slot of 45 minutes is all it can have.
    assert schedule.place(cast.organizer, long, cast.hall.id, cast.morning[2].id).span == 1
    db.session.commit()
    assert conflicts(cast) == {"longer than its slots": [
        f"“Long” lasts 90 min; its 1 slot from {cast.event.starts_on:%a %-d %b}, 10:30 gives it 45 min."]}
    # Moved where two slots follow, it fits.
    schedule.place(cast.organizer, long, cast.hall.id, cast.morning[1].id)
    db.session.commit()
    assert conflicts(cast) == {}


@pytest.mark.parametrize("start, span, message", [
    ("morning2", 2, "Nothing follows"),  # the break
    ("noon", 2, "Nothing follows"),  # a gap before 14:00
    ("late", 2, "Nothing follows"),  # a new day, even without a gap
    ("morning0", 4, "choose at most 3"),
    ("morning0", 0, "choose at most 3"),
])
def test_a_span_the_slots_do_not_have_is_refused(cast, start, span, message):
    slot = cast.morning[int(start[-1])] if start.startswith("morning") else getattr(cast, start)
    with pytest.raises(DomainError, match=message) as caught:
        schedule.place(cast.organizer, talk(cast, "T"), cast.hall.id, slot.id, span=span)
    assert caught.value.field == "span"


def test_a_break_takes_no_session_and_no_session_runs_through_it(cast):
    with pytest.raises(DomainError, match="is a break") as caught:
        schedule.place(cast.organizer, talk(cast, "T"), cast.hall.id, cast.lunch.id)
    assert caught.value.field == "slot"
    # A slot becomes a break only while nothing is in it or runs over it.
    long = talk(cast, "Long", minutes=90)
    schedule.place(cast.organizer, long, cast.hall.id, cast.morning[0].id)
    db.session.commit()
    with pytest.raises(DomainError, match="run over it"):
        schedule.set_break(cast.organizer, cast.event, cast.morning[1], True)
    with pytest.raises(DomainError, match="run over it"):
        schedule.delete_slot(cast.organizer, cast.event, cast.morning[1])
    schedule.set_break(cast.organizer, cast.event, cast.afternoon, True)
    db.session.commit()
    assert cast.afternoon.is_break
    with pytest.raises(DomainError, match="is a break"):
        schedule.place(cast.organizer, talk(cast, "U"), cast.hall.id, cast.afternoon.id)


def test_a_long_talk_holds_its_room_and_its_speakers_in_every_slot(cast):
    long = talk(cast, "Long", minutes=90)
    schedule.place(cast.organizer, long, cast.hall.id, cast.morning[0].id)
    other_in_hall = talk(cast, "In the hall", speaker=cast.other)
    schedule.place(cast.organizer, other_in_hall, cast.hall.id, cast.morning[1].id)
    same_speaker = talk(cast, "Same speaker")
    schedule.place(cast.organizer, same_speaker, cast.nook.id, cast.morning[1].id)
    db.session.add(Unavailability(user_id=cast.speaker.id, slot_id=cast.morning[1].id))
    db.session.commit()
    found = conflicts(cast)
    day = f"{cast.event.starts_on:%a %-d %b}"
    assert found["room double-booked"] == [f"Hall at {day}, 09:45 has 2 sessions."]
    assert found["speaker in two places"] == [f"Speaker speaks in 2 sessions at {day}, 09:45."]
    assert len(found["speaker unavailable"]) == 2  # the long talk's second slot, and the other talk's
    grid = schedule.board(cast.event)
    assert {c.kind for c in grid.conflicts_at(cast.hall.id, cast.morning[1].id)} >= {"room double-booked"}


def test_a_release_records_where_each_session_ends_and_reads_back_real_times(cast):
    long = talk(cast, "Long", minutes=90)
    short = talk(cast, "Short", speaker=cast.other)
    schedule.place(cast.organizer, long, cast.hall.id, cast.morning[0].id)
    schedule.place(cast.organizer, short, cast.nook.id, cast.morning[2].id)
    release = schedule.publish(cast.organizer, cast.event)
    db.session.commit()
    by_talk = {e["proposal"]: e for e in release.entries}
    assert (by_talk[long.id]["slot"], by_talk[long.id]["end_slot"]) == (cast.morning[0].id, cast.morning[1].id)
    assert by_talk[short.id]["slot"] == by_talk[short.id]["end_slot"] == cast.morning[2].id
    policy.forget_memo()
    sessions = {s.proposal.id: s for s in schedule.published(cast.organizer, cast.event).sessions}
    assert (sessions[long.id].starts_at, sessions[long.id].ends_at) == (cast.morning[0].starts_at,
                                                                         cast.morning[1].ends_at)
    assert sessions[short.id].ends_at == cast.morning[2].ends_at
    # The published slots of a long session stay, even off the working schedule.
    schedule.unplace(cast.organizer, long)
    db.session.commit()
    with pytest.raises(DomainError, match="published schedule"):
        schedule.delete_slot(cast.organizer, cast.event, cast.morning[1])

    # Only a longer run is a change: the same start over two slots is a move.
    schedule.place(cast.organizer, long, cast.hall.id, cast.morning[0].id, span=1)
    changes = schedule.diff(release.entries, schedule.entries_of(schedule.board(cast.event)))
    assert [(c.proposal_id, c.kind) for c in changes] == [(long.id, "moved")]


def test_a_release_from_before_spans_compares_equal_to_the_same_schedule(cast):
    a = talk(cast, "A")
    schedule.place(cast.organizer, a, cast.hall.id, cast.morning[0].id)
    release = schedule.publish(cast.organizer, cast.event)
    db.session.commit()
    release.entries = [{k: v for k, v in e.items() if k != "end_slot"} for e in release.entries]
    db.session.commit()
    policy.forget_memo()
    with pytest.raises(DomainError, match="Nothing changed"):
        schedule.publish(cast.organizer, cast.event)
    sessions = schedule.published(cast.organizer, cast.event).sessions
    assert sessions[0].end_slot is sessions[0].slot


def test_sign_up_stays_open_until_the_last_slot_of_a_long_session_ends(cast):
    long = talk(cast, "Long", minutes=90)
    schedule.place(cast.organizer, long, cast.hall.id, cast.morning[0].id)
    schedule.publish(cast.organizer, cast.event)
    db.session.commit()
    policy.forget_memo()
    during_second = cast.morning[1].starts_at + timedelta(minutes=10)
    assert policy.can_sign_up(cast.fans[0], long, during_second)
    assert not policy.can_sign_up(cast.fans[0], long, cast.morning[1].ends_at)


# --- running events -----------------------------------------------------------------------


def released_with_signups(c):
    """"Popular" in the Hall at 09:00, released; two of the fans have a seat, one waits, none voted."""
    popular = talk(c, "Popular", votes=[c.other])
    schedule.place(c.organizer, popular, c.hall.id, c.morning[0].id)
    schedule.publish(c.organizer, c.event)
    db.session.add_all([SignUp(proposal_id=popular.id, user_id=c.fans[0].id),
                        SignUp(proposal_id=popular.id, user_id=c.fans[1].id),
                        SignUp(proposal_id=popular.id, user_id=c.fans[2].id, status=SignUpStatus.WAITLISTED)])
    db.session.commit()
    policy.forget_memo()
    return popular


def test_rooms_are_checked_against_votes_before_sign_up_opens_and_sign_ups_after(cast):
    before = talk(cast, "Before", votes=cast.fans)
    schedule.place(cast.organizer, before, cast.nook.id, cast.afternoon.id)
    db.session.commit()
    assert conflicts(cast)["room too small"] == ["3 want to attend “Before”; Nook seats 2."]
    schedule.unplace(cast.organizer, before)
    db.session.commit()

    popular = released_with_signups(cast)
    assert schedule.board(cast.event).demand.of(popular.id) == 3  # sign-ups, not its one vote
    schedule.place(cast.organizer, popular, cast.nook.id, cast.morning[0].id, confirmed=True)
    db.session.commit()
    assert conflicts(cast)["room too small"] == ["3 signed up for “Popular”; Nook seats 2."]
    # Unreleased talks are still measured by their votes.
    newcomer = talk(cast, "Newcomer", speaker=cast.other, votes=cast.fans)
    assert schedule.board(cast.event).demand.of(newcomer.id) == 3
    assert newcomer.id not in schedule.board(cast.event).demand.signups


def test_moving_a_session_people_signed_up_for_asks_first_then_tells_them(cast, sent):
    popular = released_with_signups(cast)
    db.session.add(ProposalExclusion(proposal_id=popular.id, user_id=cast.fans[1].id))  # excluded since
    db.session.commit()
    policy.forget_memo()
    with pytest.raises(schedule.ConfirmationNeeded) as asked:
        schedule.place(cast.organizer, popular, cast.hall.id, cast.afternoon.id)
    question = asked.value
    assert (question.seated, question.waiting, question.count) == (2, 1, 3)
    day = f"{cast.event.starts_on:%a %-d %b}"
    assert (question.before, question.after) == (f"{day}, 09:00–09:45, Hall", f"{day}, 14:00–14:45, Hall")
    assert "3 people (2 with a seat, 1 on the waitlist) signed up for “Popular”" in question.message
    db.session.rollback()
    assert schedule.placed_where(cast.event, schedule.board(cast.event).placements[0]).endswith("09:45, Hall")

    schedule.place(cast.organizer, popular, cast.hall.id, cast.afternoon.id, confirmed=True)
    db.session.commit()
    mail.send_due()
    told = {m["To"]: m for m in sent.refresh() if "Popular" in m["Subject"]}
    assert set(told) == {"fan0@example.org", "fan2@example.org"}  # not the one excluded since
    body = told["fan2@example.org"].get_body(("plain",)).get_content()
    assert f"Now: {day}, 14:00–14:45, Hall (Europe/Berlin)." in body and "keep your place on the waitlist" in body
    assert "Your seat stays yours" in told["fan0@example.org"].get_body(("plain",)).get_content()


def test_removing_a_session_people_signed_up_for_asks_first_then_tells_them(cast, sent):
    popular = released_with_signups(cast)
    with pytest.raises(schedule.ConfirmationNeeded) as asked:
        schedule.unplace(cast.organizer, popular)
    assert asked.value.after is None
    db.session.rollback()
    assert len(schedule.board(cast.event).placements) == 1
    schedule.unplace(cast.organizer, popular, confirmed=True)
    db.session.commit()
    mail.send_due()
    told = [m for m in sent.refresh() if "off the schedule" in m["Subject"]]
    assert sorted(m["To"] for m in told) == ["fan0@example.org", "fan1@example.org", "fan2@example.org"]
    # Their sign-ups are kept, in case the session comes back.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SignUp)) == 3


def test_sessions_nobody_signed_up_for_move_without_a_question(cast, sent):
    quiet = talk(cast, "Quiet")
    schedule.place(cast.organizer, quiet, cast.hall.id, cast.morning[0].id)
    schedule.place(cast.organizer, quiet, cast.nook.id, cast.afternoon.id)
    schedule.toggle_pin(cast.organizer, quiet)
    schedule.unplace(cast.organizer, quiet)
    db.session.commit()
    mail.send_due()
    assert not sent.refresh()


def test_pinning_or_placing_again_where_it_is_asks_nothing(cast):
    popular = released_with_signups(cast)
    schedule.toggle_pin(cast.organizer, popular)
    schedule.place(cast.organizer, popular, cast.hall.id, cast.morning[0].id)
    db.session.commit()
    assert schedule.board(cast.event).placements[0].pinned
