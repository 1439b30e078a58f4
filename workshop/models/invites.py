from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .enums import CandidateStatus, WaveKind, enum_column
from .events import Event
from .users import User


class Candidate(db.Model):
    """A person on an event's invite list, from first proposal to their answer."""

    __tablename__ = "candidates"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "email"),
        sa.Index("ix_candidates_event_status", "event_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(sa.String(254))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    affiliation: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[CandidateStatus] = mapped_column(
        enum_column(CandidateStatus), default=CandidateStatus.PROPOSED
    )
    notes: Mapped[str] = mapped_column(sa.Text, default="")  # organizers' private notes
    # Set once the person answers their invitation (the token proves the address is theirs).
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    invited_at: Mapped[datetime | None]
    invite_expires_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    waitlisted_at: Mapped[datetime | None]

    event: Mapped[Event] = relationship()
    user: Mapped[User | None] = relationship()
    tags: Mapped[list[CandidateTag]] = relationship(
        back_populates="candidate", cascade="all, delete-orphan", order_by="CandidateTag.tag"
    )
    vouches: Mapped[list[Vouch]] = relationship(
        back_populates="candidate", cascade="all, delete-orphan", order_by="Vouch.created_at"
    )

    @property
    def tag_names(self) -> list[str]:
        return [t.tag for t in self.tags]

    @property
    def display_name(self) -> str:
        return self.name or self.email


class CandidateTag(db.Model):
    __tablename__ = "candidate_tags"
    __table_args__ = (sa.Index("ix_candidate_tags_tag", "tag"),)

    candidate_id: Mapped[int] = mapped_column(
        sa.ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(sa.String(40), primary_key=True)

    candidate: Mapped[Candidate] = relationship(back_populates="tags")


class Vouch(db.Model):
    """An accepted attendee's nomination of a candidate, with their note."""

    __tablename__ = "vouches"
    __table_args__ = (sa.UniqueConstraint("candidate_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    note: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    candidate: Mapped[Candidate] = relationship(back_populates="vouches")
    user: Mapped[User] = relationship()


class InviteWave(db.Model):
    """One sending of invitations or reminders, for the record."""

    __tablename__ = "invite_waves"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[WaveKind] = mapped_column(enum_column(WaveKind))
    size: Mapped[int] = mapped_column(default=0)
    sent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))  # None: automatic
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Days after the wave on which those who have not answered get a reminder, e.g. [3, 7].
    reminder_days: Mapped[list[int]] = mapped_column(sa.JSON, default=list)


class Invitation(db.Model):
    """A token link sent to a candidate. Only its hash is stored; a newer one supersedes it.

    The token is minted when its email is sent (so no working link waits in the outbox):
    until then ``token_hash`` and ``expires_at`` are empty, and the expiry counts from sending.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    wave_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invite_waves.id", ondelete="SET NULL"))
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    superseded: Mapped[bool] = mapped_column(default=False)

    candidate: Mapped[Candidate] = relationship()
