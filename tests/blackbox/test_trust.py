"""Trust, over HTTP against gunicorn (two workers) on PostgreSQL, as a browser or an attacker sees it.

1. Signing out ends the session on the server: a copy of the session cookie, replayed after its owner
   signs out (or signs out everywhere), is signed out, whichever worker answers.
2. An emailed link carries its token no further than the request that opens it: the answer is a
   redirect to a token-free page with ``Referrer-Policy: no-referrer``; the final URL, the browser's
   history, every later request and its Referer, the session cookie and gunicorn's access log hold no
   token (headless Chromium follows the links, for what a real browser sends and keeps).
3. Bad input is a 4xx, never a 5xx: every form the organizer and an attendee reach is sent with NUL
   bytes, control characters, blanks, overlong and missing values.
"""

from __future__ import annotations

import os
import random
import re
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import sqlalchemy as sa

from tests.helpers import forms_on

from .conftest import BLACKBOX, Browser, Seeded, Server

pytestmark = BLACKBOX

COOKIE = "conclave_session"
SEED = 20261204


def signed_in(http: requests.Session, server: Server) -> bool:
    response = http.get(server.url + "/account", allow_redirects=False, timeout=30)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def copy_of(browser: Browser) -> requests.Session:
    """Another machine holding a copy of ``browser``'s session cookie."""
    thief = requests.Session()
    thief.cookies.set(COOKIE, browser.http.cookies.get(COOKIE))
    return thief


# --- 1. signing out ends the session on the server -------------------------------------------------

def test_a_copied_cookie_is_signed_out_when_its_owner_signs_out(server: Server, seeded: Seeded):
    owner = server.browser()
    owner.sign_in(seeded.attendee)
    kept = owner.http.cookies.get(COOKIE)
    thief = copy_of(owner)
    # Several requests, so that both workers answer the copy.
    assert all(signed_in(thief, server) for _ in range(4)), "the copy must work while its owner is signed in"

    assert owner.post("/auth/sign-out", {}, form_page="/account").status_code == 302
    assert not signed_in(owner.http, server)
    assert not any(signed_in(thief, server) for _ in range(4)), "a copied cookie outlived signing out"
    replay = requests.Session()
    replay.cookies.set(COOKIE, kept)
    assert not signed_in(replay, server), "the owner's own cookie from before signing out still works"


def test_signing_out_everywhere_ends_every_copy(server: Server, seeded: Seeded):
    laptop, phone = server.browser(), server.browser()
    laptop.sign_in(seeded.attendee)
    phone.sign_in(seeded.attendee)
    thief = copy_of(phone)
    assert signed_in(thief, server)
    assert laptop.post("/account/sign-out-everywhere", {}, form_page="/account").status_code == 302
    assert not any(signed_in(http, server) for http in (laptop.http, phone.http, thief))


def test_signing_out_one_browser_leaves_another_signed_in(server: Server, seeded: Seeded):
    laptop, phone = server.browser(), server.browser()
    laptop.sign_in(seeded.organizer)
    phone.sign_in(seeded.organizer)
    laptop.post("/auth/sign-out", {}, form_page="/account")
    assert not signed_in(laptop.http, server)
    assert signed_in(phone.http, server)


# --- 2. links carry no token past the first request -------------------------------------------------

def sign_in_token(server: Server, email: str) -> str:
    """A sign-in link as the worker mints it when it sends the email."""
    from tests.helpers import make_user
    from workshop.services import accounts

    with server.database() as session:
        if accounts.find_user(email) is None:
            make_user(email)
        link = accounts.mint_sign_in_link(email)["link"]
        session.commit()
    return link.rsplit("/", 1)[1]


def invitation_token(server: Server, slug: str, email: str) -> str:
    """An invitation to the event, as a wave and the worker send it."""
    from tests.helpers import make_candidate
    from workshop.models import CandidateStatus, Event, Invitation
    from workshop.services import invites

    with server.database() as session:
        event = session.scalar(sa.select(Event).where(Event.slug == slug))
        candidate = make_candidate(event, email, CandidateStatus.INVITED)
        invitation = Invitation(candidate_id=candidate.id)
        session.add(invitation)
        session.flush()
        link = invites.mint_invitation_link(invitation.id)["link"]
        session.commit()
    return link.rsplit("/", 1)[1]


def session_cookie_contents(server: Server, http: requests.Session) -> dict:
    from flask import current_app

    with server.database():
        serializer = current_app.session_interface.get_signing_serializer(current_app)
        return serializer.loads(http.cookies.get(COOKIE))


@pytest.mark.parametrize("kind", ["sign-in", "invitation"])
def test_opening_a_link_leaves_its_token_in_no_later_request_cookie_or_log_line(server: Server, seeded: Seeded,
                                                                                 kind):
    if kind == "sign-in":
        token = sign_in_token(server, "linked@blackbox.example.org")
        link, page, answer = f"/auth/link/{token}", "/auth/link", {}
    else:
        token = invitation_token(server, seeded.slug, "invited@blackbox.example.org")
        link, page, answer = f"/invitation/{token}", "/invitation/", {"answer": "accept"}
    browser = server.browser()

    first = browser.get(link)
    assert first.status_code == 302
    assert first.headers["Referrer-Policy"] == "no-referrer"
    target = urljoin(server.url + link, first.headers["Location"])
    assert target == server.url + page and token not in target

    shown = browser.http.get(target, allow_redirects=False, timeout=30)
    assert shown.status_code == 200
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    assert token not in shown.text
    assert token not in repr(session_cookie_contents(server, browser.http)), "the session cookie holds the token"

    done = browser.post(page, answer, form_page=page)
    assert done.status_code == 302 and token not in done.headers["Location"]
    assert signed_in(browser.http, server)

    # The same link, followed as a browser's address bar would: the final URL has no token.
    again = requests.get(server.url + link, timeout=30)
    assert token not in again.url and again.url == server.url + page

    log = server.log.read_text()
    assert token not in log, "gunicorn's log holds the token"
    prefix = link.rsplit("/", 1)[0]
    assert re.search(rf'"GET {re.escape(prefix)}/\[redacted\] HTTP/1\.1" 302', log), "no access line for the link"


CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.mark.browser
def test_in_chromium_no_request_history_entry_or_referer_after_the_first_holds_the_token(server: Server,
                                                                                       seeded: Seeded):
    from playwright.sync_api import sync_playwright

    tokens = {"sign-in": sign_in_token(server, "chromium@blackbox.example.org"),
              "invitation": invitation_token(server, seeded.slug, "chromium-invited@blackbox.example.org")}
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, chromium_sandbox=False,
                                              headless=True)
        try:
            for kind, token in tokens.items():
                context = chromium.new_context(base_url=server.url)
                context.set_default_timeout(15000)
                page = context.new_page()
                sent: list[tuple[str, str | None]] = []
                page.on("request", lambda r, sent=sent: sent.append((r.url, r.headers.get("referer"))))
                link = f"/auth/link/{token}" if kind == "sign-in" else f"/invitation/{token}"
                page.goto(link)
                assert token not in page.url
                button = "Sign in" if kind == "sign-in" else "Accept the invitation"
                page.get_by_role("button", name=button).click()
                page.wait_for_load_state("load")
                assert token not in page.url
                visited = [page.url]
                for _ in range(10):  # the whole session history, back to the start
                    if page.go_back() is None and page.url == visited[-1]:
                        break
                    visited.append(page.url)
                context.close()

                assert not [url for url in visited if token in url], f"{kind}: a history entry holds the token"
                assert sent[0][0] == server.url + link
                assert not [url for url, _ in sent[1:] if token in url], f"{kind}: a later request carries the token"
                assert not [ref for _, ref in sent if ref and token in ref], f"{kind}: a Referer carries the token"
                assert len(sent) > 3, sent  # the page's styles and scripts were loaded too
        finally:
            chromium.close()
    assert not [token for token in tokens.values() if token in server.log.read_text()]


# --- 4. bad input is a 4xx, never a 5xx ------------------------------------------------------------

BAD = ["\x00", "a\x00b", "\x01\x02\x1b\x7f", " ", "", "x" * 5000, "99999999999999999999", "-1", "not a choice",
       "2026-02-30", "\U0001F600\u202e"]
# Forms whose fuzzed submission would end the session the rest of the fuzz needs, and the account's
# password fields (a fuzzed "remove my password" is a valid request; the in-process fuzz covers them).
LEAVE_ALONE = ("/auth/sign-out", "/account/sign-out-everywhere")
KEEP_AS_THEY_ARE = {"/account": ("password", "confirm", "remove_password")}


def start_pages(slug: str, role: str) -> list[str]:
    common = ["/", "/account", f"/e/{slug}/", f"/e/{slug}/proposals/", f"/e/{slug}/schedule"]
    if role == "organizer":
        return common + [f"/e/{slug}/manage/{page}" for page in (
            "", "settings", "agreement", "organizers", "invites/", "invites/new", "invites/import", "audit",
            "schedule/", "schedule/rooms", "schedule/slots", "schedule/auto", "schedule/releases")]
    return common + [f"/e/{slug}/nominate", f"/e/{slug}/proposals/new", f"/e/{slug}/calendar", f"/e/{slug}/people"]


def crawl(browser: Browser, server: Server, pages: list[str], limit: int = 40):
    """The forms on the start pages and on the site's pages they link to (one step), up to ``limit`` pages."""
    seen, queue, forms = set(), list(pages), {}
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = browser.get(path)
        if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith("text/html"):
            continue
        for href in re.findall(r'href="(/[^"#]*)"', response.text):
            if not href.startswith(("/static/", "/m/", "/calendar/")) and href.split("?")[0] not in seen:
                queue.append(href.replace("&amp;", "&"))
        for form in forms_on(response.text, path):
            action = urlsplit(urljoin(server.url + path, form.action)).path
            if action not in LEAVE_ALONE:
                forms.setdefault((form.method, action), form)
    return forms


# The attendee first: what the organizer's fuzzing lets through (a new agreement version, say) would
# otherwise hide the attendee's pages until they sign again.
@pytest.mark.parametrize("role", ["attendee", "organizer"])
def test_fuzzed_forms_never_answer_5xx(server: Server, seeded: Seeded, role: str):
    rng = random.Random(f"{SEED}-{role}")
    email = seeded.organizer if role == "organizer" else seeded.attendee
    browser = server.browser()
    browser.sign_in(email)
    forms = crawl(browser, server, start_pages(seeded.slug, role))
    assert len(forms) >= (15 if role == "organizer" else 6), sorted(forms)
    answers: list[tuple[int, str, str, str]] = []
    for (method, action), form in sorted(forms.items()):
        base = form.data()
        base["csrf_token"] = [browser.token("/account")]
        names = [n for n in form.fields if n != "csrf_token" and form.kinds.get(n) != "submit"
                 and n not in KEEP_AS_THEY_ARE.get(action, ())]
        for name, values in form.choices.items():
            if form.kinds.get(name) == "submit" and values:
                base.setdefault(name, [values[0]])
        tries = [(f"{n}={v[:12]!r}", {**base, n: [v]}) for n in names for v in ["a\x00b", *rng.sample(BAD, 2)]]
        tries += [(f"{n} missing", {k: v for k, v in base.items() if k != n}) for n in names]
        for note, data in tries:
            if method == "GET":
                response = browser.http.get(server.url + action, params=data, allow_redirects=False, timeout=30)
            else:
                response = browser.http.post(server.url + action, data=data, allow_redirects=False, timeout=30)
            answers.append((response.status_code, method, action, note))
        if not signed_in(browser.http, server):
            browser.sign_in(email)
    errors = [a for a in answers if a[0] >= 500]
    print(f"\n{role}: {len(forms)} forms, {len(answers)} requests, statuses {sorted({a[0] for a in answers})}")
    assert not errors, errors[:20]
    assert any(a[0] == 400 for a in answers)
    log = server.log.read_text()
    assert "unhandled error" not in log and "Error handling request" not in log, log[-3000:]


def test_a_nul_byte_in_a_query_or_path_is_refused_plainly(server: Server, seeded: Seeded):
    browser = server.browser()
    browser.sign_in(seeded.organizer)
    for path in (f"/e/{seeded.slug}/manage/invites/?q=a%00b", f"/e/{seeded.slug}/manage/invites/?page=abc",
                 f"/e/{seeded.slug}%00/", "/auth/link/a%00b"):
        response = browser.get(path)
        assert response.status_code in (302, 400, 404), (path, response.status_code)


def test_sessions_expire_on_the_server_too(server: Server, seeded: Seeded):
    """A session row older than the sign-in lifetime signs nobody in, whatever the cookie says."""
    browser = server.browser()
    browser.sign_in(seeded.attendee)
    assert signed_in(browser.http, server)
    server.sql("UPDATE user_sessions SET created_at = created_at - :age", age=timedelta(days=15))
    assert not signed_in(browser.http, server)
