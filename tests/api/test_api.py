"""The read-only API: personal access tokens (shown once, hashed at rest, revocable, last use shown), answers
that hold exactly what the policy lets the token's owner see, 401 without a valid token, 404 for what the
owner may not see, a rate limit, flat query counts, and schemathesis run against the OpenAPI document."""

from __future__ import annotations

import re

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate as validate_openapi

from tests.helpers import Programme, counting, login_as, make_candidate, make_event, make_talk, text_of
from workshop import policy
from workshop.api import openapi
from workshop.extensions import db
from workshop.models import ApiToken, Candidate, CandidateStatus, Proposal, Tier
from workshop.services import api_tokens, invites, proposals, signups

TOKEN_IN_PAGE = re.compile(r'id="api-token" value="(cnc_[\w-]+)"')


@pytest.fixture
def programme(ctx, app, monkeypatch) -> Programme:
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per minute")
    return Programme()


def token_for(user) -> str:
    _token, raw = api_tokens.create_token(user, "test")
    db.session.commit()
    return raw


def get(client, url: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, headers=headers)


def json_of(client, url: str, token: str, status: int = 200) -> dict:
    response = get(client, url, token)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    return response.get_json()


# --- tokens ---------------------------------------------------------------------------------


def test_a_token_is_made_shown_once_used_and_revoked_on_the_account_page(client, programme):
    login_as(client, programme.a)
    account = text_of(client.get("/account"))
    assert "API tokens" in account and "You have no tokens." in account

    made = client.post("/account/api-tokens", data={"name": "My phone"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "private, no-store"
    raw = TOKEN_IN_PAGE.search(made.get_data(as_text=True)).group(1)
    row = db.session.scalar(sa.select(ApiToken))
    assert (row.name, row.hint, row.last_used_at) == ("My phone", raw[-4:], None)
    for table in db.metadata.sorted_tables:  # only its hash is kept
        for stored in db.session.execute(sa.select(table)).all():
            assert raw not in repr(tuple(stored)), table.name
    account = text_of(client.get("/account"))
    assert "My phone" in account and "never used" in account and raw not in account

    login_as(client, None)
    assert json_of(client, "/api/v1/me", raw) == {"email": programme.a.email, "name": programme.a.display_name}
    db.session.refresh(row)
    assert row.last_used_at is not None
    login_as(client, programme.a)
    assert "last used" in text_of(client.get("/account"))

    # Someone else cannot revoke it; its owner can, and it stops working at once.
    login_as(client, programme.attendees[1])
    assert client.post(f"/account/api-tokens/{row.public_id}/revoke").status_code == 404
    assert get(client, "/api/v1/me", raw).status_code == 200
    login_as(client, programme.a)
    revoked = client.post(f"/account/api-tokens/{row.public_id}/revoke")
    assert revoked.status_code == 302 and revoked.headers["Location"].endswith("/account#api-tokens")
    assert get(client, "/api/v1/me", raw).status_code == 401
    assert db.session.scalar(sa.select(ApiToken)) is None


def test_a_token_needs_a_name(client, programme):
    login_as(client, programme.a)
    response = client.post("/account/api-tokens", data={"name": "  "})
    assert response.status_code == 400 and "Name the token." in text_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


# --- who is asking --------------------------------------------------------------------------


def test_without_a_valid_token_the_api_answers_401_even_to_a_signed_in_browser(client, programme):
    login_as(client, programme.organizer)
    for token in (None, "cnc_not-a-token", "not even the form", "x" * 500):
        response = get(client, "/api/v1/events", token)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "token" in response.get_json()["error"]
    # Basic or other schemes are no token either.
    assert client.get("/api/v1/events", headers={"Authorization": "Basic b3JnOnB3"}).status_code == 401
    assert "Set-Cookie" not in get(client, "/api/v1/events", token_for(programme.organizer)).headers


def test_a_disabled_account_s_tokens_open_nothing(client, programme):
    raw = token_for(programme.a)
    assert get(client, "/api/v1/me", raw).status_code == 200
    programme.a.is_disabled = True
    db.session.commit()
    assert get(client, "/api/v1/me", raw).status_code == 401


def test_revoked_from_the_event_a_token_finds_nothing_of_it(client, programme):
    raw = token_for(programme.a)
    assert [e["slug"] for e in json_of(client, "/api/v1/events", raw)["events"]] == ["retreat"]
    candidate = db.session.scalar(sa.select(Candidate).where(Candidate.user_id == programme.a.id))
    invites.revoke(programme.organizer, programme.event, [candidate])
    db.session.commit()
    assert json_of(client, "/api/v1/events", raw)["events"] == []
    for path in ("", "/talks", "/schedule", "/signups", f"/talks/{programme.hall_talk.public_id}"):
        assert json_of(client, f"/api/v1/events/retreat{path}", raw, 404) == {"error": "Nothing you may see is there."}


def test_only_get_is_answered(client, programme):
    raw = token_for(programme.a)
    response = client.post("/api/v1/events", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 405 and response.mimetype == "application/json"


def test_the_api_is_rate_limited_per_token(client, programme, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "3 per minute")
    mine, theirs = token_for(programme.a), token_for(programme.attendees[1])
    assert [get(client, "/api/v1/me", mine).status_code for _ in range(3)] == [200] * 3
    limited = get(client, "/api/v1/me", mine)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert limited.mimetype == "application/json" and limited.get_json()["error"]
    assert get(client, "/api/v1/me", theirs).status_code == 200


# --- what a token sees ----------------------------------------------------------------------


def test_talks_are_exactly_what_the_policy_lets_each_person_see(client, programme):
    proposals.set_access(programme.speaker, programme.hall_talk, "", programme.attendees[2].email)
    db.session.commit()
    for user in (programme.a, programme.named, programme.attendees[2], programme.organizer, programme.speaker):
        policy.forget_memo()
        expected = set(db.session.scalars(policy.proposals_visible_to(user, programme.event)
                                          .with_only_columns(Proposal.public_id)))
        talks = json_of(client, "/api/v1/events/retreat/talks", token_for(user))["talks"]
        assert {t["id"] for t in talks} == expected, user.email
    # The review's outcome is for the speakers and the organizers only.
    by_a = json_of(client, "/api/v1/events/retreat/talks", token_for(programme.a))["talks"]
    assert {t["status"] for t in by_a} == {None}
    by_speaker = json_of(client, "/api/v1/events/retreat/talks", token_for(programme.speaker))["talks"]
    assert {t["status"] for t in by_speaker} == {"accepted"}


def test_what_the_person_may_not_see_is_404(client, programme):
    a, secret = token_for(programme.a), programme.secret.public_id
    assert json_of(client, f"/api/v1/events/retreat/talks/{secret}", a, 404)
    assert json_of(client, f"/api/v1/events/retreat/talks/{secret}", token_for(programme.named))["title"] == (
        "Zanzibar weight exfiltration")
    # The unsigned person knows the event, but nothing past its landing page.
    unsigned = token_for(programme.unsigned)
    assert json_of(client, "/api/v1/events/retreat", unsigned)["content_open"] is False
    for path in ("/talks", "/schedule", "/signups"):
        json_of(client, f"/api/v1/events/retreat{path}", unsigned, 404)
    # A stranger does not know it exists: the same answer as for a slug nobody uses.
    stranger = token_for(programme.stranger)
    assert json_of(client, "/api/v1/events/retreat", stranger, 404) == json_of(
        client, "/api/v1/events/no-such-event", stranger, 404)
    assert json_of(client, "/api/v1/events", stranger) == {"events": []}


def test_schedule_and_sign_ups_as_the_person_sees_them(client, programme):
    signups.sign_up(programme.a, programme.hall_talk)
    db.session.commit()
    a = token_for(programme.a)
    schedule = json_of(client, "/api/v1/events/retreat/schedule", a)
    assert schedule["schema"] == "conclave.schedule/1"
    titles = [s["title"] for s in schedule["sessions"]]
    assert sorted(titles) == sorted(["Sparse probes for deceptive circuits", "Evaluations that bite",
                                     "Closed session"])
    hall = next(s for s in schedule["sessions"] if s["title"] == "Evaluations that bite")
    assert hall["my_signup"] == "confirmed" and hall["abstract"] == "About Evaluations that bite."
    mine = json_of(client, "/api/v1/events/retreat/signups", a)["signups"]
    assert [(s["talk_id"], s["status"], s["room"], s["on_schedule"]) for s in mine] == [
        (programme.hall_talk.public_id, "confirmed", "Great Hall", True)]
    assert mine[0]["starts_at"].startswith(str(programme.event.starts_on)) and mine[0]["starts_at"].endswith(
        ("+01:00", "+02:00"))
    # Excluded: the seat is gone and the schedule shows nothing where the session is.
    proposals.set_access(programme.speaker, programme.hall_talk, "", programme.a.email)
    db.session.commit()
    assert json_of(client, "/api/v1/events/retreat/signups", a) == {"signups": []}
    titles = [s["title"] for s in json_of(client, "/api/v1/events/retreat/schedule", a)["sessions"]]
    assert "Evaluations that bite" not in titles and titles.count("Closed session") == 1


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/retreat/talks", "/api/v1/events/retreat/schedule",
                                  "/api/v1/events/retreat/signups"])
def test_query_counts_do_not_grow_with_the_data(client, programme, path):
    raw = token_for(programme.a)
    signups.sign_up(programme.a, programme.hall_talk)
    db.session.commit()
    get(client, path, raw)  # warm-up
    with counting() as small:
        assert get(client, path, raw).status_code == 200
    more = []
    for i in range(8):
        talk = make_talk(programme.event, programme.speaker, f"More {i}", Tier.ATTENDEES)
        programme.place(talk, programme.hall if i % 2 else programme.small_room, programme.slots[i % 2])
        more.append(talk)
        # More events the attendee knows: some they attend, some only on the landing page.
        other = make_event(f"other{i}", organizers=[programme.organizer])
        make_candidate(other, programme.a.email, CandidateStatus.ACCEPTED if i % 2 else CandidateStatus.WAITLISTED,
                       user=programme.a)
    programme.publish()
    for talk in more:
        signups.sign_up(programme.a, talk)
        db.session.commit()
        policy.forget_memo()
    with counting() as large:
        response = get(client, path, raw)
        assert response.status_code == 200
    assert response.get_data(as_text=True).count("More " if "retreat" in path else "other") >= 8
    assert len(large) == len(small), "\n".join(large)


# --- the OpenAPI document and schemathesis --------------------------------------------------


def test_the_openapi_document_is_valid_and_public(client, programme):
    login_as(client, None)
    document = client.get("/api/v1/openapi.json").get_json()
    validate_openapi(document)
    assert document["components"]["securitySchemes"]["token"] == {
        "type": "http", "scheme": "bearer", "description": "A personal access token (cnc_…)."}
    assert "ScheduleExport" in document["components"]["schemas"]


@pytest.fixture
def api_schema(app, programme):
    """The document as the app serves it, with a token of an attendee in the seeded programme: path parameters
    are now and then replaced by the programme's real ones, so that answers with data are checked too."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    real = {"slug": programme.event.slug,
            "talk_id": [programme.small.public_id, programme.hall_talk.public_id, programme.secret.public_id]}

    valid = {"slug": re.compile(openapi.SLUG["schema"]["pattern"]),
             "talk_id": re.compile(openapi.TALK_ID["schema"]["pattern"])}

    @schema.hook
    def map_path_parameters(context, path_parameters):
        # Only values that are valid already are swapped: an invalid one is a test of its rejection.
        for name, value in list((path_parameters or {}).items()):
            if name in real and isinstance(value, str) and valid[name].fullmatch(value) and len(value) % 3 != 2:
                options = real[name] if isinstance(real[name], list) else [real[name]]
                path_parameters[name] = options[len(value) % len(options)]
        return path_parameters

    signups.sign_up(programme.a, programme.hall_talk)
    db.session.commit()
    schema.api_token = token_for(programme.a)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_the_api_keeps_to_its_openapi_document(case, api_schema):
    """No 5xx, and every answer (status, content type, body, headers) as the document says."""
    headers = {"Authorization": f"Bearer {api_schema.api_token}"} if case.operation.path != "/api/v1/openapi.json" \
        else {}
    case.call_and_validate(headers=headers)
