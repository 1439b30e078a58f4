"""Agreement versions and signatures."""

import pytest
import sqlalchemy as sa

from tests.helpers import make_event, make_participant, make_user
from workshop import policy
from workshop.extensions import db
from workshop.models import AgreementAcceptance, AuditEntry
from workshop.services import agreements
from workshop.services.errors import DomainError


@pytest.fixture
def setting(ctx):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer])
    return event, organizer


def test_signature_records_name_time_and_ip(setting):
    event, _ = setting
    person = make_participant(event, "p@example.org", signed=False)
    agreements.sign(person, event, "  Pat   Person ", "203.0.113.9")
    db.session.commit()
    row = db.session.scalar(sa.select(AgreementAcceptance))
    assert (row.typed_name, row.ip, row.user_id) == ("Pat Person", "203.0.113.9", person.id)
    assert row.accepted_at is not None
    with pytest.raises(DomainError, match="already signed"):
        agreements.sign(person, event, "Pat Person", "203.0.113.9")


def test_new_version_asks_again_and_is_audited(setting):
    event, organizer = setting
    person = make_participant(event, "p@example.org")
    assert policy.can_view_event_content(person, event)
    version = agreements.publish_version(organizer, event, "New terms: nothing leaves the room.")
    db.session.commit()
    assert version.version == 2
    policy.forget_memo()
    assert policy.must_sign_agreement(person, event)
    assert not policy.can_view_event_content(person, event)
    assert db.session.scalar(sa.select(AuditEntry.action).where(AuditEntry.action == "new agreement"))
    with pytest.raises(DomainError, match="unchanged"):
        agreements.publish_version(organizer, event, "New terms: nothing leaves the room.")


@pytest.mark.parametrize("name", ["", " ", "x", "y" * 201])
def test_a_name_is_required(setting, name):
    event, _ = setting
    person = make_participant(event, "p@example.org", signed=False)
    with pytest.raises(DomainError):
        agreements.sign(person, event, name, "127.0.0.1")


def test_only_accepted_participants_sign(setting):
    event, organizer = setting
    for person in (organizer, make_user("stranger@example.org")):
        with pytest.raises(DomainError):
            agreements.sign(person, event, "Some Name", "127.0.0.1")
