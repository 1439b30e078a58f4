"""Periodic notices: reminders on each wave's schedule, notices of releases taking effect, and a
wave's progress counted from its messages. Each periodic service runs twice here: the second run
must send nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import make_candidate, make_event, make_participant, make_user
from workshop import mail, tasks
from workshop.extensions import db
from workshop.models import (
    Candidate,
    CandidateStatus,
    EventStatus,
    Invitation,
    InviteWave,
    MessageStatus,
    OutboxMessage,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Tier,
    WaveReminder,
    utcnow,
)
from workshop.services import invites, notices
from workshop.services.errors import DomainError

S = CandidateStatus


def delivered(sent, address: str) -> list[str]:
    return [m["Subject"] for m in sent.to(address)]


class Wave:
    """An organizer, an event taking invitations, and one wave to four people with a reminder schedule."""

    def __init__(self, days=(3, 7)):
        self.organizer = make_user("org@example.org")
        self.event = make_event("retreat", organizers=[self.organizer], status=EventStatus.INVITING)
        self.people = [make_candidate(self.event, f"p{i}@example.org", S.APPROVED) for i in range(4)]
        invites.send_wave(self.organizer, self.event, self.people, reminder_days=days)
        db.session.commit()
        self.wave = db.session.scalar(sa.select(InviteWave))
        self.start = self.wave.created_at

    def day(self, days: float):
        return self.start + timedelta(days=days)


@pytest.fixture
def wave(ctx):
    return Wave()


def test_the_schedule_is_kept_on_the_wave_and_checked(ctx):
    wave = Wave(days="7, 3 ,3")
    assert wave.wave.reminder_days == [3, 7]
    for bad in ("0", "61", "three", "1,2,3,4,5,6"):
        with pytest.raises(DomainError):
            invites.parse_reminder_days(bad)


def test_reminders_go_on_their_days_once_each_to_those_who_have_not_answered(wave, sent):
    accepted, declined, waiting = wave.people[0], wave.people[1], wave.people[2:]
    token = lambda person: re.search(r"/invitation/(\S+)", sent.to(person.email)[-1].get_body(("plain",))  # noqa: E731
                                     .get_content()).group(1)
    invites.accept_invitation(token(accepted))
    invites.decline_invitation(token(declined))
    db.session.commit()

    assert notices.send_due_reminders(now=wave.day(2.9)) == 0
    assert notices.send_due_reminders(now=wave.day(3)) == 2
    assert notices.send_due_reminders(now=wave.day(3.5)) == 0  # a second run sends nothing more
    for person in waiting:
        assert delivered(sent, person.email) == ["You are invited to The Retreat",
                                                 "Reminder: your invitation to The Retreat"]
        # The reminder's link is the one that works now.
        assert invites.open_invitation(token(person)).candidate_id == person.id
    assert delivered(sent, accepted.email) == ["You are invited to The Retreat", "Welcome to The Retreat"]
    assert delivered(sent, declined.email) == ["You are invited to The Retreat"]

    assert notices.send_due_reminders(now=wave.day(7)) == 2
    assert notices.send_due_reminders(now=wave.day(9)) == 0
    assert [len(sent.to(p.email)) for p in waiting] == [3, 3]
    reminder_waves = db.session.scalars(sa.select(InviteWave).where(InviteWave.kind == "reminder")).all()
    assert [(w.size, w.sent_by_id) for w in reminder_waves] == [(2, None), (2, None)]  # sent by the schedule


def test_a_worker_that_was_down_sends_one_reminder_for_the_days_it_missed(wave, sent):
    assert notices.send_due_reminders(now=wave.day(8)) == 4
    assert notices.send_due_reminders(now=wave.day(8)) == 0
    assert all(len(sent.to(p.email)) == 2 for p in wave.people)


def test_someone_reminded_by_hand_just_before_gets_no_scheduled_reminder_on_top(wave, sent, monkeypatch):
    monkeypatch.setattr(invites, "utcnow", lambda: wave.day(2.5))
    invites.remind(wave.organizer, wave.event, [wave.people[0]])
    db.session.commit()
    assert notices.send_due_reminders(now=wave.day(3)) == 3
    assert len(sent.to(wave.people[0].email)) == 2  # the invitation and the organizer's reminder
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WaveReminder)) == 4  # and it is settled


def test_a_person_invited_again_by_a_later_wave_follows_that_wave(wave, sent):
    person = wave.people[0]
    person.status = S.EXPIRED
    db.session.commit()
    invites.send_wave(wave.organizer, wave.event, [person])
    db.session.commit()
    assert notices.send_due_reminders(now=wave.day(3)) == 3
    assert len(sent.to(person.email)) == 2  # two invitations, no reminder


def test_a_closed_event_sends_no_reminders(wave, sent):
    wave.event.status = EventStatus.CLOSED
    db.session.commit()
    assert notices.send_due_reminders(now=wave.day(8)) == 0


def test_a_waves_progress_is_counted_from_its_messages(ctx, monkeypatch):
    monkeypatch.setattr(tasks, "enqueue_safely", lambda *args, **kwargs: None)  # no worker yet
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    people = [make_candidate(event, f"p{i}@example.org", S.APPROVED) for i in range(3)]
    invites.send_wave(organizer, event, people)
    db.session.commit()
    wave = db.session.scalar(sa.select(InviteWave))
    assert invites.wave_progress(wave) == {"total": 3, "sent": 0, "waiting": 3, "failed": 0, "cancelled": 0}

    invites.revoke(organizer, event, [people[0]])
    db.session.commit()
    mail.send_due()
    assert invites.wave_progress(wave) == {"total": 3, "sent": 2, "waiting": 0, "failed": 0, "cancelled": 1}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 3


# --- release notices ---------------------------------------------------------------------------------


class Talk:
    def __init__(self):
        organizer = make_user("org@example.org")
        self.event = make_event("retreat", organizers=[organizer])
        self.lead = make_participant(self.event, "lead@example.org")
        self.co = make_participant(self.event, "co@example.org")
        self.unconfirmed = make_participant(self.event, "maybe@example.org")
        self.proposal = Proposal(event_id=self.event.id, title="Sparse probes", abstract="Early.",
                                 status=ProposalStatus.ACCEPTED, tier=Tier.RESTRICTED, release_tier=Tier.ATTENDEES,
                                 release_at=utcnow() + timedelta(days=1))
        db.session.add(self.proposal)
        db.session.flush()
        db.session.add_all([
            ProposalSpeaker(proposal_id=self.proposal.id, user_id=self.lead.id, is_lead=True, confirmed=True),
            ProposalSpeaker(proposal_id=self.proposal.id, user_id=self.co.id, confirmed=True),
            ProposalSpeaker(proposal_id=self.proposal.id, user_id=self.unconfirmed.id, confirmed=False),
        ])
        db.session.commit()


@pytest.fixture
def talk(ctx):
    return Talk()


def test_the_speakers_hear_once_when_a_scheduled_release_takes_effect(talk, sent):
    release = talk.proposal.release_at
    assert notices.send_release_notices(now=release - timedelta(minutes=1)) == 0
    assert notices.send_release_notices(now=release) == 1
    assert notices.send_release_notices(now=release + timedelta(minutes=1)) == 0  # a second run: nothing

    for speaker in (talk.lead, talk.co):
        [message] = sent.to(speaker.email)
        assert message["Subject"] == "Your talk is now open to attendees: Sparse probes"
        body = message.get_body(("plain",)).get_content()
        assert "now open to the attendees tier" in body and f"/proposals/{talk.proposal.public_id}" in body
    assert sent.to(talk.unconfirmed.email) == []
    [row] = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.to_email == "lead@example.org")).all()
    assert row.event_id == talk.event.id and row.status == MessageStatus.SENT


def test_a_release_moved_to_a_later_date_is_announced_again_when_it_comes(talk, sent):
    first = talk.proposal.release_at
    notices.send_release_notices(now=first)
    talk.proposal.release_at = first + timedelta(days=3)
    db.session.commit()
    assert notices.send_release_notices(now=first + timedelta(days=3)) == 1
    assert len(sent.to(talk.lead.email)) == 2


def test_a_revoked_speaker_is_not_told_and_old_releases_are_not_news(talk, sent):
    revoked = db.session.scalar(sa.select(Candidate).where(Candidate.email == "co@example.org"))
    revoked.status = S.REVOKED
    db.session.commit()
    assert notices.send_release_notices(now=talk.proposal.release_at) == 1
    assert sent.to("co@example.org") == [] and len(sent.to(talk.lead.email)) == 1

    talk.proposal.release_at = utcnow() - timedelta(days=10)
    db.session.commit()
    assert notices.send_release_notices() == 0
