"""A lost database connection: reads retried once, writes answered 503, committed work never an error.

These tests use an app of their own (routes cannot be added to the session's app once it has served
a request) on its own SQLite file, and provoke the errors the database driver raises. The real thing,
PostgreSQL terminating a gunicorn worker's connections mid-traffic, is in tests/blackbox/.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from workshop import create_app
from workshop.extensions import db
from workshop.models import User


def lost_connection() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, Exception("terminating connection due to administrator command"),
                                   connection_invalidated=True)


@pytest.fixture
def guarded(tmp_path):
    app = create_app({
        "TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'guard.db'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {}, "WTF_CSRF_ENABLED": False, "MAIL_BACKEND": "memory",
        "MATERIALS_DIR": str(tmp_path / "materials"), "RATELIMIT_ENABLED": False,
        # Let errors reach the handlers, as in production (TESTING would re-raise some of them).
        "PROPAGATE_EXCEPTIONS": False,
    })
    calls = {"read": 0, "write": 0}

    @app.get("/test/read")
    def read():
        calls["read"] += 1
        db.session.scalar(sa.select(sa.func.count()).select_from(User))
        if calls["read"] == 1:
            raise lost_connection()
        return "read ok"

    @app.get("/test/always-down")
    def always_down():
        calls["read"] += 1
        raise lost_connection()

    @app.post("/test/write")
    def write():
        calls["write"] += 1
        db.session.add(User(email=f"half{calls['write']}@example.org"))
        db.session.flush()
        raise lost_connection()

    @app.post("/test/commit-then-lose")
    def commit_then_lose():
        db.session.add(User(email="kept@example.org"))
        db.session.commit()
        db.session.scalar(sa.select(sa.literal(1)))  # the connection is checked out again

        def dead_close():
            raise lost_connection()

        db.session().close = dead_close  # the teardown's ROLLBACK meets a dead connection
        return "saved", 201

    @app.post("/test/commit-then-fail")
    def commit_then_fail():
        db.session.add(User(email="saved@example.org"))
        db.session.commit()
        raise lost_connection()  # e.g. reloading the saved row for the next page

    with app.app_context():
        db.create_all()
    yield app, calls
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def test_a_read_that_loses_its_connection_is_retried_once_and_succeeds(guarded):
    app, calls = guarded
    response = app.test_client().get("/test/read")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "read ok"
    assert calls["read"] == 2


def test_a_read_that_fails_twice_answers_503_with_retry_after(guarded):
    app, calls = guarded
    response = app.test_client().get("/test/always-down")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "try again in a few seconds" in response.get_data(as_text=True)
    assert calls["read"] == 2  # one retry, not a loop


def test_a_write_is_not_retried_answers_503_and_leaves_nothing(guarded):
    app, calls = guarded
    response = app.test_client().post("/test/write")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert calls["write"] == 1
    page = response.get_data(as_text=True)
    assert "Traceback" not in page and "OperationalError" not in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_committed_work_is_never_answered_with_an_error(guarded):
    app, _ = guarded
    response = app.test_client().post("/test/commit-then-lose")
    assert response.status_code == 201
    with app.app_context():
        assert db.session.scalar(sa.select(User.email)) == "kept@example.org"


def test_a_write_that_committed_before_the_connection_was_lost_says_it_was_saved(guarded):
    app, _ = guarded
    response = app.test_client().post("/test/commit-then-fail", headers={"Referer": "http://localhost/somewhere?x=1"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Your change was saved" in page
    assert 'href="/somewhere?x=1"' in page
    with app.app_context():
        assert db.session.scalar(sa.select(User.email)) == "saved@example.org"


def test_the_saved_page_never_links_to_another_site(guarded):
    app, _ = guarded
    response = app.test_client().post("/test/commit-then-fail", headers={"Referer": "https://evil.example/phish"})
    assert response.status_code == 200
    assert 'href="/"' in response.get_data(as_text=True)
