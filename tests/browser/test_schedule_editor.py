"""The schedule editor in a real browser: an organizer drags a session from the unplaced list onto the
grid and sees it placed, with conflicts flagged where they occur; the page reports no errors (the
CSP forbids inline scripts and styles, so a violation would show here)."""

from __future__ import annotations

from datetime import time

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import accepted_talk, make_event, make_participant, make_user, sign_in
from workshop.extensions import db
from workshop.models import EventStatus, Placement, Proposal, Room, Slot, Tier, Unavailability
from workshop.services import schedule

pytestmark = pytest.mark.browser

SLUG = "interp"
ORGANIZER = "olga@example.org"
DRAGGED = "Sparse probing at scale"


@pytest.fixture
def scene(app) -> dict:
    """Three rooms, six slots over two days, ten talks: six placed (with one conflict of each kind), four not."""
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.OPEN, title="Interpretability Retreat",
                           timezone="Europe/Berlin")
        hall = schedule.add_room(organizer, event, "Main Hall", 80, False)
        seminar = schedule.add_room(organizer, event, "Seminar Room", 24, True)
        library = schedule.add_room(organizer, event, "Library", 2, False)
        schedule.add_slots(organizer, event, event.starts_on, [time(9), time(10, 30), time(14), time(15, 30)], 75,
                           "Day 1")
        schedule.add_slots(organizer, event, event.ends_on, [time(9, 30), time(11)], 75, "Day 2")
        db.session.commit()
        slots = db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id).order_by(Slot.starts_at)).all()
        people = [make_participant(event, f"p{i}@example.org") for i in range(8)]
        names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Karen Spärck Jones", "Edsger Dijkstra",
                 "Barbara Liskov", "Donald Knuth", "Frances Allen"]
        for person, name in zip(people, names):
            person.name = name
        db.session.commit()
        talk = {}
        for title, speaker, tier, votes in [
            ("Circuits in small transformers", 0, Tier.ATTENDEES, 6),
            ("Superposition, revisited", 2, Tier.SESSION, 4),
            ("What the probes missed", 1, Tier.ATTENDEES, 3),
            ("Unreleased eval results", 3, Tier.RESTRICTED, 2),
            ("Dictionary learning in practice", 0, Tier.PUBLIC, 5),
            ("Steering vectors: a field guide", 4, Tier.ATTENDEES, 2),
            (DRAGGED, 5, Tier.ATTENDEES, 3),
            ("Attribution graphs", 6, Tier.SESSION, 1),
            ("Lightning: tooling we wish we had", 7, Tier.PUBLIC, 0),
            ("Open problems panel", 2, Tier.ATTENDEES, 7),
        ]:
            talk[title] = accepted_talk(event, title, [people[speaker]], tier, voters=people[:votes])
        placements = [
            ("Open problems panel", hall, 0),  # Alan Turing here and ...
            ("Superposition, revisited", seminar, 0),  # ... here at the same time
            ("Unreleased eval results", hall, 1),  # restricted, open door
            ("Dictionary learning in practice", seminar, 1),  # Ada Lovelace cannot make it
            ("Steering vectors: a field guide", seminar, 1),  # double-booked
            ("What the probes missed", library, 1),  # 3 want it, 2 seats
            ("Circuits in small transformers", hall, 2),
        ]
        for title, room, slot in placements:
            schedule.place(organizer, talk[title], room.id, slots[slot].id)
        schedule.set_pinned(organizer, talk["Circuits in small transformers"], True)
        # Ada Lovelace cannot make the second slot.
        db.session.add(Unavailability(user_id=people[0].id, slot_id=slots[1].id))
        db.session.commit()
        target = (library.id, slots[3].id)
        dragged = talk[DRAGGED].public_id
        db.session.remove()
    return {"target": target, "dragged": dragged}


def test_organizer_drags_a_session_onto_the_grid(app, scene, page, live_server, browser_errors, shoot):
    sign_in(page, live_server, ORGANIZER, browser_errors)
    page.goto(f"/e/{SLUG}/manage/schedule")
    expect(page.get_by_role("heading", name="Schedule", exact=True)).to_be_visible()
    conflicts = page.locator("#conflicts")
    for kind in ("Room double-booked", "Speaker in two places", "Speaker unavailable",
                 "Room too small", "Not a closed-door room"):
        expect(conflicts).to_contain_text(kind)
    browser_errors.assert_none()

    room_id, slot_id = scene["target"]
    cell = page.locator(f"#cell-{room_id}-{slot_id}")
    card = page.locator(f"#s-{scene['dragged']}")
    expect(page.locator(".unplaced")).to_contain_text(DRAGGED)
    expect(cell).to_contain_text("Empty")
    with page.expect_navigation():
        card.locator(".grip").drag_to(cell)
    expect(page.locator(".flash-success")).to_contain_text(f"“{DRAGGED}” is in Library")
    expect(cell.locator(f"#s-{scene['dragged']}")).to_be_visible()
    expect(page.locator(".unplaced")).not_to_contain_text(DRAGGED)
    browser_errors.assert_none()

    with app.app_context():
        proposal = db.session.scalar(sa.select(Proposal).where(Proposal.public_id == scene["dragged"]))
        placement = db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))
        assert (placement.room_id, placement.slot_id) == (room_id, slot_id)
        assert db.session.get(Room, room_id).name == "Library"
        db.session.remove()

    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "40-schedule-editor", phone=True)
    browser_errors.assert_none()

    # Dragged back onto the unplaced list, it leaves the grid.
    with page.expect_navigation():
        page.locator(f"#s-{scene['dragged']} .grip").drag_to(page.locator(".unplaced h2"))
    expect(page.locator(".flash-success")).to_contain_text(f"“{DRAGGED}” is off the grid")
    expect(page.locator(".unplaced")).to_contain_text(DRAGGED)
    expect(cell).to_contain_text("Empty")
    browser_errors.assert_none()


def test_the_keyboard_places_a_session_through_its_form(app, scene, page, live_server, browser_errors):
    """The card takes no focus of its own: from its title, Tab goes straight to its form."""
    sign_in(page, live_server, ORGANIZER, browser_errors)
    page.goto(f"/e/{SLUG}/manage/schedule")
    card = page.locator(f"#s-{scene['dragged']}")
    card.get_by_role("link", name=DRAGGED).focus()
    page.keyboard.press("Tab")
    room = card.get_by_label("Room")
    expect(room).to_be_focused()
    room.select_option(label="Library (2)")
    page.keyboard.press("Tab")
    slot = card.get_by_label("Starts")
    expect(slot).to_be_focused()
    room_id, slot_id = scene["target"]
    slot.select_option(value=str(slot_id))
    page.keyboard.press("Tab")
    expect(card.get_by_label("Slots")).to_be_focused()  # left at "as many as its length needs"
    page.keyboard.press("Tab")
    expect(card.get_by_role("button", name=f"Place “{DRAGGED}”")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(f"#cell-{room_id}-{slot_id} #s-{scene['dragged']}")).to_be_visible()
    browser_errors.assert_none()
