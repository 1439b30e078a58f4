"""A view-only PDF in a real browser: the speaker makes it view-only; an attendee reads it page by page in
the reader (pdf.js drawing the pages the server stamped for her) and finds no download anywhere; each page
she opens is logged, with its time in view; the speaker reads the report; a revoked reader is stopped at
the next page, and so is everyone once the speakers end access to the file."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from reportlab.pdfgen import canvas

from tests.helpers import DESKTOP, ROOT, BrowserErrors, make_event, make_participant, make_talk, make_user, sign_in
from workshop.extensions import db
from workshop.models import Candidate, EventStatus, Material, MaterialAccess, PageView, Proposal, User, utcnow
from workshop.services import invites, materials

pytestmark = pytest.mark.browser

SLUG = "circuits"
TALK = "Refusal circuits, traced"
SPEAKER, READER, REVOKED, ORGANIZER = ("sam@lab.org", "nia@example.org", "otto@example.org", "olga@example.org")


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RUN_AXE = """async () => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
                                           resultTypes: ["violations"]});
  return results.violations.filter((v) => ["serious", "critical"].includes(v.impact))
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}"""


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is (none when axe-core is not installed)."""
    if not AXE.exists():
        return []
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # through DevTools: the page's CSP does not apply
    return page.evaluate(RUN_AXE)


def slides() -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(720, 405))  # 16:9 slides
    for number in (1, 2, 3):
        pdf.setFont("Helvetica-Bold", 28)
        pdf.drawString(60, 300, f"Unpublished result {number}")
        pdf.setFont("Helvetica", 16)
        pdf.drawString(60, 250, "Refusal circuits light up before the model answers.")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.fixture
def scene(app, tmp_path, monkeypatch) -> dict:
    monkeypatch.setitem(app.config, "MATERIALS_DIR", str(tmp_path / "materials"))
    monkeypatch.setitem(app.config, "STORAGE_URL", "")
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.OPEN, title="Circuits Workshop")
        people = {}
        for email, name in ((SPEAKER, "Sam Speaker"), (READER, "Nia Reader"), (REVOKED, "Otto Outgoing")):
            people[email] = make_participant(event, email)
            people[email].name = name
        db.session.commit()
        talk = make_talk(event, people[SPEAKER], title=TALK)
        material = materials.store_upload(people[SPEAKER], talk, "refusal-circuits.pdf", io.BytesIO(slides()))
        db.session.commit()
        ids = {"talk": talk.public_id, "material": material.public_id}
        db.session.remove()
    return ids


def new_page(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(8000)
    return context.new_page()


def page_views(app, email: str) -> list[tuple[int, int]]:
    with app.app_context():
        rows = db.session.execute(sa.select(PageView.page, PageView.seconds).join(User, PageView.user_id == User.id)
                                  .where(User.email == email).order_by(PageView.id)).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def accesses(app, email: str) -> list[tuple[bool, str]]:
    with app.app_context():
        rows = db.session.execute(sa.select(MaterialAccess.allowed, MaterialAccess.reason)
                                  .outerjoin(User, MaterialAccess.user_id == User.id)
                                  .where(sa.or_(User.email == email, MaterialAccess.user_id.is_(None)))
                                  .order_by(MaterialAccess.id)).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def expect_page_drawn(page, number: int) -> None:
    reader = page.locator("#reader")
    expect(reader).to_have_attribute("data-shown", str(number))
    expect(page.locator(".reader-count")).to_have_text(f"Page {number} of 3")
    # Drawn to the frame's width (after a resize, once the reader has redrawn it).
    page.wait_for_function("""() => {
        const box = document.querySelector('#reader canvas').getBoundingClientRect();
        return box.width > 0.8 * document.querySelector('#reader [data-frame]').clientWidth && box.height > 150;
    }""")
    # The canvas holds the drawn page: not blank white.
    inked = page.evaluate("""() => {
        const c = document.querySelector('#reader canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let dark = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 128) dark++;
        return dark;
    }""")
    assert inked > 500


def test_view_only_reader_for_an_attendee_a_revoked_one_and_the_speaker(app, scene, browser, live_server, shoot):
    talk_url = f"/e/{SLUG}/proposals/{scene['talk']}"
    download_url = f"/m/{scene['material']}"
    reader_url = f"/m/{scene['material']}/read"

    # The speaker makes the slides view-only on the materials card.
    page = new_page(browser, live_server)
    speaker_errors = BrowserErrors(page)
    sign_in(page, live_server, SPEAKER, speaker_errors)
    page.goto(talk_url)
    page.get_by_role("button", name=re.compile(r"^Make view-only\W+refusal-circuits\.pdf$")).click()
    expect(page.locator(".flash")).to_contain_text("is now read in the browser only: 3 pages")
    expect(page.locator("#materials")).to_contain_text("view-only")
    shoot(page, "60-materials-view-only-speaker")
    speaker_errors.assert_none()

    # The attendee: a Read button, no download link; the reader draws page 1, then page 2.
    reader_page = new_page(browser, live_server)
    errors = BrowserErrors(reader_page)
    sign_in(reader_page, live_server, READER, errors)
    reader_page.goto(talk_url)
    materials_card = reader_page.locator("#materials")
    expect(materials_card.get_by_role("link", name="Read refusal-circuits.pdf in the browser")).to_be_visible()
    assert materials_card.locator(f'a[href="{download_url}"], a[download]').count() == 0
    shoot(reader_page, "61-materials-view-only-attendee")
    materials_card.get_by_role("link", name="Read refusal-circuits.pdf in the browser").click()
    expect(reader_page.get_by_role("heading", name="refusal-circuits.pdf")).to_be_visible()
    expect_page_drawn(reader_page, 1)
    assert reader_page.locator(f'a[href="{download_url}"], a[download]').count() == 0
    expect(reader_page.get_by_role("button", name="Previous page")).to_be_disabled()
    reader_page.wait_for_timeout(1500)  # page 1 stays in view a moment before the reader moves on
    reader_page.get_by_role("button", name="Next page").click()
    expect_page_drawn(reader_page, 2)
    assert serious_violations(reader_page) == []
    shoot(reader_page, "62-reader", phone=True)
    expect_page_drawn(reader_page, 2)  # redrawn at the phone's width and back, without asking again
    errors.assert_none()
    views = page_views(app, READER)
    assert [number for number, _ in views] == [1, 2]
    assert views[0][1] >= 1  # the time page 1 was in view came with the move to page 2
    assert accesses(app, READER) == [(True, "tier attendees")] * 2

    # The download route refuses her, and points to the reader.
    response = reader_page.goto(download_url)
    assert response.status == 403
    expect(reader_page.locator("main")).to_contain_text("read in the browser only")
    expect(reader_page.get_by_role("link", name="Read it in the browser")).to_have_attribute("href", reader_url)

    # The speaker sees who read which pages and for how long.
    page.goto(talk_url)
    page.get_by_role("link", name="Who opened refusal-circuits.pdf").click()
    report = page.locator("#reading")
    expect(report).to_contain_text("Nia Reader")
    expect(report).to_contain_text("2 of 3")
    assert serious_violations(page) == []
    shoot(page, "63-reading-report", phone=True)
    speaker_errors.assert_none()

    # Otto reads page 1; he is revoked; the next page does not come, and the reader closes.
    revoked_page = new_page(browser, live_server)
    revoked_errors = BrowserErrors(revoked_page)
    sign_in(revoked_page, live_server, REVOKED, revoked_errors)
    revoked_page.goto(reader_url)
    expect_page_drawn(revoked_page, 1)
    revoked_errors.assert_none()
    with app.app_context():
        event_id = db.session.scalar(sa.select(Proposal.event_id).where(Proposal.public_id == scene["talk"]))
        candidate = db.session.scalar(sa.select(Candidate).join(User, Candidate.user_id == User.id)
                                      .where(User.email == REVOKED, Candidate.event_id == event_id))
        organizer = db.session.scalar(sa.select(User).where(User.email == ORGANIZER))
        invites.revoke(organizer, candidate.event, [candidate])
        db.session.commit()
        db.session.remove()
    revoked_page.get_by_role("button", name="Next page").click()
    expect(revoked_page.locator(".reader-message")).to_have_text("This file is not available.")
    expect(revoked_page.locator("#reader canvas")).to_be_hidden()
    expect(revoked_page.get_by_role("button", name="Next page")).to_be_disabled()
    expect(revoked_page.get_by_role("button", name="Previous page")).to_be_disabled()
    shoot(revoked_page, "64-reader-revoked")
    # The only error the browser saw is the refused page itself.
    assert all("404" in seen for seen in revoked_errors.seen), revoked_errors.seen
    assert [number for number, _ in page_views(app, REVOKED)] == [1]
    with app.app_context():
        outcomes = db.session.execute(sa.select(MaterialAccess.allowed, MaterialAccess.reason)
                                      .order_by(MaterialAccess.id.desc()).limit(1)).all()
        material = db.session.scalar(sa.select(Material).where(Material.public_id == scene["material"]))
        assert material.view_only
        db.session.remove()
    assert [tuple(row) for row in outcomes] == [(False, "no access to the event")]

    # The speakers end access to the slides: Nia's open reader stops at the next page, and the reader,
    # opened again, says access has ended. The speaker still reads them.
    reader_page.goto(reader_url)
    expect_page_drawn(reader_page, 1)
    with app.app_context():
        material = db.session.scalar(sa.select(Material).where(Material.public_id == scene["material"]))
        material.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        db.session.remove()
    reader_page.get_by_role("button", name="Next page").click()
    expect(reader_page.locator(".reader-message")).to_have_text(
        "The speakers ended access to this file. Only they and the organizers open it now.")
    expect(reader_page.locator("#reader canvas")).to_be_hidden()
    response = reader_page.goto(reader_url)
    assert response.status == 403
    expect(reader_page.locator("main")).to_contain_text("The speakers ended access to this file")
    shoot(reader_page, "65-reader-expired")
    assert accesses(app, READER)[-1] == (False, "access ended")
    page.goto(reader_url)
    expect_page_drawn(page, 1)
