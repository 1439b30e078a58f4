"""PostgreSQL ends the app's connections while requests flow: no 500, nothing half-written, recovery.

Readers browse the organizer pages and writers add people with tags (a candidate row plus tag rows in
one transaction) while another thread terminates every backend of the app's two gunicorn workers,
again and again. Every answer must be a success or a 503 with Retry-After; a write answered with
success (a redirect, or the "saved" page when only loading the next page failed) is in the database
whole, a write answered 503 is not there at all; and once the database is left alone, everything
works again without a restart.
"""

from __future__ import annotations

import re
import threading
import time

import requests

from .conftest import BLACKBOX, Browser, Seeded, Server

pytestmark = BLACKBOX

SECONDS_OF_TROUBLE = 4.0
READERS, WRITERS = 3, 3


def test_terminated_connections_cause_no_500_no_partial_write_and_the_app_recovers(server: Server,
                                                                                   seeded: Seeded):
    slug = seeded.slug
    reads: list[tuple[str, int, str | None]] = []
    writes: list[tuple[str, int, str | None]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def signed_in() -> Browser:
        browser = server.browser()
        browser.sign_in(seeded.organizer)
        return browser

    def reader(browser: Browser) -> None:
        pages = [f"/e/{slug}/manage/", f"/e/{slug}/manage/invites/", f"/e/{slug}/manage/audit", "/"]
        i = 0
        while not stop.is_set():
            path = pages[i % len(pages)]
            i += 1
            response = browser.get(path)
            with lock:
                reads.append((path, response.status_code, response.headers.get("Retry-After")))

    def writer(number: int, browser: Browser) -> None:
        i = 0
        while not stop.is_set():
            email = f"w{number}-{i}@blackbox.example.org"
            i += 1
            form = browser.get(f"/e/{slug}/manage/invites/new")
            if form.status_code != 200:
                with lock:
                    reads.append(("form", form.status_code, form.headers.get("Retry-After")))
                continue
            token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form.text).group(1)
            response = browser.http.post(
                f"{server.url}/e/{slug}/manage/invites/new", allow_redirects=False, timeout=30,
                data={"csrf_token": token, "email": email, "name": f"Writer {number} {i}",
                      "tags": f"w{number}, wave", "approved": "y"})
            status = response.status_code
            if status == 200:  # saved, but the next page could not be loaded
                assert "Your change was saved" in response.text
            with lock:
                writes.append((email, status, response.headers.get("Retry-After")))

    browsers = [signed_in() for _ in range(READERS + WRITERS)]
    threads = [threading.Thread(target=reader, args=(browsers[n],)) for n in range(READERS)]
    threads += [threading.Thread(target=writer, args=(n, browsers[READERS + n])) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    terminated = 0
    try:
        deadline = time.monotonic() + SECONDS_OF_TROUBLE
        while time.monotonic() < deadline:
            terminated += server.terminate_app_connections()
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert terminated > 0, "the test never ended a connection of the app"
    answers = reads + writes
    statuses = sorted({status for _, status, _ in answers})
    print(f"{len(reads)} reads, {len(writes)} writes, {terminated} connections terminated, statuses {statuses}, "
          f"{sum(1 for _, s, _ in answers if s == 503)} answered 503")
    assert not [a for a in answers if a[1] >= 500 and a[1] != 503], "a request answered 5xx other than 503"
    assert not [a for a in answers if a[1] not in (200, 302, 503)]
    assert all(retry == "5" for _, status, retry in answers if status == 503), "a 503 without Retry-After"
    assert len(writes) >= WRITERS

    # Nothing half-written: a candidate is there with both its tags, or not at all; success means there.
    rows = server.sql("SELECT c.email, count(t.tag) FROM candidates c LEFT JOIN candidate_tags t "
                      "ON t.candidate_id = c.id WHERE c.email LIKE 'w%%@blackbox.example.org' GROUP BY c.email")
    stored = dict(rows)
    assert all(count == 2 for count in stored.values()), f"half-written candidates: {stored}"
    for email, status, _ in writes:
        if status in (200, 302):
            assert email in stored, f"{email} was answered as saved but is not in the database"
        else:
            assert email not in stored, f"{email} was saved but answered {status}"

    # The app recovers by itself: the next requests all succeed.
    browser = browsers[0]
    for path in (f"/e/{slug}/manage/", f"/e/{slug}/manage/invites/", "/"):
        for _ in range(4):
            assert browser.get(path).status_code == 200
    response = browser.post(f"/e/{slug}/manage/invites/new", {"email": "after@blackbox.example.org", "tags": "after"})
    assert response.status_code == 302
    assert server.sql("SELECT count(*) FROM candidates WHERE email = 'after@blackbox.example.org'")[0][0] == 1

    log = server.log.read_text()
    assert "Error handling request" not in log, log[-3000:]  # gunicorn's bare 500


def test_the_server_answers_plain_requests(server: Server):
    response = requests.get(server.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
