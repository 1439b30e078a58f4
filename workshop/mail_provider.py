"""Mail backends, and the state every worker shares about the provider (pauses, rate limit).

Only a remote provider (SendGrid) is throttled: the console, file and memory backends answer
at once and never ask anyone to slow down.
"""

from __future__ import annotations

import http.client
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from urllib.error import URLError

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import MailProviderState, utcnow

PROBE_POLL = timedelta(seconds=1)  # how often those waiting for a probe look again
MAX_RATE_SLEEP = 2.0  # a worker sleeps for a rate-limit slot up to this long, and reschedules beyond


class ProviderError(Exception):
    """The provider cannot take any message now: 5xx, a timeout, a refused connection, a refused key."""


class RateLimited(ProviderError):
    """The provider answered 429: nobody sends until ``retry_after`` seconds have passed."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(Exception):
    """The provider refused this message for good (a 4xx other than 401, 403, 408, 429)."""


def retry_after_seconds(value: str | None, default: float) -> float:
    """Retry-After is seconds or an HTTP date; anything else gets the default."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


# --- backends ----------------------------------------------------------------------------------


class ConsoleBackend:
    """Prints each message to standard output: the default for a local run."""

    def send(self, message) -> None:
        divider = "-" * 72
        sys.stdout.write(
            f"{divider}\nTo: {message.to_email}\nSubject: {message.subject}\n\n{message.body_text}\n{divider}\n"
        )
        sys.stdout.flush()


class FileBackend:
    """Writes each message as an .eml file under MAIL_FILE_DIR."""

    def send(self, message) -> None:
        from .mail import build_mime

        directory = Path(current_app.config["MAIL_FILE_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow():%Y%m%dT%H%M%S}-{message.id:06d}-{uuid.uuid4().hex[:8]}.eml"
        (directory / name).write_bytes(bytes(build_mime(message)))


class MemoryBackend:
    """Keeps messages in a list on the app, for tests."""

    def send(self, message) -> None:
        from .mail import build_mime

        current_app.extensions.setdefault("mail_sent", []).append(build_mime(message))


class SendGridBackend:
    """SendGrid's v3 API through its own client, at SENDGRID_API_URL, with a timeout on every call."""

    remote = True

    def send(self, message) -> None:
        from python_http_client.exceptions import HTTPError
        from sendgrid import SendGridAPIClient
        from sendgrid.helpers.mail import Mail

        config = current_app.config
        sender_name, sender_address = parseaddr(config["MAIL_FROM"])
        mail = Mail(
            from_email=(sender_address, sender_name) if sender_name else sender_address,
            to_emails=message.to_email,
            subject=message.subject,
            plain_text_content=message.body_text,
            html_content=message.body_html or None,
        )
        client = SendGridAPIClient(config["SENDGRID_API_KEY"], host=config["SENDGRID_API_URL"])
        client.client.timeout = config["MAIL_TIMEOUT_SECONDS"]  # handed down to the request it builds
        try:
            response = client.send(mail)
        except HTTPError as error:
            status = error.status_code
            if status == 429:
                headers = error.headers or {}
                seconds = retry_after_seconds(headers.get("Retry-After"), config["MAIL_PROVIDER_BACKOFF_SECONDS"])
                raise RateLimited(f"SendGrid asked to slow down (429) for {seconds:g} s", seconds) from None
            if status >= 500 or status in (401, 403, 408):
                raise ProviderError(f"SendGrid answered {status}") from None
            body = error.body.decode("utf-8", "replace") if isinstance(error.body, bytes) else str(error.body)
            raise Rejected(f"SendGrid refused the message ({status}): {body[:500]}") from None
        except (TimeoutError, URLError, ConnectionError, http.client.HTTPException, OSError) as error:
            raise ProviderError(f"SendGrid could not be reached: {error}") from None
        if not 200 <= response.status_code < 300:
            raise ProviderError(f"SendGrid answered {response.status_code}")


BACKENDS = {"console": ConsoleBackend, "file": FileBackend, "memory": MemoryBackend, "sendgrid": SendGridBackend}


# --- shared provider state ---------------------------------------------------------------------


@dataclass
class Gate:
    """May this worker call the provider now? ``wait_until`` says no; ``probe_seq`` says yes, as the one
    probe after that pause."""

    wait_until: datetime | None = None
    probe_seq: int | None = None


@dataclass
class SendingState:
    """What the outbox page shows about sending."""

    provider: str
    paused: bool
    paused_until: datetime | None
    reason: str
    probing: bool


S = MailProviderState.__table__.c


class Throttle:
    """One provider's pauses and rate limit, kept in the database so that every worker on every
    machine sees them. Each method commits at once: the state is of no use inside a transaction."""

    def __init__(self, provider: str):
        self.provider = provider
        self.config = current_app.config

    def _row(self):
        statement = sa.select(S.paused_until, S.pause_seq, S.probe_until, S.failures).where(S.provider == self.provider)
        row = db.session.execute(statement).one_or_none()
        if row is None:
            try:
                db.session.execute(sa.insert(MailProviderState.__table__).values(
                    provider=self.provider, pause_seq=0, failures=0, next_slot=0.0, pause_reason="",
                    updated_at=utcnow()))
                db.session.commit()
            except IntegrityError:  # another worker made it first
                db.session.rollback()
            row = db.session.execute(statement).one()
        db.session.commit()
        return row

    def _update(self, *conditions, **values) -> int:
        values.setdefault("updated_at", utcnow())
        count = db.session.execute(
            sa.update(MailProviderState.__table__).where(S.provider == self.provider, *conditions).values(**values)
        ).rowcount
        db.session.commit()
        return count

    def blocked_until(self) -> datetime | None:
        """When a pause (or a probe under way) holds everyone back: until when; None otherwise."""
        row = self._row()
        now = utcnow()
        if row.paused_until is None:
            return None
        if row.paused_until > now:
            return row.paused_until
        if row.probe_until is not None and row.probe_until > now:
            return now + PROBE_POLL
        return None  # the pause is over and nobody probes: this worker may

    def acquire(self) -> Gate:
        """Wait for a rate-limit slot and return Gate(), or say until when to wait."""
        row = self._row()
        now = utcnow()
        if row.paused_until is not None:
            if row.paused_until > now:
                return Gate(wait_until=row.paused_until)
            won = self._update(S.pause_seq == row.pause_seq,
                               sa.or_(S.probe_until.is_(None), S.probe_until < now),
                               probe_until=now + timedelta(seconds=self.config["MAIL_TIMEOUT_SECONDS"] + 5))
            if won:
                return Gate(probe_seq=row.pause_seq)
            return Gate(wait_until=now + PROBE_POLL)  # another worker is probing; look again shortly
        rate = self.config["MAIL_RATE_PER_SECOND"]
        if rate > 0:
            wait = self._reserve_slot(1.0 / rate)
            if wait is None:  # the slots of the next moments are all taken: come back later
                return Gate(wait_until=utcnow() + timedelta(seconds=MAX_RATE_SLEEP))
            if wait > 0:
                time.sleep(wait)
        return Gate()

    def _reserve_slot(self, step: float) -> float | None:
        """Take the next free slot of the global rate limit and return how long until it comes, or None
        when none is free within MAX_RATE_SLEEP (then nothing is taken, so no slot goes to waste)."""
        now = time.time()
        slot_end = db.session.execute(
            sa.update(MailProviderState.__table__)
            .where(S.provider == self.provider, S.next_slot <= now + MAX_RATE_SLEEP)
            .values(next_slot=sa.case((S.next_slot < now, now), else_=S.next_slot) + step)
            .returning(S.next_slot)
        ).scalar()
        db.session.commit()
        return None if slot_end is None else (slot_end - step) - time.time()

    def succeeded(self, gate: Gate) -> None:
        if gate.probe_seq is not None:  # the probe went through: sending resumes for everyone
            self._update(S.pause_seq == gate.probe_seq, paused_until=None, probe_until=None, failures=0,
                         pause_reason="")

    def release_probe(self, gate: Gate) -> None:
        """The probe had nothing to send after all; let the next worker probe."""
        if gate.probe_seq is not None:
            self._update(S.pause_seq == gate.probe_seq, probe_until=None)

    def pause_for(self, seconds: float, reason: str) -> datetime:
        """Nobody calls for ``seconds`` (capped at MAIL_PAUSE_MAX_SECONDS); a longer pause already set stays."""
        seconds = min(max(seconds, 0.0), self.config["MAIL_PAUSE_MAX_SECONDS"])
        until = utcnow() + timedelta(seconds=seconds)
        self._row()
        self._update(paused_until=sa.case((sa.and_(S.paused_until.is_not(None), S.paused_until > until),
                                           S.paused_until), else_=until),
                     pause_seq=S.pause_seq + 1, probe_until=None, pause_reason=reason[:300])
        return self.paused_until() or until

    def failed(self, reason: str) -> datetime:
        """A provider error: pause for a doubling, jittered time."""
        self._row()
        self._update(failures=S.failures + 1)
        failures = self._row().failures
        base = self.config["MAIL_PROVIDER_BACKOFF_SECONDS"]
        ceiling = base * 2 ** min(failures - 1, 20)
        return self.pause_for(ceiling / 2 + random.uniform(0, ceiling / 2), reason)

    def paused_until(self) -> datetime | None:
        return db.session.execute(sa.select(S.paused_until).where(S.provider == self.provider)).scalar()


def sending_state() -> SendingState:
    """Whether sending is paused, until when and why: for the outbox page."""
    provider = current_app.config["MAIL_BACKEND"]
    row = db.session.execute(
        sa.select(S.paused_until, S.pause_reason, S.probe_until).where(S.provider == provider)
    ).one_or_none()
    now = utcnow()
    if row is None or row.paused_until is None:
        return SendingState(provider, False, None, "", False)
    probing = row.probe_until is not None and row.probe_until > now
    return SendingState(provider, True, row.paused_until, row.pause_reason, probing)
