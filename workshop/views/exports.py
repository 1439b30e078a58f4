"""The schedule for other programs: JSON and frab XML, public at the event's address and personal at the
secret feed address; CSV for organizers."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user

from .. import calendar, policy
from ..extensions import limiter
from ..services import exports
from ._helpers import attachment, load_event
from .auth import _token_limit

bp = Blueprint("exports", __name__)

JSON, XML = "application/json", "application/xml"


def _public(slug: str) -> exports.ScheduleExport:
    """The public schedule exists only while the public page is on: 404 to everyone otherwise, as the page."""
    event = load_event(slug, policy.can_view_public_page)
    return exports.public_schedule(event)


@bp.get("/e/<slug>/schedule.json")
def public_json(slug: str):
    """The public talks of the latest release as JSON (ScheduleExport in /api/v1/openapi.json)."""
    export = _public(slug)
    return attachment(export.to_json(), f"{slug}-schedule.json", JSON, inline=True)


@bp.get("/e/<slug>/schedule.xml")
def public_xml(slug: str):
    """The public talks of the latest release as frab's schedule.xml."""
    export = _public(slug)
    return attachment(exports.frab_xml(export), f"{slug}-schedule.xml", XML, inline=True)


def _personal(token: str) -> exports.ScheduleExport:
    """The token decides, not the session: the export goes dark (404) once its owner's access ends."""
    feed = calendar.feed_for_token(token)
    if feed is None:
        abort(404)
    return exports.personal_schedule(feed.user, feed.event, details=feed.include_details)


@bp.get("/calendar/<token>.json")
@limiter.limit(_token_limit)
def personal_json(token: str):
    """Every released session as the feed's owner may see it, as JSON."""
    export = _personal(token)
    return attachment(export.to_json(), f"{export.event.slug}-my-schedule.json", JSON, inline=True)


@bp.get("/calendar/<token>.xml")
@limiter.limit(_token_limit)
def personal_xml(token: str):
    """Every released session as the feed's owner may see it, as frab's schedule.xml."""
    export = _personal(token)
    return attachment(exports.frab_xml(export), f"{export.event.slug}-my-schedule.xml", XML, inline=True)


@bp.get("/e/<slug>/manage/schedule.csv")
def organizers_csv(slug: str):
    """Organizers: the released schedule with seats, waitlists and check-ins, as CSV."""
    event = load_event(slug, policy.can_view_event, policy.can_export_schedule)
    return attachment(exports.schedule_csv(current_user, event), f"{slug}-schedule.csv", "text/csv")
