"""Answering an invitation from its emailed link."""

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user

from .. import policy
from ..extensions import limiter
from ..forms.accounts import ConfirmForm
from ..services import accounts, invites
from ..services.errors import DomainError
from ..services.tokens import hash_token
from ._helpers import no_referrer
from .auth import INVITATION_LINK, _token_limit, replace_session, start_session
from .runner import done, run, write_on_read

bp = Blueprint("invitation", __name__, url_prefix="/invitation")


def _someone_else_signed_in(candidate) -> bool:
    return current_user.is_authenticated and current_user.email != candidate.email


@bp.get("/<token>")
@limiter.limit(_token_limit)
@no_referrer
def open_link(token: str):
    """The emailed link. Its token leaves the URL at once: the session keeps the token's hash and the
    browser goes on to ``/invitation/``, so the token reaches no history entry, no Referer and no later
    log line. Nothing is looked up or changed here."""
    session[INVITATION_LINK] = hash_token(token)
    return redirect(url_for("invitation.answer"))


@bp.route("/", methods=["GET", "POST"])
@limiter.limit(_token_limit)
@no_referrer
def answer():
    """The invitation opened in this browser. GET shows it (no change: mail scanners follow links);
    POST accepts or declines.

    The token is the proof of the address. If someone else is signed in in this browser, the
    invitation is not handed to them: they are asked to sign out first.
    """
    link = session.get(INVITATION_LINK)
    form = ConfirmForm()
    try:
        # Opening a link that ran out marks its invitation expired.
        invitation = write_on_read(lambda: invites.open_invitation_hash(link))
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

    def act():
        candidate = (invites.accept_invitation_hash if answer == "accept" else invites.decline_invitation_hash)(link)
        return candidate, replace_session(accounts.get_or_create_user(candidate.email))[1]

    return run(act, lambda answered: _answered(*answered, event), button=form,
               refused=lambda error, status: (render_template("invitation/invalid.html", message=error.message),
                                              409 if status == 409 else 400))


def _answered(candidate, key: str, event):
    start_session(candidate.user, key)
    if policy.is_attendee(candidate.user, event):
        return done("Welcome! One last step: read and sign the confidentiality agreement.",
                    url_for("events.agreement", slug=event.slug))
    if policy.is_waitlisted(candidate.user, event):
        return done("The event is full, so you are on the waitlist. We will email you if a seat opens.",
                    url_for("events.landing", slug=event.slug), "info")
    return done("You have declined. Thank you for letting the organizers know.",
                url_for("events.landing", slug=event.slug), "info")
