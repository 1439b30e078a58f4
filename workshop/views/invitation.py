"""Answering an invitation from its emailed link."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..extensions import db, limiter
from ..forms.accounts import ConfirmForm
from ..models import CandidateStatus
from ..services import invites
from ..services.errors import DomainError
from .auth import _token_limit, start_session

bp = Blueprint("invitation", __name__, url_prefix="/invitation")


def _someone_else_signed_in(candidate) -> bool:
    return current_user.is_authenticated and current_user.email != candidate.email


@bp.route("/<token>", methods=["GET", "POST"])
@limiter.limit(_token_limit)
def answer(token: str):
    """GET shows the invitation (no change: mail scanners follow links); POST accepts or declines.

    The token is the proof of the address. If someone else is signed in in this browser, the
    invitation is not handed to them: they are asked to sign out first.
    """
    form = ConfirmForm()
    try:
        invitation = invites.open_invitation(token)
    except DomainError as error:
        db.session.commit()  # keeps an 'expired' status if the link ran out
        return render_template("invitation/invalid.html", message=error.message), 410
    candidate, event = invitation.candidate, invitation.candidate.event
    if _someone_else_signed_in(candidate):
        return render_template("invitation/other_account.html", event=event, form=form), 409
    if request.method == "GET":
        return render_template("invitation/show.html", event=event, candidate=candidate, form=form)
    if not form.validate_on_submit() or request.form.get("answer") not in ("accept", "decline"):
        return render_template("invitation/show.html", event=event, candidate=candidate, form=form,
                               error="Choose to accept or decline."), 400
    try:
        if request.form["answer"] == "accept":
            candidate = invites.accept_invitation(token)
        else:
            candidate = invites.decline_invitation(token)
    except DomainError as error:
        db.session.rollback()
        return render_template("invitation/invalid.html", message=error.message), 409
    db.session.commit()
    start_session(candidate.user)
    if candidate.status == CandidateStatus.ACCEPTED:
        flash("Welcome! One last step: read and sign the confidentiality agreement.", "success")
        return redirect(url_for("events.agreement", slug=event.slug))
    if candidate.status == CandidateStatus.WAITLISTED:
        flash("The event is full, so you are on the waitlist. We will email you if a seat opens.", "info")
    else:
        flash("You have declined. Thank you for letting the organizers know.", "info")
    return redirect(url_for("events.landing", slug=event.slug))
