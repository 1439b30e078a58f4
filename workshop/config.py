"""Settings from the environment, with defaults that work on a first run.

Every setting is listed in the README. The defaults give an embedded setup:
SQLite in ``instance/``, the task queue in a SQLite file beside it, email to the
console, files on local disk, rate limits in memory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _secret_key(instance_path: Path, development: bool, require: bool) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if not development and require:
        raise RuntimeError(
            "SECRET_KEY must be set outside development (CONCLAVE_ENV=development for a local run)."
        )
    # A development key kept on disk, so that sessions survive a restart.
    path = instance_path / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def from_environment(instance_path: Path, require_secret: bool = True) -> dict:
    instance_path.mkdir(parents=True, exist_ok=True)
    development = os.environ.get("CONCLAVE_ENV", "production").lower() == "development"
    base_url = os.environ.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'conclave.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    sendgrid_key = os.environ.get("SENDGRID_API_KEY", "")
    return {
        "DEVELOPMENT": development,
        "SECRET_KEY": _secret_key(instance_path, development, require_secret),
        "BASE_URL": base_url,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Mail: sendgrid when a key is configured, the console otherwise.
        "MAIL_BACKEND": os.environ.get("MAIL_BACKEND") or ("sendgrid" if sendgrid_key else "console"),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Conclave <conclave@localhost>"),
        "MAIL_FILE_DIR": os.environ.get("MAIL_FILE_DIR", str(instance_path / "outbox")),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", 8),
        "SENDGRID_API_KEY": sendgrid_key,
        # Tests and private relays point the SendGrid client elsewhere.
        "SENDGRID_API_URL": os.environ.get("SENDGRID_API_URL", "https://api.sendgrid.com").rstrip("/"),
        # Every call to the provider gives up after this long; a hanging provider never holds a worker.
        "MAIL_TIMEOUT_SECONDS": _float("MAIL_TIMEOUT_SECONDS", 10.0),
        # Calls per second to the provider, shared by every worker; 0 for no limit.
        "MAIL_RATE_PER_SECOND": _float("MAIL_RATE_PER_SECOND", 50.0),
        # A message's first retry waits this long, each later one twice as long (with jitter), up to 6 hours.
        "MAIL_RETRY_SECONDS": _float("MAIL_RETRY_SECONDS", 60.0),
        # After a provider error (5xx, timeout, refused connection) sending pauses this long, doubling
        # with each further error; a 429's Retry-After is honoured. Neither pause exceeds the maximum.
        "MAIL_PROVIDER_BACKOFF_SECONDS": _float("MAIL_PROVIDER_BACKOFF_SECONDS", 5.0),
        "MAIL_PAUSE_MAX_SECONDS": _float("MAIL_PAUSE_MAX_SECONDS", 900.0),
        # A message being sent by a worker that died is sent again once this lease runs out.
        "MAIL_LEASE_SECONDS": _float("MAIL_LEASE_SECONDS", 120.0),
        # The task queue: empty for a SQLite file in instance/ (needs no service), redis://host:6379/0 in
        # production, "immediate" to run tasks in the process that queues them (tests).
        "TASK_QUEUE_URL": os.environ.get("TASK_QUEUE_URL", ""),
        "TASK_QUEUE_NAME": os.environ.get("TASK_QUEUE_NAME", "conclave"),
        # A job whose worker stops reporting for this long is taken over by another worker.
        "JOB_LEASE_SECONDS": _float("JOB_LEASE_SECONDS", 120.0),
        "JOB_MAX_ATTEMPTS": _int("JOB_MAX_ATTEMPTS", 3),
        # Sign-in and invitations.
        "LOGIN_TOKEN_MINUTES": _int("LOGIN_TOKEN_MINUTES", 15),
        "INVITE_TOKEN_DAYS": _int("INVITE_TOKEN_DAYS", 14),
        # Rate limits: memory by default; redis://127.0.0.1:6379 shares them between workers.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        "RATELIMIT_HEADERS_ENABLED": True,
        "SIGNIN_RATE_LIMIT": os.environ.get("SIGNIN_RATE_LIMIT", "10 per minute;60 per hour"),
        "TOKEN_RATE_LIMIT": os.environ.get("TOKEN_RATE_LIMIT", "30 per minute"),
        # Per API token (per client address for requests without one).
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "120 per minute;2000 per hour"),
        # How many reverse proxies sit in front of the app; 0 trusts no X-Forwarded-* header.
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Cookies.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", not development),
        "SESSION_COOKIE_NAME": "conclave_session",
        "PERMANENT_SESSION_LIFETIME": _int("SESSION_DAYS", 14) * 86400,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        # The largest request: a material of MATERIAL_MAX_BYTES plus the form around it.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", _int("MATERIAL_MAX_BYTES", 50 * 1024 * 1024) + 256 * 1024),
        "CSV_IMPORT_MAX_ROWS": _int("CSV_IMPORT_MAX_ROWS", 5000),
        # Materials: local disk under instance/materials by default, or s3://bucket/prefix.
        "STORAGE_URL": os.environ.get("STORAGE_URL", ""),
        "MATERIALS_DIR": os.environ.get("MATERIALS_DIR", str(instance_path / "materials")),
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL", ""),
        "MATERIAL_MAX_BYTES": _int("MATERIAL_MAX_BYTES", 50 * 1024 * 1024),
        # PDFs and images are prepared and stamped in a child process within these bounds.
        "PDF_MAX_PAGES": _int("PDF_MAX_PAGES", 300),
        "PDF_PREPARE_SECONDS": _int("PDF_PREPARE_SECONDS", 60),
        "PDF_STAMP_SECONDS": _int("PDF_STAMP_SECONDS", 20),
        "PDF_MEMORY_MB": _int("PDF_MEMORY_MB", 1024),
        "PDF_MAX_EXPANDED_MB": _int("PDF_MAX_EXPANDED_MB", 1024),
        # The resolution at which the reader of view-only materials renders each page (36 to 300).
        "READER_DPI": _int("READER_DPI", 144),
        # Per person: each page is rendered for its reader, so a script flipping pages costs the server.
        "READER_RATE_LIMIT": os.environ.get("READER_RATE_LIMIT", "120 per minute;1500 per hour"),
    }
