"""The organizers' mail pages through the web: writing to people, the texts, the outbox, a wave's progress;
and the agreement standing between an unsigned person and any deep link."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.helpers import login_as, make_candidate, make_participant, make_speaker, make_talk, sign_up, text_of
from workshop.extensions import db
from workshop.models import (
    CandidateStatus,
    EventMessage,
    InviteWave,
    MailProviderState,
    MessageStatus,
    MessageText,
    OutboxMessage,
    public_id,
    utcnow,
)
from workshop.services import invites

S = CandidateStatus
NEW = "/e/retreat/manage/messages/new"


def outbox_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))


def failed(event, to="someone@example.org") -> OutboxMessage:
    message = OutboxMessage(event_id=event.id, to_email=to, subject="Hello", body_text="Hello",
                            status=MessageStatus.FAILED, attempts=5, last_error="550 mailbox unavailable")
    db.session.add(message)
    db.session.commit()
    return message


# --- writing to people -------------------------------------------------------------------------------


def test_preview_counts_and_shows_one_copy_then_send_reaches_exactly_them(client, world, sent):
    speaker = make_speaker(world.event, "speaker@example.org", "Sue Speaker")
    talk = make_talk(world.event, speaker, "Quiet results")
    sign_up(world.attendee, talk)
    login_as(client, world.organizer)
    assert client.get(NEW).status_code == 200
    form = {"segment": "session_signups", "session": talk.public_id, "subject": "About {session}",
            "body": "Hello {name}, {session} starts at ten."}

    preview = client.post(NEW, data={**form, "action": "preview"})
    assert preview.status_code == 200
    page = text_of(preview)
    assert 'id="recipient-count">1</strong> recipient' in page and "Send to 1 person" in page
    assert "Hello Attendee, “Quiet results” starts at ten." in page
    assert outbox_count() == 0 and sent.refresh() == []

    done = client.post(NEW, data={**form, "action": "send", "expected": "1"})
    assert done.status_code == 302
    message = db.session.scalar(sa.select(EventMessage))
    assert done.headers["Location"] == f"/e/retreat/manage/messages/{message.public_id}"
    assert [m["To"] for m in sent.refresh()] == ["attendee@example.org"]
    detail = text_of(client.get(done.headers["Location"]))
    assert "attendee@example.org" in detail and "sent" in detail
    assert "About {session}" in text_of(client.get("/e/retreat/manage/messages/"))


def test_bad_submissions_are_refused_with_the_form_and_send_nothing(client, world, sent):
    login_as(client, world.organizer)
    cases = [
        ({"segment": "attendees", "subject": "Hi", "body": "Hello {nmae}"}, "{nmae}"),
        ({"segment": "waitlist", "subject": "Hi", "body": "Hello"}, "Nobody is in this segment"),
        ({"segment": "session_signups", "session": public_id(), "subject": "Hi", "body": "Hello"},
         "Choose one of the event's accepted sessions"),
        ({"segment": "everyone", "subject": "Hi", "body": "Hello"}, "Not a valid choice"),
        ({"segment": "attendees", "subject": "", "body": "Hello"}, "Write a subject"),
        ({"segment": "attendees", "subject": "Hi", "body": "Hello", "preview_as": "stranger@example.org"},
         "Preview as one of the people"),
    ]
    for data, reason in cases:
        for action in ("preview", "send"):
            if action == "send" and "preview_as" in data:
                continue
            response = client.post(NEW, data={**data, "action": action})
            assert response.status_code == 400, (data, action)
            assert reason in text_of(response), (data, action)
    response = client.post(NEW, data={"segment": "attendees", "subject": "Hi", "body": "Hello", "action": "send",
                                      "expected": "7"})
    assert response.status_code == 400 and "now holds 2 people, not 7" in text_of(response)
    assert outbox_count() == 0 and sent.refresh() == []


def test_the_invite_list_filter_carries_into_the_form(client, world):
    make_candidate(world.event, "pat@example.org", S.PROPOSED, name="Pat Proposed")
    login_as(client, world.organizer)
    invite_list = text_of(client.get("/e/retreat/manage/invites/?status=proposed"))
    assert "Write to these people" in invite_list
    page = client.get(f"{NEW}?segment=filter&status=proposed")
    assert 'value="proposed"' in page.get_data(as_text=True)
    preview = client.post(NEW, data={"segment": "filter", "status": "proposed", "subject": "Hi", "body": "Hello {name}",
                                     "action": "preview"})
    assert preview.status_code == 200 and "Hello Pat Proposed" in text_of(preview)


# --- the texts of the emails -------------------------------------------------------------------------------


def test_texts_save_preview_refuse_and_reset(client, world):
    login_as(client, world.organizer)
    url = "/e/retreat/manage/texts/invitation"
    assert "Built-in" in text_of(client.get("/e/retreat/manage/texts/"))
    assert "{link}" in text_of(client.get(url))

    refused = client.post(url, data={"action": "save", "subject": "Come", "body": "Dear {nam}: {link}"})
    assert refused.status_code == 400 and "{nam} is not a placeholder" in text_of(refused)
    assert db.session.scalar(sa.select(MessageText)) is None

    preview = client.post(url, data={"action": "preview", "subject": "Come to {event}", "body": "Dear {name}: {link}"})
    assert preview.status_code == 200
    assert f"Come to {world.event.title}" in text_of(preview) and db.session.scalar(sa.select(MessageText)) is None

    saved = client.post(url, data={"action": "save", "subject": "Come to {event}", "body": "Dear {name}: {link}"})
    assert saved.status_code == 302
    assert db.session.scalar(sa.select(MessageText.body)) == "Dear {name}: {link}"
    assert "The event's own" in text_of(client.get("/e/retreat/manage/texts/"))
    assert client.post(url, data={"action": "reset"}).status_code == 302
    assert db.session.scalar(sa.select(MessageText)) is None
    assert client.get("/e/retreat/manage/texts/no-such-kind").status_code == 404


# --- the outbox -----------------------------------------------------------------------------------------


def test_outbox_lists_filters_and_retries_the_events_messages_only(client, world, sent):
    mine = failed(world.event, "attendee@example.org")
    theirs = failed(world.other_event, "elsewhere@example.org")
    login_as(client, world.organizer)
    page = text_of(client.get("/e/retreat/manage/outbox"))
    assert "attendee@example.org" in page and "550 mailbox unavailable" in page and "Retry" in page
    assert "elsewhere@example.org" not in page
    assert "Sending is running" in page
    assert "attendee@example.org" not in text_of(client.get("/e/retreat/manage/outbox?status=sent"))
    assert "attendee@example.org" in text_of(client.get("/e/retreat/manage/outbox?q=ATTENDEE"))
    assert client.get("/e/retreat/manage/outbox?status=lost").status_code == 400
    assert client.get("/e/retreat/manage/outbox?page=x").status_code == 400
    assert "1 failed" in text_of(client.get("/e/retreat/manage/"))

    assert client.post(f"/e/retreat/manage/outbox/{theirs.id}/retry").status_code == 404
    assert client.post(f"/e/retreat/manage/outbox/{mine.id}/retry").status_code == 302
    db.session.refresh(mine)
    assert mine.status == MessageStatus.SENT and [m["To"] for m in sent.refresh()] == ["attendee@example.org"]
    assert client.post(f"/e/retreat/manage/outbox/{mine.id}/retry").status_code == 409  # sent: nothing to retry
    db.session.refresh(theirs)
    assert theirs.status == MessageStatus.FAILED


def test_outbox_shows_when_and_why_sending_is_paused(client, world, app):
    db.session.add(MailProviderState(provider=app.config["MAIL_BACKEND"], paused_until=utcnow() + timedelta(minutes=5),
                                     pause_reason="429 Too Many Requests (Retry-After: 300)", pause_seq=1))
    db.session.commit()
    login_as(client, world.organizer)
    page = text_of(client.get("/e/retreat/manage/outbox"))
    assert "Sending is paused" in page and "429 Too Many Requests (Retry-After: 300)" in page
    login_as(client, world.admin)
    assert "Sending is paused" in text_of(client.get("/admin/outbox/"))


def test_admins_see_and_retry_every_events_messages(client, world, sent):
    mine, theirs = failed(world.event, "a@example.org"), failed(world.other_event, "b@example.org")
    login_as(client, world.admin)
    page = text_of(client.get("/admin/outbox/?status=failed"))
    assert "a@example.org" in page and "b@example.org" in page and world.other_event.title in page
    assert client.post(f"/admin/outbox/{theirs.id}/retry").status_code == 302
    db.session.refresh(theirs)
    assert theirs.status == MessageStatus.SENT
    assert client.post("/e/retreat/manage/outbox/retry-failed").status_code == 302
    db.session.refresh(mine)
    assert mine.status == MessageStatus.SENT
    assert client.post("/admin/outbox/999999/retry").status_code == 404


# --- a wave's progress -------------------------------------------------------------------------------------


def test_a_wave_opens_its_progress_page_and_its_status_counts_its_emails(client, world, sent):
    people = [make_candidate(world.event, f"p{i}@example.org", S.APPROVED) for i in range(3)]
    login_as(client, world.organizer)
    response = client.post("/e/retreat/manage/invites/bulk", data={"action": "invite",
                                                                   "ids": [str(p.id) for p in people]})
    assert response.status_code == 302
    wave = db.session.scalar(sa.select(InviteWave).where(InviteWave.event_id == world.event.id))
    invite_list = text_of(client.get(response.headers["Location"]))
    assert "Latest invitation wave: 3 emails" in invite_list
    assert f'data-status-url="/e/retreat/manage/waves/{wave.id}/status"' in invite_list
    page = client.get(f"/e/retreat/manage/waves/{wave.id}")
    assert page.status_code == 200 and "Invitation wave of 3" in text_of(page)
    status = client.get(f"/e/retreat/manage/waves/{wave.id}/status").get_json()
    assert status == {"total": 3, "sent": 3, "waiting": 0, "failed": 0, "cancelled": 0, "done": True, "percent": 100}
    other_wave = invites.send_wave(world.other_organizer, world.other_event,
                                   [make_candidate(world.other_event, "o@example.org", S.APPROVED)]).wave
    db.session.commit()
    assert client.get(f"/e/retreat/manage/waves/{other_wave.id}").status_code == 404
    assert client.get(f"/e/retreat/manage/waves/{other_wave.id}/status").status_code == 404


# --- the agreement before any deep link -------------------------------------------------------------------


def test_an_unsigned_person_is_led_to_the_agreement_and_back_whether_or_not_the_talk_exists(client, world):
    speaker = make_speaker(world.event, "speaker@example.org", "Sue Speaker")
    talk = make_talk(world.event, speaker, "Quiet results")
    login_as(client, world.unsigned)
    real = client.get(f"/e/retreat/proposals/{talk.public_id}")
    made_up = client.get(f"/e/retreat/proposals/{public_id()}")
    assert real.status_code == made_up.status_code == 302
    assert real.headers["Location"] == f"/e/retreat/agreement?next=/e/retreat/proposals/{talk.public_id}"
    assert made_up.headers["Location"].startswith("/e/retreat/agreement?next=/e/retreat/proposals/")
    page = client.get(real.headers["Location"])
    assert "The page you opened is behind this agreement" in text_of(page)

    signed = client.post(real.headers["Location"], data={"typed_name": "Una Signed", "agree": "y"})
    assert signed.status_code == 302 and signed.headers["Location"] == f"/e/retreat/proposals/{talk.public_id}"
    assert client.get(signed.headers["Location"]).status_code == 200


def test_an_outside_next_is_not_followed(client, world):
    login_as(client, world.unsigned)
    signed = client.post("/e/retreat/agreement?next=https://evil.example/", data={"typed_name": "Una", "agree": "y"})
    assert signed.status_code == 302 and signed.headers["Location"] == "/e/retreat/"


def test_the_waitlisted_read_the_description_and_the_agreement_but_do_not_sign(client, world):
    world.event.description = "Three days on **quiet** results."
    db.session.commit()
    waiting = make_participant(world.event, "waiting@example.org", S.WAITLISTED, signed=False)
    login_as(client, waiting)
    landing = text_of(client.get("/e/retreat/"))
    assert "Three days on <strong>quiet</strong> results." in landing
    agreement = client.get("/e/retreat/agreement")
    assert agreement.status_code == 200 and "Keep it in the room." in text_of(agreement)
    assert "you sign it if a seat opens" in text_of(agreement)
    assert client.post("/e/retreat/agreement", data={"typed_name": "Wait Ing", "agree": "y"}).status_code == 403


def test_an_invitee_reads_the_description_and_the_agreement_on_the_invitation(client, world, sent):
    from tests.helpers import link_token

    world.event.description = "Three days on quiet results."
    person = make_candidate(world.event, "grace@example.org", S.APPROVED)
    invites.send_wave(world.organizer, world.event, [person])
    db.session.commit()
    page = text_of(client.get(f"/invitation/{link_token('grace@example.org', '/invitation/')}", follow_redirects=True))
    assert "Three days on quiet results." in page and "Keep it in the room." in page
