from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow
from .enums import enum_column


class MessageStatus(enum.StrEnum):
    PENDING = "pending"      # waiting for its time (``next_attempt_at``)
    SENDING = "sending"      # claimed by a worker until ``lease_until``
    SENT = "sent"
    FAILED = "failed"        # out of attempts, or refused by the provider for good; kept, retried by hand
    CANCELLED = "cancelled"  # its link had no use any more (a newer invitation, an answer), so it was not sent


class MessageKind(enum.StrEnum):
    """What a message carries. A link is minted when the message is sent, never stored in clear."""

    PLAIN = "plain"            # body rendered when queued
    SIGN_IN = "sign_in"        # a sign-in link for the account of ``to_email``
    INVITATION = "invitation"  # the link of ``invitation_id`` (an invitation or a reminder)
    EVENT_MESSAGE = "event_message"  # organizers' message ``event_message_id`` to ``candidate_id``, written when sent


class OutboxMessage(db.Model):
    """An email, written in the same transaction as its cause and sent by the worker.

    status: pending → sending → sent; back to pending with a later ``next_attempt_at`` after a
    failure, ``failed`` once attempts run out, ``cancelled`` when its link became useless before it
    left. A message whose worker died stays ``sending`` only until ``lease_until``.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        sa.Index("ix_outbox_messages_status_next", "status", "next_attempt_at"),
        sa.Index("ix_outbox_messages_event_status", "event_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("events.id", ondelete="SET NULL"))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind), default=MessageKind.PLAIN)
    template: Mapped[str] = mapped_column(sa.String(40), default="")
    invitation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("invitations.id", ondelete="SET NULL"), index=True
    )
    event_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("event_messages.id", ondelete="SET NULL"), index=True
    )
    candidate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("candidates.id", ondelete="SET NULL"))
    to_email: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    # For a message with a link: empty until sent, then the text as sent with the link removed.
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus), default=MessageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class MailProviderState(db.Model):
    """What every worker must know before calling a provider: one row per provider.

    ``paused_until`` is set by a 429 (from its Retry-After) or a provider error (backing off);
    nobody calls before it. Once it has passed, exactly one worker wins the probe
    (``probe_until`` is its lease); its success clears the pause, its failure starts the next
    one. ``pause_seq`` tells pauses apart, so a probe answers for the pause it was allowed by.
    ``next_slot`` (Unix seconds) is the next free slot of the global rate limit.
    """

    __tablename__ = "mail_provider_states"

    provider: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    paused_until: Mapped[datetime | None]
    pause_reason: Mapped[str] = mapped_column(sa.String(300), default="")
    pause_seq: Mapped[int] = mapped_column(default=0)
    probe_until: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(default=0)
    next_slot: Mapped[float] = mapped_column(sa.Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
