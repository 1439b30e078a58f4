"""Everything the tests share: factories, the scenes several test modules build, and small readers of
pages, feeds and tables. Fixtures live in the conftest files and build on these; a test module imports
its helpers from here, never from another test module.
"""

from __future__ import annotations

import contextlib
import html
import io
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, cached_property
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import sqlalchemy as sa
from flask import current_app
from reportlab.pdfgen import canvas

from workshop import calendar, policy, tasks
from workshop.extensions import db
from workshop.models import (
    Agreement,
    AgreementAcceptance,
    Attendance,
    AuditEntry,
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    Job,
    JobStatus,
    Material,
    Placement,
    Proposal,
    ProposalAccess,
    ProposalKind,
    ProposalSpeaker,
    ProposalStatus,
    Room,
    SignUp,
    Slot,
    Tier,
    User,
    Vote,
    utcnow,
)
from workshop.services import accounts, autoschedule, invites, materials, proposals, schedule, signups
from workshop.services.errors import DomainError

# --- the database and people -------------------------------------------------------------------

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def postgres_schema(url: str, prefix: str = "test_run") -> tuple[str, dict]:
    """A fresh schema of this run's own, so that parallel runs on one PostgreSQL database do not
    collide; returns its name and the engine options that make it the default."""
    schema = f"{prefix}_{os.getpid()}"
    drop_postgres_schema(url, schema)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return schema, {"connect_args": {"options": f"-csearch_path={schema}"}, "pool_pre_ping": True}


def drop_postgres_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def login_as(client, user: User | None) -> None:
    """Sign the test client in as ``user`` (or out, with None) without the email round-trip: a
    session row of its own, as a sign-in opens."""
    key = None
    if user is not None:
        key = accounts.open_session(user)
        db.session.commit()
    with client.session_transaction() as session:
        session.clear()
        if user is not None:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session[accounts.SESSION_KEY] = key


def make_user(email: str, name: str = "", admin: bool = False) -> User:
    user = User(email=email.lower(), name=name or email.split("@")[0].title(), is_admin=admin)
    db.session.add(user)
    db.session.commit()
    return user


def make_event(slug: str = "retreat", organizers: list[User] = (), capacity: int = 10,
               status: EventStatus = EventStatus.OPEN, **fields) -> Event:
    today = date.today()
    event = Event(slug=slug, title=fields.pop("title", f"The {slug.title()}"), capacity=capacity, status=status,
                  starts_on=fields.pop("starts_on", today + timedelta(days=30)),
                  ends_on=fields.pop("ends_on", today + timedelta(days=32)), timezone=fields.pop("timezone", "UTC"),
                  **fields)
    event.organizers = list(organizers)
    db.session.add(event)
    db.session.flush()
    db.session.add(Agreement(event_id=event.id, version=1, text="Keep it in the room."))
    db.session.commit()
    return event


def make_candidate(event: Event, email: str, status: CandidateStatus = CandidateStatus.PROPOSED,
                   user: User | None = None, **fields) -> Candidate:
    name = fields.pop("name", email.split("@")[0].title())
    candidate = Candidate(event_id=event.id, email=email.lower(), name=name, status=status,
                          user_id=user.id if user else None, **fields)
    if status == CandidateStatus.WAITLISTED:
        candidate.waitlisted_at = fields.get("waitlisted_at") or utcnow()
    db.session.add(candidate)
    db.session.commit()
    return candidate


def sign_agreement(user: User, event: Event) -> None:
    agreement = db.session.scalar(
        sa.select(Agreement).where(Agreement.event_id == event.id).order_by(Agreement.version.desc()).limit(1)
    )
    db.session.add(AgreementAcceptance(agreement_id=agreement.id, user_id=user.id, typed_name=user.name,
                                       ip="127.0.0.1"))
    db.session.commit()


def make_participant(event: Event, email: str, status: CandidateStatus = CandidateStatus.ACCEPTED,
                     signed: bool = True) -> User:
    """A user linked to the event through the invite list, optionally with the agreement signed."""
    user = make_user(email)
    make_candidate(event, email, status, user=user)
    if signed:
        sign_agreement(user, event)
    return user


ROLES = ("anonymous", "stranger", "unsigned", "attendee", "other_organizer", "organizer", "admin")


def wipe_database() -> None:
    """Empty every table, as on a fresh instance the event is moved to."""
    db.session.remove()
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


# --- reading what a request did ---------------------------------------------------------------

@contextlib.contextmanager
def counting():
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def snapshot() -> dict[str, list]:
    """Every row of every table, so that 'changed nothing' means exactly that."""
    db.session.expire_all()
    with db.engine.connect() as connection:
        return {table.name: sorted((tuple(row) for row in connection.execute(table.select())), key=repr)
                for table in db.metadata.sorted_tables}


@contextmanager
def nothing_changes():
    before = snapshot()
    yield
    assert snapshot() == before, "a refused request changed the database"


def audit_actions(event: Event) -> list[tuple[str, str]]:
    return [(a, t) for a, t in db.session.execute(sa.select(AuditEntry.action, AuditEntry.target)
                                                  .where(AuditEntry.event_id == event.id).order_by(AuditEntry.id))]


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    attrs: dict
    text: str

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class _Finder(HTMLParser):
    def __init__(self, element_id: str):
        super().__init__(convert_charrefs=True)
        self.element_id, self.depth, self.found, self.parts = element_id, 0, None, []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += tag not in VOID
        elif dict(attrs).get("id") == self.element_id and self.found is None:
            self.found, self.depth = dict(attrs), 1

    def handle_endtag(self, tag):
        if self.depth and tag not in VOID:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def element(response, element_id: str) -> Element | None:
    """The element with this id on the page: its attributes and its text, spaces collapsed."""
    finder = _Finder(element_id)
    finder.feed(response.get_data(as_text=True))
    if finder.found is None:
        return None
    return Element(finder.found, " ".join("".join(finder.parts).split()))


def cell(response, room: Room, slot: Slot) -> Element:
    found = element(response, f"cell-{room.id}-{slot.id}")
    assert found is not None, f"no cell for {room.name} at slot {slot.id}"
    return found


CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]*"')


def denial_page(response) -> tuple[int, str]:
    # The sign-out button carries a CSRF token signed with the current time; it is per request,
    # not per object, so it is masked before two denials are compared.
    return response.status_code, CSRF_VALUE.sub('name="csrf_token" value=""', response.get_data(as_text=True))


def link_token(to_email: str, pattern: str) -> str:
    """The token from the last email delivered to ``to_email``: the database holds only its hash, and
    the outbox keeps the sent text without the link."""
    delivered = [m for m in current_app.extensions.get("mail_sent", []) if m["To"] == to_email]
    body = delivered[-1].get_body(("plain",)).get_content()
    return re.search(pattern + r"([\w-]+)", body).group(1)


def open_link(client, path: str) -> str:
    """Open an emailed link (``/auth/link/<token>``, ``/invitation/<token>``) as a browser does: the token
    moves into the session at once. Returns the token-free page the browser is sent on to."""
    response = client.get(path)
    assert response.status_code == 302, response.status_code
    assert response.headers["Referrer-Policy"] == "no-referrer"
    target = response.headers["Location"]
    assert path.rsplit("/", 1)[-1] not in target, "the token stayed in the URL"
    return target


def race(app, jobs: list) -> list[tuple[str, object]]:
    """Run every job in its own thread and app context, all released together by a barrier.

    Each job runs a service call and returns plain data; the thread commits. The result per job is
    ("ok", value), ("refused", message) for a DomainError, or ("error", repr) for anything else.
    """
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(index: int, job) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                value = job()
                db.session.commit()
                results[index] = ("ok", value)
            except DomainError as error:
                db.session.rollback()
                results[index] = ("refused", error.message)
            except Exception as error:  # recorded, so the test names the failure instead of hanging
                db.session.rollback()
                results[index] = ("error", repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck: a lock is never released"
    return results


def errors(results) -> list:
    return [value for outcome, value in results if outcome == "error"]


# --- talks, materials and the schedule -----------------------------------------------------------

def make_talk(event: Event, speaker: User, title: str = "Early results", tier: Tier = Tier.ATTENDEES,
              status: ProposalStatus = ProposalStatus.ACCEPTED, abstract: str = "", **fields) -> Proposal:
    """A talk with ``speaker`` as its one confirmed speaker, written straight to the database."""
    proposal = Proposal(event_id=event.id, title=title, abstract=abstract or f"About {title}.", tier=tier,
                        status=status, created_by_id=speaker.id, **fields)
    proposal.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
    db.session.add(proposal)
    db.session.commit()
    return proposal


def accepted_talk(event: Event, title: str, speakers: list[User], tier: Tier = Tier.ATTENDEES,
                  voters: list[User] = (), status: ProposalStatus = ProposalStatus.ACCEPTED) -> Proposal:
    proposal = Proposal(event_id=event.id, title=title, tier=tier, status=status)
    proposal.speakers = [ProposalSpeaker(user_id=s.id, is_lead=i == 0, confirmed=True) for i, s in enumerate(speakers)]
    db.session.add(proposal)
    db.session.flush()
    db.session.add_all([Vote(proposal_id=proposal.id, user_id=v.id) for v in voters])
    db.session.commit()
    return proposal


def proposed_and_accepted(speaker: User, organizer: User, event, title: str, cospeakers: str = "",
                  extra_terms: str = "") -> Proposal:
    """A talk of the attendees tier, proposed by ``speaker`` and accepted by ``organizer``."""
    data = proposals.ProposalData(title=title, abstract="Work in progress.", kind=ProposalKind.TALK,
                                  duration_minutes=30, tier=Tier.ATTENDEES, extra_terms=extra_terms)
    talk = proposals.submit(speaker, event, data, cospeakers)
    proposals.decide(organizer, talk, accept=True)
    db.session.commit()
    assert talk.status == ProposalStatus.ACCEPTED
    return talk


def make_pdf(text: str = "Secret slide", pages: int = 2) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for number in range(1, pages + 1):
        pdf.drawString(72, 720, f"{text} {number}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def attend(proposal: Proposal, *people) -> None:
    for person in people:
        db.session.add(Attendance(proposal_id=proposal.id, user_id=person.id))
    db.session.commit()


def add_material(proposal: Proposal) -> Material:
    material = Material(proposal_id=proposal.id, filename="slides.pdf", content_type="application/pdf", size=10,
                        sha256="0" * 64, storage_key=f"key-{proposal.public_id}-{'k' * 20}")
    db.session.add(material)
    db.session.commit()
    return material


def placement_of(proposal: Proposal) -> Placement | None:
    return db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))


def utc(event: Event, day: date, at: time) -> datetime:
    """A local wall-clock time of the event as the naive UTC the database stores."""
    moment = datetime.combine(day, at, tzinfo=ZoneInfo(event.timezone))
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


# --- the schedule editor's plan ---------------------------------------------------------------

TIMES = [time(9), time(10, 30), time(14), time(15, 30)]


@dataclass
class Plan:
    world: object
    event: Event
    hall: Room  # 100 seats, open door
    vault: Room  # 30 seats, closed door
    closet: Room  # 1 seat, open door
    day1: list[Slot]  # 09:00, 10:30, 14:00, 15:30 local
    day2: list[Slot]  # 09:00 local
    speakers: list[User] = field(default_factory=list)
    talks: list[Proposal] = field(default_factory=list)

    def url(self, path: str = "") -> str:
        return f"/e/{self.event.slug}/manage/schedule{path}"


# --- a published programme -------------------------------------------------------------------

class Programme:
    """An open event in Berlin's time zone with two rooms (a two-seat closed-door room and a hall) and
    two morning slots on its first day. Talks: ``small`` (session tier, 2 seats), ``hall`` (attendees
    tier), ``secret`` (restricted, only ``named`` may see it). All three are placed and released.

    People: the organizer, a speaker, three attendees, one named for the secret talk, an accepted person
    who has not signed the agreement, and a stranger.
    """

    def __init__(self, slug: str = "retreat", starts_on: date | None = None):
        self.organizer = make_user("org@example.org", "Olga Organizer")
        starts_on = starts_on or date.today() + timedelta(days=30)
        self.event = make_event(slug, organizers=[self.organizer], capacity=50, timezone="Europe/Berlin",
                                starts_on=starts_on, ends_on=starts_on + timedelta(days=1))
        self.speaker = make_participant(self.event, "speaker@example.org")
        self.speaker.name = "Quentin Quillfeather"
        self.attendees = [make_participant(self.event, f"a{i}@example.org") for i in range(3)]
        self.named = make_participant(self.event, "named@example.org")
        self.unsigned = make_participant(self.event, "unsigned@example.org", signed=False)
        self.stranger = make_user("stranger@example.org")
        db.session.commit()
        self.small_room = schedule.add_room(self.organizer, self.event, "Library", 2, True)
        self.hall = schedule.add_room(self.organizer, self.event, "Great Hall", 50, False)
        self.slots = schedule.add_slots(self.organizer, self.event, starts_on, [time(9, 0), time(10, 0)], 50)
        db.session.commit()
        self.small = make_talk(self.event, self.speaker, "Sparse probes for deceptive circuits", Tier.SESSION)
        self.hall_talk = make_talk(self.event, self.speaker, "Evaluations that bite", Tier.ATTENDEES)
        self.secret = make_talk(self.event, self.speaker, "Zanzibar weight exfiltration", Tier.RESTRICTED)
        db.session.add(ProposalAccess(proposal_id=self.secret.id, user_id=self.named.id))
        db.session.commit()
        self.place(self.small, self.small_room, self.slots[0])
        self.place(self.hall_talk, self.hall, self.slots[0])
        self.place(self.secret, self.small_room, self.slots[1])
        self.publish()

    @property
    def a(self) -> User:
        return self.attendees[0]

    def place(self, proposal: Proposal, room: Room, slot: Slot) -> None:
        # As an organizer who confirmed: a move of a session with sign-ups emails those signed up.
        schedule.place(self.organizer, proposal, room.id, slot.id, confirmed=True)
        db.session.commit()

    def publish(self) -> None:
        schedule.publish(self.organizer, self.event)
        db.session.commit()
        policy.forget_memo()

    def url(self, proposal: Proposal, action: str) -> str:
        return f"/e/{self.event.slug}/proposals/{proposal.public_id}/{action}"

    def more_attendees(self, n: int, prefix: str = "p") -> list[User]:
        people = [make_participant(self.event, f"{prefix}{i}@example.org") for i in range(n)]
        policy.forget_memo()
        return people


# --- calendar feeds ---------------------------------------------------------------------------

ZONE = "Europe/Berlin"
SATURDAY, SUNDAY, MONDAY = date(2030, 3, 30), date(2030, 3, 31), date(2030, 4, 1)

# Words that appear only in the restricted talk: none may reach a feed whose reader is not named.
SECRET_TITLE = "Quantum Ledger Internals"
SECRET_ABSTRACT = "An unannounced prototype that nobody outside the room knows about."
SECRET_SPEAKER = "Rosalind Restricto"


def make_speaker(event, email: str, name: str):
    user = make_user(email, name)
    make_candidate(event, email, CandidateStatus.ACCEPTED, user=user)
    sign_agreement(user, event)
    return user


def sign_up(user, proposal: Proposal, status: str = "confirmed") -> None:
    db.session.add(SignUp(proposal_id=proposal.id, user_id=user.id, status=status))
    db.session.commit()


def parse(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def vevents(body: bytes) -> list:
    return list(parse(body).walk("VEVENT"))


def by_summary(body: bytes) -> dict:
    return {str(e["SUMMARY"]): e for e in vevents(body)}


def fresh(fn, *args, **kwargs):
    """Call a feed builder as a new request would: without decisions cached earlier in the test."""
    policy.forget_memo()
    return fn(*args, **kwargs)


# --- the route matrix's scene ----------------------------------------------------------------

# The roles who may see the schedule, and so subscribe to its calendar.
SUBSCRIBERS = ("attendee", "organizer", "admin")
# The people a talk gives rights to, who are none of the roles: its speaker, and a co-speaker invited
# to it who has not answered yet. Their rows show that the 403s above refuse an action that exists.
TALK_PEOPLE = ("speaker", "cospeaker")
SPEAKER_EMAIL, COSPEAKER_EMAIL = "speaker@example.org", "cospeaker@example.org"


@dataclass
class Scene:
    """The world plus the objects the routes' URLs point at: all real, all of world.event.

    The talks, their people, the PDF and the schedule are made on first use: most routes need none of
    them, and they are the slowest part of a scene. Ask for them before a snapshot that must not see them made.
    """

    world: object
    candidate: Candidate  # proposed, on world.event's list
    other_candidate: Candidate  # on world.other_event's list
    co_organizer: User  # a second organizer of world.event, so one may be removed
    invitation_token: str
    login_token: str

    @cached_property
    def talk_people(self) -> tuple[User, User]:
        return tuple(signed_attendees(self.world.event, SPEAKER_EMAIL, COSPEAKER_EMAIL))

    @property
    def speaker(self) -> User:
        """An attendee who holds none of the roles: the confirmed speaker of both talks."""
        return self.talk_people[0]

    @property
    def cospeaker(self) -> User:
        """An attendee invited to co-speak on ``talk``, who has not answered."""
        return self.talk_people[1]

    @cached_property
    def talk(self) -> Proposal:
        """Accepted, of the attendees tier, without extra terms."""
        talk = proposed_and_accepted(self.speaker, self.world.organizer, self.world.event, "Early Results",
                             cospeakers=self.cospeaker.email)
        assert [s.confirmed for s in talk.speakers] == [True, False]
        return talk

    @cached_property
    def terms_talk(self) -> Proposal:
        """Accepted, of the attendees tier, with extra terms that nobody has accepted."""
        return proposed_and_accepted(self.speaker, self.world.organizer, self.world.event, "Unpublished Data",
                             extra_terms="Do not cite these figures before the paper is out.")

    @cached_property
    def widening_request(self):
        """The organizer's request to make ``talk`` public, waiting for its speaker's consent."""
        request = proposals.change_tier(self.world.organizer, self.talk, Tier.PUBLIC)
        db.session.commit()
        return request

    @cached_property
    def material(self) -> Material:
        """A PDF on ``talk``, uploaded by its speaker."""
        return upload_pdf(self.speaker, self.talk)

    @cached_property
    def room(self) -> Room:
        """An empty closed-door room of world.event."""
        room = schedule.add_room(self.world.organizer, self.world.event, "Annex", 20, True)
        db.session.commit()
        return room

    @cached_property
    def slot(self) -> Slot:
        """An empty slot of world.event, under way now: it began five minutes ago and lasts an hour.

        Sign-up, check-in and the room code read the real clock, so the event is made to begin on its day.
        """
        event = self.world.event
        start = (datetime.now(ZoneInfo(event.timezone)) - timedelta(minutes=5)).replace(second=0, microsecond=0)
        event.starts_on = start.date()
        [slot] = schedule.add_slots(self.world.organizer, event, start.date(), [start.time()], 60)
        db.session.commit()
        return slot

    @cached_property
    def later_slot(self) -> Slot:
        """An empty slot tomorrow at 10:00 in the event's zone: not started, so the auto-scheduler may use it."""
        event = self.world.event
        tomorrow = self.slot.starts_at.date() + timedelta(days=1)  # the event begins today (see ``slot``)
        [slot] = schedule.add_slots(self.world.organizer, event, tomorrow, [time(10)], 60)
        db.session.commit()
        return slot

    @cached_property
    def autoschedule_run(self) -> Job:
        """A finished auto-scheduler run (scope "unplaced") that puts ``talk`` in ``room`` at ``later_slot``:
        the slot under way takes nothing from the scheduler. The queue runs it as it is committed."""
        talk, room, _under_way, slot = self.talk, self.room, self.slot, self.later_slot
        job = autoschedule.start(self.world.organizer, self.world.event, "unplaced", 1, 0)
        db.session.commit()
        db.session.refresh(job)
        assert job.status == JobStatus.DONE, job.error
        assert job.result["placements"] == [[talk.id, room.id, slot.id, 1]]
        return job

    @cached_property
    def leak_trace(self) -> Job:
        """A finished trace of a leaked file (a blank image: it names nobody), handed in by the organizer."""
        job = materials.start_leak_trace(self.world.organizer, self.world.event, "leaked.png", io.BytesIO(blank_png()))
        db.session.commit()
        db.session.refresh(job)
        assert job.status == JobStatus.DONE, job.error
        return job

    @cached_property
    def queued_run(self) -> Job:
        """An auto-scheduler run no worker has taken yet (written straight to the table: nothing queues it)."""
        job = Job(kind=autoschedule.KIND, event_id=self.world.event.id, started_by_id=self.world.organizer.id,
                  params={"scope": "unplaced", "time_limit": 5, "seed": 0}, progress={})
        db.session.add(job)
        db.session.commit()
        return job

    @cached_property
    def placed_talk(self) -> Proposal:
        """``talk``, placed in ``room`` at ``slot``."""
        schedule.place(self.world.organizer, self.talk, self.room.id, self.slot.id)
        db.session.commit()
        return self.talk

    @cached_property
    def released_talk(self) -> Proposal:
        """``placed_talk``, published as the event's first release: attendees see it on the schedule."""
        talk = self.placed_talk
        release = schedule.publish(self.world.organizer, self.world.event)
        db.session.commit()
        assert [entry["proposal"] for entry in release.entries] == [talk.id]
        return talk

    @cached_property
    def seat(self) -> SignUp:
        """The attendee's seat in ``released_talk``."""
        seat = signups.sign_up(self.world.attendee, self.released_talk)
        db.session.commit()
        assert seat.status == signups.CONFIRMED
        return seat

    @cached_property
    def feed_links(self) -> dict[str, str]:
        """A secret calendar link for each role who may subscribe: role → token."""
        tokens = {role: calendar.reset_feed(self.world.users[role], self.world.event) for role in SUBSCRIBERS}
        db.session.commit()
        return tokens

    def close_public_page(self) -> None:
        self.world.event.public_page = False
        db.session.commit()

    def user(self, person: str) -> User | None:
        return getattr(self, person) if person in TALK_PEOPLE else self.world.users[person]


def signed_attendees(event, *emails: str) -> list[User]:
    """Accepted people who signed the current agreement, as ``make_participant`` makes them, in one commit."""
    agreement = db.session.scalar(sa.select(Agreement).where(Agreement.event_id == event.id)
                                  .order_by(Agreement.version.desc()).limit(1))
    users = [User(email=email, name=email.split("@")[0].title()) for email in emails]
    db.session.add_all(users)
    db.session.flush()
    for user in users:
        db.session.add(Candidate(event_id=event.id, email=user.email, name=user.name,
                                 status=CandidateStatus.ACCEPTED, user_id=user.id))
        db.session.add(AgreementAcceptance(agreement_id=agreement.id, user_id=user.id, typed_name=user.name,
                                           ip="127.0.0.1"))
    db.session.commit()
    return users


@cache
def pdf_bytes() -> bytes:
    return make_pdf("Scene slide")


@cache
def blank_png(side: int = 32) -> bytes:
    """A small white PNG: a leaked file that names nobody, read at once (the mark search over a whole
    unmarked page runs to its deadline: ``test_pdf_trace`` covers that)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (side, side), "white").save(out, "PNG")
    return out.getvalue()


def talk_form(**changes) -> dict:
    """A complete, valid proposal form; ``changes`` override single fields."""
    data = {"title": "A Second Look", "abstract": "What changed since last year.", "kind": "talk",
            "duration_minutes": "30", "tier": "attendees", "cospeakers": "", "extra_terms": ""}
    data.update(changes)
    return data


def event_form(event, **changes) -> dict:
    """A complete, valid event form for ``event``; ``changes`` override single fields."""
    data = {"title": event.title, "slug": event.slug, "kind": "workshop", "description": "", "venue": "",
            "timezone": "UTC", "starts_on": event.starts_on.isoformat(), "ends_on": event.ends_on.isoformat(),
            "capacity": str(event.capacity), "status": event.status.value}
    data.update(changes)
    return data


def keep_materials_in(monkeypatch, root) -> None:
    """Material bytes go to ``root`` for this test only."""
    monkeypatch.setitem(current_app.config, "MATERIALS_DIR", str(root))
    monkeypatch.setitem(current_app.config, "STORAGE_URL", "")


def upload_pdf(speaker: User, talk: Proposal, filename: str = "slides.pdf") -> Material:
    material = materials.store_upload(speaker, talk, filename, io.BytesIO(pdf_bytes()))
    db.session.commit()
    return material


def build_scene(world) -> Scene:
    """Its material needs somewhere to keep its bytes: call ``keep_materials_in`` first."""
    event = world.event
    event.public_page = True
    co_organizer = make_user("co-org@example.org", "Cora Co")
    event.organizers.append(co_organizer)
    db.session.commit()
    candidate = make_candidate(event, "proposed@example.org")
    other_candidate = make_candidate(world.other_event, "theirs@example.org", CandidateStatus.APPROVED)
    invitee = make_candidate(event, "invitee@example.org", CandidateStatus.APPROVED)
    invites.send_wave(world.organizer, event, [invitee])
    accounts.request_sign_in(world.stranger.email)
    db.session.commit()
    return Scene(world, candidate, other_candidate, co_organizer,
                 invitation_token=link_token("invitee@example.org", "/invitation/"),
                 login_token=link_token(world.stranger.email, "/auth/link/"))


# --- the browser ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class BrowserErrors:
    """Console errors (Chromium reports CSP violations there) and uncaught exceptions, with the page's URL."""

    page: object
    seen: list[str] = field(default_factory=list)
    refusals: list[int] = field(default_factory=list)  # statuses the next documents are expected to answer

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", self._exception)

    def expect_refusal(self, status: int) -> None:
        """The next document is answered ``status`` on purpose (a form shown again with its problems).

        Chromium reports a 4xx document in the console, at a moment of its own choosing (sometimes after the
        page has loaded): that one report is set aside whenever it comes, and nothing else is.
        """
        self.refusals.append(status)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        for status in self.refusals:
            if f"the server responded with a status of {status} (" in message.text:
                self.refusals.remove(status)
                return
        self.seen.append(f"console error on {self.page.url}: {message.text}")

    def _exception(self, error) -> None:
        self.seen.append(f"uncaught exception on {self.page.url}: {error}")

    def assert_none(self) -> None:
        self.page.wait_for_load_state("load")  # let the page's scripts run and report first
        assert not self.seen, "the browser reported errors:\n" + "\n".join(self.seen)


def sign_in(page, server, email: str, errors, shoot=None) -> None:
    """Sign in through the emailed link, as a person would (the browser tests' live server)."""
    from playwright.sync_api import expect

    page.goto("/auth/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    errors.assert_none()
    if shoot:
        shoot(page, "01-sign-in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.locator("main")).to_contain_text(email)
    errors.assert_none()
    if shoot:
        shoot(page, "02-check-email")

    link = server.outbox.link(server.outbox.newest(email), server.url, "/auth/link/")
    page.goto(link)
    expect(page.get_by_role("heading", name=f"Sign in as {email}")).to_be_visible()
    errors.assert_none()
    if shoot:
        shoot(page, "03-confirm-sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".flash")).to_have_text(f"Signed in as {email}.")
    expect(page.get_by_role("heading", name="My events")).to_be_visible()
    errors.assert_none()


def defer_tasks(app, monkeypatch, path) -> None:
    """Tasks wait in a SQLite queue file at ``path`` that no worker reads (the tests' queue runs them at
    once): what a request leaves for the worker can be seen before the worker does it."""
    monkeypatch.setitem(app.config, "TASK_QUEUE_URL", f"sqlite:///{path}")
    monkeypatch.setitem(app.extensions, tasks.EXTENSION, tasks.TaskQueue(app))


# --- the forms a page holds (the fuzz tests read them as a browser would) ------------------------

@dataclass
class PageForm:
    """One <form> of a page: where it goes, how, and what a browser would send untouched.

    ``fields`` maps each named control to the values a browser sends for it as the page stands (a
    checkbox not checked sends nothing, so it is listed with no value); ``kinds`` says what each is
    (text, select, checkbox, file, ...), and ``choices`` the options of a select or radio group.
    """

    action: str
    method: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    # Where buttons with a ``formaction`` of their own send the same fields.
    other_actions: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)

    def data(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.fields.items() if values}


class _FormReader(HTMLParser):
    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url, self.forms, self.current = page_url, [], None
        self.select, self.option, self.textarea = None, None, None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            action = a.get("action") or self.page_url
            self.current = PageForm(action=action, method=(a.get("method") or "get").upper())
            self.forms.append(self.current)
            return
        form = self.current
        if form is not None and tag in ("button", "input") and a.get("formaction"):
            form.other_actions.append(a["formaction"])
        if form is None or "name" not in a and tag != "option":
            return
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            name = a["name"]
            if kind in ("submit", "button", "image", "reset"):
                form.kinds.setdefault(name, "submit")
                form.choices.setdefault(name, []).append(a.get("value", ""))
                form.fields.setdefault(name, [])
                return
            form.kinds.setdefault(name, kind)
            values = form.fields.setdefault(name, [])
            if kind in ("checkbox", "radio"):
                form.choices.setdefault(name, []).append(a.get("value", "on"))
                if "checked" in a:
                    values.append(a.get("value", "on"))
            elif kind != "file":
                values.append(a.get("value", ""))
        elif tag == "button":
            name = a["name"]
            form.kinds.setdefault(name, "submit")
            form.choices.setdefault(name, []).append(a.get("value", ""))
            form.fields.setdefault(name, [])
        elif tag == "select":
            self.select = a["name"]
            form.kinds.setdefault(self.select, "select")
            form.fields.setdefault(self.select, [])
            form.choices.setdefault(self.select, [])
            self.select_multiple = "multiple" in a
        elif tag == "option" and self.select:
            value = a.get("value")
            self.option = [value, "selected" in a, ""]
        elif tag == "textarea":
            self.textarea = a["name"]
            form.kinds.setdefault(self.textarea, "textarea")
            form.fields.setdefault(self.textarea, []).append("")

    def handle_data(self, data):
        if self.option is not None:
            self.option[2] += data
        elif self.textarea is not None and self.current is not None:
            self.current.fields[self.textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "option" and self.option is not None:
            self._end_option()
        elif tag == "select" and self.select:
            if self.option is not None:
                self._end_option()
            form = self.current
            if not form.fields[self.select] and form.choices[self.select] and not self.select_multiple:
                form.fields[self.select] = [form.choices[self.select][0]]  # a browser sends the first option
            self.select = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.current = None

    def _end_option(self):
        value, selected, text = self.option
        value = text.strip() if value is None else value
        self.current.choices[self.select].append(value)
        if selected:
            self.current.fields[self.select].append(value)
        self.option = None


def forms_on(page_html: str, page_url: str) -> list[PageForm]:
    """Every form of a page, with the values a browser would send for it unchanged."""
    reader = _FormReader(page_url)
    reader.feed(page_html)
    return reader.forms
