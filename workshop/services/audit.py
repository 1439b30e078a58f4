"""The audit trail: who did what to whom, and when."""

from __future__ import annotations

import csv
import enum
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import AuditEntry, AuditTarget, Event, Material, Proposal, User
from ..models.audit import split_target
from ..text import csv_safe

SHORT_TEXT = 60  # longer texts (a description, private notes) are told as changed, not quoted


def record(actor: User | None, event: Event | None, action: str, target: str = "", detail: str = "") -> AuditEntry:
    """Add an audit entry to the current transaction (the caller commits).

    ``target`` reads "<kind> <key>" ("proposal Xy3…", "room Annex"): the kind and the key are stored apart,
    so that pages can name what the key points at; a target that names no kind is kept as it is.
    """
    entry = AuditEntry(
        event_id=event.id if event is not None else None,
        actor_id=actor.id if actor is not None else None,
        action=action,
        target=target[:300],
        detail=detail,
    )
    db.session.add(entry)
    return entry


def readable_targets(event: Event, entries) -> dict[int, str]:
    """Talks and files are recorded by their ids; name them by their titles instead (two queries at most)."""
    wanted: dict[AuditTarget, set[str]] = {AuditTarget.PROPOSAL: set(), AuditTarget.MATERIAL: set()}
    for entry in entries:
        if entry.target_kind in wanted:
            wanted[entry.target_kind].add(entry.target_key)
    titles: dict[tuple[AuditTarget, str], str] = {}
    if wanted[AuditTarget.PROPOSAL]:
        titles.update({(AuditTarget.PROPOSAL, pid): f"talk “{title}”" for pid, title in db.session.execute(
            sa.select(Proposal.public_id, Proposal.title).where(
                Proposal.event_id == event.id, Proposal.public_id.in_(wanted[AuditTarget.PROPOSAL])))})
    if wanted[AuditTarget.MATERIAL]:
        titles.update({(AuditTarget.MATERIAL, mid): f"file “{name}” of “{title}”"
                       for mid, name, title in db.session.execute(
                           sa.select(Material.public_id, Material.filename, Proposal.title)
                           .join(Proposal, Material.proposal_id == Proposal.id)
                           .where(Proposal.event_id == event.id,
                                  Material.public_id.in_(wanted[AuditTarget.MATERIAL])))})
    return {entry.id: titles[(entry.target_kind, entry.target_key)] for entry in entries
            if (entry.target_kind, entry.target_key) in titles}


def record_many(actor: User | None, event: Event | None, action: str, targets: list[str], detail: str = "") -> None:
    """One entry per target, written in one statement (a wave of thousands)."""
    if not targets:
        return
    db.session.execute(sa.insert(AuditEntry), [
        {"event_id": event.id if event is not None else None, "actor_id": actor.id if actor is not None else None,
         "action": action, "target_kind": kind, "target_key": key, "detail": detail}
        for kind, key in (split_target(target[:300]) for target in targets)
    ])


# --- what changed -------------------------------------------------------------------------


def _shown(value) -> str:
    """A value as the log reads it: enums by name, dates in ISO, yes/no, lists joined, long texts cut."""
    if value is None or value == "":
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, str):
        flat = " ".join(value.split())
        return f"“{flat}”" if len(flat) <= SHORT_TEXT else f"“{flat[:SHORT_TEXT - 1]}…”"
    return str(value)


def snapshot(obj, fields) -> dict:
    """The values of ``fields`` on ``obj`` now, to compare with after a change (``changes``)."""
    return {name: _comparable(getattr(obj, name)) for name in fields}


def _comparable(value):
    return list(value) if isinstance(value, list | tuple | set) else value


def changes(before: dict, after, labels: dict[str, str] | None = None) -> str:
    """ "capacity 10 → 2; title “Retreat” → “Spring retreat”": each field of ``before`` whose value
    on ``after`` (an object or a dict) differs. Empty when nothing changed."""
    labels = labels or {}
    parts = []
    for name, old in before.items():
        new = _comparable(after[name] if isinstance(after, dict) else getattr(after, name))
        if old == new:
            continue
        label = labels.get(name, name.replace("_", " "))
        if isinstance(new, str) and isinstance(old, str) and max(len(old), len(new)) > SHORT_TEXT:
            parts.append(f"{label} changed ({len(old)} → {len(new)} characters)")
        else:
            parts.append(f"{label} {_shown(old)} → {_shown(new)}")
    return "; ".join(parts)


def record_changes(actor: User | None, event: Event | None, action: str, target: str, before: dict, after,
                   labels: dict[str, str] | None = None) -> AuditEntry | None:
    """Record what an edit changed, before → after; an edit that changed nothing records nothing."""
    detail = changes(before, after, labels)
    return record(actor, event, action, target, detail) if detail else None


# --- reading the log ----------------------------------------------------------------------


@dataclass
class AuditFilter:
    """The audit page's filters: a person (who acted, or whom it was about), an action, a date range."""

    person: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None

    @property
    def active(self) -> bool:
        return bool(self.person or self.action or self.since or self.until)

    def as_args(self) -> dict:
        return {key: value for key, value in (
            ("person", self.person), ("action", self.action),
            ("since", self.since.isoformat() if self.since else ""),
            ("until", self.until.isoformat() if self.until else "")) if value}


def entries_for(event: Event, chosen: AuditFilter) -> sa.Select:
    """The event's audit entries narrowed by ``chosen``, newest first (the caller pages them)."""
    statement = sa.select(AuditEntry).where(AuditEntry.event_id == event.id)
    if chosen.person:
        pattern = chosen.person.lower()
        statement = statement.outerjoin(User, AuditEntry.actor_id == User.id).where(sa.or_(
            sa.func.lower(User.email).contains(pattern, autoescape=True),
            sa.func.lower(User.name).contains(pattern, autoescape=True),
            sa.func.lower(AuditEntry.target_key).contains(pattern, autoescape=True),
        ))
    if chosen.action:
        statement = statement.where(AuditEntry.action == chosen.action)
    if chosen.since:
        statement = statement.where(AuditEntry.created_at >= datetime.combine(chosen.since, time.min))
    if chosen.until:
        statement = statement.where(AuditEntry.created_at < datetime.combine(chosen.until + timedelta(days=1),
                                                                             time.min))
    return statement.order_by(AuditEntry.id.desc())


def actions_of(event: Event) -> list[str]:
    """The actions recorded for this event, for the filter's choices."""
    return list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.event_id == event.id)
                                   .distinct().order_by(AuditEntry.action)))


def export_csv(event: Event, entries) -> str:
    """The entries as CSV (formula-safe), targets named as the page names them."""
    names = readable_targets(event, entries)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["when_utc", "who", "action", "target", "detail"])
    for entry in entries:
        writer.writerow([csv_safe(v) for v in (
            entry.created_at.isoformat(sep=" ", timespec="seconds"),
            entry.actor.email if entry.actor else "Conclave", entry.action,
            names.get(entry.id, entry.target), entry.detail)])
    return out.getvalue()
