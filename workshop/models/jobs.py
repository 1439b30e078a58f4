from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import public_id, utcnow
from .enums import enum_column
from .events import Event
from .users import User


class JobStatus(enum.StrEnum):
    QUEUED = "queued"        # waiting for a worker (again, after a failed attempt, once ``next_attempt_at`` comes)
    RUNNING = "running"      # a worker holds it until ``lease_until``, renewed while it works
    DONE = "done"
    FAILED = "failed"        # out of attempts; ``error`` says why
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(db.Model):
    """Long work done by the worker (auto-scheduling, PDF preparation, ...), with its progress.

    The row is the truth; the task queue only wakes a worker up. A job whose worker died is
    taken over once its lease runs out, so handlers must be safe to run twice.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_status_next", "status", "next_attempt_at"),
        sa.Index("ix_jobs_event_created", "event_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(24), unique=True, default=public_id)
    kind: Mapped[str] = mapped_column(sa.String(40))
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus), default=JobStatus.QUEUED)
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # {"done": n, "total": m, "note": "...", "figures": {...} (optional)}: what the page shows while the job runs.
    progress: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    result: Mapped[dict | None] = mapped_column(sa.JSON)
    error: Mapped[str] = mapped_column(sa.Text, default="")
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[Event | None] = relationship()
    started_by: Mapped[User | None] = relationship()

    @property
    def fraction(self) -> float | None:
        """Progress between 0 and 1, or None while the total is unknown."""
        total = (self.progress or {}).get("total")
        if not total:
            return None
        return min(max((self.progress or {}).get("done", 0) / total, 0.0), 1.0)
