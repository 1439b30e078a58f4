"""Organizers write to segments of their event: who is reached, what each gets, what the outbox keeps."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.helpers import (
    attend,
    make_candidate,
    make_participant,
    make_speaker,
    make_talk,
    sign_up,
)
from workshop import mail, tasks
from workshop.extensions import db
from workshop.models import (
    Candidate,
    CandidateStatus,
    EventMessage,
    LoginToken,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    Tier,
)
from workshop.services import invites, messages, proposals
from workshop.services.errors import DomainError
from workshop.services.tokens import hash_token

S = CandidateStatus
A = messages.Audience


def emails(event, audience) -> list[str]:
    return sorted(c.email for c in db.session.scalars(messages.recipients(event, audience)))


def body_of(message) -> str:
    return message.get_body(("plain",)).get_content()


@pytest.fixture
def crowd(world):
    """Someone in every state on world.event, and an attendee of the other event."""
    people = {
        "waiting": make_participant(world.event, "waiting@example.org", S.WAITLISTED, signed=False),
        "declined": make_participant(world.event, "declined@example.org", S.DECLINED),
        "revoked": make_participant(world.event, "revoked@example.org", S.REVOKED),
        "elsewhere": make_participant(world.other_event, "elsewhere@example.org"),
    }
    make_candidate(world.event, "invited@example.org", S.INVITED)
    make_candidate(world.event, "proposed@example.org", S.PROPOSED)
    return people


def test_each_segment_holds_the_events_own_people_only(world, crowd):
    event = world.event
    speaker = make_speaker(event, "speaker@example.org", "Sue Speaker")
    talk = make_talk(event, speaker, "Early results on the thing")
    sign_up(world.attendee, talk)
    attend(talk, world.unsigned)

    assert emails(event, A("attendees")) == ["attendee@example.org", "speaker@example.org", "unsigned@example.org"]
    assert emails(event, A("session_signups", talk)) == ["attendee@example.org"]
    assert emails(event, A("session_attendees", talk)) == ["unsigned@example.org"]
    assert emails(event, A("waitlist")) == ["waiting@example.org"]
    assert emails(event, A("unsigned")) == ["unsigned@example.org"]
    assert emails(event, A("unanswered")) == ["invited@example.org"]
    assert emails(event, A("speakers")) == ["speaker@example.org"]
    # The invite list's filter: anyone on the list it matches, never a revoked person.
    assert "revoked@example.org" not in emails(event, A("filter"))
    assert emails(event, A("filter", status="proposed")) == ["proposed@example.org"]
    assert emails(event, A("filter", q="declined")) == ["declined@example.org"]
    everyone = {e for segment in messages.SEGMENTS if segment not in messages.SESSION_SEGMENTS
                for e in emails(event, A(segment))}
    assert "elsewhere@example.org" not in everyone and "revoked@example.org" not in everyone
    assert messages.count(event, A("attendees")) == 3


def test_a_session_of_another_event_or_not_accepted_is_refused(world):
    theirs = make_talk(world.other_event, make_speaker(world.other_event, "t@example.org", "T"), "Their talk")
    with pytest.raises(DomainError) as refused:
        messages.recipients(world.event, A("session_signups", theirs))
    assert refused.value.field == "session"
    with pytest.raises(DomainError):
        messages.recipients(world.event, A("session_signups", None))
    with pytest.raises(DomainError):
        messages.recipients(world.event, A("everyone on earth"))


def test_sending_queues_one_copy_each_and_lists_them(world, sent):
    message = messages.send(world.organizer, world.event, A("attendees"), "Doors open at nine, {name}",
                            "Hello **{name}**,\n\nSee you at {event}: {event_link}")
    db.session.commit()

    assert message.recipient_count == 2
    copies = db.session.scalars(messages.copies(message)).all()
    assert [c.to_email for c in copies] == ["attendee@example.org", "unsigned@example.org"]
    assert all(c.kind == MessageKind.EVENT_MESSAGE and c.status == MessageStatus.SENT for c in copies)
    [mail] = sent.to("attendee@example.org")
    assert mail["Subject"] == "Doors open at nine, Attendee"
    assert body_of(mail).startswith("Hello **Attendee**,")
    assert f"See you at {world.event.title}: http://conclave.test/e/retreat/" in body_of(mail)
    html = mail.get_body(("html",)).get_content()
    assert "<strong>Attendee</strong>" in html
    assert messages.sent_counts([message])[message.id] == {"sent": 2, "waiting": 0, "failed": 0, "cancelled": 0}


def test_a_name_cannot_smuggle_markup_into_the_html(world, sent):
    make_candidate(world.event, "mallory@example.org", S.WAITLISTED, name="<script>x</script> [click](http://evil)")
    messages.send(world.organizer, world.event, A("waitlist"), "Hi", "Hello {name}")
    db.session.commit()
    [mail] = sent.to("mallory@example.org")
    html = mail.get_body(("html",)).get_content()
    assert "<script>" not in html and 'href="http://evil"' not in html


def test_personal_sign_in_links_are_minted_when_sent_and_never_kept(world, sent):
    message = messages.send(world.organizer, world.event, A("unsigned"), "Please sign",
                            "Sign in here and sign: {sign_in_link}")
    stored = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.event_message_id == message.id))
    assert stored.body_text == ""  # nothing written (and no link) while it waits
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginToken)) == 0
    db.session.commit()

    [mail] = sent.to("unsigned@example.org")
    token = re.search(r"http://conclave\.test/auth/link/([\w-]+)", body_of(mail)).group(1)
    assert db.session.scalar(sa.select(LoginToken).where(LoginToken.token_hash == hash_token(token))) is not None
    db.session.refresh(stored)
    assert token not in stored.body_text and token not in stored.body_html
    assert "[link removed after sending]" in stored.body_text


def test_invitation_links_for_those_who_have_not_answered(world, sent):
    person = make_candidate(world.event, "grace@example.org", S.APPROVED)
    invites.send_wave(world.organizer, world.event, [person])
    db.session.commit()
    first = re.search(r"/invitation/([\w-]+)", body_of(sent.to(person.email)[0])).group(1)

    with pytest.raises(DomainError) as refused:
        messages.send(world.organizer, world.event, A("attendees"), "Hi", "{invitation_link}")
    assert "{invitation_link}" in refused.value.message and refused.value.field == "body"
    messages.send(world.organizer, world.event, A("unanswered"), "Still coming?", "Answer here: {invitation_link}")
    db.session.commit()
    second = re.search(r"/invitation/([\w-]+)", body_of(sent.to(person.email)[1])).group(1)
    assert second != first
    assert invites.open_invitation(second).candidate.email == person.email
    with pytest.raises(DomainError):
        invites.open_invitation(first)  # the newest email's link is the one that works


def test_session_placeholder_names_the_session_only_to_those_who_see_it(world, sent):
    speaker = make_speaker(world.event, "speaker@example.org", "Sue Speaker")
    talk = make_talk(world.event, speaker, "Quiet results")
    sign_up(world.attendee, talk)
    sign_up(world.unsigned, talk)  # signed up before a new agreement version: may not see it now
    messages.send(world.organizer, world.event, A("session_signups", talk), "Room change for {session}",
                  "{name}: {session} moves to room B.")
    db.session.commit()
    [seen] = sent.to("attendee@example.org")
    assert seen["Subject"] == "Room change for “Quiet results”"
    [unseen] = sent.to("unsigned@example.org")
    assert "Quiet results" not in unseen["Subject"] + body_of(unseen)
    assert "a session moves to room B" in body_of(unseen)


def test_a_text_naming_a_talk_someone_may_not_see_is_refused(world, sent):
    speaker = make_speaker(world.event, "speaker@example.org", "Sue Speaker")
    talk = make_talk(world.event, speaker, "Confidential Benchmarks")
    proposals.change_tier(speaker, talk, Tier.RESTRICTED)
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        messages.send(world.organizer, world.event, A("attendees"), "News",
                      "Do not miss confidential benchmarks tomorrow.")
    assert "Confidential Benchmarks" in refused.value.message and refused.value.field == "body"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EventMessage)) == 0
    # To its speaker alone, it may be named.
    messages.send(world.organizer, world.event, A("speakers"), "About Confidential Benchmarks", "All set.")
    db.session.commit()
    assert sent.to("speaker@example.org")


def test_an_empty_segment_a_changed_count_and_bad_text_are_refused(world):
    with pytest.raises(DomainError, match="Nobody is in this segment"):
        messages.send(world.organizer, world.event, A("waitlist"), "Hi", "Hello")
    with pytest.raises(DomainError, match="now holds 2 people, not 5"):
        messages.send(world.organizer, world.event, A("attendees"), "Hi", "Hello", expected=5)
    for subject, body, field in [("", "Hello", "subject"), ("Hi", "  ", "body"), ("Hi {sign_in_link}", "x", "subject"),
                                 ("Hi", "{session}", "body"), ("Hi", "x" * (messages.MAX_BODY + 1), "body")]:
        with pytest.raises(DomainError) as refused:
            messages.send(world.organizer, world.event, A("attendees"), subject, body)
        assert refused.value.field == field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_preview_shows_one_recipients_copy_without_making_links(world):
    subject, text, html = messages.preview(world.event, A("attendees"), "For {name}", "Link: {sign_in_link}",
                                           next(iter(db.session.scalars(messages.recipients(world.event,
                                                                                            A("attendees"))))))
    assert subject == "For Attendee"
    assert "made when the email is sent" in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginToken)) == 0


def test_a_person_revoked_before_the_copy_leaves_gets_nothing(world, sent, monkeypatch):
    """The copies wait (no worker yet); one recipient is revoked meanwhile; the worker skips them."""
    monkeypatch.setattr(tasks, "enqueue_safely", lambda name, *args, eta=None: None)
    message = messages.send(world.organizer, world.event, A("attendees"), "Hi", "Hello {name}")
    db.session.commit()
    unsigned = db.session.scalar(sa.select(Candidate).where(Candidate.email == "unsigned@example.org"))
    invites.revoke(world.organizer, world.event, [unsigned])
    db.session.commit()

    assert mail.send_due() == {"sent": 1, "failed": 0, "postponed": 0, "cancelled": 1}
    assert sent.to("unsigned@example.org") == []
    assert [m["To"] for m in sent.refresh()] == ["attendee@example.org"]
    assert messages.sent_counts([message])[message.id] == {"sent": 1, "waiting": 0, "failed": 0, "cancelled": 1}
