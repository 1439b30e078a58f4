"""A talk's audience and the speakers' consent, in a real browser: a co-speaker asks to open a restricted
talk to every attendee; the proposer is emailed, sees the request and the talk's audience in figures,
reads the whole list with its reasons and its contradiction, and consents; the talk then reaches more
people, which the figures show."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers import DESKTOP, BrowserErrors, make_event, make_participant, make_user, sign_in
from workshop.extensions import db
from workshop.models import EventStatus, Proposal, ProposalExclusion, ProposalKind, Tier
from workshop.services import proposals

pytestmark = pytest.mark.browser

SLUG = "circuits"
TALK = "Refusal circuits, traced"
LEAD, CO, NAMED, RIVAL, OTHER, ORGANIZER = ("lena@example.org", "cato@example.org", "nia@example.org",
                                            "rex@rival.org", "otto@example.org", "olga@example.org")


@pytest.fixture
def scene(app):
    """A restricted talk by Lena and Cato, naming Nia and Rex, who works at a lab the talk excludes."""
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.OPEN, title="Circuits Workshop")
        people = {}
        for email, name in ((LEAD, "Lena Lead"), (CO, "Cato Co"), (NAMED, "Nia Named"), (RIVAL, "Rex Rival"),
                            (OTHER, "Otto Other")):
            people[email] = make_participant(event, email)
            people[email].name = name
        talk = proposals.submit(people[LEAD], event, proposals.ProposalData(
            title=TALK, abstract="What we found.", kind=ProposalKind.TALK, duration_minutes=30,
            tier=Tier.RESTRICTED), CO)
        proposals.set_access(people[LEAD], talk, f"{NAMED} {RIVAL}", "")  # alone yet, Lena names them at once
        proposals.answer_cospeaking(people[CO], talk, accept=True)
        db.session.add(ProposalExclusion(proposal_id=talk.id, domain="rival.org"))
        proposals.decide(organizer, talk, True)
        db.session.commit()
        public_id = talk.public_id
        db.session.remove()
    return public_id


def new_page(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(5000)
    return context.new_page()


def figure(page, label: str):
    return page.locator("#audience .audience-counts div", has_text=label).locator("dd strong")


def test_a_widening_waits_for_the_proposer_who_sees_the_audience_and_consents(app, scene, browser, live_server,
                                                                               shoot):
    talk_url = f"/e/{SLUG}/proposals/{scene}"

    # Cato, the co-speaker, asks to open the talk to every attendee: it waits.
    cato = new_page(browser, live_server)
    cato_errors = BrowserErrors(cato)
    sign_in(cato, live_server, CO, cato_errors)
    cato.goto(talk_url)
    cato.get_by_role("link", name="Change tier").click()
    expect(cato.locator("main")).to_contain_text("waits until every other confirmed speaker consents")
    cato.get_by_label("Tier now").select_option("attendees")
    cato.get_by_role("button", name="Change tier").click()
    expect(cato.locator(".flash-success")).to_contain_text("waits for the consent of every speaker")
    expect(cato.locator(".talk-meta .tier")).to_have_text("restricted")
    requests = cato.locator("#requests")
    expect(requests).to_contain_text("Cato Co asks: tier restricted → attendees.")
    expect(requests).to_contain_text("Waiting for: Lena Lead.")
    expect(requests.get_by_role("button", name="Consent")).to_have_count(0)  # the asker cannot consent
    expect(requests.get_by_role("button", name="Withdraw the request")).to_be_visible()
    cato_errors.assert_none()
    cato.context.close()

    # Lena is emailed, and finds the request on the talk's page with the talk's audience in figures.
    message = live_server.outbox.newest(LEAD)
    assert message["Subject"] == f"Your consent is asked: {TALK}"
    lena = new_page(browser, live_server)
    errors = BrowserErrors(lena)
    sign_in(lena, live_server, LEAD, errors)
    lena.goto(live_server.outbox.link(message, live_server.url, f"/e/{SLUG}/proposals/"))
    expect(lena.get_by_role("heading", name="Waiting for the speakers' consent")).to_be_visible()
    # Now: the two speakers, the organizer and Nia read it; Rex is named but excluded, which is flagged.
    expect(figure(lena, "Read the title and abstract now")).to_have_text("4")
    expect(figure(lena, "Open the materials now")).to_have_text("3")
    expect(figure(lena, "Excluded")).to_have_text("1")
    expect(lena.locator("#audience")).to_contain_text("1 contradiction to look at.")
    errors.assert_none()
    shoot(lena, "audience-consent-request")

    # The whole list, each with the reason, and the contradiction spelled out.
    lena.locator("#audience").get_by_role("link", name="Everyone, and why").click()
    expect(lena.get_by_role("heading", name="Who sees this talk", exact=True)).to_be_visible()
    table = lena.locator("#audience-table")
    expect(table.locator("tr", has_text="Nia Named")).to_contain_text("named")
    expect(table.locator("tr", has_text="Olga Organizer")).to_contain_text("organizer")
    expect(table.locator("tr", has_text="Lena Lead")).to_contain_text("speaker")
    expect(table.locator("tr", has_text="Otto Other")).to_have_count(0)
    expect(lena.locator("#audience-excluded")).to_contain_text("Rex Rival rex@rival.org: domain rival.org")
    expect(lena.locator(".audience-conflict")).to_contain_text("named, but domain rival.org excludes them")
    errors.assert_none()
    shoot(lena, "audience-page", phone=True)

    # Lena consents: the change applies, and the talk now reaches every attendee but Rex.
    lena.go_back()
    lena.locator("#requests").get_by_role("button", name="Consent").click()
    expect(lena.locator(".flash-success")).to_have_text("You consented, and every speaker has: the change applies now.")
    expect(lena.locator(".talk-meta .tier")).to_have_text("attendees")
    expect(lena.locator("#requests")).to_have_count(0)
    expect(figure(lena, "Read the title and abstract now")).to_have_text("5")  # Otto too
    expect(figure(lena, "Open the materials now")).to_have_text("5")
    errors.assert_none()
    shoot(lena, "audience-talk-after-consent")

    applied = live_server.outbox.newest(CO)
    assert applied["Subject"] == f"Request applied: {TALK}"
    with app.app_context():
        assert db.session.query(Proposal).one().tier == Tier.ATTENDEES
