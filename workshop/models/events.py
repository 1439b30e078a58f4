from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .enums import EventKind, EventStatus, enum_column
from .users import User

event_organizers = sa.Table(
    "event_organizers",
    db.metadata,
    sa.Column("event_id", sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Event(db.Model):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind), default=EventKind.WORKSHOP)
    venue: Mapped[str] = mapped_column(sa.String(200), default="")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    capacity: Mapped[int] = mapped_column(default=30)
    status: Mapped[EventStatus] = mapped_column(enum_column(EventStatus), default=EventStatus.DRAFT)
    # Whether an anonymous public page exists (title, dates and public-tier sessions only).
    public_page: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organizers: Mapped[list[User]] = relationship(secondary=event_organizers, order_by=User.email)

    def __repr__(self) -> str:
        return f"<Event {self.slug}>"
