import sqlalchemy as sa

from ..extensions import db
from ..models import AuditEntry, Event, User


def record(actor: User | None, event: Event | None, action: str, target: str = "", detail: str = "") -> AuditEntry:
    """Add an audit entry to the current transaction (the caller commits)."""
    entry = AuditEntry(
        event_id=event.id if event is not None else None,
        actor_id=actor.id if actor is not None else None,
        action=action,
        target=target[:300],
        detail=detail,
    )
    db.session.add(entry)
    return entry


def record_many(actor: User | None, event: Event | None, action: str, targets: list[str], detail: str = "") -> None:
    """One entry per target, written in one statement (a wave of thousands)."""
    if not targets:
        return
    db.session.execute(sa.insert(AuditEntry), [
        {"event_id": event.id if event is not None else None, "actor_id": actor.id if actor is not None else None,
         "action": action, "target": target[:300], "detail": detail}
        for target in targets
    ])
