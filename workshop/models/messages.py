from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import public_id, utcnow
from .events import Event
from .users import User


class MessageText(db.Model):
    """An event's own wording of one of the messages Conclave sends (an invitation, a reminder...).

    Without a row the built-in text is used. ``subject`` and ``body`` hold ``{placeholders}``,
    filled for each recipient when the message is written or, for those carrying a link, sent.
    """

    __tablename__ = "message_texts"
    __table_args__ = (sa.UniqueConstraint("event_id", "kind"),)
    CLONE_WITH_EVENT = True  # a new edition of the event keeps its wording (services/cloning.py)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    updated_by: Mapped[User | None] = relationship()


class EventMessage(db.Model):
    """A message organizers wrote to a segment of their event. Each recipient's copy is an outbox
    message that points here; its text, with any personal link, is written when it is sent."""

    __tablename__ = "event_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(24), unique=True, default=public_id)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    segment: Mapped[str] = mapped_column(sa.String(30))
    # Who it went to, in words ("Sign-ups of “Early Results”"), for the organizers' list.
    audience: Mapped[str] = mapped_column(sa.String(400), default="")
    proposal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("proposals.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    recipient_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship()
    created_by: Mapped[User | None] = relationship()
