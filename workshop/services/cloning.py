"""Clone an event: next year's edition from last year's settings, rooms, slot grid and agreement.

Never its talks, materials, votes, sign-ups or answers: what people said or shared at one edition
does not travel to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from ..dates import local_naive, to_utc
from ..extensions import db
from ..models import Agreement, Candidate, CandidateStatus, CandidateTag, Event, EventStatus, Room, Slot, User
from . import audit, events
from .errors import DomainError

# People left out of the copied invite list: someone revoked was removed from the event on purpose.
NOT_CARRIED = (CandidateStatus.REVOKED,)


@dataclass
class CloneResult:
    event: Event
    rooms: int
    slots: int
    people: int


def clone_event(actor: User | None, source: Event, new_slug: str, starts_on: date, title: str = "",
                with_invites: bool = False) -> CloneResult:
    """A new draft event from ``source``: its settings (the public page off), organizers, rooms (and the rows
    of every other model marked ``CLONE_WITH_EVENT``, such as message texts), the slot grid moved to the new
    dates (at the same local times), and the current agreement text as version 1; with ``with_invites``, its
    invite list as "proposed" (names, affiliations, tags and notes; not the revoked). ``actor`` is None from
    the command line. Raises DomainError for a bad address or date.
    Who may: policy.can_clone_event (the caller checks)."""
    if starts_on is None:
        raise DomainError("Choose the first day of the new event.", field="starts_on")
    shift = starts_on - source.starts_on
    data = events.EventData(
        title=(title or source.title).strip(), slug=(new_slug or "").strip().lower(), description=source.description,
        kind=source.kind, venue=source.venue, timezone=source.timezone, starts_on=starts_on,
        ends_on=source.ends_on + shift, capacity=source.capacity, public_page=False)
    if not data.title:
        raise DomainError("Give the new event a title.", field="title")
    events.validate(data)
    event = Event(slug=data.slug, title=data.title[:200], description=data.description, kind=data.kind,
                  venue=data.venue, timezone=data.timezone, starts_on=data.starts_on, ends_on=data.ends_on,
                  capacity=data.capacity, public_page=False, status=EventStatus.DRAFT)
    event.organizers = list(source.organizers)
    db.session.add(event)
    db.session.flush()
    current = db.session.scalar(sa.select(Agreement).where(Agreement.event_id == source.id)
                                .order_by(Agreement.version.desc()).limit(1))
    db.session.add(Agreement(event_id=event.id, version=1, text=current.text if current else events.DEFAULT_AGREEMENT,
                             created_by_id=actor.id if actor else None))
    copied = _copy_settings_rows(source, event)
    slots = db.session.scalars(sa.select(Slot).where(Slot.event_id == source.id).order_by(Slot.starts_at)).all()
    db.session.add_all([Slot(event_id=event.id, starts_at=_moved(source, event, s.starts_at, shift),
                             ends_at=_moved(source, event, s.ends_at, shift), block=s.block, is_break=s.is_break)
                        for s in slots])
    people = _copy_invites(source, event) if with_invites else 0
    audit.record(actor, event, "clone event", f"event {event.slug}",
                 f"from {source.slug}: {copied.get(Room, 0)} rooms, {len(slots)} slots, {people} people proposed")
    audit.record(actor, source, "clone event", f"event {source.slug}", f"into {event.slug}")
    return CloneResult(event, copied.get(Room, 0), len(slots), people)


def _copy_settings_rows(source: Event, event: Event) -> dict[type, int]:
    """Copy the rows of every model marked ``CLONE_WITH_EVENT = True`` (an event's own settings, such as its
    rooms or the texts of its messages), column for column but for the id and the event. Returns how many
    rows of each model were copied."""
    counts: dict[type, int] = {}
    for mapper in sorted(db.Model.registry.mappers, key=lambda m: m.class_.__name__):
        model = mapper.class_
        if not getattr(model, "CLONE_WITH_EVENT", False) or "event_id" not in mapper.columns:
            continue
        names = [c.key for c in mapper.column_attrs if c.key not in ("id", "event_id")]
        rows = db.session.execute(sa.select(*(getattr(model, n) for n in names))
                                  .where(model.event_id == source.id).order_by(*mapper.primary_key)).all()
        if rows:
            db.session.execute(sa.insert(model), [{**dict(zip(names, row, strict=True)), "event_id": event.id}
                                                  for row in rows])
        counts[model] = len(rows)
    return counts


def _moved(source: Event, event: Event, moment, shift: timedelta):
    """The same wall-clock time ``shift`` days later, in the event's zone (so 09:00 stays 09:00 across a
    change of daylight saving time)."""
    return to_utc(event, local_naive(source, moment) + shift)


def _copy_invites(source: Event, event: Event) -> int:
    carried = sa.select(Candidate).where(Candidate.event_id == source.id, Candidate.status.not_in(NOT_CARRIED))
    candidates = db.session.scalars(carried.order_by(Candidate.id)).all()
    tags: dict[int, list[str]] = {}
    for candidate_id, tag in db.session.execute(sa.select(CandidateTag.candidate_id, CandidateTag.tag).where(
            CandidateTag.candidate_id.in_(carried.with_only_columns(Candidate.id))).order_by(CandidateTag.tag)):
        tags.setdefault(candidate_id, []).append(tag)
    for c in candidates:
        copy = Candidate(event_id=event.id, email=c.email, name=c.name, affiliation=c.affiliation, notes=c.notes,
                         status=CandidateStatus.PROPOSED)
        copy.tags = [CandidateTag(tag=t) for t in tags.get(c.id, [])]
        db.session.add(copy)
    return len(candidates)
