"""Calendar feeds: the subscribe page, the secret personal feed, the event feed, one session's .ics."""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, render_template, url_for
from flask_login import current_user

from .. import calendar, policy
from ..extensions import limiter
from ..forms.accounts import ConfirmForm
from ..forms.calendar import FeedDetailsForm
from ..models import Event
from ._helpers import attachment, load_event, load_proposal
from .auth import _token_limit
from .runner import done, run

bp = Blueprint("calendar", __name__)


def _ics(body: bytes, filename: str):
    """A calendar, shown inline (calendar apps subscribe to it) and never kept in a shared cache."""
    return attachment(body, re.sub(r"[^A-Za-z0-9_.-]", "-", filename), "text/calendar", inline=True)


def _page(event: Event, url: str | None = None, status: int = 200):
    feed = calendar.feed_of(current_user, event)
    event_url = url_for("calendar.event_ics", slug=event.slug, _external=False)
    return render_template("calendar/subscribe.html", event=event, feed=feed, url=url,
                           webcal=calendar.webcal_url(url) if url else None, event_url=event_url,
                           confirm_form=ConfirmForm(),
                           details_form=FeedDetailsForm(formdata=None, details=feed.include_details if feed else False),
                           ), status


@bp.get("/e/<slug>/calendar")
def subscribe(slug: str):
    """The subscribe page: whoever may see the schedule (404 to those who may not know the event)."""
    event = load_event(slug, policy.can_view_event, policy.can_subscribe_calendar)
    return _page(event)


@bp.post("/e/<slug>/calendar/reset")
def reset(slug: str):
    """Create or replace the person's secret feed link; the new link is shown in this answer only."""
    event = load_event(slug, policy.can_view_event, policy.can_subscribe_calendar)
    replacing = calendar.feed_of(current_user, event) is not None

    def shown(token: str):
        if replacing:
            flash("A new link is made; the old one no longer works.", "success")
        return _page(event, calendar.feed_url(token))

    return run(lambda: calendar.reset_feed(current_user, event), shown)


@bp.post("/e/<slug>/calendar/details")
def details(slug: str):
    """Whether the person's own feed carries the abstracts and speakers of talks that are not public."""
    event = load_event(slug, policy.can_view_event, policy.can_subscribe_calendar)
    form = FeedDetailsForm()

    def refused(error, status):
        flash(error.message, "error")
        return _page(event, status=status)

    def saved(feed):
        return done("Your feed now carries the abstracts and speakers of every talk you may see."
                    if feed.include_details else "Your feed now carries titles, times and rooms only "
                    "(and the abstracts of public talks).", url_for("calendar.subscribe", slug=event.slug))

    return run(lambda: calendar.set_feed_details(current_user, event, bool(form.details.data)), saved,
               button=form, refused=refused)


@bp.post("/e/<slug>/calendar/revoke")
def revoke(slug: str):
    """Delete the person's feed link: calendar apps that use it get nothing from now on."""
    event = load_event(slug, policy.can_view_event, policy.can_subscribe_calendar)
    return run(lambda: calendar.revoke_feed(current_user, event), lambda revoked: done(
        "Your feed link is turned off. Calendars that used it will stop updating." if revoked
        else "You had no feed link.", url_for("calendar.subscribe", slug=event.slug),
        "success" if revoked else "info"))


@bp.get("/calendar/<token>.ics")
@limiter.limit(_token_limit)
def personal(token: str):
    """The personal feed: the token decides, not the session; it goes dark (404) once access ends."""
    feed = calendar.feed_for_token(token)
    if feed is None:
        abort(404)
    body = calendar.personal_feed(feed.user, feed.event, details=feed.include_details)
    return _ics(body, f"{feed.event.slug}-my-sessions.ics")


@bp.get("/e/<slug>/calendar.ics")
def event_ics(slug: str):
    """The event feed: the whole schedule for those who may see it, the public sessions for anyone
    else while the public page is on; 403 to participants who may not, 404 to everyone else."""
    event = load_event(slug, policy.can_view_event_anywhere, policy.can_read_event_feed)
    return _ics(calendar.event_feed(current_user, event), f"{event.slug}.ics")


@bp.get("/e/<slug>/proposals/<public_id>/session.ics")
def session_ics(slug: str, public_id: str):
    """One session: for anyone who may see the talk (or its public page entry) once it is released."""
    event, proposal = load_proposal(slug, public_id, may_view=policy.can_view_proposal_anywhere,
                                    event_visible=policy.can_view_event_anywhere)
    try:
        body = calendar.session_ics(current_user, proposal)
    except calendar.NotInCalendar:
        abort(404)
    return _ics(body, f"{event.slug}-{proposal.public_id}.ics")
