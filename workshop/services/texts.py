"""The words of the messages Conclave sends, and an event's own versions of them.

Organizers may reword an event's invitation, reminder, acceptance, waitlist promotion and new
agreement messages. Their texts hold ``{placeholders}`` (``{name}``, ``{event}``, ``{link}``...), each
filled per recipient; a placeholder the kind does not know is refused when the text is saved, so a
message never leaves with a ``{typo}`` in it. Without an event's own text the built-in one is used
(templates/email/*.txt); the defaults shown in the editor say the same thing.

Values are filled in as plain text: nothing a person typed (a name, a title) is ever read as a
placeholder or a template, because filling is one pass of a regular expression over the organizers'
text, never a template engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, render_template

from ..dates import datefmt
from ..extensions import db
from ..models import Event, MessageText, User, utcnow
from . import audit
from .errors import DomainError

PLACEHOLDER = re.compile(r"\{([^{}\n]{0,40})\}")
MAX_SUBJECT = 200
MAX_BODY = 10_000

# What every placeholder means, for the editor's list.
MEANINGS = {
    "name": "the recipient's name (or address, if they gave no name)",
    "event": "the event's title",
    "dates": "the event's dates",
    "venue": "the event's venue",
    "event_link": "the address of the event's page",
    "agreement_link": "the address of the agreement",
    "link": "the recipient's personal invitation link, made when the email is sent",
    "expires": "the day the invitation link stops working",
    "version": "the agreement's version number",
}
EVENT_PLACEHOLDERS = ("name", "event", "dates", "venue", "event_link", "agreement_link")


@dataclass(frozen=True)
class TextKind:
    key: str
    label: str
    when: str  # when the message is sent, for the editor
    template: str  # the built-in templates/email/<template>.txt
    subject: str
    body: str
    placeholders: tuple[str, ...]
    required: tuple[str, ...] = ()


KINDS: dict[str, TextKind] = {kind.key: kind for kind in (
    TextKind(
        "invitation", "Invitation", "to each person of an invitation wave", "invitation",
        "You are invited to {event}",
        "Hello {name},\n\nYou are invited to {event}, an invite-only gathering on {dates}{venue}.\n\n"
        "Accept or decline here. The link is for you alone and works until {expires}:\n\n{link}\n\n"
        "After accepting, you will be asked to sign the event's confidentiality agreement.",
        (*EVENT_PLACEHOLDERS, "link", "expires"), ("link",)),
    TextKind(
        "reminder", "Reminder", "to invited people who have not answered (by hand or on the wave's reminder days)",
        "reminder",
        "Reminder: your invitation to {event}",
        "Hello {name},\n\nA reminder: you are invited to {event} ({dates}), and the organizers have not heard "
        "from you yet.\n\nAccept or decline here. This new link replaces the earlier one and works until "
        "{expires}:\n\n{link}",
        (*EVENT_PLACEHOLDERS, "link", "expires"), ("link",)),
    TextKind(
        "acceptance", "Acceptance", "to a person who accepts their invitation and gets a seat", "accepted",
        "Welcome to {event}",
        "Hello {name},\n\nThank you for accepting: you have a seat at {event} ({dates}).\n\n"
        "If you have not signed the confidentiality agreement yet, read and sign it here:\n\n{agreement_link}",
        EVENT_PLACEHOLDERS),
    TextKind(
        "promotion", "Waitlist promotion", "to a waitlisted person when a seat opens for them", "promoted",
        "A seat opened for you at {event}",
        "Hello {name},\n\nGood news: a seat opened at {event} and it is yours. You were on the waitlist and "
        "are now an attendee.\n\nSign in to read and sign the confidentiality agreement:\n\n{agreement_link}",
        EVENT_PLACEHOLDERS),
    TextKind(
        "new_agreement", "New agreement version", "to every attendee when a new version of the agreement is "
        "published", "new_agreement",
        "Please sign the new agreement for {event}",
        "Hello {name},\n\nThe organizers of {event} have published version {version} of the confidentiality "
        "agreement. Everything beyond the event's page opens again once you have read and signed it:\n\n"
        "{agreement_link}",
        (*EVENT_PLACEHOLDERS, "version")),
)}
# The built-in template each kind replaces.
BY_TEMPLATE = {kind.template: kind for kind in KINDS.values()}


def placeholders_in(text: str) -> list[str]:
    return [match.group(1) for match in PLACEHOLDER.finditer(text or "")]


def check_placeholders(text: str, allowed: tuple[str, ...] | set[str], field: str, what: str = "") -> None:
    """Raise DomainError naming the first placeholder ``allowed`` does not hold."""
    for name in placeholders_in(text):
        if name not in allowed:
            known = ", ".join("{" + p + "}" for p in allowed)
            raise DomainError(f"{{{name}}} is not a placeholder{what}. Use one of: {known}.", field=field)


def fill(text: str, values: dict[str, str]) -> str:
    """Every ``{placeholder}`` replaced by its value, in one pass (a value is never read again)."""
    return PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), match.group(0))), text or "")


def event_values(event: Event, name: str = "") -> dict[str, str]:
    """The values every kind knows, for one recipient of ``event``."""
    base = current_app.config["BASE_URL"]
    dates = datefmt(event.starts_on, "long date")
    if event.ends_on != event.starts_on:
        dates += f" to {datefmt(event.ends_on, 'long date')}"
    return {"name": name, "event": event.title, "dates": dates, "venue": f" at {event.venue}" if event.venue else "",
            "event_link": f"{base}/e/{event.slug}/", "agreement_link": f"{base}/e/{event.slug}/agreement"}


# --- an event's own texts ----------------------------------------------------------------------


def kind_of(key: str) -> TextKind:
    kind = KINDS.get(key)
    if kind is None:
        raise DomainError("There is no such message.")
    return kind


def own_text(event: Event, key: str) -> MessageText | None:
    return db.session.scalar(sa.select(MessageText).where(MessageText.event_id == event.id, MessageText.kind == key))


def own_texts(event: Event) -> dict[str, MessageText]:
    return {t.kind: t for t in db.session.scalars(sa.select(MessageText).where(MessageText.event_id == event.id))}


def clean_subject_and_body(subject: str, body: str, max_body: int = MAX_BODY) -> tuple[str, str]:
    """A subject on one line and a body with plain line ends, both present and within their limits;
    DomainError naming the field otherwise. Shared by the event's texts and messages to people."""
    subject = " ".join((subject or "").split())
    body = (body or "").replace("\r\n", "\n").strip()
    if not subject:
        raise DomainError("Write a subject.", field="subject")
    if len(subject) > MAX_SUBJECT:
        raise DomainError(f"Keep the subject under {MAX_SUBJECT} characters.", field="subject")
    if not body:
        raise DomainError("Write the message.", field="body")
    if len(body) > max_body:
        raise DomainError(f"Keep the message under {max_body:,} characters.", field="body")
    return subject, body


def validate(kind: TextKind, subject: str, body: str) -> tuple[str, str]:
    """The cleaned subject and body, or DomainError naming the field and what is wrong."""
    subject, body = clean_subject_and_body(subject, body)
    # A link in a subject line would be kept in the outbox as it waits: the subject takes no links.
    check_placeholders(subject, tuple(p for p in kind.placeholders if p != "link"), "subject",
                       " a subject may hold")
    check_placeholders(body, kind.placeholders, "body", f" of the {kind.label.lower()} message")
    for needed in kind.required:
        if needed not in placeholders_in(body):
            raise DomainError(f"The {kind.label.lower()} must carry {{{needed}}}: without it nobody can answer.",
                              field="body")
    return subject, body


def save(actor: User, event: Event, key: str, subject: str, body: str) -> MessageText:
    """Organizers set the event's own text of one kind. Raises DomainError for an unknown placeholder."""
    kind = kind_of(key)
    subject, body = validate(kind, subject, body)
    row = own_text(event, key)
    if row is None:
        row = MessageText(event_id=event.id, kind=key, subject=subject, body=body)
        db.session.add(row)
    row.subject, row.body, row.updated_at, row.updated_by_id = subject, body, utcnow(), actor.id
    audit.record(actor, event, "edit message text", f"event {event.slug}", kind.label)
    return row


def reset(actor: User, event: Event, key: str) -> bool:
    """Back to the built-in text. Returns whether there was an own text to remove."""
    kind = kind_of(key)
    row = own_text(event, key)
    if row is None:
        return False
    db.session.delete(row)
    audit.record(actor, event, "reset message text", f"event {event.slug}", kind.label)
    return True


def sample_values(kind: TextKind, event: Event, name: str) -> dict[str, str]:
    """The values of a preview: real ones for the event, a stand-in for the personal link."""
    values = event_values(event, name)
    values.update(link="[the personal link, made when the email is sent]",
                  expires=datefmt(utcnow(), "long date"), version="2")
    return values


# --- what the mail code asks -------------------------------------------------------------------


def render(event: Event | None, template: str, context: dict) -> tuple[str, str, str] | None:
    """The event's own (subject, text, html) for a built-in ``template``, filled from the context the
    mail code has; None when the event uses the built-in text."""
    kind = BY_TEMPLATE.get(template)
    if kind is None or not isinstance(event, Event):
        return None
    row = own_text(event, kind.key)
    if row is None:
        return None
    candidate, user = context.get("candidate"), context.get("user")
    name = (getattr(candidate, "name", "") or getattr(user, "name", "") or getattr(candidate, "email", "")
            or getattr(user, "email", "") or "")
    values = event_values(event, name)
    if context.get("link"):
        values["link"] = context["link"]
    if context.get("expires"):
        values["expires"] = datefmt(context["expires"], "long date")
    if context.get("version") is not None:
        values["version"] = str(context["version"])
    subject, text = fill(row.subject, values), fill(row.body, values)
    html = render_template("email/_layout.html", body=text, link=context.get("link"))
    return subject, text, html
