"""What a request does when the database drops its connection or cannot answer for a moment.

PostgreSQL restarts, fail-overs and idle-connection reapers end connections under running
requests. Three rules keep that from ever showing a person a 500:

- a read (GET or HEAD) that meets a lost connection is run once more on a fresh connection
  (``pool_pre_ping`` already replaces connections that died while idle in the pool);
- any other request that meets one answers 503 with ``Retry-After``; its transaction never
  committed, so nothing is half-written (a view commits once, at its end);
- a request whose work did commit is never answered with an error because the connection died
  afterwards: ending the session at teardown swallows that failure (the transaction is over), and
  a write whose later steps (loading the next page) fail is answered with a page that says it was
  saved and where to go on.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, g, has_request_context, render_template, request
from flask_login import AnonymousUserMixin
from sqlalchemy.orm import Session

from .extensions import db

# Errors of the database or its connection that a retry may cure: a dropped connection, a server
# that is restarting or refusing connections, a deadlock or serialization failure, a locked SQLite
# file. Programming errors (bad SQL, constraint violations) are not among them.
TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError)
RETRY_AFTER_SECONDS = 5


@sa.event.listens_for(Session, "after_commit")
def _remember_commit(session) -> None:
    if has_request_context():
        g._database_committed = True


def discard_session() -> None:
    """End the request's session whatever state its connection is in."""
    try:
        db.session.rollback()
    except sa.exc.SQLAlchemyError:
        pass  # the connection is gone: SQLAlchemy has invalidated it, so the pool will not reuse it
    try:
        db.session.remove()
    except sa.exc.SQLAlchemyError:
        db.session.registry.clear()


def forget_loaded_state() -> None:
    """Objects loaded before the connection dropped belong to the discarded session."""
    from . import policy

    g.pop("_login_user", None)
    policy.forget_memo()


class GuardedFlask(Flask):
    """Flask, with reads retried once when the database connection is lost under them."""

    def dispatch_request(self):
        try:
            return super().dispatch_request()
        except TRANSIENT:
            if request.method not in ("GET", "HEAD") or g.get("_database_retried"):
                raise
            self.logger.warning("database connection lost during %s %s; retrying once", request.method,
                                request.path)
            g._database_retried = True
            discard_session()
            forget_loaded_state()
            return super().dispatch_request()


def init_app(app: Flask, render_unavailable) -> None:
    """Register the teardown and the 503 answer. ``render_unavailable`` renders an HTTPException."""
    from werkzeug.exceptions import ServiceUnavailable

    @app.teardown_appcontext
    def end_session_quietly(exc):
        # Registered after Flask-SQLAlchemy's own teardown, so it runs first (teardowns run in
        # reverse): a failing ROLLBACK on a dead connection must not turn a finished request into a
        # 500, least of all one whose transaction committed.
        try:
            db.session.remove()
        except sa.exc.SQLAlchemyError:
            app.logger.warning("database connection lost while ending the session", exc_info=True)
            db.session.registry.clear()

    def unavailable(error):
        app.logger.warning("database unavailable during %s %s: %s", request.method, request.path, error)
        discard_session()
        forget_loaded_state()
        # The page must not touch the database again: show it as to a signed-out visitor.
        g._login_user = AnonymousUserMixin()
        if g.get("_database_committed") and request.method not in ("GET", "HEAD"):
            from .views._helpers import safe_next

            back = safe_next(_same_site_path(request.referrer), "/")
            return render_template("errors/saved.html", back=back), 200
        return render_unavailable(ServiceUnavailable(
            "The database did not answer just now, so this request did not complete. "
            "Please try again in a few seconds.", retry_after=RETRY_AFTER_SECONDS))

    for error_class in TRANSIENT:
        app.register_error_handler(error_class, unavailable)


def _same_site_path(referrer: str | None) -> str | None:
    """The path of a Referer from this site (scheme and host as the request's), else None."""
    from urllib.parse import urlsplit

    if not referrer:
        return None
    parts = urlsplit(referrer)
    if f"{parts.scheme}://{parts.netloc}" != request.host_url.rstrip("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
