"""The invitation journey in a real browser: an organizer invites someone, who accepts and signs the agreement.

Every link is the one a person would receive: the sign-in link and the invitation link are read from
the .eml files the file mail backend writes.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import make_event, make_user, sign_in
from workshop.extensions import db
from workshop.models import AgreementAcceptance, Candidate, CandidateStatus, EventStatus, User

pytestmark = pytest.mark.browser

ORGANIZER = "olga@example.org"
INVITEE = "iris@example.org"
SLUG = "interp-retreat"
TITLE = "Interpretability Retreat"
DESCRIPTION = "Two days of unpublished interpretability results, shared under the agreement."


@pytest.fixture
def event(app):
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        make_event(SLUG, organizers=[organizer], status=EventStatus.DRAFT, title=TITLE, capacity=20,
                   venue="Oxford", description=f"{DESCRIPTION}\n\n- Bring a draft, not a paper.")
        db.session.remove()


def journey(page, server, errors, shoot=None) -> None:
    """Organizer: sign in, add a person, send the invitation, sign out. Invitee: accept, sign, arrive."""
    sign_in(page, server, ORGANIZER, errors, shoot)
    if shoot:
        shoot(page, "04-my-events")

    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("navigation", name="Event management")).to_contain_text(TITLE)
    errors.assert_none()
    if shoot:
        shoot(page, "05-dashboard")
    page.get_by_role("navigation", name="Event management").get_by_role("link", name="Invite list").click()
    expect(page.get_by_role("heading", name="Invite list")).to_be_visible()
    expect(page.get_by_role("heading", name="The list is empty")).to_be_visible()
    errors.assert_none()

    page.locator(".page-head").get_by_role("link", name="Add a person").click()
    expect(page.get_by_role("heading", name="Add a person")).to_be_visible()
    page.get_by_label("Email", exact=True).fill(INVITEE)
    page.get_by_label("Name", exact=True).fill("Iris Invitee")
    page.get_by_label("Affiliation").fill("Lab of Careful Claims")
    page.get_by_label("Tags").fill("speaker, interp")
    expect(page.get_by_label("Approved: ready to invite")).to_be_checked()
    errors.assert_none()
    if shoot:
        shoot(page, "06-add-person")
    page.get_by_role("button", name="Add to the list", exact=True).click()

    expect(page.locator(".flash")).to_have_text("Iris Invitee is on the list (approved).")
    row = page.locator("table.invites-table tbody tr", has_text=INVITEE)
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("approved")
    errors.assert_none()

    row.get_by_role("checkbox", name="Tick Iris Invitee").check()
    bulk_bar = page.locator(".bulk-bar")
    bulk_bar.locator("select[name=action]").select_option(label="Send invitation")
    bulk_bar.get_by_role("button", name="Apply").click()
    expect(page.locator(".flash")).to_have_text("1 invited.")
    expect(row.locator(".badge")).to_have_text("invited")
    expect(row.get_by_role("checkbox")).not_to_be_checked()
    errors.assert_none()
    if shoot:
        shoot(page, "07-invite-list", phone=True)

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".flash")).to_have_text("You are signed out.")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")).to_be_visible()
    errors.assert_none()

    invitation = server.outbox.newest(INVITEE)
    assert invitation["Subject"] == f"You are invited to {TITLE}"
    page.goto(server.outbox.link(invitation, server.url, "/invitation/"))
    expect(page.get_by_text("You are invited", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"This invitation is for {INVITEE}")
    errors.assert_none()
    if shoot:
        shoot(page, "08-invitation", phone=True)
    page.get_by_role("button", name="Accept the invitation").click()

    expect(page).to_have_url(re.compile(rf"/e/{SLUG}/agreement$"))
    expect(page.locator(".flash")).to_contain_text("Welcome! One last step")
    expect(page.get_by_role("heading", name="Confidentiality agreement")).to_be_visible()
    expect(page.locator(".agreement-text")).to_have_text("Keep it in the room.")
    typed_name = page.get_by_label("Type your full name to sign")
    expect(typed_name).to_have_value("Iris Invitee")
    errors.assert_none()
    if shoot:
        shoot(page, "09-agreement", phone=True)
    typed_name.fill("Iris Q. Invitee")
    page.get_by_label("I accept this agreement").check()
    page.get_by_role("button", name="Sign the agreement").click()

    expect(page).to_have_url(re.compile(rf"/e/{SLUG}/$"))
    expect(page.locator(".flash")).to_contain_text("You have signed the agreement")
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    expect(page.get_by_text(DESCRIPTION)).to_be_visible()
    expect(page.get_by_role("link", name="Who is coming")).to_be_visible()
    expect(page.get_by_role("link", name="Read and sign the agreement")).to_have_count(0)
    errors.assert_none()
    if shoot:
        shoot(page, "10-event-landing", phone=True)


def test_organizer_invites_and_invitee_accepts_and_signs(app, event, live_server, page, browser_errors, shoot):
    journey(page, live_server, browser_errors, shoot)

    with app.app_context():
        invitee = db.session.scalar(sa.select(User).where(User.email == INVITEE))
        candidate = db.session.scalar(sa.select(Candidate).where(Candidate.email == INVITEE))
        acceptance = db.session.scalar(sa.select(AgreementAcceptance).where(AgreementAcceptance.user_id == invitee.id))
        assert candidate.status == CandidateStatus.ACCEPTED
        assert candidate.user_id == invitee.id
        assert acceptance.typed_name == "Iris Q. Invitee"
        assert acceptance.ip == "127.0.0.1"
        db.session.remove()
    # Every main page at 1280 px (10), and the invite list, invitation, agreement and landing at 390 px (4).
    assert len(shoot.taken) == 14, [p.name for p in shoot.taken]


def _inject_into_document(page, url_glob: str, tag: str) -> None:
    """Serve the real page with ``tag`` added before </body>, keeping the server's headers (and its CSP).

    Only pages the browser asks for directly can be rewritten: requests that follow a redirect are not routed.
    """

    def handle(route):
        if route.request.method != "GET" or route.request.resource_type != "document":
            route.continue_()
            return
        response = route.fetch()
        route.fulfill(response=response, body=response.text().replace("</body>", f"{tag}</body>"))

    page.route(url_glob, handle)


def _break_script_on(page, path: str) -> None:
    """The real conclave.js, which throws when it runs on ``path``: a script bug on one page only."""

    def handle(route):
        response = route.fetch()
        bug = f"\nif (location.pathname === {path!r}) {{ throw new Error('broken on purpose'); }}\n"
        route.fulfill(response=response, body=response.text() + bug)

    page.route("**/static/conclave.js", handle)


@pytest.mark.parametrize("breakage", ["inline-script-on-invitation", "exception-on-landing"])
def test_a_browser_error_on_a_journey_page_fails_the_journey(app, event, live_server, page, browser_errors,
                                                             breakage):
    if breakage == "inline-script-on-invitation":
        # The CSP forbids inline scripts: the browser refuses it and says so in the console.
        _inject_into_document(page, "**/invitation/*", "<script>window.inlineScriptRan = true;</script>")
        expected = r"console error on http://127\.0\.0\.1:\d+/invitation/\S+: .*Content Security Policy"
    else:
        _break_script_on(page, f"/e/{SLUG}/")
        expected = rf"uncaught exception on http://127\.0\.0\.1:\d+/e/{SLUG}/: .*broken on purpose"

    with pytest.raises(AssertionError, match=expected):
        journey(page, live_server, browser_errors)

    if breakage == "inline-script-on-invitation":
        assert page.evaluate("window.inlineScriptRan") is None, "the inline script ran: no CSP on the page"
