from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import public_id, utcnow
from .enums import MaterialState, enum_column
from .proposals import Proposal
from .users import User


class Material(db.Model):
    """A file a speaker uploaded to a proposal. Its bytes live in storage under ``storage_key``."""

    __tablename__ = "materials"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(24), unique=True, default=public_id)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(sa.String(255))  # for display and Content-Disposition only
    content_type: Mapped[str] = mapped_column(sa.String(100))  # detected from the bytes
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A view-only PDF opens only in the in-browser reader, one page stamped for its reader at a time
    # (services/reader.py); ``reader_pages`` is its page count, learned when it is made view-only.
    view_only: Mapped[bool] = mapped_column(default=False)
    reader_pages: Mapped[int | None]
    # A deleted material's bytes are gone, but the row and its access log stay, so that a copy
    # downloaded before the deletion can still be traced to its person.
    deleted_at: Mapped[datetime | None]
    # PDFs and images are checked and prepared by the worker: until then the material is processing and
    # ``storage_key`` holds the upload as sent; once ready it holds the prepared (defused) copy, which is
    # what every download stamps. A refused upload keeps its row for the message, never its bytes.
    state: Mapped[MaterialState] = mapped_column(enum_column(MaterialState), default=MaterialState.READY, index=True,
                                                 server_default=MaterialState.READY.value)
    refusal: Mapped[str] = mapped_column(sa.Text, default="", server_default="")  # why it was refused, in words
    removed: Mapped[str] = mapped_column(sa.Text, default="", server_default="")  # what preparing took out
    pages: Mapped[int | None]
    prepare_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # After this moment only the speakers and the organizers (as far as the tier lets them) open it.
    expires_at: Mapped[datetime | None]

    proposal: Mapped[Proposal] = relationship()
    uploaded_by: Mapped[User | None] = relationship()

    @property
    def is_pdf(self) -> bool:
        return self.content_type == "application/pdf"

    @property
    def stamped(self) -> bool:
        """Whether every copy served carries the downloader's stamp (PDFs, PNG and JPEG images)."""
        return self.content_type in ("application/pdf", "image/png", "image/jpeg")

    @property
    def processing(self) -> bool:
        return self.state == MaterialState.PROCESSING

    @property
    def refused(self) -> bool:
        return self.state == MaterialState.REFUSED

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class MaterialAccess(db.Model):
    """Every decision on a request for a material, allowed or denied.

    ``download_id`` is stamped into the watermark of the copy that was served, so a leaked copy
    leads back to this row and its person.
    """

    __tablename__ = "material_accesses"
    # The forensic mark carries a download id's first 8 characters: a trace looks them up (MARK_CHARS).
    __table_args__ = (sa.Index("ix_material_accesses_material_created", "material_id", "created_at"),
                      sa.Index("ix_material_accesses_download_prefix", sa.text("substr(download_id, 1, 8)")))

    id: Mapped[int] = mapped_column(primary_key=True)
    download_id: Mapped[str] = mapped_column(sa.String(24), unique=True, default=public_id)
    material_id: Mapped[int] = mapped_column(sa.ForeignKey("materials.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    allowed: Mapped[bool]
    reason: Mapped[str] = mapped_column(sa.String(60))
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    material: Mapped[Material] = relationship()
    user: Mapped[User | None] = relationship()
