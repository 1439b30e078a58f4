"""The auto-scheduler in a real browser: an organizer starts a run, watches its progress bar move on a page
that updates itself (the run goes to a worker thread here, as it would to the worker), sees the proposed
schedule appear without a reload, and applies it; the editor then shows long talks over consecutive slots
and the lunch break. The CSP forbids inline scripts, so a violation would show as a console error."""

from __future__ import annotations

import random
import threading
import time
from datetime import time as clock

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import make_event, make_participant, make_user, sign_in
from workshop import tasks
from workshop.extensions import db
from workshop.models import EventStatus, Job, JobStatus, Placement, Proposal, ProposalSpeaker, ProposalStatus, Vote
from workshop.services import schedule

pytestmark = pytest.mark.browser

SLUG = "crowded"
ORGANIZER = "olga@example.org"


@pytest.fixture
def worker(app, tmp_path, monkeypatch):
    """The app's tasks go to a queue that a thread of this process works through, as the worker does: a
    request only queues the run, and the page watches it progress."""
    monkeypatch.setitem(app.config, "TASK_QUEUE_URL", f"sqlite:///{tmp_path / 'queue.db'}")
    queue = tasks.TaskQueue(app)
    monkeypatch.setitem(app.extensions, tasks.EXTENSION, queue)
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            task = queue.huey.dequeue()
            if task is None:
                time.sleep(0.05)
                continue
            queue.huey.execute(task)

    thread = threading.Thread(target=work, name="test-worker", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


@pytest.fixture
def scene(app) -> None:
    """Four rooms, a day of 45-minute slots in consecutive pairs with a lunch break, 40 talks (a few of 90
    minutes) and 80 attendees who each want a dozen: too many wishes for a schedule without misses."""
    rng = random.Random(3)
    with app.app_context():
        organizer = make_user(ORGANIZER, "Olga Organizer")
        event = make_event(SLUG, organizers=[organizer], status=EventStatus.OPEN, title="Interpretability Retreat",
                           timezone="Europe/Berlin", capacity=100)
        for name, seats in (("Main Hall", 80), ("Seminar Room", 40), ("Library", 30), ("Studio", 20)):
            schedule.add_room(organizer, event, name, seats, name == "Seminar Room")
        for day in (event.starts_on, event.ends_on):
            schedule.add_slots(organizer, event, day, [clock(9), clock(9, 45), clock(10, 45), clock(11, 30),
                                                       clock(14), clock(14, 45)], 45)
            schedule.add_slots(organizer, event, day, [clock(12, 15)], 60, is_break=True)
        people = [make_participant(event, f"p{i}@example.org") for i in range(80)]
        talks = [Proposal(event_id=event.id, title=f"Talk {i:02d}: {rng.choice(TOPICS)}",
                          status=ProposalStatus.ACCEPTED, duration_minutes=90 if i % 8 == 0 else 45)
                 for i in range(40)]
        db.session.add_all(talks)
        db.session.flush()
        db.session.add_all([ProposalSpeaker(proposal_id=t.id, user_id=people[i % 30].id, is_lead=True,
                                            confirmed=True) for i, t in enumerate(talks)])
        db.session.add_all([Vote(proposal_id=t.id, user_id=p.id) for p in people for t in rng.sample(talks, 12)])
        db.session.commit()
        db.session.remove()


def bar_moves_past(page, value: float, timeout: float = 10.0) -> float:
    """Wait until the progress bar shows more than ``value`` (the CSP forbids the browser's own polling of
    an expression, so this asks from here); returns what it shows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = page.locator("#run-bar").evaluate("bar => bar.value")
        if now > value:
            return now
        time.sleep(0.1)
    pytest.fail(f"the progress bar did not move past {value}")


TOPICS = ["sparse probes", "circuits", "steering vectors", "evaluations", "dictionary learning", "attribution",
          "superposition", "interpretability tooling", "model organisms", "red-teaming"]


def test_organizer_runs_the_auto_scheduler_watches_it_and_applies_the_result(
        app, scene, worker, page, live_server, browser_errors, shoot):
    sign_in(page, live_server, ORGANIZER, browser_errors)
    page.goto(f"/e/{SLUG}/manage/schedule")
    page.get_by_role("link", name="Auto-schedule…").click()
    expect(page.get_by_role("heading", name="Auto-schedule", exact=True)).to_be_visible()
    page.get_by_label("What to schedule").select_option("unplaced")
    page.get_by_label("Time limit (seconds)").fill("6")
    shoot(page, "50-autoschedule-form", phone=True)
    page.get_by_role("button", name="Start the scheduler").click()

    expect(page.get_by_role("heading", name="Auto-schedule run")).to_be_visible()
    bar = page.locator("#run-bar")
    status = page.locator("#run-status")
    # The page updates itself: the bar moves and the best schedule so far shows, without a reload.
    page.evaluate("window.notReloaded = true")
    expect(status.locator('[data-field="state"]')).to_contain_text("Running", timeout=10_000)
    first = bar_moves_past(page, 0)
    expect(status.locator('[data-field="missed"]')).not_to_have_text("—")
    expect(status.locator('[data-field="left"]')).to_contain_text("s left")
    shoot(page, "51-autoschedule-progress", phone=True)
    bar_moves_past(page, first)
    browser_errors.assert_none()

    heading = page.get_by_role("heading", name="Proposed schedule")
    expect(heading).to_be_visible(timeout=20_000)
    assert page.evaluate("window.notReloaded") is True  # the preview came in place, the page stayed
    expect(status.locator('[data-field="state"]')).to_contain_text("Done")
    expect(bar).to_have_attribute("value", "100")
    expect(page.locator("#run-cancel")).to_be_hidden()
    expect(page.locator(".run-result")).to_contain_text("proven lower bound")
    expect(page.locator(".run-result")).to_contain_text("wanted sessions missed")
    browser_errors.assert_none()
    shoot(page, "52-autoschedule-preview", phone=True)

    with app.app_context():
        job = db.session.scalar(sa.select(Job))
        assert job.status == JobStatus.DONE and job.attempts == 1
        missed = job.result["figures"]["missed"]
        db.session.remove()
    expect(page.locator(".run-result .stat-n").first).to_have_text(str(missed))

    page.get_by_role("button", name="Apply this schedule").click()
    expect(page.locator(".flash-success")).to_contain_text("Applied: 40 sessions placed, moved or taken off.")
    expect(page.get_by_role("heading", name="Schedule", exact=True)).to_be_visible()
    expect(page.locator(".runs-on").first).to_be_visible()  # a 90-minute talk runs on into the next slot
    expect(page.locator(".break-cell").first).to_have_text("Break: no talks")
    browser_errors.assert_none()
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "53-schedule-editor-after-auto", phone=True)

    with app.app_context():
        placements = db.session.scalars(sa.select(Placement)).all()
        assert len(placements) == 40
        assert sorted(p.span for p in placements).count(2) == 5  # the five 90-minute talks
        db.session.remove()


def test_organizer_stops_a_run(app, scene, worker, page, live_server, browser_errors):
    sign_in(page, live_server, ORGANIZER, browser_errors)
    page.goto(f"/e/{SLUG}/manage/schedule/auto/")
    page.get_by_label("Time limit (seconds)").fill("120")
    page.get_by_role("button", name="Start the scheduler").click()
    status = page.locator("#run-status")
    expect(status.locator('[data-field="state"]')).to_contain_text("Running", timeout=10_000)
    page.get_by_role("button", name="Stop the scheduler").click()
    expect(status.locator('[data-field="state"]')).to_contain_text("Stopped: you cancelled this run", timeout=10_000)
    expect(page.locator("#run-cancel")).to_be_hidden()
    expect(page.locator("#run-preview")).to_be_hidden()
    browser_errors.assert_none()
    with app.app_context():
        assert db.session.scalar(sa.select(Job.status)) == JobStatus.CANCELLED
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Placement)) == 0
        db.session.remove()
