"""Publishing from the editor: release 1, then a move and release 2, which emails only the people the
moved session concerns (its speaker, those who voted for it or signed up for it); the releases page."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.helpers import Plan, audit_actions, element, login_as, make_participant, text_of
from workshop.extensions import db
from workshop.models import OutboxMessage, ScheduleRelease, SignUp, Vote
from workshop.services import schedule


@pytest.fixture
def scene(client, plan) -> Plan:
    """Talks A and B placed; a voter and a person signed up for each, besides the plan's attendee (who voted
    for all three talks)."""
    schedule.place(plan.world.organizer, plan.talks[0], plan.hall.id, plan.day1[0].id)
    schedule.place(plan.world.organizer, plan.talks[1], plan.vault.id, plan.day1[0].id)
    db.session.commit()
    for letter, talk in zip("ab", plan.talks[:2]):
        voter = make_participant(plan.event, f"voter-{letter}@example.org")
        seated = make_participant(plan.event, f"seated-{letter}@example.org")
        db.session.add_all([Vote(proposal_id=talk.id, user_id=voter.id),
                            SignUp(proposal_id=talk.id, user_id=seated.id)])
    db.session.commit()
    login_as(client, plan.world.organizer)
    return plan


def releases(plan: Plan) -> list[tuple[int, int]]:
    return [(r.number, len(r.entries)) for r in db.session.scalars(
        sa.select(ScheduleRelease).where(ScheduleRelease.event_id == plan.event.id).order_by(ScheduleRelease.number))]


def recipients() -> set[str]:
    return set(db.session.scalars(sa.select(OutboxMessage.to_email)))


def test_publish_then_move_then_publish_again(client, scene, sent):
    response = client.post(scene.url("/publish"), follow_redirects=True)
    assert response.status_code == 200
    assert "Release 1 is published; attendees can see the schedule now." in text_of(response)
    assert releases(scene) == [(1, 2)]
    assert recipients() == set(), "the first release is not announced as changes"

    # Someone signed up for Talk A: the move is confirmed, and tells them at once.
    assert client.post(scene.url("/place"), data={"proposal": scene.talks[0].public_id, "room": scene.hall.id,
                                                  "slot": scene.day1[2].id, "confirm": "1"}).status_code == 302
    assert recipients() == {"seated-a@example.org"}
    response = client.post(scene.url("/publish"), follow_redirects=True)
    assert "Release 2 is published; attendees affected by changes have been emailed." in text_of(response)
    assert releases(scene) == [(1, 2), (2, 2)]
    assert recipients() == {"speaker0@example.org", "attendee@example.org", "voter-a@example.org",
                            "seated-a@example.org"}
    [message] = sent.to("voter-a@example.org")
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "release 2" in body and "Talk A — moved" in body and "14:00–15:00, Main Hall" in body
    assert "Talk B" not in body
    assert [a for a, _ in audit_actions(scene.event) if a == "publish schedule"] == ["publish schedule"] * 2


def test_the_releases_page_lists_number_time_author_and_size(client, scene):
    page = text_of(client.get(scene.url("/releases")))
    assert "Nothing published yet" in page
    client.post(scene.url("/publish"))
    client.post(scene.url("/place"), data={"proposal": scene.talks[2].public_id, "room": scene.closet.id,
                                           "slot": scene.day2[0].id})
    client.post(scene.url("/publish"))
    response = client.get(scene.url("/releases"))
    assert response.status_code == 200
    rows = [" ".join(row.split()) for row in text_of(response).split("<tr>")[2:]]
    assert len(rows) == 2
    assert "Release 2" in rows[0] and "current" in rows[0] and "Olga Organizer" in rows[0]
    assert 'data-label="Sessions">3</td>' in rows[0]
    assert "Release 1" in rows[1] and "current" not in rows[1] and 'data-label="Sessions">2</td>' in rows[1]
    assert "UTC" in rows[0]


def test_the_editor_offers_the_next_release(client, scene):
    client.post(scene.url("/publish"))
    page = client.get(scene.url())
    heading = element(page, "publish-heading")
    assert heading.text == "Release 1 is published"
    assert "Publish release 2" in text_of(page)
