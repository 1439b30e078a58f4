"""Small pieces every blueprint uses: loading with a policy check, safe redirects, query arguments."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Response, abort, make_response, redirect, request, send_file, url_for
from flask_login import current_user

from .. import policy
from ..extensions import db
from ..forms.base import drop_controls
from ..models import Event, Proposal

PUBLIC_ID_MAX = 24  # the width of the public_id columns; anything longer is no id of ours


# The checks that signing the agreement may answer: a person who must sign is led to the agreement
# (and back) instead of being refused.
BEHIND_AGREEMENT = frozenset({
    policy.can_view_event_content, policy.can_view_schedule, policy.can_subscribe_calendar, policy.can_propose,
    policy.can_nominate, policy.can_check_in_self_at, policy.can_state_availability, policy.can_read_event_feed,
})


def load_event(slug: str, may_view: Callable, may_act: Callable | None = None) -> Event:
    """Load an event, answering 404 to whoever may not know it exists and 403 to a forbidden action
    (or, when the unsigned agreement is what stands in the way, a way to it and back)."""
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
    if event is None or not may_view(current_user, event):
        abort(404)
    if may_act is not None and not may_act(current_user, event):
        if may_act in BEHIND_AGREEMENT:
            agreement_first(event)
        abort(403)
    return event


def agreement_first(event: Event) -> None:
    """A page asked for (GET) by someone who must sign the current agreement first: send them to it,
    with this page as where to go next. Anything else returns, and the caller refuses as usual."""
    if request.method in ("GET", "HEAD") and policy.must_sign_before(current_user, event):
        here = request.path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
        abort(redirect(url_for("events.agreement", slug=event.slug, next=here)))


def load_proposal(slug: str, public_id: str, may_act: Callable | None = None, *,
                  may_view: Callable = policy.can_view_proposal,
                  event_visible: Callable = policy.can_view_event) -> tuple[Event, Proposal]:
    """The event and one of its proposals that the current user may see (404 otherwise, the same
    answer as for an id nobody uses); 403 when ``may_act`` refuses the action."""
    event = load_event(slug, event_visible)
    proposal = event_proposal(event, public_id)
    if proposal is None or not may_view(current_user, proposal):
        # A talk that is hidden and one that does not exist get the same answer: the way to the agreement
        # for whoever must sign it first, 404 for anyone else.
        agreement_first(event)
        abort(404)
    if may_act is not None and not may_act(current_user, proposal):
        abort(403)
    return event, proposal


def event_proposal(event: Event, public_id: str | None) -> Proposal | None:
    """One of ``event``'s proposals by its public id, whoever may see it (another event's id finds nothing)."""
    if not public_id or len(public_id) > PUBLIC_ID_MAX:
        return None
    return db.session.scalar(sa.select(Proposal).where(Proposal.event_id == event.id, Proposal.public_id == public_id))


def waits_for_consent(what: str) -> str:
    """What a person hears when their change waits as a request for the speakers' consent (services.consent)."""
    return (f"This lets {what} travel wider, so it waits for the consent of every speaker: they have been emailed, "
            "and it applies once they all accept.")


def no_referrer(view: Callable) -> Callable:
    """For the pages a link with a token leads to: the answer carries ``Referrer-Policy: no-referrer``, so
    nothing the page loads or links to is told where the browser came from."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    return wrapped


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site paths are followed after a form."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


MAX_ROW_ID = 2**31 - 1


def text_arg(name: str, limit: int, args=None) -> str:
    """A text query argument (a search box) of ``args`` (the query string by default): without control
    characters or surrounding spaces, and no longer than ``limit``. (A NUL byte never gets here: the
    request is refused first.)"""
    return drop_controls((request.args if args is None else args).get(name, "")).strip()[:limit]


def int_arg(name: str, default: int | None = None, minimum: int = 1, maximum: int = MAX_ROW_ID) -> int | None:
    """A whole-number query argument, or a 400 that says which one is wrong."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not minimum <= int(raw) <= maximum:
        abort(400, f"“{name}” must be a whole number from {minimum} to {maximum:,}.")
    return int(raw)


def attachment(data: bytes | str, filename: str, mimetype: str, inline: bool = False) -> Response:
    """A download (or, ``inline``, a file a client reads in place, such as a calendar) with its name in
    Content-Disposition, kept out of every cache: exports and feeds hold private data."""
    body = data.encode() if isinstance(data, str) else data
    response = send_file(io.BytesIO(body), mimetype=mimetype, as_attachment=not inline, download_name=filename,
                         etag=False, conditional=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def client_ip() -> str:
    return request.remote_addr or ""
