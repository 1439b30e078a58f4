"""A link's token goes no further than the request that opens it.

Opening a sign-in or invitation link answers at once with a redirect to a page without the token (the
session keeps the token's hash), so the token is in no URL the browser shows, keeps in its history or
sends on as a Referer; the pages of a link say ``Referrer-Policy: no-referrer``; and no log line the
web server or the app writes holds a token (``workshop.logs``). The same, over HTTP against gunicorn:
tests/blackbox/test_trust.py.
"""

from __future__ import annotations

import io
import logging
import re

import pytest
import sqlalchemy as sa

from tests.helpers import make_candidate, make_event, make_user, open_link
from workshop import mail
from workshop.extensions import db
from workshop.logs import REDACTED, redact
from workshop.models import CandidateStatus, EventStatus, Invitation, LoginToken
from workshop.services import accounts, invites
from workshop.services.tokens import hash_token

KNOWN = "ada@example.org"


@pytest.fixture
def sign_in_token(client, sent) -> str:
    make_user(KNOWN)
    db.session.commit()
    client.post("/auth/sign-in", data={"email": KNOWN})
    body = sent.to(KNOWN)[-1].get_body(("plain",)).get_content()
    return re.search(r"/auth/link/([\w-]+)", body).group(1)


@pytest.fixture
def invitation_token(ctx, sent) -> str:
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    person = make_candidate(event, "invitee@example.org", CandidateStatus.APPROVED)
    invites.send_wave(organizer, event, [person])
    db.session.commit()
    mail.send_due()
    body = sent.to("invitee@example.org")[-1].get_body(("plain",)).get_content()
    return re.search(r"/invitation/([\w-]+)", body).group(1)


def session_of(client) -> dict:
    with client.session_transaction() as session:
        return dict(session)


@pytest.mark.parametrize(("prefix", "page", "fixture"), [
    ("/auth/link/", "/auth/link", "sign_in_token"),
    ("/invitation/", "/invitation/", "invitation_token"),
])
def test_opening_a_link_moves_its_token_out_of_the_url_at_once(client, request, prefix, page, fixture):
    token = request.getfixturevalue(fixture)
    response = client.get(prefix + token)

    assert response.status_code == 302
    assert response.headers["Location"] == page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert token not in response.get_data(as_text=True)
    kept = session_of(client)
    assert hash_token(token) in kept.values()
    assert token not in repr(kept), "the session cookie holds the token itself"

    shown = client.get(page)
    assert shown.status_code == 200
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    html = shown.get_data(as_text=True)
    assert token not in html
    assert 'method="post"' in html and "action=" not in html.split('method="post"')[1].split(">")[0]


def test_the_sign_in_link_signs_in_from_the_token_free_page_once(app, client, sign_in_token):
    page = open_link(client, f"/auth/link/{sign_in_token}")
    assert db.session.scalar(sa.select(LoginToken.used_at)) is None, "opening the link used it up"

    response = client.post(page)
    assert response.status_code == 302 and response.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/account").status_code == 200
    assert "sign_in_link" not in session_of(client), "the link's hash outlived signing in"

    again = app.test_client()
    assert again.get(open_link(again, f"/auth/link/{sign_in_token}")).status_code == 410


def test_the_token_free_pages_know_no_link_in_a_browser_that_opened_none(client, sign_in_token, invitation_token):
    """Copying the address bar to another browser copies no link."""
    for page, message in (("/auth/link", "This sign-in link is not valid any more."),
                          ("/invitation/", "This invitation link is not valid.")):
        response = client.get(page)
        assert response.status_code == 410
        assert message in response.get_data(as_text=True)
    assert client.post("/auth/link").status_code == 410
    assert client.post("/invitation/", data={"answer": "accept"}).status_code == 410
    assert db.session.scalar(sa.select(sa.func.count()).where(Invitation.used_at.is_not(None))) == 0


def test_no_hash_finds_an_invitation_not_sent_yet(ctx):
    """An invitation waiting in the outbox has no token hash yet: an empty one must not find it."""
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.INVITING)
    person = make_candidate(event, "invitee@example.org", CandidateStatus.APPROVED)
    invites.send_wave(organizer, event, [person])  # queued, not sent: its token is not minted
    db.session.flush()
    assert db.session.scalar(sa.select(Invitation.token_hash)) is None
    for empty in (None, ""):
        with pytest.raises(invites.DomainError):
            invites.open_invitation_hash(empty)
        with pytest.raises(accounts.DomainError):
            accounts.peek_login_hash(empty)
    db.session.rollback()


def test_an_invitation_answered_from_the_token_free_page(client, invitation_token):
    page = open_link(client, f"/invitation/{invitation_token}")
    response = client.post(page, data={"answer": "accept"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/e/retreat/agreement")
    assert "invitation_link" not in session_of(client)
    assert db.session.scalar(sa.select(Invitation.used_at)) is not None


# --- log lines -----------------------------------------------------------------------------------

TOKEN = "Zq3v9JkL0pXyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU"


@pytest.mark.parametrize("line", [
    f'GET /auth/link/{TOKEN} HTTP/1.1',
    f'"GET /invitation/{TOKEN}?utm=x HTTP/1.1" 302',
    f'referer https://conclave.example.org/invitation/{TOKEN}',
    f'GET /calendar/{TOKEN}.ics HTTP/1.1',
    f'GET /calendar/{TOKEN}.json',
])
def test_redact_blanks_tokens_out(line):
    cleaned = redact(line)
    assert TOKEN not in cleaned and REDACTED in cleaned


@pytest.mark.parametrize("line", ["GET /auth/link HTTP/1.1", "POST /invitation/ HTTP/1.1",
                                  "POST /e/retreat/calendar/reset HTTP/1.1", "GET /e/retreat/calendar.ics"])
def test_redact_leaves_token_free_paths_alone(line):
    assert redact(line) == line


def capture(name: str):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return stream, lambda: logger.removeHandler(handler)


def test_the_web_servers_access_lines_hold_no_token(app):
    """gunicorn logs a request with its atoms (request line, path, query, headers) as the arguments of one
    record; the development server with the request line as an argument."""
    stream, done = capture("gunicorn.access")
    try:
        atoms = {"r": f"GET /auth/link/{TOKEN} HTTP/1.1", "U": f"/auth/link/{TOKEN}", "s": "302",
                 "f": f"http://mail.example/invitation/{TOKEN}", "{referer}i": f"/invitation/{TOKEN}"}
        logging.getLogger("gunicorn.access").info('%(r)s %(s)s "%(f)s" %(U)s %({referer}i)s', atoms)
    finally:
        done()
    stream2, done2 = capture("werkzeug")
    try:
        logging.getLogger("werkzeug").info('%s - - "%s" %s -', "127.0.0.1", f"GET /invitation/{TOKEN} HTTP/1.1", 302)
    finally:
        done2()
    for written in (stream.getvalue(), stream2.getvalue()):
        assert written and TOKEN not in written and REDACTED in written


def test_the_apps_own_log_lines_hold_no_token(app):
    stream, done = capture(app.logger.name)
    try:
        app.logger.warning("database connection lost during %s %s; retrying once", "GET", f"/calendar/{TOKEN}.ics")
    finally:
        done()
    assert TOKEN not in stream.getvalue() and "/calendar/[redacted].ics" in stream.getvalue()
