"""Checking in by the projector's QR code, in a real browser: the organizer opens the projector page, the
QR code is read from a screenshot of it (as a phone's camera would), and the attendee opens the link it
holds, finds the code filled in, and checks in."""

from __future__ import annotations

import io
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.helpers import DESKTOP, BrowserErrors, make_event, make_participant, make_user, sign_in
from workshop.extensions import db
from workshop.models import Attendance, EventStatus, Proposal, ProposalSpeaker, ProposalStatus, Tier, utcnow
from workshop.services import schedule

pytestmark = pytest.mark.browser

SLUG = "qr-retreat"
TALK = "Circuits under the lamp"
ORGANIZER, SPEAKER, ATTENDEE = "olga@example.org", "sam@example.org", "ada@example.org"


@pytest.fixture
def scene(app):
    """A session-tier talk on the published schedule, in a slot that is under way now (UTC)."""
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.RUNNING, title="QR Retreat",
                           starts_on=date.today() - timedelta(days=1), ends_on=date.today() + timedelta(days=1))
        speaker = make_participant(event, SPEAKER)
        make_participant(event, ATTENDEE)
        talk = Proposal(event_id=event.id, title=TALK, tier=Tier.SESSION, status=ProposalStatus.ACCEPTED)
        talk.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
        db.session.add(talk)
        room = schedule.add_room(organizer, event, "The Vault", 20, closed_door=True)
        started = (utcnow() - timedelta(minutes=5)).replace(second=0, microsecond=0)
        [slot] = schedule.add_slots(organizer, event, started.date(), [started.time()], 60)
        db.session.commit()
        schedule.place(organizer, talk, room.id, slot.id)
        schedule.publish(organizer, event)
        db.session.commit()
        public_id = talk.public_id
        db.session.remove()
    return public_id


def new_page(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(15000)
    page = context.new_page()
    return page, BrowserErrors(page)


def read_qr(png: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1, f"expected one QR code in the screenshot, found {len(found)}"
    return found[0].text


def test_check_in_by_the_projectors_qr_code(app, scene, browser, live_server, shoot):
    projector, organizer_errors = new_page(browser, live_server)
    sign_in(projector, live_server, ORGANIZER, organizer_errors)
    projector.goto(f"/e/{SLUG}/proposals/{scene}/projector")
    expect(projector.get_by_role("heading", name=TALK)).to_be_visible()
    qr = projector.get_by_role("img", name="QR code: scan it to check in")
    expect(qr).to_be_visible()
    organizer_errors.assert_none()
    shoot(projector, "51-projector-qr", phone=True)

    link = read_qr(projector.screenshot(full_page=True))
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == live_server.url and parts.path == f"/e/{SLUG}/checkin"
    [code] = parse_qs(parts.query)["code"]
    # The QR code and the letters on the screen are the same code.
    assert code == projector.locator(".projector-code").inner_text()

    phone, errors = new_page(browser, live_server)
    phone.set_viewport_size({"width": 390, "height": 844})
    sign_in(phone, live_server, ATTENDEE, errors)
    phone.goto(link)
    expect(phone.get_by_role("heading", name="Check in")).to_be_visible()
    expect(phone.get_by_label("Room code")).to_have_value(code)
    shoot(phone, "52-check-in-from-qr", phone=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attendance)) == 0  # opening is not checking in
        db.session.remove()
    phone.get_by_role("button", name="Check in").click()
    expect(phone.locator(".flash")).to_contain_text(f"You are checked in to “{TALK}”.")
    errors.assert_none()
    with app.app_context():
        assert db.session.scalar(sa.select(Attendance.source)) == "checkin"
        db.session.remove()
