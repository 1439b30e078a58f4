"""A speaker moves a file's end of access later: it waits for the co-speaker, who sees the request on the
talk page and consents; then the panel shows the new date."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.helpers import (
    DESKTOP,
    BrowserErrors,
    keep_materials_in,
    make_event,
    make_participant,
    make_pdf,
    make_talk,
    make_user,
    sign_in,
)
from workshop.extensions import db
from workshop.models import EventStatus, Material, ProposalSpeaker, Tier, utcnow
from workshop.services import materials

pytestmark = pytest.mark.browser

SLUG = "circuits"
SPEAKER, COSPEAKER = "sam@lab.org", "cho@lab.org"


@pytest.fixture
def scene(app, monkeypatch, tmp_path):
    with app.app_context():
        keep_materials_in(monkeypatch, tmp_path / "materials")
        organizer = make_user("olga@example.org", "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.OPEN, title="Circuits Workshop",
                           timezone="Europe/Berlin")
        speaker = make_participant(event, SPEAKER)
        speaker.name = "Sam Speaker"
        cospeaker = make_participant(event, COSPEAKER)
        cospeaker.name = "Cho Cospeaker"
        talk = make_talk(event, speaker, "Refusal circuits, traced", tier=Tier.SESSION)
        talk.speakers.append(ProposalSpeaker(user_id=cospeaker.id, is_lead=False, confirmed=True))
        material = materials.store_upload(speaker, talk, "slides.pdf", io.BytesIO(make_pdf("Result", pages=3)))
        db.session.commit()
        material.expires_at = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
        db.session.commit()
        scene = {"talk": f"/e/{SLUG}/proposals/{talk.public_id}", "material": material.id}
        db.session.remove()
    return scene


def test_a_later_end_of_access_waits_for_the_co_speaker_who_consents(app, scene, browser, live_server, shoot):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(8000)
    page = context.new_page()
    errors = BrowserErrors(page)
    sign_in(page, live_server, SPEAKER, errors)
    page.goto(scene["talk"] + "#materials")
    slides = page.locator('[data-material]:has-text("slides.pdf")')
    slides.locator("summary", has_text="End access").click()
    expect(slides).to_contain_text("waits for the other speakers' consent")
    slides.get_by_label("Access ends on").fill("2030-01-15T18:00")
    slides.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("waits for the consent of every speaker")
    requests = page.locator("#requests")
    expect(requests).to_contain_text("“slides.pdf” open until 2030-01-15 17:00 UTC")
    expect(requests).to_contain_text("Waiting for: Cho Cospeaker")
    shoot(page, "66-material-extension-waits", phone=True)

    context.clear_cookies()
    sign_in(page, live_server, COSPEAKER, errors)
    page.goto(scene["talk"])
    page.locator("#requests").get_by_role("button", name="Consent").click()
    expect(page.locator("#requests")).to_have_count(0)
    with app.app_context():
        material = db.session.get(Material, scene["material"])
        assert material.expires_at == utcnow().replace(year=2030, month=1, day=15, hour=17, minute=0, second=0,
                                                       microsecond=0)
        db.session.remove()
    page.goto(scene["talk"] + "#materials")
    shown = page.locator('[data-material]:has-text("slides.pdf")')
    expect(shown).to_contain_text("15 January 2030 at 18:00 (Europe/Berlin)")
    shoot(page, "67-material-extension-applied")
    errors.assert_none()
