"""An event's own wording of the messages it sends: placeholders checked on save, used by the mail code."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.helpers import make_candidate, make_event, make_participant, sign_agreement
from workshop.extensions import db
from workshop.models import CandidateStatus, MessageText, OutboxMessage
from workshop.services import agreements, invites, texts
from workshop.services.errors import DomainError


def body_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_every_default_passes_its_own_check():
    """The built-in wording shown in the editor could be saved as it is."""
    for kind in texts.KINDS.values():
        assert texts.validate(kind, kind.subject, kind.body) == (kind.subject, kind.body)


@pytest.mark.parametrize(("subject", "body", "field", "named"), [
    ("Come to {event}", "Hello {nmae}, {link}", "body", "{nmae}"),
    ("Come, {name}, {dates}", "Hello {name}: {link} and {session}", "body", "{session}"),
    ("Your link {link}", "Hello {name}: {link}", "subject", "{link}"),
    ("Come to {evnt}", "Hello {name}: {link}", "subject", "{evnt}"),
])
def test_an_unknown_placeholder_is_refused_by_name(world, subject, body, field, named):
    with pytest.raises(DomainError) as refused:
        texts.save(world.organizer, world.event, "invitation", subject, body)
    assert refused.value.field == field
    assert named in refused.value.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MessageText)) == 0


def test_an_invitation_without_its_link_is_refused(world):
    with pytest.raises(DomainError, match=r"must carry \{link\}"):
        texts.save(world.organizer, world.event, "invitation", "Come", "Hello {name}, please come.")


def test_blank_and_overlong_texts_are_refused(world):
    with pytest.raises(DomainError) as blank:
        texts.save(world.organizer, world.event, "promotion", "  ", "Hello")
    assert blank.value.field == "subject"
    with pytest.raises(DomainError) as long:
        texts.save(world.organizer, world.event, "promotion", "Hi", "x" * (texts.MAX_BODY + 1))
    assert long.value.field == "body"


def test_fill_never_reads_a_value_as_a_placeholder():
    """A name that looks like a placeholder is written as it is, not filled again."""
    filled = texts.fill("Dear {name}, see {event}", {"name": "{event}", "event": "Retreat"})
    assert filled == "Dear {event}, see Retreat"


def test_the_invitation_wave_uses_the_events_own_text_and_mints_the_link_when_sent(world, sent):
    texts.save(world.organizer, world.event, "invitation", "{name}, a seat at {event} awaits",
               "Dear {name},\n\nWe would love to see you at {event}{venue}.\n\nAnswer here: {link}\n\nUntil {expires}.")
    person = make_candidate(world.event, "grace@example.org", CandidateStatus.APPROVED, name="Grace Hopper")
    invites.send_wave(world.organizer, world.event, [person])
    db.session.commit()

    [message] = sent.to("grace@example.org")
    assert message["Subject"] == f"Grace Hopper, a seat at {world.event.title} awaits"
    body = body_of(message)
    assert body.startswith("Dear Grace Hopper,")
    assert re.search(r"Answer here: http://conclave\.test/invitation/[\w-]+", body)
    stored = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.to_email == "grace@example.org"))
    assert "/invitation/" not in stored.body_text and "[link removed after sending]" in stored.body_text
    assert stored.subject == message["Subject"]


def test_the_promotion_uses_the_events_own_text(world, sent):
    texts.save(world.organizer, world.event, "promotion", "Your seat at {event}",
               "Good news, {name}! Sign here: {agreement_link}")
    world.event.capacity = 2  # the attendee and the unsigned person hold both seats
    waiting = make_participant(world.event, "wait@example.org", CandidateStatus.WAITLISTED, signed=False)
    invites.withdraw(world.unsigned, world.event)
    db.session.commit()

    [message] = sent.to(waiting.email)
    assert message["Subject"] == f"Your seat at {world.event.title}"
    assert body_of(message).strip() == (f"Good news, Wait! Sign here: http://conclave.test/e/{world.event.slug}"
                                        "/agreement")


def test_without_an_own_text_the_built_in_one_is_sent(world, sent):
    texts.save(world.organizer, world.event, "promotion", "Ours", "Ours, {name}")
    assert texts.reset(world.organizer, world.event, "promotion") is True
    assert texts.reset(world.organizer, world.event, "promotion") is False
    world.event.capacity = 2
    waiting = make_participant(world.event, "wait@example.org", CandidateStatus.WAITLISTED, signed=False)
    invites.withdraw(world.unsigned, world.event)
    db.session.commit()
    [message] = sent.to(waiting.email)
    assert message["Subject"] == f"A seat opened for you at {world.event.title}"
    assert "You were on the waitlist" in body_of(message)


def test_a_new_agreement_version_emails_every_attendee_in_the_events_words(world, sent):
    texts.save(world.organizer, world.event, "new_agreement", "Sign v{version} of {event}",
               "{name}: version {version} is out. {agreement_link}")
    declined = make_participant(world.event, "declined@example.org", CandidateStatus.DECLINED)
    agreements.publish_version(world.organizer, world.event, "Version two: notes stay in the room.")
    db.session.commit()

    for user in (world.attendee, world.unsigned):
        [message] = sent.to(user.email)
        assert message["Subject"] == f"Sign v2 of {world.event.title}"
        assert "version 2 is out" in body_of(message)
    assert sent.to(declined.email) == []
    assert sent.to(world.organizer.email) == []
    assert [c.email for c in db.session.scalars(agreements.unsigned(world.event))] == sorted(
        [world.attendee.email, world.unsigned.email])
    sign_agreement(world.attendee, world.event)
    assert [c.email for c in db.session.scalars(agreements.unsigned(world.event))] == [world.unsigned.email]


def test_a_new_version_without_attendees_emails_nobody(world, sent):
    fresh = make_event("fresh", organizers=[world.organizer])
    make_candidate(fresh, "invited@example.org", CandidateStatus.INVITED)
    version = agreements.publish_version(world.organizer, fresh, "A different text.")
    db.session.commit()
    assert version.version == 2
    assert sent.refresh() == []
