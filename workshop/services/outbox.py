"""The outbox as organizers and admins see it: messages by event and status, retries, and whether
sending is paused. The pages ask the policy who may see what; these only read and act."""

from __future__ import annotations

import sqlalchemy as sa

from .. import mail
from ..extensions import db
from ..models import Event, MessageStatus, OutboxMessage
from .errors import DomainError

M = MessageStatus
# What the outbox page calls each state: a message waiting for its turn is "queued".
LABELS = {M.PENDING: "queued", M.SENDING: "sending", M.SENT: "sent", M.FAILED: "failed", M.CANCELLED: "not sent"}


def messages(event: Event | None = None, status: MessageStatus | None = None) -> sa.Select:
    """An event's messages (or, with no event, the whole instance's), newest first: a query to paginate."""
    statement = sa.select(OutboxMessage)
    if event is not None:
        statement = statement.where(OutboxMessage.event_id == event.id)
    if status is not None:
        statement = statement.where(OutboxMessage.status == status)
    return statement.order_by(OutboxMessage.id.desc())


def search(statement: sa.Select, status: MessageStatus | None, text: str) -> sa.Select:
    """``statement`` narrowed to one status and to recipients or subjects holding ``text``."""
    if status is not None:
        statement = statement.where(OutboxMessage.status == status)
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(sa.or_(sa.func.lower(OutboxMessage.to_email).like(pattern, escape="\\"),
                                           sa.func.lower(OutboxMessage.subject).like(pattern, escape="\\")))
    return statement


def status_counts(event: Event | None = None) -> dict[MessageStatus, int]:
    """How many messages are in each state, for an event or the instance; one query."""
    statement = sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
    if event is not None:
        statement = statement.where(OutboxMessage.event_id == event.id)
    counts = dict.fromkeys(M, 0)
    counts.update({status: n for status, n in db.session.execute(statement)})
    return counts


def retry(message: OutboxMessage) -> None:
    """Give a failed message a fresh set of attempts; it is sent once the caller commits."""
    if message.status != M.FAILED:
        raise DomainError("Only a failed message can be sent again; this one is "
                          f"{message.status.value}.")
    mail.retry_failed([message.id])
    db.session.refresh(message)


def retry_all_failed(event: Event | None = None) -> int:
    """Every failed message of the event (or instance) gets a fresh set of attempts. Returns how many."""
    ids = db.session.scalars(messages(event, M.FAILED).with_only_columns(OutboxMessage.id)).all()
    return mail.retry_failed(list(ids)) if ids else 0


def sending_state() -> mail.SendingState:
    """Whether sending is paused (the provider asked to slow down, or is failing), until when and why."""
    return mail.sending_state()
