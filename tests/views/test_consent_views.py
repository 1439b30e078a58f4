"""The consent request and the audience on the talk's pages: who sees them, who answers, and what the
answers do."""

from __future__ import annotations

import re

import pytest

from tests.helpers import build_scene, keep_materials_in, login_as, text_of
from workshop.extensions import db
from workshop.models import Tier, WideningStatus


def words(response) -> str:
    """The page's text without its tags, its spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text_of(response))).replace(" .", ".")


@pytest.fixture
def scene(world, tmp_path, monkeypatch):
    keep_materials_in(monkeypatch, tmp_path / "materials")
    return build_scene(world)


def test_attendees_see_neither_the_audience_nor_the_requests(client, scene):
    talk = scene.talk
    scene.widening_request  # noqa: B018 (made on first use)
    login_as(client, scene.world.attendee)
    page = text_of(client.get(f"/e/retreat/proposals/{talk.public_id}"))
    assert talk.title in page
    assert "Who sees this talk" not in page and "Waiting for the speakers' consent" not in page
    assert "asks: tier attendees → public" not in page


def test_the_organizer_sees_the_request_they_made_but_cannot_consent_for_the_speaker(client, scene):
    talk = scene.talk
    scene.widening_request  # noqa: B018
    login_as(client, scene.world.organizer)
    page = words(client.get(f"/e/retreat/proposals/{talk.public_id}"))
    assert "Olga Organizer asks: tier attendees → public." in page
    assert "Waiting for: Speaker." in page
    assert " Consent " not in page and "Withdraw the request" in page
    assert "Who sees this talk" in page and "Everyone, and why" in page


def test_the_speaker_consents_from_the_talks_page_and_cannot_answer_twice(client, scene):
    talk, request = scene.talk, scene.widening_request
    login_as(client, scene.speaker)
    page = text_of(client.get(f"/e/retreat/proposals/{talk.public_id}"))
    assert ">Consent<" in page and ">Decline<" in page
    url = f"/e/retreat/proposals/{talk.public_id}/requests/{request.public_id}/answer"
    response = client.post(url, data={"answer": "accept"})
    assert response.status_code == 302
    db.session.expire_all()
    assert talk.tier == Tier.PUBLIC and request.status == WideningStatus.APPLIED
    assert client.post(url, data={"answer": "decline"}).status_code == 403  # answered, and closed
    assert talk.tier == Tier.PUBLIC


def test_a_decline_from_the_talks_page_changes_nothing(client, scene):
    talk, request = scene.talk, scene.widening_request
    login_as(client, scene.speaker)
    url = f"/e/retreat/proposals/{talk.public_id}/requests/{request.public_id}/answer"
    assert client.post(url, data={"answer": "decline"}).status_code == 302
    db.session.expire_all()
    assert talk.tier == Tier.ATTENDEES and request.status == WideningStatus.DECLINED


@pytest.mark.parametrize("request_id", ["nosuchrequest000", "x" * 300, "1"])
def test_a_request_id_that_is_not_the_talks_is_a_404(client, scene, request_id):
    talk = scene.talk
    login_as(client, scene.speaker)
    response = client.post(f"/e/retreat/proposals/{talk.public_id}/requests/{request_id}/answer",
                           data={"answer": "accept"})
    assert response.status_code == 404


def test_another_talks_request_is_not_found_through_this_talk(client, scene):
    request = scene.widening_request
    other = scene.terms_talk
    login_as(client, scene.speaker)
    response = client.post(f"/e/retreat/proposals/{other.public_id}/requests/{request.public_id}/answer",
                           data={"answer": "accept"})
    assert response.status_code == 404
    db.session.expire_all()
    assert request.status == WideningStatus.PENDING


def test_the_audience_page_lists_the_people_with_their_reasons(client, scene):
    talk = scene.talk
    login_as(client, scene.speaker)
    page = text_of(client.get(f"/e/retreat/proposals/{talk.public_id}/audience"))
    assert "Who reads it and opens it" in page
    assert "attendee@example.org" in page and "org@example.org" in page
    assert "unsigned@example.org" not in page  # accepted, but has not signed the agreement
