"""Answering an invitation from its emailed link."""

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user

from .. import policy
from ..extensions import limiter
from ..forms.accounts import ConfirmForm
from ..services import invites
from ..services.errors import DomainError
from .auth import _token_limit, start_session
from .runner import done, run, write_on_read

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
        # Opening a link that ran out marks its invitation expired.
        invitation = write_on_read(lambda: invites.open_invitation(token))
    except DomainError as error:
        return render_template("invitation/invalid.html", message=error.message), 410
    candidate, event = invitation.candidate, invitation.candidate.event
    if _someone_else_signed_in(candidate):
        return render_template("invitation/other_account.html", event=event, form=form), 409
    answer = request.form.get("answer")
    if request.method == "GET" or answer not in ("accept", "decline"):
        error = None if request.method == "GET" else "Choose to accept or decline."
        return render_template("invitation/show.html", event=event, candidate=candidate, form=form, error=error,
                               agreement=policy.current_agreement(event)), 400 if error else 200
    return run(lambda: (invites.accept_invitation if answer == "accept" else invites.decline_invitation)(token),
               lambda candidate: _answered(candidate, event), button=form,
               refused=lambda error, status: (render_template("invitation/invalid.html", message=error.message),
                                              409 if status == 409 else 400))


def _answered(candidate, event):
    start_session(candidate.user)
    if policy.is_attendee(candidate.user, event):
        return done("Welcome! One last step: read and sign the confidentiality agreement.",
                    url_for("events.agreement", slug=event.slug))
    if policy.is_waitlisted(candidate.user, event):
        return done("The event is full, so you are on the waitlist. We will email you if a seat opens.",
                    url_for("events.landing", slug=event.slug), "info")
    return done("You have declined. Thank you for letting the organizers know.",
                url_for("events.landing", slug=event.slug), "info")
