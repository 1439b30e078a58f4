"""The invitee's journey in a real browser: from the invitation email to a proposed talk and a vote.

The organizers have already invited Iris (the wave is sent with the services, and its email lands in the
file outbox); everything Iris does, she does through the pages.
"""

from __future__ import annotations

import email
import email.policy
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import DESKTOP, BrowserErrors, make_candidate, make_event, make_participant, make_user
from workshop.extensions import db
from workshop.models import (
    AgreementAcceptance,
    Candidate,
    CandidateStatus,
    EventStatus,
    Proposal,
    ProposalKind,
    ProposalStatus,
    Tier,
    User,
    Vote,
    Vouch,
)
from workshop.services import invites, proposals

pytestmark = pytest.mark.browser

ORGANIZER, INVITEE, OTHER, COLLEAGUE = ("olga@example.org", "iris@example.org", "bea@example.org",
                                        "cole@elsewhere.example")
SLUG, TITLE = "alignment-retreat", "Alignment Retreat"
OTHER_TALK = "Reward hacking in the wild"
MY_TALK = "Unfaithful chains of thought"


@pytest.fixture
def invited(app, live_server):
    """A running invitation phase: Iris is invited (her email is in the outbox), Bea is in and has proposed."""
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.INVITING, title=TITLE, capacity=20,
                           venue="Edinburgh", description="Three days of results that are not out yet.")
        bea = make_participant(event, OTHER)
        bea.name = "Bea Speaker"
        proposals.submit(bea, event, proposals.ProposalData(OTHER_TALK, "Where the reward model gives way.",
                                                            ProposalKind.TALK, 30, Tier.ATTENDEES))
        iris = make_candidate(event, INVITEE, CandidateStatus.APPROVED, name="Iris Invitee")
        invites.send_wave(organizer, event, [iris])
        db.session.commit()
        db.session.remove()


def looked_at(page, errors, shoot, name: str) -> None:
    """No console error or CSP violation on the page, and a screenshot at desktop and phone width."""
    errors.assert_none()
    shoot(page, f"j2-{name}", phone=True)


def test_invitee_journey(app, invited, browser, live_server, shoot):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10000)
    page = context.new_page()
    errors = BrowserErrors(page)
    flash = page.locator(".flashes .flash")

    # The invitation, from the email.
    invitation = live_server.outbox.newest(INVITEE)
    assert invitation["Subject"] == f"You are invited to {TITLE}"
    page.goto(live_server.outbox.link(invitation, live_server.url, "/invitation/"))
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"This invitation is for {INVITEE}")
    expect(page.locator("main")).to_contain_text("Organized by Olga Organizer.")
    looked_at(page, errors, shoot, "01-invitation")
    page.get_by_role("button", name="Accept the invitation").click()

    # The agreement.
    expect(page).to_have_url(re.compile(rf"/e/{SLUG}/agreement$"))
    expect(flash).to_have_text("Welcome! One last step: read and sign the confidentiality agreement.")
    expect(page.get_by_role("heading", name="Confidentiality agreement")).to_be_visible()
    expect(page.locator(".agreement-text")).to_have_text("Keep it in the room.")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Sign out")
    looked_at(page, errors, shoot, "02-agreement")
    page.get_by_label("Type your full name to sign").fill("Iris Invitee")
    page.get_by_label("I accept this agreement").check()
    page.get_by_role("button", name="Sign the agreement").click()

    # The event's page, and from it the nomination form.
    expect(page).to_have_url(re.compile(rf"/e/{SLUG}/$"))
    expect(flash).to_contain_text("You have signed the agreement")
    expect(page.locator(".standing")).to_contain_text("You have a seat")
    attendee_links = page.locator("section", has=page.get_by_role("heading", name="For attendees"))
    expect(attendee_links.get_by_role("link", name="Nominate someone you vouch for")).to_be_visible()
    looked_at(page, errors, shoot, "03-event")
    attendee_links.get_by_role("link", name="Nominate someone you vouch for").click()

    expect(page.get_by_role("heading", name="Nominate someone")).to_be_visible()
    page.get_by_label("Their name").fill("Cole Colleague")
    page.get_by_label("Their email").fill(COLLEAGUE)
    page.get_by_label("Affiliation").fill("Elsewhere Institute")
    page.get_by_label("Why you vouch for them").fill("We ran the probing study together; careful with results.")
    looked_at(page, errors, shoot, "04-nominate")
    page.get_by_role("button", name="Send nomination").click()

    expect(page).to_have_url(re.compile(rf"/e/{SLUG}/$"))
    expect(flash).to_have_text("Thank you. The organizers will see your nomination and your note.")
    errors.assert_none()

    # A talk, with a tier.
    attendee_links.get_by_role("link", name="Propose a talk").click()
    expect(page.get_by_role("heading", name="Propose a talk")).to_be_visible()
    page.get_by_label("Title").fill(MY_TALK)
    page.get_by_label("Abstract").fill("When the stated reasoning is *not* the reason.")
    page.get_by_label("Kind").select_option(label="Discussion")
    page.get_by_label("Duration (minutes)").fill("45")
    tier = page.get_by_label("Who may see it")
    expect(tier).to_have_value("attendees")
    tier.select_option(label="Session: title for attendees, materials only for those who attended")
    page.get_by_label(re.compile("Chatham House rule")).check()
    looked_at(page, errors, shoot, "05-propose")
    page.get_by_role("button", name="Submit proposal").click()

    expect(flash).to_have_text("Your proposal is in. Upload slides whenever they are ready.")
    expect(page.get_by_role("heading", name=MY_TALK, level=1)).to_be_visible()
    expect(page.locator(".page-head .tier")).to_have_text("session")
    expect(page.locator(".page-head .badge")).to_have_text("submitted")
    expect(page.locator(".page-head .flag")).to_have_text("Chatham House")
    expect(page.locator(".page-head")).to_contain_text("Discussion · 45 min · Iris Invitee")
    looked_at(page, errors, shoot, "06-my-talk")

    # The talks, and a vote for Bea's.
    page.locator(".eyebrow").get_by_role("link", name="Talks").click()
    expect(page.get_by_role("heading", name="Talks")).to_contain_text("2")
    theirs = page.locator("li.talk", has_text=OTHER_TALK)
    mine = page.locator("li.talk", has_text=MY_TALK)
    expect(mine.get_by_role("button")).to_have_count(0)  # no voting for one's own talk
    vote = theirs.get_by_role("button", name="I want to attend")
    expect(vote).to_have_attribute("aria-pressed", "false")
    expect(vote).to_have_text("☆ I want to attend")
    looked_at(page, errors, shoot, "07-talks")
    vote.click()

    expect(flash).to_have_text(f"Marked: you want to attend “{OTHER_TALK}”.")
    expect(vote).to_have_attribute("aria-pressed", "true")
    expect(vote).to_have_text("★ I want to attend")
    expect(mine.locator(".votes")).to_have_text("0 want to attend")
    looked_at(page, errors, shoot, "08-talks-voted")
    context.close()

    recipients = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["To"]
                  for path in live_server.outbox.files()]
    assert INVITEE in recipients and COLLEAGUE not in recipients, "a nominee is contacted only once invited"
    with app.app_context():
        iris = db.session.scalar(sa.select(User).where(User.email == INVITEE))
        candidate = db.session.scalar(sa.select(Candidate).where(Candidate.email == INVITEE))
        assert candidate.status == CandidateStatus.ACCEPTED and candidate.user_id == iris.id
        assert db.session.scalar(sa.select(AgreementAcceptance.typed_name)
                                 .where(AgreementAcceptance.user_id == iris.id)) == "Iris Invitee"
        nominee = db.session.scalar(sa.select(Candidate).where(Candidate.email == COLLEAGUE))
        assert (nominee.status, nominee.name, nominee.affiliation) == (
            CandidateStatus.PROPOSED, "Cole Colleague", "Elsewhere Institute")
        vouch = db.session.scalar(sa.select(Vouch).where(Vouch.candidate_id == nominee.id))
        assert vouch.user_id == iris.id and "probing study" in vouch.note
        talk = db.session.scalar(sa.select(Proposal).where(Proposal.title == MY_TALK))
        assert (talk.tier, talk.kind, talk.duration_minutes, talk.status, talk.chatham_house) == (
            Tier.SESSION, ProposalKind.DISCUSSION, 45, ProposalStatus.SUBMITTED, True)
        votes = db.session.execute(sa.select(Vote.user_id, Proposal.title)
                                   .join(Proposal, Proposal.id == Vote.proposal_id)).all()
        assert votes == [(iris.id, OTHER_TALK)]
        db.session.remove()
    # Eight pages, each at 1280 and 390 px.
    assert len(shoot.taken) == 16, [p.name for p in shoot.taken]

