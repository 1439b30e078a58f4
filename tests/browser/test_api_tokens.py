"""API tokens in a real browser: made on the account page, shown once, used by a program, revoked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers import BrowserErrors, make_event, make_participant, make_user, sign_in

pytestmark = pytest.mark.browser

ATTENDEE = "ada@example.org"


@pytest.fixture
def scene(app):
    with app.app_context():
        organizer = make_user("olga@example.org", "Olga Organizer")
        event = make_event("token-retreat", organizers=[organizer], title="Token Retreat")
        make_participant(event, ATTENDEE)


def test_make_use_and_revoke_a_token(app, scene, page, live_server, shoot):
    errors = BrowserErrors(page)
    sign_in(page, live_server, ATTENDEE, errors)
    page.goto("/account")
    section = page.locator("#api-tokens")
    expect(section.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(section).to_contain_text("You have no tokens.")
    section.get_by_label("Token name").fill("My conference app")
    section.get_by_role("button", name="Make a token").click()
    expect(page.get_by_role("heading", name="Your new API token")).to_be_visible()
    raw = page.get_by_label("“My conference app”").input_value()
    assert raw.startswith("cnc_")
    errors.assert_none()
    shoot(page, "53-api-token-made", phone=True)

    # A program uses it (no cookie: a fresh request context).
    api = page.context.request
    answer = page.request.get("/api/v1/events", headers={"Authorization": f"Bearer {raw}"})
    assert answer.status == 200 and [e["slug"] for e in answer.json()["events"]] == ["token-retreat"]
    assert api.get("/api/v1/events").status == 401  # the browser's cookie opens nothing

    page.get_by_role("link", name="Done").click()
    expect(section).to_contain_text("My conference app")
    expect(section).to_contain_text("last used")
    expect(section).not_to_contain_text(raw)
    errors.assert_none()
    shoot(page, "54-account-api-tokens", phone=True)

    section.get_by_role("button", name="Revoke the token My conference app").click()
    expect(page.locator(".flash")).to_contain_text("is revoked")
    expect(section).to_contain_text("You have no tokens.")
    assert page.request.get("/api/v1/events", headers={"Authorization": f"Bearer {raw}"}).status == 401
    errors.assert_none()
