"""CSRF protection on every state-changing route.

The rest of the suite runs with CSRF checks off so that it can post forms directly; here they
are on. Every POST route is tried as a role that is allowed to use it, so that the only reason
for a refusal is the missing token: it must answer 400 and leave every table as it was. The
same request with a token taken from a rendered page must then get the answer the route matrix
expects, which shows that the token, and nothing else, made the difference.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.conftest import login_as
from tests.views.test_route_matrix import (
    EXPECTED,
    Scene,
    build_scene,
    denial_page,
    expected_answers,
    keep_materials_in,
    post_data,
    url_of,
)
from workshop.extensions import db
from workshop.models import Candidate, User

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
# Whom to try each route as: the first of these people the matrix lets through (3xx before 2xx). The
# talk's own people come last: some routes are theirs alone.
PREFERENCE = ("organizer", "admin", "attendee", "unsigned", "anonymous", "speaker", "cospeaker")
POST_ROUTES = sorted(endpoint for endpoint, methods in EXPECTED.items() if "POST" in methods)
# Routes whose allowed answer writes nothing: the sign-in form tells a signed-in person they are signed
# in, signing out only clears the session, and an import's first step and the auto-scheduler's form only
# show a preview.
WRITE_NOTHING = {"auth.sign_in", "auth.sign_out", "invites.import_csv", "autoschedule.form"}
# Routes tried as someone further down the list: organizers hold no seat, so only the attendee has one to give up.
TRY_AS = {"sessions.cancel": "attendee"}


def allowed_role(endpoint: str) -> str:
    statuses = expected_answers(endpoint, "POST")
    people = (TRY_AS[endpoint],) if endpoint in TRY_AS else PREFERENCE
    for wanted in (range(300, 400), range(200, 300)):
        for role in people:
            if statuses.get(role) in wanted:
                return role
    raise AssertionError(f"no role may POST to {endpoint}")


def snapshot() -> dict[str, list]:
    """Every row of every table, so that 'changed nothing' means exactly that."""
    db.session.expire_all()
    with db.engine.connect() as connection:
        return {table.name: sorted((tuple(row) for row in connection.execute(table.select())), key=repr)
                for table in db.metadata.sorted_tables}


def csrf_token_from(response) -> str:
    match = TOKEN.search(response.get_data(as_text=True))
    assert match, "the page renders no CSRF token"
    return match.group(1) or match.group(2)


@pytest.fixture
def csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)


@pytest.fixture
def scene(world, tmp_path, monkeypatch) -> Scene:
    keep_materials_in(monkeypatch, tmp_path / "materials")
    return build_scene(world)


def test_every_post_route_has_someone_to_try_it(app):
    """The tests below cover every POST route there is, each as someone who may use it."""
    posts = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    assert set(POST_ROUTES) == posts
    assert all(allowed_role(endpoint) for endpoint in POST_ROUTES)


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_post_without_token_is_refused_and_changes_nothing(app, client, scene, csrf_on, endpoint):
    # The URL and form first: they may make the talk or the file they name, which the snapshot must include.
    url, data = url_of(app, endpoint, scene), post_data(endpoint, scene)
    login_as(client, scene.user(allowed_role(endpoint)))
    before = snapshot()

    response = client.post(url, data=data)

    assert response.status_code == 400
    assert "The CSRF token is missing." in response.get_data(as_text=True)
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_post_with_wrong_token_is_refused(app, client, scene, csrf_on, endpoint):
    url, data = url_of(app, endpoint, scene), post_data(endpoint, scene)
    login_as(client, scene.user(allowed_role(endpoint)))
    csrf_token_from(client.get("/auth/sign-in"))  # the session holds a real token; the form sends another
    before = snapshot()
    response = client.post(url, data={**data, "csrf_token": "forged"})
    assert response.status_code == 400
    assert "The CSRF token is invalid." in response.get_data(as_text=True)
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_post_with_token_from_a_page_gets_through(app, client, scene, csrf_on, endpoint):
    """The same request as above, with the token a rendered form carries, is answered as usual."""
    role = allowed_role(endpoint)
    url, data = url_of(app, endpoint, scene), post_data(endpoint, scene)
    login_as(client, scene.user(role))
    token = csrf_token_from(client.get("/auth/sign-in"))
    before = snapshot()
    response = client.post(url, data={**data, "csrf_token": token})
    assert response.status_code == expected_answers(endpoint, "POST")[role]
    if endpoint not in WRITE_NOTHING:
        assert snapshot() != before, "the request was let through but did nothing"


def test_organizer_adds_a_candidate_with_the_rendered_form(client, world, csrf_on):
    """The whole round trip a browser makes: load the form, keep its token, submit it."""
    login_as(client, world.organizer)
    page = client.get("/e/retreat/manage/invites/new")
    assert page.status_code == 200
    response = client.post("/e/retreat/manage/invites/new", data={
        "csrf_token": csrf_token_from(page), "email": "grace@example.org", "name": "Grace Hopper", "approved": "y"})
    assert response.status_code == 302
    added = db.session.scalar(sa.select(Candidate).where(Candidate.email == "grace@example.org"))
    assert added is not None and added.event_id == world.event.id


def test_token_from_another_session_is_refused(app, client, world, csrf_on):
    """A token lifted from someone else's page is useless in this session."""
    other = app.test_client()
    login_as(other, world.admin)
    foreign = csrf_token_from(other.get("/admin/users"))
    login_as(client, world.admin)
    response = client.post("/admin/users", data={"csrf_token": foreign, "email": "lifted@example.org"})
    assert response.status_code == 400
    assert db.session.scalar(sa.select(User).where(User.email == "lifted@example.org")) is None


def test_token_refusal_tells_nothing_about_the_event(client, world, csrf_on):
    """Without a token a stranger gets the same answer for a hidden event and a missing one."""
    login_as(client, world.stranger)
    hidden = client.post(f"/e/{world.event.slug}/manage/invites/new", data={"email": "x@example.org"})
    missing = client.post("/e/no-such-event/manage/invites/new", data={"email": "x@example.org"})
    assert hidden.status_code == 400
    assert denial_page(hidden) == denial_page(missing)
