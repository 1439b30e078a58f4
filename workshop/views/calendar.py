"""Calendar feeds: the subscribe page, the secret personal feed, the event feed, one session's .ics."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from .. import calendar, policy
from ..extensions import db, limiter
from ..forms.accounts import ConfirmForm
from ..models import Event, Proposal
from ._helpers import load_event
from .auth import _token_limit

bp = Blueprint("calendar", __name__)


def _ics(body: bytes, filename: str) -> Response:
    """A calendar, shown inline (calendar apps subscribe to it) and never kept in a shared cache."""
    response = Response(body, content_type="text/calendar; charset=utf-8")
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = f"inline; filename={re.sub(r'[^A-Za-z0-9_.-]', '-', filename)}"
    return response


def _page(event: Event, url: str | None = None, status: int = 200):
    feed = calendar.feed_of(current_user, event)
    event_url = url_for("calendar.event_ics", slug=event.slug, _external=False)
    return render_template("calendar/subscribe.html", event=event, feed=feed, url=url,
                           webcal=calendar.webcal_url(url) if url else None, event_url=event_url,
                           confirm_form=ConfirmForm()), status


@bp.get("/e/<slug>/calendar")
def subscribe(slug: str):
    """The subscribe page: whoever may see the schedule (404 to those who may not know the event)."""
    event = load_event(slug, policy.can_view_event, policy.can_subscribe_calendar)
    return _page(event)


@bp.post("/e/<slug>/calendar/reset")
def reset(slug: str):
    """Create or replace the person's secret feed link; the new link is shown in this answer only."""
    event = load_event(slug, policy.can_view_event, policy.can_subscribe_calendar)
    if not ConfirmForm().validate_on_submit():
        abort(400, "The form expired; try again.")
    replacing = calendar.feed_of(current_user, event) is not None
    token = calendar.reset_feed(current_user, event)
    try:
        db.session.commit()
    except IntegrityError:  # two resets at once: the other one won
        db.session.rollback()
        abort(409, "Your feed link was changed by another request a moment ago; reload the page.")
    if replacing:
        flash("A new link is made; the old one no longer works.", "success")
    return _page(event, calendar.feed_url(token))


@bp.post("/e/<slug>/calendar/revoke")
def revoke(slug: str):
    """Delete the person's feed link: calendar apps that use it get nothing from now on."""
    event = load_event(slug, policy.can_view_event, policy.can_subscribe_calendar)
    if not ConfirmForm().validate_on_submit():
        abort(400, "The form expired; try again.")
    if calendar.revoke_feed(current_user, event):
        db.session.commit()
        flash("Your feed link is turned off. Calendars that used it will stop updating.", "success")
    else:
        flash("You had no feed link.", "info")
    return redirect(url_for("calendar.subscribe", slug=event.slug))


@bp.get("/calendar/<token>.ics")
@limiter.limit(_token_limit)
def personal(token: str):
    """The personal feed: the token decides, not the session; it goes dark (404) once access ends."""
    feed = calendar.feed_for_token(token)
    if feed is None:
        abort(404)
    body = calendar.personal_feed(feed.user, feed.event)
    return _ics(body, f"{feed.event.slug}-my-sessions.ics")


@bp.get("/e/<slug>/calendar.ics")
def event_ics(slug: str):
    """The event feed: the whole schedule for those who may see it, the public sessions for anyone
    else while the public page is on; 403 to participants who may not, 404 to everyone else."""
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
    if event is None:
        abort(404)
    if not (policy.can_view_schedule(current_user, event) or policy.can_view_public_page(current_user, event)):
        abort(403 if policy.can_view_event(current_user, event) else 404)
    return _ics(calendar.event_feed(current_user, event), f"{event.slug}.ics")


@bp.get("/e/<slug>/proposals/<public_id>/session.ics")
def session_ics(slug: str, public_id: str):
    """One session: for anyone who may see the talk (or its public page entry) once it is released."""
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
    if event is None:
        abort(404)
    proposal = db.session.scalar(sa.select(Proposal).where(Proposal.event_id == event.id,
                                                           Proposal.public_id == public_id))
    if proposal is None:
        abort(404)
    try:
        body = calendar.session_ics(current_user, proposal)
    except calendar.NotInCalendar:
        abort(404)
    return _ics(body, f"{event.slug}-{proposal.public_id}.ics")
