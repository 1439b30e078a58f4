"""A speaker's own sessions are in their personal feed; a session taken off and put back keeps
looking newer to calendar clients (its SEQUENCE never goes down)."""

from __future__ import annotations

from tests.helpers import MONDAY, SATURDAY, by_summary, fresh
from workshop import calendar
from workshop.extensions import db
from workshop.services import schedule


def test_a_speaker_finds_their_own_session_without_signing_up(scene):
    body = fresh(calendar.personal_feed, scene.public_speaker, scene.event)
    assert set(by_summary(body)) == {"Open Results", "Early Findings"}


def test_unplacing_and_placing_again_raises_the_sequence(scene):
    scene.move(scene.public_talk, MONDAY, 14)
    first = int(by_summary(fresh(calendar.event_feed, scene.organizer, scene.event))["Open Results"]["SEQUENCE"])
    schedule.unplace(scene.organizer, scene.public_talk)
    db.session.commit()
    scene.move(scene.public_talk, SATURDAY, 14)
    again = int(by_summary(fresh(calendar.event_feed, scene.organizer, scene.event))["Open Results"]["SEQUENCE"])
    assert again > first >= 1
