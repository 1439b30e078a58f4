"""View-only materials: the in-browser reader, its pages, its reports of time in view, and the speakers'
switch between view-only and downloadable. Every page is decided anew, so the reader stops at the next
page once access ends."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from .. import policy
from ..extensions import db, limiter
from ..forms.reader import VIEW_ONLY, SeenForm, ViewOnlyForm
from ..models import Material, Proposal, utcnow
from ..services import reader
from ..services.errors import DomainError
from ._helpers import PUBLIC_ID_MAX, attachment, client_ip, int_arg, load_proposal
from .materials import DOWNLOAD_HEADERS, content_disposition
from .runner import done, run, write_on_read

bp = Blueprint("reader", __name__)

# What the reader is told when a page is refused. A person who may not know the file exists hears
# what a missing file would say.
GONE = "This file is not available."


def _reader_limit() -> str:
    return current_app.config["READER_RATE_LIMIT"]


def _per_person() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else request.remote_addr or ""


def _material(material_public_id: str) -> Material:
    material = None
    if len(material_public_id) <= PUBLIC_ID_MAX:
        material = db.session.scalar(
            sa.select(Material).where(Material.public_id == material_public_id)
            .options(joinedload(Material.proposal).joinedload(Proposal.event)))
    if material is None or not policy.opens_in_reader(material):
        abort(404)
    return material


def _refusal(decision) -> tuple:
    """A page or a report refused: JSON the reader shows in place of the page."""
    if not decision.visible:
        return jsonify(message=GONE, closed=True), 404
    status = {policy.Reason.CANNOT_BE_STAMPED: 409, policy.Reason.FILE_UNAVAILABLE: 503}.get(decision.reason, 403)
    return jsonify(message=decision.reason.explanation, closed=status == 403), status


@bp.get("/m/<material_public_id>/read")
def read(material_public_id: str):
    """The reader: a page frame that fetches each page, stamped for this person, from ``page``."""
    material = _material(material_public_id)
    decision = policy.reader_decision(current_user, material)
    proposal = material.proposal
    if not decision.visible:
        abort(404)
    if decision.needs_terms:
        return redirect(url_for("proposals.terms", slug=proposal.event.slug, public_id=proposal.public_id), 303)
    back = url_for("proposals.detail", slug=proposal.event.slug, public_id=proposal.public_id) if (
        policy.can_view_proposal(current_user, proposal)) else None
    if not decision.allowed:
        return render_template("materials/denied.html", material=material, proposal=proposal, back=back, status=403,
                               heading="Not available to you", message=decision.reason.explanation), 403
    return render_template("reader/read.html", material=material, proposal=proposal, event=proposal.event, back=back,
                           pages=material.reader_pages, start=int_arg("page", 1, maximum=material.reader_pages),
                           seen_form=SeenForm())


@bp.get("/m/<material_public_id>/read/<int:page>")
@limiter.limit(_reader_limit, key_func=_per_person)
def page(material_public_id: str, page: int):
    """One page, rendered and stamped for this person, as a one-page PDF; the decision and the page view
    are logged. Refusals are JSON for the reader to show."""
    material = _material(material_public_id)
    if not reader.has_page(material, page):
        # The page count is no secret from someone who may read the file; to anyone else, no file.
        if policy.reader_decision(current_user, material).visible:
            return jsonify(message=f"This file has pages 1 to {material.reader_pages}.", closed=False), 404
        return jsonify(message=GONE, closed=True), 404
    served = write_on_read(lambda: reader.open_page(current_user, material, page, client_ip()))
    if not served.decision.allowed:
        return _refusal(served.decision)
    response = attachment(served.pdf, f"page-{page}.pdf", "application/pdf")
    response.headers["Content-Disposition"] = content_disposition(f"page-{page}.pdf")
    response.headers.update(DOWNLOAD_HEADERS)
    response.headers["X-Download-Id"] = served.access.download_id
    return response


@bp.post("/m/<material_public_id>/read/seen")
def seen(material_public_id: str):
    """The reader reports how long a page has been in view. Refused (JSON) once access has ended, which
    also tells an open reader to close."""
    material = _material(material_public_id)
    decision = policy.reader_decision(current_user, material)
    if not decision.allowed:
        return _refusal(decision)
    form = SeenForm()
    return run(lambda: reader.record_seen(current_user, material, form.page.data, form.seconds.data, utcnow()),
               lambda _: ("", 204), button=form)


@bp.post("/e/<slug>/proposals/<public_id>/materials/<material_public_id>/view-only")
def set_view_only(slug: str, public_id: str, material_public_id: str):
    """The talk's speakers make a PDF view-only, or let it be downloaded again."""
    _event, proposal = load_proposal(slug, public_id)
    found = None
    if len(material_public_id) <= PUBLIC_ID_MAX:
        found = db.session.scalar(sa.select(Material).where(Material.proposal_id == proposal.id,
                                                            Material.public_id == material_public_id,
                                                            Material.deleted_at.is_(None)))
    if found is None:
        abort(404)
    if not policy.can_edit_proposal(current_user, proposal):
        abort(403)
    form = ViewOnlyForm()
    name = found.filename
    back = url_for("proposals.detail", slug=slug, public_id=public_id)

    def answer(changed: bool):
        if found.view_only:
            message = (f"“{name}” is now read in the browser only: {found.reader_pages} pages, each stamped "
                       "for its reader.")
        else:
            message = f"“{name}” can be downloaded again, stamped for each person."
        return done(message if changed else f"“{name}” was already shared this way.", back)

    def act():
        if not policy.can_set_view_only(current_user, found):
            raise DomainError("Only PDFs can be read in the browser; other files are always downloaded.")
        return reader.set_view_only(current_user, found, form.mode.data == VIEW_ONLY)

    return run(act, answer, button=form)

