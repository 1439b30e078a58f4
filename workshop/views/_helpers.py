"""Small pieces every blueprint uses: loading with a policy check, safe redirects, form errors."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, flash, request
from flask_login import current_user

from ..extensions import db
from ..models import Event
from ..services.errors import DomainError


def load_event(slug: str, may_view: Callable, may_act: Callable | None = None) -> Event:
    """Load an event, answering 404 to whoever may not know it exists and 403 to a forbidden action."""
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
    if event is None or not may_view(current_user, event):
        abort(404)
    if may_act is not None and not may_act(current_user, event):
        abort(403)
    return event


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site paths are followed after a form."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


MAX_ROW_ID = 2**31 - 1


def int_arg(name: str, default: int | None = None, minimum: int = 1, maximum: int = MAX_ROW_ID) -> int | None:
    """A whole-number query argument, or a 400 that says which one is wrong."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not minimum <= int(raw) <= maximum:
        abort(400, f"“{name}” must be a whole number from {minimum} to {maximum:,}.")
    return int(raw)


def client_ip() -> str:
    return request.remote_addr or ""


def form_error(form, error: DomainError) -> None:
    """Show a service's refusal beside its field when it names one, as a flash otherwise.

    Either way the form now has errors, so the view answers with a 4xx.
    """
    if error.field and error.field in form:
        form[error.field].errors = [*form[error.field].errors, error.message]
    else:
        form.form_errors.append(error.message)
        flash(error.message, "error")
