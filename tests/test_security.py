"""Security properties of the web layer: headers, cookies, sign-in, sessions, rate limits, redirects."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import login_as, make_candidate, make_event, make_participant, make_user, open_link
from workshop import config as config_module
from workshop import create_app, mail
from workshop.extensions import db, limiter
from workshop.models import Candidate, CandidateStatus, EventStatus, Invitation, LoginToken, utcnow
from workshop.services import accounts, invites

PASSWORD = "correct horse battery staple"
LINK_RE = re.compile(r"http://conclave\.test(/auth/link/(\S+))")
RATE_LIMIT_HEADERS = ("x-ratelimit-", "retry-after")


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def request_link(client, sent, email: str, **kwargs) -> tuple[str, str]:
    """Ask for a sign-in link through the form; return the link's path and its token."""
    client.post("/auth/sign-in", data={"email": email}, **kwargs)
    body = sent.to(email)[-1].get_body(("plain",)).get_content()
    match = LINK_RE.search(body)
    return match.group(1), match.group(2)


def comparable(response, email: str) -> tuple:
    """What a visitor can observe of an answer, with the address they typed taken out."""
    headers = sorted((k, v) for k, v in response.headers.items() if not k.lower().startswith(RATE_LIMIT_HEADERS))
    return response.status_code, headers, response.get_data().replace(email.encode(), b"EMAIL")


# --- headers and cookies -----------------------------------------------------------------------


@pytest.fixture
def organizer_world(ctx):
    organizer = make_user("org@example.org", "Olga Organizer")
    event = make_event("retreat", organizers=[organizer], capacity=5)
    make_participant(event, "attendee@example.org")
    return organizer, event


@pytest.mark.parametrize("url, as_organizer", [
    ("/auth/sign-in", False),
    ("/", False),
    ("/no-such-page", False),
    ("/", True),
    ("/account", True),
    ("/e/retreat/manage/", True),
    ("/e/retreat/manage/invites/", True),
])
def test_html_pages_carry_the_security_headers(client, organizer_world, url, as_organizer):
    if as_organizer:
        login_as(client, organizer_world[0])
    response = client.get(url)
    assert response.status_code in (200, 404)
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin",
                                                   "strict-origin-when-cross-origin")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    # The policy forbids inline code and styles, so a page that uses them is broken for real browsers.
    html = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_hsts_outside_development_and_testing(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "TESTING", False)
    monkeypatch.setitem(app.config, "DEVELOPMENT", False)
    assert "max-age=" in client.get("/auth/sign-in").headers["Strict-Transport-Security"]


def session_cookie(response) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("conclave_session=")]
    return cookie


def test_session_cookie_flags(app, client, monkeypatch):
    user = make_user("ada@example.org")
    accounts.set_password(user, PASSWORD)
    db.session.commit()

    response = client.post("/auth/sign-in", data={"email": "ada@example.org", "password": PASSWORD})
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test app runs over plain HTTP

    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    response = client.post("/auth/sign-in", data={"email": "ada@example.org", "password": PASSWORD})
    cookie = session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.fixture
def clean_environment(monkeypatch):
    for name in ("CONCLAVE_ENV", "SECRET_KEY", "SESSION_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_is_the_default_and_its_cookies_are_secure(clean_environment, tmp_path):
    clean_environment.setenv("SECRET_KEY", "a-real-secret")
    settings = config_module.from_environment(tmp_path)
    assert settings["DEVELOPMENT"] is False
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True and settings["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert settings["SECRET_KEY"] == "a-real-secret"


def test_development_allows_plain_http_cookies_and_a_local_key(clean_environment, tmp_path):
    clean_environment.setenv("CONCLAVE_ENV", "development")
    settings = config_module.from_environment(tmp_path)
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert len(settings["SECRET_KEY"]) >= 32
    # The same key on the next start, so that sessions survive a restart.
    assert config_module.from_environment(tmp_path)["SECRET_KEY"] == settings["SECRET_KEY"]


def test_production_without_a_secret_key_refuses_to_start(clean_environment, tmp_path):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        config_module.from_environment(tmp_path)
    assert not (tmp_path / "secret_key").exists()  # no guessable fallback key is left behind


# --- the sign-in form --------------------------------------------------------------------------

KNOWN, UNKNOWN, DISABLED = "known@example.org", "nobod@example.org", "gone1@example.org"  # one length


def test_sign_in_answers_the_same_for_known_unknown_and_disabled_addresses(client, sent):
    make_user(KNOWN)
    make_user(DISABLED).is_disabled = True
    db.session.commit()

    answers = {email: comparable(client.post("/auth/sign-in", data={"email": email}), email)
               for email in (KNOWN, UNKNOWN, DISABLED)}

    assert answers[KNOWN][0] == 200
    assert answers[KNOWN] == answers[UNKNOWN] == answers[DISABLED]
    assert len(sent.to(KNOWN)) == 1
    assert sent.to(UNKNOWN) == [] and sent.to(DISABLED) == []
    assert [m.to_email for m in db.session.scalars(sa.select(mail.OutboxMessage))] == [KNOWN]


def test_the_link_is_built_from_base_url_not_the_request_host(client, sent):
    make_user(KNOWN)
    db.session.commit()
    client.post("/auth/sign-in", data={"email": KNOWN}, base_url="http://evil.example",
                headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"})
    [message] = sent.to(KNOWN)
    text, html = (message.get_body((kind,)).get_content() for kind in ("plain", "html"))
    assert LINK_RE.search(text) and 'href="http://conclave.test/auth/link/' in html
    assert "evil.example" not in text and "evil.example" not in html


def test_a_link_survives_mail_scanners_and_works_once(app, client, sent):
    make_user(KNOWN)
    db.session.commit()
    link, token = request_link(client, sent, KNOWN)

    # Scanners fetch links: a GET only shows a confirmation button and uses nothing up.
    for _ in range(2):
        response = client.get(open_link(client, link))
        assert response.status_code == 200 and "<form" in response.get_data(as_text=True)
    assert not signed_in(client)
    assert db.session.scalar(sa.select(LoginToken.used_at)) is None

    response = client.post(open_link(client, link))
    assert response.status_code == 302
    assert signed_in(client)
    assert db.session.scalar(sa.select(LoginToken.used_at)) is not None

    elsewhere = app.test_client()
    assert elsewhere.get(open_link(elsewhere, link)).status_code == 410
    assert elsewhere.post(open_link(elsewhere, link)).status_code == 410
    assert not signed_in(elsewhere)


@pytest.mark.parametrize("minutes, works", [(14, True), (16, False)])
def test_a_link_expires_after_fifteen_minutes(client, sent, monkeypatch, minutes, works):
    make_user(KNOWN)
    db.session.commit()
    link, _ = request_link(client, sent, KNOWN)
    later = utcnow() + timedelta(minutes=minutes)
    monkeypatch.setattr(accounts, "utcnow", lambda: later)

    assert client.get(open_link(client, link)).status_code == (200 if works else 410)
    assert client.post(open_link(client, link)).status_code == (302 if works else 410)
    assert signed_in(client) is works


def test_only_the_token_hash_is_stored(client, sent):
    make_user(KNOWN)
    db.session.commit()
    _, token = request_link(client, sent, KNOWN)
    row = db.session.scalar(sa.select(LoginToken))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(db.session.execute(sa.select(LoginToken.__table__)).all())


def test_no_usable_token_stays_in_the_database_once_its_mail_is_sent(client, sent):
    """Hashing tokens is pointless if the outbox keeps the full link: a copy of the database
    (a backup, a replica, a leaked dump) would then sign anyone in or accept their invitation."""
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    person = make_candidate(event, "p@example.org", CandidateStatus.APPROVED)
    invites.send_wave(organizer, event, [person])
    make_user(KNOWN)
    db.session.commit()
    mail.send_due()
    _, login_token = request_link(client, sent, KNOWN)
    invitation_body = sent.to("p@example.org")[0].get_body(("plain",)).get_content()
    invitation_token = re.search(r"/invitation/(\S+)", invitation_body).group(1)
    assert {m.status for m in db.session.scalars(sa.select(mail.OutboxMessage))} == {"sent"}

    dumps = {table.name: repr(db.session.execute(sa.select(table)).all()) for table in db.metadata.sorted_tables}
    assert [name for name, dump in dumps.items() if login_token in dump] == []
    assert [name for name, dump in dumps.items() if invitation_token in dump] == []


@pytest.mark.parametrize("method", ["link", "password"])
def test_signing_in_starts_a_fresh_session(client, sent, method):
    user = make_user(KNOWN)
    accounts.set_password(user, PASSWORD)
    db.session.commit()
    with client.session_transaction() as session:
        session["planted"] = "set before sign-in"

    if method == "link":
        link, _ = request_link(client, sent, KNOWN)
        response = client.post(open_link(client, link))
    else:
        response = client.post("/auth/sign-in", data={"email": KNOWN, "password": PASSWORD})

    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == user.get_id()


# --- ending sessions ---------------------------------------------------------------------------


def test_ending_all_sessions_signs_out_an_open_browser(client):
    user = make_user(KNOWN)
    login_as(client, user)
    assert signed_in(client)

    accounts.end_all_sessions(user)
    db.session.commit()

    response = client.get("/account")
    assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"]


def test_disabling_a_user_signs_them_out_and_kills_their_links(app, client, sent):
    admin = make_user("admin@example.org", admin=True)
    user = make_user(KNOWN)
    browser = app.test_client()
    login_as(browser, user)
    assert signed_in(browser)
    link, _ = request_link(client, sent, KNOWN)

    accounts.set_disabled(admin, user, True)
    db.session.commit()

    assert not signed_in(browser)
    assert client.post(open_link(client, link)).status_code == 410
    assert not signed_in(client)


def test_revoking_through_the_bulk_route_ends_sessions_and_access_at_once(app, client, organizer_world):
    organizer, event = organizer_world
    attendee_browser = app.test_client()
    attendee = db.session.scalar(sa.select(Candidate).where(Candidate.email == "attendee@example.org")).user
    login_as(attendee_browser, attendee)
    assert attendee_browser.get("/e/retreat/people").status_code == 200
    candidate_id = db.session.scalar(sa.select(Candidate.id).where(Candidate.email == "attendee@example.org"))

    login_as(client, organizer)
    response = client.post("/e/retreat/manage/invites/bulk", data={"action": "revoke", "ids": [candidate_id]})
    assert response.status_code == 302

    # The very next request is anonymous, and an anonymous visitor may not know the event exists.
    assert attendee_browser.get("/e/retreat/people").status_code == 404
    assert not signed_in(attendee_browser)
    # Signing in again gives nothing back: the event is gone for them.
    db.session.refresh(attendee)
    login_as(attendee_browser, attendee)
    assert attendee_browser.get("/e/retreat/people").status_code == 404
    assert attendee_browser.get("/e/retreat/").status_code == 404


# --- passwords ---------------------------------------------------------------------------------


def test_password_sign_in_uses_argon2(client):
    user = make_user(KNOWN)
    accounts.set_password(user, PASSWORD)
    db.session.commit()
    assert user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash

    response = client.post("/auth/sign-in", data={"email": KNOWN, "password": PASSWORD})
    assert response.status_code == 302
    assert signed_in(client)


def test_wrong_password_unknown_email_and_disabled_user_get_the_same_answer(client, sent):
    for email in (KNOWN, DISABLED):
        accounts.set_password(make_user(email), PASSWORD)
    db.session.scalar(sa.select(accounts.User).where(accounts.User.email == DISABLED)).is_disabled = True
    db.session.commit()

    answers = {
        "wrong password": comparable(client.post("/auth/sign-in", data={"email": KNOWN, "password": "x" * 12}),
                                     KNOWN),
        "unknown email": comparable(client.post("/auth/sign-in", data={"email": UNKNOWN, "password": PASSWORD}),
                                    UNKNOWN),
        "disabled user": comparable(client.post("/auth/sign-in", data={"email": DISABLED, "password": PASSWORD}),
                                    DISABLED),
    }
    assert answers["wrong password"][0] == 400
    assert b"do not match" in answers["wrong password"][2]
    assert answers["wrong password"] == answers["unknown email"] == answers["disabled user"]
    assert not signed_in(client)
    assert sent.refresh() == []


# --- rate limits -------------------------------------------------------------------------------


def test_sign_in_is_rate_limited_with_a_friendly_page(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNIN_RATE_LIMIT", "3 per minute")
    for _ in range(3):
        assert client.post("/auth/sign-in", data={"email": UNKNOWN}).status_code == 200
    response = client.post("/auth/sign-in", data={"email": UNKNOWN})
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "Too many attempts" in response.get_data(as_text=True)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    # Reading the form is not limited; only attempts are.
    assert client.get("/auth/sign-in").status_code == 200


def test_without_trusted_proxies_forwarded_for_is_ignored(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNIN_RATE_LIMIT", "3 per minute")
    attacker = {"REMOTE_ADDR": "203.0.113.5"}
    for i in range(3):
        response = client.post("/auth/sign-in", data={"email": UNKNOWN}, environ_base=attacker,
                               headers={"X-Forwarded-For": f"198.51.100.{i}"})
        assert response.status_code == 200
    # A fresh forged address does not buy a fresh allowance.
    response = client.post("/auth/sign-in", data={"email": UNKNOWN}, environ_base=attacker,
                           headers={"X-Forwarded-For": "198.51.100.99"})
    assert response.status_code == 429
    # Another real client is not affected.
    response = client.post("/auth/sign-in", data={"email": UNKNOWN}, environ_base={"REMOTE_ADDR": "203.0.113.6"})
    assert response.status_code == 200


@pytest.fixture
def make_app(app):
    """Create extra apps sharing the test database; restore the process-wide limiter afterwards.

    ``limiter`` is one object for every app in the process and ``init_app`` replaces its storage
    and settings, so the session app's limiter state is saved here and put back.
    """
    saved = {name: (value.copy() if isinstance(value, dict) else value) for name, value in vars(limiter).items()}
    created = []

    def factory(**overrides):
        settings = {key: app.config[key] for key in (
            "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "SQLALCHEMY_ENGINE_OPTIONS", "BASE_URL", "MAIL_BACKEND",
            "WTF_CSRF_ENABLED", "SESSION_COOKIE_SECURE", "SERVER_NAME", "TOKEN_RATE_LIMIT")}
        settings.update({"TESTING": True, "SIGNIN_RATE_LIMIT": "3 per minute"})
        settings.update(overrides)
        extra = create_app(settings)
        created.append(extra)
        return extra

    yield factory
    for extra in created:
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()
    vars(limiter).clear()
    vars(limiter).update(saved)


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_key(ctx, make_app):
    proxied = make_app(TRUSTED_PROXIES=1).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request arrives from the proxy

    def attempt(client_address: str) -> int:
        return proxied.post("/auth/sign-in", data={"email": UNKNOWN}, environ_base=proxy,
                            headers={"X-Forwarded-For": client_address}).status_code

    assert [attempt("198.51.100.7") for _ in range(3)] == [200, 200, 200]
    assert attempt("198.51.100.7") == 429
    # Another visitor behind the same proxy still gets in.
    assert attempt("198.51.100.8") == 200


def test_rate_limits_can_be_counted_in_redis(ctx, make_app):
    redis = pytest.importorskip("redis")
    uri = "redis://127.0.0.1:6379"
    connection = redis.Redis.from_url(uri, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    prefix = f"conclave-test-{uuid.uuid4().hex}"
    try:
        shared = make_app(RATELIMIT_STORAGE_URI=uri, RATELIMIT_KEY_PREFIX=prefix, SIGNIN_RATE_LIMIT="2 per minute")
        browser = shared.test_client()
        assert [browser.post("/auth/sign-in", data={"email": UNKNOWN}).status_code for _ in range(2)] == [200, 200]
        keys = connection.keys(f"*{prefix}*")
        assert keys, "no rate-limit counter was written to Redis"
        assert sum(int(connection.get(key)) for key in keys) == 2
        assert browser.post("/auth/sign-in", data={"email": UNKNOWN}).status_code == 429
    finally:
        for key in connection.keys(f"*{prefix}*"):
            connection.delete(key)


# --- invitations and redirects -----------------------------------------------------------------


def test_an_invitation_opened_by_someone_else_is_not_handed_over(client, sent):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    person = make_candidate(event, "invitee@example.org", CandidateStatus.APPROVED)
    invites.send_wave(organizer, event, [person])
    db.session.commit()
    mail.send_due()
    body = sent.to("invitee@example.org")[0].get_body(("plain",)).get_content()
    link = re.search(r"http://conclave\.test(/invitation/\S+)", body).group(1)
    stranger = make_user("stranger@example.org")
    login_as(client, stranger)

    opened = open_link(client, link)
    for response in (client.get(opened), client.post(opened, data={"answer": "accept"})):
        assert response.status_code == 409
        page = response.get_data(as_text=True)
        assert "Sign out" in page and 'action="/auth/sign-out"' in page

    db.session.refresh(person)
    assert person.status == CandidateStatus.INVITED and person.user_id is None
    assert db.session.scalar(sa.select(Invitation.used_at)) is None
    assert "stranger@example.org" in client.get("/account").get_data(as_text=True)  # still the stranger

    # Signing out leads back to the invitation, which then works for its owner.
    # The invitation opened in this browser outlasts signing out; its token never returns to a URL.
    response = client.post("/auth/sign-out", data={"next": opened})
    assert response.headers["Location"] == opened == "/invitation/"
    assert client.post(opened, data={"answer": "accept"}).status_code == 302
    db.session.refresh(person)
    assert person.status == CandidateStatus.ACCEPTED and person.user.email == "invitee@example.org"


HOSTILE_NEXT = ["https://evil.example", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example",
                "https:evil.example", "javascript:alert(1)", " //evil.example", "/\t/evil.example"]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_sign_in_and_sign_out_never_redirect_off_site(client, target):
    user = make_user(KNOWN)
    accounts.set_password(user, PASSWORD)
    db.session.commit()

    page = client.get("/auth/sign-in", query_string={"next": target}).get_data(as_text=True)
    assert "evil.example" not in page and "javascript:" not in page

    response = client.post("/auth/sign-in", data={"email": KNOWN, "password": PASSWORD, "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    response = client.post("/auth/sign-out", data={"next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_local_next_is_followed(client, organizer_world):
    accounts.set_password(organizer_world[0], PASSWORD)
    db.session.commit()
    response = client.post("/auth/sign-in", data={"email": "org@example.org", "password": PASSWORD,
                                                  "next": "/e/retreat/manage/"})
    assert response.headers["Location"] == "/e/retreat/manage/"
