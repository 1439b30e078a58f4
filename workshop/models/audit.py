from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .enums import AuditTarget, enum_column
from .users import User


class AuditEntry(db.Model):
    """An action on an event, by an organizer, an admin, a participant (an answer, a signature) or Conclave
    itself: who did what to whom, and when; ``detail`` says what changed, before → after."""

    __tablename__ = "audit_entries"
    __table_args__ = (sa.Index("ix_audit_entries_event_created", "event_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(40))
    # What the action was about: a kind (None for a free description, such as "40 people") and which one.
    target_kind: Mapped[AuditTarget | None] = mapped_column(enum_column(AuditTarget))
    target_key: Mapped[str] = mapped_column(sa.String(300), default="")  # an email, a public id, a name…
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[User | None] = relationship()

    @hybrid_property
    def target(self) -> str:
        """The target as the log reads it: "candidate ada@example.org", "room Annex"."""
        return f"{self.target_kind.value} {self.target_key}" if self.target_kind else self.target_key

    @target.inplace.expression
    @classmethod
    def _target_expression(cls):
        kind = sa.type_coerce(cls.target_kind, sa.String)
        return sa.case((cls.target_kind.is_(None), cls.target_key), else_=kind + " " + cls.target_key)

    @target.inplace.setter
    def _target_setter(self, label: str) -> None:
        self.target_kind, self.target_key = split_target(label)


def split_target(label: str) -> tuple[AuditTarget | None, str]:
    """ "room Annex" → (ROOM, "Annex"); a label that names no kind stays whole: "40 people" → (None, ...)."""
    kind, _, key = (label or "").partition(" ")
    if key and kind in {member.value for member in AuditTarget}:
        return AuditTarget(kind), key
    return None, label or ""
