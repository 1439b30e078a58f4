"""What the page benchmarks share: a throw-away database and app, and timing one page."""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask

from workshop import create_app
from workshop.extensions import db


@contextlib.contextmanager
def throwaway_app(url: str = "", **config) -> Iterator[Flask]:
    """An app on a database made for this run: SQLite in a temporary folder unless ``url`` is given; on
    PostgreSQL a schema of its own, dropped afterwards. The tables are created empty."""
    url = url or f"sqlite:///{tempfile.mkdtemp(prefix='conclave-bench-')}/bench.db"
    options: dict = {}
    schema = ""
    if url.startswith("postgresql"):
        schema = f"bench_{os.getpid()}"
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options,
                      "WTF_CSRF_ENABLED": False, "MAIL_BACKEND": "memory", "RATELIMIT_ENABLED": False, **config})
    try:
        with app.app_context():
            db.create_all()
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            if schema:
                with db.engine.begin() as connection:
                    connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            db.engine.dispose()


def signed_in_client(app: Flask, user):
    """A test client signed in as ``user`` (call in an app context): a session row, as a sign-in opens."""
    from workshop.services import accounts

    key = accounts.open_session(user)
    db.session.commit()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session[accounts.SESSION_KEY] = key
    return client


@dataclass
class Figures:
    """One page's figures over several runs."""

    median_ms: float
    p95_ms: float
    cpu_ms: float  # median time this process spent computing: wall time less waiting for a busy machine
    queries: int
    size: int  # bytes of the last answer


def measure(app: Flask, client, path: str, runs: int) -> Figures:
    """Request ``path`` once to warm up, then ``runs`` times, counting the queries of each request."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(*_args):
        statements.append("q")

    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    timings, cpu = [], []
    for _ in range(runs):
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        timings.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        sa.event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200, (path, response.status_code)
    p95 = sorted(timings)[max(int(len(timings) * 0.95) - 1, 0)]
    return Figures(statistics.median(timings), p95, statistics.median(cpu), len(statements), len(response.data))
