"""Helpers shared by the models."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC, the form every timestamp column stores on every database."""
    return datetime.now(UTC).replace(tzinfo=None)


def public_id() -> str:
    """A random identifier for URLs that must not be guessable."""
    return secrets.token_urlsafe(12)
