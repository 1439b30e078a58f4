"""Events and their organizers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import available_timezones

import sqlalchemy as sa

from .. import mail, policy
from ..extensions import db
from ..models import Agreement, Event, EventKind, EventStatus, User
from . import accounts, audit
from .errors import DomainError

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
RESERVED_SLUGS = {"new", "admin", "static", "auth"}
DEFAULT_AGREEMENT = (
    "I will treat everything presented at this event as confidential. I will not pass it on, "
    "publish it, or use what I learn here for capabilities work without the speaker's permission. "
    "I will respect each session's recording and attribution rules."
)


@dataclass
class EventData:
    title: str
    slug: str
    description: str
    kind: EventKind
    venue: str
    timezone: str
    starts_on: date
    ends_on: date
    capacity: int
    public_page: bool = False
    status: EventStatus | None = None


def validate(data: EventData, event: Event | None = None) -> None:
    """Raises DomainError, naming the field, for an address, dates, time zone or capacity that will not do."""
    if not SLUG_RE.match(data.slug):
        raise DomainError("Use 1–60 lower-case letters, digits and hyphens.", field="slug")
    if data.slug in RESERVED_SLUGS:
        raise DomainError("That address is reserved; choose another.", field="slug")
    clash = db.session.scalar(sa.select(Event.id).where(Event.slug == data.slug))
    if clash is not None and (event is None or clash != event.id):
        raise DomainError("Another event already uses this address.", field="slug")
    if data.ends_on < data.starts_on:
        raise DomainError("The event cannot end before it starts.", field="ends_on")
    if data.timezone not in available_timezones():
        raise DomainError("Unknown time zone; use a name such as Europe/Berlin.", field="timezone")
    if data.capacity < 1:
        raise DomainError("Capacity must be at least 1.", field="capacity")


def create_event(actor: User, data: EventData, organizer_emails: list[str]) -> Event:
    """Admins create an event; it starts in draft with a first agreement version."""
    validate(data)
    event = Event(
        slug=data.slug,
        title=data.title.strip(),
        description=data.description,
        kind=data.kind,
        venue=data.venue.strip(),
        timezone=data.timezone,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        capacity=data.capacity,
        public_page=data.public_page,
        status=EventStatus.DRAFT,
    )
    db.session.add(event)
    db.session.flush()
    db.session.add(Agreement(event_id=event.id, version=1, text=DEFAULT_AGREEMENT, created_by_id=actor.id))
    audit.record(actor, event, "create event", f"event {event.slug}")
    for email in organizer_emails:
        try:
            add_organizer(actor, event, email)
        except DomainError as error:  # here the addresses come as the list of organizers
            raise DomainError(error.message, field="organizers") from error
    return event


EVENT_FIELDS = ("slug", "title", "description", "kind", "venue", "timezone", "starts_on", "ends_on", "capacity",
                "public_page")
EVENT_LABELS = {"slug": "address", "starts_on": "starts", "ends_on": "ends", "capacity": "capacity",
                "public_page": "public page"}


def capacity_shortfall(event: Event, capacity: int) -> str:
    """What lowering the seats below the people already accepted would do, or "" when it frees no one.

    Nobody loses a seat: the accepted keep theirs, and until fewer hold seats than the new number,
    anyone who accepts joins the waitlist (and a decline promotes no one)."""
    from .invites import accepted_count

    accepted = accepted_count(event)
    if capacity >= accepted:
        return ""
    return (f"{accepted} people have accepted, more than the {capacity} seats you chose. Nobody loses a seat: "
            f"all {accepted} keep their places, and anyone who accepts from now on joins the waitlist until "
            f"fewer than {capacity} people hold seats.")


def update_event(actor: User, event: Event, data: EventData, confirm_below_accepted: bool = False) -> Event:
    """Organizers edit their event. A larger capacity promotes people from the waitlist; a capacity below
    the people accepted is refused (field ``confirm_capacity``) unless ``confirm_below_accepted``.
    The audit entry says what changed, before → after."""
    from .invites import fill_from_waitlist

    validate(data, event)
    if data.capacity < event.capacity and not confirm_below_accepted:
        shortfall = capacity_shortfall(event, data.capacity)
        if shortfall:
            raise DomainError(shortfall + " Tick “Lower it anyway” to save.", field="confirm_capacity")
    before = audit.snapshot(event, EVENT_FIELDS)
    old_capacity, old_status = event.capacity, event.status
    for name in EVENT_FIELDS:
        setattr(event, name, getattr(data, name))
    event.title = event.title.strip()
    if data.status is not None and data.status != old_status:
        event.status = data.status
        audit.record(actor, event, "change status", f"event {event.slug}", f"{old_status} → {data.status}")
    audit.record_changes(actor, event, "edit event", f"event {event.slug}", before, event, EVENT_LABELS)
    if event.capacity > old_capacity:
        fill_from_waitlist(event)
    return event


def set_public_page(actor: User, event: Event, on: bool) -> Event:
    """Organizers switch the public page (title, dates, public talks) on or off."""
    if event.public_page != on:
        audit.record(actor, event, "edit event", f"event {event.slug}",
                     f"public page {'no → yes' if on else 'yes → no'}")
        event.public_page = on
    return event


def change_status(actor: User, event: Event, status: EventStatus) -> Event:
    """Organizers move the event to another status (the overview's switch)."""
    if status == event.status:
        raise DomainError(f"The event is {status} already.")
    audit.record(actor, event, "change status", f"event {event.slug}", f"{event.status} → {status}")
    event.status = status
    policy.forget_memo()
    return event


def add_organizer(actor: User, event: Event, email: str) -> User:
    """An organizer of the event (or an admin) names a co-organizer, who is emailed."""
    user = accounts.get_or_create_user(email)
    if user in event.organizers:
        raise DomainError(f"{user.email} is already an organizer.", field="email")
    event.organizers.append(user)
    audit.record(actor, event, "add organizer", f"user {user.email}")
    mail.queue(user.email, f"You are an organizer of {event.title}", "organizer_added", event=event, user=user)
    return user


def remove_organizer(actor: User, event: Event, user: User) -> None:
    """An organizer (or an admin) removes an organizer, themself included, but never the last one."""
    if user not in event.organizers:
        raise DomainError("That person is not an organizer of this event.")
    if not policy.can_remove_organizer(actor, event, user):
        raise DomainError("An event needs at least one organizer; add another first.")
    event.organizers.remove(user)
    audit.record(actor, event, "remove organizer", f"user {user.email}")
    policy.forget_memo()
