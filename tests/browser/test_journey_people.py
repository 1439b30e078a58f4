"""The people of a running event, each in a browser of their own.

The attendee signs up, subscribes to their calendar feed, checks in with the code on the projector and
downloads slides stamped with their name. The speaker uploads slides, lowers the tier once the event is
over and sees who downloaded them. The outsiders, a revoked attendee and one excluded by email domain,
find no trace of what they may not see.

What precedes each journey (the event, its published schedule with a session under way now, the talks,
slides) is set up in an app context; every step a person takes goes through the pages.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from icalendar import Calendar
from playwright.sync_api import expect
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from tests.helpers import DESKTOP, BrowserErrors, make_event, make_participant, make_user, sign_in
from workshop.extensions import db
from workshop.models import (
    Candidate,
    Event,
    EventStatus,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Tier,
    utcnow,
)
from workshop.services import materials, proposals, schedule

pytestmark = pytest.mark.browser

SLUG = "people-retreat"
TITLE = "People Retreat"
ORGANIZER = "olga@example.org"
SPEAKER, ATTENDEE, OTHER = "sam@example.org", "ada@example.org", "bea@example.org"
REVOKED, EXCLUDED = "rex@example.org", "xena@rival.org"
NAMES = {ORGANIZER: "Olga Organizer", SPEAKER: "Sam Speaker", ATTENDEE: "Ada Attendee", OTHER: "Bea Browser",
         REVOKED: "Rex Revoked", EXCLUDED: "Xena Excluded"}

LIVE = "Probing the probes"  # session tier, under way now, not for rival.org
OVER = "Steering without side effects"  # session tier, over since this morning; the speaker uploads to it
OPEN = "Open problems in evals"  # attendees tier, under way now in the other room
LIVE_ABSTRACT = "Linear probes that find what the model was never trained to report."


def pdf(line: str) -> bytes:
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer)
    document.drawString(72, 720, line)
    document.showPage()
    document.save()
    return buffer.getvalue()


@dataclass
class Scene:
    live_id: str
    live_material: str
    over_id: str


@pytest.fixture
def scene(app) -> Scene:
    """A running event with a published release: LIVE and OPEN under way now (UTC), OVER finished."""
    with app.app_context():
        organizer = make_user(ORGANIZER, NAMES[ORGANIZER])
        today = date.today()
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.RUNNING, title=TITLE, capacity=20,
                           starts_on=today - timedelta(days=1), ends_on=today + timedelta(days=1))
        people = {}
        for email in (SPEAKER, ATTENDEE, OTHER, REVOKED, EXCLUDED):
            people[email] = make_participant(event, email)
            people[email].name = NAMES[email]
        for candidate in db.session.scalars(sa.select(Candidate).where(Candidate.event_id == event.id)):
            candidate.name = NAMES[candidate.email]
        speaker = people[SPEAKER]

        talks = {}
        for title, tier, abstract in ((LIVE, Tier.SESSION, LIVE_ABSTRACT),
                                      (OVER, Tier.SESSION, "Edits that change one behaviour and nothing else."),
                                      (OPEN, Tier.ATTENDEES, "A list of what nobody knows how to measure yet.")):
            talk = Proposal(event_id=event.id, title=title, tier=tier, status=ProposalStatus.ACCEPTED,
                            abstract=abstract)
            talk.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
            db.session.add(talk)
            talks[title] = talk
        db.session.flush()
        live_material = materials.store_upload(speaker, talks[LIVE], "probes.pdf", io.BytesIO(pdf("Probe result")))
        materials.store_upload(speaker, talks[OPEN], "open-problems.pdf", io.BytesIO(pdf("Open problem 1")))
        proposals.set_access(speaker, talks[LIVE], "", "rival.org")

        vault = schedule.add_room(organizer, event, "The Vault", 20, closed_door=True)
        garden = schedule.add_room(organizer, event, "Garden Room", 20, closed_door=False)
        now = utcnow()
        under_way = (now - timedelta(minutes=5)).replace(second=0, microsecond=0)
        finished = (now - timedelta(hours=3)).replace(second=0, microsecond=0)
        [live_slot] = schedule.add_slots(organizer, event, under_way.date(), [under_way.time()], 60)
        [over_slot] = schedule.add_slots(organizer, event, finished.date(), [finished.time()], 60)
        schedule.place(organizer, talks[LIVE], vault.id, live_slot.id)
        schedule.place(organizer, talks[OPEN], garden.id, live_slot.id)
        schedule.place(organizer, talks[OVER], vault.id, over_slot.id)
        schedule.publish(organizer, event)
        db.session.commit()
        result = Scene(talks[LIVE].public_id, live_material.public_id, talks[OVER].public_id)
        db.session.remove()
    return result


def person(browser, live_server, email: str):
    """A fresh browser context, signed in as ``email`` through the emailed link."""
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(10000)
    page = context.new_page()
    errors = BrowserErrors(page)
    sign_in(page, live_server, email, errors)
    return page, errors


def open_event(page, errors) -> None:
    """From "My events" to the event's landing page, as a person would."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My events").click()
    page.locator("main").get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    errors.assert_none()


def for_attendees(page, name: str):
    return page.get_by_role("complementary").get_by_role("link", name=name, exact=True)


def pdf_text(download) -> str:
    return "".join(p.extract_text() for p in PdfReader(download.path()).pages)


def feed_summaries(body: bytes) -> list[str]:
    return [str(component.get("summary")) for component in Calendar.from_ical(body).walk("VEVENT")]


def assert_not_found(page, errors, path: str, *hidden: str) -> None:
    """``path`` answers 404 with the "Nothing here" page, and none of ``hidden`` shows anywhere on it."""
    errors.expect_refusal(404)  # the browser reports the document's own 404; nothing else may go wrong on it
    response = page.goto(path)
    assert response.status == 404, f"{path} answered {response.status}"
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    for text in hidden:
        expect(page.locator("body")).not_to_contain_text(text)
        assert text not in page.title()
    errors.assert_none()


def test_attendee_signs_up_subscribes_checks_in_and_downloads(app, scene, browser, live_server, shoot):
    page, errors = person(browser, live_server, ATTENDEE)
    open_event(page, errors)
    shoot(page, "j3-attendee-landing", phone=True)

    # Signs up for the session under way.
    for_attendees(page, "Schedule").click()
    expect(page.get_by_role("heading", name="Schedule", level=1)).to_be_visible()
    live = page.locator(f"#s-{scene.live_id}")
    expect(live).to_contain_text("20 of 20 seats free")
    live.get_by_role("button", name=f"Sign up: {LIVE}").click()
    expect(page.locator(".flash")).to_have_text(f"You have a seat in “{LIVE}”.")
    expect(live.locator(".seat-mine")).to_have_text("You have a seat")
    expect(live.get_by_role("button", name=f"Cancel: {LIVE}")).to_be_visible()
    errors.assert_none()
    shoot(page, "j3-attendee-schedule", phone=True)

    # Subscribes to the private calendar feed and reads it the way a calendar app would.
    page.get_by_role("link", name="My agenda").click()
    expect(page.get_by_role("heading", name="My agenda")).to_be_visible()
    page.get_by_role("link", name="Set up the calendar feed").click()
    expect(page.get_by_role("heading", name="Calendar", level=1)).to_be_visible()
    expect(page.get_by_label("Your private feed link")).to_have_count(0)
    errors.assert_none()
    page.get_by_role("button", name="Create my private feed link").click()
    expect(page.get_by_text("Copy your link now.")).to_be_visible()
    feed_url = page.get_by_label("Your private feed link").input_value()
    assert re.fullmatch(re.escape(live_server.url) + r"/calendar/[\w-]{20,}\.ics", feed_url), feed_url
    expect(page.get_by_role("link", name="Subscribe in my calendar app")).to_have_attribute(
        "href", feed_url.replace("http://", "webcal://"))
    errors.assert_none()
    shoot(page, "j3-attendee-calendar", phone=True)
    feed = page.request.get(feed_url)
    assert feed.status == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert feed_summaries(feed.body()) == [LIVE]
    assert OPEN not in feed.text()

    # Before checking in, the session-tier slides are closed to them.
    page.goto(f"/e/{SLUG}/proposals/{scene.live_id}")
    expect(page.locator("#materials")).to_contain_text("Only for people who attended")
    expect(page.get_by_role("link", name="Download probes.pdf")).to_have_count(0)
    errors.assert_none()

    # The organizer puts the room code on the projector.
    projector, projector_errors = person(browser, live_server, ORGANIZER)
    projector.get_by_role("link", name=TITLE).click()
    projector.get_by_role("navigation", name="Event management").get_by_role("link", name="Attendee view").click()
    for_attendees(projector, "Schedule").click()
    projector.locator(f"#s-{scene.live_id}").get_by_role("link", name="Projector").click()
    expect(projector.get_by_role("heading", name=LIVE)).to_be_visible()
    expect(projector.get_by_text("Or type the room code")).to_be_visible()
    expect(projector.get_by_role("img", name="QR code: scan it to check in")).to_be_visible()
    code = projector.locator(".projector-code").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{6}", code), code
    projector_errors.assert_none()
    shoot(projector, "j3-projector", phone=True)
    projector.context.close()

    # The attendee types it on their agenda.
    page.goto(f"/e/{SLUG}/")
    for_attendees(page, "My agenda").click()
    agenda_item = page.locator(f"#s-{scene.live_id}")
    expect(agenda_item).to_contain_text("You have a seat")
    expect(agenda_item).not_to_contain_text("Checked in")
    page.get_by_label("Room code").fill(f"{code[:3].lower()} {code[3:]}")
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator(".flash")).to_have_text(f"You are checked in to “{LIVE}”.")
    expect(agenda_item).to_contain_text("Checked in")
    errors.assert_none()
    shoot(page, "j3-attendee-agenda", phone=True)

    # And downloads the slides, stamped with their own name.
    agenda_item.get_by_role("link", name=LIVE).click()
    expect(page.get_by_role("heading", name=LIVE, level=1)).to_be_visible()
    expect(page.locator("#materials")).to_contain_text("Every page of a PDF or image you download carries your name")
    errors.assert_none()
    shoot(page, "j3-attendee-talk", phone=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download probes.pdf").click()
    slides = download_info.value
    assert slides.suggested_filename == "probes.pdf"
    text = pdf_text(slides)
    assert "Probe result" in text
    assert NAMES[ATTENDEE] in text and ATTENDEE in text
    assert NAMES[OTHER] not in text
    errors.assert_none()
    page.context.close()


def test_speaker_uploads_lowers_the_tier_after_the_event_and_sees_who_downloaded(app, scene, browser, live_server,
                                                                                tmp_path, shoot):
    page, errors = person(browser, live_server, SPEAKER)
    open_event(page, errors)
    for_attendees(page, "Talks").click()
    expect(page.get_by_role("heading", name="Talks")).to_be_visible()
    page.get_by_role("link", name=OVER).click()
    expect(page.get_by_role("heading", name=OVER, level=1)).to_be_visible()
    expect(page.locator("#materials")).to_contain_text("No materials yet. Upload your slides whenever they are ready.")
    errors.assert_none()
    slides = tmp_path / "steering.pdf"
    slides.write_bytes(pdf("Steering result"))
    page.get_by_label("File", exact=True).set_input_files(str(slides))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash")).to_contain_text("“steering.pdf” is uploaded")
    expect(page.locator("#materials")).to_contain_text("steering.pdf")
    expect(page.locator(".talk-meta .tier")).to_have_text("session")
    errors.assert_none()
    shoot(page, "j3-speaker-talk", phone=True)

    with app.app_context():  # the event is over
        event = db.session.scalar(sa.select(Event).where(Event.slug == SLUG))
        event.status = EventStatus.CLOSED
        event.ends_on = date.today()
        db.session.commit()
        db.session.remove()

    # Another attendee, who was not in the room, may not have the slides yet.
    other, other_errors = person(browser, live_server, OTHER)
    other.goto(f"/e/{SLUG}/proposals/{scene.over_id}")
    expect(other.locator("#materials")).to_contain_text("Only for people who attended")
    expect(other.get_by_role("link", name="Download steering.pdf")).to_have_count(0)
    other_errors.assert_none()

    # The speaker opens the talk to every attendee.
    page.get_by_role("link", name="Change tier").click()
    expect(page.get_by_role("heading", name="Change tier")).to_be_visible()
    expect(page.locator("main")).to_contain_text("In force now: session.")
    errors.assert_none()
    shoot(page, "j3-speaker-tier", phone=True)
    page.get_by_label("Tier now").select_option("attendees")
    page.get_by_role("button", name="Change tier").click()
    expect(page.locator(".flash")).to_have_text("The tier is changed, and the change is recorded.")
    expect(page.locator(".talk-meta .tier")).to_have_text("attendees")
    history = page.get_by_role("complementary").locator("section", has=page.get_by_role("heading", name="Tier history"))
    expect(history).to_contain_text(f"session → attendees by {NAMES[SPEAKER]}")
    errors.assert_none()

    # Now the other attendee downloads them.
    other.reload()
    with other.expect_download() as download_info:
        other.get_by_role("link", name="Download steering.pdf").click()
    text = pdf_text(download_info.value)
    assert "Steering result" in text and NAMES[OTHER] in text and OTHER in text
    other_errors.assert_none()
    other.context.close()

    # The speaker sees who did.
    page.get_by_role("link", name="Who opened steering.pdf").click()
    expect(page.get_by_role("heading", name="Who opened “steering.pdf”")).to_be_visible()
    expect(page.locator("main")).to_contain_text("1 request; 1 copy served to 1 signed-in person.")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(NAMES[OTHER])
    expect(rows.first).to_contain_text(OTHER)
    expect(rows.first.locator(".badge")).to_have_text("served")
    expect(rows.first).to_contain_text("tier attendees")
    errors.assert_none()
    shoot(page, "j3-speaker-log", phone=True)
    page.context.close()


def test_a_revoked_attendee_finds_every_door_closed(app, scene, browser, live_server, shoot):
    # Before: an attendee with a seat, a feed, the talk's page and a copy of its slides.
    page, errors = person(browser, live_server, REVOKED)
    open_event(page, errors)
    for_attendees(page, "Schedule").click()
    page.get_by_role("button", name=f"Sign up: {OPEN}").click()
    expect(page.locator(".flash")).to_have_text(f"You have a seat in “{OPEN}”.")
    page.goto(f"/e/{SLUG}/")
    for_attendees(page, "calendar feed").click()
    page.get_by_role("button", name="Create my private feed link").click()
    feed_url = page.get_by_label("Your private feed link").input_value()
    assert feed_summaries(page.request.get(feed_url).body()) == [OPEN]
    page.goto(f"/e/{SLUG}/")
    for_attendees(page, "Talks").click()
    page.get_by_role("link", name=OPEN).click()
    talk_path = page.url.removeprefix(live_server.url)
    download_link = page.get_by_role("link", name="Download open-problems.pdf")
    material_path = download_link.get_attribute("href")
    with page.expect_download():
        download_link.click()
    errors.assert_none()

    # The organizer revokes them from the invite list.
    organizer, organizer_errors = person(browser, live_server, ORGANIZER)
    organizer.get_by_role("link", name=TITLE).click()
    organizer.get_by_role("navigation", name="Event management").get_by_role("link", name="Invite list").click()
    row = organizer.locator("table.invites-table tbody tr", has_text=REVOKED)
    expect(row.locator(".badge")).to_have_text("accepted")
    row.get_by_role("checkbox", name=f"Tick {NAMES[REVOKED]}").check()
    organizer.locator(".bulk-bar select[name=action]").select_option(label="Revoke")
    dialogs = []
    organizer.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    organizer.locator(".bulk-bar").get_by_role("button", name="Apply").click()
    expect(organizer.locator(".flash")).to_have_text("1 revoked.")
    assert dialogs == ["Revoke access? They lose everything at once."]
    expect(row.locator(".badge")).to_have_text("revoked")
    organizer_errors.assert_none()
    shoot(organizer, "j3-organizer-invites-revoked", phone=True)
    organizer.context.close()
    told = live_server.outbox.newest(SPEAKER)
    assert told["Subject"] == f"{NAMES[REVOKED]} no longer has access to {TITLE}"

    # Their very next requests: the event, the talk, the slides and the feed all answer 404.
    assert_not_found(page, errors, f"/e/{SLUG}/", TITLE, OPEN)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")).to_be_visible()
    shoot(page, "j3-revoked-event", phone=True)
    assert_not_found(page, errors, talk_path, OPEN)
    assert_not_found(page, errors, material_path, OPEN, "open-problems")
    feed = page.request.get(feed_url)
    assert feed.status == 404 and OPEN not in feed.text()

    # Signing in again opens nothing.
    sign_in(page, live_server, REVOKED, errors)
    expect(page.locator("main")).not_to_contain_text(TITLE)
    expect(page.get_by_role("heading", name="No events yet")).to_be_visible()
    errors.assert_none()
    shoot(page, "j3-revoked-my-events", phone=True)
    assert_not_found(page, errors, talk_path, OPEN)
    assert_not_found(page, errors, material_path, OPEN, "open-problems")
    page.context.close()


def test_an_excluded_attendee_finds_no_trace_of_the_talk(app, scene, browser, live_server, shoot):
    page, errors = person(browser, live_server, EXCLUDED)
    open_event(page, errors)

    # Not in the list of talks, not in search.
    for_attendees(page, "Talks").click()
    expect(page.get_by_role("heading", name="Talks")).to_contain_text("2")
    talks = page.locator("ul.talks > li")
    expect(talks).to_have_count(2)
    expect(talks.get_by_role("heading")).to_have_text([OPEN, OVER])
    expect(page.locator("body")).not_to_contain_text(LIVE)
    errors.assert_none()
    shoot(page, "j3-excluded-talks", phone=True)
    for query in ("probes", "never trained to report"):
        page.get_by_role("searchbox", name="Search talks").fill(query)
        page.get_by_role("button", name="Search").click()
        expect(page.locator("main")).to_contain_text(f"No talk matches “{query}”.")
        expect(page.locator("ul.talks > li")).to_have_count(0)
        expect(page.locator("body")).not_to_contain_text(LIVE)
        errors.assert_none()
    shoot(page, "j3-excluded-search", phone=True)

    # On the schedule, nothing where the talk is: not even a closed session, which would tell them that
    # they were left out.
    page.goto(f"/e/{SLUG}/")
    for_attendees(page, "Schedule").click()
    expect(page.get_by_role("heading", name="Schedule", level=1)).to_be_visible()
    expect(page.locator(".session-closed")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("Closed session")
    expect(page.locator(f"#s-{scene.live_id}")).to_have_count(0)
    expect(page.get_by_role("button", name=f"Sign up: {OPEN}")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(LIVE)
    assert scene.live_id not in page.content()
    errors.assert_none()
    shoot(page, "j3-excluded-schedule", phone=True)

    # Not by address, not by the slides' link.
    assert_not_found(page, errors, f"/e/{SLUG}/proposals/{scene.live_id}", LIVE, "probes")
    assert_not_found(page, errors, f"/m/{scene.live_material}", LIVE, "probes")
    shoot(page, "j3-excluded-not-found", phone=True)
    page.context.close()

