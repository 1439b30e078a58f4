"""iCalendar feeds (RFC 5545): a person's own sessions, an event's schedule, one session.

Every feed is built from the latest schedule release and shows each session only as far as the
reader may see it at the moment of the request (the policy decides, through its query twins):
a released session the reader may not see becomes a "Closed session" with its time and room and
nothing else. Times are written in the event's time zone, with a VTIMEZONE that defines it.

The personal feed lives at a secret URL; only the SHA-256 of its token is stored (CalendarFeed).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import sqlalchemy as sa
from flask import current_app

from . import policy
from .extensions import db
from .models import CalendarFeed, Event, Proposal, ProposalSpeaker, Room, SignUp, Slot, User, utcnow
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
    signed_up: dict[int, str] = dict(db.session.execute(
        sa.select(SignUp.proposal_id, SignUp.status).join(Proposal, SignUp.proposal_id == Proposal.id)
        .where(SignUp.user_id == user.id, Proposal.event_id == event.id)).all())
    speaking = set(db.session.scalars(
        sa.select(ProposalSpeaker.proposal_id).join(Proposal, ProposalSpeaker.proposal_id == Proposal.id)
        .where(ProposalSpeaker.user_id == user.id, ProposalSpeaker.confirmed.is_(True),
               Proposal.event_id == event.id)))
    entries = _released(user, event, now, public_only=False, only=set(signed_up) | speaking)
    for entry in entries:
        entry.signed_up = signed_up.get(entry.proposal_id)
    return _calendar(event, entries, f"{event.title}: my sessions").to_ical()


def event_feed(user, event: Event, now: datetime | None = None) -> bytes:
    """The whole released schedule as this person may see it.

    People who may see the schedule get every released session (closed sessions as
    placeholders); anyone else, anonymous included, gets the public-tier sessions, and only
    while the event's public page is on. Raises NotInCalendar for anyone with neither.
    """
    if policy.can_view_schedule(user, event):
        entries, name = _released(user, event, now, public_only=False), event.title
    elif policy.can_view_public_page(user, event):
        entries, name = _released(user, event, now, public_only=True), f"{event.title} (public sessions)"
    else:
        raise NotInCalendar("This event has no calendar you may see.")
    return _calendar(event, entries, name).to_ical()


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
    entries = [e for e in _released(user, event, now, public_only=public_only, only={proposal.id})
               if e.proposal is not None]
    if not entries:
        raise NotInCalendar("This session is not on the published schedule.")
    return _calendar(event, entries, f"{event.title}: {proposal.title}").to_ical()


# --- building them ------------------------------------------------------------------------


@dataclass
class _Entry:
    """One released session as the reader may see it; ``proposal`` None means a closed session."""

    proposal_id: int
    key: str  # the proposal's public id, for the UID only
    room: Room
    slot: Slot
    sequence: int
    proposal: Proposal | None
    public_only: bool
    speakers: list[User] = field(default_factory=list)
    signed_up: str | None = None


def _released(user, event: Event, now: datetime | None, public_only: bool,
              only: set[int] | None = None) -> list[_Entry]:
    """The latest release's sessions (those in ``only``, if given), in a fixed number of queries.

    ``public_only``: the public page's view, where sessions that are not public are left out
    rather than shown closed (an outsider learns nothing of them, not even that they exist).
    """
    release = policy.latest_release(event)
    if release is None:
        return []
    wanted = [e for e in release.entries if only is None or e["proposal"] in only]
    ids = [e["proposal"] for e in wanted]
    if not ids:
        return []
    visible_query = policy.public_proposals(event, now) if public_only else policy.proposals_visible_to(
        user, event, now)
    visible = {p.id: p for p in db.session.scalars(visible_query.where(Proposal.id.in_(ids)))}
    keys = dict(db.session.execute(sa.select(Proposal.id, Proposal.public_id).where(Proposal.id.in_(ids))).all())
    rooms = {r.id: r for r in db.session.scalars(sa.select(Room).where(Room.event_id == event.id))}
    slots = {s.id: s for s in db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id))}
    speakers: dict[int, list[User]] = defaultdict(list)
    for proposal_id, speaker in db.session.execute(sa.select(ProposalSpeaker.proposal_id, User).join(
            User, ProposalSpeaker.user_id == User.id).where(ProposalSpeaker.proposal_id.in_(list(visible)),
                                                            ProposalSpeaker.confirmed.is_(True))
                                                   .order_by(ProposalSpeaker.id)):
        speakers[proposal_id].append(speaker)
    entries = []
    for e in wanted:
        pid = e["proposal"]
        if e["room"] not in rooms or e["slot"] not in slots or pid not in keys:
            continue
        if public_only and pid not in visible:
            continue
        entries.append(_Entry(proposal_id=pid, key=keys[pid], room=rooms[e["room"]], slot=slots[e["slot"]],
                              sequence=int(e.get("sequence", 0)), proposal=visible.get(pid),
                              public_only=public_only, speakers=speakers.get(pid, [])))
    return sorted(entries, key=lambda x: (x.slot.starts_at, x.room.position, x.room.id, x.proposal_id))


def session_uid(public_id: str) -> str:
    """A session's UID: the same in every feed, for every reader, and across moves.

    Derived from the public id rather than equal to it, so that a closed session's entry does
    not hand out the address of a talk its reader may not know.
    """
    digest = hashlib.sha256(f"conclave-session:{public_id}".encode()).hexdigest()[:32]
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "conclave.invalid"
    return f"{digest}@{host}"


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=UTC).astimezone(zone)


def _description(entry: _Entry) -> str:
    proposal = entry.proposal
    lines = []
    if entry.speakers:
        lines.append("With " + ", ".join(s.display_name for s in entry.speakers))
    if proposal.chatham_house:
        lines.append(CHATHAM_HOUSE)
    if proposal.no_recording:
        lines.append(NO_RECORDING)
    if entry.signed_up == "waitlisted":
        lines.append("You are on the waitlist for this session.")
    abstract = "\n".join(line.rstrip() for line in (proposal.abstract or "").replace("\r\n", "\n").split("\n"))
    parts = ["\n".join(lines), abstract.strip()]
    return "\n\n".join(p for p in parts if p)


def _talk_url(event: Event, entry: _Entry) -> str:
    base = current_app.config["BASE_URL"]
    if entry.public_only:
        return f"{base}/e/{event.slug}/public"
    return f"{base}/e/{event.slug}/proposals/{entry.key}"


def _vevent(event: Event, entry: _Entry, zone: ZoneInfo, stamp: datetime) -> icalendar.Event:
    item = icalendar.Event()
    item.add("uid", session_uid(entry.key))
    item.add("dtstamp", stamp)
    item.add("sequence", entry.sequence)
    item.add("dtstart", _local(entry.slot.starts_at, zone))
    item.add("dtend", _local(entry.slot.ends_at, zone))
    item.add("location", entry.room.name)
    if entry.signed_up is not None:
        item.add("status", "TENTATIVE" if entry.signed_up == "waitlisted" else "CONFIRMED")
    if entry.proposal is None:
        # Only the time and the room: nothing of the talk, not even its address.
        item.add("summary", CLOSED_SESSION)
        item.add("class", "CONFIDENTIAL")
        return item
    proposal = entry.proposal
    item.add("summary", proposal.title)
    item.add("description", _description(entry))
    item.add("url", _talk_url(event, entry))
    item.add("class", "PUBLIC" if entry.public_only else "CONFIDENTIAL")
    return item


def _calendar(event: Event, entries: list[_Entry], name: str) -> icalendar.Calendar:
    zone = ZoneInfo(event.timezone)
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
    for entry in entries:
        cal.add_component(_vevent(event, entry, zone, stamp))
    if entries:
        # A VTIMEZONE for every zone the entries use (none for UTC, written as ...Z), covering
        # whole years around the sessions so clients can work out every offset in between.
        first = min(e.slot.starts_at for e in entries).date()
        last = max(e.slot.ends_at for e in entries).date()
        cal.add_missing_timezones(first_date=date(first.year, 1, 1), last_date=date(last.year + 1, 1, 1))
        # RFC 5545 allows any order, but some clients read the time zones before the events.
        cal.subcomponents.sort(key=lambda c: c.name != "VTIMEZONE")
    return cal

