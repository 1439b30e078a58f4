"""iCalendar feeds (RFC 5545): a person's own sessions, an event's schedule, one session.

Every feed is built from the latest schedule release, as ``services.schedule.published`` reads it
(the one reader of the published schedule), and shows each session only as far as the reader may
see it at the moment of the request (the policy decides, through its query twins): a released
session the reader may not see becomes a "Closed session" with its time and room and nothing else.
Times are written in the event's time zone, with a VTIMEZONE that defines it.

The personal feed lives at a secret URL; only the SHA-256 of its token is stored (CalendarFeed).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import icalendar
import sqlalchemy as sa
from flask import current_app

from . import policy
from .dates import local
from .extensions import db
from .models import CalendarFeed, Event, Proposal, ProposalSpeaker, SignUp, SignUpStatus, User, utcnow
from .services.schedule import Session, published
from .services.tokens import hash_token, new_token

CLOSED_SESSION = "Closed session"
PRODID = "-//Conclave//Conclave calendar 1.0//EN"
CHATHAM_HOUSE = "Chatham House Rule: use what is said here, but do not say who said it."
NO_RECORDING = "No recording: do not record, photograph or stream this session."


class NotInCalendar(LookupError):
    """The person may not have this feed or this session, or it is not on the released schedule."""


# --- the secret link of a personal feed ---------------------------------------------------


def feed_of(user: User, event: Event) -> CalendarFeed | None:
    """The person's feed for the event, if they made one (its token is not recoverable)."""
    return db.session.scalar(sa.select(CalendarFeed).where(CalendarFeed.user_id == user.id,
                                                          CalendarFeed.event_id == event.id))


def reset_feed(user: User, event: Event) -> str:
    """Create the person's feed link, or replace it (the old link stops working at once).

    Anyone who may subscribe (policy.can_subscribe_calendar); raises NotInCalendar otherwise.
    Returns the new raw token, which is not stored: show it once. The caller commits.
    """
    if not policy.can_subscribe_calendar(user, event):
        raise NotInCalendar("Only people who may see the schedule have a calendar feed.")
    token, token_hash = new_token()
    feed = db.session.scalar(sa.select(CalendarFeed).where(CalendarFeed.user_id == user.id,
                                                          CalendarFeed.event_id == event.id).with_for_update())
    if feed is None:
        db.session.add(CalendarFeed(user_id=user.id, event_id=event.id, token_hash=token_hash))
    else:
        feed.token_hash, feed.created_at = token_hash, utcnow()
    return token


def revoke_feed(user: User, event: Event) -> bool:
    """Delete the person's feed link, if any; returns whether there was one. The caller commits."""
    deleted = db.session.execute(sa.delete(CalendarFeed).where(CalendarFeed.user_id == user.id,
                                                               CalendarFeed.event_id == event.id)).rowcount
    return bool(deleted)


def feed_for_token(token: str) -> CalendarFeed | None:
    """The feed a secret link opens, only while its owner may still see the schedule.

    A token never issued, one replaced by a reset, a deleted feed, a revoked attendee or a
    disabled account all answer None: the feed goes dark as soon as access ends.
    """
    if not token or len(token) > 128:
        return None
    feed = db.session.scalar(sa.select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token)))
    if feed is None or not policy.can_subscribe_calendar(feed.user, feed.event):
        return None
    return feed


def feed_url(token: str) -> str:
    """The address a calendar app subscribes to, built from BASE_URL."""
    return f"{current_app.config['BASE_URL']}/calendar/{token}.ics"


def webcal_url(url: str) -> str:
    """The same address with the webcal:// scheme, which calendar apps open as a subscription."""
    return "webcal://" + url.split("://", 1)[-1]


# --- the feeds ----------------------------------------------------------------------------


def personal_feed(user: User, event: Event, now: datetime | None = None) -> bytes:
    """The sessions of the latest release the person signed up for (confirmed or waitlisted) or
    speaks at, each as far as they may see it now; a session they may no longer see is a closed
    session.

    Anyone who may subscribe (policy.can_subscribe_calendar); raises NotInCalendar otherwise.
    """
    if not policy.can_subscribe_calendar(user, event):
        raise NotInCalendar("This calendar feed is closed.")
    signed_up: dict[int, SignUpStatus] = dict(db.session.execute(
        sa.select(SignUp.proposal_id, SignUp.status).join(Proposal, SignUp.proposal_id == Proposal.id)
        .where(SignUp.user_id == user.id, Proposal.event_id == event.id)).all())
    speaking = set(db.session.scalars(
        sa.select(ProposalSpeaker.proposal_id).join(Proposal, ProposalSpeaker.proposal_id == Proposal.id)
        .where(ProposalSpeaker.user_id == user.id, ProposalSpeaker.confirmed.is_(True),
               Proposal.event_id == event.id)))
    keys = {public_id: proposal_id for proposal_id, public_id in db.session.execute(
        sa.select(Proposal.id, Proposal.public_id).where(Proposal.id.in_(set(signed_up) | speaking)))}
    sessions = published(user, event, now, only=set(keys.values())).sessions
    # A sign-up stands in the feed even for a session the person may no longer see (a placeholder).
    entries = [(session, signed_up.get(keys[session.key])) for session in sessions]
    return _calendar(event, entries, f"{event.title}: my sessions", public_only=False).to_ical()


def event_feed(user, event: Event, now: datetime | None = None) -> bytes:
    """The whole released schedule as this person may see it.

    People who may see the schedule get every released session (closed sessions as
    placeholders); anyone else, anonymous included, gets the public-tier sessions, and only
    while the event's public page is on. Raises NotInCalendar for anyone with neither.
    """
    if policy.can_view_schedule(user, event):
        public_only, name = False, event.title
    elif policy.can_view_public_page(user, event):
        public_only, name = True, f"{event.title} (public sessions)"
    else:
        raise NotInCalendar("This event has no calendar you may see.")
    sessions = published(user, event, now, public_only=public_only).sessions
    return _calendar(event, [(s, None) for s in sessions], name, public_only).to_ical()


def session_ics(user, proposal: Proposal, now: datetime | None = None) -> bytes:
    """One released session, for anyone who may see the talk (inside the event, or on its
    public page). Raises NotInCalendar if they may not, or if it is not in the latest release."""
    event = proposal.event
    if policy.can_view_proposal(user, proposal, now):
        public_only = False
    elif policy.is_public_proposal(proposal, now):
        public_only = True
    else:
        raise NotInCalendar("There is no such session.")
    sessions = [s for s in published(user, event, now, public_only=public_only, only={proposal.id}).sessions
                if not s.placeholder]
    if not sessions:
        raise NotInCalendar("This session is not on the published schedule.")
    return _calendar(event, [(s, None) for s in sessions], f"{event.title}: {proposal.title}", public_only).to_ical()


# --- building them ------------------------------------------------------------------------


def session_uid(public_id: str) -> str:
    """A session's UID: the same in every feed, for every reader, and across moves.

    Derived from the public id rather than equal to it, so that a closed session's entry does
    not hand out the address of a talk its reader may not know.
    """
    digest = hashlib.sha256(f"conclave-session:{public_id}".encode()).hexdigest()[:32]
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "conclave.invalid"
    return f"{digest}@{host}"


def _description(session: Session, signed_up: SignUpStatus | None) -> str:
    proposal = session.proposal
    lines = []
    if session.speakers:
        lines.append("With " + ", ".join(s.display_name for s in session.speakers))
    if proposal.chatham_house:
        lines.append(CHATHAM_HOUSE)
    if proposal.no_recording:
        lines.append(NO_RECORDING)
    if signed_up == SignUpStatus.WAITLISTED:
        lines.append("You are on the waitlist for this session.")
    abstract = "\n".join(line.rstrip() for line in (proposal.abstract or "").replace("\r\n", "\n").split("\n"))
    parts = ["\n".join(lines), abstract.strip()]
    return "\n\n".join(p for p in parts if p)


def _talk_url(event: Event, session: Session, public_only: bool) -> str:
    base = current_app.config["BASE_URL"]
    if public_only:
        return f"{base}/e/{event.slug}/public"
    return f"{base}/e/{event.slug}/proposals/{session.key}"


def _vevent(event: Event, session: Session, signed_up: SignUpStatus | None, public_only: bool,
            stamp: datetime) -> icalendar.Event:
    item = icalendar.Event()
    item.add("uid", session_uid(session.key))
    item.add("dtstamp", stamp)
    item.add("sequence", session.sequence)
    item.add("dtstart", local(event, session.slot.starts_at))
    item.add("dtend", local(event, session.ends_at))  # the end of the last slot a long session runs over
    item.add("location", session.room.name)
    if signed_up is not None:
        item.add("status", "CONFIRMED" if signed_up.seated else "TENTATIVE")
    if session.placeholder:
        # Only the time and the room: nothing of the talk, not even its address.
        item.add("summary", CLOSED_SESSION)
        item.add("class", "CONFIDENTIAL")
        return item
    item.add("summary", session.proposal.title)
    item.add("description", _description(session, signed_up))
    item.add("url", _talk_url(event, session, public_only))
    item.add("class", "PUBLIC" if public_only else "CONFIDENTIAL")
    return item


def _calendar(event: Event, entries: list[tuple[Session, SignUpStatus | None]], name: str,
              public_only: bool) -> icalendar.Calendar:
    """The feed of ``entries``: each released session with the reader's sign-up status, if any."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", event.timezone)
    # Calendar apps that honour these poll hourly rather than daily.
    cal.add("refresh-interval", icalendar.vDuration(timedelta(hours=1)), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", icalendar.vDuration(timedelta(hours=1)))
    stamp = utcnow().replace(microsecond=0, tzinfo=UTC)
    for session, signed_up in entries:
        cal.add_component(_vevent(event, session, signed_up, public_only, stamp))
    if entries:
        # A VTIMEZONE for every zone the entries use (none for UTC, written as ...Z), covering
        # whole years around the sessions so clients can work out every offset in between.
        first = min(s.slot.starts_at for s, _ in entries).date()
        last = max(s.ends_at for s, _ in entries).date()
        cal.add_missing_timezones(first_date=date(first.year, 1, 1), last_date=date(last.year + 1, 1, 1))
        # RFC 5545 allows any order, but some clients read the time zones before the events.
        cal.subcomponents.sort(key=lambda c: c.name != "VTIMEZONE")
    return cal

