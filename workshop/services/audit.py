"""The audit trail: who did what to whom, and when."""

from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import AuditEntry, AuditTarget, Event, Material, Proposal, User
from ..models.audit import split_target


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
