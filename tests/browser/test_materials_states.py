"""The materials panel in each state a file can be in: being prepared (and updating itself when the worker
is done), ready, refused with its reason, not watermarked, and past its end of access; as the speaker sees
it and as an attendee does."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import (
    DESKTOP,
    BrowserErrors,
    attend,
    defer_tasks,
    keep_materials_in,
    make_event,
    make_participant,
    make_pdf,
    make_talk,
    make_user,
    sign_in,
)
from workshop import tasks
from workshop.extensions import db
from workshop.models import EventStatus, Material, MaterialState, Tier, utcnow
from workshop.services import materials

pytestmark = pytest.mark.browser

SLUG = "circuits"
SPEAKER, ATTENDEE = "sam@lab.org", "nia@example.org"


def archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as bundle:
        bundle.writestr("measurements.csv", "layer,score\n1,0.3\n")
    return out.getvalue()


@pytest.fixture
def scene(app, monkeypatch, tmp_path):
    with app.app_context():
        keep_materials_in(monkeypatch, tmp_path / "materials")
        organizer = make_user("olga@example.org", "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.OPEN, title="Circuits Workshop")
        speaker = make_participant(event, SPEAKER)
        speaker.name = "Sam Speaker"
        attendee = make_participant(event, ATTENDEE)
        attendee.name = "Nia Attended"
        talk = make_talk(event, speaker, "Refusal circuits, traced", tier=Tier.SESSION)
        attend(talk, attendee)
        for name, data in (("slides.pdf", make_pdf("Result", pages=12)), ("broken.pdf", make_pdf()[:700]),
                           ("measurements.zip", archive()), ("draft-figures.pdf", make_pdf("Draft", pages=3))):
            materials.store_upload(speaker, talk, name, io.BytesIO(data))
            db.session.commit()  # the tests' queue prepares each at once
        draft = db.session.scalar(sa.select(Material).where(Material.filename == "draft-figures.pdf"))
        draft.expires_at = utcnow() - timedelta(hours=2)
        db.session.commit()
        immediate = app.extensions[tasks.EXTENSION]
        defer_tasks(app, monkeypatch, tmp_path / "queue.db")  # this one upload's task waits: no worker reads it
        fresh = materials.store_upload(speaker, talk, "appendix.pdf", io.BytesIO(make_pdf("Appendix", pages=4)))
        db.session.commit()
        monkeypatch.setitem(app.extensions, tasks.EXTENSION, immediate)  # sign-in mail goes out again
        states = {m.filename: m.state for m in db.session.scalars(sa.select(Material))}
        assert states == {"slides.pdf": MaterialState.READY, "broken.pdf": MaterialState.REFUSED,
                          "measurements.zip": MaterialState.READY, "draft-figures.pdf": MaterialState.READY,
                          "appendix.pdf": MaterialState.PROCESSING}
        scene = {"talk": f"/e/{SLUG}/proposals/{talk.public_id}", "fresh": fresh.id}
        db.session.remove()
    return scene


def test_the_materials_panel_in_every_state(app, scene, browser, live_server, shoot):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(8000)
    page = context.new_page()
    errors = BrowserErrors(page)
    sign_in(page, live_server, SPEAKER, errors)
    page.goto(scene["talk"] + "#materials")
    panel = page.locator("#materials")
    expect(panel.locator("[data-material]")).to_have_count(5)
    expect(panel).to_contain_text("Being checked and prepared")
    expect(panel).to_contain_text("Refused")
    expect(panel).to_contain_text("damaged")
    expect(panel).to_contain_text("Not watermarked")
    expect(panel).to_contain_text("Access ended")
    expect(panel.get_by_label("Only watermarked files")).to_be_visible()
    panel.scroll_into_view_if_needed()
    shoot(page, "60-materials-speaker-processing", phone=True)
    panel.screenshot(path=str(shoot_path("60-materials-panel-speaker")))

    with app.app_context():  # the worker does its part; the open page notices and shows the file ready
        assert materials.prepare_upload(scene["fresh"]) == MaterialState.READY
        db.session.remove()
    expect(panel.locator(".badge-processing")).to_have_count(0, timeout=15000)
    expect(panel.locator('[data-material]:has-text("appendix.pdf")')).to_contain_text("4 pages")
    shoot(page, "61-materials-speaker-ready")

    # The speaker ends access to the slides at a date, in the event's time zone.
    slides = panel.locator('[data-material]:has-text("slides.pdf")')
    slides.locator("summary", has_text="End access").click()
    slides.get_by_label("Access ends on").fill("2030-01-15T18:00")
    slides.screenshot(path=str(shoot_path("63-materials-end-access-form")))
    slides.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("Access to “slides.pdf” ends on 15 January 2030 at 18:00")
    expect(page.locator('[data-material]:has-text("slides.pdf")')).to_contain_text("Access ends 15 January 2030")
    errors.assert_none()

    page = context.new_page()
    errors = BrowserErrors(page)
    context.clear_cookies()
    sign_in(page, live_server, ATTENDEE, errors)
    page.goto(scene["talk"] + "#materials")
    panel = page.locator("#materials")
    expect(panel.locator("[data-material]")).to_have_count(4)  # the refused upload is not listed
    expect(panel).not_to_contain_text("broken.pdf")
    expect(panel.get_by_role("link", name="Download measurements.zip, not watermarked")).to_be_visible()
    expect(panel.locator('[data-material]:has-text("draft-figures.pdf")')).to_contain_text("Access ended")
    expect(panel.get_by_label("Only watermarked files")).to_have_count(0)
    shoot(page, "62-materials-attendee", phone=True)
    panel.screenshot(path=str(shoot_path("62-materials-panel-attendee")))
    errors.assert_none()
    context.close()


def shoot_path(name: str):
    from tests.helpers import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
