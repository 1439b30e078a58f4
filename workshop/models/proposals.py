from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import public_id, utcnow
from .enums import AttendanceSource, ProposalKind, ProposalStatus, Tier, WideningKind, WideningStatus, enum_column
from .events import Event
from .users import User

if TYPE_CHECKING:
    from .materials import Material


class Proposal(db.Model):
    """A talk, discussion, demo or lightning talk proposed for an event, with its sensitivity tier.

    ``release_tier``/``release_at``: a scheduled release to a wider tier, decided at access time.
    """

    __tablename__ = "proposals"
    __table_args__ = (sa.Index("ix_proposals_event_status", "event_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(24), unique=True, default=public_id)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(200))
    abstract: Mapped[str] = mapped_column(sa.Text, default="")
    kind: Mapped[ProposalKind] = mapped_column(enum_column(ProposalKind), default=ProposalKind.TALK)
    duration_minutes: Mapped[int] = mapped_column(default=30)
    tier: Mapped[Tier] = mapped_column(enum_column(Tier), default=Tier.ATTENDEES)
    release_tier: Mapped[Tier | None] = mapped_column(enum_column(Tier))
    release_at: Mapped[datetime | None]
    chatham_house: Mapped[bool] = mapped_column(default=False)
    no_recording: Mapped[bool] = mapped_column(default=False)
    extra_terms: Mapped[str] = mapped_column(sa.Text, default="")
    # The speakers share only files that leave stamped: others are refused at upload and not served.
    only_stamped: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    status: Mapped[ProposalStatus] = mapped_column(enum_column(ProposalStatus), default=ProposalStatus.SUBMITTED)
    decision_note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship()
    speakers: Mapped[list[ProposalSpeaker]] = relationship(
        back_populates="proposal", cascade="all, delete-orphan", order_by="ProposalSpeaker.id"
    )

    @property
    def off_programme(self) -> bool:
        """Withdrawn or rejected after it was placed: a released session that no longer takes place."""
        return self.status != ProposalStatus.ACCEPTED

    def effective_tier(self, now: datetime) -> Tier:
        """The tier in force at ``now``: a scheduled release applies once its time has come."""
        if self.release_tier is not None and self.release_at is not None and self.release_at <= now:
            return self.release_tier
        return self.tier

    @classmethod
    def effective_tier_sql(cls, now: datetime):
        """The same rule as ``effective_tier``, as a SQL expression for list queries."""
        return sa.case(
            (sa.and_(cls.release_tier.is_not(None), cls.release_at <= now), cls.release_tier),
            else_=cls.tier,
        )


class ProposalSpeaker(db.Model):
    """A speaker of a proposal. Co-speakers are named by the lead speaker and confirm."""

    __tablename__ = "proposal_speakers"
    __table_args__ = (sa.UniqueConstraint("proposal_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_lead: Mapped[bool] = mapped_column(default=False)
    confirmed: Mapped[bool] = mapped_column(default=False)

    proposal: Mapped[Proposal] = relationship(back_populates="speakers")
    user: Mapped[User] = relationship()


class ProposalAccess(db.Model):
    """A person the speakers named for a restricted talk."""

    __tablename__ = "proposal_access"

    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)

    user: Mapped[User] = relationship()


class ProposalExclusion(db.Model):
    """A person or a whole email domain who may never see a talk (a conflict of interest).

    Exactly one of ``user_id`` and ``domain`` is set. A domain also covers its subdomains.
    """

    __tablename__ = "proposal_exclusions"
    __table_args__ = (
        sa.CheckConstraint("(user_id IS NULL) <> (domain IS NULL)", name="one_target"),
        sa.UniqueConstraint("proposal_id", "user_id"),
        sa.UniqueConstraint("proposal_id", "domain"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    domain: Mapped[str | None] = mapped_column(sa.String(253))

    user: Mapped[User | None] = relationship()


class TierChange(db.Model):
    """Who changed a talk's tier, when, from what to what (and, for a scheduled release, from when)."""

    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    from_tier: Mapped[Tier] = mapped_column(enum_column(Tier))
    to_tier: Mapped[Tier] = mapped_column(enum_column(Tier))
    effective_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[User | None] = relationship()


class Vote(db.Model):
    """An attendee wants to attend this proposal."""

    __tablename__ = "votes"

    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attendance(db.Model):
    """A person attended a session: recorded by organizers, or later by check-in."""

    __tablename__ = "attendances"

    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    source: Mapped[AttendanceSource] = mapped_column(enum_column(AttendanceSource), default=AttendanceSource.ORGANIZER)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class TermsAcceptance(db.Model):
    """A person accepted a talk's extra terms, as they read at the time (``terms_hash``)."""

    __tablename__ = "terms_acceptances"

    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    terms_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")


class WideningRequest(db.Model):
    """A change that would make a talk travel wider, waiting for the consent of its confirmed speakers.

    ``kind`` says which part of the talk it changes, and the columns for that kind hold the whole state
    asked for: ``tier``, ``release_tier`` and ``release_at`` for a tier change; ``named`` and ``excluded``
    (one address or domain a line, as typed) for the named list and the exclusions; ``material_id`` and
    ``expires_at`` for a file's end of access moved later or removed; nothing more for taking any file
    type again (only watermarked files turned off). ``summary`` says in words what travels wider.
    """

    __tablename__ = "widening_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(24), unique=True, default=public_id)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    kind: Mapped[WideningKind] = mapped_column(enum_column(WideningKind))
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    tier: Mapped[Tier | None] = mapped_column(enum_column(Tier))
    release_tier: Mapped[Tier | None] = mapped_column(enum_column(Tier))
    release_at: Mapped[datetime | None]
    named: Mapped[str] = mapped_column(sa.Text, default="")
    excluded: Mapped[str] = mapped_column(sa.Text, default="")
    material_id: Mapped[int | None] = mapped_column(sa.ForeignKey("materials.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime | None]
    summary: Mapped[str] = mapped_column(sa.String(1000), default="")
    status: Mapped[WideningStatus] = mapped_column(enum_column(WideningStatus), default=WideningStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    proposal: Mapped[Proposal] = relationship()
    material: Mapped[Material | None] = relationship()
    requested_by: Mapped[User | None] = relationship()
    consents: Mapped[list[WideningConsent]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="WideningConsent.answered_at")

    @property
    def pending(self) -> bool:
        return self.status == WideningStatus.PENDING


class WideningConsent(db.Model):
    """A speaker's answer to a request to widen their talk."""

    __tablename__ = "widening_consents"

    request_id: Mapped[int] = mapped_column(sa.ForeignKey("widening_requests.id", ondelete="CASCADE"),
                                            primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    accepted: Mapped[bool] = mapped_column(default=False)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[WideningRequest] = relationship(back_populates="consents")
    user: Mapped[User] = relationship()
