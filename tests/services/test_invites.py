"""Invite-list services: CSV preview and import, nominations, waves, expiry, revocation, export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import make_candidate, make_event, make_participant, make_user
from workshop import policy
from workshop.extensions import db
from workshop.models import AuditEntry, Candidate, CandidateStatus, Invitation, Vouch, utcnow
from workshop.services import invites
from workshop.services.errors import DomainError

S = CandidateStatus


@pytest.fixture
def setting(ctx):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], capacity=2)
    return event, organizer


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- CSV --------------------------------------------------------------------------------------


def test_preview_reports_every_bad_row_by_line_and_writes_nothing(setting):
    event, organizer = setting
    make_candidate(event, "taken@example.org")
    text = (
        "Email,Name,Affiliation,Tags\n"
        "ada@example.org,Ada,Engines,\"math, early\"\n"
        "not-an-email,Bad,,\n"
        "\n"
        "ADA@example.org,Ada again,,\n"
        ",Nobody,,\n"
        "taken@example.org,Taken,,\n"
        "tag@example.org,Tag,,\"ok, <script>\"\n"
    )
    preview = invites.preview_import(event, text)
    assert not preview.ok
    problems = {row.line: row.errors for row in preview.bad_rows}
    assert set(problems) == {3, 5, 6, 7, 8}
    assert "not a valid email" in problems[3][0]
    assert "also appears on line 2" in problems[5][0]
    assert "missing" in problems[6][0]
    assert "already on the invite list" in problems[7][0]
    assert "not a usable tag" in problems[8][0]
    assert preview.good_rows[0].tags == ["math", "early"]
    with pytest.raises(DomainError):
        invites.import_candidates(organizer, event, text)
    db.session.rollback()
    assert count(Candidate) == 1


def test_missing_email_column_is_a_file_error(setting):
    event, _ = setting
    preview = invites.preview_import(event, "name,affiliation\nAda,Engines\n")
    assert preview.file_errors and "Line 1" in preview.file_errors[0] and "email" in preview.file_errors[0]
    assert not preview.ok


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("email\n", "no people"),
    ("email\n\x00\x01", "not a text CSV"),
])
def test_empty_or_binary_files_are_refused(setting, text, message):
    event, _ = setting
    preview = invites.preview_import(event, text)
    assert not preview.ok and message in preview.file_errors[0]


def test_semicolon_files_and_a_bom_are_read(setting):
    event, organizer = setting
    text = "\ufeffemail;name\nada@example.org;Ada\nalan@example.org;Alan\n"
    invites.import_candidates(organizer, event, text, approved=True)
    db.session.commit()
    rows = db.session.scalars(sa.select(Candidate).order_by(Candidate.email)).all()
    assert [(c.email, c.name, c.status) for c in rows] == [
        ("ada@example.org", "Ada", S.APPROVED), ("alan@example.org", "Alan", S.APPROVED)]
    assert db.session.scalar(sa.select(AuditEntry.action)) == "import candidates"


def test_row_limit(setting, app, monkeypatch):
    event, _ = setting
    monkeypatch.setitem(app.config, "CSV_IMPORT_MAX_ROWS", 3)
    text = "email\n" + "".join(f"p{i}@example.org\n" for i in range(4))
    preview = invites.preview_import(event, text)
    assert not preview.ok and "more than 3" in preview.file_errors[0]


def test_export_neutralizes_formula_cells(setting):
    event, _ = setting
    make_candidate(event, "eve@example.org", name="=HYPERLINK(\"http://x\")", affiliation="+1 Lab", notes="@cmd")
    make_candidate(event, "ok@example.org", name="-minus", affiliation="Plain")
    rows = list(csv.DictReader(io.StringIO(invites.export_csv(db.session.scalars(
        sa.select(Candidate).order_by(Candidate.email))))))
    assert rows[0]["name"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["affiliation"] == "'+1 Lab"
    assert rows[0]["notes"] == "'@cmd"
    assert rows[1]["name"] == "'-minus" and rows[1]["affiliation"] == "Plain"


# --- nominations ------------------------------------------------------------------------------


def test_nomination_adds_a_proposed_candidate_with_the_vouch(setting):
    event, _ = setting
    attendee = make_participant(event, "attendee@example.org")
    invites.nominate(attendee, event, "New@Example.org", "New Person", "Lab", "Brilliant on interpretability.")
    db.session.commit()
    candidate = db.session.scalar(sa.select(Candidate).where(Candidate.email == "new@example.org"))
    assert candidate.status == S.PROPOSED
    [vouch] = candidate.vouches
    assert vouch.user_id == attendee.id and "interpretability" in vouch.note

    # A second attendee vouching for the same person adds a second vouch, not a second candidate.
    second = make_participant(event, "second@example.org")
    invites.nominate(second, event, "new@example.org", "", "", "Worked with them for years.")
    db.session.commit()
    assert count(Candidate) == 3 and count(Vouch) == 2


def test_only_signed_attendees_nominate(setting):
    event, organizer = setting
    unsigned = make_participant(event, "unsigned@example.org", signed=False)
    for person in (unsigned, organizer, make_user("stranger@example.org")):
        policy.forget_memo()
        with pytest.raises(DomainError):
            invites.nominate(person, event, "x@example.org", "X", "", "A good reason to invite.")
    assert count(Vouch) == 0


# --- waves, expiry, revocation ----------------------------------------------------------------


def test_wave_skips_people_not_ready_and_supersedes_old_links(setting):
    event, organizer = setting
    ready = make_candidate(event, "ready@example.org", S.APPROVED)
    proposed = make_candidate(event, "proposed@example.org", S.PROPOSED)
    result = invites.send_wave(organizer, event, [ready, proposed])
    db.session.commit()
    assert result.done == [ready] and result.skipped == [proposed]
    first = db.session.scalar(sa.select(Invitation).where(Invitation.candidate_id == ready.id))
    invites.remind(organizer, event, [ready])
    db.session.commit()
    db.session.refresh(first)
    assert first.superseded
    assert count(Invitation) == 2


def test_overdue_invitations_expire_and_can_be_sent_again(setting):
    event, organizer = setting
    late = make_candidate(event, "late@example.org", S.INVITED, invite_expires_at=utcnow() - timedelta(minutes=1))
    fresh = make_candidate(event, "fresh@example.org", S.INVITED, invite_expires_at=utcnow() + timedelta(days=1))
    assert invites.expire_overdue(event) == 1
    db.session.commit()
    db.session.refresh(late)
    db.session.refresh(fresh)
    assert late.status == S.EXPIRED and fresh.status == S.INVITED
    assert invites.send_wave(organizer, event, [late]).done == [late]


def test_revoking_an_attendee_promotes_the_waitlist_and_ends_their_sessions(setting):
    event, organizer = setting
    first = make_participant(event, "first@example.org")
    make_participant(event, "second@example.org")
    waiting = make_participant(event, "waiting@example.org", S.WAITLISTED, signed=False)
    version = first.session_version
    entry = policy.participation(first, event)
    invites.revoke(organizer, event, [entry])
    db.session.commit()
    assert first.session_version == version + 1
    assert policy.participation(waiting, event).status == S.ACCEPTED
    policy.forget_memo()
    assert not policy.can_view_event(first, event)


def test_raising_capacity_promotes_from_the_waitlist(setting):
    from workshop.services import events as event_services

    event, organizer = setting
    make_participant(event, "a@example.org")
    make_participant(event, "b@example.org")
    w1 = make_participant(event, "w1@example.org", S.WAITLISTED, signed=False)
    make_participant(event, "w2@example.org", S.WAITLISTED, signed=False)
    data = event_services.EventData(
        title=event.title, slug=event.slug, description="", kind=event.kind, venue="", timezone="UTC",
        starts_on=event.starts_on, ends_on=event.ends_on, capacity=3)
    event_services.update_event(organizer, event, data)
    db.session.commit()
    counts = invites.status_counts(event)
    assert counts[S.ACCEPTED] == 3 and counts[S.WAITLISTED] == 1
    assert policy.participation(w1, event).status == S.ACCEPTED  # first come, first served


def test_funnel_counts(setting):
    event, _ = setting
    for i, status in enumerate([S.INVITED, S.INVITED, S.ACCEPTED, S.DECLINED, S.WAITLISTED, S.PROPOSED, S.EXPIRED]):
        make_candidate(event, f"p{i}@example.org", status)
    assert dict(invites.funnel(event)) == {
        "Invited": 6, "Accepted": 1, "Declined": 1, "Pending": 2, "Waitlisted": 1}


@pytest.mark.parametrize("raw, tags", [("ML, safety ,ml", ["ml", "safety"]), ("", []), (" , ", [])])
def test_parse_tags(raw, tags):
    assert invites.parse_tags(raw) == tags


@pytest.mark.parametrize("raw", ["<b>", "a" * 41, ",".join(f"t{i}" for i in range(21))])
def test_parse_tags_refuses(raw):
    with pytest.raises(DomainError):
        invites.parse_tags(raw)
