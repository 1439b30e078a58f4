"""Running the next edition in a real browser: clone last year's event, import a messy spreadsheet through the
column-mapping step (the bad rows downloaded with their reasons, the good ones imported), lower the seats,
and read the audit log with what changed, before → after.
"""

from __future__ import annotations

import csv
import io
from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import (
    DESKTOP,
    BrowserErrors,
    make_candidate,
    make_event,
    make_participant,
    make_talk,
    make_user,
    sign_agreement,
)
from tests.helpers import sign_in as sign_in_by_link
from workshop.extensions import db
from workshop.models import (
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    Proposal,
    ProposalStatus,
    Room,
    Slot,
    Tier,
    Vote,
)
from workshop.services import agreements, invites, schedule

pytestmark = pytest.mark.browser

ORGANIZER = "olga@example.org"
OLD, NEW = "retreat-2025", "retreat-2026"
NEW_START = date.today() + timedelta(days=90)
MESSY_CSV = ("Contact;Full name;Organisation;Shoe size\n"
             "ada@uni.example;Ada Lovelace;Engines;38\n"
             "not-an-address;Bad Row;Nowhere;40\n"
             "grace@navy.example;Grace Hopper;Navy;39\n"
             "ADA@uni.example;Ada Again;Engines;38\n")


@pytest.fixture
def last_year(app):
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        old_start = date.today() - timedelta(days=275)
        event = make_event(OLD, organizers=[organizer], status=EventStatus.CLOSED, capacity=30, title="Retreat 2025",
                           timezone="Europe/Berlin", venue="Lakeside Lodge", starts_on=old_start,
                           ends_on=old_start + timedelta(days=1))
        agreements.publish_version(organizer, event, "Nothing said at the lake leaves the lake.")
        schedule.add_room(organizer, event, "Library", 12, closed_door=True)
        schedule.add_room(organizer, event, "Hall", 60, closed_door=False)
        schedule.add_slots(organizer, event, old_start, [time(9), time(10, 30)], 75, "Day 1")
        speaker = make_participant(event, "speaker@uni.example")
        make_talk(event, speaker, "Last year's secret results", tier=Tier.RESTRICTED)
        make_candidate(event, "returning@lab.example", name="Rae Returning", status=CandidateStatus.DECLINED,
                       notes="Ask again next year.")
        db.session.commit()
        db.session.remove()


def shot(page, errors: BrowserErrors, shoot, name: str) -> None:
    errors.assert_none()
    shoot(page, f"ops-{name}", phone=True)


def test_clone_import_and_audit(browser, live_server, last_year, app, shoot):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(10000)
    page = context.new_page()
    errors = BrowserErrors(page)
    sign_in_by_link(page, live_server, ORGANIZER, errors)

    # Clone last year's event from its settings.
    page.goto(f"/e/{OLD}/manage/settings")
    page.get_by_role("link", name="Clone this event").click()
    expect(page.get_by_role("heading", name="Clone this event")).to_be_visible()
    shot(page, errors, shoot, "01-clone")
    page.get_by_label("Title of the new event").fill("Retreat 2026")
    page.get_by_label("Address").fill(NEW)
    page.get_by_label("Starts on").fill(NEW_START.isoformat())
    page.get_by_label("Copy the invite list").check()
    page.get_by_role("button", name="Create the new event").click()
    expect(page.locator(".flashes .flash")).to_contain_text("Retreat 2026 is ready as a draft: 2 rooms, 2 slots")
    expect(page.get_by_role("heading", name="To do now")).to_be_visible()
    expect(page.locator(".todo-list")).to_contain_text("people proposed for the list to review")
    shot(page, errors, shoot, "02-overview-after-clone")
    with app.app_context():
        new = db.session.scalar(sa.select(Event).where(Event.slug == NEW))
        assert (new.starts_on, new.status, new.venue) == (NEW_START, EventStatus.DRAFT, "Lakeside Lodge")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Room).where(Room.event_id == new.id)) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Slot).where(Slot.event_id == new.id)) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Proposal)
                                 .where(Proposal.event_id == new.id)) == 0
        db.session.remove()

    # Import a messy spreadsheet: the "Contact" column is mapped by hand.
    page.goto(f"/e/{NEW}/manage/invites/import")
    page.get_by_label("…or paste the rows").fill(MESSY_CSV)
    errors.expect_refusal(422)
    with page.expect_response(lambda r: r.request.resource_type == "document") as answer:
        page.get_by_role("button", name="Preview").click()
    assert answer.value.status == 422
    expect(page.locator(".flash-error")).to_contain_text("no column holds the email addresses")
    shot(page, errors, shoot, "03-import-needs-mapping")
    page.get_by_label("“Contact”").select_option("email")
    errors.expect_refusal(422)
    with page.expect_response(lambda r: r.request.resource_type == "document") as answer:
        page.get_by_role("button", name="Check again").click()
    assert answer.value.status == 422  # two rows still have problems
    expect(page.get_by_role("heading", name="2 good, 2 with problems")).to_be_visible()
    expect(page.get_by_label("“Full name”")).to_have_value("name")
    expect(page.get_by_label("“Organisation”")).to_have_value("affiliation")
    expect(page.get_by_label("“Shoe size”")).to_have_value("ignore")
    shot(page, errors, shoot, "04-import-mapped")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the 2 bad rows (CSV)").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows[0] == ["Contact", "Full name", "Organisation", "Shoe size", "line", "problem"]
    assert [(r[0], r[-1]) for r in rows[1:]] == [
        ("not-an-address", "“not-an-address” is not a valid email address"),
        ("ADA@uni.example", "ada@uni.example also appears on line 2")]
    page.get_by_role("button", name="Import the 2 good rows").click()
    expect(page.locator(".flashes .flash")).to_have_text("2 people imported. 2 rows were left out.")
    shot(page, errors, shoot, "05-list-after-import")
    with app.app_context():
        emails = set(db.session.scalars(sa.select(Candidate.email).join(Event).where(Event.slug == NEW)))
        assert emails == {"ada@uni.example", "grace@navy.example", "returning@lab.example", "speaker@uni.example"}
        db.session.remove()

    # Lower the seats: saved, and recorded before → after.
    page.goto(f"/e/{NEW}/manage/settings")
    page.get_by_label("Seats").fill("24")
    page.get_by_label("Venue").fill("Lakeside Lodge, east wing")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flashes .flash")).to_have_text("The event is saved.")

    # Read the audit log, narrowed to edits, with what changed.
    page.goto(f"/e/{NEW}/manage/audit")
    shot(page, errors, shoot, "06-audit")
    page.get_by_label("Action").select_option("edit event")
    page.get_by_role("button", name="Filter").click()
    detail = page.locator("td.audit-detail")
    expect(detail).to_have_count(1)
    expect(detail).to_have_text("venue “Lakeside Lodge” → “Lakeside Lodge, east wing”; capacity 30 → 24")
    shot(page, errors, shoot, "07-audit-filtered")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV (filtered)").click()
    exported = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert [r[2] for r in exported[1:]] == ["edit event"]
    page.goto(f"/e/{NEW}/manage/audit?action=clone+event")
    expect(page.locator("td.audit-detail")).to_have_text(f"from {OLD}: 2 rooms, 2 slots, 2 people proposed")
    context.close()


def test_overview_team_chain_and_public_page_look_right(browser, live_server, app, shoot):
    """The other new and changed pages, each looked at: the overview with work to do and rooms against
    sign-ups, the team, a nominee's vouch chain, the public page with times and rooms, a refusal."""
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        make_user("co@example.org", "Cole Co-organizer")
        event = make_event("summit", organizers=[organizer], status=EventStatus.INVITING, title="Sparse Summit",
                           public_page=True, capacity=40)
        ann = make_participant(event, "ann@uni.example")
        invites.nominate(ann, event, "bob@lab.example", "Bob Builder", "Lab B", "Bob reviewed my drafts for years.")
        db.session.commit()
        bob_entry = db.session.scalar(sa.select(Candidate).where(Candidate.email == "bob@lab.example"))
        bob = make_user("bob@lab.example", "Bob Builder")
        bob_entry.user_id, bob_entry.status = bob.id, CandidateStatus.ACCEPTED
        db.session.commit()
        sign_agreement(bob, event)
        invites.nominate(bob, event, "cy@lab.example", "Cy Careful", "Lab C", "Cy is careful with early results.")
        unsigned = make_participant(event, "unsigned@uni.example", signed=False)
        hall = schedule.add_room(organizer, event, "Great Hall", 60, closed_door=False)
        nook = schedule.add_room(organizer, event, "Reading Nook", 1, closed_door=False)
        [nine, ten] = schedule.add_slots(organizer, event, event.starts_on, [time(9), time(10)], 50)
        opening = make_talk(event, ann, "Opening words", tier=Tier.PUBLIC)
        small = make_talk(event, ann, "A crowded corner", tier=Tier.ATTENDEES)
        db.session.add_all([Vote(proposal_id=small.id, user_id=u.id) for u in (bob, unsigned)])
        schedule.place(organizer, opening, hall.id, nine.id)
        schedule.place(organizer, small, nook.id, ten.id)
        schedule.publish(organizer, event)
        make_talk(event, ann, "Still to decide", status=ProposalStatus.SUBMITTED)
        cy_id = db.session.scalar(sa.select(Candidate.id).where(Candidate.email == "cy@lab.example"))
        db.session.commit()
        db.session.remove()

    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10000)
    page = context.new_page()
    errors = BrowserErrors(page)
    sign_in_by_link(page, live_server, ORGANIZER, errors)

    page.goto("/e/summit/manage/")
    todo = page.locator(".todo-list")
    expect(todo).to_contain_text("attendees cannot sign up for sessions until the event is open")
    expect(todo).to_contain_text("talks to decide")
    expect(todo).to_contain_text("accepted people have not signed the agreement")
    expect(page.locator("#rooms-title + .table-wrap")).to_contain_text("too small")
    shot(page, errors, shoot, "08-overview")
    page.get_by_role("button", name="Switch to open").click()
    expect(page.locator(".flashes .flash")).to_have_text("The event is open now.")
    expect(todo).not_to_contain_text("until the event is open")

    page.goto("/e/summit/manage/organizers")
    page.get_by_label("Email").fill("co@example.org")
    page.get_by_role("button", name="Add organizer").click()
    expect(page.locator(".flashes .flash")).to_contain_text("co@example.org is now an organizer")
    shot(page, errors, shoot, "09-organizers")

    page.goto(f"/e/summit/manage/invites/{cy_id}")
    chain = page.locator(".vouch-chain").first
    expect(chain).to_contain_text("Cy is careful with early results.")
    expect(chain).to_contain_text("Bob reviewed my drafts for years.")
    expect(chain).to_contain_text("was added by the organizers.")
    shot(page, errors, shoot, "10-vouch-chain")

    page.goto("/e/summit/public")
    expect(page.locator(".talk .when")).to_contain_text("Great Hall")
    shot(page, errors, shoot, "11-public")

    page.goto("/e/summit/manage/invites/?status=proposed")
    page.get_by_label("Action").select_option("approve")
    errors.expect_refusal(400)
    with page.expect_response(lambda r: r.request.resource_type == "document") as answer:
        page.get_by_role("button", name="Apply to selection").click()
    assert answer.value.status == 400
    expect(page.locator(".flashes .flash")).to_contain_text("Tick at least one person first")
    expect(page.get_by_role("link", name="proposed")).to_have_attribute("aria-current", "true")
    shoot(page, "ops-12-bulk-nothing-ticked", phone=True)

    # Seats below the people accepted: asked first, with what happens.
    page.goto("/e/summit/manage/settings")
    page.get_by_label("Seats").fill("2")
    errors.expect_refusal(400)
    with page.expect_response(lambda r: r.request.resource_type == "document") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 400
    expect(page.locator(".notice")).to_contain_text("Nobody loses a seat")
    shoot(page, "ops-13-capacity-confirm", phone=True)
    page.get_by_label("Lower it anyway").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flashes .flash")).to_have_text("The event is saved.")

    # A bad request is answered in the layout, with the way back.
    page.goto("/e/summit/manage/audit")
    errors.expect_refusal(400)
    with page.expect_response(lambda r: r.request.resource_type == "document") as answer:
        page.goto("/e/summit/manage/audit?since=last-week", referer=live_server.url + "/e/summit/manage/audit")
    assert answer.value.status == 400
    expect(page.get_by_role("heading", name="That did not work")).to_be_visible()
    expect(page.get_by_role("link", name="Go back")).to_be_visible()
    shoot(page, "ops-14-bad-request", phone=True)
    context.close()
