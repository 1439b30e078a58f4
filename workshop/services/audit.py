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
