"""The schedule as other programs read it: JSON (the schema below), frab's schedule.xml, and CSV for organizers.

Every export is built from ``services.schedule.published``, the one reader of the latest release, so each
shows a session exactly as far as its reader may see it: the public exports carry the public talks only; a
personal export (at the person's secret feed address) carries every released session they may see, a closed
session as a placeholder with its time and room, and nothing where a session they are excluded from is.

What leaves for another program follows the calendar's rule (policy.feed_carries_details): titles, times and
rooms always; the abstracts and speakers of talks that are not public only when the person asked for them
on their feed. A session's length is read from the session (``Session.ends_at``), never from one slot, so a
talk placed over several slots exports with its real duration.

The JSON schema is the pydantic models below (``ScheduleExport``): the API's OpenAPI document publishes it.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime
from typing import Literal
from xml.etree import ElementTree

import sqlalchemy as sa
from flask import current_app
from pydantic import BaseModel, ConfigDict, Field

from .. import policy
from ..dates import datefmt, local
from ..extensions import db
from ..models import Attendance, Event, SignUp, SignUpStatus, utcnow
from ..text import csv_safe
from .schedule import Published, Session, published

SCHEMA_ID = "conclave.schedule/1"
CLOSED_SESSION = "Closed session"
GENERATOR = "Conclave"
# A stable namespace for the sessions' UUIDs (frab's guid): the same session has the same guid in every
# export, for every reader, and across moves.
GUID_NAMESPACE = uuid.UUID("8f0f7c1e-4d53-5b5e-9a43-2f1c8c7e6a10")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExportEvent(Strict):
    slug: str
    title: str
    timezone: str = Field(description="IANA time zone in which the event takes place, e.g. Europe/Berlin.")
    starts_on: date
    ends_on: date
    url: str = Field(description="The event's page: its public page in a public export.")


class ExportRelease(Strict):
    number: int = Field(ge=1, description="Releases are numbered 1, 2, … as the organizers publish them.")
    published_at: datetime = Field(description="When it was published (in UTC).")


class ExportRoom(Strict):
    name: str
    capacity: int = Field(ge=1)


class ExportSession(Strict):
    guid: str = Field(description="A UUID that names the session in every export and calendar, for every reader.")
    id: str | None = Field(description="The talk's id in Conclave; null for a closed session.")
    closed: bool = Field(description="A session the reader may not see: only its room and time are given.")
    title: str = Field(description='The talk\'s title, or "Closed session".')
    kind: str | None = Field(description="talk, discussion, demo or lightning; null for a closed session.")
    tier: str | None = Field(description="Who may see the talk (public, attendees, session, restricted), in "
                             "force now; null for a closed session.")
    abstract: str | None = Field(description="Only for public talks, or in a personal export whose owner asked "
                                 "for the details of talks that are not public.")
    speakers: list[str] = Field(description="Names; given under the same rule as the abstract.")
    room: str
    day: date = Field(description="The day in the event's time zone.")
    starts_at: datetime = Field(description="With the event's UTC offset on that day.")
    ends_at: datetime
    duration_minutes: int = Field(ge=0)
    url: str | None = Field(description="The talk's page; null for a closed session.")
    chatham_house: bool = False
    no_recording: bool = False
    my_signup: Literal["confirmed", "waitlisted"] | None = Field(
        default=None, description="In a personal export: the reader's seat or waitlist place.")


class ScheduleExport(Strict):
    schema_id: Literal["conclave.schedule/1"] = Field(alias="schema", serialization_alias="schema")
    scope: Literal["public", "personal"]
    generated_at: datetime
    event: ExportEvent
    release: ExportRelease | None = Field(description="The latest release; null before the first one.")
    rooms: list[ExportRoom]
    sessions: list[ExportSession] = Field(description="In time order, then by room.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


# --- building the export ------------------------------------------------------------------------


def session_guid(key: str) -> uuid.UUID:
    """Derived from the talk's public id rather than equal to it, so a closed session names no talk."""
    return uuid.uuid5(GUID_NAMESPACE, f"conclave-session:{key}")


def frab_id(guid: uuid.UUID) -> int:
    """frab wants a positive whole number per session: the same hash, in 31 bits."""
    return int(guid.hex[:8], 16) % (2**31 - 1) + 1


def _base() -> str:
    return current_app.config["BASE_URL"]


def _session(event: Event, session: Session, public: bool, details: bool, now: datetime) -> ExportSession:
    starts, ends = local(event, session.starts_at), local(event, session.ends_at)
    common = dict(guid=str(session_guid(session.key)), room=session.room.name, day=starts.date(),
                  starts_at=starts, ends_at=ends,
                  duration_minutes=int((session.ends_at - session.starts_at).total_seconds() // 60))
    proposal = session.proposal
    if proposal is None:
        return ExportSession(id=None, closed=True, title=CLOSED_SESSION, kind=None, tier=None, abstract=None,
                             speakers=[], url=None, **common)
    shown = policy.feed_carries_details(proposal, details, now)
    url = f"{_base()}/e/{event.slug}/public" if public else f"{_base()}/e/{event.slug}/proposals/{proposal.public_id}"
    return ExportSession(
        id=proposal.public_id, closed=False, title=proposal.title, kind=proposal.kind.value,
        tier=proposal.effective_tier(now).value, abstract=proposal.abstract if shown else None,
        speakers=[s.display_name for s in session.speakers] if shown else [], url=url,
        chatham_house=proposal.chatham_house, no_recording=proposal.no_recording,
        my_signup=session.signed_up.value if session.signed_up else None, **common)


def _export(event: Event, release: Published, public: bool, details: bool, now: datetime) -> ScheduleExport:
    used = {s.room.id for s in release.sessions}
    info = release.release
    return ScheduleExport(
        schema=SCHEMA_ID, scope="public" if public else "personal",
        generated_at=now.replace(microsecond=0, tzinfo=UTC),
        event=ExportEvent(slug=event.slug, title=event.title, timezone=event.timezone, starts_on=event.starts_on,
                          ends_on=event.ends_on,
                          url=f"{_base()}/e/{event.slug}/public" if public else f"{_base()}/e/{event.slug}/"),
        release=ExportRelease(number=info.number, published_at=info.created_at.replace(microsecond=0, tzinfo=UTC))
        if info else None,
        rooms=[ExportRoom(name=r.name, capacity=r.capacity) for r in release.rooms if r.id in used],
        sessions=[_session(event, s, public, details, now) for s in release.sessions])


def public_schedule(event: Event, now: datetime | None = None) -> ScheduleExport:
    """The public talks of the latest release, for anyone while the event's public page is on.

    Raises LookupError when the public page is off (policy.can_view_public_page).
    """
    if not policy.can_view_public_page(None, event):
        raise LookupError("This event has no public schedule.")
    now = now or utcnow()
    return _export(event, published(None, event, now, public_only=True), True, False, now)


def personal_schedule(user, event: Event, details: bool = False, now: datetime | None = None) -> ScheduleExport:
    """Every released session as ``user`` may see it (closed ones as placeholders; none they are excluded
    from), with their sign-ups. ``details``: the owner asked for the abstracts of talks that are not public.

    Raises LookupError for anyone who may not see the schedule (policy.can_subscribe_calendar).
    """
    if not policy.can_subscribe_calendar(user, event):
        raise LookupError("This schedule is closed.")
    now = now or utcnow()
    return _export(event, published(user, event, now), False, details, now)


# --- frab's schedule.xml ------------------------------------------------------------------------


# Characters XML 1.0 cannot hold at all, even escaped: a title that carries one would make the whole file
# unreadable to every app.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    return NOT_XML.sub("", value)


def _hours(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def frab_xml(export: ScheduleExport) -> bytes:
    """The export as frab's schedule.xml (the format conference apps read): days, rooms in each day, and
    the sessions in each room, with frab's required elements."""
    root = ElementTree.Element("schedule")
    ElementTree.SubElement(root, "generator", name=GENERATOR, version="1")
    ElementTree.SubElement(root, "version").text = (f"release {export.release.number}" if export.release
                                                    else "unpublished")
    conference = ElementTree.SubElement(root, "conference")
    event = export.event
    for name, value in (("title", event.title), ("acronym", event.slug), ("start", event.starts_on.isoformat()),
                        ("end", event.ends_on.isoformat()), ("days", str((event.ends_on - event.starts_on).days + 1)),
                        ("base_url", f"{_base()}/"), ("time_zone_name", event.timezone)):
        ElementTree.SubElement(conference, name).text = _text(value)
    days: dict[date, list[ExportSession]] = {}
    for session in export.sessions:
        days.setdefault(session.day, []).append(session)
    if not days:  # frab needs at least one day: the event's first, empty
        days[event.starts_on] = []
    room_order = {room.name: index for index, room in enumerate(export.rooms)}
    for index, (day, sessions) in enumerate(sorted(days.items()), start=1):
        element = ElementTree.SubElement(root, "day", index=str(index), date=day.isoformat())
        if sessions:
            element.set("start", min(s.starts_at for s in sessions).isoformat())
            element.set("end", max(s.ends_at for s in sessions).isoformat())
        by_room: dict[str, list[ExportSession]] = {}
        for session in sessions:
            by_room.setdefault(session.room, []).append(session)
        for room in sorted(by_room, key=lambda name: room_order.get(name, len(room_order))):
            room_element = ElementTree.SubElement(element, "room", name=_text(room))
            for session in by_room[room]:
                _frab_event(room_element, event.slug, session)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def _frab_event(parent: ElementTree.Element, event_slug: str, session: ExportSession) -> None:
    guid = uuid.UUID(session.guid)
    item = ElementTree.SubElement(parent, "event", id=str(frab_id(guid)), guid=session.guid)
    for name, value in (
            ("room", session.room), ("title", session.title), ("subtitle", ""),
            ("type", session.kind or "closed"), ("date", session.starts_at.isoformat()),
            ("start", datefmt(session.starts_at, "time")), ("duration", _hours(session.duration_minutes)),
            ("abstract", session.abstract or ""), ("slug", f"{event_slug}-{guid.hex[:12]}"),
            ("track", session.tier or "")):
        ElementTree.SubElement(item, name).text = _text(value)
    persons = ElementTree.SubElement(item, "persons")
    for speaker in session.speakers:
        ElementTree.SubElement(persons, "person").text = _text(speaker)
    if session.no_recording:
        recording = ElementTree.SubElement(item, "recording")
        ElementTree.SubElement(recording, "license").text = ""
        ElementTree.SubElement(recording, "optout").text = "true"
    if session.url:
        ElementTree.SubElement(item, "url").text = session.url


# --- the organizers' CSV ------------------------------------------------------------------------


CSV_COLUMNS = ["day", "starts", "ends", "minutes", "room", "capacity", "title", "kind", "tier", "speakers",
               "seats taken", "waitlist", "checked in", "chatham house", "no recording", "id"]


def schedule_csv(user, event: Event, now: datetime | None = None) -> str:
    """The latest release for the organizers, formula-safe: one row per session with its seats, waitlist and
    check-ins, times in the event's time zone. Organizers only (policy.can_export_schedule); a session an
    organizer is excluded from is not in their copy. Raises LookupError for anyone else."""
    if not policy.can_export_schedule(user, event):
        raise LookupError("Only organizers export the schedule.")
    now = now or utcnow()
    release = published(user, event, now)
    ids = [s.proposal.id for s in release.sessions if s.proposal is not None]
    seats: dict[tuple[int, SignUpStatus], int] = {
        (pid, status): count for pid, status, count in db.session.execute(
            sa.select(SignUp.proposal_id, SignUp.status, sa.func.count()).where(SignUp.proposal_id.in_(ids))
            .group_by(SignUp.proposal_id, SignUp.status))}
    checked_in = dict(db.session.execute(sa.select(Attendance.proposal_id, sa.func.count())
                                         .where(Attendance.proposal_id.in_(ids)).group_by(Attendance.proposal_id)).all())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for s in release.sessions:
        starts, ends = local(event, s.starts_at), local(event, s.ends_at)
        p = s.proposal
        common = [starts.date().isoformat(), datefmt(starts, "time"), datefmt(ends, "time"),
                  int((s.ends_at - s.starts_at).total_seconds() // 60), s.room.name, s.room.capacity]
        if p is None:
            row = common + [CLOSED_SESSION] + [""] * (len(CSV_COLUMNS) - len(common) - 1)
        else:
            row = common + [p.title, p.kind.value, p.effective_tier(now).value,
                            "; ".join(u.display_name for u in s.speakers),
                            seats.get((p.id, SignUpStatus.CONFIRMED), 0), seats.get((p.id, SignUpStatus.WAITLISTED), 0),
                            checked_in.get(p.id, 0), "yes" if p.chatham_house else "", "yes" if p.no_recording else "",
                            p.public_id]
        writer.writerow([csv_safe(v) for v in row])
    return out.getvalue()
