"""Log lines never hold the secret of a link.

A sign-in or invitation link, or a personal calendar address, is a secret in a URL. Once opened, the
first two move their token out of the URL (see ``views.auth.open_link``), but the request that opened
the link still names it, and so would any line the web server or the app writes about it: gunicorn's
access and error logs, the development server's request lines, and the app's own warnings. Every
such logger gets a filter that blanks the token out of the message and its arguments (gunicorn passes
the request line, path, query and headers as arguments), before any handler writes the line.

A reverse proxy in front of Conclave writes logs of its own, which no filter here reaches: see the
README for the lines to add to its configuration.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping

from flask import Flask

REDACTED = "[redacted]"
# A token is whatever follows the link's prefix up to the next separator; a calendar secret is a long
# run of URL-safe characters (the short words of /e/<slug>/calendar/reset and the like are not).
_SECRETS = re.compile(r"(/auth/link/|/invitation/)[^\s/?#\"'&;,]+|(/calendar/)[\w-]{16,}")
LOGGERS = ("gunicorn.access", "gunicorn.error", "werkzeug")


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


def _clean(value):
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Blank link tokens out of a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _clean(record.msg)
        if isinstance(record.args, MutableMapping):
            for key, value in list(record.args.items()):
                if isinstance(value, str):
                    record.args[key] = redact(value)
        elif isinstance(record.args, tuple):
            record.args = tuple(_clean(value) for value in record.args)
        return True


def init_app(app: Flask) -> None:
    """Filter the web servers' loggers (the process that serves the app) and the app's own."""
    for name in (*LOGGERS, app.logger.name):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
