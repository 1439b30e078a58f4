"""Mail in a real browser: an organizer sends a wave and watches it leave, without a reload; writes to one
session's sign-ups with a preview and a count; publishes a new agreement version, whose emailed attendee,
opening a deep link, is led to the agreement and back. The other mail pages are visited and photographed."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import make_candidate, make_event, make_speaker, make_talk, make_user, sign_in, sign_up
from workshop import mail, tasks
from workshop.extensions import db
from workshop.models import AgreementAcceptance, CandidateStatus, EventStatus, MessageStatus, OutboxMessage, User

pytestmark = pytest.mark.browser

ORGANIZER = "olga@example.org"
SLUG = "quiet-retreat"
TITLE = "Quiet Results Retreat"
WAVE = 12


@pytest.fixture
def scene(app):
    """An open event: twelve approved people to invite, a session with two sign-ups, a third attendee."""
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.OPEN, title=TITLE, capacity=40,
                           description="Two days of results that are not ready for the world.")
        for i in range(WAVE):
            make_candidate(event, f"guest{i:02d}@example.org", CandidateStatus.APPROVED, name=f"Guest {i:02d}")
        speaker = make_speaker(event, "sue@example.org", "Sue Speaker")
        talk = make_talk(event, speaker, "Sparse Probes in Practice")
        ada = make_speaker(event, "ada@example.org", "Ada Attendee")
        ben = make_speaker(event, "ben@example.org", "Ben Attendee")
        make_speaker(event, "cy@example.org", "Cy Elsewhere")
        sign_up(ada, talk)
        sign_up(ben, talk)
        talk_id = talk.public_id
        db.session.remove()
    return {"talk": talk_id}


def pending(app) -> int:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == MessageStatus.PENDING))
        db.session.remove()
        return count


def send_some(app, limit: int) -> None:
    """What the worker does: send due messages."""
    with app.app_context():
        mail.send_due(limit=limit)
        db.session.remove()


def test_wave_progress_writing_to_a_session_and_a_new_agreement(app, scene, live_server, page, browser_errors,
                                                                 shoot, monkeypatch):
    server, errors = live_server, browser_errors
    sign_in(page, server, ORGANIZER, errors)

    # --- a wave of twelve, queued at once, watched as the worker sends it ----------------------------------
    with monkeypatch.context() as held:
        held.setattr(tasks, "enqueue_safely", lambda name, *args, eta=None: None)  # no worker yet
        page.goto(f"/e/{SLUG}/manage/invites/?status=approved")
        page.locator("#scope").select_option("matching")
        page.locator(".bulk-bar select[name=action]").select_option(label="Send invitation")
        page.locator(".bulk-bar").get_by_role("button", name="Apply").click()
        expect(page.locator(".flash")).to_have_text(f"{WAVE} invited.")
        panel = page.locator("#wave-status")
        expect(panel.get_by_role("heading")).to_have_text(f"Latest invitation wave: {WAVE} emails")
        expect(panel.locator('[data-field="waiting"]')).to_have_text(str(WAVE))
        expect(panel.locator('[data-field="sent"]')).to_have_text("0")
        assert pending(app) == WAVE
        shoot(page, "msg-00-invite-list-wave")

        panel.get_by_role("link", name=f"Latest invitation wave: {WAVE} emails").click()
        expect(page.get_by_role("heading", name=f"Invitation wave of {WAVE}", level=1)).to_be_visible()
        page.evaluate("window.sameDocument = true")  # gone if the page reloads
        wave = page.locator("#wave-status")
        expect(wave.locator('[data-field="sent"]')).to_have_text("0")
        shoot(page, "msg-01-wave-queued")
        send_some(app, 5)
        expect(wave.locator('[data-field="sent"]')).to_have_text("5", timeout=8000)
        expect(wave.locator('[data-field="waiting"]')).to_have_text(str(WAVE - 5))
        expect(wave.get_by_role("status")).to_contain_text(f"5 of {WAVE} settled")
        shoot(page, "msg-02-wave-under-way")
        send_some(app, 100)
        expect(wave.locator('[data-field="sent"]')).to_have_text(str(WAVE), timeout=8000)
        expect(wave.get_by_role("status")).to_have_text("Done: every email of the wave has left or been settled.")
        assert page.evaluate("window.sameDocument") is True
        errors.assert_none()
        shoot(page, "msg-03-wave-done", phone=True)
    assert server.outbox.newest("guest07@example.org")["Subject"] == f"You are invited to {TITLE}"

    # --- one session's sign-ups: preview as one of them, the count, then send ----------------------------
    page.get_by_role("navigation", name="Event management").get_by_role("link", name="Messages").click()
    expect(page.get_by_role("heading", name="Messages", level=1)).to_be_visible()
    shoot(page, "msg-04-messages-empty")
    page.get_by_role("link", name="Write to people").click()
    page.get_by_label("To", exact=True).select_option(label="One session's sign-ups")
    page.get_by_label("Session", exact=True).select_option(label="Sparse Probes in Practice")
    page.get_by_label("Subject").fill("Room change for {session}")
    page.get_by_label("Message").fill("Hello {name},\n\n{session} moves to the **library**. See {event_link}")
    page.get_by_role("button", name="Preview and count").click()
    expect(page.locator("#recipient-count")).to_have_text("2")
    preview = page.locator(".mail-preview")
    expect(preview).to_contain_text("Subject: Room change for “Sparse Probes in Practice”")
    expect(preview).to_contain_text("Hello Ada,")
    page.get_by_label("Preview as").select_option("ben@example.org")
    page.get_by_role("button", name="Preview again").click()
    expect(preview).to_contain_text("Hello Ben,")
    expect(preview.locator(f'a[href="{server.url}/e/{SLUG}/"]')).to_be_visible()
    expect(preview.locator(".prose strong")).to_have_text("library")
    errors.assert_none()
    shoot(page, "msg-05-compose-preview", phone=True)
    page.get_by_role("button", name="Send to 2 people").click()
    expect(page.locator(".flash")).to_have_text("Your message is on its way to 2 people.")
    expect(page.get_by_role("heading", name="Room change for {session}")).to_be_visible()
    expect(page.locator("table")).to_contain_text("ada@example.org")
    expect(page.locator("table")).to_contain_text("ben@example.org")
    expect(page.locator("table")).not_to_contain_text("cy@example.org")
    shoot(page, "msg-06-message-detail")
    assert server.outbox.newest("ben@example.org")["Subject"] == "Room change for “Sparse Probes in Practice”"
    page.get_by_role("link", name="← Messages").click()
    expect(page.locator("table")).to_contain_text("Sign-ups of “Sparse Probes in Practice”")
    shoot(page, "msg-07-messages")

    # --- the texts and the outbox ----------------------------------------------------------------------
    page.get_by_role("link", name="Texts of the emails").click()
    shoot(page, "msg-08-texts")
    page.get_by_role("link", name="New agreement version").click()
    page.get_by_label("Subject").fill("Sign version {version} for {event}")
    page.get_by_label("Message").fill("Dear {name},\n\nVersion {version} is out: {agreement_lnk}")
    errors.expect_refusal(400)  # the refused form is answered 400, as it should be
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".error")).to_contain_text("{agreement_lnk} is not a placeholder")
    page.get_by_label("Message").fill("Dear {name},\n\nVersion {version} of the agreement is out: {agreement_link}")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".mail-preview")).to_contain_text(f"Sign version 2 for {TITLE}")
    shoot(page, "msg-09-text-preview")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("text is saved")
    page.get_by_role("link", name="← Texts of the emails").click()
    page.get_by_role("navigation", name="Mail pages").get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("heading", name=re.compile("^Outbox"))).to_be_visible()
    expect(page.locator(".sending-ok")).to_be_visible()
    errors.assert_none()
    shoot(page, "msg-10-outbox")

    # --- a new agreement version: the attendees are emailed and must sign again --------------------------
    page.get_by_role("navigation", name="Event management").get_by_role("link", name="Agreement").click()
    page.get_by_label("Agreement text").fill("Version two: notes stay in the room, and so do photos.")
    page.get_by_role("button", name="Publish new version").click()
    expect(page.locator(".flash")).to_contain_text("Version 2 is published; attendees are emailed")
    expect(page.locator("#unsigned")).to_contain_text("ada@example.org")
    shoot(page, "msg-11-agreement-unsigned")
    notice = server.outbox.newest("ada@example.org")
    assert notice["Subject"] == f"Sign version 2 for {TITLE}"
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, server, "ada@example.org", errors)
    deep_link = f"/e/{SLUG}/proposals/{scene['talk']}"
    page.goto(deep_link)
    expect(page).to_have_url(re.compile(rf"/e/{SLUG}/agreement\?next="))
    expect(page.locator("main")).to_contain_text("The page you opened is behind this agreement")
    expect(page.locator(".agreement-text")).to_contain_text("Version two")
    errors.assert_none()
    shoot(page, "msg-12-agreement-first", phone=True)
    page.get_by_label("I accept this agreement").check()
    page.get_by_role("button", name="Sign the agreement").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(deep_link)}$"))
    expect(page.get_by_role("heading", name="Sparse Probes in Practice")).to_be_visible()
    errors.assert_none()

    with app.app_context():
        ada = db.session.scalar(sa.select(User).where(User.email == "ada@example.org"))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AgreementAcceptance).where(
            AgreementAcceptance.user_id == ada.id)) == 2
        db.session.remove()


def test_the_admin_sees_the_instances_outbox(app, scene, live_server, page, browser_errors, shoot):
    with app.app_context():
        make_user("root@example.org", "Ada Admin", admin=True)
        db.session.remove()
    sign_in(page, live_server, "root@example.org", browser_errors)
    page.goto("/admin/outbox/")
    expect(page.get_by_role("heading", name=re.compile("The instance's outbox"))).to_be_visible()
    expect(page.locator("table")).to_contain_text("root@example.org")
    browser_errors.assert_none()
    shoot(page, "msg-13-admin-outbox")
