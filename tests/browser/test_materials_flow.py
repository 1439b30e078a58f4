"""Slides in a real browser: a speaker proposes a talk, uploads slides and restricts the talk to a named
colleague; that colleague downloads a copy stamped with their own name; another attendee finds no trace."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from tests.helpers import DESKTOP, make_event, make_participant, make_user, sign_in
from workshop.extensions import db
from workshop.models import EventStatus, MaterialAccess, Proposal
from workshop.services import proposals

pytestmark = pytest.mark.browser

SLUG = "circuits"
TALK = "Refusal circuits, traced"
SPEAKER, ALLOWED, OUTSIDER, ORGANIZER = ("sam@lab.org", "nia@example.org", "otto@example.org", "olga@example.org")


@pytest.fixture
def scene(app):
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.OPEN, title="Circuits Workshop")
        for email, name in ((SPEAKER, "Sam Speaker"), (ALLOWED, "Nia Named"), (OUTSIDER, "Otto Outsider")):
            user = make_participant(event, email)
            user.name = name
        db.session.commit()
        db.session.remove()


def slides(tmp_path) -> str:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for number in (1, 2):
        pdf.drawString(72, 720, f"Unpublished result {number}")
        pdf.showPage()
    pdf.save()
    path = tmp_path / "refusal-circuits.pdf"
    path.write_bytes(buffer.getvalue())
    return str(path)


def new_page(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(5000)
    return context.new_page()


def test_speaker_restricts_slides_to_a_named_colleague(app, scene, browser, live_server, tmp_path, shoot):
    from tests.helpers import BrowserErrors

    # The speaker proposes, uploads and restricts.
    page = new_page(browser, live_server)
    errors = BrowserErrors(page)
    sign_in(page, live_server, SPEAKER, errors)
    page.goto(f"/e/{SLUG}/proposals/new")
    page.get_by_label("Title").fill(TALK)
    page.get_by_label("Abstract").fill("What we found when we traced refusal.")
    page.get_by_role("button", name="Submit proposal").click()
    expect(page.get_by_role("heading", name=TALK)).to_be_visible()
    page.get_by_label("File", exact=True).set_input_files(slides(tmp_path))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#materials")).to_contain_text("refusal-circuits.pdf")
    page.get_by_role("link", name="Named people & exclusions").click()
    page.get_by_label("Named people").fill(ALLOWED)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("link", name="Change tier").click()
    page.get_by_label("Tier now").select_option("restricted")
    shoot(page, "20-change-tier")
    page.get_by_role("button", name="Change tier").click()
    expect(page.locator(".talk-meta .tier")).to_have_text("restricted")
    shoot(page, "21-talk-speaker", phone=True)
    errors.assert_none()

    with app.app_context():  # the organizers accept it (their page is covered elsewhere)
        proposal = db.session.scalar(sa.select(Proposal).where(Proposal.title == TALK))
        organizer = proposal.event.organizers[0]
        proposals.decide(organizer, proposal, True)
        db.session.commit()
        public_id = proposal.public_id
        db.session.remove()

    # The named colleague finds it, and downloads a copy that names them.
    page = new_page(browser, live_server)
    errors = BrowserErrors(page)
    sign_in(page, live_server, ALLOWED, errors)
    page.goto(f"/e/{SLUG}/proposals/")
    page.get_by_role("link", name=TALK).click()
    shoot(page, "22-talk-allowed", phone=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download refusal-circuits.pdf").click()
    copy = download_info.value
    assert copy.suggested_filename == "refusal-circuits.pdf"
    text = "".join(p.extract_text() for p in PdfReader(copy.path()).pages)
    assert ALLOWED in text and "Nia Named" in text and OUTSIDER not in text
    errors.assert_none()

    # The outsider: not in the list, not by address, not by the file's link.
    page = new_page(browser, live_server)
    errors = BrowserErrors(page)
    sign_in(page, live_server, OUTSIDER, errors)
    page.goto(f"/e/{SLUG}/proposals/")
    expect(page.locator("main")).not_to_contain_text(TALK)
    shoot(page, "23-talks-outsider")
    response = page.goto(f"/e/{SLUG}/proposals/{public_id}")
    assert response.status == 404
    expect(page.locator("main")).not_to_contain_text(TALK)
    with app.app_context():
        material_id = db.session.scalar(sa.select(MaterialAccess.material_id))
        from workshop.models import Material

        material_public_id = db.session.get(Material, material_id).public_id
        db.session.remove()
    response = page.goto(f"/m/{material_public_id}")
    assert response.status == 404
    expect(page.locator("main")).not_to_contain_text("refusal-circuits")

    with app.app_context():  # both decisions are in the access log
        outcomes = db.session.execute(sa.select(MaterialAccess.allowed, MaterialAccess.reason)
                                      .order_by(MaterialAccess.id)).all()
        assert [allowed for allowed, _ in outcomes] == [True, False]
        db.session.remove()
