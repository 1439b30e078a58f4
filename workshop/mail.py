"""The outbox: every email is written with its cause and sent by the worker, never by a request.

``queue`` (a message rendered now) and ``queue_link`` (a message whose link is minted when it
is sent) add a row to the caller's transaction. Once that commits, a task is queued that sends
it (``deliver``, in the worker). A message is claimed with a conditional UPDATE and a lease:
two workers never send it at once, and one claimed by a worker that died is claimed again
when the lease runs out. Failures are retried with growing, jittered waits, and a message
that runs out of attempts is kept as ``failed``. Messages are not deleted, except a sign-in
request for an address that has no active account, which never was a message.

Delivery is at least once: a message goes out twice only when the provider took it but its
answer never reached us (a timeout after the provider accepted, or a worker that died
between the provider's answer and recording it).

Links: a sign-in or invitation message holds no token while it waits. The worker mints the
token when it sends, stores its hash, and keeps the sent text with the link removed; a copy
of the database never holds a link that works.

The provider is treated politely (``mail_provider``): a timeout on every call, a global rate
limit, and one pause for all workers when it answers 429 (for its Retry-After) or fails (5xx,
timeout, refused connection; backing off with jitter), with a single probe when the pause ends.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr

import sqlalchemy as sa
from flask import current_app, has_app_context, render_template
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, joinedload

from . import tasks
from .extensions import db
from .mail_provider import (
    BACKENDS,
    Gate,
    ProviderError,
    RateLimited,
    Rejected,
    SendingState,
    Throttle,
    sending_state,
)
from .models import Candidate, Event, Invitation, MessageKind, MessageStatus, OutboxMessage, utcnow

__all__ = ["BACKENDS", "OutboxMessage", "SendingState", "build_mime", "deliver", "get_backend", "queue",
           "queue_copies", "queue_link", "send_due", "sending_state", "sweep"]

M = MessageStatus
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
REDACTED = "[link removed after sending]"
BATCH = 25  # messages per task: enough to amortize a task, few enough to spread a wave over workers
SWEEP_GRACE = timedelta(seconds=60)  # a due message left this long is taken to have lost its task
_NEW = "outbox_new"


class Cancelled(Exception):
    """The message's link has no use any more; ``forget`` deletes a message that never was one."""

    def __init__(self, reason: str, forget: bool = False):
        super().__init__(reason)
        self.reason, self.forget = reason, forget


@dataclass
class Composed:
    """A message as it leaves: what a backend sends."""

    id: int
    to_email: str
    subject: str
    body_text: str
    body_html: str
    link: str | None = None
    links: tuple[str, ...] = ()  # further personal links (an organizers' message may hold several)


def clean_header(value: str, limit: int = 250) -> str:
    """Typed names and titles go into headers: no line breaks, no control characters."""
    return _CONTROL.sub(" ", value).strip()[:limit]


# --- writing to the outbox (in the caller's transaction) ----------------------------------------


def queue(to_email: str, subject: str, template: str, **context) -> OutboxMessage:
    """Render ``email/<template>.txt`` and its HTML twin and add them to the outbox.

    The caller commits; the message is sent once it has. An ``event`` in the context files the
    message under that event, and the event's own wording of the message (services.texts), when it
    has one, replaces the built-in subject and text. Context values are autoescaped in the HTML part.
    """
    from .services import texts

    context.setdefault("base_url", current_app.config["BASE_URL"])
    event = context.get("event")
    own = texts.render(event, template, context)  # the event's own wording, when it has one
    if own is not None:
        subject, text, html = own
    else:
        text = render_template(f"email/{template}.txt", **context)
        html = render_template("email/_layout.html", body=text, **context)
    message = OutboxMessage(
        to_email=clean_header(to_email, 254), subject=clean_header(subject), body_text=text, body_html=html,
        kind=MessageKind.PLAIN, template=template, event_id=event.id if isinstance(event, Event) else None,
    )
    return _add(message)


def queue_link(to_email: str, subject: str, template: str, kind: MessageKind, *, event: Event | None = None,
               invitation: Invitation | None = None) -> OutboxMessage:
    """Add a message whose link is minted, and whose text is written, when the worker sends it."""
    message = OutboxMessage(
        to_email=clean_header(to_email, 254), subject=clean_header(subject), body_text="", body_html="",
        kind=kind, template=template, event_id=event.id if event is not None else None,
        invitation_id=invitation.id if invitation is not None else None,
    )
    return _add(message)


def _queue_batch(kind: MessageKind, rows: list[dict], written: sa.Select) -> list[int]:
    """Write ``rows`` as messages of ``kind`` in one batch, each written out when it is sent, and return
    their ids (``written`` selects them). A plain batch insert, then one query for the ids: much faster on
    PostgreSQL than RETURNING for thousands of rows."""
    if not rows:
        return []
    db.session.execute(sa.insert(OutboxMessage), [
        {**row, "kind": kind, "to_email": clean_header(row["to_email"], 254),
         "subject": clean_header(row["subject"]), "body_text": "", "body_html": ""} for row in rows
    ])
    ids = db.session.scalars(written.order_by(OutboxMessage.id)).all()
    db.session.info.setdefault(_NEW, []).extend(ids)
    return list(ids)


def queue_wave(wave_id: int, rows: list[dict]) -> list[int]:
    """``queue_link`` for each invitation of a wave (rows: to_email, subject, template, event_id,
    invitation_id), written in one batch. Returns the messages' ids."""
    return _queue_batch(MessageKind.INVITATION, rows, sa.select(OutboxMessage.id).join(
        Invitation, Invitation.id == OutboxMessage.invitation_id).where(Invitation.wave_id == wave_id))


def queue_copies(event_message_id: int, rows: list[dict]) -> list[int]:
    """One message per recipient of an organizers' message (rows: to_email, subject, template, event_id,
    event_message_id, candidate_id), written in one batch; each is written out when it is sent."""
    return _queue_batch(MessageKind.EVENT_MESSAGE, rows, sa.select(OutboxMessage.id).where(
        OutboxMessage.event_message_id == event_message_id))


def _add(message: OutboxMessage) -> OutboxMessage:
    db.session.add(message)
    db.session.info.setdefault(_NEW, []).append(message)
    return message


@sa_event.listens_for(Session, "after_commit")
def _send_committed(session) -> None:
    new = session.info.pop(_NEW, [])
    ids = [m if isinstance(m, int) else m.id for m in new]
    ids = [i for i in ids if i is not None]
    if ids and has_app_context():
        _wake(ids)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_NEW, None)


def _wake(ids: list[int], eta: datetime | None = None) -> None:
    """Queue the sending of ``ids``: one task for a batch; a wave is split up by the worker."""
    tasks.enqueue_safely("send_mail" if len(ids) <= BATCH else "dispatch_mail", ids, eta=eta)


def dispatch(ids: list[int]) -> None:
    """Split a long list of messages into tasks of BATCH, so that every worker takes a share."""
    for start in range(0, len(ids), BATCH):
        tasks.enqueue("send_mail", ids[start:start + BATCH])


# --- sending (in the worker) ------------------------------------------------------------------


def deliver(ids: list[int]) -> Counter:
    """Send these messages, those that are still due. Returns how many ended how.

    The batch is claimed in one statement; a provider pause stops it, and the rest wait for the
    pause's end (they are queued for it).
    """
    backend = get_backend()
    throttle = Throttle(current_app.config["MAIL_BACKEND"]) if getattr(backend, "remote", False) else None
    outcomes: Counter = Counter()
    until = throttle.blocked_until() if throttle is not None else None
    if until is not None:
        outcomes["postponed"] += _postpone(ids, until)
        return outcomes
    claimed = _claim(ids)
    outcomes["skipped"] = len(ids) - len(claimed)  # sent already, someone else's, or not due yet
    preloaded = _preload(claimed)  # noqa: F841  (kept alive while the batch is sent)
    session = db.session()
    # The claimed rows are this worker's until their lease runs out: no need to read them again
    # after every commit.
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    lease_end = claimed[0].lease_until if claimed else None
    try:
        for position, message in enumerate(claimed):
            lease_end = _keep_lease(claimed[position:], lease_end)
            gate = throttle.acquire() if throttle is not None else Gate()
            if gate.wait_until is not None:
                outcomes["postponed"] += _release(claimed[position:], gate.wait_until)
                break
            outcome = _send_claimed(message, backend, throttle, gate)
            outcomes[outcome] += 1
            if outcome == "postponed" and throttle is not None:
                outcomes["postponed"] += _release(claimed[position + 1:], throttle.paused_until() or utcnow())
                break
    finally:
        session.expire_on_commit = expire_on_commit
    return outcomes


def _claim(ids: list[int]) -> list[OutboxMessage]:
    """Claim those of ``ids`` that are due (or whose lease ran out), in one statement."""
    if not ids:
        return []
    now = utcnow()
    lease = timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"])
    claimed_ids = db.session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), _claimable(now))
        .values(status=M.SENDING, claimed_at=now, lease_until=now + lease, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    if not claimed_ids:
        return []
    messages = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.id.in_(claimed_ids))
        .execution_options(populate_existing=True)
    ).all()
    by_id = {m.id: m for m in messages}
    return [by_id[i] for i in ids if i in by_id]


def _preload(messages: list[OutboxMessage]) -> list[Invitation]:
    """One query for a batch's invitations, people and event, not three a message. The caller keeps
    the list while it sends: the session holds rows only as long as someone else does."""
    invitation_ids = [m.invitation_id for m in messages if m.invitation_id is not None]
    if not invitation_ids:
        return []
    return db.session.scalars(
        sa.select(Invitation).where(Invitation.id.in_(invitation_ids))
        .options(joinedload(Invitation.candidate).joinedload(Candidate.event))
        .execution_options(populate_existing=True)
    ).all()


def _keep_lease(messages: list[OutboxMessage], lease_end: datetime) -> datetime:
    """A batch sent slowly must not outlive its lease (another worker would send its tail too):
    renew it for the messages still to go when a call could outlast what is left of it."""
    config = current_app.config
    now = utcnow()
    if now + timedelta(seconds=config["MAIL_TIMEOUT_SECONDS"] + 10) < lease_end:
        return lease_end
    lease_end = now + timedelta(seconds=config["MAIL_LEASE_SECONDS"])
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_([m.id for m in messages]), OutboxMessage.status == M.SENDING)
        .values(lease_until=lease_end).execution_options(synchronize_session=False)
    )
    db.session.commit()
    return lease_end


def _claimable(now: datetime):
    return sa.or_(
        sa.and_(OutboxMessage.status == M.PENDING, OutboxMessage.next_attempt_at <= now),
        sa.and_(OutboxMessage.status == M.SENDING, OutboxMessage.lease_until < now),
    )


def _release(messages: list[OutboxMessage], until: datetime) -> int:
    """Claimed messages that will not be tried now (a provider pause) wait for its end; no attempt
    is counted for them."""
    if not messages:
        return 0
    ids = [m.id for m in messages]
    db.session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.status == M.SENDING)
        .values(status=M.PENDING, attempts=OutboxMessage.attempts - 1, next_attempt_at=until, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    _wake(ids, eta=until + timedelta(seconds=random.uniform(0, 1)))
    return len(ids)


def _send_claimed(message: OutboxMessage, backend, throttle: Throttle | None, gate: Gate) -> str:
    """Compose, send and record one claimed message; returns what happened to it."""
    try:
        composed = compose(message)
    except Cancelled as cancelled:
        _cancel(message, cancelled)
        if throttle is not None:
            throttle.release_probe(gate)
        return "cancelled"
    except Exception as error:  # a broken template or a vanished row: retried, and visible if it persists
        db.session.rollback()
        current_app.logger.exception("mail %s could not be written", message.id)
        if throttle is not None:
            throttle.release_probe(gate)
        return _retry_later(db.session.get(OutboxMessage, message.id), f"Could not write the message: {error}")
    db.session.commit()  # a minted link's hash is stored before the link leaves
    try:
        backend.send(composed)
    except RateLimited as error:
        until = throttle.pause_for(error.retry_after, str(error)) if throttle is not None else utcnow()
        _put_back(message, until, str(error))
        return "postponed"
    except ProviderError as error:
        current_app.logger.warning("mail %s to %s: %s", message.id, message.to_email, error)
        if throttle is None:
            return _retry_later(message, str(error))
        until = throttle.failed(str(error))
        outcome = _retry_later(message, str(error), not_before=until)
        return "postponed" if outcome != "failed" else outcome
    except Rejected as error:
        if throttle is not None:
            throttle.succeeded(gate)  # the provider answered: it is up
        _fail(message, str(error))
        return "failed"
    except Exception as error:  # any other backend failure is retried later, never lost
        current_app.logger.warning("mail %s to %s failed: %s", message.id, message.to_email, error)
        if throttle is not None:
            throttle.release_probe(gate)
        return _retry_later(message, str(error))
    if throttle is not None:
        throttle.succeeded(gate)
    _mark_sent(message, composed)
    db.session.commit()
    return "sent"


def compose(message: OutboxMessage) -> Composed:
    """The message as it will leave. A link message mints its token here (the caller commits)."""
    from .services import messages, texts

    if message.kind == MessageKind.PLAIN:
        return Composed(message.id, message.to_email, message.subject, message.body_text, message.body_html)
    if message.kind == MessageKind.EVENT_MESSAGE:
        subject, text, html, links = messages.write_copy(message)
        return Composed(message.id, message.to_email, subject, text, html, links=tuple(links))
    context = _link_context(message)
    context.setdefault("base_url", current_app.config["BASE_URL"])
    own = texts.render(context.get("event"), message.template, context)  # the event's own wording
    if own is not None:
        subject, text, html = own
        message.subject = clean_header(subject)
    else:
        text = render_template(f"email/{message.template}.txt", **context)
        html = render_template("email/_layout.html", body=text, **context)
    return Composed(message.id, message.to_email, message.subject, text, html, link=context["link"])


def _link_context(message: OutboxMessage) -> dict:
    from .services import accounts, invites

    if message.kind == MessageKind.SIGN_IN:
        return accounts.mint_sign_in_link(message.to_email)
    if message.kind == MessageKind.INVITATION:
        return invites.mint_invitation_link(message.invitation_id)
    raise Cancelled(f"Unknown kind of message {message.kind!r}.")


def _mark_sent(message: OutboxMessage, composed: Composed) -> None:
    message.status = M.SENT
    message.sent_at = utcnow()
    message.lease_until = None
    message.last_error = ""
    links = [link for link in (composed.link, *composed.links) if link]
    if links:  # keep what was sent, without the one thing that must not be kept
        text, html = composed.body_text, composed.body_html
        for link in links:
            text, html = text.replace(link, REDACTED), html.replace(link, REDACTED)
        message.body_text, message.body_html = text, html
    if composed.subject != message.subject:
        message.subject = clean_header(composed.subject)


def _cancel(message: OutboxMessage, cancelled: Cancelled) -> None:
    db.session.rollback()  # nothing minted for a message that will not leave
    message = db.session.get(OutboxMessage, message.id)
    if cancelled.forget:
        db.session.delete(message)
    else:
        message.status = M.CANCELLED
        message.lease_until = None
        message.last_error = cancelled.reason
    db.session.commit()


def _fail(message: OutboxMessage, error: str) -> None:
    message.status = M.FAILED
    message.lease_until = None
    message.last_error = error[:2000]
    db.session.commit()


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: doubling from MAIL_RETRY_SECONDS, up to 6 hours, with jitter so
    that messages that failed together do not come back together."""
    base = current_app.config["MAIL_RETRY_SECONDS"]
    ceiling = min(base * 2 ** max(attempts - 1, 0), 6 * 3600)
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


def _retry_later(message: OutboxMessage, error: str, not_before: datetime | None = None) -> str:
    if message.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        _fail(message, error)
        return "failed"
    when = utcnow() + backoff(message.attempts)
    if not_before is not None and not_before > when:
        when = not_before
    message.status = M.PENDING
    message.next_attempt_at = when
    message.lease_until = None
    message.last_error = error[:2000]
    db.session.commit()
    _wake([message.id], eta=when)
    return "retrying"


def _put_back(message: OutboxMessage, when: datetime, reason: str) -> None:
    """The provider would not look at it (429): no attempt is counted."""
    message.status = M.PENDING
    message.attempts = max(message.attempts - 1, 0)
    message.next_attempt_at = when
    message.lease_until = None
    message.last_error = reason[:2000]
    db.session.commit()
    _wake([message.id], eta=when)


def _postpone(ids: list[int], until: datetime) -> int:
    """Those of ``ids`` still waiting are due at ``until`` (a provider pause) and queued for it."""
    if not ids:
        return 0
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == M.PENDING, OutboxMessage.next_attempt_at < until)
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    # A little spread, so that the batches waiting for one pause do not all wake in the same instant.
    _wake(ids, eta=until + timedelta(seconds=random.uniform(0, 1)))
    return len(ids)


def deliver_in_transaction(message: OutboxMessage, backend) -> Composed:
    """Compose, send and mark one message inside the caller's transaction, with no retry.

    For the demo, whose simulated people read their invitations while it is being built.
    """
    composed = compose(message)
    backend.send(composed)
    message.attempts += 1
    _mark_sent(message, composed)
    return composed


# --- the outbox as a whole ---------------------------------------------------------------------


def sweep(grace: timedelta = SWEEP_GRACE) -> int:
    """Queue again every message whose task was lost: due for a while and still waiting, or
    claimed by a worker whose lease ran out. Safe to run at any time, by any number of workers."""
    now = utcnow()
    ids = db.session.scalars(
        sa.select(OutboxMessage.id)
        .where(sa.or_(
            sa.and_(OutboxMessage.status == M.PENDING, OutboxMessage.next_attempt_at <= now - grace),
            sa.and_(OutboxMessage.status == M.SENDING, OutboxMessage.lease_until < now),
        ))
        .order_by(OutboxMessage.id).limit(10_000)
    ).all()
    if not ids:
        return 0
    # Due now, so that the next sweep leaves them alone for another grace period.
    db.session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.status == M.PENDING)
        .values(next_attempt_at=now).execution_options(synchronize_session=False)
    )
    db.session.commit()
    _wake(list(ids))
    return len(ids)


def send_due(limit: int = 500) -> dict[str, int]:
    """Send due messages in this process (``flask send-mail``: for a setup with no worker)."""
    now = utcnow()
    ids = db.session.scalars(
        sa.select(OutboxMessage.id).where(_claimable(now)).order_by(OutboxMessage.id).limit(limit)
    ).all()
    outcomes = deliver(list(ids))
    return {"sent": outcomes["sent"], "failed": outcomes["failed"] + outcomes["retrying"],
            "postponed": outcomes["postponed"], "cancelled": outcomes["cancelled"]}


def retry_failed(message_ids: list[int] | None = None) -> int:
    """Give failed messages (all, or these) a fresh set of attempts; the caller commits."""
    condition = OutboxMessage.status == M.FAILED
    if message_ids is not None:
        condition = sa.and_(condition, OutboxMessage.id.in_(message_ids))
    ids = db.session.scalars(sa.select(OutboxMessage.id).where(condition)).all()
    if ids:
        db.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.status == M.FAILED)
            .values(status=M.PENDING, attempts=0, next_attempt_at=utcnow(), last_error="")
            .execution_options(synchronize_session="fetch")
        )
        tasks.after_commit("send_mail" if len(ids) <= BATCH else "dispatch_mail", list(ids))
    return len(ids)


# --- rendering and backends --------------------------------------------------------------------


def build_mime(message: Composed | OutboxMessage) -> EmailMessage:
    mime = EmailMessage()
    sender_name, sender_address = parseaddr(current_app.config["MAIL_FROM"])
    mime["From"] = formataddr((sender_name, sender_address))
    mime["To"] = message.to_email
    mime["Subject"] = message.subject
    mime["Message-ID"] = make_msgid(idstring=f"outbox{message.id}", domain=sender_address.split("@")[-1] or None)
    mime.set_content(message.body_text)
    if message.body_html:
        mime.add_alternative(message.body_html, subtype="html")
    return mime


def get_backend():
    override = current_app.extensions.get("mail_backend")  # tests install failing backends here
    if override is not None:
        return override
    name = current_app.config["MAIL_BACKEND"]
    if name not in BACKENDS:
        raise RuntimeError(f"Unknown MAIL_BACKEND {name!r}; use one of {', '.join(BACKENDS)}")
    return BACKENDS[name]()
