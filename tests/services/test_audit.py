"""The audit trail: every organizer change with what changed, every participant's answer, and reading it back."""

import csv
import io
from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import event_form, login_as, make_candidate, make_event, make_participant, make_talk, make_user
from workshop.extensions import db
from workshop.models import AuditEntry, CandidateStatus, Invitation
from workshop.services import agreements, audit, events, invites, schedule
from workshop.services.errors import DomainError
from workshop.services.events import EventData


@pytest.fixture
def setting(ctx):
    organizer = make_user("org@example.org", "Olga Organizer")
    event = make_event("retreat", organizers=[organizer], capacity=10)
    return event, organizer


def entries(event, action):
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.event_id == event.id,
                                                          AuditEntry.action == action)).all()


def data_of(event, **changes) -> EventData:
    fields = {name: getattr(event, name) for name in events.EVENT_FIELDS}
    return EventData(**{**fields, **changes})


def test_changes_say_before_and_after_and_skip_what_stayed():
    before = {"capacity": 10, "title": "Retreat", "public_page": False, "notes": "x" * 100}
    after = {"capacity": 2, "title": "Retreat", "public_page": True, "notes": "y" * 120}
    assert audit.changes(before, after) == ("capacity 10 → 2; public page no → yes; "
                                            "notes changed (100 → 120 characters)")
    assert audit.changes(before, before) == ""


def test_event_edit_records_each_changed_field(setting):
    event, organizer = setting
    events.update_event(organizer, event, data_of(event, capacity=12, title="Spring Retreat"))
    db.session.commit()
    [entry] = entries(event, "edit event")
    assert entry.detail == "title “The Retreat” → “Spring Retreat”; capacity 10 → 12"
    assert entry.actor_id == organizer.id


def test_an_edit_that_changes_nothing_records_nothing(setting):
    event, organizer = setting
    events.update_event(organizer, event, data_of(event))
    db.session.commit()
    assert entries(event, "edit event") == []


def test_capacity_below_the_accepted_asks_first_and_says_what_happens(setting):
    event, organizer = setting
    for n in range(3):
        make_participant(event, f"p{n}@example.org")
    with pytest.raises(DomainError, match="3 people have accepted.*Nobody loses a seat") as refused:
        events.update_event(organizer, event, data_of(event, capacity=2))
    assert refused.value.field == "confirm_capacity"
    db.session.rollback()
    assert db.session.get(type(event), event.id).capacity == 10
    events.update_event(organizer, event, data_of(event, capacity=2), confirm_below_accepted=True)
    db.session.commit()
    assert event.capacity == 2
    assert entries(event, "edit event")[0].detail == "capacity 10 → 2"
    # Lowering it while it stays above the accepted asks nothing.
    events.update_event(organizer, event, data_of(event, capacity=3), confirm_below_accepted=False)


def test_candidate_edit_records_before_and_after(setting):
    event, organizer = setting
    candidate = make_candidate(event, "ada@example.org", name="Ada")
    invites.update_candidate(organizer, candidate, "Ada Lovelace", "Analytical", "", "math")
    db.session.commit()
    [entry] = entries(event, "edit candidate")
    assert entry.detail == "name “Ada” → “Ada Lovelace”; affiliation (none) → “Analytical”; tags (none) → math"


def test_approve_and_revoke_record_the_status_change(setting):
    event, organizer = setting
    candidate = make_candidate(event, "ada@example.org")
    invites.approve(organizer, event, [candidate])
    invites.revoke(organizer, event, [candidate])
    db.session.commit()
    assert entries(event, "approve")[0].detail == "proposed → approved"
    assert entries(event, "revoke")[0].detail == "approved → revoked"


def test_participants_answers_are_recorded(setting):
    event, organizer = setting
    accepted = make_candidate(event, "yes@example.org", CandidateStatus.APPROVED)
    declined = make_candidate(event, "no@example.org", CandidateStatus.APPROVED)
    invites.send_wave(organizer, event, [accepted, declined])
    db.session.commit()
    tokens = {}
    for candidate in (accepted, declined):
        invitation = candidate_invitation(candidate)
        tokens[candidate.email] = invites.mint_invitation_link(invitation.id)["link"].rsplit("/", 1)[1]
    db.session.commit()
    invites.accept_invitation(tokens["yes@example.org"])
    invites.decline_invitation(tokens["no@example.org"])
    db.session.commit()
    person = accepted.user
    agreements.sign(person, event, "Yes Person", "203.0.113.1")
    invites.withdraw(person, event)
    db.session.commit()
    assert entries(event, "accept invitation")[0].detail == "invited → accepted"
    assert entries(event, "accept invitation")[0].actor_id == person.id
    assert entries(event, "decline invitation")[0].detail == "invited → declined"
    assert entries(event, "sign agreement")[0].detail == "signed as “Yes Person”"
    assert entries(event, "withdraw")[0].detail == "accepted → declined"


def candidate_invitation(candidate):
    return db.session.scalar(sa.select(Invitation).where(Invitation.candidate_id == candidate.id))


def test_filters_narrow_by_person_action_and_date(setting):
    event, organizer = setting
    other = make_user("second@example.org", "Sam Second")
    audit.record(organizer, event, "add room", "room Annex", "12 seats")
    audit.record(other, event, "add room", "room Hall", "40 seats")
    old = audit.record(organizer, event, "approve", "candidate ada@example.org")
    db.session.flush()
    old.created_at = old.created_at - timedelta(days=10)
    db.session.commit()

    def found(**chosen):
        return [e.target_key for e in db.session.scalars(audit.entries_for(event, audit.AuditFilter(**chosen)))]

    assert found(person="sam") == ["Hall"]
    assert found(person="ada@") == ["ada@example.org"]  # whom it was about
    assert found(action="add room") == ["Hall", "Annex"]
    today = date.today()
    assert found(until=today - timedelta(days=5)) == ["ada@example.org"]
    assert found(since=today - timedelta(days=1)) == ["Hall", "Annex"]
    assert audit.actions_of(event) == ["add room", "approve"]


def test_audit_page_filters_and_exports_what_is_on_screen(app, client, setting):
    event, organizer = setting
    events.update_event(organizer, event, data_of(event, capacity=4))
    audit.record(organizer, event, "add room", "room Annex", "=1+1 seats")
    db.session.commit()
    login_as(client, organizer)
    page = client.get(f"/e/{event.slug}/manage/audit?action=edit+event")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "capacity 10 → 4" in body and "room Annex" not in body
    export = client.get(f"/e/{event.slug}/manage/audit.csv?action=add+room")
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert export.status_code == 200 and rows[0] == ["when_utc", "who", "action", "target", "detail"]
    assert [r[2:] for r in rows[1:]] == [["add room", "room Annex", "'=1+1 seats"]]
    assert client.get(f"/e/{event.slug}/manage/audit?since=yesterday").status_code == 400


def test_settings_form_asks_before_lowering_capacity_below_the_accepted(app, client, setting):
    event, organizer = setting
    make_participant(event, "p1@example.org")
    make_participant(event, "p2@example.org")
    login_as(client, organizer)
    refused = client.post(f"/e/{event.slug}/manage/settings", data=event_form(event, capacity="1"))
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "Nobody loses a seat" in body and "Lower it anyway" in body
    db.session.expire_all()
    assert db.session.get(type(event), event.id).capacity == 10
    saved = client.post(f"/e/{event.slug}/manage/settings", data=event_form(event, capacity="1", confirm_capacity="y"))
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(event), event.id).capacity == 1


def test_moving_a_session_records_where_it_was_and_where_it_went(setting):
    event, organizer = setting
    speaker = make_participant(event, "speaker@example.org")
    hall = schedule.add_room(organizer, event, "Hall", 40, closed_door=False)
    [nine, ten] = schedule.add_slots(organizer, event, event.starts_on, [time(9), time(10)], 50)
    talk = make_talk(event, speaker, "Early results")
    schedule.place(organizer, talk, hall.id, nine.id)
    schedule.place(organizer, talk, hall.id, ten.id)
    schedule.unplace(organizer, talk)
    db.session.commit()
    day = event.starts_on.isoformat()
    assert [e.detail for e in entries(event, "place session")] == [
        f"Hall, {day} 09:00 UTC", f"Hall, {day} 09:00 UTC → Hall, {day} 10:00 UTC"]
    assert entries(event, "unplace session")[0].detail == f"Hall, {day} 10:00 UTC → (not placed)"
