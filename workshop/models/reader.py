"""What the in-browser reader of a view-only material records: one row per page shown."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .materials import Material, MaterialAccess
from .users import User


class PageView(db.Model):
    """A page of a view-only material shown to a person in the reader.

    ``access`` is the logged decision that served the page (its download id is stamped on it);
    ``seconds`` is how long the page stayed in view, as the reader reported it, never more than the
    time until the reader's next page or the cap (services/reader.py).
    """

    __tablename__ = "page_views"
    __table_args__ = (sa.Index("ix_page_views_material_user_started", "material_id", "user_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    access_id: Mapped[int] = mapped_column(sa.ForeignKey("material_accesses.id", ondelete="CASCADE"), unique=True)
    material_id: Mapped[int] = mapped_column(sa.ForeignKey("materials.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    page: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seconds: Mapped[int] = mapped_column(default=0)

    access: Mapped[MaterialAccess] = relationship()
    material: Mapped[Material] = relationship()
    user: Mapped[User | None] = relationship()
