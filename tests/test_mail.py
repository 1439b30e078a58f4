"""The outbox: written with its cause, sent by the worker, retried with backoff, never lost, never
sent twice, and never holding a working link.

The unit layer runs the queue in its test mode. Most tests here hold the queue (``held``): the
tasks a commit queues are recorded instead of run, as if no worker were running yet, and the
test then sends as the worker would (``mail.deliver`` / ``mail.send_due``). Time is controlled
by replacing ``utcnow`` where the outbox reads it, so backoff is checked without sleeping.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import timedelta
from email import policy as email_policy
from email.parser import BytesParser
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from tests.fake_sendgrid import FakeSendGrid
from tests.helpers import TEST_DATABASE_URL, make_candidate, make_event, make_user
from workshop import mail, mail_provider, tasks
from workshop.extensions import db
from workshop.models import (
    CandidateStatus,
    EventStatus,
    Invitation,
    LoginToken,
    MailProviderState,
    MessageStatus,
    OutboxMessage,
    User,
    utcnow,
)
from workshop.services import accounts, invites, outbox

M = MessageStatus


class Clock:
    """A settable replacement for utcnow in the outbox and the provider state."""

    def __init__(self):
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(mail, "utcnow", clock)
    monkeypatch.setattr(mail_provider, "utcnow", clock)
    return clock


@pytest.fixture
def held(monkeypatch):
    """Tasks queued from now on are recorded, not run: (name, args, eta)."""
    queued: list[tuple[str, tuple, object]] = []
    monkeypatch.setattr(tasks, "enqueue_safely", lambda name, *args, eta=None: queued.append((name, args, eta)))
    return queued


class FailingBackend:
    def __init__(self, error: Exception | None = None):
        self.calls = 0
        self.error = error or RuntimeError("relay refused the connection")

    def send(self, message):
        self.calls += 1
        raise self.error


class RecordingBackend:
    """Records the id of every message it is handed; thread-safe, optionally slow."""

    def __init__(self, delay: float = 0.0):
        self.ids: list[int] = []
        self.messages: list[mail.Composed] = []
        self.delay = delay
        self._lock = threading.Lock()

    def send(self, message):
        time.sleep(self.delay)  # widens the window in which a second sender could grab the same message
        with self._lock:
            self.ids.append(message.id)
            self.messages.append(message)


def outbox_rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def ask_for_links(*emails: str) -> None:
    """Queue one sign-in message per address through the accounts service, and commit."""
    for email in emails:
        make_user(email)
        accounts.request_sign_in(email)
    db.session.commit()


def database_dump() -> str:
    return "\n".join(repr(db.session.execute(sa.select(table)).all()) for table in db.metadata.sorted_tables)


LINK = re.compile(r"/(auth/link|invitation)/([A-Za-z0-9_-]{20,})")


# --- written with its cause, sent after the commit -------------------------------------------------


def test_a_rolled_back_service_call_leaves_no_outbox_row_and_queues_nothing(ctx, sent, held):
    make_user("ada@example.org")
    accounts.request_sign_in("ada@example.org")
    db.session.flush()  # the message has an id now, as it would mid-request
    db.session.rollback()

    assert outbox_rows() == []
    make_user("bob@example.org")  # a later, unrelated commit must not send the rolled-back message either
    assert held == []
    assert sent.refresh() == []


def test_a_commit_queues_the_sending_of_exactly_its_messages(ctx, sent, held):
    make_user("ada@example.org")
    make_user("bob@example.org")
    accounts.request_sign_in("ada@example.org")
    accounts.request_sign_in("bob@example.org")
    assert held == []  # nothing before the commit
    db.session.commit()

    ids = [m.id for m in outbox_rows()]
    assert held == [("send_mail", (ids,), None)]
    assert {m.status for m in outbox_rows()} == {M.PENDING} and sent.refresh() == []
    assert mail.deliver(ids)["sent"] == 2
    assert sorted(m["To"] for m in sent.refresh()) == ["ada@example.org", "bob@example.org"]


def test_with_the_queue_in_test_mode_the_commit_sends_at_once(ctx, sent):
    make_user("ada@example.org")
    accounts.request_sign_in("ada@example.org")
    db.session.commit()
    assert [m["To"] for m in sent.refresh()] == ["ada@example.org"]
    assert [m.status for m in outbox_rows()] == [M.SENT]


def test_a_big_wave_is_one_task_that_the_worker_splits_into_batches(ctx, held, monkeypatch):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING, capacity=500)
    people = [make_candidate(event, f"p{i}@example.org", CandidateStatus.APPROVED) for i in range(60)]
    invites.send_wave(organizer, event, people)
    db.session.commit()

    ids = [m.id for m in outbox_rows()]
    assert held == [("dispatch_mail", (ids,), None)]
    batches = []
    monkeypatch.setattr(tasks, "enqueue", lambda name, *args, eta=None: batches.append((name, args)))
    mail.dispatch(ids)
    assert [name for name, _ in batches] == ["send_mail"] * 3
    assert [i for _, (chunk,) in batches for i in chunk] == ids and max(len(c) for _, (c,) in batches) == mail.BATCH


def test_messages_are_filed_under_their_event(ctx, held):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    invites.send_wave(organizer, event, [make_candidate(event, "p@example.org", CandidateStatus.APPROVED)])
    make_user("ada@example.org")
    accounts.request_sign_in("ada@example.org")
    db.session.commit()
    assert [(m.to_email, m.event_id) for m in outbox_rows()] == [("p@example.org", event.id),
                                                                 ("ada@example.org", None)]
    counts = outbox.status_counts(event)
    assert counts[M.PENDING] == 1 and sum(counts.values()) == 1
    assert [m.to_email for m in db.session.scalars(outbox.messages(event))] == ["p@example.org"]


# --- no working link rests in the database -----------------------------------------------------------


def test_a_database_dump_while_messages_wait_holds_no_link_that_works(app, ctx, held, sent):
    """Neither the waiting messages nor anything else: the tokens do not exist until sending."""
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    person = make_candidate(event, "p@example.org", CandidateStatus.APPROVED)
    invites.send_wave(organizer, event, [person])
    make_user("ada@example.org")
    accounts.request_sign_in("ada@example.org")
    db.session.commit()

    waiting = database_dump()
    assert not LINK.search(waiting)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginToken)) == 0
    assert db.session.scalars(sa.select(Invitation.token_hash)).all() == [None]

    assert mail.send_due()["sent"] == 2
    tokens = [LINK.search(m.get_body(("plain",)).get_content()).group(2) for m in sent.refresh()]
    assert len(tokens) == 2
    after = database_dump()
    assert not any(token in after for token in tokens)
    for message in outbox_rows():
        assert mail.REDACTED in message.body_text and mail.REDACTED in message.body_html
        assert "Hello" in message.body_text  # the rest of what was sent is kept


def test_an_invitation_link_lives_from_when_it_is_sent(app, ctx, held, sent, clock, monkeypatch):
    monkeypatch.setattr(invites, "utcnow", clock)
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    person = make_candidate(event, "p@example.org", CandidateStatus.APPROVED)
    invites.send_wave(organizer, event, [person])
    db.session.commit()
    queued_at = clock.now

    clock.now = queued_at + timedelta(days=3)  # the worker was down for three days
    mail.send_due()
    invitation = db.session.scalar(sa.select(Invitation))
    days = app.config["INVITE_TOKEN_DAYS"]
    assert invitation.expires_at == clock.now + timedelta(days=days)
    assert person.invite_expires_at == invitation.expires_at


def test_a_reminder_queued_before_the_invitation_left_cancels_it(ctx, held, sent):
    """Only the newest link works; an older message that has not left yet is not sent at all."""
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    person = make_candidate(event, "p@example.org", CandidateStatus.APPROVED)
    invites.send_wave(organizer, event, [person])
    db.session.commit()
    invites.remind(organizer, event, [person])
    db.session.commit()

    assert mail.send_due() == {"sent": 1, "failed": 0, "postponed": 0, "cancelled": 1}
    first, reminder = outbox_rows()
    assert (first.status, reminder.status) == (M.CANCELLED, M.SENT)
    assert "newer invitation" in first.last_error
    [delivered] = sent.refresh()
    assert delivered["Subject"].startswith("Reminder:")
    token = LINK.search(delivered.get_body(("plain",)).get_content()).group(2)
    assert invites.open_invitation(token).candidate_id == person.id


def test_an_invitation_answered_or_revoked_before_it_left_is_not_sent(ctx, held, sent):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    people = [make_candidate(event, f"p{i}@example.org", CandidateStatus.APPROVED) for i in range(2)]
    invites.send_wave(organizer, event, people)
    db.session.commit()
    invites.revoke(organizer, event, [people[0]])
    db.session.commit()

    assert mail.send_due()["sent"] == 1
    assert [m["To"] for m in sent.refresh()] == ["p1@example.org"]
    assert outbox_rows()[0].status == M.CANCELLED


def test_a_sign_in_request_does_the_same_for_any_address_and_only_an_account_gets_mail(ctx, held, sent):
    make_user("known@example.org")
    disabled = make_user("gone@example.org")
    disabled.is_disabled = True
    db.session.commit()
    for address in ("known@example.org", "nobody@example.org", "gone@example.org"):
        accounts.request_sign_in(address)
    db.session.commit()
    assert [m.to_email for m in outbox_rows()] == ["known@example.org", "nobody@example.org", "gone@example.org"]

    mail.send_due()
    assert [m["To"] for m in sent.refresh()] == ["known@example.org"]
    # The others were never messages: nothing of them is kept.
    assert [(m.to_email, m.status) for m in outbox_rows()] == [("known@example.org", M.SENT)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginToken)) == 1


# --- failures and retries ------------------------------------------------------------------------


def test_a_failing_backend_keeps_the_message_with_growing_backoff_then_marks_it_failed(app, ctx, clock, held,
                                                                                       monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 4)
    backend = FailingBackend()
    app.extensions["mail_backend"] = backend
    ask_for_links("ada@example.org")
    held.clear()

    ceilings = []
    for attempt in range(1, 4):
        counts = mail.send_due()
        assert counts["failed"] == 1 and counts["sent"] == 0
        [message] = outbox_rows()
        assert (message.status, message.attempts) == (M.PENDING, attempt)
        assert "relay refused" in message.last_error
        wait = (message.next_attempt_at - clock.now).total_seconds()
        ceiling = app.config["MAIL_RETRY_SECONDS"] * 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling  # doubling, with jitter in its upper half
        ceilings.append(ceiling)
        # The retry is queued for its time, and nothing is tried before it.
        assert held[-1] == ("send_mail", ([message.id],), message.next_attempt_at)
        assert mail.send_due()["failed"] == 0 and backend.calls == attempt
        clock.now = message.next_attempt_at

    mail.send_due()
    [message] = outbox_rows()
    assert (message.status, message.attempts) == (M.FAILED, 4)
    # A message that ran out of attempts is kept for people to look at, and not tried again on its own.
    clock.now += timedelta(days=2)
    assert mail.send_due()["failed"] == 0 and mail.sweep() == 0
    assert backend.calls == 4


def test_after_failures_a_working_backend_sends_each_message_exactly_once(app, ctx, clock, held, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 2)
    app.extensions["mail_backend"] = FailingBackend()
    ask_for_links("a@example.org", "b@example.org", "c@example.org")
    mail.send_due()
    clock.now += timedelta(hours=1)
    first = outbox_rows()
    db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == first[2].id)
                       .values(next_attempt_at=clock.now + timedelta(minutes=5)))
    db.session.commit()
    mail.send_due()
    assert [m.status for m in outbox_rows()] == [M.FAILED, M.FAILED, M.PENDING]

    backend = RecordingBackend()
    app.extensions["mail_backend"] = backend
    clock.now += timedelta(hours=1)
    assert mail.send_due()["sent"] == 1
    with pytest.raises(Exception, match="Only a failed message"):
        outbox.retry(outbox_rows()[2])
    outbox.retry(outbox_rows()[0])
    assert outbox.retry_all_failed() == 1
    db.session.commit()
    assert mail.send_due()["sent"] == 2
    assert mail.send_due()["sent"] == 0

    assert sorted(backend.ids) == sorted(m.id for m in first)
    assert all(m.status == M.SENT and m.sent_at is not None and m.last_error == "" for m in outbox_rows())


def test_a_message_whose_worker_died_is_sent_again_once_its_lease_runs_out(app, ctx, clock, held, sent):
    ask_for_links("ada@example.org")
    [message] = outbox_rows()
    # A worker claimed it and died before sending: it stays "sending", with a lease.
    assert mail._claim([message.id]) == [message]
    [message] = outbox_rows()
    assert message.status == M.SENDING and message.lease_until > clock.now
    assert mail.send_due()["sent"] == 0 and mail.sweep() == 0  # nobody takes it while the lease holds

    clock.now = message.lease_until + timedelta(seconds=1)
    held.clear()
    assert mail.sweep() == 1
    assert held == [("send_mail", ([message.id],), None)]
    assert mail.deliver([message.id])["sent"] == 1
    assert mail.deliver([message.id])["skipped"] == 1  # a second task for it finds nothing to do
    assert [m["To"] for m in sent.refresh()] == ["ada@example.org"]
    [message] = outbox_rows()
    assert (message.status, message.attempts) == (M.SENT, 2)


def test_a_lost_task_is_found_by_the_sweep_but_not_too_early(ctx, clock, held, sent):
    ask_for_links("ada@example.org")
    held.clear()  # the task was lost: say Redis was flushed
    assert mail.sweep() == 0  # a message queued a moment ago still has its task
    clock.now += mail.SWEEP_GRACE + timedelta(seconds=1)
    assert mail.sweep() == 1 and len(held) == 1
    assert mail.sweep() == 0  # and the next sweep leaves it alone for another grace period
    mail.deliver(*held[0][1])
    assert [m["To"] for m in sent.refresh()] == ["ada@example.org"]


@pytest.mark.postgres
@pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgresql"), reason="needs PostgreSQL row locking")
@pytest.mark.parametrize("round_", range(3))
def test_two_senders_at_once_send_each_message_exactly_once(app, ctx, held, round_):
    ask_for_links(*[f"p{i}@example.org" for i in range(30)])
    ids = [m.id for m in outbox_rows()]
    backend = RecordingBackend(delay=0.005)
    app.extensions["mail_backend"] = backend
    barrier = threading.Barrier(2)
    results, problems = [], []

    def sender():
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results.append(mail.deliver(ids))
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
    assert sorted(backend.ids) == sorted(ids)
    assert {m.status for m in outbox_rows()} == {M.SENT}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginToken)) == 30  # one link each


# --- backends ----------------------------------------------------------------------------------------


def test_the_file_backend_writes_one_parseable_eml_per_message(app, ctx, tmp_path, monkeypatch):
    directory = tmp_path / "mail"
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(directory))
    ask_for_links("ada@example.org", "bob@example.org")

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

    assert all("\r" not in m.subject and "\n" not in m.subject for m in outbox_rows())
    assert {m.status for m in outbox_rows()} == {M.SENT}
    paths = list(tmp_path.glob("*.eml"))
    assert len(paths) == 2
    for path in paths:
        raw = path.read_bytes()
        head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
        assert not any(line.lower().startswith(b"bcc") for line in head.split(b"\n"))
        message = BytesParser(policy=email_policy.default).parsebytes(raw)
        assert message["Bcc"] is None
        assert all("\n" not in str(value) and "\r" not in str(value) for value in message.values())
        html = message.get_body(("html",)).get_content()
        assert "<script>" not in html
        assert "&lt;script&gt;" in html


# --- SendGrid, against a local fake provider ------------------------------------------------------------


@pytest.fixture
def provider(app, monkeypatch):
    """A fake SendGrid on 127.0.0.1, and the app pointed at it through its settings."""
    fake = FakeSendGrid().start()
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "sendgrid")
    monkeypatch.setitem(app.config, "SENDGRID_API_KEY", "SG.test-key")
    monkeypatch.setitem(app.config, "SENDGRID_API_URL", fake.url)
    monkeypatch.setitem(app.config, "MAIL_FROM", "Conclave Team <conclave@example.org>")
    monkeypatch.setitem(app.config, "MAIL_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setitem(app.config, "MAIL_RATE_PER_SECOND", 0)
    yield fake
    fake.stop()


def state():
    """The provider's shared state as it is now (a copy: later reads do not change it)."""
    db.session.expire_all()
    row = db.session.get(MailProviderState, "sendgrid")
    return SimpleNamespace(**{c.name: getattr(row, c.name) for c in MailProviderState.__table__.columns})


def test_sendgrid_is_called_at_its_configured_address_with_the_message(ctx, provider, held):
    ask_for_links("ada@example.org")

    assert mail.send_due()["sent"] == 1
    [call] = provider.calls
    assert call.to == "ada@example.org" and call.subject == "Your Conclave sign-in link"
    assert call.authorization == "Bearer SG.test-key"
    assert "http://conclave.test/auth/link/" in call.body
    assert outbox_rows()[0].status == M.SENT


@pytest.mark.parametrize("trouble", ["error", "hang", "refuse"])
def test_a_provider_that_fails_pauses_sending_for_everyone_then_each_message_goes_once(app, ctx, provider, held,
                                                                                     clock, trouble):
    """500, no answer (the call times out) or no listener: one pause for every worker, backing off,
    one probe when it ends; nothing lost, nothing sent twice once the provider is back."""
    ask_for_links("a@example.org", "b@example.org", "c@example.org")
    if trouble == "refuse":
        provider.stop()
    else:
        provider.set(trouble)

    counts = mail.send_due()
    assert counts["postponed"] == 3 and counts["sent"] == 0  # the first failure holds back the rest
    assert len(provider.calls) == (0 if trouble == "refuse" else 1)
    paused = state()
    assert paused.paused_until > clock.now and paused.failures == 1 and paused.pause_reason
    assert mail.sending_state().paused and mail.sending_state().reason == paused.pause_reason
    calls = len(provider.calls)
    assert mail.send_due()["sent"] == 0 and len(provider.calls) == calls  # nobody calls during the pause

    # The pause ends and the probe fails too: a longer pause.
    clock.now = paused.paused_until + timedelta(seconds=1)
    mail.send_due()
    again = state()
    assert again.failures == 2 and again.pause_seq == paused.pause_seq + 1
    base = app.config["MAIL_PROVIDER_BACKOFF_SECONDS"]
    assert base <= (again.paused_until - clock.now).total_seconds() <= 2 * base

    if trouble == "refuse":
        provider.start()
    provider.set("ok")
    clock.now = max(again.paused_until, *(m.next_attempt_at for m in outbox_rows())) + timedelta(seconds=1)
    assert mail.send_due()["sent"] == 3
    assert sorted(c.to for c in provider.accepted()) == ["a@example.org", "b@example.org", "c@example.org"]
    assert {m.status for m in outbox_rows()} == {M.SENT}
    assert not mail.sending_state().paused and state().failures == 0


def test_a_429_pauses_every_sender_for_its_retry_after_with_one_probe_per_pause(ctx, provider, held, clock):
    """The provider asked for 40 s: no call in those 40 s, whoever asks; then exactly one probe."""
    ask_for_links(*[f"p{i}@example.org" for i in range(5)])
    provider.retry_after = "40"
    provider.throttle_next = 2  # the first call, and the probe after the first pause

    assert mail.send_due()["postponed"] == 5
    assert [c.status for c in provider.calls] == [429]
    first = state()
    assert (first.paused_until - clock.now).total_seconds() == pytest.approx(40, abs=1)
    assert "429" in first.pause_reason
    [message, *_] = outbox_rows()
    assert message.attempts == 0  # a 429 is not the message's fault: no attempt is counted
    assert all(m.next_attempt_at >= first.paused_until for m in outbox_rows())

    # Any number of workers asking during the pause: no call goes out.
    start = clock.now
    for seconds in (1, 10, 39):
        clock.now = start + timedelta(seconds=seconds)
        for _ in range(20):
            mail.deliver([m.id for m in outbox_rows()])
    assert len(provider.calls) == 1

    # The pause ends: exactly one probe, which is throttled again.
    clock.now = first.paused_until + timedelta(seconds=1)
    mail.send_due()
    assert [c.status for c in provider.calls] == [429, 429]
    second = state()
    assert second.pause_seq == first.pause_seq + 1 and second.paused_until > clock.now
    for _ in range(20):
        mail.deliver([m.id for m in outbox_rows()])
    assert len(provider.calls) == 2

    clock.now = second.paused_until + timedelta(seconds=1)
    assert mail.send_due()["sent"] == 5
    assert [c.status for c in provider.calls] == [429, 429] + [202] * 5
    assert {m.status for m in outbox_rows()} == {M.SENT}


def test_while_one_worker_probes_the_others_wait(ctx, provider, held, clock):
    ask_for_links("a@example.org")
    provider.throttle_next = 1
    mail.send_due()
    clock.now = state().paused_until + timedelta(seconds=1)
    gate = mail_provider.Throttle("sendgrid").acquire()  # this worker won the probe
    assert gate.probe_seq is not None
    other = mail_provider.Throttle("sendgrid").acquire()
    assert other.wait_until is not None and other.probe_seq is None
    assert mail.sending_state().probing


def test_retry_after_as_an_http_date_is_understood():
    in_a_minute = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert mail_provider.retry_after_seconds(in_a_minute, 5) == pytest.approx(60, abs=2)
    assert mail_provider.retry_after_seconds("12", 5) == 12
    assert mail_provider.retry_after_seconds("soon", 5) == 5
    assert mail_provider.retry_after_seconds(None, 5) == 5


def test_a_message_the_provider_refuses_for_good_fails_at_once(ctx, provider, held):
    ask_for_links("ada@example.org")
    provider.set("bad")
    assert mail.send_due()["failed"] == 1
    [message] = outbox_rows()
    assert message.status == M.FAILED and "400" in message.last_error
    assert not mail.sending_state().paused  # the provider is fine; it is this message


class FakeTime:
    """time.time and time.sleep for the rate limit: sleeping moves the clock, nothing waits."""

    def __init__(self):
        self.now = time.time()
        self.slept: list[float] = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_the_rate_limit_spaces_calls_across_every_worker(app, ctx, provider, held, monkeypatch):
    fake_time = FakeTime()
    monkeypatch.setattr(mail_provider, "time", fake_time)
    monkeypatch.setitem(app.config, "MAIL_RATE_PER_SECOND", 4)
    ask_for_links(*[f"p{i}@example.org" for i in range(6)])
    ids = [m.id for m in outbox_rows()]

    # Two workers (two throttles on the same row) take turns: each call gets its own quarter second.
    starts = []
    for worker in range(2):
        for message_id in ids[worker::2]:
            mail_provider.Throttle("sendgrid").acquire()
            starts.append(fake_time.now)
            [message] = mail._claim([message_id])
            assert mail._send_claimed(message, mail.get_backend(), None, mail_provider.Gate()) == "sent"
    starts.sort()
    assert all(later - earlier >= 0.25 - 1e-6 for earlier, later in zip(starts, starts[1:]))
    assert len(provider.accepted()) == 6


def test_the_sending_state_is_not_paused_before_anything_happened(ctx):
    assert mail.sending_state() == mail_provider.SendingState("memory", False, None, "", False)


def test_a_known_address_and_an_unknown_one_cost_a_request_the_same_work(client, held):
    """The request writes one row and queues one task either way; who the address belongs to is the
    worker's business."""
    make_user("known@example.org")
    db.session.commit()
    for address in ("known@example.org", "nobody@example.org"):
        held.clear()
        response = client.post("/auth/sign-in", data={"email": address})
        assert response.status_code == 200
        assert [name for name, _, _ in held] == ["send_mail"]
    assert [m.to_email for m in outbox_rows()] == ["known@example.org", "nobody@example.org"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_a_worker_finding_no_free_slot_soon_takes_none_and_comes_back_later(app, ctx, provider, held, monkeypatch):
    fake_time = FakeTime()
    monkeypatch.setattr(mail_provider, "time", fake_time)
    monkeypatch.setitem(app.config, "MAIL_RATE_PER_SECOND", 1)
    throttle = mail_provider.Throttle("sendgrid")
    throttle._row()
    # Other workers hold the slots of the next three seconds.
    db.session.execute(sa.update(MailProviderState).values(next_slot=fake_time.now + 3))
    db.session.commit()

    gate = throttle.acquire()
    assert gate.wait_until is not None and fake_time.slept == []
    assert state().next_slot == pytest.approx(fake_time.now + 3)  # nothing reserved in vain
    fake_time.now += 1.5
    assert throttle.acquire().wait_until is None and fake_time.slept == [pytest.approx(1.5)]
    assert state().next_slot == pytest.approx(fake_time.now + 1)


def test_a_slow_batch_renews_its_lease_so_no_other_worker_takes_its_tail(app, ctx, clock, held, monkeypatch):
    """The provider answers, but slowly: by the last messages of a batch the claim's lease would have
    run out, and a sweep would hand them to a second worker."""
    lease = app.config["MAIL_LEASE_SECONDS"]

    class SlowBackend(RecordingBackend):
        def send(self, message):
            super().send(message)
            clock.now += timedelta(seconds=lease / 3)  # each call takes a third of the lease

    backend = SlowBackend()
    app.extensions["mail_backend"] = backend
    ask_for_links(*[f"p{i}@example.org" for i in range(6)])
    ids = [m.id for m in outbox_rows()]

    leases = []
    real_send = backend.send

    def send_and_look(message):
        real_send(message)
        leases.append(db.session.scalar(sa.select(OutboxMessage.lease_until).where(OutboxMessage.id == ids[-1])))
        assert mail.sweep() == 0  # at every moment, the tail is still held
    backend.send = send_and_look

    assert mail.deliver(ids)["sent"] == 6
    assert len(set(leases[:-1])) > 1  # renewed along the way
    assert sorted(backend.ids) == ids
