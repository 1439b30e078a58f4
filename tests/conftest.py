"""Fixtures: one app per test run, a clean database per test, a client per test, factories.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL is set.
Tests may keep an app context open (the ``ctx`` fixture does); every request the
client makes still runs in a fresh app context of its own, as in production, so
nothing cached for one request (the signed-in user, policy decisions) leaks into
the next.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.helpers import (
    TEST_DATABASE_URL,
    drop_postgres_schema,
    make_event,
    make_participant,
    make_user,
    postgres_schema,
)
from workshop import create_app
from workshop.extensions import db, limiter


class IsolatedClient(FlaskClient):
    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        # The test's own session must see what the request committed.
        db.session.expire_all()
        return response


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conclave")
    url = TEST_DATABASE_URL or f"sqlite:///{tmp / 'test.db'}"
    schema, engine_options = postgres_schema(url) if url.startswith("postgresql") else (None, {})
    app = create_app({
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "BASE_URL": "http://conclave.test",
        "MAIL_BACKEND": "memory",
        "TASK_QUEUE_URL": "immediate",  # tasks run where they are queued: a request's mail is sent at its commit
        "MAIL_FILE_DIR": str(tmp / "outbox"),
        "MATERIALS_DIR": str(tmp / "materials"),
        "STORAGE_URL": "",
        "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "SIGNIN_RATE_LIMIT": "1000 per minute",
        "TOKEN_RATE_LIMIT": "1000 per minute",
        "SERVER_NAME": None,
    })
    app.test_client_class = IsolatedClient
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()
    if schema:
        drop_postgres_schema(url, schema)


@pytest.fixture(autouse=True)
def _clean(app):
    yield
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
    app.extensions.pop("mail_sent", None)
    app.extensions.pop("mail_backend", None)
    limiter.reset()


@pytest.fixture
def ctx(app):
    """An app context for the test body: factories and queries run in it."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app, ctx):
    return app.test_client()


@pytest.fixture
def sent(app):
    """The messages the memory mail backend delivered, as email.message.EmailMessage objects."""

    class Sent(list):
        def refresh(self):
            self[:] = app.extensions.get("mail_sent", [])
            return self

        def to(self, address):
            return [m for m in self.refresh() if m["To"] == address]

    return Sent()


# --- factories --------------------------------------------------------------------------------


@pytest.fixture
def world(ctx):
    """One event seen by every role, plus a second event with its own organizer."""
    organizer = make_user("org@example.org", "Olga Organizer")
    other_organizer = make_user("other-org@example.org", "Oscar Other")
    admin = make_user("admin@example.org", "Ada Admin", admin=True)
    event = make_event("retreat", organizers=[organizer], capacity=5)
    other_event = make_event("elsewhere", organizers=[other_organizer])
    attendee = make_participant(event, "attendee@example.org")
    unsigned = make_participant(event, "unsigned@example.org", signed=False)
    stranger = make_user("stranger@example.org", "Sam Stranger")
    users = {"anonymous": None, "stranger": stranger, "unsigned": unsigned, "attendee": attendee,
             "other_organizer": other_organizer, "organizer": organizer, "admin": admin}

    class World:
        pass

    w = World()
    w.event, w.other_event, w.users = event, other_event, users
    for name, user in users.items():
        setattr(w, name, user)
    return w
