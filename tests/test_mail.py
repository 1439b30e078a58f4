"""The outbox: written with its cause, retried with backoff, never lost, never sent twice.

Time is controlled by replacing ``workshop.mail.utcnow``, so backoff is checked without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from email import policy as email_policy
from email.parser import BytesParser
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from tests.helpers import TEST_DATABASE_URL, make_candidate, make_event, make_user
from workshop import mail
from workshop.extensions import db
from workshop.models import CandidateStatus, EventStatus, LoginToken, OutboxMessage, utcnow
from workshop.services import accounts, invites


class Clock:
    """A settable replacement for workshop.mail.utcnow."""

    def __init__(self):
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(mail, "utcnow", clock)
    return clock


class FailingBackend:
    def __init__(self):
        self.calls = 0

    def send(self, message):
        self.calls += 1
        raise RuntimeError("relay refused the connection")


class RecordingBackend:
    """Records the id of every message it is handed; thread-safe, optionally slow."""

    def __init__(self, delay: float = 0.0):
        self.ids: list[int] = []
        self.delay = delay
        self._lock = threading.Lock()

    def send(self, message):
        time.sleep(self.delay)  # widens the window in which a second sender could grab the same message
        with self._lock:
            self.ids.append(message.id)


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def ask_for_links(*emails: str) -> None:
    """Queue one sign-in message per address through the accounts service, and commit."""
    for email in emails:
        make_user(email)
        accounts.request_sign_in(email)
    db.session.commit()


# --- written with its cause ------------------------------------------------------------------


def test_a_rolled_back_service_call_leaves_no_outbox_row(ctx, sent):
    make_user("ada@example.org")
    accounts.request_sign_in("ada@example.org")
    db.session.flush()  # the message has an id now, as it would mid-request
    db.session.rollback()

    assert outbox() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginToken)) == 0
    # A later, unrelated commit must not deliver the rolled-back message either.
    make_user("bob@example.org")
    assert mail.deliver_committed() == 0
    assert sent.refresh() == []


def test_a_committed_service_call_leaves_exactly_its_message(ctx, sent):
    make_user("ada@example.org")
    accounts.request_sign_in("ada@example.org")
    db.session.commit()

    [message] = outbox()
    assert message.status == "pending" and message.to_email == "ada@example.org"
    assert mail.deliver_committed() == 1
    assert [m["To"] for m in sent.refresh()] == ["ada@example.org"]
    assert outbox()[0].status == "sent"


# --- failures and retries ------------------------------------------------------------------


def test_a_failing_backend_keeps_the_message_with_growing_backoff_then_marks_it_failed(app, ctx, clock, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 4)
    backend = FailingBackend()
    app.extensions["mail_backend"] = backend
    ask_for_links("ada@example.org")

    delays = []
    for attempt in range(1, 4):
        counts = mail.send_due()
        assert counts["failed"] == 1 and counts["sent"] == 0
        [message] = outbox()
        assert message.status == "pending"
        assert message.attempts == attempt
        assert "relay refused" in message.last_error
        assert message.next_attempt_at > clock.now
        delays.append(message.next_attempt_at - clock.now)
        # Not due yet: nothing is tried before the backoff has passed.
        assert mail.send_due()["failed"] == 0 and backend.calls == attempt
        clock.now = message.next_attempt_at

    assert delays == sorted(delays) and len(set(delays)) == 3  # each wait is longer than the one before

    mail.send_due()
    [message] = outbox()
    assert message.status == "failed" and message.attempts == 4
    # A message that ran out of attempts is kept for people to look at, and not tried again on its own.
    clock.now += timedelta(days=2)
    assert mail.send_due() == {"sent": 0, "failed": 0, "stuck": 0}
    assert backend.calls == 4
    [message] = outbox()
    assert message.status == "failed" and message.body_text


def test_after_failures_a_working_backend_sends_each_message_exactly_once(app, ctx, clock, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 2)
    app.extensions["mail_backend"] = FailingBackend()
    ask_for_links("a@example.org", "b@example.org", "c@example.org")
    mail.send_due()
    clock.now += timedelta(hours=1)
    # One more failure for a and b only: they run out of attempts; c is held back and stays pending.
    first = outbox()
    db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == first[2].id)
                       .values(next_attempt_at=clock.now + timedelta(minutes=5)))
    db.session.commit()
    mail.send_due()
    assert [m.status for m in outbox()] == ["failed", "failed", "pending"]

    backend = RecordingBackend()
    app.extensions["mail_backend"] = backend
    clock.now += timedelta(hours=1)
    assert mail.send_due()["sent"] == 1
    assert mail.requeue(("failed",)) == 2
    assert mail.send_due()["sent"] == 2
    assert mail.send_due()["sent"] == 0

    assert sorted(backend.ids) == sorted(m.id for m in first)
    assert all(m.status == "sent" and m.sent_at is not None and m.last_error == "" for m in outbox())


@pytest.mark.postgres
@pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgresql"), reason="needs PostgreSQL row locking")
@pytest.mark.parametrize("round_", range(3))
def test_two_senders_at_once_send_each_message_exactly_once(app, ctx, round_):
    ask_for_links(*[f"p{i}@example.org" for i in range(30)])
    backend = RecordingBackend(delay=0.005)
    app.extensions["mail_backend"] = backend
    barrier = threading.Barrier(2)
    results, problems = [], []

    def sender():
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results.append(mail.send_due())
            except Exception as error:  # reported below rather than lost in the thread
                problems.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert problems == []
    assert sum(r["sent"] for r in results) == 30
    assert all(count == 1 for count in Counter(backend.ids).values())
    assert sorted(backend.ids) == sorted(m.id for m in outbox())
    assert {m.status for m in outbox()} == {"sent"}


# --- backends ----------------------------------------------------------------------------


def test_the_file_backend_writes_one_parseable_eml_per_message(app, ctx, tmp_path, monkeypatch):
    directory = tmp_path / "mail"
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(directory))
    ask_for_links("ada@example.org", "bob@example.org")

    assert mail.send_due()["sent"] == 2
    files = sorted(directory.glob("*.eml"))
    assert len(files) == 2
    messages = [BytesParser(policy=email_policy.default).parsebytes(f.read_bytes()) for f in files]
    assert sorted(m["To"] for m in messages) == ["ada@example.org", "bob@example.org"]
    for message in messages:
        assert message["Subject"] == "Your Conclave sign-in link"
        assert message["From"].addresses[0].addr_spec == "conclave@localhost"
        assert message["Message-ID"]
        assert "http://conclave.test/auth/link/" in message.get_body(("plain",)).get_content()
        assert 'href="http://conclave.test/auth/link/' in message.get_body(("html",)).get_content()


HOSTILE = "<script>alert(1)</script>\r\nBcc: evil@x"


def test_names_and_titles_cannot_inject_markup_or_headers(app, ctx, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(tmp_path))
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], title=f"Retreat {HOSTILE}", status=EventStatus.DRAFT)
    person = make_candidate(event, "p@example.org", CandidateStatus.APPROVED, name=f"Pat {HOSTILE}")
    invites.send_wave(organizer, event, [person])
    user = make_user("named@example.org")
    user.name = f"Sam {HOSTILE}"
    accounts.request_sign_in(user.email)
    db.session.commit()

    assert all("\r" not in m.subject and "\n" not in m.subject for m in outbox())
    assert mail.send_due()["sent"] == 2
    for path in tmp_path.glob("*.eml"):
        raw = path.read_bytes()
        head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
        assert not any(line.lower().startswith(b"bcc") for line in head.split(b"\n"))
        message = BytesParser(policy=email_policy.default).parsebytes(raw)
        assert message["Bcc"] is None
        assert all("\n" not in str(value) and "\r" not in str(value) for value in message.values())
        html = message.get_body(("html",)).get_content()
        assert "<script>" not in html
        assert "&lt;script&gt;" in html


class FakeResponse(SimpleNamespace):
    pass


@pytest.fixture
def sendgrid_calls(app, monkeypatch):
    """Replace the SendGrid API call: record the Mail object and answer with a chosen status."""
    import sendgrid

    calls = SimpleNamespace(mails=[], clients=[], status=202)

    def fake_send(client, message):
        calls.clients.append(client)
        calls.mails.append(message)
        return FakeResponse(status_code=calls.status, body=b"", headers={})

    monkeypatch.setattr(sendgrid.SendGridAPIClient, "send", fake_send)
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "sendgrid")
    monkeypatch.setitem(app.config, "SENDGRID_API_KEY", "SG.test-key")
    monkeypatch.setitem(app.config, "MAIL_FROM", "Conclave Team <conclave@example.org>")
    return calls


def test_sendgrid_builds_the_request_from_the_message(ctx, sendgrid_calls, clock):
    ask_for_links("ada@example.org")

    assert mail.send_due()["sent"] == 1
    [request] = sendgrid_calls.mails
    payload = request.get()
    assert payload["from"] == {"email": "conclave@example.org", "name": "Conclave Team"}
    assert payload["personalizations"][0]["to"] == [{"email": "ada@example.org"}]
    assert payload["subject"] == "Your Conclave sign-in link"
    contents = {part["type"]: part["value"] for part in payload["content"]}
    assert set(contents) == {"text/plain", "text/html"}
    assert "http://conclave.test/auth/link/" in contents["text/plain"]
    assert sendgrid_calls.clients[0].auth == "Bearer SG.test-key"
    assert outbox()[0].status == "sent"


def test_a_sendgrid_error_status_is_retried_and_sent_once(ctx, sendgrid_calls, clock):
    ask_for_links("ada@example.org")
    sendgrid_calls.status = 500

    assert mail.send_due()["failed"] == 1
    [message] = outbox()
    assert message.status == "pending" and message.attempts == 1 and "500" in message.last_error

    sendgrid_calls.status = 202
    clock.now = message.next_attempt_at
    assert mail.send_due()["sent"] == 1
    assert mail.send_due()["sent"] == 0
    [message] = outbox()
    assert message.status == "sent" and message.attempts == 2
    assert len(sendgrid_calls.mails) == 2
