"""The flask commands, run through the real CLI: users, demo data, export/import, the outbox."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers import make_event, make_user, open_link, wipe_database
from workshop.extensions import db
from workshop.models import (
    Agreement,
    AgreementAcceptance,
    AuditEntry,
    Candidate,
    CandidateStatus,
    CandidateTag,
    Event,
    Invitation,
    InviteWave,
    LoginToken,
    OutboxMessage,
    User,
    Vouch,
    event_organizers,
    utcnow,
)

S = CandidateStatus


@pytest.fixture
def cli(app, ctx):
    """Run a command as `flask --app app ...` would, inside the test's app context."""
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(args=list(args))

    return run


def user_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


# --- create-user ------------------------------------------------------------------------------


def test_create_user_makes_a_plain_user(cli):
    result = cli("create-user", "Grace@Example.org", "--name", "Grace Hopper")
    assert result.exit_code == 0, result.output
    assert "grace@example.org is a user" in result.output
    user = db.session.scalar(sa.select(User))
    assert (user.email, user.name, user.is_admin) == ("grace@example.org", "Grace Hopper", False)


def test_create_user_admin_promotes_an_existing_user(cli):
    make_user("grace@example.org", "Grace Hopper")
    result = cli("create-user", "grace@example.org", "--admin")
    assert result.exit_code == 0, result.output
    assert "is an admin" in result.output
    db.session.expire_all()
    user = db.session.scalar(sa.select(User))
    assert user.is_admin and user.name == "Grace Hopper"
    assert user_count() == 1


def test_create_user_refuses_a_bad_email_and_writes_nothing(cli):
    result = cli("create-user", "not-an-email", "--admin")
    assert result.exit_code != 0
    assert "not valid" in result.output
    assert "Traceback" not in result.output
    db.session.rollback()
    assert user_count() == 0


# --- demo -------------------------------------------------------------------------------------


def invitation_path(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://conclave\.test(/invitation/\S+)", body).group(1)


def test_demo_has_every_status_and_a_working_invitation(cli, client, sent):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    assert "http://conclave.test/auth/sign-in" in result.output
    assert "organizer@example.org" in result.output and "admin@example.org" in result.output

    event = db.session.scalar(sa.select(Event).where(Event.slug == "demo"))
    assert event.timezone == "Europe/Berlin" and event.status.value == "open"
    candidates = db.session.scalars(sa.select(Candidate).where(Candidate.event_id == event.id)).all()
    assert {c.status for c in candidates} == set(CandidateStatus)
    accepted = [c for c in candidates if c.status == S.ACCEPTED]
    assert len(accepted) == event.capacity  # full, so the waitlist is real
    signers = set(db.session.scalars(sa.select(AgreementAcceptance.user_id)))
    assert any(c.user_id in signers for c in accepted) and any(c.user_id not in signers for c in accepted)
    [proposed] = [c for c in candidates if c.status == S.PROPOSED]
    accepted_users = {c.user_id for c in accepted}
    assert proposed.vouches and all(v.user_id in accepted_users for v in proposed.vouches)
    assert any(c.tags for c in candidates) and any(c.notes for c in candidates)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) >= 3
    admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.org"))
    assert admin.is_admin and event.organizers[0].email == "organizer@example.org"

    # Everything queued was sent; the invited person's email holds a live link.
    assert not db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.status != "sent")).all()
    [invited] = [c for c in candidates if c.status == S.INVITED]
    [message] = sent.to(invited.email)
    assert client.get(open_link(client, invitation_path(message))).status_code == 200

    # A second run refuses, and adds nobody.
    people = len(candidates)
    again = cli("demo")
    assert again.exit_code != 0 and "already exists" in again.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Candidate)) == people
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 1

    # The demo script's flag keeps what is there and succeeds, so it can be run again.
    kept = cli("demo", "--keep-existing")
    assert kept.exit_code == 0 and "keeping it" in kept.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Candidate)) == people


# --- export-event and import-event ------------------------------------------------------------


def dump(slug: str) -> dict[str, Any]:
    """Every column of everything an export should carry, with ids replaced by what they point at.

    Written against the tables, not the export format, so a field the exporter forgets shows up
    as a difference after the round trip.
    """
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
    emails = dict(db.session.execute(sa.select(User.id, User.email)).all())
    candidate_emails = dict(db.session.execute(
        sa.select(Candidate.id, Candidate.email).where(Candidate.event_id == event.id)).all())
    versions = dict(db.session.execute(
        sa.select(Agreement.id, Agreement.version).where(Agreement.event_id == event.id)).all())
    lookups = {"users": emails, "candidates": candidate_emails, "agreements": versions}
    people: set[str] = set()  # every account the event's rows point at

    def rows(model, *where) -> list[dict[str, Any]]:
        table = getattr(model, "__table__", model)
        out = []
        for row in db.session.execute(sa.select(table).where(*where)).mappings():
            record = {}
            for column in table.columns:
                if column.name == "id":
                    continue
                value = row[column.name]
                if column.foreign_keys:
                    target = next(iter(column.foreign_keys)).column.table.name
                    if target == "events":
                        continue
                    value = lookups[target].get(value) if value is not None else None
                    if target == "users" and value is not None:
                        people.add(value)
                record[column.name] = value.value if hasattr(value, "value") else value
            out.append(record)
        return sorted(out, key=lambda r: json.dumps(r, sort_keys=True, default=str))

    candidate_ids = list(candidate_emails)
    data = {
        "event": rows(Event, Event.id == event.id),
        "organizers": rows(event_organizers, event_organizers.c.event_id == event.id),
        "agreements": rows(Agreement, Agreement.event_id == event.id),
        "acceptances": rows(AgreementAcceptance, AgreementAcceptance.agreement_id.in_(list(versions))),
        "candidates": rows(Candidate, Candidate.event_id == event.id),
        "tags": rows(CandidateTag, CandidateTag.candidate_id.in_(candidate_ids)),
        "vouches": rows(Vouch, Vouch.candidate_id.in_(candidate_ids)),
        "waves": rows(InviteWave, InviteWave.event_id == event.id),
        "audit": rows(AuditEntry, AuditEntry.event_id == event.id),
        "audit_order": list(db.session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.event_id == event.id).order_by(AuditEntry.id))),
    }
    data["people"] = sorted(db.session.execute(sa.select(User.email, User.name).where(User.email.in_(people))).all())
    return data


def exported(path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("exported_at")
    return data


def test_export_wipe_import_round_trip(cli, tmp_path):
    assert cli("demo").exit_code == 0
    kofi = db.session.scalar(sa.select(Candidate).where(Candidate.status == S.PROPOSED))
    kofi.reminded_at = utcnow() - timedelta(hours=3)  # the demo leaves this column empty everywhere else
    db.session.commit()
    before = dump("demo")
    assert before["acceptances"] and before["vouches"] and before["audit"] and before["waves"]
    token_hashes = list(db.session.scalars(sa.select(Invitation.token_hash)))

    first = tmp_path / "demo.json"
    result = cli("export-event", "demo", "-o", str(first))
    assert result.exit_code == 0, result.output
    text = first.read_text(encoding="utf-8")
    assert token_hashes and not any(h in text for h in token_hashes)  # links must not survive a move
    assert "token" not in text

    wipe_database()
    result = cli("import-event", str(first))
    assert result.exit_code == 0, result.output
    assert "Imported event demo" in result.output
    db.session.expire_all()
    assert dump("demo") == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginToken)) == 0

    second = tmp_path / "again.json"
    assert cli("export-event", "demo", "-o", str(second)).exit_code == 0
    assert exported(second) == exported(first)


def test_export_to_stdout_and_unknown_slug(cli):
    make_event("retreat")
    result = cli("export-event", "retreat")
    assert result.exit_code == 0
    assert json.loads(result.output)["event"]["slug"] == "retreat"

    result = cli("export-event", "nowhere")
    assert result.exit_code != 0
    assert "nowhere" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("content", "message"), [
    ("not json at all", "Cannot import"),
    ('{"format": "something-else", "version": 1}', "not a Conclave event export"),
    ('{"format": "conclave-event", "version": 99}', "version 99"),
    ('{"format": "conclave-event", "version": 1, "event": {}}', "missing users"),
])
def test_import_refuses_a_bad_file(cli, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    result = cli("import-event", str(path))
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_import_refuses_a_bad_value_deep_in_the_file_and_writes_nothing(cli, tmp_path):
    organizer = make_user("org@example.org")
    make_event("retreat", organizers=[organizer])
    path = tmp_path / "retreat.json"
    assert cli("export-event", "retreat", "-o", str(path)).exit_code == 0
    wipe_database()
    data = json.loads(path.read_text(encoding="utf-8"))
    ada = {"email": "ada@example.org", "name": "Ada", "affiliation": "", "status": "accepted", "notes": "",
           "tags": [], "user": "ada@example.org", "created_at": "2025-01-01T10:00:00+00:00", "invited_at": None,
           "invite_expires_at": None, "reminded_at": None, "responded_at": None, "waitlisted_at": None,
           "vouches": []}
    data["candidates"] = [ada, {**ada, "email": "bob@example.org", "user": None, "status": "vip"}]
    path.write_text(json.dumps(data), encoding="utf-8")

    result = cli("import-event", str(path))
    assert result.exit_code != 0
    assert "candidates[1].status should be one of proposed" in result.output

    data["candidates"] = [ada, {**ada, "name": "Ada again"}]
    path.write_text(json.dumps(data), encoding="utf-8")
    result = cli("import-event", str(path))
    assert result.exit_code != 0
    assert "candidates[1]: ada@example.org is on the invite list twice" in result.output
    assert user_count() == 0 and db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_import_refuses_an_existing_slug(cli, tmp_path):
    make_event("retreat", title="The Original")
    path = tmp_path / "retreat.json"
    assert cli("export-event", "retreat", "-o", str(path)).exit_code == 0

    result = cli("import-event", str(path))
    assert result.exit_code != 0
    assert "already exists" in result.output
    db.session.rollback()
    assert db.session.scalars(sa.select(Event.title)).all() == ["The Original"]


# --- send-mail --------------------------------------------------------------------------------


def outbox(to_email: str) -> OutboxMessage:
    message = OutboxMessage(to_email=to_email, subject="Hello", body_text="Hello there.")
    db.session.add(message)
    db.session.commit()
    return message


def test_send_mail_sends_pending_messages(cli, sent):
    ids = [outbox("a@example.org").id, outbox("b@example.org").id]
    result = cli("send-mail")
    assert result.exit_code == 0, result.output
    assert "sent 2, failed 0" in result.output
    assert sorted(m["To"] for m in sent.refresh()) == ["a@example.org", "b@example.org"]
    assert all(db.session.get(OutboxMessage, i).status == "sent" for i in ids)


class FailingBackend:
    def send(self, message) -> None:
        raise ConnectionError("mail server unreachable")


def test_send_mail_keeps_a_failed_message_and_sends_it_once_later(app, cli, sent):
    message_id = outbox("a@example.org").id
    app.extensions["mail_backend"] = FailingBackend()
    result = cli("send-mail")
    assert result.exit_code == 0, result.output
    assert "sent 0, failed 1" in result.output
    message = db.session.get(OutboxMessage, message_id)
    assert (message.status, message.attempts) == ("pending", 1)
    assert "unreachable" in message.last_error
    assert message.next_attempt_at > utcnow()  # backs off instead of hammering the server
    assert sent.refresh() == []

    # The backoff passes and the mail server is back.
    app.extensions.pop("mail_backend")
    message.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert "sent 1, failed 0" in cli("send-mail").output
    assert "sent 0, failed 0" in cli("send-mail").output
    assert len(sent.to("a@example.org")) == 1
    message = db.session.get(OutboxMessage, message_id)
    assert (message.status, message.attempts, message.last_error) == ("sent", 2, "")


def test_send_mail_retry_failed_gives_failed_messages_another_round(cli, sent):
    message = outbox("a@example.org")
    message.status, message.attempts, message.last_error = "failed", 8, "mail server unreachable"
    db.session.commit()
    assert "sent 0, failed 0" in cli("send-mail").output  # a failed message is not tried on its own
    result = cli("send-mail", "--retry-failed")
    assert "1 failed message(s) put back in line" in result.output
    assert len(sent.to("a@example.org")) == 1
    assert db.session.get(OutboxMessage, message.id).status == "sent"


def test_a_worker_has_nothing_to_do_where_tasks_run_at_once(cli):
    result = cli("worker")
    assert result.exit_code != 0 and "immediate" in result.output


# --- trace-leak -------------------------------------------------------------------------------


def test_trace_leak_names_the_person_behind_each_id_and_fails_when_none(cli, tmp_path, monkeypatch):
    import io

    from bench.trace import strip_visible_line
    from tests.helpers import blank_png, keep_materials_in, make_participant, make_pdf, make_talk
    from workshop.services import materials

    keep_materials_in(monkeypatch, tmp_path / "materials")
    organizer = make_user("org@example.org", "Olga Organizer")
    event = make_event("retreat", organizers=[organizer])
    speaker = make_participant(event, "speaker@example.org")
    reader = make_participant(event, "ada@example.org")
    reader.name = "Ada Lovelace"
    elsewhere = make_event("elsewhere")
    far_reader = make_participant(elsewhere, "far@example.org")
    here = materials.store_upload(speaker, make_talk(event, speaker), "slides.pdf", io.BytesIO(make_pdf(pages=2)))
    far_speaker = make_participant(elsewhere, "far-speaker@example.org")
    there = materials.store_upload(far_speaker, make_talk(elsewhere, far_speaker), "far.pdf",
                                   io.BytesIO(make_pdf(pages=1)))
    db.session.commit()
    copies = {}
    for user, material in ((reader, here), (far_reader, there)):
        _decision, data, access = materials.open_material(user, material, "192.0.2.7")
        db.session.commit()
        lines = materials.watermark_lines(user, access.created_at, access.download_id)
        copies[user.email] = (strip_visible_line(data, lines), access)
    leaked, access = copies["ada@example.org"]
    path = tmp_path / "leak.pdf"
    path.write_bytes(leaked)

    result = cli("trace-leak", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{access.download_id} Ada Lovelace ada@example.org slides.pdf {access.created_at:%Y-%m-%dT%H:%M:%S}Z"]
    assert db.session.scalars(sa.select(AuditEntry.detail).where(AuditEntry.action == "leak traced")).all() == [
        f"from the command line: leak.pdf names download {access.download_id}"]

    far_path = tmp_path / "far.pdf"
    far_path.write_bytes(copies["far@example.org"][0])
    result = cli("trace-leak", str(far_path), "--event", "retreat")
    assert result.exit_code == 1
    # The mark carries a download id's first 8 characters; the access log of another event is not looked in.
    assert result.output.splitlines() == [f"{copies['far@example.org'][1].download_id[:8]} not from this event"]
    assert "far@example.org" not in result.output

    blank = tmp_path / "blank.png"
    blank.write_bytes(blank_png())
    result = cli("trace-leak", str(blank))
    assert result.exit_code == 1 and "No download id found" in result.output
    words = tmp_path / "notes.txt"
    words.write_text("download id AAAAAAAAAAAAAAAA")
    result = cli("trace-leak", str(words))
    assert result.exit_code != 0 and "PDF, PNG and JPEG" in result.output
    assert cli("trace-leak", str(path), "--event", "nowhere").exit_code != 0
