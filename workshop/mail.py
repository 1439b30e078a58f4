"""The outbox, message rendering, and the console / file / SendGrid backends.

A message is written to the outbox in the same transaction as the change that
causes it (``queue``). After that transaction commits, the request that made it
tries to deliver it at once (``deliver_committed``); whatever fails or is left
over is sent by ``flask --app app send-mail``, which retries with backoff.
A message is claimed with a conditional UPDATE before it is sent, so two
workers never send the same message; a message is never deleted.
"""

from __future__ import annotations

import re
import sys
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, render_template
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from .extensions import db
from .models import OutboxMessage, utcnow

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# Links that carry a secret token. Once delivered, the outbox keeps the message without it:
# only hashes of tokens may stay in the database.
_TOKEN_LINK = re.compile(r"(/auth/link/|/invitation/)[A-Za-z0-9_-]{20,}")
REDACTED = "[link removed after sending]"
STUCK_AFTER = timedelta(minutes=15)


def clean_header(value: str, limit: int = 250) -> str:
    """Typed names and titles go into headers: no line breaks, no control characters."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def queue(to_email: str, subject: str, template: str, **context) -> OutboxMessage:
    """Render ``email/<template>.txt`` and its HTML twin and add them to the outbox.

    The caller commits. Context values are autoescaped in the HTML part.
    """
    context.setdefault("base_url", current_app.config["BASE_URL"])
    text = render_template(f"email/{template}.txt", **context)
    html = render_template("email/_layout.html", body=text, **context)
    message = OutboxMessage(
        to_email=clean_header(to_email, 254), subject=clean_header(subject), body_text=text, body_html=html
    )
    db.session.add(message)
    db.session.info.setdefault("outbox_new", []).append(message)
    return message


@sa_event.listens_for(Session, "after_commit")
def _remember_committed(session) -> None:
    new = session.info.pop("outbox_new", [])
    if new:
        session.info.setdefault("outbox_committed", []).extend(m.id for m in new if m.id is not None)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction) -> None:
    session.info.pop("outbox_new", None)


def deliver_committed() -> int:
    """Send what this request committed to the outbox, up to MAIL_SEND_INLINE_MAX messages."""
    ids = db.session.info.pop("outbox_committed", [])
    limit = current_app.config.get("MAIL_SEND_INLINE_MAX", 50)
    return sum(1 for message_id in ids[:limit] if _send_one(message_id))


def send_due(limit: int = 500) -> dict[str, int]:
    """Send every pending message whose time has come. Returns counts by outcome."""
    now = utcnow()
    ids = db.session.scalars(
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    counts = {"sent": 0, "failed": 0}
    for message_id in ids:
        counts["sent" if _send_one(message_id) else "failed"] += 1
    counts["stuck"] = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - STUCK_AFTER)
    )
    return counts


def requeue(statuses: tuple[str, ...]) -> int:
    """Put failed (or stuck) messages back in line. Stuck ones may have been sent once already."""
    now = utcnow()
    condition = OutboxMessage.status.in_(statuses)
    if "sending" in statuses:
        condition = sa.or_(
            OutboxMessage.status.in_([s for s in statuses if s != "sending"]),
            sa.and_(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - STUCK_AFTER),
        )
    result = db.session.execute(
        sa.update(OutboxMessage).where(condition).values(status="pending", attempts=0, next_attempt_at=now)
    )
    db.session.commit()
    return result.rowcount


def redact_tokens(body: str) -> str:
    return _TOKEN_LINK.sub(lambda match: match.group(1) + REDACTED, body)


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** (attempts - 1), 360))


def _send_one(message_id: int) -> bool:
    """Claim, send and record one message; True when it was sent by this call."""
    now = utcnow()
    claimed = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
        .values(status="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return False  # someone else has it, or it was sent already
    message = db.session.get(OutboxMessage, message_id)
    try:
        get_backend().send(message)
    except Exception as error:  # any backend failure is retried later, never lost
        current_app.logger.warning("mail %s to %s failed: %s", message.id, message.to_email, error)
        failed_for_good = message.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]
        message.status = "failed" if failed_for_good else "pending"
        message.next_attempt_at = utcnow() + _backoff(message.attempts)
        message.last_error = str(error)[:2000]
        db.session.commit()
        return False
    message.status = "sent"
    message.sent_at = utcnow()
    message.last_error = ""
    message.body_text = redact_tokens(message.body_text)
    message.body_html = redact_tokens(message.body_html)
    db.session.commit()
    return True


def build_mime(message: OutboxMessage) -> EmailMessage:
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


class ConsoleBackend:
    """Prints each message to standard output: the default for a local run."""

    def send(self, message: OutboxMessage) -> None:
        divider = "-" * 72
        sys.stdout.write(
            f"{divider}\nTo: {message.to_email}\nSubject: {message.subject}\n\n{message.body_text}\n{divider}\n"
        )
        sys.stdout.flush()


class FileBackend:
    """Writes each message as an .eml file under MAIL_FILE_DIR."""

    def send(self, message: OutboxMessage) -> None:
        directory = Path(current_app.config["MAIL_FILE_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow():%Y%m%dT%H%M%S}-{message.id:06d}-{uuid.uuid4().hex[:8]}.eml"
        (directory / name).write_bytes(bytes(build_mime(message)))


class MemoryBackend:
    """Keeps messages in a list on the app, for tests."""

    def send(self, message: OutboxMessage) -> None:
        current_app.extensions.setdefault("mail_sent", []).append(build_mime(message))


class SendGridBackend:
    def send(self, message: OutboxMessage) -> None:
        from sendgrid import SendGridAPIClient
        from sendgrid.helpers.mail import Mail

        sender_name, sender_address = parseaddr(current_app.config["MAIL_FROM"])
        mail = Mail(
            from_email=(sender_address, sender_name) if sender_name else sender_address,
            to_emails=message.to_email,
            subject=message.subject,
            plain_text_content=message.body_text,
            html_content=message.body_html or None,
        )
        response = SendGridAPIClient(current_app.config["SENDGRID_API_KEY"]).send(mail)
        if response.status_code >= 300:
            raise RuntimeError(f"SendGrid answered {response.status_code}")


BACKENDS = {"console": ConsoleBackend, "file": FileBackend, "memory": MemoryBackend, "sendgrid": SendGridBackend}


def get_backend():
    override = current_app.extensions.get("mail_backend")  # tests install failing backends here
    if override is not None:
        return override
    name = current_app.config["MAIL_BACKEND"]
    if name not in BACKENDS:
        raise RuntimeError(f"Unknown MAIL_BACKEND {name!r}; use one of {', '.join(BACKENDS)}")
    return BACKENDS[name]()
