"""The organizer's journey in a real browser, from an empty instance to a published, checked-in event.

An admin creates the event and names the organizer; the organizer imports a spreadsheet (one bad row, fixed
in the preview), approves and invites everyone in one wave, watches the funnel, accepts the talks, builds
rooms and slots, auto-schedules, publishes, ticks an attendee in and reads who opened the slides. What the
invitees do in between (accept, sign, propose, vote) is their own journey: it is set up with the services.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from reportlab.pdfgen import canvas

from tests.helpers import DESKTOP, BrowserErrors, make_user, sign_in
from workshop.extensions import db
from workshop.models import (
    Attendance,
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    MaterialAccess,
    Placement,
    Proposal,
    ProposalKind,
    ProposalStatus,
    ScheduleRelease,
    Tier,
    User,
)
from workshop.services import agreements, invites, materials, proposals

pytestmark = pytest.mark.browser

ADMIN, ORGANIZER = "root@conclave.example", "olga@example.org"
SLUG, TITLE = "sparse-summit", "Sparse Summit"
STARTS = date.today() + timedelta(days=30)
ADA, BEN, CARLA, DAN, EVE = ("ada@uni.example", "ben@lab.example", "carla@example.org", "dan@example.org",
                             "eve@example.org")
CSV_HEADER = "email,name,affiliation,tags"
GOOD_ROWS = [f'{ADA},Ada Attendee,Uni Lab,"interp, speaker"', f"{BEN},Ben Speaker,Lab B,speaker"]
LATER_ROWS = [f"{DAN},Dan Decliner,,", f"{EVE},Eve Later,,"]
BAD_ROW, FIXED_ROW = "carla.at.example.org,Carla Colleague,Lab C,", f"{CARLA},Carla Colleague,Lab C,"
TALK_A, TALK_B = "Sparse features in the wild", "Steering without fine-tuning"
SLIDES = "sparse-features.pdf"


def slides() -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 720, "Unpublished: sparse features")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.fixture
def admin(app):
    with app.app_context():
        make_user(ADMIN, "Ria Root", admin=True)
        db.session.remove()


def new_page(browser, live_server):
    """A browser context of one's own: each person has their own cookies."""
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(10000)
    page = context.new_page()
    return page, BrowserErrors(page)


def looked_at(page, errors, shoot, name: str) -> None:
    """No console error or CSP violation on the page, and a screenshot at desktop and phone width."""
    errors.assert_none()
    shoot(page, f"j1-{name}", phone=True)


def submit_expecting(page, errors, button, status: int) -> None:
    """Press ``button`` on a form the server answers with ``status`` (a form with problems, shown again).

    Chromium reports any 4xx document in the console; only that one report, for this answer, is expected.
    """
    errors.expect_refusal(status)
    with page.expect_response(lambda r: r.request.resource_type == "document") as answer:
        button.click()
    assert answer.value.status == status, answer.value.status
    page.wait_for_load_state("load")


def flash(page):
    return page.locator(".flashes .flash")


def manage_link(page, name: str):
    return page.get_by_role("navigation", name="Event management").get_by_role("link", name=name, exact=True)


def admin_creates_the_event(page, errors, shoot) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    expect(page.locator("main")).to_contain_text("No events yet")
    looked_at(page, errors, shoot, "01-admin")

    page.locator(".page-head").get_by_role("link", name="New event").click()
    expect(page.get_by_role("heading", name="New event")).to_be_visible()
    page.get_by_label("Title", exact=True).fill(TITLE)
    page.get_by_label("Address", exact=True).fill(SLUG)
    page.get_by_label("Kind", exact=True).select_option(label="Workshop")
    page.get_by_label("Description", exact=True).fill("Two days on **sparse features**, shared under the agreement.")
    page.get_by_label("Venue", exact=True).fill("Cambridge")
    page.get_by_label("Time zone", exact=True).select_option("Europe/London")
    page.get_by_label("Starts on", exact=True).fill(STARTS.isoformat())
    page.get_by_label("Ends on", exact=True).fill((STARTS + timedelta(days=1)).isoformat())
    page.get_by_label("Seats", exact=True).fill("30")
    page.get_by_label("Organizers", exact=True).fill(ORGANIZER)
    looked_at(page, errors, shoot, "02-new-event")
    page.get_by_role("button", name="Create event").click()

    expect(flash(page)).to_have_text(f"“{TITLE}” is created, in draft. Organizers have been emailed.")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator(".page-head .badge")).to_have_text("draft")
    errors.assert_none()


def organizer_imports_the_list(page, errors, shoot, csv_path: str) -> None:
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("main")).to_contain_text("No one has been invited yet.")
    looked_at(page, errors, shoot, "03-overview-empty")

    page.locator(".page-head").get_by_role("link", name="Import CSV").click()
    expect(page.get_by_role("heading", name="Import people from a CSV file")).to_be_visible()
    page.get_by_label("CSV file", exact=True).set_input_files(csv_path)
    looked_at(page, errors, shoot, "04-import")
    submit_expecting(page, errors, page.get_by_role("button", name="Preview"), 422)

    expect(page.get_by_role("heading", name="Import preview")).to_be_visible()
    problems = page.get_by_role("alert")
    expect(problems).to_contain_text("Nothing has been imported.")
    expect(problems.locator(".problems li")).to_have_text(
        ["Line 4: “carla.at.example.org” is not a valid email address"])
    expect(page.get_by_role("heading", name="4 good, 1 with problems")).to_be_visible()
    expect(page.locator("tr.bad")).to_have_count(1)
    expect(page.locator("tr.bad td").first).to_have_text("4")
    # Everything at once waits for the fix; the good rows alone could go now (this journey fixes the row).
    expect(page.get_by_role("button", name=re.compile("^Import [0-9]+ people"))).to_have_count(0)
    expect(page.get_by_role("button", name="Import the 4 good rows")).to_be_visible()
    looked_at(page, errors, shoot, "05-import-problems")

    rows = page.get_by_label("CSV rows, editable", exact=True)
    rows.fill(rows.input_value().replace(BAD_ROW, FIXED_ROW))
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("main .flash-success")).to_have_text(
        "All 5 rows are good. Nothing is imported until you press Import.")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("tr.bad")).to_have_count(0)
    looked_at(page, errors, shoot, "06-import-good")
    page.get_by_role("button", name="Import 5 people").click()

    # Imported, the list opens with the newest first (the preview again, at /import, means nothing was imported).
    expect(page).to_have_url(re.compile(rf"/e/{SLUG}/manage/invites/\?sort=added$"))
    expect(flash(page)).to_have_text("5 people imported.")
    expect(page.get_by_role("heading", name="Invite list")).to_be_visible()
    table = page.locator("table.invites-table tbody")
    expect(table.locator("tr")).to_have_count(5)
    expect(table.locator(".badge")).to_have_text(["proposed"] * 5)
    expect(table.locator("tr", has_text=CARLA)).to_contain_text("Lab C")
    errors.assert_none()


def organizer_sends_a_wave(page, errors, shoot) -> None:
    table = page.locator("table.invites-table tbody")
    bulk_bar = page.locator(".bulk-bar")
    for action, message, status in (("Approve", "5 approved.", "approved"),
                                    ("Send invitation", "5 invited.", "invited")):
        page.get_by_role("checkbox", name="Tick everyone on this page").check()
        expect(table.get_by_role("checkbox", checked=True)).to_have_count(5)
        bulk_bar.get_by_label("Action", exact=True).select_option(label=action)
        bulk_bar.get_by_role("button", name=re.compile("^Apply")).click()
        expect(flash(page)).to_have_text(message)
        expect(table.locator(".badge")).to_have_text([status] * 5)
        errors.assert_none()
    looked_at(page, errors, shoot, "07-invite-list")


def expect_funnel(page, counts: dict[str, int]) -> None:
    funnel = page.locator("svg.funnel")
    expect(funnel).to_have_attribute("role", "img")
    expect(funnel.locator("desc")).to_have_text("; ".join(f"{label}: {n}" for label, n in counts.items()))
    expect(funnel.locator(".funnel-label")).to_have_text(list(counts))
    expect(funnel.locator(".funnel-value")).to_have_text([str(n) for n in counts.values()])
    expect(funnel.locator("rect.funnel-bar")).to_have_count(len(counts))


def invitees_answer_and_propose(app, live_server) -> None:
    """Their journey, not the organizer's: three accept and sign, one declines, one has not answered yet;
    Ben and Ada propose a talk each, Ben uploads slides, and everyone marks what they want to attend."""
    tokens = {email: live_server.outbox.link(live_server.outbox.newest(email), live_server.url, "/invitation/")
              .rsplit("/", 1)[1] for email in (ADA, BEN, CARLA, DAN)}
    with app.app_context():
        invites.decline_invitation(tokens[DAN])
        people = {}
        for email in (ADA, BEN, CARLA):
            candidate = invites.accept_invitation(tokens[email])
            db.session.flush()
            people[email] = candidate.user
            agreements.sign(candidate.user, candidate.event, candidate.name, "127.0.0.1")
        event = db.session.scalar(sa.select(Event).where(Event.slug == SLUG))
        talk_a = proposals.submit(people[BEN], event, proposals.ProposalData(
            TALK_A, "What the features do on real traffic.", ProposalKind.TALK, 30, Tier.SESSION))
        talk_b = proposals.submit(people[ADA], event, proposals.ProposalData(
            TALK_B, "Activation steering, measured.", ProposalKind.DISCUSSION, 45, Tier.ATTENDEES))
        materials.store_upload(people[BEN], talk_a, SLIDES, io.BytesIO(slides()))
        for voter, talks in ((ADA, [talk_a]), (BEN, [talk_b]), (CARLA, [talk_a, talk_b])):
            for talk in talks:
                proposals.toggle_vote(people[voter], talk)
        db.session.commit()
        db.session.remove()


def organizer_accepts_the_talks(page, errors, shoot) -> None:
    manage_link(page, "Talks").click()
    expect(page.get_by_role("heading", name="Talks")).to_contain_text("2")
    talk_a = page.locator("li.talk", has_text=TALK_A)
    expect(talk_a.locator(".badge")).to_have_text("submitted")
    expect(talk_a.locator(".votes")).to_have_text("2 want to attend")
    expect(talk_a.locator(".tier")).to_have_text("session")
    looked_at(page, errors, shoot, "09-talks")

    for title, speaker in ((TALK_A, "Ben Speaker"), (TALK_B, "Ada Attendee")):
        page.get_by_role("link", name=title).click()
        expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
        expect(page.locator(".page-head")).to_contain_text(speaker)
        decision = page.locator("section", has=page.get_by_role("heading", name="Decision"))
        decision.get_by_label("Decision", exact=True).select_option(label="Accept")
        decision.get_by_label("Note to the speakers", exact=True).fill("Welcome aboard: 30 minutes plus questions.")
        if title == TALK_A:
            looked_at(page, errors, shoot, "10-talk-decision")
        decision.get_by_role("button", name="Save decision and tell the speakers").click()
        expect(flash(page)).to_have_text(f"“{title}” is accepted; the speakers have been emailed.")
        expect(page.locator(".page-head .badge")).to_have_text("accepted")
        expect(page.locator("main")).to_contain_text("Note from the organizers: Welcome aboard")
        errors.assert_none()
        page.locator(".eyebrow").get_by_role("link", name="Talks").click()
    expect(page.locator("li.talk .badge")).to_have_text(["accepted", "accepted"])


def organizer_builds_the_grid(page, errors, shoot) -> None:
    manage_link(page, "Schedule").click()
    expect(page.get_by_role("heading", name="Schedule", level=1)).to_be_visible()
    steps = page.locator(".next-steps")
    expect(steps).to_contain_text("No rooms yet.")
    expect(steps).to_contain_text("No slots yet.")
    expect(steps).not_to_contain_text("No accepted proposals yet.")
    expect(page.get_by_role("heading", name="Unplaced")).to_contain_text("2")
    looked_at(page, errors, shoot, "11-editor-empty")

    steps.get_by_role("link", name="Add rooms").click()
    expect(page.get_by_role("heading", name="Rooms", level=1)).to_be_visible()
    looked_at(page, errors, shoot, "12-rooms-empty")
    for name, seats, closed, message in (("Library", "30", True, "Library is added (30 seats, closed door)."),
                                         ("Garden Room", "12", False, "Garden Room is added (12 seats).")):
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Seats", exact=True).fill(seats)
        page.get_by_label(re.compile("Closed door: fit")).set_checked(closed)
        page.get_by_role("button", name="Add room").click()
        expect(flash(page)).to_have_text(message)
        errors.assert_none()
    rooms = page.locator("table tbody tr")
    expect(rooms).to_have_count(2)
    expect(rooms.filter(has_text="Library")).to_contain_text("Closed door")
    expect(rooms.filter(has_text="Garden Room")).to_contain_text("Open")
    looked_at(page, errors, shoot, "13-rooms")

    page.get_by_role("navigation", name="Schedule").get_by_role("link", name="Slots").click()
    expect(page.get_by_role("heading", name="Slots", level=1)).to_be_visible()
    expect(page.get_by_label("Day", exact=True)).to_have_value(STARTS.isoformat())
    page.get_by_label("Start times", exact=True).fill("09:00, 10:30")
    page.get_by_label("Minutes each", exact=True).fill("60")
    page.get_by_label("Block", exact=True).fill("Day 1, morning")
    page.get_by_role("button", name="Add slots").click()
    expect(flash(page)).to_have_text(f"2 slots added on {STARTS:%a} {STARTS.day} {STARTS:%b}.")
    expect(page.locator("table tbody tr td:first-child")).to_have_text([re.compile("09:00"), re.compile("10:30")])
    looked_at(page, errors, shoot, "14-slots")


def organizer_schedules_and_publishes(page, errors, shoot) -> None:
    page.get_by_role("navigation", name="Schedule").get_by_role("link", name="Editor").click()
    expect(page.locator(".next-steps")).to_have_count(0)
    expect(page.locator(".publish-bar")).to_contain_text("Not published yet")
    expect(page.get_by_role("button", name="Publish release 1")).to_be_disabled()
    page.get_by_role("link", name="Auto-schedule…").click()

    expect(page.get_by_role("heading", name="Auto-schedule")).to_be_visible()
    page.get_by_label("Time limit (seconds)", exact=True).fill("2")
    looked_at(page, errors, shoot, "15-auto-schedule")
    page.get_by_role("button", name="Start the scheduler").click()

    expect(page.get_by_role("heading", name="Proposed schedule")).to_be_visible()
    clashes = page.locator(".stat", has_text="clashes")
    expect(clashes.locator(".stat-n")).to_have_text("0")
    expect(page.locator(".stat", has_text="sessions not placed").locator(".stat-n")).to_have_text("0")
    placed = page.locator("table tbody tr")
    expect(placed).to_have_count(2)
    # The session-tier talk goes behind the closed door; Carla wants both, so they are at different times.
    expect(placed.filter(has_text=TALK_A)).to_contain_text("Library")
    times = [placed.filter(has_text=title).locator("td").first.inner_text() for title in (TALK_A, TALK_B)]
    assert times[0] != times[1], times
    looked_at(page, errors, shoot, "16-auto-schedule-preview")
    page.get_by_role("button", name="Apply this schedule").click()

    expect(flash(page)).to_have_text("Applied: 2 sessions placed, moved or taken off. Check the conflicts, then "
                                     "publish.")
    expect(page.locator("main")).to_contain_text("2 of 2 accepted sessions placed")
    expect(page.locator("#conflicts .count")).to_have_text("0")
    expect(page.locator(".unplaced")).to_contain_text("Every accepted session is on the grid.")
    errors.assert_none()
    page.get_by_role("button", name="Publish release 1").click()

    expect(flash(page)).to_have_text("Release 1 is published; attendees can see the schedule now.")
    expect(page.get_by_role("heading", name="Release 1 is published")).to_be_visible()
    expect(page.get_by_role("button", name="Publish release 2")).to_be_disabled()
    looked_at(page, errors, shoot, "17-editor-published")


def organizer_checks_in_ada(page, errors, shoot) -> None:
    page.get_by_role("link", name="Where attendees see it").click()
    expect(page.get_by_role("heading", name="Schedule", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Release 1, published")
    session = page.locator("article.session", has_text=TALK_A)
    expect(session.locator(".session-room")).to_have_text("Library")
    looked_at(page, errors, shoot, "18-schedule")
    session.get_by_role("link", name="Check-in").click()

    expect(page.get_by_role("heading", name=f"Check-in: {TALK_A}")).to_be_visible()
    expect(page.locator(".checkin-counts")).to_contain_text("0 checked in")
    people = page.locator(".checkin-table tbody tr")
    expect(people).to_have_count(3)  # every attendee, none signed up: Ada, Ben (the speaker) and Carla
    page.get_by_role("button", name=re.compile(r"check in Ada Attendee$", re.IGNORECASE)).click()

    expect(flash(page)).to_have_text("Ada Attendee is checked in.")
    expect(page.locator(".checkin-counts")).to_contain_text("1 checked in")
    expect(people.filter(has_text=ADA).locator(".badge")).to_have_text("✓ ticked")
    expect(people.filter(has_text=CARLA).get_by_role("button")).to_have_text("Tick")
    looked_at(page, errors, shoot, "19-check-in")


def ada_downloads_the_slides(browser, live_server) -> None:
    """Ada's own step: she opens the talk she attended and downloads its session-tier slides."""
    page, errors = new_page(browser, live_server)
    sign_in(page, live_server, ADA, errors)
    page.goto(f"/e/{SLUG}/proposals/")
    page.get_by_role("link", name=TALK_A).click()
    with page.expect_download() as download:
        page.get_by_role("link", name=f"Download {SLIDES}").click()
    assert download.value.suggested_filename == SLIDES
    errors.assert_none()
    page.context.close()


def organizer_reads_the_access_log(page, errors, shoot) -> None:
    page.get_by_role("link", name="The talk").click()
    expect(page.get_by_role("heading", name=TALK_A, level=1)).to_be_visible()
    looked_at(page, errors, shoot, "20-talk-materials")
    page.locator("#materials").get_by_role("link", name=f"Who opened {SLIDES}").click()

    expect(page.get_by_role("heading", name=f"Who opened “{SLIDES}”")).to_be_visible()
    expect(page.locator(".page-head")).to_contain_text("1 request; 1 copy served to 1 signed-in person.")
    entries = page.locator("table tbody tr")
    expect(entries).to_have_count(1)
    expect(entries).to_contain_text("Ada Attendee")
    expect(entries).to_contain_text(ADA)
    expect(entries.locator(".badge")).to_have_text("served")
    expect(entries.locator("td").nth(4)).to_have_text(re.compile(r"\w{6,}"))
    looked_at(page, errors, shoot, "21-access-log")


def test_organizer_journey(app, admin, browser, live_server, tmp_path, shoot):
    csv_path = tmp_path / "invite-list.csv"
    csv_path.write_text("\n".join([CSV_HEADER, *GOOD_ROWS, BAD_ROW, *LATER_ROWS]) + "\n", encoding="utf-8")

    page, errors = new_page(browser, live_server)
    sign_in(page, live_server, ADMIN, errors)
    admin_creates_the_event(page, errors, shoot)
    page.context.close()

    welcome = live_server.outbox.newest(ORGANIZER)
    assert welcome["Subject"] == f"You are an organizer of {TITLE}"
    assert live_server.outbox.link(welcome, live_server.url, "/auth/") == f"{live_server.url}/auth/sign-in"
    page, errors = new_page(browser, live_server)
    sign_in(page, live_server, ORGANIZER, errors)  # the page that link opens
    organizer_imports_the_list(page, errors, shoot, str(csv_path))
    organizer_sends_a_wave(page, errors, shoot)
    manage_link(page, "Overview").click()
    expect(page.locator(".page-head .badge")).to_have_text("inviting")
    expect_funnel(page, {"Invited": 5, "Accepted": 0, "Declined": 0, "Pending": 5, "Waitlisted": 0})
    errors.assert_none()

    invitees_answer_and_propose(app, live_server)
    page.reload()
    expect_funnel(page, {"Invited": 5, "Accepted": 3, "Declined": 1, "Pending": 1, "Waitlisted": 0})
    seats = page.locator(".stat", has_text="seats taken")
    expect(seats.locator(".stat-n")).to_have_text("3")
    expect(seats.locator(".stat-l")).to_have_text("of 30 seats taken")
    looked_at(page, errors, shoot, "08-overview-funnel")

    organizer_accepts_the_talks(page, errors, shoot)
    organizer_builds_the_grid(page, errors, shoot)
    organizer_schedules_and_publishes(page, errors, shoot)
    organizer_checks_in_ada(page, errors, shoot)
    ada_downloads_the_slides(browser, live_server)
    organizer_reads_the_access_log(page, errors, shoot)

    with app.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.slug == SLUG))
        assert [u.email for u in event.organizers] == [ORGANIZER]
        statuses = dict(db.session.execute(sa.select(Candidate.email, Candidate.status)
                                           .where(Candidate.event_id == event.id)).all())
        assert statuses == {ADA: CandidateStatus.ACCEPTED, BEN: CandidateStatus.ACCEPTED,
                            CARLA: CandidateStatus.ACCEPTED, DAN: CandidateStatus.DECLINED,
                            EVE: CandidateStatus.INVITED}
        assert set(db.session.scalars(sa.select(Proposal.status))) == {ProposalStatus.ACCEPTED}
        assert db.session.scalar(sa.select(sa.func.count(Placement.id))) == 2
        assert db.session.scalar(sa.select(ScheduleRelease.number)) == 1
        ticked = db.session.execute(sa.select(User.email, Attendance.source)
                                    .join(User, User.id == Attendance.user_id)).all()
        assert ticked == [(ADA, "organizer")]
        assert db.session.execute(sa.select(MaterialAccess.allowed)).scalars().all() == [True]
        assert event.status == EventStatus.INVITING
        db.session.remove()
    # Twenty-one pages, each at 1280 and 390 px.
    assert len(shoot.taken) == 42, [p.name for p in shoot.taken]
