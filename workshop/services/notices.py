"""Periodic notices, run by the worker's scheduler: scheduled reminders, and release notices.

Both are safe to run twice, or twice at once: each notice is first recorded under a key the
database keeps unique (``WaveReminder``, ``ReleaseNotice``), and only the run whose record
went in sends it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from .. import mail, policy
from ..extensions import db
from ..models import (
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    Invitation,
    InviteWave,
    Proposal,
    ReleaseNotice,
    WaveKind,
    WaveReminder,
    utcnow,
)
from . import invites

# A release that took effect longer ago than this is not announced any more (say, after the
# worker was down for a week, or on the first run after an upgrade): old news is noise.
RELEASE_NOTICE_WINDOW = timedelta(days=2)
# Someone reminded by hand this recently gets no scheduled reminder on top.
MANUAL_REMINDER_QUIET = timedelta(days=1)


def _insert_once(model, **key) -> bool:
    """Insert the row unless it exists; True when this call inserted it (and so owns the notice)."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(model).values(**key).on_conflict_do_nothing().returning(model.created_at)
    return db.session.execute(statement).first() is not None


def send_due_reminders(now: datetime | None = None) -> int:
    """Remind those who have not answered, on the days each wave asked for. Returns how many."""
    now = now or utcnow()
    horizon = now - timedelta(days=invites.MAX_REMINDER_DAY + 1)
    waves = db.session.scalars(
        sa.select(InviteWave).join(Event, Event.id == InviteWave.event_id)
        .where(InviteWave.kind == WaveKind.INVITATION, InviteWave.created_at >= horizon,
               Event.status.not_in([EventStatus.CLOSED, EventStatus.ARCHIVED]))
        .order_by(InviteWave.id)
    ).all()
    reminded = 0
    for wave in waves:
        due = [day for day in wave.reminder_days or [] if wave.created_at + timedelta(days=day) <= now]
        if due:
            reminded += _remind_wave(wave, max(due), now)
    return reminded


def _remind_wave(wave: InviteWave, day: int, now: datetime) -> int:
    """Remind the wave's people who still have not answered, once for ``day`` (the latest day due)."""
    event = db.session.get(Event, wave.event_id)
    if not policy.can_answer_invitations(event):
        return 0
    later_invitation = aliased(Invitation)
    later_wave = aliased(InviteWave)
    people = db.session.scalars(
        sa.select(Candidate).join(Invitation, Invitation.candidate_id == Candidate.id)
        .where(
            Invitation.wave_id == wave.id,
            Candidate.status == CandidateStatus.INVITED,
            ~sa.exists().where(WaveReminder.wave_id == wave.id, WaveReminder.candidate_id == Candidate.id,
                               WaveReminder.day == day),
            # invited again by a later wave: that wave's schedule applies
            ~sa.exists().where(later_invitation.candidate_id == Candidate.id,
                               later_invitation.wave_id == later_wave.id,
                               later_wave.kind == WaveKind.INVITATION, later_wave.id > wave.id),
        )
        .distinct().order_by(Candidate.id)
    ).all()
    chosen = []
    for candidate in people:
        if not _insert_once(WaveReminder, wave_id=wave.id, candidate_id=candidate.id, day=day):
            continue  # another run has it
        if candidate.reminded_at is not None and candidate.reminded_at > now - MANUAL_REMINDER_QUIET:
            continue
        chosen.append(candidate)
    if chosen:
        invites.remind(None, event, chosen)
    db.session.commit()
    return len(chosen)


def send_release_notices(now: datetime | None = None) -> int:
    """Tell each talk's speakers when its scheduled release has taken effect. Returns how many talks."""
    now = now or utcnow()
    proposals = db.session.scalars(
        sa.select(Proposal).where(
            Proposal.release_tier.is_not(None), Proposal.release_at <= now,
            Proposal.release_at > now - RELEASE_NOTICE_WINDOW,
            ~sa.exists().where(ReleaseNotice.proposal_id == Proposal.id,
                               ReleaseNotice.release_at == Proposal.release_at),
        ).order_by(Proposal.id)
    ).all()
    told = 0
    for proposal in proposals:
        if not _insert_once(ReleaseNotice, proposal_id=proposal.id, release_at=proposal.release_at):
            continue
        event = proposal.event
        for speaker in proposal.speakers:
            # A revoked speaker hears nothing, as with every other notice about the talk.
            if speaker.confirmed and policy.can_view_proposal(speaker.user, proposal):
                mail.queue(speaker.user.email, f"Your talk is now open to {proposal.release_tier.value}: "
                           f"{proposal.title}", "release_effective", event=event, proposal=proposal,
                           tier=proposal.release_tier, user=speaker.user)
        told += 1
    db.session.commit()
    return told
