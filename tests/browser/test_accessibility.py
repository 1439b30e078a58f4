"""Every main page, as the person who would see it, checked with axe-core and photographed at two widths.

The scene is the demo event (``flask demo``): people in every state, talks at every tier, a published
two-day schedule, slides, sign-ups. Each page is visited at 1280 px and at 390 px; axe-core runs at
both widths (the phone layout hides and reflows things), and a full-page screenshot of each goes to
artifacts/screenshots/p-<page>-<width>.png for a person to look at.

axe-core comes from npm (package.json; scripts/test.sh runs ``npm ci`` when it is missing). The
pages' Content-Security-Policy forbids inline scripts, so axe is not added as a <script> tag: its
source is evaluated through the DevTools protocol, which the policy does not govern.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import DESKTOP, PHONE, ROOT, SCREENSHOTS, BrowserErrors
from workshop.extensions import db
from workshop.models import Candidate, Event, EventKind, Material, MaterialAccess, Proposal, User
from workshop.services import accounts, events

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")

ADMIN, ORGANIZER = "admin@example.org", "organizer@example.org"
AMARA = "amara.okafor@example.org"  # attendee; speaker of the restricted talk, with slides and extra terms
EMEKA = "emeka.eze@example.org"  # attendee with a seat in the session-tier talk, which he attended
CHIARA = "chiara.rossi@example.org"  # accepted, has not signed the agreement yet
INES = "ines.moreau@example.org"  # invited, has not answered

BAD_CSV = "email,name,affiliation,tags\nnew.person@example.org,New Person,Somewhere,\"evals\"\nnot-an-email,Bad Row,,\n"


@pytest.fixture
def axe_source() -> str:
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE.relative_to(ROOT)} is missing): run `npm ci` at the "
                    "repository root, or scripts/test.sh, which does")
    return AXE.read_text(encoding="utf-8")


@dataclass
class Scene:
    """The demo event and the identifiers its pages need."""

    slug: str
    empty_slug: str  # a second event, just created: the organizer's empty states
    session_ids: dict[str, tuple[str, str]]  # email -> the user id and session key a sign-in leaves in the cookie
    talks: dict[str, str]  # short name -> public id
    red_team_notes: str  # public id of the session-tier slides
    kofi: int  # the nominated candidate, with two vouches
    invitation_path: str  # Inès's invitation link


def _talk(event: Event, title_start: str) -> Proposal:
    return db.session.scalar(sa.select(Proposal).where(Proposal.event_id == event.id,
                                                       Proposal.title.startswith(title_start)))


@pytest.fixture
def scene(app, live_server) -> Scene:
    from workshop.demo import create_demo

    with app.app_context():
        create_demo()
        event = db.session.scalar(sa.select(Event).where(Event.slug == "demo"))
        admin = db.session.scalar(sa.select(User).where(User.email == ADMIN))
        empty = events.create_event(admin, events.EventData(
            title="Spring Unconference", slug="spring", description="", kind=EventKind.UNCONFERENCE, venue="",
            timezone="UTC", starts_on=event.starts_on, ends_on=event.starts_on, capacity=30), [ORGANIZER])
        db.session.commit()
        users = db.session.scalars(sa.select(User)).all()
        talks = {"circuits": _talk(event, "Sparse feature circuits"), "red_team": _talk(event, "Red-teaming")}
        notes = db.session.scalar(sa.select(Material).where(Material.proposal_id == talks["red_team"].id))
        kofi = db.session.scalar(sa.select(Candidate).where(Candidate.event_id == event.id,
                                                            Candidate.email == "kofi.mensah@example.org"))
        session_ids = {u.email: (u.get_id(), accounts.open_session(u)) for u in users}
        db.session.commit()
        built = Scene(slug=event.slug, empty_slug=empty.slug, session_ids=session_ids,
                      talks={name: talk.public_id for name, talk in talks.items()},
                      red_team_notes=notes.public_id, kofi=kofi.id, invitation_path="")
        db.session.remove()
    invitation = live_server.outbox.link(live_server.outbox.newest(INES), live_server.url, "/invitation/")
    built.invitation_path = invitation.removeprefix(live_server.url)
    return built


class Browser:
    """One browser context per person, signed in by a session cookie as the sign-in link would leave it."""

    def __init__(self, app, browser, live_server, scene: Scene):
        self.app, self.browser, self.server, self.scene = app, browser, live_server, scene
        self.pages: dict[str | None, tuple] = {}

    def as_(self, email: str | None):
        if email not in self.pages:
            context = self.browser.new_context(viewport=DESKTOP, base_url=self.server.url, locale="en-GB")
            context.set_default_timeout(15000)
            if email is not None:
                serializer = self.app.session_interface.get_signing_serializer(self.app)
                user_id, key = self.scene.session_ids[email]
                cookie = serializer.dumps({"_user_id": user_id, accounts.SESSION_KEY: key, "_fresh": True})
                context.add_cookies([{"name": self.app.config["SESSION_COOKIE_NAME"], "value": cookie,
                                      "url": self.server.url}])
            page = context.new_page()
            self.pages[email] = (page, BrowserErrors(page))
        return self.pages[email]

    def close(self) -> None:
        for page, _ in self.pages.values():
            page.context.close()


@dataclass
class Visit:
    name: str  # the screenshot's name, after "p-"
    who: str | None  # whose browser; None is a visitor who is not signed in
    path: str
    heading: str  # the page's h1 must contain this: a 404 or a wrong page does not pass unnoticed
    then: Callable | None = None  # what the person does on the page before it is checked (fill a form, ...)
    status: int = 200  # the status of the page that is checked: a form sent back with its errors is a 400


def _csv_preview(page) -> None:
    page.get_by_label("…or paste the rows").fill(BAD_CSV)
    page.get_by_role("button", name="Preview").click()


def _auto_schedule_preview(page) -> None:
    page.get_by_label("Time limit (seconds)").fill("1")
    page.get_by_role("button", name="Start the scheduler").click()


def _submit_empty(button: str) -> Callable:
    def submit(page) -> None:
        page.get_by_role("button", name=button, exact=True).click()
    return submit


def _trace_emekas_copy(scene: Scene, browsers: Browser) -> Callable:
    """Emeka downloads the session-tier slides, and the organizer looks the copy up by its download id."""
    def trace(page) -> None:
        attendee, _ = browsers.as_(EMEKA)
        response = attendee.request.get(f"/m/{scene.red_team_notes}")
        assert response.status == 200, f"the attendee could not download the slides: {response.status}"
        with browsers.app.app_context():
            download_id = db.session.scalar(sa.select(MaterialAccess.download_id)
                                            .where(MaterialAccess.allowed.is_(True))
                                            .order_by(MaterialAccess.id.desc()))
            db.session.remove()
        page.get_by_role("textbox", name="Download id").fill(download_id)
        page.get_by_role("button", name="Find the download").click()
        expect(page.get_by_role("heading", name=f"Download {download_id}")).to_be_visible()
    return trace


def visits(scene: Scene, browsers: Browser) -> list[Visit]:
    e, t = f"/e/{scene.slug}", scene.talks
    manage = f"{e}/manage"
    return [
        Visit("home", None, "/", "Share early work"),
        Visit("sign-in", None, "/auth/sign-in", "Sign in"),
        Visit("public-event", None, f"{e}/public", "Frontier Safety Research Retreat"),
        Visit("invitation", None, scene.invitation_path, "Frontier Safety Research Retreat"),
        Visit("not-found", None, "/e/no-such-event/", "Nothing here", status=404),
        Visit("my-events", AMARA, "/", "My events"),
        Visit("account", AMARA, "/account", "Your account"),
        Visit("event-landing", AMARA, f"{e}/", "Frontier Safety Research Retreat"),
        Visit("event-landing-unsigned", CHIARA, f"{e}/", "Frontier Safety Research Retreat"),
        Visit("agreement-sign", CHIARA, f"{e}/agreement", "Confidentiality agreement"),
        Visit("agreement-signed", AMARA, f"{e}/agreement", "Confidentiality agreement"),
        Visit("people", AMARA, f"{e}/people", "Who is coming"),
        Visit("nominate", AMARA, f"{e}/nominate", "Nominate someone"),
        Visit("nominate-errors", AMARA, f"{e}/nominate", "Nominate someone", _submit_empty("Send nomination"),
              status=400),
        Visit("talks", EMEKA, f"{e}/proposals/", "Talks"),
        Visit("talk-speaker", AMARA, f"{e}/proposals/{t['circuits']}", "Sparse feature circuits"),
        Visit("talk-attendee", EMEKA, f"{e}/proposals/{t['red_team']}", "Red-teaming results"),
        Visit("talk-new", EMEKA, f"{e}/proposals/new", "Propose a talk"),
        Visit("talk-new-errors", EMEKA, f"{e}/proposals/new", "Propose a talk", _submit_empty("Submit proposal"),
              status=400),
        Visit("talk-tier", AMARA, f"{e}/proposals/{t['circuits']}/tier", "Change tier"),
        Visit("talk-access", AMARA, f"{e}/proposals/{t['circuits']}/access", "Named people and exclusions"),
        Visit("talk-audience", AMARA, f"{e}/proposals/{t['circuits']}/audience", "Who sees this talk"),
        Visit("availability", AMARA, f"{e}/availability", "When you cannot speak"),
        Visit("schedule", EMEKA, f"{e}/schedule", "Schedule"),
        Visit("agenda", EMEKA, f"{e}/agenda", "My agenda"),
        Visit("calendar", EMEKA, f"{e}/calendar", "Calendar"),
        Visit("organizer-overview", ORGANIZER, f"{manage}/", "Overview"),
        Visit("invite-list", ORGANIZER, f"{manage}/invites/", "Invite list"),
        Visit("candidate", ORGANIZER, f"{manage}/invites/{scene.kofi}", "Kofi Mensah"),
        Visit("add-person", ORGANIZER, f"{manage}/invites/new", "Add a person"),
        Visit("add-person-errors", ORGANIZER, f"{manage}/invites/new", "Add a person",
              _submit_empty("Add to the list"), status=400),
        Visit("csv-import", ORGANIZER, f"{manage}/invites/import", "Import people from a CSV file"),
        Visit("csv-preview", ORGANIZER, f"{manage}/invites/import", "Import preview", _csv_preview, status=422),
        Visit("agreement-admin", ORGANIZER, f"{manage}/agreement", "Confidentiality agreement"),
        Visit("organizers", ORGANIZER, f"{manage}/organizers", "Organizers"),
        Visit("settings", ORGANIZER, f"{manage}/settings", "Event settings"),
        Visit("audit-log", ORGANIZER, f"{manage}/audit", "Audit log"),
        Visit("talks-organizer", ORGANIZER, f"{e}/proposals/", "Talks"),
        Visit("schedule-editor", ORGANIZER, f"{manage}/schedule", "Schedule"),
        Visit("rooms", ORGANIZER, f"{manage}/schedule/rooms", "Rooms"),
        Visit("slots", ORGANIZER, f"{manage}/schedule/slots", "Slots"),
        Visit("releases", ORGANIZER, f"{manage}/schedule/releases", "Releases"),
        Visit("auto-schedule", ORGANIZER, f"{manage}/schedule/auto/", "Auto-schedule"),
        # Starting a run redirects to its page; the tests' queue runs the scheduler as it is started, so the
        # page opens with the proposed schedule, which is what is checked.
        Visit("auto-schedule-preview", ORGANIZER, f"{manage}/schedule/auto/", "Auto-schedule run",
              _auto_schedule_preview, status=302),
        Visit("schedule-organizer", ORGANIZER, f"{e}/schedule", "Schedule"),
        Visit("check-in", ORGANIZER, f"{e}/proposals/{t['red_team']}/checkin", "Check-in: Red-teaming results"),
        Visit("projector", ORGANIZER, f"{e}/proposals/{t['red_team']}/projector", "Red-teaming results"),
        Visit("trace", ORGANIZER, f"{manage}/trace", "Trace a leaked copy", _trace_emekas_copy(scene, browsers)),
        Visit("materials-log", ORGANIZER,
              f"{e}/proposals/{t['red_team']}/materials/{scene.red_team_notes}/log", "Who opened"),
        Visit("messages", ORGANIZER, f"{manage}/messages/", "Messages"),
        Visit("write-to-people", ORGANIZER, f"{manage}/messages/new", "Write to people"),
        Visit("email-texts", ORGANIZER, f"{manage}/texts/", "Texts of the emails"),
        Visit("email-text", ORGANIZER, f"{manage}/texts/invitation", "Invitation"),
        Visit("outbox", ORGANIZER, f"{manage}/outbox", "Outbox"),
        *(Visit(f"empty-{name}", ORGANIZER, f"/e/{scene.empty_slug}{path}", heading) for name, path, heading in [
            ("overview", "/manage/", "Overview"), ("invite-list", "/manage/invites/", "Invite list"),
            ("talks", "/proposals/", "Talks"), ("schedule-editor", "/manage/schedule", "Schedule"),
            ("rooms", "/manage/schedule/rooms", "Rooms"), ("slots", "/manage/schedule/slots", "Slots"),
            ("releases", "/manage/schedule/releases", "Releases"), ("schedule", "/schedule", "Schedule"),
            ("people", "/people", "Who is coming")]),
        Visit("admin", ADMIN, "/admin/", "Administration"),
        Visit("admin-users", ADMIN, "/admin/users", "Users"),
        Visit("admin-outbox", ADMIN, "/admin/outbox/", "The instance's outbox"),
        Visit("new-event", ADMIN, "/admin/events/new", "New event"),
        Visit("new-event-errors", ADMIN, "/admin/events/new", "New event", _submit_empty("Create event"), status=400),
    ]


RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary || "", html: n.html})),
  }));
}"""


def check(page, axe_source: str, where: str) -> list[dict]:
    """axe-core's violations on the page as it is now, each labelled with ``where``."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    return [{**violation, "page": where} for violation in page.evaluate(RUN_AXE, AXE_TAGS)]


def report(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']} on {v['page']}: {v['help']}")
        for node in v["nodes"][:6]:
            lines.append(f"    {node['target']}\n      {node['html'][:200]}\n      {node['summary'][:300]}")
        if len(v["nodes"]) > 6:
            lines.append(f"    ... and {len(v['nodes']) - 6} more")
    return "\n".join(lines)


def test_axe_reports_a_page_with_known_violations(browser, axe_source):
    """The check itself can fail: an unlabelled input and grey-on-white text are reported."""
    page = browser.new_page()
    try:
        page.set_content('<!doctype html><html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1>'
                         '<input type="text"><p style="color:#c0c0c0">faint</p></main></body></html>')
        found = {v["id"]: v["impact"] for v in check(page, axe_source, "a bad page")}
    finally:
        page.close()
    assert found.get("label") == "critical"
    assert found.get("color-contrast") == "serious"


def test_every_main_page_is_accessible(app, browser, live_server, scene, axe_source):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browsers = Browser(app, browser, live_server, scene)
    found: list[dict] = []
    too_wide: list[str] = []
    try:
        for visit in visits(scene, browsers):
            page, errors = browsers.as_(visit.who)
            page.set_viewport_size(DESKTOP)
            if visit.status != 200:  # Chromium reports the page's own error status as a console error
                errors.expect_refusal(visit.status)
            response = page.goto(visit.path)
            arrival = 200 if visit.then else visit.status
            assert response is not None and response.status == arrival, (
                f"{visit.name}: {visit.path} answered {response and response.status} as {visit.who or 'a visitor'}")
            if visit.then:
                with page.expect_response(lambda r: r.request.resource_type == "document") as answer:
                    visit.then(page)
                assert answer.value.status == visit.status, f"{visit.name}: the form answered {answer.value.status}"
            expect(page.locator("h1")).to_contain_text(visit.heading)
            errors.assert_none()
            for label, size in (("1280", DESKTOP), ("390", PHONE)):
                page.set_viewport_size(size)
                found += check(page, axe_source, f"{visit.name} at {label} px ({page.url})")
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > size["width"]:
                    too_wide.append(f"{visit.name} is {width} px wide at {label} px")
                page.screenshot(path=str(SCREENSHOTS / f"p-{visit.name}-{label}.png"), full_page=True)
    finally:
        browsers.close()

    blocking = [v for v in found if v["impact"] in BLOCKING]
    counts = Counter(v["id"] for v in blocking)
    assert not blocking, (f"axe-core found {len(blocking)} serious or critical violations "
                          f"({', '.join(f'{rule}: {n}' for rule, n in counts.most_common())}):\n{report(blocking)}")
    assert not too_wide, "pages wider than the window (the phone would scroll sideways):\n" + "\n".join(too_wide)
