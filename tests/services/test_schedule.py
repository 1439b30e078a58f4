"""The schedule service: rooms and slots, conflicts of each kind, publishing and what each person sees."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import make_event, make_participant, make_user
from workshop import mail, policy
from workshop.extensions import db
from workshop.models import (
    AuditEntry,
    EventStatus,
    Proposal,
    ProposalAccess,
    ProposalSpeaker,
    ProposalStatus,
    ScheduleRelease,
    SignUp,
    Tier,
    Unavailability,
    Vote,
)
from workshop.services import schedule
from workshop.services.errors import DomainError


class Cast:
    pass


@pytest.fixture
def cast(ctx):
    c = Cast()
    c.organizer = make_user("org@example.org", "Olga Organizer")
    c.event = make_event("retreat", organizers=[c.organizer], status=EventStatus.OPEN, timezone="Europe/Berlin")
    c.speaker = make_participant(c.event, "speaker@example.org")
    c.other_speaker = make_participant(c.event, "other@example.org")
    c.fan = make_participant(c.event, "fan@example.org")
    c.outsider = make_participant(c.event, "outsider@example.org")
    c.small = schedule.add_room(c.organizer, c.event, "Library", 2, closed_door=False)
    c.hall = schedule.add_room(c.organizer, c.event, "Hall", 50, closed_door=True)
    c.slots = schedule.add_slots(c.organizer, c.event, c.event.starts_on, [time(9), time(10, 30)], 60, "Day 1")
    db.session.commit()
    return c


def talk(c, title: str, speaker=None, tier: Tier = Tier.ATTENDEES, votes=()) -> Proposal:
    proposal = Proposal(event_id=c.event.id, title=title, tier=tier, status=ProposalStatus.ACCEPTED)
    proposal.speakers = [ProposalSpeaker(user_id=(speaker or c.speaker).id, is_lead=True, confirmed=True)]
    db.session.add(proposal)
    db.session.flush()
    db.session.add_all([Vote(proposal_id=proposal.id, user_id=u.id) for u in votes])
    db.session.commit()
    return proposal


def kinds(c) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for conflict in schedule.board(c.event).conflicts:
        found.setdefault(conflict.kind, []).append(conflict.message)
    return found


def test_slots_are_stored_in_utc_from_the_event_zone(cast):
    first = cast.slots[0]
    assert schedule.local(cast.event, first.starts_at).strftime("%H:%M") == "09:00"
    assert first.ends_at - first.starts_at == timedelta(minutes=60)
    assert first.block == "Day 1"


@pytest.mark.parametrize("starts, day_offset, minutes, field", [
    ([time(9, 30)], 0, 30, "starts"),  # overlaps 09:00–10:00
    ([time(12)], 99, 30, "day"),  # outside the event
    ([time(12)], 0, 2, "minutes"),
    ([], 0, 30, "starts"),
])
def test_bad_slots_are_refused(cast, starts, day_offset, minutes, field):
    with pytest.raises(DomainError) as caught:
        schedule.add_slots(cast.organizer, cast.event, cast.event.starts_on + timedelta(days=day_offset), starts,
                           minutes)
    assert caught.value.field == field


def test_each_kind_of_conflict_is_found_where_it_occurs(cast):
    first, second = cast.slots
    a = talk(cast, "Double A")
    b = talk(cast, "Double B", speaker=cast.other_speaker)
    schedule.place(cast.organizer, a, cast.hall.id, first.id)
    schedule.place(cast.organizer, b, cast.hall.id, first.id)
    assert set(kinds(cast)) == {"room double-booked"}

    c = talk(cast, "Same speaker elsewhere")  # cast.speaker also gives "Double A" at 09:00
    schedule.place(cast.organizer, c, cast.small.id, first.id)
    assert "speaker in two places" in kinds(cast)

    db.session.add(Unavailability(user_id=cast.other_speaker.id, slot_id=first.id))
    db.session.commit()
    assert any("Other" in m for m in kinds(cast)["speaker unavailable"])

    popular = talk(cast, "Popular", speaker=cast.fan, votes=[cast.speaker, cast.other_speaker, cast.outsider])
    schedule.place(cast.organizer, popular, cast.small.id, second.id)
    assert kinds(cast)["room too small"] == ["3 want to attend “Popular”; Library seats 2."]

    secret = talk(cast, "Secret", speaker=cast.outsider, tier=Tier.RESTRICTED)
    schedule.place(cast.organizer, secret, cast.small.id, second.id)
    conflicts = kinds(cast)
    assert any("Secret" in m and "closed-door" in m for m in conflicts["not closed-door"])
    grid = schedule.board(cast.event)
    assert {c.kind for c in grid.conflicts_at(cast.small.id, second.id)} >= {
        "room double-booked", "room too small", "not closed-door"}


def test_moving_raises_the_sequence_and_only_accepted_talks_are_placed(cast):
    first, second = cast.slots
    a = talk(cast, "A")
    placement = schedule.place(cast.organizer, a, cast.hall.id, first.id)
    db.session.commit()
    assert placement.sequence == 0
    schedule.place(cast.organizer, a, cast.hall.id, second.id)
    assert placement.sequence == 1
    a.status = ProposalStatus.SUBMITTED
    with pytest.raises(DomainError, match="accepted"):
        schedule.place(cast.organizer, a, cast.hall.id, first.id)
    with pytest.raises(DomainError, match="organizers"):
        schedule.place(cast.fan, talk(cast, "B"), cast.hall.id, first.id)


def test_a_room_or_slot_of_another_event_is_refused(cast):
    other = make_event("elsewhere", organizers=[cast.organizer])
    foreign = schedule.add_room(cast.organizer, other, "Foreign", 10, False)
    db.session.commit()
    with pytest.raises(DomainError, match="not part of this event"):
        schedule.place(cast.organizer, talk(cast, "A"), foreign.id, cast.slots[0].id)


def test_publishing_numbers_releases_and_emails_the_changes_people_may_see(cast, sent):
    first, second = cast.slots
    open_talk = talk(cast, "Open talk", votes=[cast.fan])
    secret = talk(cast, "Secret talk", speaker=cast.other_speaker, tier=Tier.RESTRICTED)
    db.session.add(SignUp(proposal_id=secret.id, user_id=cast.outsider.id))  # then excluded from it, say
    db.session.commit()
    schedule.place(cast.organizer, open_talk, cast.hall.id, first.id)
    schedule.place(cast.organizer, secret, cast.hall.id, second.id)
    release = schedule.publish(cast.organizer, cast.event)
    db.session.commit()
    mail.send_due()
    assert release.number == 1 and len(release.entries) == 2
    sent.refresh()
    assert not [m for m in sent if "Schedule changes" in m["Subject"]]  # the first release is no "change"

    with pytest.raises(DomainError, match="Nothing changed"):
        schedule.publish(cast.organizer, cast.event)
    schedule.place(cast.organizer, open_talk, cast.small.id, first.id)
    schedule.place(cast.organizer, secret, cast.small.id, first.id, confirmed=True)  # the outsider's sign-up
    second_release = schedule.publish(cast.organizer, cast.event)
    db.session.commit()
    mail.send_due()
    assert second_release.number == 2
    [to_fan] = [m for m in sent.to("fan@example.org") if "Schedule changes" in m["Subject"]]
    body = to_fan.get_body(("plain",)).get_content()
    assert "Open talk — moved" in body and "Library" in body and "Secret" not in body
    # The outsider signed up for the restricted talk but may not see it: no email about it.
    assert not [m for m in sent.to("outsider@example.org") if "Secret" in m["Subject"]]
    assert not [m for m in sent.to("outsider@example.org") if "Schedule changes" in m["Subject"]]
    assert db.session.scalar(sa.select(AuditEntry.detail).where(AuditEntry.action == "publish schedule")
                             .order_by(AuditEntry.id.desc()).limit(1)) == "2 sessions, 2 changes"


def test_a_move_people_were_emailed_about_is_not_told_them_again_by_the_digest(cast, sent):
    first, second = cast.slots
    open_talk = talk(cast, "Open talk", votes=[cast.fan])
    schedule.place(cast.organizer, open_talk, cast.hall.id, first.id)
    schedule.publish(cast.organizer, cast.event)
    db.session.add(SignUp(proposal_id=open_talk.id, user_id=cast.outsider.id))
    db.session.commit()
    schedule.place(cast.organizer, open_talk, cast.small.id, second.id, confirmed=True)  # emails the sign-up
    db.session.commit()
    mail.send_due()
    [moved] = [m for m in sent.to("outsider@example.org") if "moves" in m["Subject"]]
    assert "Library" in moved["Subject"]
    schedule.publish(cast.organizer, cast.event)
    db.session.commit()
    mail.send_due()
    # The voter hears of it in the digest; whoever signed up was told already, in the same words.
    [digest] = [m for m in sent.to("fan@example.org") if "Schedule changes" in m["Subject"]]
    assert "Open talk — moved" in digest.get_body(("plain",)).get_content()
    assert not [m for m in sent.to("outsider@example.org") if "Schedule changes" in m["Subject"]]
    # Moved again: whoever signed up is emailed at once; someone who signs up after that move was never
    # told, and the digest tells them (and only them).
    schedule.place(cast.organizer, open_talk, cast.hall.id, first.id, confirmed=True)
    late = make_participant(cast.event, "late@example.org")
    db.session.add(SignUp(proposal_id=open_talk.id, user_id=late.id))
    db.session.commit()
    schedule.publish(cast.organizer, cast.event)
    db.session.commit()
    mail.send_due()
    assert len([m for m in sent.to("outsider@example.org") if "moves" in m["Subject"]]) == 2
    assert not [m for m in sent.to("outsider@example.org") if "Schedule changes" in m["Subject"]]
    [digest] = [m for m in sent.to("late@example.org") if "Schedule changes" in m["Subject"]]
    assert "Open talk — moved" in digest.get_body(("plain",)).get_content() and "Hall" in digest.get_body(
        ("plain",)).get_content()


def test_the_released_schedule_shows_placeholders_to_those_outside(cast):
    first, second = cast.slots
    open_talk = talk(cast, "Open talk")
    secret = talk(cast, "Secret talk", speaker=cast.other_speaker, tier=Tier.RESTRICTED)
    db.session.add(ProposalAccess(proposal_id=secret.id, user_id=cast.fan.id))
    schedule.place(cast.organizer, open_talk, cast.hall.id, first.id)
    schedule.place(cast.organizer, secret, cast.hall.id, second.id)
    schedule.publish(cast.organizer, cast.event)
    # A change after publishing is not visible until the next release.
    schedule.unplace(cast.organizer, open_talk)
    db.session.commit()

    def seen(user):
        policy.forget_memo()
        view = schedule.published(user, cast.event)
        return [(s.slot.id, s.proposal.title if s.proposal else "closed") for s in view.sessions]

    assert seen(cast.outsider) == [(first.id, "Open talk"), (second.id, "closed")]
    assert seen(cast.fan) == [(first.id, "Open talk"), (second.id, "Secret talk")]
    assert seen(cast.organizer) == [(first.id, "Open talk"), (second.id, "Secret talk")]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ScheduleRelease)) == 1


def test_rooms_with_sessions_cannot_be_deleted(cast):
    schedule.place(cast.organizer, talk(cast, "A"), cast.hall.id, cast.slots[0].id)
    with pytest.raises(DomainError, match="move them first"):
        schedule.delete_room(cast.organizer, cast.event, cast.hall)
    with pytest.raises(DomainError, match="move them first"):
        schedule.delete_slot(cast.organizer, cast.event, cast.slots[0])
    with pytest.raises(DomainError, match="already"):
        schedule.add_room(cast.organizer, cast.event, "Hall", 10, False)


def test_speakers_state_their_availability(cast):
    talk(cast, "Mine")
    schedule.set_unavailability(cast.speaker, cast.event, {cast.slots[0].id})
    db.session.commit()
    assert db.session.scalars(sa.select(Unavailability.slot_id).where(
        Unavailability.user_id == cast.speaker.id)).all() == [cast.slots[0].id]
    with pytest.raises(DomainError):
        schedule.set_unavailability(cast.fan, cast.event, set())  # not a speaker
