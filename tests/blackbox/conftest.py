"""A real gunicorn (two workers) on PostgreSQL, driven over HTTP as a browser or an attacker would.

The server runs from the project's own entry point (``app:app``) with its configuration taken from
the environment, exactly as in production: its schema is built by ``flask db upgrade`` in a
PostgreSQL schema of its own, CSRF protection is on, and cookies are the real ones. Its database
connections carry the application name ``conclave_blackbox_<pid>``, so a test can terminate exactly
those backends with ``pg_terminate_backend``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa

from tests.helpers import TEST_DATABASE_URL, drop_postgres_schema

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"

# Every test module here starts with ``pytestmark = BLACKBOX``.
BLACKBOX = [
    pytest.mark.postgres,
    pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgresql"),
                       reason="black-box tests run gunicorn on PostgreSQL (TEST_DATABASE_URL)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    database_url: str  # the app's own URL: its schema and application name
    application_name: str
    env: dict
    log: Path

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        """Run a ``flask --app app`` command against the server's database."""
        return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120, check=True)

    def sql(self, statement: str, **params):
        """Run SQL in the server's schema from a connection of the test's own (not the app's name)."""
        engine = sa.create_engine(self.database_url.replace(self.application_name, "conclave_blackbox_test"))
        try:
            with engine.begin() as connection:
                result = connection.execute(sa.text(statement), params)
                return result.all() if result.returns_rows else None
        finally:
            engine.dispose()

    def terminate_app_connections(self) -> int:
        """End every database connection the app's workers hold, as a fail-over would."""
        rows = self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name",
                        name=self.application_name)
        return len(rows)

    @contextmanager
    def database(self):
        """An app context of the test's own on the server's database, for setting up data with the
        services and factories (the server itself is only ever reached over HTTP)."""
        from workshop import create_app
        from workshop.extensions import db

        local = create_app({
            "TESTING": True, "SECRET_KEY": self.env["SECRET_KEY"], "SQLALCHEMY_ENGINE_OPTIONS": {},
            "SQLALCHEMY_DATABASE_URI": self.database_url.replace(self.application_name, "conclave_blackbox_test"),
        })
        with local.app_context():
            try:
                yield db.session
            finally:
                db.session.remove()
                db.engine.dispose()

    def browser(self) -> Browser:
        return Browser(self.url)


class Browser:
    """A requests session that behaves like a person's browser: it reads forms' CSRF tokens."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=30, **kwargs)

    def token(self, path: str) -> str:
        page = self.get(path)
        match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path} ({page.status_code})"
        return match.group(1)

    def post(self, path: str, data: dict, form_page: str | None = None, **kwargs) -> requests.Response:
        """POST like the form on ``form_page`` (default: ``path``) would, with its CSRF token."""
        fields = {"csrf_token": self.token(form_page or path), **data}
        return self.http.post(self.base + path, data=fields, allow_redirects=False, timeout=30, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        response = self.post("/auth/sign-in", {"email": email, "password": password})
        errors = re.findall(r'class="(?:error|field-error|flash[^"]*)"[^>]*>([^<]+)', response.text)
        assert response.status_code == 302, errors


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url + "/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    tmp = tmp_path_factory.mktemp("blackbox")
    schema = f"blackbox_{os.getpid()}"
    application_name = f"conclave_blackbox_{os.getpid()}"
    drop_postgres_schema(TEST_DATABASE_URL, schema)
    engine = sa.create_engine(TEST_DATABASE_URL)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    separator = "&" if "?" in TEST_DATABASE_URL else "?"
    database_url = (f"{TEST_DATABASE_URL}{separator}options={quote(f'-csearch_path={schema}')}"
                    f"&application_name={application_name}")
    port = free_port()
    env = {
        **os.environ,
        "CONCLAVE_ENV": "production",
        "SECRET_KEY": "black-box-secret-key-of-sufficient-length",
        "DATABASE_URL": database_url,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "SESSION_COOKIE_SECURE": "false",
        "MAIL_BACKEND": "file",
        "MAIL_FILE_DIR": str(tmp / "outbox"),
        "MATERIALS_DIR": str(tmp / "materials"),
        "STORAGE_URL": "",
        "RATELIMIT_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("TEST_DATABASE_URL", None)
    server = Server(f"http://127.0.0.1:{port}", database_url, application_name, env, tmp / "gunicorn.log")
    server.flask("db", "upgrade")
    with server.log.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
             "--timeout", "60", "--graceful-timeout", "5", "--access-logfile", "-", "app:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_up(server.url, process, server.log)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        drop_postgres_schema(TEST_DATABASE_URL, schema)


@dataclass
class Seeded:
    organizer: str
    attendee: str
    slug: str


@pytest.fixture(scope="module")
def seeded(server: Server) -> Seeded:
    """An event ``blackbox`` with an organizer and a signed attendee, both with a password."""
    from tests.helpers import make_event, make_participant, make_user
    from workshop.services import accounts

    with server.database() as session:
        organizer = make_user("organizer@blackbox.example.org", "Olga Organizer")
        event = make_event("blackbox", organizers=[organizer], capacity=50)
        attendee = make_participant(event, "attendee@blackbox.example.org")
        for user in (organizer, attendee):
            accounts.set_password(user, PASSWORD)
        session.commit()
    return Seeded("organizer@blackbox.example.org", "attendee@blackbox.example.org", "blackbox")
