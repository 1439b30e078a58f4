"""View-only materials: the in-browser reader's pages, what it records, and the speakers' reading report.

A speaker makes a PDF view-only (``set_view_only``). From then on it is read in the browser, one page
at a time: every page is a new request, decided anew by ``policy.reader_decision`` and logged as a
``MaterialAccess`` with its own download id, which the page carries as its visible stamp and its
forensic mark. Each served page leaves a ``PageView``; the reader reports how long a page stayed in
view (``record_seen``), and the next page closes the previous one if no report came. Nothing here
reads the request: the views pass the person, the material, the page and the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from .. import policy, readerpages
from ..extensions import db
from ..models import Material, MaterialAccess, PageView, User, public_id, utcnow
from ..policy import Decision, Reason
from ..storage import StorageError, get_storage
from ..watermark import StampError, _isolated, limits_from_config, render_page
from . import audit
from .errors import DomainError
from .materials import watermark_lines

# A page counts as read for at most this long per view: a reader left open over lunch is not five
# hours of reading.
PAGE_CAP_SECONDS = 300
DEFAULT_DPI = 144


def _dpi() -> float:
    return float(min(max(int(current_app.config.get("READER_DPI", DEFAULT_DPI)), 36), 300))


def page_count(material: Material) -> int:
    """The page count of a material's PDF, counted in an isolated child process.

    Raises DomainError when the file cannot be read or counted.
    """
    limits = limits_from_config(current_app.config)
    try:
        data = get_storage().get(material.storage_key)
        return int(_isolated(readerpages.count_pages, (data, limits), limits.prepare_seconds, limits, "This PDF"))
    except StampError as error:
        raise DomainError(f"{error.message} It cannot be shown in the reader.") from error
    except (StorageError, RuntimeError) as error:
        current_app.logger.error("material %s cannot be read: %s", material.public_id, error)
        raise DomainError("The file could not be read just now; please try again in a moment.") from error


def set_view_only(actor: User, material: Material, view_only: bool) -> bool:
    """A speaker makes a PDF view-only (read in the browser, never downloaded by anyone but the
    talk's speakers) or lets it be downloaded again. The caller commits. Returns whether it changed.

    Who may: ``policy.can_set_view_only`` (the talk's confirmed speakers, for a PDF). Raises
    DomainError otherwise, or when the PDF cannot be read to count its pages.
    """
    if not policy.can_set_view_only(actor, material):
        raise DomainError("Only the speakers of this talk may choose how its PDFs are shared.")
    if bool(material.view_only) == view_only:
        return False
    if view_only and material.reader_pages is None:
        material.reader_pages = page_count(material)
    material.view_only = view_only
    proposal = material.proposal
    audit.record(actor, proposal.event, "make view-only" if view_only else "allow downloads",
                 f"material {material.public_id}", f"{material.filename} of proposal {proposal.public_id}")
    return True


@dataclass(frozen=True)
class ServedPage:
    """The answer to a page request: the decision, and when allowed the one-page PDF and its view."""

    decision: Decision
    pdf: bytes | None = None
    view: PageView | None = None
    access: MaterialAccess | None = None


def has_page(material: Material, page: int) -> bool:
    return material.reader_pages is not None and 1 <= page <= material.reader_pages


def open_page(user, material: Material, page: int, ip: str, now: datetime | None = None) -> ServedPage:
    """Decide a request for one page of a view-only material, log it, and render it stamped for ``user``.

    Anyone may ask; ``policy.reader_decision`` answers, for this page, now. The decision is logged as a
    ``MaterialAccess`` (allowed or not); an allowed page leaves a ``PageView`` and closes the person's
    previous view of this material if the reader never reported its time. The caller commits. A page
    that cannot be rendered turns into a refusal (``cannot be stamped`` or ``file unavailable``).
    Raises DomainError for a material that is not view-only or a page it does not have.
    """
    if not policy.opens_in_reader(material) or not has_page(material, page):
        raise DomainError("This file has no such page in the reader.")
    now = now or utcnow()
    decision = policy.reader_decision(user, material, now)
    signed_in = bool(getattr(user, "is_authenticated", False))
    access = MaterialAccess(download_id=public_id(), material_id=material.id, user_id=user.id if signed_in else None,
                            allowed=decision.allowed, reason=decision.reason.value, ip=(ip or "")[:64],
                            created_at=now)
    db.session.add(access)
    if not decision.allowed:
        return ServedPage(decision, access=access)
    limits = limits_from_config(current_app.config)
    dpi = _dpi()
    try:
        data = get_storage().get(material.storage_key)
        png = render_page(data, page, watermark_lines(user, now, access.download_id), access.download_id, dpi, limits)
        pdf = readerpages.page_pdf(png, dpi)
    except StampError as error:
        current_app.logger.warning("material %s page %d cannot be shown: %s", material.public_id, page, error.message)
        return ServedPage(_refuse(access, Reason.CANNOT_BE_STAMPED), access=access)
    except (StorageError, RuntimeError) as error:
        current_app.logger.error("material %s cannot be read: %s", material.public_id, error)
        return ServedPage(_refuse(access, Reason.FILE_UNAVAILABLE), access=access)
    if signed_in:
        _close_previous(user, material, now)
    view = PageView(access=access, material_id=material.id, user_id=user.id if signed_in else None, page=page,
                    started_at=now)
    db.session.add(view)
    return ServedPage(decision, pdf, view, access)


def _refuse(access: MaterialAccess, reason: Reason) -> Decision:
    access.allowed, access.reason = False, reason.value
    return Decision(False, reason, True)


def _close_previous(user: User, material: Material, now: datetime) -> None:
    """The reader moved on: a previous page whose time was never reported counts until now (capped)."""
    previous = db.session.scalar(
        sa.select(PageView).where(PageView.material_id == material.id, PageView.user_id == user.id,
                                  PageView.started_at <= now)
        .order_by(PageView.started_at.desc(), PageView.id.desc()).limit(1))
    if previous is not None and previous.seconds == 0:
        previous.seconds = _capped(now - previous.started_at)


def _capped(elapsed, reported: float | None = None) -> int:
    seconds = max(0.0, elapsed.total_seconds())
    if reported is not None:
        seconds = min(seconds + 1, max(0.0, reported))  # a second's grace for the clocks' rounding
    return int(min(seconds, PAGE_CAP_SECONDS))


def record_seen(user, material: Material, page: int, seconds: float, now: datetime | None = None) -> bool:
    """The reader says page ``page`` has been in view for ``seconds`` (it counts only while the page
    is visible). Kept on the person's latest view of that page, never more than the time since it was
    served, nor the cap; a report never lowers what is recorded. The caller commits.

    Who may: whoever ``policy.reader_decision`` still lets read (the view checks). Returns whether a
    view was updated (none for a person not signed in, or a page they were never served).
    """
    if not getattr(user, "is_authenticated", False):
        return False
    now = now or utcnow()
    view = db.session.scalar(
        sa.select(PageView).where(PageView.material_id == material.id, PageView.user_id == user.id,
                                  PageView.page == page, PageView.started_at <= now)
        .order_by(PageView.started_at.desc(), PageView.id.desc()).limit(1))
    if view is None:
        return False
    seconds = _capped(now - view.started_at, seconds)
    if seconds <= view.seconds:
        return False
    view.seconds = seconds
    return True


# --- the speakers' reading report ------------------------------------------------------------


def pages_served(accesses: list[MaterialAccess]) -> dict[int, int]:
    """Access id → the reader page it served, for the accesses that served one (one query)."""
    ids = [a.id for a in accesses if a.allowed]
    if not ids:
        return {}
    rows = db.session.execute(sa.select(PageView.access_id, PageView.page).where(PageView.access_id.in_(ids)))
    return dict(rows.all())


@dataclass
class Reader:
    """One person's reading of a material: per page, how often and how long; first and last view."""

    user: User | None
    first: datetime
    last: datetime
    views: int = 0
    seconds: int = 0
    pages: dict[int, int] = field(default_factory=dict)  # page → seconds in view
    page_views: dict[int, int] = field(default_factory=dict)  # page → times shown

    @property
    def pages_read(self) -> int:
        return len(self.pages)


def reading_report(material: Material) -> list[Reader]:
    """Who read which pages of ``material`` and for how long, most recent reader first: one grouped
    query and one for the people, whatever the number of views.

    Who may: ``policy.can_view_reading_report`` (the view checks).
    """
    rows = db.session.execute(
        sa.select(PageView.user_id, PageView.page, sa.func.count(PageView.id), sa.func.sum(PageView.seconds),
                  sa.func.min(PageView.started_at), sa.func.max(PageView.started_at))
        .where(PageView.material_id == material.id)
        .group_by(PageView.user_id, PageView.page)).all()
    user_ids = {row[0] for row in rows if row[0] is not None}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    readers: dict[int | None, Reader] = {}
    for user_id, page, count, seconds, first, last in rows:
        reader = readers.get(user_id)
        if reader is None:
            reader = readers[user_id] = Reader(users.get(user_id), first, last)
        reader.first, reader.last = min(reader.first, first), max(reader.last, last)
        reader.views += count
        reader.seconds += int(seconds or 0)
        reader.pages[page] = int(seconds or 0)
        reader.page_views[page] = count
    for reader in readers.values():
        reader.pages = dict(sorted(reader.pages.items()))
    return sorted(readers.values(), key=lambda r: r.last, reverse=True)


def duration(seconds: int) -> str:
    """45 → '45 s'; 125 → '2 min 5 s'; 3600 → '1 h 0 min'."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def heat(seconds: int, longest: int) -> int:
    """0 (not read) to 4 (as long as the longest page), for the report's page strip."""
    if seconds <= 0 or longest <= 0:
        return 0
    return max(1, min(4, round(4 * seconds / longest)))
