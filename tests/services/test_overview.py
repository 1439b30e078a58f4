"""The organizers' overview: what needs doing now, from the event's state, in a fixed number of queries."""

from datetime import time

import pytest

from tests.helpers import (
    counting,
    login_as,
    make_candidate,
    make_event,
    make_participant,
    make_talk,
    make_user,
    text_of,
)
from workshop import policy
from workshop.extensions import db
from workshop.models import CandidateStatus, EventStatus, MessageStatus, OutboxMessage, ProposalStatus
from workshop.services import overview, schedule


@pytest.fixture
def setting(ctx):
    organizer = make_user("org@example.org", "Olga Organizer")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING, capacity=50)
    return event, organizer


def keys(event) -> dict[str, int]:
    return {task.key: task.count for task in overview.overview(event).tasks}


def test_a_quiet_event_has_nothing_to_do(setting):
    event, _ = setting
    assert keys(event) == {}


def test_each_kind_of_work_shows_with_its_count(setting):
    event, organizer = setting
    speaker = make_participant(event, "speaker@example.org")
    make_participant(event, "unsigned@example.org", signed=False)
    make_candidate(event, "new@example.org")
    make_candidate(event, "ready@example.org", status=CandidateStatus.APPROVED)
    make_talk(event, speaker, "Undecided", status=ProposalStatus.SUBMITTED)
    make_talk(event, speaker, "Accepted, not placed")
    db.session.add_all([OutboxMessage(event_id=event.id, to_email="x@example.org", subject="s", body_text="b",
                                      status=status) for status in (MessageStatus.FAILED, MessageStatus.PENDING,
                                                                    MessageStatus.PENDING, MessageStatus.SENT)])
    db.session.commit()
    assert keys(event) == {"mail_failed": 1, "decide": 1, "unsigned": 1, "review": 1, "invite": 1, "place": 1,
                           "mail_waiting": 2}


def test_published_schedule_asks_to_open_sign_up_and_unpublished_moves_are_flagged(setting):
    event, organizer = setting
    speaker = make_participant(event, "speaker@example.org")
    room = schedule.add_room(organizer, event, "Library", 2, closed_door=False)
    [first, second] = schedule.add_slots(organizer, event, event.starts_on, [time(9), time(11)], 60)
    talk = make_talk(event, speaker, "Early results")
    schedule.place(organizer, talk, room.id, first.id)
    schedule.publish(organizer, event)
    db.session.commit()
    now = overview.overview(event)
    assert [t.key for t in now.tasks] == ["status"] and now.next_status == EventStatus.OPEN
    schedule.place(organizer, talk, room.id, second.id, confirmed=True)
    db.session.commit()
    assert "publish" in keys(event)
    [load] = overview.overview(event).rooms
    assert (load.name, load.capacity, load.sessions, load.busiest) == ("Library", 2, 1, "Early results")


def test_query_count_does_not_grow_with_the_data(setting):
    event, organizer = setting
    speaker = make_participant(event, "speaker@example.org")
    room = schedule.add_room(organizer, event, "Hall", 40, closed_door=False)
    slots = schedule.add_slots(organizer, event, event.starts_on, [time(h) for h in range(8, 18)], 50)
    db.session.commit()

    def queries() -> int:
        db.session.expire_all()
        policy.forget_memo()
        with counting() as statements:
            overview.overview(event)
        return len(statements)

    make_talk(event, speaker, "Talk 0", status=ProposalStatus.SUBMITTED)
    schedule.place(organizer, make_talk(event, speaker, "Placed 0"), room.id, slots[0].id)
    make_candidate(event, "c0@example.org")
    db.session.commit()
    small = queries()
    for n in range(1, 8):
        talk = make_talk(event, speaker, f"Talk {n}")
        schedule.place(organizer, talk, room.id, slots[n].id)
        make_candidate(event, f"c{n}@example.org")
        make_participant(event, f"p{n}@example.org", signed=n % 2 == 0)
    db.session.commit()
    assert queries() == small


def test_the_overview_page_leads_and_switches(client, setting):
    event, organizer = setting
    make_candidate(event, "new@example.org")
    login_as(client, organizer)
    page = text_of(client.get(f"/e/{event.slug}/manage/"))
    assert "To do now" in page and "people proposed for the list to review" in page
    assert "/e/retreat/manage/invites/?status=proposed" in page
    assert "Switch it on" in page and "http://localhost/e/retreat/public" in page
    assert client.post(f"/e/{event.slug}/manage/public-page", data={"public_page": "on"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(type(event), event.id).public_page
    assert client.post(f"/e/{event.slug}/manage/status", data={"status": "open"}).status_code == 302
    assert client.post(f"/e/{event.slug}/manage/status", data={"status": "bogus"}).status_code == 400
    assert client.post(f"/e/{event.slug}/manage/status", data={"status": "open"}).status_code == 409
    db.session.expire_all()
    assert db.session.get(type(event), event.id).status == EventStatus.OPEN


def test_links_to_pages_of_other_parts_appear_only_where_those_pages_exist(app, setting):
    from workshop.views.manage import manage_page

    event, _ = setting
    with app.test_request_context():
        assert manage_page(event, "audit") == "/e/retreat/manage/audit"
        assert manage_page(event, "no-such-page") is None
