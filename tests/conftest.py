"""Fixtures: one app per test run, a clean database per test, a client per test, factories.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL is set.
Tests may keep an app context open (the ``ctx`` fixture does); every request the
client makes still runs in a fresh app context of its own, as in production, so
nothing cached for one request (the signed-in user, policy decisions) leaks into
the next.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from workshop import create_app
from workshop.extensions import db, limiter
from workshop.models import (
    Agreement,
    AgreementAcceptance,
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    User,
    utcnow,
)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


class IsolatedClient(FlaskClient):
    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        # The test's own session must see what the request committed.
        db.session.expire_all()
        return response


def postgres_schema(url: str, prefix: str = "test_run") -> tuple[str, dict]:
    """A fresh schema of this run's own, so that parallel runs on one PostgreSQL database do not
    collide; returns its name and the engine options that make it the default."""
    schema = f"{prefix}_{os.getpid()}"
    drop_postgres_schema(url, schema)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return schema, {"connect_args": {"options": f"-csearch_path={schema}"}, "pool_pre_ping": True}


def drop_postgres_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


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


def login_as(client, user: User | None) -> None:
    """Sign the test client in as ``user`` (or out, with None) without the email round-trip."""
    with client.session_transaction() as session:
        session.clear()
        if user is not None:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True


# --- factories --------------------------------------------------------------------------------


def make_user(email: str, name: str = "", admin: bool = False) -> User:
    user = User(email=email.lower(), name=name or email.split("@")[0].title(), is_admin=admin)
    db.session.add(user)
    db.session.commit()
    return user


def make_event(slug: str = "retreat", organizers: list[User] = (), capacity: int = 10,
               status: EventStatus = EventStatus.OPEN, **fields) -> Event:
    today = date.today()
    event = Event(slug=slug, title=fields.pop("title", f"The {slug.title()}"), capacity=capacity, status=status,
                  starts_on=fields.pop("starts_on", today + timedelta(days=30)),
                  ends_on=fields.pop("ends_on", today + timedelta(days=32)), timezone=fields.pop("timezone", "UTC"),
                  **fields)
    event.organizers = list(organizers)
    db.session.add(event)
    db.session.flush()
    db.session.add(Agreement(event_id=event.id, version=1, text="Keep it in the room."))
    db.session.commit()
    return event


def make_candidate(event: Event, email: str, status: CandidateStatus = CandidateStatus.PROPOSED,
                   user: User | None = None, **fields) -> Candidate:
    name = fields.pop("name", email.split("@")[0].title())
    candidate = Candidate(event_id=event.id, email=email.lower(), name=name, status=status,
                          user_id=user.id if user else None, **fields)
    if status == CandidateStatus.WAITLISTED:
        candidate.waitlisted_at = fields.get("waitlisted_at") or utcnow()
    db.session.add(candidate)
    db.session.commit()
    return candidate


def sign_agreement(user: User, event: Event) -> None:
    agreement = db.session.scalar(
        sa.select(Agreement).where(Agreement.event_id == event.id).order_by(Agreement.version.desc()).limit(1)
    )
    db.session.add(AgreementAcceptance(agreement_id=agreement.id, user_id=user.id, typed_name=user.name,
                                       ip="127.0.0.1"))
    db.session.commit()


def make_participant(event: Event, email: str, status: CandidateStatus = CandidateStatus.ACCEPTED,
                     signed: bool = True) -> User:
    """A user linked to the event through the invite list, optionally with the agreement signed."""
    user = make_user(email)
    make_candidate(event, email, status, user=user)
    if signed:
        sign_agreement(user, event)
    return user


ROLES = ("anonymous", "stranger", "unsigned", "attendee", "other_organizer", "organizer", "admin")


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
