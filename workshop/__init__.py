"""Conclave: an invite-only unconference and workshop manager."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from . import config as config_module
from . import dbguard
from .extensions import csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class RowId(IntegerConverter):
    """A row id in a URL: a whole number the database can hold, so anything else is a plain 404."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**31 - 1)


def create_app(config: dict | None = None) -> Flask:
    app = dbguard.GuardedFlask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    testing = bool((config or {}).get("TESTING"))
    app.config.update(config_module.from_environment(Path(app.instance_path), require_secret=not testing))
    if config:
        app.config.update(config)

    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    from . import mail, models, policy, tasks  # noqa: F401  (register the tables and the outbox's commit hooks)

    tasks.init_app(app)

    @login_manager.user_loader
    def load_user(user_id: str):
        # Signed in only while the browser's session row lives (see UserSession): a cookie signed out
        # of, or a remember-me cookie (never issued, and carrying no session key), signs nobody in.
        from flask import session

        from .services.accounts import SESSION_KEY, session_user

        try:
            raw_id, raw_version = user_id.split(":", 1)
            user = session_user(int(raw_id), session.get(SESSION_KEY))
        except (ValueError, TypeError, OverflowError):
            return None
        if not policy.user_may_sign_in(user) or str(user.session_version) != raw_version:
            return None
        return user

    app.url_map.converters["id"] = RowId
    _register_blueprints(app)
    _register_templating(app)
    _register_hooks(app)
    _register_errors(app)

    from .cli import register_cli

    register_cli(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from .views import (
        admin,
        api,
        auth,
        autoschedule,
        calendar,
        events,
        exports,
        invitation,
        invites,
        main,
        manage,
        materials,
        messages,
        proposals,
        reader,
        schedule,
        sessions,
    )

    for module in (main, auth, admin, events, manage, invites, invitation, proposals, materials, reader, schedule,
                   sessions, calendar, autoschedule, exports, api, messages):
        app.register_blueprint(module.bp)
    app.register_blueprint(api.tokens_bp)
    app.register_blueprint(messages.admin_bp)


def _register_templating(app: Flask) -> None:
    from . import dates, policy
    from .text import render_markdown

    dates.register(app)
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.globals["policy"] = policy
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True


def _register_hooks(app: Flask) -> None:
    from . import logs
    from .forms.base import refuse_nul_bytes

    logs.init_app(app)
    app.before_request(refuse_nul_bytes)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if not app.config["DEVELOPMENT"] and not app.testing:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if getattr(g, "private_page", False) or request.endpoint not in (None, "static"):
            # Pages may hold private data: never store them in shared caches.
            headers.setdefault("Cache-Control", "private, no-store")
        return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith("/static/"):
            return error
        if request.path.startswith("/api/"):
            from .views.api import json_error

            return json_error(error)
        response = error.get_response()
        response.set_data(render_template("errors/error.html", error=error))
        response.content_type = "text/html; charset=utf-8"
        return response

    dbguard.init_app(app, http_error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        app.logger.exception("unhandled error")
        db.session.rollback()
        return render_template("errors/error.html", error=None), 500
