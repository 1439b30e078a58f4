"""Every access decision in Conclave.

Predicates are ``can_<verb>_<noun>(user, obj)`` and answer True or False; list
pages use their query twins (``<nouns>_visible_to``) so that the database only
returns what the person may see. Anything unknown denies. ``user`` may be an
anonymous Flask-Login user, ``None``, or a ``User``.

Who is who, for one event:
- admin: runs the instance and may manage every event;
- organizer: named on the event; manages it and nothing else;
- participant: a person whose invitation is linked to their account. Accepted
  participants who signed the current agreement are *attendees* and see the
  event's content; accepted ones who have not signed yet see only the landing
  page; waitlisted and declined people see the landing page; a revoked person
  sees nothing at all, as if the event did not exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, has_app_context

from .extensions import db
from .models import (
    Agreement,
    AgreementAcceptance,
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    User,
    event_organizers,
)

# Participants in these states may see the event's landing page.
LANDING_STATUSES = (CandidateStatus.ACCEPTED, CandidateStatus.WAITLISTED, CandidateStatus.DECLINED)
# Statuses in which invitations may be sent, answered and nominations made.
INVITING_STATUSES = (EventStatus.INVITING, EventStatus.OPEN, EventStatus.RUNNING)


def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def _memo(key, compute):
    """Cache a decision's database lookups for the rest of the request."""
    if not has_app_context():
        return compute()
    cache = g.setdefault("_policy_memo", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def forget_memo() -> None:
    """Drop cached lookups after a write that changes them (e.g. signing the agreement)."""
    if has_app_context():
        g.pop("_policy_memo", None)


# --- instance -----------------------------------------------------------------------------


def is_admin(user) -> bool:
    return _signed_in(user) and bool(user.is_admin)


def can_administer(user) -> bool:
    """Admins manage users and create events."""
    return is_admin(user)


def can_create_event(user) -> bool:
    return is_admin(user)


# --- events -------------------------------------------------------------------------------


def is_organizer(user, event: Event) -> bool:
    if not _signed_in(user):
        return False

    def compute():
        return (
            db.session.scalar(
                sa.select(sa.literal(1))
                .select_from(event_organizers)
                .where(event_organizers.c.event_id == event.id, event_organizers.c.user_id == user.id)
            )
            is not None
        )

    return _memo(("organizer", user.id, event.id), compute)


def can_manage_event(user, event: Event) -> bool:
    """Organizers of this event, and admins."""
    return is_admin(user) or is_organizer(user, event)


def can_manage_organizers(user, event: Event) -> bool:
    """Only admins name or remove an event's organizers."""
    return is_admin(user)


def participation(user, event: Event) -> Candidate | None:
    """The invite-list entry that links this user to the event, if any."""
    if not _signed_in(user):
        return None

    def compute():
        return db.session.scalar(
            sa.select(Candidate).where(Candidate.event_id == event.id, Candidate.user_id == user.id)
        )

    return _memo(("participation", user.id, event.id), compute)


def current_agreement(event: Event) -> Agreement | None:
    def compute():
        return db.session.scalar(
            sa.select(Agreement).where(Agreement.event_id == event.id).order_by(Agreement.version.desc()).limit(1)
        )

    return _memo(("agreement", event.id), compute)


def has_signed_current_agreement(user, event: Event) -> bool:
    if not _signed_in(user):
        return False
    agreement = current_agreement(event)
    if agreement is None:  # every event is created with one; without it, nothing opens
        return False

    def compute():
        return (
            db.session.scalar(
                sa.select(sa.literal(1)).where(
                    AgreementAcceptance.agreement_id == agreement.id, AgreementAcceptance.user_id == user.id
                )
            )
            is not None
        )

    return _memo(("signed", user.id, agreement.id), compute)


def _status(user, event: Event) -> CandidateStatus | None:
    entry = participation(user, event)
    return entry.status if entry is not None else None


def can_view_event(user, event: Event) -> bool:
    """May know the event exists and see its landing page (title, dates, their own standing)."""
    if can_manage_event(user, event):
        return True
    return _status(user, event) in LANDING_STATUSES


def can_view_public_page(user, event: Event) -> bool:
    """The optional public page: anyone, once the event has left draft."""
    return event.public_page and event.status != EventStatus.DRAFT


def is_attendee(user, event: Event) -> bool:
    """Accepted, and not revoked. Does not imply the agreement was signed."""
    return _status(user, event) == CandidateStatus.ACCEPTED


def must_sign_agreement(user, event: Event) -> bool:
    """An accepted participant who has not signed the current version yet."""
    return is_attendee(user, event) and not has_signed_current_agreement(user, event)


def can_sign_agreement(user, event: Event) -> bool:
    return is_attendee(user, event)


def can_view_agreement(user, event: Event) -> bool:
    return can_manage_event(user, event) or is_attendee(user, event)


def can_view_event_content(user, event: Event) -> bool:
    """Anything past the landing page: organizers, and attendees who signed the current agreement."""
    if can_manage_event(user, event):
        return True
    return is_attendee(user, event) and has_signed_current_agreement(user, event)


def can_nominate(user, event: Event) -> bool:
    """Attendees vouch for people while the event is taking invitations."""
    return (
        is_attendee(user, event)
        and has_signed_current_agreement(user, event)
        and event.status in INVITING_STATUSES
    )


def can_withdraw(user, event: Event) -> bool:
    """A participant gives up their seat or their waitlist place."""
    return _status(user, event) in (CandidateStatus.ACCEPTED, CandidateStatus.WAITLISTED)


def can_answer_invitations(event: Event) -> bool:
    return event.status in INVITING_STATUSES


def _events_where(user, condition) -> sa.Select:
    """Events, newest first: all for admins, none for anonymous users, else those ``condition(user)`` picks."""
    query = sa.select(Event).order_by(Event.starts_on.desc(), Event.id.desc())
    if is_admin(user):
        return query
    if not _signed_in(user):
        return query.where(sa.false())
    return query.where(condition(user))


def _organizes(user):
    return Event.id.in_(sa.select(event_organizers.c.event_id).where(event_organizers.c.user_id == user.id))


def _participates(user):
    return Event.id.in_(sa.select(Candidate.event_id).where(
        Candidate.user_id == user.id, Candidate.status.in_(LANDING_STATUSES)))


def events_visible_to(user) -> sa.Select:
    """Twin of can_view_event: all for admins, their own for organizers and participants."""
    return _events_where(user, lambda u: sa.or_(_organizes(u), _participates(u)))


def managed_events(user) -> sa.Select:
    """Twin of can_manage_event."""
    return _events_where(user, _organizes)


# --- the invite list ----------------------------------------------------------------------


def can_manage_invites(user, event: Event) -> bool:
    """Organizers curate the list; an event in the archive is read-only."""
    return can_manage_event(user, event) and event.status != EventStatus.ARCHIVED


def can_view_invites(user, event: Event) -> bool:
    return can_manage_event(user, event)


def candidates_visible_to(user, event: Event) -> sa.Select:
    query = sa.select(Candidate).where(Candidate.event_id == event.id)
    if not can_view_invites(user, event):
        return query.where(sa.false())
    return query


def attendees_visible_to(user, event: Event) -> sa.Select:
    """The attendee directory: accepted people, for those who may see the event's content."""
    query = sa.select(Candidate).where(
        Candidate.event_id == event.id, Candidate.status == CandidateStatus.ACCEPTED
    )
    if not can_view_event_content(user, event):
        return query.where(sa.false())
    return query.order_by(Candidate.name, Candidate.email)


def can_view_audit(user, event: Event) -> bool:
    return can_manage_event(user, event)


def can_export_event(user) -> bool:
    return is_admin(user)


def user_may_sign_in(user: User | None) -> bool:
    return user is not None and not user.is_disabled
