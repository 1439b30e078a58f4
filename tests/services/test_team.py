"""The team: organizers name and remove their co-organizers; never the last one."""

import pytest

from tests.helpers import login_as, make_event, make_user
from workshop import policy
from workshop.extensions import db
from workshop.services import events
from workshop.services.errors import DomainError


@pytest.fixture
def team(ctx):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer])
    return event, organizer


def test_organizer_adds_and_removes_a_co_organizer(team):
    event, organizer = team
    co = events.add_organizer(organizer, event, "co@example.org")
    db.session.commit()
    assert policy.is_organizer(co, event) and policy.can_manage_organizers(co, event)
    events.remove_organizer(co, event, organizer)
    db.session.commit()
    assert event.organizers == [co]
    assert not policy.is_organizer(organizer, event)


def test_the_last_organizer_stays(team):
    event, organizer = team
    assert not policy.can_remove_organizer(organizer, event, organizer)
    with pytest.raises(DomainError, match="at least one organizer"):
        events.remove_organizer(organizer, event, organizer)


def test_organizers_of_other_events_and_attendees_may_not(team):
    event, _ = team
    elsewhere = make_user("elsewhere@example.org")
    make_event("other", organizers=[elsewhere])
    assert not policy.can_manage_organizers(elsewhere, event)
    assert policy.can_manage_organizers(make_user("root@example.org", admin=True), event)


def test_an_organizer_who_leaves_goes_home(client, team):
    event, organizer = team
    co = events.add_organizer(organizer, event, "co@example.org")
    db.session.commit()
    login_as(client, organizer)
    answer = client.post(f"/e/{event.slug}/manage/organizers/{organizer.id}/remove")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/")
    db.session.expire_all()
    assert [u.email for u in db.session.get(type(event), event.id).organizers] == [co.email]
    login_as(client, co)
    page = client.get(f"/e/{event.slug}/manage/organizers").get_data(as_text=True)
    assert "The only organizer" in page
