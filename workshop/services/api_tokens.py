"""Personal access tokens for the read-only API: made and revoked by their owner, stored hashed.

A token acts as its owner and sees exactly what the policy lets the owner see, decided afresh on every
request: revoked from an event, the owner's token finds nothing of it; a disabled account's tokens open
nothing at all.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from .. import policy
from ..extensions import db
from ..models import ApiToken, User, utcnow
from .errors import DomainError
from .tokens import hash_token

PREFIX = "cnc_"  # lets secret scanners and people recognise a Conclave token
MAX_TOKENS = 20
# Last-used times are kept to the minute: one write a minute per token, not one per request.
TOUCH_EVERY = timedelta(minutes=1)


def tokens_of(user: User) -> list[ApiToken]:
    """The person's tokens, newest first."""
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)
                                   .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token for ``user``; returns it and the raw token, which is not stored: show it once.

    Who may: any signed-in person whose account may sign in (policy.can_have_api_tokens). Raises DomainError
    for a missing or long name, or past MAX_TOKENS. The caller commits.
    """
    if not policy.can_have_api_tokens(user):
        raise DomainError("Sign in to make an API token.")
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 80:
        raise DomainError("Name the token (up to 80 characters), e.g. the app that will use it.", field="name")
    count = db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id))
    if count >= MAX_TOKENS:
        raise DomainError(f"You have {MAX_TOKENS} tokens; revoke one you no longer use first.", field="name")
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(raw), hint=raw[-4:])
    db.session.add(token)
    db.session.flush()
    return token, raw


def revoke_token(user: User, token_public_id: str) -> ApiToken:
    """Delete one of ``user``'s tokens: programs that use it get 401 from now on.

    Raises LookupError when ``user`` has no such token (someone else's is no such token). The caller commits.
    """
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.public_id == (token_public_id or "")[:24],
                                                        ApiToken.user_id == user.id))
    if token is None:
        raise LookupError(token_public_id)
    db.session.delete(token)
    return token


def authenticate(raw: str | None) -> ApiToken | None:
    """The token a request's bearer credential names, if its owner may still sign in; None otherwise."""
    if not raw or len(raw) > 200 or not raw.startswith(PREFIX):
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    if token is None or not policy.user_may_sign_in(token.user):
        return None
    return token


def touch(token: ApiToken, now: datetime | None = None) -> bool:
    """Record that the token was used now, at most once a minute; returns whether anything was written."""
    now = now or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return False
    token.last_used_at = now
    return True
