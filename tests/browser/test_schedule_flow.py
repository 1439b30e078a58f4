"""The schedule in a real browser, during the event: the auto-scheduler places nothing in the slot under
way (and says why), so the organizer places the talk there by hand and publishes; an attendee signs up,
checks in with the room code shown on the projector, and then downloads the session-tier slides, stamped
with their name."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from tests.helpers import DESKTOP, BrowserErrors, make_event, make_participant, make_user, sign_in
from workshop.extensions import db
from workshop.models import (
    Attendance,
    EventStatus,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Tier,
    utcnow,
)
from workshop.services import materials, schedule, signups

pytestmark = pytest.mark.browser

SLUG = "live-retreat"
TALK = "Probing the probes"
ORGANIZER, SPEAKER, ATTENDEE = "olga@example.org", "sam@example.org", "ada@example.org"


def slides() -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 720, "Session-tier result")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.fixture
def scene(app):
    """A session-tier talk with slides, a closed-door room and a slot that is under way now (UTC)."""
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        now = utcnow()
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.RUNNING, title="Live Retreat",
                           starts_on=date.today() - timedelta(days=1), ends_on=date.today() + timedelta(days=1))
        speaker = make_participant(event, SPEAKER)
        attendee = make_participant(event, ATTENDEE)
        attendee.name = "Ada Attendee"
        talk = Proposal(event_id=event.id, title=TALK, tier=Tier.SESSION, status=ProposalStatus.ACCEPTED,
                        abstract="Early and fragile.")
        talk.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
        db.session.add(talk)
        db.session.flush()
        materials.store_upload(speaker, talk, "probes.pdf", io.BytesIO(slides()))
        schedule.add_room(organizer, event, "The Vault", 20, closed_door=True)
        started = (now - timedelta(minutes=5)).replace(second=0, microsecond=0)
        schedule.add_slots(organizer, event, started.date(), [started.time()], 60)
        db.session.commit()
        db.session.remove()


def new_page(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(15000)
    page = context.new_page()
    return page, BrowserErrors(page)


def test_auto_schedule_publish_sign_up_check_in_download(app, scene, browser, live_server, shoot):
    page, errors = new_page(browser, live_server)
    sign_in(page, live_server, ORGANIZER, errors)
    page.goto(f"/e/{SLUG}/manage/schedule")
    page.get_by_role("link", name="Auto-schedule…").click()
    page.get_by_label("Time limit (seconds)").fill("1")
    page.get_by_role("button", name="Start the scheduler").click()
    expect(page.get_by_role("heading", name="Proposed schedule")).to_be_visible()
    # The event's one slot is under way: the scheduler places nothing in it, and says why.
    expect(page.locator(".run-result")).to_contain_text(f"{TALK}: every slot has started or is closed")
    shoot(page, "41-auto-schedule-preview")
    # The organizer, who may, places it there by hand.
    page.goto(f"/e/{SLUG}/manage/schedule")
    page.get_by_role("button", name=f"Place “{TALK}”").click()
    expect(page.locator(".flash")).to_contain_text(f"“{TALK}” is in The Vault")
    page.get_by_role("button", name="Publish release 1").click()
    expect(page.locator(".flash")).to_contain_text("Release 1")
    errors.assert_none()

    page, errors = new_page(browser, live_server)
    sign_in(page, live_server, ATTENDEE, errors)
    page.goto(f"/e/{SLUG}/schedule")
    page.get_by_role("button", name=f"Sign up: {TALK}").click()
    expect(page.get_by_role("button", name=f"Cancel: {TALK}")).to_be_visible()
    shoot(page, "42-schedule-signed-up", phone=True)

    with app.app_context():  # what the projector in the room shows
        code = signups.room_code(db.session.scalar(sa.select(Proposal).where(Proposal.title == TALK)))
        db.session.remove()
    page.goto(f"/e/{SLUG}/agenda")
    page.get_by_label("Room code").fill(code.lower())
    page.get_by_role("button", name="Check in").click()
    expect(page.locator(".flash")).to_contain_text(TALK)
    shoot(page, "43-agenda-checked-in")

    page.goto(f"/e/{SLUG}/proposals/")
    page.get_by_role("link", name=TALK).click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download probes.pdf").click()
    text = "".join(p.extract_text() for p in PdfReader(download_info.value.path()).pages)
    assert ATTENDEE in text and "Ada Attendee" in text
    errors.assert_none()
    with app.app_context():
        assert db.session.scalar(sa.select(Attendance.source)) == "checkin"
        db.session.remove()
