"""The calendar routes: each one as each role, the secret feed link's life, and revocation."""

from __future__ import annotations

import hashlib
import re

import pytest
import sqlalchemy as sa

from tests.helpers import ROLES, SECRET_TITLE, by_summary, login_as, parse, sign_up
from workshop import calendar
from workshop.extensions import db
from workshop.models import Agreement, CalendarFeed, Candidate
from workshop.services import invites


def by_role(anonymous, stranger, unsigned, attendee, other_organizer, organizer, admin) -> dict:
    return dict(zip(ROLES, (anonymous, stranger, unsigned, attendee, other_organizer, organizer, admin), strict=True))


# The subscribe page and its buttons need the schedule: the unsigned attendee knows the event (403 to a
# button; a page leads them to the agreement first, 302).
PAGE = by_role(404, 404, 302, 200, 404, 200, 200)
RESET = by_role(404, 404, 403, 200, 404, 200, 200)  # answers with the page that shows the new link once
REVOKE = by_role(404, 404, 403, 302, 404, 302, 302)
EVENT_FEED_PRIVATE = by_role(404, 404, 302, 200, 404, 200, 200)
EVENT_FEED_PUBLIC = by_role(200, 200, 200, 200, 200, 200, 200)
# An attendees-tier talk: seeing its .ics needs seeing the talk.
TALK_ICS = by_role(404, 404, 302, 200, 404, 200, 200)
# The restricted talk: the attendee is not on its named list (the unsigned are led to the agreement, as
# for a talk that does not exist).
SECRET_ICS = by_role(404, 404, 302, 404, 404, 200, 200)
# The public talk while the public page is on: anyone.
PUBLIC_ICS = by_role(200, 200, 200, 200, 200, 200, 200)

CASES = {
    "page": ("GET", lambda s: "/e/retreat/calendar", PAGE, False),
    "reset": ("POST", lambda s: "/e/retreat/calendar/reset", RESET, False),
    "revoke": ("POST", lambda s: "/e/retreat/calendar/revoke", REVOKE, False),
    "event feed": ("GET", lambda s: "/e/retreat/calendar.ics", EVENT_FEED_PRIVATE, False),
    "event feed, public page on": ("GET", lambda s: "/e/retreat/calendar.ics", EVENT_FEED_PUBLIC, True),
    "talk ics": ("GET", lambda s: f"/e/retreat/proposals/{s.attendees_talk.public_id}/session.ics", TALK_ICS, False),
    "secret ics": ("GET", lambda s: f"/e/retreat/proposals/{s.secret_talk.public_id}/session.ics", SECRET_ICS,
                   True),
    "public ics": ("GET", lambda s: f"/e/retreat/proposals/{s.public_talk.public_id}/session.ics", PUBLIC_ICS,
                   True),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(CASES))
def test_each_route_answers_each_role(client, scene, case, role):
    method, url, expected, public_page = CASES[case]
    scene.event.public_page = public_page
    db.session.commit()
    login_as(client, scene.users[role])
    response = client.open(url(scene), method=method)
    assert response.status_code == expected[role], (case, role)
    if response.status_code == 200 and url(scene).endswith(".ics"):
        assert response.content_type == "text/calendar; charset=utf-8"
        assert response.headers["Cache-Control"] == "private, no-store"
        assert re.fullmatch(r"inline; filename=[\w.-]+\.ics", response.headers["Content-Disposition"])
        assert parse(response.data)["VERSION"] == "2.0"


@pytest.mark.parametrize("role", ROLES)
def test_the_event_feed_each_role_gets(client, scene, role):
    scene.event.public_page = True
    db.session.commit()
    login_as(client, scene.users[role])
    events = by_summary(client.get("/e/retreat/calendar.ics").data)
    whole = {"Open Results", "Early Findings", SECRET_TITLE}
    expected = {"attendee": {"Open Results", "Early Findings", calendar.CLOSED_SESSION},
                "organizer": whole, "admin": whole}.get(role, {"Open Results"})
    assert set(events) == expected


@pytest.mark.parametrize("role", ROLES)
def test_the_personal_feed_answers_the_token_not_the_session(client, scene, role):
    sign_up(scene.attendee, scene.public_talk)
    token = calendar.reset_feed(scene.attendee, scene.event)
    db.session.commit()
    login_as(client, scene.users[role])
    response = client.get(f"/calendar/{token}.ics")
    assert response.status_code == 200
    assert set(by_summary(response.data)) == {"Open Results"}
    assert client.get(f"/calendar/{token[:-1]}x.ics").status_code == 404


def created_link(response) -> str:
    html = response.get_data(as_text=True)
    found = re.search(r'id="feed-url"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*id="feed-url"', html)
    assert found, html
    return found.group(1) or found.group(2)


def token_of(url: str) -> str:
    found = re.fullmatch(r"http://conclave\.test/calendar/([A-Za-z0-9_-]{40,})\.ics", url)
    assert found, url
    return found.group(1)


def test_create_show_once_reset_and_turn_off(client, scene):
    sign_up(scene.attendee, scene.attendees_talk)
    login_as(client, scene.attendee)
    page = client.get("/e/retreat/calendar").get_data(as_text=True)
    assert "Create my private feed link" in page and "Reset link" not in page
    assert '<label for="feed-url"' not in page

    created = client.post("/e/retreat/calendar/reset")
    assert created.status_code == 200
    url = created_link(created)
    token = token_of(url)
    html = created.get_data(as_text=True)
    assert f'href="webcal://conclave.test/calendar/{token}.ics"' in html
    assert '<label for="feed-url">' in html
    assert created.headers["Cache-Control"] == "private, no-store"

    # Afterwards the page says the link exists, and never shows it again.
    later = client.get("/e/retreat/calendar").get_data(as_text=True)
    assert token not in later
    assert "Reset link" in later and "Turn off my feed" in later and "Create my private feed link" not in later

    login_as(client, None)
    feed = client.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200
    assert set(by_summary(feed.data)) == {"Early Findings"}

    login_as(client, scene.attendee)
    new_token = token_of(created_link(client.post("/e/retreat/calendar/reset")))
    assert new_token != token
    assert client.get(f"/calendar/{token}.ics").status_code == 404
    assert client.get(f"/calendar/{new_token}.ics").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarFeed)) == 1

    turned_off = client.post("/e/retreat/calendar/revoke")
    assert turned_off.status_code == 302 and turned_off.headers["Location"].endswith("/e/retreat/calendar")
    assert client.get(f"/calendar/{new_token}.ics").status_code == 404
    assert db.session.scalar(sa.select(CalendarFeed)) is None
    assert "Create my private feed link" in client.get("/e/retreat/calendar").get_data(as_text=True)


def test_only_the_hash_of_the_token_is_stored(client, scene):
    login_as(client, scene.attendee)
    token = token_of(created_link(client.post("/e/retreat/calendar/reset")))
    feed = db.session.scalar(sa.select(CalendarFeed))
    assert feed.user_id == scene.attendee.id and feed.event_id == scene.event.id
    assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).all():
            assert token not in repr(tuple(row)), table.name


def test_the_link_is_built_from_base_url(app, client, scene, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", "https://cal.example.net/conclave")
    login_as(client, scene.attendee)
    url = created_link(client.post("/e/retreat/calendar/reset"))
    assert re.fullmatch(r"https://cal\.example\.net/conclave/calendar/[A-Za-z0-9_-]+\.ics", url)
    sign_up(scene.attendee, scene.attendees_talk)
    body = client.get(f"/calendar/{url.rsplit('/', 1)[1]}").data
    item = by_summary(body)["Early Findings"]
    assert str(item["URL"]) == f"https://cal.example.net/conclave/e/retreat/proposals/{scene.attendees_talk.public_id}"
    assert str(item["UID"]).endswith("@cal.example.net")


# --- revocation makes the feed go dark ----------------------------------------------------


@pytest.fixture
def live_feed(client, scene):
    sign_up(scene.attendee, scene.attendees_talk)
    token = calendar.reset_feed(scene.attendee, scene.event)
    db.session.commit()
    assert client.get(f"/calendar/{token}.ics").status_code == 200
    return f"/calendar/{token}.ics"


def test_revoking_the_attendee_darkens_their_feed_at_once(client, scene, live_feed):
    candidate = db.session.scalar(sa.select(Candidate).where(Candidate.user_id == scene.attendee.id))
    invites.revoke(scene.organizer, scene.event, [candidate])
    db.session.commit()
    assert client.get(live_feed).status_code == 404
    login_as(client, scene.attendee)
    assert client.get("/e/retreat/calendar").status_code == 404


def test_a_disabled_account_darkens_the_feed(client, scene, live_feed):
    scene.attendee.is_disabled = True
    db.session.commit()
    assert client.get(live_feed).status_code == 404
    scene.attendee.is_disabled = False
    db.session.commit()
    assert client.get(live_feed).status_code == 200


def test_a_new_agreement_darkens_the_feed_until_signed(client, scene, live_feed):
    db.session.add(Agreement(event_id=scene.event.id, version=2, text="New terms."))
    db.session.commit()
    assert client.get(live_feed).status_code == 404


def test_an_unknown_or_malformed_token_is_not_found(client, scene):
    for token in ("nothing-here", "x" * 500, "%00", "a.b"):
        assert client.get(f"/calendar/{token}.ics").status_code == 404
    assert client.get("/e/no-such-event/calendar.ics").status_code == 404
    assert client.get("/e/retreat/proposals/nosuchtalk/session.ics").status_code == 404


def test_the_feed_route_is_rate_limited(app, client, scene, monkeypatch):
    monkeypatch.setitem(app.config, "TOKEN_RATE_LIMIT", "2 per minute")
    statuses = [client.get("/calendar/guessed-token.ics").status_code for _ in range(3)]
    assert statuses == [404, 404, 429]


def test_the_owner_opts_in_to_abstracts_for_their_own_feed_only(client, scene):
    """The abstracts of talks that are not public reach a feed only once its owner asks, from the subscribe
    page; the choice stays when the link is reset, and turning the feed off forgets it."""
    sign_up(scene.attendee, scene.attendees_talk)
    login_as(client, scene.attendee)
    assert client.post("/e/retreat/calendar/details", data={"details": "y"}).status_code == 409  # no link yet
    token = token_of(created_link(client.post("/e/retreat/calendar/reset")))
    page = client.get("/e/retreat/calendar").get_data(as_text=True)
    assert 'name="details"' in page and "checked" not in page

    def description() -> str:
        return str(by_summary(client.get(f"/calendar/{token}.ics").data)["Early Findings"]["DESCRIPTION"])

    assert "About Early Findings." not in description()
    saved = client.post("/e/retreat/calendar/details", data={"details": "y"})
    assert saved.status_code == 302
    assert "About Early Findings." in description()
    assert "checked" in client.get("/e/retreat/calendar").get_data(as_text=True)
    # The event feed is not one's own feed: it never carries them.
    assert "About Early Findings." not in client.get("/e/retreat/calendar.ics").get_data(as_text=True)

    client.post("/e/retreat/calendar/details", data={})
    assert "About Early Findings." not in description()
    client.post("/e/retreat/calendar/details", data={"details": "y"})
    token = token_of(created_link(client.post("/e/retreat/calendar/reset")))
    assert db.session.scalar(sa.select(CalendarFeed.include_details)) is True
    assert "About Early Findings." in description()
