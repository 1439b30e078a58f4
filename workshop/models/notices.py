"""Records of periodic notices, so that a second run of a periodic job sends nothing twice."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class WaveReminder(db.Model):
    """A scheduled reminder (``day`` days after the wave) went to one person of the wave.

    The primary key is what makes a second run, or two runs at once, send it once.
    """

    __tablename__ = "wave_reminders"

    wave_id: Mapped[int] = mapped_column(sa.ForeignKey("invite_waves.id", ondelete="CASCADE"), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True,
                                              index=True)
    day: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReleaseNotice(db.Model):
    """The speakers were told that the release scheduled for ``release_at`` took effect."""

    __tablename__ = "release_notices"

    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    release_at: Mapped[datetime] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
