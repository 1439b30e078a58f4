"""Accounts: users, sign-in links, passwords."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app

from .. import mail
from ..extensions import db
from ..models import LoginToken, MessageKind, User, UserSession, utcnow
from . import audit
from .errors import DomainError
from .tokens import hash_token, new_token

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("not a real password")
# The key in the (signed) session cookie naming the browser's UserSession row.
SESSION_KEY = "_session_key"
INVALID_LINK = "This sign-in link is not valid any more. Links work once and for 15 minutes; ask for a new one."


def normalize_email(email: str) -> str:
    """Validate syntax (no DNS lookup) and return the address in a canonical, lower-case form."""
    try:
        result = validate_email((email or "").strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise DomainError(f"That email address is not valid: {error}", field="email") from error
    return result.normalized.lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email.lower()))


def get_or_create_user(email: str, name: str = "") -> User:
    email = normalize_email(email)
    user = find_user(email)
    if user is None:
        user = User(email=email, name=name.strip())
        db.session.add(user)
        db.session.flush()
    elif name and not user.name:
        user.name = name.strip()
    return user


def create_user(email: str, name: str = "", admin: bool = False) -> User:
    """Create (or promote) a user; used by the CLI and by admins."""
    user = get_or_create_user(email, name)
    if admin:
        user.is_admin = True
    return user


def request_sign_in(email: str) -> None:
    """Queue a sign-in link for this address; the caller commits and shows the same answer for any address.

    Whether the address belongs to an active account is decided by the worker when it sends
    (``mint_sign_in_link``), so the request does the same work, in the same time, for a known,
    an unknown and a disabled address.
    """
    try:
        email = normalize_email(email)
    except DomainError:
        return
    mail.queue_link(email, "Your Conclave sign-in link", "sign_in", MessageKind.SIGN_IN)


def mint_sign_in_link(email: str) -> dict:
    """For the worker, as it sends a sign-in message: a fresh link (only its hash is stored, and its
    lifetime starts now), and the template's context. Raises ``mail.Cancelled`` for an address with
    no active account: that message is dropped unsent."""
    user = find_user(email)
    if user is None or user.is_disabled:
        raise mail.Cancelled("No active account has this address.", forget=True)
    token, token_hash = new_token()
    minutes = current_app.config["LOGIN_TOKEN_MINUTES"]
    db.session.add(LoginToken(user_id=user.id, token_hash=token_hash, expires_at=utcnow() + timedelta(minutes=minutes)))
    return {"user": user, "link": f"{current_app.config['BASE_URL']}/auth/link/{token}", "minutes": minutes}


def peek_login_token(token: str) -> LoginToken:
    """The unused, unexpired token, or DomainError. Does not consume it."""
    return peek_login_hash(hash_token(token))


def peek_login_hash(token_hash: str | None) -> LoginToken:
    """As ``peek_login_token``, for the hash of a link's token (what a browser's session keeps once the
    link has been opened)."""
    if not token_hash:
        raise DomainError(INVALID_LINK)
    row = db.session.scalar(sa.select(LoginToken).where(LoginToken.token_hash == token_hash))
    if row is None or row.used_at is not None or row.expires_at < utcnow() or row.user.is_disabled:
        raise DomainError(INVALID_LINK)
    return row


def redeem_login_token(token: str) -> User:
    """Consume a sign-in link and return its user. A link works once."""
    return redeem_login_hash(hash_token(token))


def redeem_login_hash(token_hash: str | None) -> User:
    """As ``redeem_login_token``, for the hash of the link's token."""
    row = peek_login_hash(token_hash)
    used = db.session.execute(
        sa.update(LoginToken).where(LoginToken.id == row.id, LoginToken.used_at.is_(None)).values(used_at=utcnow())
    ).rowcount
    if used != 1:  # a concurrent request got there first
        raise DomainError(INVALID_LINK)
    return row.user


def check_password(email: str, password: str) -> User | None:
    """The user whose password this is, or None. Same work whether or not the email is known."""
    try:
        user = find_user(normalize_email(email))
    except DomainError:
        user = None
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.password_hash or user.is_disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def set_password(user: User, password: str | None) -> None:
    """Set, or with None remove, the optional password."""
    if password is None:
        user.password_hash = None
        return
    if len(password) < 10:
        raise DomainError("Use at least 10 characters.", field="password")
    user.password_hash = _hasher.hash(password)


def _session_lifetime() -> timedelta:
    return current_app.permanent_session_lifetime  # SESSION_DAYS, as a timedelta whatever the config holds


def open_session(user: User) -> str:
    """Record a newly signed-in browser and return the key its session cookie carries (only its hash
    is stored). Sessions of this user that outlived the sign-in lifetime are cleared on the way."""
    db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id,
                                                    UserSession.created_at < utcnow() - _session_lifetime()))
    key, key_hash = new_token()
    db.session.add(UserSession(user_id=user.id, key_hash=key_hash))
    return key


def sweep_sessions(now: datetime | None = None) -> int:
    """Delete what can no longer sign anyone in: browser sessions older than the sign-in lifetime and
    sign-in links a day past their expiry. The worker runs it every minute; returns how many rows went."""
    now = now or utcnow()
    gone = db.session.execute(sa.delete(UserSession).where(UserSession.created_at < now - _session_lifetime()))
    links = db.session.execute(sa.delete(LoginToken).where(LoginToken.expires_at < now - timedelta(days=1)))
    db.session.commit()
    return gone.rowcount + links.rowcount


def session_user(user_id: int, key: str | None) -> User | None:
    """The user a session cookie signs in: only while its key's row lives (not signed out, not ended
    everywhere, not older than the sign-in lifetime). One query."""
    if not key or not isinstance(key, str) or not 0 < user_id < 2**31:
        return None
    return db.session.scalar(
        sa.select(User).join(UserSession, UserSession.user_id == User.id)
        .where(User.id == user_id, UserSession.key_hash == hash_token(key),
               UserSession.created_at >= utcnow() - _session_lifetime()))


def close_session(key: str | None) -> None:
    """Sign one browser out for good: its cookie, wherever it is replayed, signs nobody in."""
    if key and isinstance(key, str):
        db.session.execute(sa.delete(UserSession).where(UserSession.key_hash == hash_token(key)))


def end_all_sessions(user: User) -> None:
    """Every browser signed in as this user is signed out on its next request."""
    user.session_version = (user.session_version or 1) + 1
    db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))


def set_disabled(actor: User, user: User, disabled: bool) -> None:
    if actor.id == user.id and disabled:
        raise DomainError("You cannot disable your own account.")
    user.is_disabled = disabled
    if disabled:
        end_all_sessions(user)
    audit.record(actor, None, "disable user" if disabled else "enable user", f"user {user.email}")


def set_admin(actor: User, user: User, admin: bool) -> None:
    if actor.id == user.id and not admin:
        raise DomainError("You cannot remove your own admin role.")
    user.is_admin = admin
    audit.record(actor, None, "grant admin" if admin else "revoke admin", f"user {user.email}")
