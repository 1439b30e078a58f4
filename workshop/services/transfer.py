"""Export an event to JSON and import it back, for moving it between instances or restoring it.

The file holds the event's fields, organizers, every agreement version and signature, the invite
list (with tags, notes, vouches and timestamps), the invite waves, the event's audit trail,
(since version 2) its proposals: speakers, named lists, exclusions, tier history, votes, attendance,
accepted extra terms, and each material's record and access log, and (since version 3) its whole
schedule: rooms, slots and breaks, speakers' unavailability, the working schedule (placements with
their spans and pins), every published release, and the sign-ups with their waitlists, and (since
version 4) the event's own wording of the messages it sends (invitation, reminder...). A material's
bytes are not in the file: they stay in storage under the recorded key, so copy the materials folder
(or bucket) along.
People are referred to by email, so that an import can match them to the accounts of the receiving
instance (or create them) regardless of database ids; likewise sessions by their public id, rooms by
name and slots by their start time. Release entries that point at a room or slot deleted since (older
releases only: the latest one keeps its rooms and slots) are left out, as every reader skips them.

Secrets are deliberately left out: invitation token hashes, sign-in tokens and calendar feed secrets
are not exported, so no emailed link or feed address survives a move. Invited people who have not
answered yet need a reminder (a fresh link) from the new instance. Passwords, admin rights and
disabled flags are not exported either: an import must never grant or change the rights of an account
on the receiving instance.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import available_timezones

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import (
    Agreement,
    AgreementAcceptance,
    AttendanceSource,
    AuditEntry,
    Candidate,
    CandidateStatus,
    CandidateTag,
    Event,
    EventKind,
    EventStatus,
    InviteWave,
    Material,
    MaterialAccess,
    MaterialState,
    MessageText,
    PageView,
    Placement,
    Proposal,
    ProposalAccess,
    ProposalExclusion,
    ProposalKind,
    ProposalSpeaker,
    ProposalStatus,
    Room,
    ScheduleRelease,
    SignUp,
    SignUpStatus,
    Slot,
    TermsAcceptance,
    Tier,
    TierChange,
    Unavailability,
    User,
    Vote,
    Vouch,
    WaveKind,
    utcnow,
)
from ..models.proposals import Attendance
from . import accounts, texts
from .errors import DomainError
from .events import SLUG_RE
from .schedule import MAX_SPAN

FORMAT = "conclave-event"
VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)  # version 1 files have no proposals, version 2 no schedule, version 3 no texts
REQUIRED_KEYS = ("event", "users", "organizers", "agreements", "acceptances", "candidates", "invite_waves", "audit")


# --- export -------------------------------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    """Columns hold naive UTC; the file says so explicitly, so no reader has to guess the zone."""
    return value.replace(tzinfo=UTC).isoformat() if value is not None else None


def _email(user: User | None) -> str | None:
    return user.email if user is not None else None


def export_event(slug: str) -> dict[str, Any]:
    """Everything about one event as JSON-ready data. Raises LookupError for an unknown slug.

    Invitation token hashes and sign-in tokens are never included: links must not survive a move.
    """
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug).options(selectinload(Event.organizers)))
    if event is None:
        raise LookupError(f"There is no event with the address “{slug}”.")

    agreements = db.session.scalars(
        sa.select(Agreement).where(Agreement.event_id == event.id).options(selectinload(Agreement.created_by))
        .order_by(Agreement.version)
    ).all()
    acceptances = db.session.execute(
        sa.select(AgreementAcceptance, Agreement.version, User)
        .join(Agreement, AgreementAcceptance.agreement_id == Agreement.id)
        .join(User, AgreementAcceptance.user_id == User.id)
        .where(Agreement.event_id == event.id)
        .order_by(Agreement.version, AgreementAcceptance.accepted_at, User.email)
    ).all()
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.event_id == event.id)
        .options(selectinload(Candidate.tags), selectinload(Candidate.user),
                 selectinload(Candidate.vouches).selectinload(Vouch.user))
        .order_by(Candidate.email)
    ).all()
    waves = db.session.execute(
        sa.select(InviteWave, User).outerjoin(User, InviteWave.sent_by_id == User.id)
        .where(InviteWave.event_id == event.id).order_by(InviteWave.created_at, InviteWave.id)
    ).all()
    audit = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.event_id == event.id).options(selectinload(AuditEntry.actor))
        .order_by(AuditEntry.created_at, AuditEntry.id)
    ).all()

    # Every account the file mentions, with its name, so an import can create the ones it lacks.
    people: dict[str, str] = {}

    def person(user: User | None) -> str | None:
        if user is not None:
            people[user.email] = user.name
        return _email(user)

    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _when(utcnow()),
        "event": {
            "slug": event.slug,
            "title": event.title,
            "description": event.description,
            "kind": event.kind.value,
            "venue": event.venue,
            "timezone": event.timezone,
            "starts_on": event.starts_on.isoformat(),
            "ends_on": event.ends_on.isoformat(),
            "capacity": event.capacity,
            "status": event.status.value,
            "public_page": event.public_page,
            "created_at": _when(event.created_at),
        },
        "organizers": [{"email": person(u), "name": u.name} for u in event.organizers],
        "agreements": [
            {"version": a.version, "text": a.text, "created_at": _when(a.created_at),
             "created_by": person(a.created_by)}
            for a in agreements
        ],
        "acceptances": [
            {"user": person(user), "version": version, "typed_name": acc.typed_name,
             "accepted_at": _when(acc.accepted_at), "ip": acc.ip}
            for acc, version, user in acceptances
        ],
        "candidates": [
            {
                "email": c.email,
                "name": c.name,
                "affiliation": c.affiliation,
                "status": c.status.value,
                "notes": c.notes,
                "tags": c.tag_names,
                "user": person(c.user),
                "created_at": _when(c.created_at),
                "invited_at": _when(c.invited_at),
                "invite_expires_at": _when(c.invite_expires_at),
                "reminded_at": _when(c.reminded_at),
                "responded_at": _when(c.responded_at),
                "waitlisted_at": _when(c.waitlisted_at),
                "vouches": [
                    {"voucher": person(v.user), "note": v.note, "created_at": _when(v.created_at)} for v in c.vouches
                ],
            }
            for c in candidates
        ],
        "invite_waves": [
            {"kind": w.kind, "size": w.size, "sent_by": person(sender), "created_at": _when(w.created_at)}
            for w, sender in waves
        ],
        "audit": [
            {"actor": person(e.actor), "action": e.action, "target": e.target, "detail": e.detail,
             "created_at": _when(e.created_at)}
            for e in audit
        ],
    }
    data["proposals"] = _export_proposals(event, person)
    data["schedule"] = _export_schedule(event, person)
    data["texts"] = [
        {"kind": t.kind, "subject": t.subject, "body": t.body, "updated_at": _when(t.updated_at),
         "updated_by": person(t.updated_by)}
        for t in db.session.scalars(sa.select(MessageText).where(MessageText.event_id == event.id)
                                    .options(selectinload(MessageText.updated_by)).order_by(MessageText.kind))
    ]
    data["users"] = [{"email": email, "name": people[email]} for email in sorted(people)]
    return data


def _export_schedule(event: Event, person) -> dict[str, Any]:
    """Rooms, slots, unavailability, placements, releases and sign-ups, in a constant number of queries.
    Rooms are named, slots are their start, sessions their proposal's public id."""
    rooms = db.session.scalars(sa.select(Room).where(Room.event_id == event.id).order_by(Room.position, Room.id)).all()
    slots = db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id).order_by(Slot.starts_at)).all()
    keys = dict(db.session.execute(sa.select(Proposal.id, Proposal.public_id)
                                   .where(Proposal.event_id == event.id)).all())
    room_name = {r.id: r.name for r in rooms}
    slot_start = {s.id: _when(s.starts_at) for s in slots}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(sa.union(
        sa.select(Unavailability.user_id).where(Unavailability.slot_id.in_([s.id for s in slots])),
        sa.select(SignUp.user_id).where(SignUp.proposal_id.in_(list(keys))),
        sa.select(ScheduleRelease.created_by_id).where(ScheduleRelease.event_id == event.id)))))}

    def who(user_id: int | None) -> str | None:
        return person(users.get(user_id)) if user_id is not None else None

    unavailable = db.session.execute(sa.select(Unavailability.user_id, Unavailability.slot_id).where(
        Unavailability.slot_id.in_([s.id for s in slots]))).all()
    placements = db.session.scalars(sa.select(Placement).where(Placement.event_id == event.id)
                                    .order_by(Placement.id)).all()
    releases = db.session.scalars(sa.select(ScheduleRelease).where(ScheduleRelease.event_id == event.id)
                                  .order_by(ScheduleRelease.number)).all()
    signed = db.session.scalars(sa.select(SignUp).where(SignUp.proposal_id.in_(list(keys)))
                                .order_by(SignUp.created_at, SignUp.proposal_id, SignUp.user_id)).all()

    def entry(e: dict) -> dict | None:
        refs = (keys.get(e["proposal"]), room_name.get(e["room"]), slot_start.get(e["slot"]))
        if None in refs or ("end_slot" in e and e["end_slot"] not in slot_start):
            return None
        out = {"proposal": refs[0], "room": refs[1], "slot": refs[2], "sequence": e.get("sequence", 0)}
        if "end_slot" in e:  # releases from before spans have none, and keep none
            out["end_slot"] = slot_start[e["end_slot"]]
        return out

    return {
        "rooms": [{"name": r.name, "capacity": r.capacity, "closed_door": r.closed_door, "position": r.position}
                  for r in rooms],
        "slots": [{"starts_at": _when(s.starts_at), "ends_at": _when(s.ends_at), "block": s.block,
                   "is_break": s.is_break} for s in slots],
        "unavailability": sorted(({"user": who(user_id), "slot": slot_start[slot_id]}
                                  for user_id, slot_id in unavailable), key=lambda u: (u["slot"], u["user"])),
        "placements": [{"proposal": keys[p.proposal_id], "room": room_name[p.room_id], "slot": slot_start[p.slot_id],
                        "span": p.span, "pinned": p.pinned, "sequence": p.sequence,
                        "updated_at": _when(p.updated_at)} for p in placements],
        "releases": [{"number": r.number, "created_by": who(r.created_by_id), "created_at": _when(r.created_at),
                      "entries": [e for e in map(entry, r.entries) if e is not None]} for r in releases],
        "signups": [{"proposal": keys[s.proposal_id], "user": who(s.user_id), "status": s.status.value,
                     "created_at": _when(s.created_at)} for s in signed],
    }


def _export_proposals(event: Event, person) -> list[dict[str, Any]]:
    """The event's proposals with everything hanging off them, in a constant number of queries."""
    proposals = db.session.scalars(sa.select(Proposal).where(Proposal.event_id == event.id)
                                   .order_by(Proposal.created_at, Proposal.id)).all()
    ids = [p.id for p in proposals]
    users = {u.id: u for u in db.session.scalars(sa.select(User))} if ids else {}

    def grouped(model, order, *where):
        rows: dict[int, list] = {i: [] for i in ids}
        for row in db.session.scalars(sa.select(model).where(model.proposal_id.in_(ids), *where).order_by(*order)):
            rows[row.proposal_id].append(row)
        return rows

    speakers = grouped(ProposalSpeaker, [ProposalSpeaker.id])
    named = grouped(ProposalAccess, [ProposalAccess.user_id])
    exclusions = grouped(ProposalExclusion, [ProposalExclusion.id])
    changes = grouped(TierChange, [TierChange.id])
    votes = grouped(Vote, [Vote.created_at, Vote.user_id])
    attendance = grouped(Attendance, [Attendance.created_at, Attendance.user_id])
    terms = grouped(TermsAcceptance, [TermsAcceptance.accepted_at, TermsAcceptance.user_id])
    materials = grouped(Material, [Material.created_at, Material.id])
    accesses: dict[int, list[MaterialAccess]] = {}
    material_ids = [m.id for rows in materials.values() for m in rows]
    for access in db.session.scalars(sa.select(MaterialAccess).where(MaterialAccess.material_id.in_(material_ids))
                                     .order_by(MaterialAccess.id)):
        accesses.setdefault(access.material_id, []).append(access)
    page_views = {view.access_id: view for view in db.session.scalars(
        sa.select(PageView).where(PageView.material_id.in_(material_ids)))}

    def who(user_id: int | None) -> str | None:
        return person(users.get(user_id)) if user_id is not None else None

    return [{
        "public_id": p.public_id, "title": p.title, "abstract": p.abstract, "kind": p.kind.value,
        "duration_minutes": p.duration_minutes, "tier": p.tier.value,
        "release_tier": p.release_tier.value if p.release_tier else None, "release_at": _when(p.release_at),
        "chatham_house": p.chatham_house, "no_recording": p.no_recording, "extra_terms": p.extra_terms,
        "only_stamped": p.only_stamped, "status": p.status.value, "decision_note": p.decision_note,
        "created_by": who(p.created_by_id),
        "created_at": _when(p.created_at),
        "speakers": [{"user": who(s.user_id), "is_lead": s.is_lead, "confirmed": s.confirmed} for s in speakers[p.id]],
        "named": [who(a.user_id) for a in named[p.id]],
        "exclusions": [{"user": who(x.user_id), "domain": x.domain} for x in exclusions[p.id]],
        "tier_changes": [{"actor": who(c.actor_id), "from": c.from_tier.value, "to": c.to_tier.value,
                          "effective_at": _when(c.effective_at), "created_at": _when(c.created_at)}
                         for c in changes[p.id]],
        "votes": [{"user": who(v.user_id), "created_at": _when(v.created_at)} for v in votes[p.id]],
        "attendance": [{"user": who(a.user_id), "source": a.source, "recorded_by": who(a.recorded_by_id),
                        "created_at": _when(a.created_at)} for a in attendance[p.id]],
        "terms_acceptances": [{"user": who(t.user_id), "terms_hash": t.terms_hash,
                               "accepted_at": _when(t.accepted_at), "ip": t.ip} for t in terms[p.id]],
        "materials": [{
            "public_id": m.public_id, "filename": m.filename, "content_type": m.content_type, "size": m.size,
            "sha256": m.sha256, "storage_key": m.storage_key, "uploaded_by": who(m.uploaded_by_id),
            "created_at": _when(m.created_at), "state": m.state.value, "refusal": m.refusal, "removed": m.removed,
            "pages": m.pages, "expires_at": _when(m.expires_at), "view_only": m.view_only,
            "reader_pages": m.reader_pages,
            "accesses": [{"download_id": a.download_id, "user": who(a.user_id), "allowed": a.allowed,
                          "reason": a.reason, "ip": a.ip, "created_at": _when(a.created_at),
                          **_page_view(page_views.get(a.id))}
                         for a in accesses.get(m.id, [])],
        } for m in materials[p.id]],
    } for p in proposals]


def _page_view(view: PageView | None) -> dict:
    """The page a reader was shown by an access of a view-only material, and its time in view."""
    return {"page": view.page, "seconds": view.seconds} if view is not None else {}


# --- import: read and check the whole file before writing anything ------------------------------


# --- import: the file's schema, checked whole before a single row is written --------------------
#
# Every part of the file is a pydantic model below. Values are strict where JSON is unambiguous (a
# whole number is a number, not "5"; true is not 1); texts are limited to their columns' widths; every
# email address is normalized as accounts do, and noted, so that the import can match or create the
# people it names. A problem is reported with its place in the file: "candidates[1].status should be
# one of proposed, approved, …".


def _problem(template: str, **values) -> PydanticCustomError:
    """A problem with a value, read after its place: "event.slug should be …"."""
    return PydanticCustomError("conclave", template, values)


def _part_problem(template: str, **values) -> PydanticCustomError:
    """A problem with a part as a whole, read after its place and a colon: "event: the end date …"."""
    return PydanticCustomError("conclave_part", template, values)


def _checked_email(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise _problem("should be an email address")
    try:
        email = accounts.normalize_email(value)
    except DomainError as error:
        raise _part_problem("{reason}", reason=error.message) from error
    if info.context is not None:
        info.context.setdefault(email, "")  # every person the file mentions, for the import to match or create
    return email


def _checked_optional_email(value: Any, info: ValidationInfo) -> str | None:
    return None if value is None else _checked_email(value, info)


def _moment(value: Any) -> datetime:
    """An ISO 8601 time, stored as naive UTC like every timestamp column; no zone means UTC."""
    if not isinstance(value, str):
        raise _problem("should be an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise _problem("should be an ISO 8601 time, not “{value}”", value=value[:40]) from error
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo is not None else parsed


def _day(value: Any) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _problem("should be a date such as 2025-06-30")


def _tags(value: Any) -> list[str]:
    limit = CandidateTag.__table__.c.tag.type.length
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= limit for v in value):
        raise _problem("should be a list of texts of up to {limit} characters", limit=limit)
    return list(dict.fromkeys(value))


Email = Annotated[str, PlainValidator(_checked_email)]
OptionalEmail = Annotated[str | None, PlainValidator(_checked_optional_email)]
Moment = Annotated[datetime, PlainValidator(_moment)]
OptionalMoment = Annotated[datetime | None, PlainValidator(lambda value: None if value is None else _moment(value))]
Day = Annotated[date, PlainValidator(_day)]
Tags = Annotated[list[str], PlainValidator(_tags)]


def Text(column: sa.Column | None = None):  # noqa: N802 - reads as a type in the models below
    """Text, no longer than ``column`` holds."""
    length = getattr(column.type, "length", None) if column is not None else None
    return Annotated[str, Field(max_length=length)] if length else str


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


E, U, AA, C, P, M = (model.__table__.c for model in (Event, User, AgreementAcceptance, Candidate, Proposal, Material))


class EventPart(_Part):
    slug: Text(E.slug)
    title: Text(E.title)
    description: str
    kind: EventKind
    venue: Text(E.venue)
    timezone: Text(E.timezone)
    starts_on: Day
    ends_on: Day
    capacity: StrictInt
    status: EventStatus
    public_page: StrictBool
    created_at: Moment

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise _problem("should be 1–60 lower-case letters, digits and hyphens")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise _problem("“{value}” is not a known time zone", value=value)
        return value

    @model_validator(mode="after")
    def _dates(self):
        if self.ends_on < self.starts_on or self.capacity < 1:
            raise _part_problem("the end date is before the start, or the capacity is below 1")
        return self


class Person(_Part):
    email: Email
    name: Text(U.name) = ""


class AgreementPart(_Part):
    version: StrictInt
    text: str
    created_at: Moment
    created_by: OptionalEmail


class AcceptancePart(_Part):
    version: StrictInt
    user: Email
    typed_name: Text(AA.typed_name)
    accepted_at: Moment
    ip: Text(AA.ip)


class VouchPart(_Part):
    voucher: Email
    note: str
    created_at: Moment


class CandidatePart(_Part):
    email: Email
    name: Text(C.name)
    affiliation: Text(C.affiliation)
    status: CandidateStatus
    notes: str
    tags: Tags
    user: OptionalEmail
    created_at: Moment
    invited_at: OptionalMoment
    invite_expires_at: OptionalMoment
    reminded_at: OptionalMoment
    responded_at: OptionalMoment
    waitlisted_at: OptionalMoment
    vouches: list[VouchPart]


class WavePart(_Part):
    kind: WaveKind
    size: StrictInt
    sent_by: OptionalEmail
    created_at: Moment


class AuditPart(_Part):
    actor: OptionalEmail
    action: Text(AuditEntry.__table__.c.action)
    target: Text(AuditEntry.__table__.c.target_key)
    detail: str
    created_at: Moment


class SpeakerPart(_Part):
    user: Email
    is_lead: StrictBool
    confirmed: StrictBool


class ExclusionPart(_Part):
    user: OptionalEmail
    domain: str | None = None

    @model_validator(mode="after")
    def _one_target(self):
        if (self.user is None) == (self.domain is None):
            raise _problem("should name exactly one person or one domain")
        return self


class TierChangePart(_Part):
    actor: OptionalEmail
    from_tier: Tier = Field(alias="from")
    to_tier: Tier = Field(alias="to")
    effective_at: OptionalMoment
    created_at: Moment


class VotePart(_Part):
    user: Email
    created_at: Moment


class AttendancePart(_Part):
    user: Email
    source: AttendanceSource
    recorded_by: OptionalEmail
    created_at: Moment


class TermsPart(_Part):
    user: Email
    terms_hash: str
    accepted_at: Moment
    ip: str


class AccessPart(_Part):
    download_id: str
    user: OptionalEmail
    allowed: StrictBool
    reason: str
    ip: str
    created_at: Moment
    page: StrictInt | None = Field(default=None, ge=1)  # a page shown in the reader of a view-only material
    seconds: StrictInt = Field(default=0, ge=0)


class MaterialPart(_Part):
    public_id: Text(M.public_id)
    filename: Text(M.filename)
    content_type: Text(M.content_type)
    size: StrictInt
    sha256: Text(M.sha256)
    storage_key: Text(M.storage_key)
    uploaded_by: OptionalEmail
    created_at: Moment
    # Files written before uploads were prepared in the worker hold none of these: ready, open for good.
    state: MaterialState = MaterialState.READY
    refusal: str = ""
    removed: str = ""
    pages: StrictInt | None = None
    expires_at: OptionalMoment = None
    view_only: StrictBool = False
    reader_pages: StrictInt | None = Field(default=None, ge=1)
    accesses: list[AccessPart]


class ProposalPart(_Part):
    public_id: Text(P.public_id)
    title: Text(P.title)
    abstract: str
    kind: ProposalKind
    duration_minutes: StrictInt
    tier: Tier
    release_tier: Tier | None = None
    release_at: OptionalMoment
    chatham_house: StrictBool
    no_recording: StrictBool
    extra_terms: str
    only_stamped: StrictBool = False
    status: ProposalStatus
    decision_note: str
    created_by: OptionalEmail
    created_at: Moment
    speakers: list[SpeakerPart]
    named: list[Email]
    exclusions: list[ExclusionPart]
    tier_changes: list[TierChangePart]
    votes: list[VotePart]
    attendance: list[AttendancePart]
    terms_acceptances: list[TermsPart]
    materials: list[MaterialPart]


R, SL = Room.__table__.c, Slot.__table__.c


class RoomPart(_Part):
    name: Text(R.name)
    capacity: StrictInt
    closed_door: StrictBool
    position: StrictInt


class SlotPart(_Part):
    starts_at: Moment
    ends_at: Moment
    block: Text(SL.block)
    is_break: StrictBool

    @model_validator(mode="after")
    def _order(self):
        if self.ends_at <= self.starts_at:
            raise _part_problem("the slot ends before it starts")
        return self


class UnavailablePart(_Part):
    user: Email
    slot: Moment


class PlacementPart(_Part):
    proposal: str
    room: str
    slot: Moment
    span: StrictInt
    pinned: StrictBool
    sequence: StrictInt
    updated_at: Moment


class EntryPart(_Part):
    proposal: str
    room: str
    slot: Moment
    end_slot: OptionalMoment = None
    sequence: StrictInt


class ReleasePart(_Part):
    number: StrictInt
    created_by: OptionalEmail
    created_at: Moment
    entries: list[EntryPart]


class SignUpPart(_Part):
    proposal: str
    user: Email
    status: SignUpStatus
    created_at: Moment


class SchedulePart(_Part):
    rooms: list[RoomPart]
    slots: list[SlotPart]
    unavailability: list[UnavailablePart]
    placements: list[PlacementPart]
    releases: list[ReleasePart]
    signups: list[SignUpPart]


EMPTY_SCHEDULE = {"rooms": [], "slots": [], "unavailability": [], "placements": [], "releases": [], "signups": []}


class TextPart(_Part):
    kind: str
    subject: str
    body: str
    updated_at: Moment
    updated_by: OptionalEmail


class EventFile(_Part):
    """An exported event, as ``export_event`` writes it."""

    event: EventPart
    users: list[Person]
    organizers: list[Person]
    agreements: list[AgreementPart]
    acceptances: list[AcceptancePart]
    candidates: list[CandidatePart]
    invite_waves: list[WavePart]
    audit: list[AuditPart]
    proposals: list[ProposalPart] = []
    schedule: SchedulePart = SchedulePart.model_validate(EMPTY_SCHEDULE)
    texts: list[TextPart] = []


# What pydantic's own checks mean, in the words the rest of the file's messages use.
_MESSAGES = {
    "string_type": "should be text",
    "string_too_long": "is longer than {max_length} characters",
    "int_type": "should be a whole number",
    "bool_type": "should be true or false",
    "list_type": "should be a list",
    "model_type": "should be an object",
    "model_attributes_type": "should be an object",
    "dict_type": "should be an object",
}


def _where(loc: tuple) -> str:
    """('candidates', 1, 'status') → 'candidates[1].status'."""
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "file"


def _explain(error: dict) -> str:
    """One pydantic error as a sentence that names its place in the file."""
    loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx") or {}
    if kind == "missing":
        return f"{_where(loc[:-1])} is missing “{loc[-1]}”."
    if kind == "enum":
        allowed = ctx.get("expected", "").replace("'", "").replace(" or ", ", ")
        return f"{_where(loc)} should be one of {allowed}."
    if kind == "conclave_part":
        return f"{_where(loc)}: {error['msg']}."
    message = error["msg"] if kind == "conclave" else _MESSAGES.get(kind, error["msg"]).format(**ctx)
    return f"{_where(loc)} {message}."


def read_file(data: Any) -> tuple[EventFile, dict[str, str]]:
    """Check the whole file, so that a bad one is refused before a single row is written.

    Returns the checked file and every person it mentions (email → name, "" where the file gives none).
    Raises ValueError naming the first problem and where it is.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"This is not a Conclave event export (the file should say \"format\": \"{FORMAT}\").")
    if data.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"This export has format version {data.get('version')!r}; this instance reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))}.")
    required = REQUIRED_KEYS + (("proposals",) if data["version"] >= 2 else ()) + (
        ("schedule",) if data["version"] >= 3 else ()) + (("texts",) if data["version"] >= 4 else ())
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"The file is missing {', '.join(missing)}.")
    people: dict[str, str] = {}
    try:
        file = EventFile.model_validate({
            **data, "proposals": data.get("proposals", []) if data["version"] >= 2 else [],
            "schedule": data.get("schedule", EMPTY_SCHEDULE) if data["version"] >= 3 else EMPTY_SCHEDULE,
            "texts": data.get("texts", []) if data["version"] >= 4 else [],
        }, context=people)
    except ValidationError as error:
        raise ValueError(_explain(error.errors()[0])) from None
    for person in [*file.users, *file.organizers]:
        if person.name and not people[person.email]:
            people[person.email] = person.name
    _check_references(file)
    return file, people


def _check_references(file: EventFile) -> None:
    """What one part of the file says about another: nothing twice, nothing that is not there."""
    versions: set[int] = set()
    for i, agreement in enumerate(file.agreements):
        if agreement.version in versions:
            raise ValueError(f"agreements[{i}]: agreement version {agreement.version} appears twice.")
        versions.add(agreement.version)
    signed: set[tuple[int, str]] = set()
    for i, acceptance in enumerate(file.acceptances):
        if acceptance.version not in versions:
            raise ValueError(f"acceptances[{i}]: there is no agreement version {acceptance.version} in the file.")
        if (acceptance.version, acceptance.user) in signed:
            raise ValueError(f"acceptances[{i}]: {acceptance.user} signed version {acceptance.version} twice.")
        signed.add((acceptance.version, acceptance.user))
    seen: set[str] = set()
    for i, candidate in enumerate(file.candidates):
        if candidate.email in seen:
            raise ValueError(f"candidates[{i}]: {candidate.email} is on the invite list twice.")
        seen.add(candidate.email)
        vouchers: set[str] = set()
        for j, vouch in enumerate(candidate.vouches):
            if vouch.voucher in vouchers:
                raise ValueError(f"candidates[{i}].vouches[{j}]: {vouch.voucher} vouches for {candidate.email} twice.")
            vouchers.add(vouch.voucher)
    kinds: set[str] = set()
    for i, text in enumerate(file.texts):
        if text.kind in kinds:
            raise ValueError(f"texts[{i}]: the {text.kind} message appears twice.")
        kinds.add(text.kind)
        if text.kind not in texts.KINDS:
            raise ValueError(f"texts[{i}]: there is no {text.kind!r} message (known: {', '.join(texts.KINDS)}).")
        try:
            text.subject, text.body = texts.validate(texts.KINDS[text.kind], text.subject, text.body)
        except DomainError as error:
            raise ValueError(f"texts[{i}]: {error.message}") from None
    public_ids: set[str] = set()
    for i, proposal in enumerate(file.proposals):
        if not proposal.public_id or proposal.public_id in public_ids:
            raise ValueError(f"proposals[{i}]: the public id is empty or appears twice.")
        public_ids.add(proposal.public_id)
    _check_schedule(file.schedule, public_ids)


def _check_schedule(plan: SchedulePart, public_ids: set[str]) -> None:
    """Every room, slot and session the schedule names is in the file, once; slots do not overlap."""
    rooms: set[str] = set()
    for i, room in enumerate(plan.rooms):
        if not room.name or room.name in rooms or not 1 <= room.capacity <= 100_000:
            raise ValueError(f"schedule.rooms[{i}]: the name is empty or appears twice, or the capacity is not "
                             "from 1 to 100,000.")
        rooms.add(room.name)
    slots: set[datetime] = set()
    ordered = sorted(plan.slots, key=lambda slot: slot.starts_at)
    for before, after in zip(ordered, ordered[1:]):
        if after.starts_at < before.ends_at:
            raise ValueError(f"schedule.slots: the slot at {_when(after.starts_at)} overlaps the one before it.")
    slots = {slot.starts_at for slot in plan.slots}

    def check(where: str, proposal: str | None = None, room: str | None = None, *starts: datetime | None) -> None:
        if proposal is not None and proposal not in public_ids:
            raise ValueError(f"{where}: there is no proposal {proposal[:30]} in the file.")
        if room is not None and room not in rooms:
            raise ValueError(f"{where}: there is no room “{room[:100]}” in the file.")
        for start in starts:
            if start is not None and start not in slots:
                raise ValueError(f"{where}: there is no slot starting at {_when(start)} in the file.")

    for i, unavailable in enumerate(plan.unavailability):
        check(f"schedule.unavailability[{i}]", None, None, unavailable.slot)
    placed: set[str] = set()
    for i, placement in enumerate(plan.placements):
        check(f"schedule.placements[{i}]", placement.proposal, placement.room, placement.slot)
        if placement.proposal in placed or not 1 <= placement.span <= MAX_SPAN:
            raise ValueError(f"schedule.placements[{i}]: the session is placed twice, or over a span that is not "
                             f"from 1 to {MAX_SPAN} slots.")
        placed.add(placement.proposal)
    numbers: set[int] = set()
    for i, release in enumerate(plan.releases):
        if release.number in numbers or release.number < 1:
            raise ValueError(f"schedule.releases[{i}]: release {release.number} appears twice, or is below 1.")
        numbers.add(release.number)
        for j, entry in enumerate(release.entries):
            check(f"schedule.releases[{i}].entries[{j}]", entry.proposal, entry.room, entry.slot, entry.end_slot)
    signed: set[tuple[str, str]] = set()
    for i, signup in enumerate(plan.signups):
        check(f"schedule.signups[{i}]", signup.proposal)
        if (signup.proposal, signup.user) in signed:
            raise ValueError(f"schedule.signups[{i}]: {signup.user} signed up for the session twice.")
        signed.add((signup.proposal, signup.user))


def _write_proposals(event: Event, proposals: list[ProposalPart], user_id) -> None:
    taken = set(db.session.scalars(sa.select(Proposal.public_id).where(
        Proposal.public_id.in_([p.public_id for p in proposals]))))
    if taken:
        raise ValueError(f"Proposals with these ids exist here already: {', '.join(sorted(taken))}.")
    for p in proposals:
        proposal = Proposal(event_id=event.id, created_by_id=user_id(p.created_by), **p.model_dump(include={
            "public_id", "title", "abstract", "kind", "duration_minutes", "tier", "release_tier", "release_at",
            "chatham_house", "no_recording", "extra_terms", "only_stamped", "status", "decision_note",
            "created_at"}))
        db.session.add(proposal)
        db.session.flush()
        pid = proposal.id
        db.session.add_all([ProposalSpeaker(proposal_id=pid, user_id=user_id(s.user), is_lead=s.is_lead,
                                            confirmed=s.confirmed) for s in p.speakers])
        db.session.add_all([ProposalAccess(proposal_id=pid, user_id=user_id(e)) for e in dict.fromkeys(p.named)])
        db.session.add_all([ProposalExclusion(proposal_id=pid, user_id=user_id(x.user), domain=x.domain)
                            for x in p.exclusions])
        db.session.add_all([TierChange(proposal_id=pid, actor_id=user_id(c.actor), from_tier=c.from_tier,
                                       to_tier=c.to_tier, effective_at=c.effective_at, created_at=c.created_at)
                            for c in p.tier_changes])
        db.session.add_all([Vote(proposal_id=pid, user_id=user_id(v.user), created_at=v.created_at) for v in p.votes])
        db.session.add_all([Attendance(proposal_id=pid, user_id=user_id(a.user), source=a.source,
                                       recorded_by_id=user_id(a.recorded_by), created_at=a.created_at)
                            for a in p.attendance])
        db.session.add_all([TermsAcceptance(proposal_id=pid, user_id=user_id(t.user), terms_hash=t.terms_hash,
                                            accepted_at=t.accepted_at, ip=t.ip) for t in p.terms_acceptances])
        for m in p.materials:
            material = Material(proposal_id=pid, uploaded_by_id=user_id(m.uploaded_by),
                                **m.model_dump(exclude={"accesses", "uploaded_by"}))
            db.session.add(material)
            db.session.flush()
            for a in m.accesses:
                access = MaterialAccess(material_id=material.id, user_id=user_id(a.user),
                                        **a.model_dump(exclude={"user", "page", "seconds"}))
                db.session.add(access)
                if a.page is not None:
                    db.session.add(PageView(access=access, material_id=material.id, user_id=access.user_id,
                                            page=a.page, started_at=a.created_at, seconds=a.seconds))


def import_event(data: dict) -> Event:
    """Recreate an exported event in this database and return it; the caller commits.

    People are matched to existing accounts by email, or created (with their name, without admin
    rights or a password). Raises ValueError, before writing anything, for a file that is not a
    Conclave export of a readable version, lacks a part, holds a bad value, or whose event address
    is taken here. Invitation links from the old instance do not work here: they were never exported.
    """
    file, people = read_file(data)
    slug = file.event.slug
    if db.session.scalar(sa.select(Event.id).where(Event.slug == slug)) is not None:
        raise ValueError(f"An event with the address “{slug}” already exists here; nothing was imported.")

    users: dict[str, User] = {}
    for email in sorted(people):
        users[email] = accounts.get_or_create_user(email, people[email])

    def user_id(email: str | None) -> int | None:
        return users[email].id if email is not None else None

    event = Event(**file.event.model_dump())
    event.organizers = [users[email] for email in dict.fromkeys(o.email for o in file.organizers)]
    db.session.add(event)
    db.session.flush()

    agreement_ids: dict[int, int] = {}
    for a in file.agreements:
        agreement = Agreement(event_id=event.id, version=a.version, text=a.text, created_at=a.created_at,
                              created_by_id=user_id(a.created_by))
        db.session.add(agreement)
        db.session.flush()
        agreement_ids[a.version] = agreement.id
    for s in file.acceptances:
        db.session.add(AgreementAcceptance(agreement_id=agreement_ids[s.version], user_id=user_id(s.user),
                                           typed_name=s.typed_name, accepted_at=s.accepted_at, ip=s.ip))

    for c in file.candidates:
        candidate = Candidate(event_id=event.id, user_id=user_id(c.user),
                              **c.model_dump(exclude={"tags", "vouches", "user"}))
        candidate.tags = [CandidateTag(tag=tag) for tag in c.tags]
        candidate.vouches = [Vouch(user_id=user_id(v.voucher), note=v.note, created_at=v.created_at)
                             for v in c.vouches]
        db.session.add(candidate)

    for w in file.invite_waves:
        db.session.add(InviteWave(event_id=event.id, kind=w.kind, size=w.size, sent_by_id=user_id(w.sent_by),
                                  created_at=w.created_at))
    # In file order, so that entries with the same time keep their order by id as well.
    for entry in file.audit:
        db.session.add(AuditEntry(event_id=event.id, actor_id=user_id(entry.actor), action=entry.action,
                                  target=entry.target, detail=entry.detail, created_at=entry.created_at))
    _write_proposals(event, file.proposals, user_id)
    _write_schedule(event, file.schedule, user_id)
    db.session.add_all(MessageText(event_id=event.id, kind=t.kind, subject=t.subject, body=t.body,
                                   updated_at=t.updated_at, updated_by_id=user_id(t.updated_by)) for t in file.texts)
    db.session.flush()
    return event


def _write_schedule(event: Event, plan: SchedulePart, user_id) -> None:
    proposal_ids = dict(db.session.execute(sa.select(Proposal.public_id, Proposal.id)
                                           .where(Proposal.event_id == event.id)).all())
    rooms = [Room(event_id=event.id, **r.model_dump()) for r in plan.rooms]
    slots = [Slot(event_id=event.id, **s.model_dump()) for s in plan.slots]
    db.session.add_all([*rooms, *slots])
    db.session.flush()
    room_ids = {room.name: room.id for room in rooms}
    slot_ids = {slot.starts_at: slot.id for slot in slots}
    db.session.add_all([Unavailability(user_id=user_id(u.user), slot_id=slot_ids[u.slot])
                        for u in {(u.user, u.slot): u for u in plan.unavailability}.values()])
    db.session.add_all([Placement(event_id=event.id, proposal_id=proposal_ids[p.proposal], room_id=room_ids[p.room],
                                  slot_id=slot_ids[p.slot], span=p.span, pinned=p.pinned, sequence=p.sequence,
                                  updated_at=p.updated_at) for p in plan.placements])

    def entry(e: EntryPart) -> dict:
        out = {"proposal": proposal_ids[e.proposal], "room": room_ids[e.room], "slot": slot_ids[e.slot],
               "sequence": e.sequence}
        if e.end_slot is not None:
            out["end_slot"] = slot_ids[e.end_slot]
        return out

    db.session.add_all([ScheduleRelease(event_id=event.id, number=r.number, created_by_id=user_id(r.created_by),
                                        created_at=r.created_at, entries=[entry(e) for e in r.entries])
                        for r in plan.releases])
    db.session.add_all([SignUp(proposal_id=proposal_ids[s.proposal], user_id=user_id(s.user), status=s.status,
                               created_at=s.created_at) for s in plan.signups])
