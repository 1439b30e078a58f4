"""Every route, requested as every role, against one table of expected answers.

The table is the product's access rules written down once. A route added without a row
fails ``test_every_route_has_a_row``, so no page ships without someone deciding who sees it.
Denials follow one rule: 404 when the person may not know the object exists, 403 when they
know it and the action is forbidden; pages that need only a signed-in person send anonymous
visitors to the sign-in page. A talk's own people (its speaker, an invited co-speaker) hold none
of the roles; their answers are in a second table, so that every action refused to the roles is
also shown to work for someone.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, cached_property
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import current_app, url_for

from tests.conftest import ROLES, login_as, make_candidate, make_participant, make_user
from tests.materials.conftest import make_pdf
from workshop.extensions import db
from workshop.models import (
    Agreement,
    AgreementAcceptance,
    Candidate,
    CandidateStatus,
    Material,
    OutboxMessage,
    Proposal,
    ProposalKind,
    ProposalStatus,
    Tier,
    User,
    public_id,
)
from workshop.services import accounts, invites, materials, proposals

LOGIN = "sign-in"  # 302 to /auth/sign-in: the page exists for anyone who signs in


def by_role(anonymous, stranger, unsigned, attendee, other_organizer, organizer, admin) -> dict:
    return dict(zip(ROLES, (anonymous, stranger, unsigned, attendee, other_organizer, organizer, admin)))


def everyone(status) -> dict:
    return by_role(*[status] * len(ROLES))


# Instance administration: invisible (404) to everyone but admins, anonymous included.
ADMIN_PAGE = by_role(404, 404, 404, 404, 404, 404, 200)
ADMIN_ACTION = by_role(404, 404, 404, 404, 404, 404, 302)
# Organizers' pages: people who may not know the event get 404; participants know it, so 403.
MANAGE_PAGE = by_role(404, 404, 403, 403, 404, 200, 200)
MANAGE_ACTION = by_role(404, 404, 403, 403, 404, 302, 302)
# Past the landing page: the signed agreement is needed (403 for the accepted, unsigned person).
CONTENT_PAGE = by_role(404, 404, 403, 200, 404, 200, 200)
# Signed-in pages that concern only the person themself.
ACCOUNT_PAGE = by_role(LOGIN, 200, 200, 200, 200, 200, 200)
ACCOUNT_ACTION = by_role(LOGIN, 302, 302, 302, 302, 302, 302)
# The scene's talk: accepted, attendees tier, by a speaker who holds none of the roles above. Seeing it
# needs the signed agreement (an unsigned attendee may not know it exists); organizers see every talk.
TALK_PAGE = by_role(404, 404, 404, 200, 404, 200, 200)
# Only the talk's confirmed speakers act on it (SPEAKERS below shows that they can); everyone else who
# sees the talk is refused.
SPEAKERS_ONLY = by_role(404, 404, 404, 403, 404, 403, 403)
# Organizers review, decide and take attendance; attendees see the talk but may not.
TALK_MANAGE_PAGE = by_role(404, 404, 404, 403, 404, 200, 200)
TALK_MANAGE_ACTION = by_role(404, 404, 404, 403, 404, 302, 302)

EXPECTED: dict[str, dict[str, dict]] = {
    "main.home": {"GET": everyone(200)},
    "main.health": {"GET": everyone(200)},
    "auth.sign_in": {"GET": everyone(200), "POST": everyone(200)},  # "check your email", whoever asks
    "auth.redeem_link": {"GET": everyone(200), "POST": everyone(302)},  # the token, not the session, decides
    "auth.sign_out": {"POST": everyone(302)},
    "auth.account": {"GET": ACCOUNT_PAGE, "POST": ACCOUNT_ACTION},
    "auth.sign_out_everywhere": {"POST": ACCOUNT_ACTION},
    "admin.index": {"GET": ADMIN_PAGE},
    "admin.new_event": {"GET": ADMIN_PAGE, "POST": ADMIN_ACTION},
    "admin.users": {"GET": ADMIN_PAGE, "POST": ADMIN_ACTION},
    "admin.user_action": {"POST": ADMIN_ACTION},
    "events.landing": {"GET": by_role(404, 404, 200, 200, 404, 200, 200)},
    # The public page exists once the event enables it; then anyone may read it.
    "events.public": {"GET": everyone(200)},
    # Organizers read the agreement they publish but have no seat to sign it with. The attendee
    # has signed already: the page says so and records nothing new.
    # An attendee has signed already: signing again is refused and records nothing.
    "events.agreement": {"GET": by_role(404, 404, 200, 200, 404, 200, 200),
                         "POST": by_role(404, 404, 302, 400, 404, 403, 403)},
    "events.people": {"GET": CONTENT_PAGE},
    # Nominating is vouching as an attendee; organizers add people directly instead.
    "events.nominate": {"GET": by_role(404, 404, 403, 200, 404, 403, 403),
                        "POST": by_role(404, 404, 403, 302, 404, 403, 403)},
    "events.withdraw": {"POST": by_role(404, 404, 302, 302, 404, 403, 403)},
    # An invitation is for its addressee: anyone else signed in is asked to sign out first.
    "invitation.answer": {"GET": by_role(200, 409, 409, 409, 409, 409, 409),
                          "POST": by_role(302, 409, 409, 409, 409, 409, 409)},
    "manage.dashboard": {"GET": MANAGE_PAGE},
    "manage.settings": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    # Organizers see who runs the event with them; only admins change that.
    "manage.organizers": {"GET": MANAGE_PAGE, "POST": by_role(404, 404, 403, 403, 404, 403, 302)},
    "manage.remove_organizer": {"POST": by_role(404, 404, 403, 403, 404, 403, 302)},
    "manage.agreement": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "manage.audit_log": {"GET": MANAGE_PAGE},
    "invites.index": {"GET": MANAGE_PAGE},
    "invites.bulk": {"POST": MANAGE_ACTION},
    "invites.add": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    # POST shows the preview; nothing is imported until it is confirmed.
    "invites.import_csv": {"GET": MANAGE_PAGE, "POST": MANAGE_PAGE},
    "invites.export": {"GET": MANAGE_PAGE},
    "invites.detail": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "proposals.index": {"GET": CONTENT_PAGE},
    # Attendees who signed propose; organizers run the event and do not propose to it.
    "proposals.new": {"GET": by_role(404, 404, 403, 200, 404, 403, 403),
                      "POST": by_role(404, 404, 403, 302, 404, 403, 403)},
    "proposals.detail": {"GET": TALK_PAGE},
    "proposals.edit": {"GET": SPEAKERS_ONLY, "POST": SPEAKERS_ONLY},
    # Organizers may raise the tier (the form raises it to restricted); attendees may not touch it.
    "proposals.tier": {"GET": TALK_MANAGE_PAGE, "POST": TALK_MANAGE_ACTION},
    "proposals.access": {"GET": SPEAKERS_ONLY, "POST": SPEAKERS_ONLY},
    "proposals.withdraw": {"POST": SPEAKERS_ONLY},
    # Only an invited co-speaker answers; none of the roles is one.
    "proposals.cospeaking": {"POST": SPEAKERS_ONLY},
    # Attendees mark the talks they want to attend; organizers do not vote.
    "proposals.vote": {"POST": by_role(404, 404, 404, 302, 404, 403, 403)},
    "proposals.decide": {"POST": TALK_MANAGE_ACTION},
    "proposals.attendance": {"GET": TALK_MANAGE_PAGE, "POST": TALK_MANAGE_ACTION},
    # Asked of the scene's second talk, the one with extra terms: whoever sees it may accept them.
    "proposals.terms": {"GET": TALK_PAGE, "POST": by_role(404, 404, 404, 302, 404, 302, 302)},
    "proposals.export": {"GET": MANAGE_PAGE},
    "materials.upload": {"POST": SPEAKERS_ONLY},
    "materials.delete": {"POST": SPEAKERS_ONLY},
    # Speakers and organizers see who opened a talk's materials.
    "materials.log": {"GET": TALK_MANAGE_PAGE},
    "materials.download": {"GET": by_role(404, 404, 404, 200, 404, 200, 200)},
    "materials.trace": {"GET": MANAGE_PAGE},
}

# The people a talk gives rights to, who are none of the roles: its speaker, and a co-speaker invited
# to it who has not answered yet. Their rows show that the 403s above refuse an action that exists.
TALK_PEOPLE = ("speaker", "cospeaker")
SPEAKERS: dict[str, dict[str, dict]] = {
    "proposals.index": {"GET": {"speaker": 200}},
    "proposals.new": {"GET": {"speaker": 200}, "POST": {"speaker": 302}},
    "proposals.detail": {"GET": {"speaker": 200, "cospeaker": 200}},
    "proposals.edit": {"GET": {"speaker": 200, "cospeaker": 403}, "POST": {"speaker": 302, "cospeaker": 403}},
    "proposals.tier": {"GET": {"speaker": 200}, "POST": {"speaker": 302, "cospeaker": 403}},
    "proposals.access": {"GET": {"speaker": 200}, "POST": {"speaker": 302, "cospeaker": 403}},
    "proposals.withdraw": {"POST": {"speaker": 302, "cospeaker": 403}},
    "proposals.cospeaking": {"POST": {"speaker": 403, "cospeaker": 302}},
    # Nobody votes on a talk they speak at, nor on one they are asked to join.
    "proposals.vote": {"POST": {"speaker": 403, "cospeaker": 403}},
    "proposals.decide": {"POST": {"speaker": 403}},
    "proposals.attendance": {"GET": {"speaker": 403}, "POST": {"speaker": 403}},
    "proposals.export": {"GET": {"speaker": 403}},
    "materials.upload": {"POST": {"speaker": 302, "cospeaker": 403}},
    "materials.delete": {"POST": {"speaker": 302, "cospeaker": 403}},
    "materials.log": {"GET": {"speaker": 200, "cospeaker": 403}},
    "materials.download": {"GET": {"speaker": 200}},
    "materials.trace": {"GET": {"speaker": 403}},
}


def expected_answers(endpoint: str, method: str) -> dict:
    """Every person's expected answer: the roles' row and the talk's people, where they have one."""
    return {**EXPECTED[endpoint][method], **SPEAKERS.get(endpoint, {}).get(method, {})}


CASES = [(endpoint, method, role) for endpoint, methods in EXPECTED.items()
         for method, statuses in methods.items() for role in ROLES]
SPEAKER_CASES = [(endpoint, method, person) for endpoint, methods in SPEAKERS.items()
                 for method, statuses in methods.items() for person in statuses]


SPEAKER_EMAIL, COSPEAKER_EMAIL = "speaker@example.org", "cospeaker@example.org"


@dataclass
class Scene:
    """The world plus the objects the routes' URLs point at: all real, all of world.event.

    The talks, their people and the PDF are made on first use: most routes need none of them, and
    they are the slowest part of a scene. Ask for them before a snapshot that must not see them made.
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
        talk = accepted_talk(self.speaker, self.world.organizer, self.world.event, "Early Results",
                             cospeakers=self.cospeaker.email)
        assert [s.confirmed for s in talk.speakers] == [True, False]
        return talk

    @cached_property
    def terms_talk(self) -> Proposal:
        """Accepted, of the attendees tier, with extra terms that nobody has accepted."""
        return accepted_talk(self.speaker, self.world.organizer, self.world.event, "Unpublished Data",
                             extra_terms="Do not cite these figures before the paper is out.")

    @cached_property
    def material(self) -> Material:
        """A PDF on ``talk``, uploaded by its speaker."""
        return upload_pdf(self.speaker, self.talk)

    def user(self, person: str) -> User | None:
        return getattr(self, person) if person in TALK_PEOPLE else self.world.users[person]


def link_token(to_email: str, pattern: str) -> str:
    """The token from the last email to ``to_email``; only its hash is in the database."""
    body = db.session.scalars(
        sa.select(OutboxMessage.body_text).where(OutboxMessage.to_email == to_email).order_by(OutboxMessage.id.desc())
    ).first()
    return re.search(pattern + r"([\w-]+)", body).group(1)


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


def talk_form(**changes) -> dict:
    """A complete, valid proposal form; ``changes`` override single fields."""
    data = {"title": "A Second Look", "abstract": "What changed since last year.", "kind": "talk",
            "duration_minutes": "30", "tier": "attendees", "cospeakers": "", "extra_terms": ""}
    data.update(changes)
    return data


def keep_materials_in(monkeypatch, root) -> None:
    """Material bytes go to ``root`` for this test only."""
    monkeypatch.setitem(current_app.config, "MATERIALS_DIR", str(root))
    monkeypatch.setitem(current_app.config, "STORAGE_URL", "")


def accepted_talk(speaker: User, organizer: User, event, title: str, cospeakers: str = "",
                  extra_terms: str = "") -> Proposal:
    """A talk of the attendees tier, proposed by ``speaker`` and accepted by ``organizer``."""
    data = proposals.ProposalData(title=title, abstract="Work in progress.", kind=ProposalKind.TALK,
                                  duration_minutes=30, tier=Tier.ATTENDEES, extra_terms=extra_terms)
    talk = proposals.submit(speaker, event, data, cospeakers)
    proposals.decide(organizer, talk, accept=True)
    db.session.commit()
    assert talk.status == ProposalStatus.ACCEPTED
    return talk


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


@pytest.fixture
def scene(world, tmp_path, monkeypatch) -> Scene:
    keep_materials_in(monkeypatch, tmp_path / "materials")
    return build_scene(world)


def url_of(app, endpoint: str, scene: Scene) -> str:
    """The route's URL with every argument filled from the scene (making only the objects it names)."""
    talk = (lambda: scene.terms_talk) if endpoint == "proposals.terms" else (lambda: scene.talk)
    values = {
        "slug": lambda: scene.world.event.slug,
        "candidate_id": lambda: scene.candidate.id,
        "user_id": lambda: scene.world.stranger.id if endpoint == "admin.user_action" else scene.co_organizer.id,
        "action": lambda: "disable",
        "token": lambda: scene.invitation_token if endpoint == "invitation.answer" else scene.login_token,
        "public_id": lambda: talk().public_id,
        "material_public_id": lambda: scene.material.public_id,
    }
    [rule] = app.url_map.iter_rules(endpoint)
    arguments = {name: values[name]() for name in rule.arguments}
    with app.test_request_context():
        return url_for(endpoint, **arguments)


def event_form(event, **changes) -> dict:
    """A complete, valid event form for ``event``; ``changes`` override single fields."""
    data = {"title": event.title, "slug": event.slug, "kind": "workshop", "description": "", "venue": "",
            "timezone": "UTC", "starts_on": event.starts_on.isoformat(), "ends_on": event.ends_on.isoformat(),
            "capacity": str(event.capacity), "status": event.status.value}
    data.update(changes)
    return data


def post_data(endpoint: str, scene: Scene) -> dict:
    """A valid form for each POST route, so that a 2xx/3xx means the action really ran."""
    soon = date.today() + timedelta(days=60)
    forms = {
        "auth.sign_in": {"email": "stranger@example.org"},
        "auth.account": {"name": "A New Name"},
        "admin.new_event": {"title": "Second Retreat", "slug": "second-retreat", "kind": "workshop",
                            "timezone": "UTC", "starts_on": soon.isoformat(), "ends_on": soon.isoformat(),
                            "capacity": "12", "organizers": "org@example.org"},
        "admin.users": {"email": "newcomer@example.org", "name": "New Comer"},
        "events.agreement": {"typed_name": "Una Signed", "agree": "y"},
        "events.nominate": {"email": "friend@example.org", "name": "Fran Friend",
                            "note": "I have reviewed their work for years; careful and discreet."},
        "invitation.answer": {"answer": "accept"},
        "manage.settings": event_form(scene.world.event, title="The Retreat, renamed"),
        "manage.organizers": {"email": "new-org@example.org"},
        "manage.agreement": {"text": "Version two: keep it in the room, and out of your notes."},
        "invites.bulk": {"action": "approve", "ids": [str(scene.candidate.id)]},
        "invites.add": {"email": "added@example.org", "name": "Ada Added", "approved": "y"},
        "invites.import_csv": {"stage": "upload", "text": "email,name\nimported@example.org,Imo Ported\n"},
        "invites.detail": {"name": "Pat Proposed", "affiliation": "Somewhere", "notes": "Met at the lab."},
        "proposals.new": talk_form(),
        "proposals.edit": talk_form(title="Early Results, Revised", duration_minutes="45", cospeakers=COSPEAKER_EMAIL),
        "proposals.tier": {"tier": "restricted"},
        "proposals.access": {"named": "attendee@example.org", "excluded": "rival.example"},
        "proposals.cospeaking": {"answer": "accept"},
        "proposals.decide": {"decision": "reject", "note": "Not this time."},
        "proposals.attendance": {"email": "attendee@example.org"},
        "proposals.terms": {"agree": "y"},
        # A fresh stream for every request: a read one would upload nothing.
        "materials.upload": {"file": (io.BytesIO(pdf_bytes()), "more-slides.pdf")},
    }
    return forms.get(endpoint, {})


def request_as(client, method: str, url: str, data: dict):
    return client.get(url) if method == "GET" else client.post(url, data=data)


def test_every_route_has_a_row(app):
    """A new route, or a new method on an old one, must be given its expected answers first."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            routes.setdefault(rule.endpoint, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    assert set(routes) == set(EXPECTED)
    assert {e: set(m) for e, m in EXPECTED.items()} == routes
    assert all(set(statuses) == set(ROLES) for methods in EXPECTED.values() for statuses in methods.values())
    assert all(method in routes.get(endpoint, ()) and set(people) <= set(TALK_PEOPLE)
               for endpoint, methods in SPEAKERS.items() for method, people in methods.items())


def assert_answer(response, expected) -> None:
    if expected == LOGIN:
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        assert urlsplit(response.headers["Location"]).path == "/auth/sign-in"
    else:
        assert response.status_code == expected, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize(("endpoint", "method", "person"), SPEAKER_CASES)
def test_route_answers_the_talks_people(app, client, scene, endpoint, method, person):
    login_as(client, scene.user(person))
    response = request_as(client, method, url_of(app, endpoint, scene), post_data(endpoint, scene))
    assert_answer(response, SPEAKERS[endpoint][method][person])


@pytest.mark.parametrize(("endpoint", "method", "role"), CASES)
def test_route_answers_each_role(app, client, scene, endpoint, method, role):
    login_as(client, scene.world.users[role])
    response = request_as(client, method, url_of(app, endpoint, scene), post_data(endpoint, scene))
    assert_answer(response, EXPECTED[endpoint][method][role])


def test_public_page_is_absent_until_enabled(client, world):
    """Without a public page there is nothing to show, to anyone, organizers included."""
    assert not world.event.public_page
    for role in ROLES:
        login_as(client, world.users[role])
        assert client.get(f"/e/{world.event.slug}/public").status_code == 404, role


# --- no object is reachable by a guessed id ---------------------------------------------------


@pytest.mark.parametrize("role", ["other_organizer", "admin"])
def test_candidate_ids_do_not_cross_events(client, scene, role):
    """world.event's candidates, asked for through world.other_event's slug, do not exist there."""
    world, candidate = scene.world, scene.candidate
    login_as(client, world.users[role])
    base = f"/e/{world.other_event.slug}/manage/invites"
    assert client.get(f"{base}/{candidate.id}").status_code == 404
    response = client.post(f"{base}/{candidate.id}", data={"name": "Hijacked", "notes": "seen"})
    assert response.status_code == 404
    client.post(f"{base}/bulk", data={"action": "revoke", "ids": [str(candidate.id)]})
    db.session.refresh(candidate)
    assert (candidate.name, candidate.notes, candidate.status) == ("Proposed", "", CandidateStatus.PROPOSED)


def test_organizer_ids_do_not_cross_events(client, scene):
    """Removing world.event's organizer through world.other_event's slug finds no such organizer."""
    world = scene.world
    login_as(client, world.admin)
    response = client.post(f"/e/{world.other_event.slug}/manage/organizers/{scene.co_organizer.id}/remove")
    assert response.status_code == 404
    db.session.refresh(world.event)
    assert scene.co_organizer in world.event.organizers


# --- a denial tells nothing about what exists -------------------------------------------------

CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]*"')


def denial_page(response) -> tuple[int, str]:
    # The sign-out button carries a CSRF token signed with the current time; it is per request,
    # not per object, so it is masked before two denials are compared.
    return response.status_code, CSRF_VALUE.sub('name="csrf_token" value=""', response.get_data(as_text=True))


HIDDEN_PATHS = [
    "/e/{slug}/",
    "/e/{slug}/agreement",
    "/e/{slug}/people",
    "/e/{slug}/nominate",
    "/e/{slug}/public",
    "/e/{slug}/manage/",
    "/e/{slug}/manage/settings",
    "/e/{slug}/manage/invites/",
    "/e/{slug}/manage/invites/{candidate_id}",
    "/e/{slug}/manage/invites/export.csv",
]


@pytest.mark.parametrize("role", ["anonymous", "stranger", "other_organizer"])
@pytest.mark.parametrize("path", HIDDEN_PATHS)
def test_hidden_event_looks_like_no_event(client, world, role, path):
    """Without a public page, nothing under the event's slug differs from a slug nobody uses."""
    candidate = make_candidate(world.event, "hidden@example.org")
    login_as(client, world.users[role])
    hidden = client.get(path.format(slug=world.event.slug, candidate_id=candidate.id))
    missing = client.get(path.format(slug="no-such-event", candidate_id=candidate.id))
    assert hidden.status_code == 404
    assert denial_page(hidden) == denial_page(missing)


def test_hidden_event_posts_look_like_no_event(client, scene):
    """A stranger's write to a hidden event is refused exactly as one to a missing event."""
    login_as(client, scene.world.stranger)
    data = post_data("invites.add", scene)
    hidden = client.post(f"/e/{scene.world.event.slug}/manage/invites/new", data=data)
    missing = client.post("/e/no-such-event/manage/invites/new", data=data)
    assert hidden.status_code == 404
    assert denial_page(hidden) == denial_page(missing)


def test_other_events_candidate_looks_like_no_candidate(client, scene):
    """An organizer guessing an id on another event's list learns nothing from the answer."""
    world = scene.world
    login_as(client, world.organizer)
    base = f"/e/{world.event.slug}/manage/invites"
    hidden = client.get(f"{base}/{scene.other_candidate.id}")
    missing_id = db.session.scalar(sa.select(sa.func.max(Candidate.id))) + 1000
    missing = client.get(f"{base}/{missing_id}")
    assert hidden.status_code == 404
    assert denial_page(hidden) == denial_page(missing)


@pytest.mark.parametrize("role", ["anonymous", "stranger", "organizer"])
def test_admin_pages_look_like_no_pages(client, world, role):
    login_as(client, world.users[role])
    existing, missing = client.get("/admin/users"), client.get("/admin/no-such-page")
    assert existing.status_code == 404
    assert denial_page(existing) == denial_page(missing)


# --- talks and their materials: hidden ones look like missing ones ---------------------------


def talk_url(talk: Proposal) -> str:
    return f"/e/{talk.event.slug}/proposals/{talk.public_id}"


def missing_talk_url(scene: Scene) -> str:
    return f"/e/{scene.world.event.slug}/proposals/{public_id()}"


def assert_looks_missing(client, hidden_url: str, missing_url: str) -> None:
    hidden, missing = client.get(hidden_url), client.get(missing_url)
    assert hidden.status_code == 404
    assert denial_page(hidden) == denial_page(missing)


def test_restricted_talk_looks_like_no_talk_to_people_not_named(client, scene):
    """A restricted talk is, to an attendee not on its named list, a talk that does not exist."""
    world, talk = scene.world, scene.talk
    material = scene.material
    named = make_participant(world.event, "named@example.org")
    proposals.change_tier(scene.speaker, talk, Tier.RESTRICTED)
    proposals.set_access(scene.speaker, talk, named.email, "")
    db.session.commit()

    login_as(client, named)
    assert client.get(talk_url(talk)).status_code == 200
    assert talk.title in client.get(f"/e/{world.event.slug}/proposals/").get_data(as_text=True)
    assert client.get(f"/m/{material.public_id}").status_code == 200

    login_as(client, world.attendee)
    assert_looks_missing(client, talk_url(talk), missing_talk_url(scene))
    assert_looks_missing(client, f"/m/{material.public_id}", f"/m/{public_id()}")
    assert talk.title not in client.get(f"/e/{world.event.slug}/proposals/").get_data(as_text=True)
    assert client.post(f"{talk_url(talk)}/vote").status_code == 404


@pytest.mark.parametrize("exclusion", ["ada@cs.lab.example", "lab.example", "@cs.lab.example"])
def test_excluded_attendee_finds_no_talk_and_no_material(client, scene, exclusion):
    """An exclusion, of the person or of their email domain, hides the talk and its file entirely."""
    world, talk = scene.world, scene.talk
    material = scene.material
    ada = make_participant(world.event, "ada@cs.lab.example")
    login_as(client, ada)
    assert client.get(talk_url(talk)).status_code == 200
    assert client.get(f"/m/{material.public_id}").status_code == 200

    proposals.set_access(scene.speaker, talk, "", exclusion)
    db.session.commit()
    assert_looks_missing(client, talk_url(talk), missing_talk_url(scene))
    assert_looks_missing(client, f"/m/{material.public_id}", f"/m/{public_id()}")
    assert talk.title not in client.get(f"/e/{world.event.slug}/proposals/").get_data(as_text=True)
    # Other attendees are not touched by it.
    login_as(client, world.attendee)
    assert client.get(talk_url(talk)).status_code == 200


@pytest.fixture
def their_material(scene) -> Material:
    """A PDF on an accepted talk of world.other_event, which none of world.event's people attend."""
    world = scene.world
    theirs = make_participant(world.other_event, "their-speaker@example.org")
    talk = accepted_talk(theirs, world.other_organizer, world.other_event, "Their Own Results")
    return upload_pdf(theirs, talk, "their-slides.pdf")


def test_material_id_from_another_event_finds_nothing(client, scene, their_material):
    """Another event's material id, guessed or leaked, opens nothing: not as a download, nor through
    one of this event's talks, whoever asks."""
    world, talk = scene.world, scene.talk
    ours = f"{talk_url(talk)}/materials"
    missing = public_id()

    login_as(client, world.attendee)
    assert_looks_missing(client, f"/m/{their_material.public_id}", f"/m/{missing}")
    login_as(client, world.organizer)
    assert_looks_missing(client, f"{ours}/{their_material.public_id}/log", f"{ours}/{missing}/log")
    assert_looks_missing(client, f"/e/{world.event.slug}/proposals/{their_material.proposal.public_id}",
                         missing_talk_url(scene))

    login_as(client, scene.speaker)
    every_material = sa.select(Material.__table__).order_by(Material.id)
    before = db.session.execute(every_material).all()
    assert client.post(f"{ours}/{their_material.public_id}/delete").status_code == 404
    assert client.get(f"/m/{their_material.public_id}").status_code == 404
    assert db.session.execute(every_material).all() == before
    login_as(client, world.other_organizer)
    assert client.get(f"/m/{their_material.public_id}").status_code == 200  # it exists, for its own event


def test_excluded_organizer_finds_no_talk_where_others_review_it(client, scene):
    """An exclusion beats the organizer's role: the talk, its file and its row in the export are gone
    for them, while the event's other organizers still review it."""
    world, talk = scene.world, scene.talk
    material = scene.material
    proposals.set_access(scene.speaker, talk, "", world.organizer.email)
    db.session.commit()
    export = f"/e/{world.event.slug}/proposals/export.csv"

    login_as(client, world.organizer)
    assert_looks_missing(client, talk_url(talk), missing_talk_url(scene))
    assert_looks_missing(client, f"/m/{material.public_id}", f"/m/{public_id()}")
    assert_looks_missing(client, f"{talk_url(talk)}/attendance", f"{missing_talk_url(scene)}/attendance")
    assert client.post(f"{talk_url(talk)}/decide", data={"decision": "reject"}).status_code == 404
    assert talk.title not in client.get(export).get_data(as_text=True)

    login_as(client, scene.co_organizer)
    assert client.get(talk_url(talk)).status_code == 200
    assert talk.title in client.get(export).get_data(as_text=True)
    db.session.refresh(talk)
    assert talk.status == ProposalStatus.ACCEPTED
