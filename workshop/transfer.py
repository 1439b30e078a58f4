"""Export an event to JSON and import it back, for moving it between instances or restoring it.

The file holds the event's fields, organizers, every agreement version and signature, the invite
list (with tags, notes, vouches and timestamps), the invite waves, the event's audit trail, and
(since version 2) its proposals: speakers, named lists, exclusions, tier history, votes, attendance,
accepted extra terms, and each material's record and access log. A material's bytes are not in the
file: they stay in storage under the recorded key, so copy the materials folder (or bucket) along.
People are referred to by email, so that an import can match them to the accounts of the receiving
instance (or create them) regardless of database ids.

Secrets are deliberately left out: invitation token hashes and sign-in tokens are not exported, so
no emailed link survives a move. Invited people who have not answered yet need a reminder (a fresh
link) from the new instance. Passwords, admin rights and disabled flags are not exported either: an
import must never grant or change the rights of an account on the receiving instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from zoneinfo import available_timezones

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from .extensions import db
from .models import (
    Agreement,
    AgreementAcceptance,
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
    Proposal,
    ProposalAccess,
    ProposalExclusion,
    ProposalKind,
    ProposalSpeaker,
    ProposalStatus,
    TermsAcceptance,
    Tier,
    TierChange,
    User,
    Vote,
    Vouch,
    utcnow,
)
from .models.proposals import Attendance
from .services import accounts
from .services.errors import DomainError
from .services.events import SLUG_RE

FORMAT = "conclave-event"
VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 files have no proposals
_Choice = TypeVar("_Choice", EventKind, EventStatus, CandidateStatus, Tier, ProposalKind, ProposalStatus)
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
    data["users"] = [{"email": email, "name": people[email]} for email in sorted(people)]
    return data


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

    def who(user_id: int | None) -> str | None:
        return person(users.get(user_id)) if user_id is not None else None

    return [{
        "public_id": p.public_id, "title": p.title, "abstract": p.abstract, "kind": p.kind.value,
        "duration_minutes": p.duration_minutes, "tier": p.tier.value,
        "release_tier": p.release_tier.value if p.release_tier else None, "release_at": _when(p.release_at),
        "chatham_house": p.chatham_house, "no_recording": p.no_recording, "extra_terms": p.extra_terms,
        "status": p.status.value, "decision_note": p.decision_note, "created_by": who(p.created_by_id),
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
            "created_at": _when(m.created_at),
            "accesses": [{"download_id": a.download_id, "user": who(a.user_id), "allowed": a.allowed,
                          "reason": a.reason, "ip": a.ip, "created_at": _when(a.created_at)}
                         for a in accesses.get(m.id, [])],
        } for m in materials[p.id]],
    } for p in proposals]


# --- import: read and check the whole file before writing anything ------------------------------


class _Reader:
    """Typed access to untrusted JSON that names the exact place of every problem."""

    def __init__(self, value: Any, where: str):
        if not isinstance(value, dict):
            raise ValueError(f"{where} should be an object.")
        self.value, self.where = value, where

    def _raw(self, key: str) -> Any:
        if key not in self.value:
            raise ValueError(f"{self.where} is missing “{key}”.")
        return self.value[key]

    def text(self, key: str, column: sa.Column | None = None, optional: bool = False) -> str:
        value = self.value.get(key, "") if optional else self._raw(key)
        if not isinstance(value, str):
            raise ValueError(f"{self.where}.{key} should be text.")
        limit = getattr(column.type, "length", None) if column is not None else None
        if limit is not None and len(value) > limit:
            raise ValueError(f"{self.where}.{key} is longer than {limit} characters.")
        return value

    def integer(self, key: str) -> int:
        value = self._raw(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{self.where}.{key} should be a whole number.")
        return value

    def boolean(self, key: str) -> bool:
        value = self._raw(key)
        if not isinstance(value, bool):
            raise ValueError(f"{self.where}.{key} should be true or false.")
        return value

    def email(self, key: str, nullable: bool = False) -> str | None:
        value = self._raw(key)
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise ValueError(f"{self.where}.{key} should be an email address.")
        try:
            return accounts.normalize_email(value)
        except DomainError as error:
            raise ValueError(f"{self.where}.{key}: {error.message}") from error

    def day(self, key: str) -> date:
        value = self.text(key)
        try:
            return date.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"{self.where}.{key} should be a date such as 2025-06-30.") from error

    def moment(self, key: str, nullable: bool = False) -> datetime | None:
        """An ISO 8601 time, stored as naive UTC like every timestamp column; no zone means UTC."""
        value = self._raw(key)
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise ValueError(f"{self.where}.{key} should be an ISO 8601 time.")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"{self.where}.{key} should be an ISO 8601 time, not “{value[:40]}”.") from error
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed

    def choice(self, key: str, enum_cls: type[_Choice]) -> _Choice:
        value = self._raw(key)
        try:
            return enum_cls(value)
        except ValueError as error:
            allowed = ", ".join(m.value for m in enum_cls)
            raise ValueError(f"{self.where}.{key} should be one of {allowed}.") from error

    def items(self, key: str) -> list[_Reader]:
        value = self._raw(key)
        prefix = key if self.where == "file" else f"{self.where}.{key}"
        if not isinstance(value, list):
            raise ValueError(f"{prefix} should be a list.")
        return [_Reader(item, f"{prefix}[{i}]") for i, item in enumerate(value)]

    def strings(self, key: str, column: sa.Column) -> list[str]:
        value = self._raw(key)
        limit = column.type.length
        if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= limit for v in value):
            raise ValueError(f"{self.where}.{key} should be a list of texts of up to {limit} characters.")
        return list(dict.fromkeys(value))


@dataclass
class _Plan:
    """The checked content of a file: plain values ready to become rows."""

    event: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)  # every mentioned email → name ("" if unknown)
    organizers: list[str] = field(default_factory=list)
    agreements: list[dict[str, Any]] = field(default_factory=list)
    acceptances: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    waves: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[dict[str, Any]] = field(default_factory=list)

    def mention(self, email: str | None, name: str = "") -> str | None:
        if email is not None and (email not in self.names or (name and not self.names[email])):
            self.names[email] = name
        return email


def _read(data: Any) -> _Plan:
    """Check the whole file, so that a bad one is refused before a single row is written."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"This is not a Conclave event export (the file should say \"format\": \"{FORMAT}\").")
    if data.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"This export has format version {data.get('version')!r}; this instance reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))}.")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ValueError(f"The file is missing {', '.join(missing)}.")
    root = _Reader(data, "file")

    e = _Reader(data["event"], "event")
    columns = Event.__table__.c
    event = {
        "slug": e.text("slug", columns.slug),
        "title": e.text("title", columns.title),
        "description": e.text("description"),
        "kind": e.choice("kind", EventKind),
        "venue": e.text("venue", columns.venue),
        "timezone": e.text("timezone", columns.timezone),
        "starts_on": e.day("starts_on"),
        "ends_on": e.day("ends_on"),
        "capacity": e.integer("capacity"),
        "status": e.choice("status", EventStatus),
        "public_page": e.boolean("public_page"),
        "created_at": e.moment("created_at"),
    }
    if not SLUG_RE.match(event["slug"]):
        raise ValueError("event.slug should be 1–60 lower-case letters, digits and hyphens.")
    if event["timezone"] not in available_timezones():
        raise ValueError(f"event.timezone “{event['timezone']}” is not a known time zone.")
    if event["ends_on"] < event["starts_on"] or event["capacity"] < 1:
        raise ValueError("event: the end date is before the start, or the capacity is below 1.")
    plan = _Plan(event=event)

    user_columns = User.__table__.c
    for u in root.items("users"):
        plan.mention(u.email("email"), u.text("name", user_columns.name, optional=True))
    for o in root.items("organizers"):
        email = o.email("email")
        plan.mention(email, o.text("name", user_columns.name, optional=True))
        if email not in plan.organizers:
            plan.organizers.append(email)

    versions: set[int] = set()
    for a in root.items("agreements"):
        version = a.integer("version")
        if version in versions:
            raise ValueError(f"{a.where}: agreement version {version} appears twice.")
        versions.add(version)
        plan.agreements.append({"version": version, "text": a.text("text"), "created_at": a.moment("created_at"),
                                "created_by": plan.mention(a.email("created_by", nullable=True))})

    signed: set[tuple[int, str]] = set()
    acceptance_columns = AgreementAcceptance.__table__.c
    for s in root.items("acceptances"):
        version, email = s.integer("version"), plan.mention(s.email("user"))
        if version not in versions:
            raise ValueError(f"{s.where}: there is no agreement version {version} in the file.")
        if (version, email) in signed:
            raise ValueError(f"{s.where}: {email} signed version {version} twice.")
        signed.add((version, email))
        plan.acceptances.append({"version": version, "user": email,
                                 "typed_name": s.text("typed_name", acceptance_columns.typed_name),
                                 "accepted_at": s.moment("accepted_at"),
                                 "ip": s.text("ip", acceptance_columns.ip)})

    seen: set[str] = set()
    candidate_columns = Candidate.__table__.c
    for c in root.items("candidates"):
        email = c.email("email")
        if email in seen:
            raise ValueError(f"{c.where}: {email} is on the invite list twice.")
        seen.add(email)
        vouchers: set[str] = set()
        vouches = []
        for v in c.items("vouches"):
            voucher = plan.mention(v.email("voucher"))
            if voucher in vouchers:
                raise ValueError(f"{v.where}: {voucher} vouches for {email} twice.")
            vouchers.add(voucher)
            vouches.append({"voucher": voucher, "note": v.text("note"), "created_at": v.moment("created_at")})
        plan.candidates.append({
            "email": email,
            "name": c.text("name", candidate_columns.name),
            "affiliation": c.text("affiliation", candidate_columns.affiliation),
            "status": c.choice("status", CandidateStatus),
            "notes": c.text("notes"),
            "tags": c.strings("tags", CandidateTag.__table__.c.tag),
            "user": plan.mention(c.email("user", nullable=True)),
            **{key: c.moment(key, nullable=key != "created_at") for key in (
                "created_at", "invited_at", "invite_expires_at", "reminded_at", "responded_at", "waitlisted_at")},
            "vouches": vouches,
        })

    for w in root.items("invite_waves"):
        plan.waves.append({"kind": w.text("kind", InviteWave.__table__.c.kind), "size": w.integer("size"),
                           "sent_by": plan.mention(w.email("sent_by", nullable=True)),
                           "created_at": w.moment("created_at")})

    audit_columns = AuditEntry.__table__.c
    for entry in root.items("audit"):
        plan.audit.append({"actor": plan.mention(entry.email("actor", nullable=True)),
                           "action": entry.text("action", audit_columns.action),
                           "target": entry.text("target", audit_columns.target_key),
                           "detail": entry.text("detail"),
                           "created_at": entry.moment("created_at")})
    if data["version"] >= 2:
        _read_proposals(root, plan)
    return plan


def _optional_choice(reader: _Reader, key: str, enum_cls):
    return None if reader.value.get(key) is None else reader.choice(key, enum_cls)


def _read_proposals(root: _Reader, plan: _Plan) -> None:
    columns = Proposal.__table__.c
    public_ids: set[str] = set()
    for r in root.items("proposals"):
        public_id = r.text("public_id", columns.public_id)
        if not public_id or public_id in public_ids:
            raise ValueError(f"{r.where}: the public id is empty or appears twice.")
        public_ids.add(public_id)
        mention = plan.mention
        proposal = {
            "public_id": public_id, "title": r.text("title", columns.title), "abstract": r.text("abstract"),
            "kind": r.choice("kind", ProposalKind), "duration_minutes": r.integer("duration_minutes"),
            "tier": r.choice("tier", Tier), "release_tier": _optional_choice(r, "release_tier", Tier),
            "release_at": r.moment("release_at", nullable=True), "chatham_house": r.boolean("chatham_house"),
            "no_recording": r.boolean("no_recording"), "extra_terms": r.text("extra_terms"),
            "status": r.choice("status", ProposalStatus), "decision_note": r.text("decision_note"),
            "created_by": mention(r.email("created_by", nullable=True)), "created_at": r.moment("created_at"),
            "speakers": [{"user": mention(s.email("user")), "is_lead": s.boolean("is_lead"),
                          "confirmed": s.boolean("confirmed")} for s in r.items("speakers")],
            "named": [],
            "exclusions": [],
            "tier_changes": [{"actor": mention(c.email("actor", nullable=True)), "from": c.choice("from", Tier),
                              "to": c.choice("to", Tier), "effective_at": c.moment("effective_at", nullable=True),
                              "created_at": c.moment("created_at")} for c in r.items("tier_changes")],
            "votes": [{"user": mention(v.email("user")), "created_at": v.moment("created_at")}
                      for v in r.items("votes")],
            "attendance": [{"user": mention(a.email("user")), "source": a.text("source"),
                            "recorded_by": mention(a.email("recorded_by", nullable=True)),
                            "created_at": a.moment("created_at")} for a in r.items("attendance")],
            "terms_acceptances": [{"user": mention(t.email("user")), "terms_hash": t.text("terms_hash"),
                                   "accepted_at": t.moment("accepted_at"), "ip": t.text("ip")}
                                  for t in r.items("terms_acceptances")],
            "materials": [],
        }
        named = r.value.get("named")
        if not isinstance(named, list):
            raise ValueError(f"{r.where}.named should be a list.")
        for i, email in enumerate(named):
            proposal["named"].append(mention(_Reader({"email": email}, f"{r.where}.named[{i}]").email("email")))
        for x in r.items("exclusions"):
            user, domain = x.email("user", nullable=True), x.value.get("domain")
            if (user is None) == (domain is None) or (domain is not None and not isinstance(domain, str)):
                raise ValueError(f"{x.where} should name exactly one person or one domain.")
            proposal["exclusions"].append({"user": mention(user), "domain": domain})
        material_columns = Material.__table__.c
        for m in r.items("materials"):
            proposal["materials"].append({
                "public_id": m.text("public_id", material_columns.public_id),
                "filename": m.text("filename", material_columns.filename),
                "content_type": m.text("content_type", material_columns.content_type), "size": m.integer("size"),
                "sha256": m.text("sha256", material_columns.sha256),
                "storage_key": m.text("storage_key", material_columns.storage_key),
                "uploaded_by": mention(m.email("uploaded_by", nullable=True)), "created_at": m.moment("created_at"),
                "accesses": [{"download_id": a.text("download_id"), "user": mention(a.email("user", nullable=True)),
                              "allowed": a.boolean("allowed"), "reason": a.text("reason"), "ip": a.text("ip"),
                              "created_at": a.moment("created_at")} for a in m.items("accesses")],
            })
        plan.proposals.append(proposal)


def _write_proposals(event: Event, plan: _Plan, user_id) -> None:
    taken = set(db.session.scalars(sa.select(Proposal.public_id).where(
        Proposal.public_id.in_([p["public_id"] for p in plan.proposals]))))
    if taken:
        raise ValueError(f"Proposals with these ids exist here already: {', '.join(sorted(taken))}.")
    for p in plan.proposals:
        fields = {k: v for k, v in p.items() if k not in (
            "speakers", "named", "exclusions", "tier_changes", "votes", "attendance", "terms_acceptances",
            "materials", "created_by")}
        proposal = Proposal(event_id=event.id, created_by_id=user_id(p["created_by"]), **fields)
        db.session.add(proposal)
        db.session.flush()
        pid = proposal.id
        db.session.add_all([ProposalSpeaker(proposal_id=pid, user_id=user_id(s["user"]), is_lead=s["is_lead"],
                                            confirmed=s["confirmed"]) for s in p["speakers"]])
        db.session.add_all([ProposalAccess(proposal_id=pid, user_id=user_id(e)) for e in dict.fromkeys(p["named"])])
        db.session.add_all([ProposalExclusion(proposal_id=pid, user_id=user_id(x["user"]), domain=x["domain"])
                            for x in p["exclusions"]])
        db.session.add_all([TierChange(proposal_id=pid, actor_id=user_id(c["actor"]), from_tier=c["from"],
                                       to_tier=c["to"], effective_at=c["effective_at"], created_at=c["created_at"])
                            for c in p["tier_changes"]])
        db.session.add_all([Vote(proposal_id=pid, user_id=user_id(v["user"]), created_at=v["created_at"])
                            for v in p["votes"]])
        db.session.add_all([Attendance(proposal_id=pid, user_id=user_id(a["user"]), source=a["source"],
                                       recorded_by_id=user_id(a["recorded_by"]), created_at=a["created_at"])
                            for a in p["attendance"]])
        db.session.add_all([TermsAcceptance(proposal_id=pid, user_id=user_id(t["user"]), terms_hash=t["terms_hash"],
                                            accepted_at=t["accepted_at"], ip=t["ip"]) for t in p["terms_acceptances"]])
        for m in p["materials"]:
            material = Material(proposal_id=pid, uploaded_by_id=user_id(m["uploaded_by"]),
                                **{k: v for k, v in m.items() if k not in ("accesses", "uploaded_by")})
            db.session.add(material)
            db.session.flush()
            db.session.add_all([MaterialAccess(material_id=material.id, user_id=user_id(a["user"]),
                                               **{k: v for k, v in a.items() if k != "user"})
                                for a in m["accesses"]])


def import_event(data: dict) -> Event:
    """Recreate an exported event in this database and return it; the caller commits.

    People are matched to existing accounts by email, or created (with their name, without admin
    rights or a password). Raises ValueError, before writing anything, for a file that is not a
    Conclave export of a readable version, lacks a part, holds a bad value, or whose event address
    is taken here. Invitation links from the old instance do not work here: they were never exported.
    """
    plan = _read(data)
    slug = plan.event["slug"]
    if db.session.scalar(sa.select(Event.id).where(Event.slug == slug)) is not None:
        raise ValueError(f"An event with the address “{slug}” already exists here; nothing was imported.")

    users: dict[str, User] = {}
    for email in sorted(plan.names):
        users[email] = accounts.get_or_create_user(email, plan.names[email])

    def user_id(email: str | None) -> int | None:
        return users[email].id if email is not None else None

    event = Event(**plan.event)
    event.organizers = [users[email] for email in plan.organizers]
    db.session.add(event)
    db.session.flush()

    agreement_ids: dict[int, int] = {}
    for a in plan.agreements:
        agreement = Agreement(event_id=event.id, version=a["version"], text=a["text"], created_at=a["created_at"],
                              created_by_id=user_id(a["created_by"]))
        db.session.add(agreement)
        db.session.flush()
        agreement_ids[a["version"]] = agreement.id
    for s in plan.acceptances:
        db.session.add(AgreementAcceptance(agreement_id=agreement_ids[s["version"]], user_id=user_id(s["user"]),
                                           typed_name=s["typed_name"], accepted_at=s["accepted_at"], ip=s["ip"]))

    for c in plan.candidates:
        fields = {k: v for k, v in c.items() if k not in ("tags", "vouches", "user")}
        candidate = Candidate(event_id=event.id, user_id=user_id(c["user"]), **fields)
        candidate.tags = [CandidateTag(tag=tag) for tag in c["tags"]]
        candidate.vouches = [Vouch(user_id=user_id(v["voucher"]), note=v["note"], created_at=v["created_at"])
                             for v in c["vouches"]]
        db.session.add(candidate)

    for w in plan.waves:
        db.session.add(InviteWave(event_id=event.id, kind=w["kind"], size=w["size"], sent_by_id=user_id(w["sent_by"]),
                                  created_at=w["created_at"]))
    # In file order, so that entries with the same time keep their order by id as well.
    for entry in plan.audit:
        db.session.add(AuditEntry(event_id=event.id, actor_id=user_id(entry["actor"]), action=entry["action"],
                                  target=entry["target"], detail=entry["detail"], created_at=entry["created_at"]))
    _write_proposals(event, plan, user_id)
    db.session.flush()
    return event
