"""A live server and a headless Chromium for the browser tests.

The session-wide ``app`` is served for real on a free local port, with mail going to
the file backend (one .eml file per message) and BASE_URL set to the server's own
address, so that links read from the emails open in the browser. CSRF protection is
switched back on: the browser submits the real forms with their real tokens.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.helpers import DESKTOP, PHONE, SCREENSHOTS, BrowserErrors

CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass
class Outbox:
    """The file mail backend's directory, read the way a person reads their inbox."""

    directory: Path

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml")) if self.directory.exists() else []

    def newest(self, to: str, timeout: float = 5.0) -> email.message.EmailMessage:
        """The newest message to ``to``, waiting a little for it; fails the test if none comes."""
        deadline = time.monotonic() + timeout
        while True:
            for path in sorted(self.files(), key=lambda p: p.stat().st_mtime_ns, reverse=True):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if message["To"] == to:
                    return message
            if time.monotonic() > deadline:
                pytest.fail(f"no email to {to} in {self.directory}")
            time.sleep(0.05)

    @staticmethod
    def link(message: email.message.EmailMessage, base_url: str, path_prefix: str) -> str:
        """The one link in the plain-text part that starts with ``base_url + path_prefix``."""
        text = message.get_body(preferencelist=("plain",)).get_content()
        links = re.findall(re.escape(base_url + path_prefix) + r"\S+", text)
        assert len(links) == 1, f"expected one {path_prefix} link in the email, found {links!r}:\n{text}"
        return links[0]


@dataclass
class LiveServer:
    url: str
    outbox: Outbox


@pytest.fixture
def live_server(app, tmp_path, monkeypatch):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setitem(app.config, "BASE_URL", url)
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(tmp_path / "outbox"))
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, outbox=Outbox(tmp_path / "outbox"))
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, chromium_sandbox=False,
                                             headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(5000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def browser_errors(page) -> BrowserErrors:
    return BrowserErrors(page)


@pytest.fixture
def shoot():
    """Full-page screenshots into artifacts/screenshots/: ``shoot(page, "name", phone=True)``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []

    def take(page, name: str, phone: bool = False) -> None:
        sizes = [("1280", DESKTOP)] + ([("390", PHONE)] if phone else [])
        for label, size in sizes:
            page.set_viewport_size(size)
            path = SCREENSHOTS / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            taken.append(path)
        page.set_viewport_size(DESKTOP)

    take.taken = taken
    return take
