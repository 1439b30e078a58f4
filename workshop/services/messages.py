"""Organizers write to people of their event: a segment, a Markdown text with placeholders, a
preview as one recipient and a count, then one outbox message per recipient.

Nobody outside the event is reached: every segment is a set of the event's own invite-list entries,
never an address typed in, and never a revoked person. A message never names a talk a recipient may
not see: ``{session}`` is filled per recipient (a session they may not see is "a session"), and a
text that names, in so many words, a talk one of its recipients may not see is refused.

Each copy is written when the worker sends it (``write_copy``): personal links (``{sign_in_link}``,
``{invitation_link}``) are minted then, and the sent text is kept with them removed, so that the
outbox never holds a link that works.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app, render_template
from sqlalchemy.orm import selectinload

from .. import mail, policy
from ..extensions import db
from ..models import (
    Attendance,
    Candidate,
    CandidateStatus,
    Event,
    EventMessage,
    EventStatus,
    Invitation,
    MessageKind,
    OutboxMessage,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    SignUp,
    SignUpStatus,
    User,
)
from ..text import render_markdown
from . import agreements, audit, texts
from .errors import DomainError

S = CandidateStatus
MAX_BODY = 20_000
MAX_RECIPIENTS = 20_000
SHORTEST_TITLE = 4  # a shorter title ("AI") would be found inside ordinary words

SEGMENTS: dict[str, str] = {
    "attendees": "All attendees",
    "session_signups": "One session's sign-ups",
    "session_attendees": "One session's attendees (checked in)",
    "waitlist": "The waitlist",
    "unsigned": "Attendees who have not signed the current agreement",
    "unanswered": "Invitees who have not answered",
    "speakers": "Speakers of accepted talks",
    "filter": "The invite list, as filtered",
}
SESSION_SEGMENTS = ("session_signups", "session_attendees")
PERSONAL = ("sign_in_link", "invitation_link")
LINKS = ("event_link", "agreement_link", *PERSONAL)  # the placeholders that are addresses
MEANINGS = {
    **{name: texts.MEANINGS[name] for name in texts.EVENT_PLACEHOLDERS},
    "session": "the session's title, for those who may see it (“a session” for anyone else); session segments only",
    "sign_in_link": "a personal sign-in link, made when the email is sent (it works once, for a short time)",
    "invitation_link": "the invitee's own invitation link, made when the email is sent; it replaces their "
                       "earlier link. Invitees who have not answered only",
}


@dataclass
class Audience:
    """Whom a message goes to: a segment and what it needs (a session, the invite list's filters)."""

    segment: str
    proposal: Proposal | None = None
    status: str = ""
    tag: str = ""
    q: str = ""
    label: str = field(default="", init=False)


def placeholders_for(segment: str) -> tuple[str, ...]:
    allowed = [*texts.EVENT_PLACEHOLDERS, "sign_in_link"]
    if segment in SESSION_SEGMENTS:
        allowed.append("session")
    if segment == "unanswered":
        allowed.append("invitation_link")
    return tuple(allowed)


def describe(event: Event, audience: Audience) -> str:
    label = SEGMENTS[audience.segment]
    if audience.segment in SESSION_SEGMENTS and audience.proposal is not None:
        who = "Sign-ups" if audience.segment == "session_signups" else "Attendees"
        return f"{who} of “{audience.proposal.title}”"
    if audience.segment == "filter":
        parts = [f"status {audience.status}" if audience.status else "", f"tag {audience.tag}" if audience.tag else "",
                 f"“{audience.q}”" if audience.q else ""]
        return f"{label}: {', '.join(p for p in parts if p) or 'everyone on it'}"
    return label


def recipients(event: Event, audience: Audience) -> sa.Select:
    """The segment's people: ``event``'s own invite-list entries, revoked ones never, by name."""
    if audience.segment not in SEGMENTS:
        raise DomainError("Choose whom to write to.", field="segment")
    base = sa.select(Candidate).where(Candidate.event_id == event.id, Candidate.status != S.REVOKED)
    segment = audience.segment
    if segment == "attendees":
        statement = base.where(Candidate.status == S.ACCEPTED)
    elif segment in SESSION_SEGMENTS:
        proposal = audience.proposal
        if proposal is None or proposal.event_id != event.id or proposal.status != ProposalStatus.ACCEPTED:
            raise DomainError("Choose one of the event's accepted sessions.", field="session")
        if segment == "session_signups":
            people = sa.select(SignUp.user_id).where(SignUp.proposal_id == proposal.id,
                                                     SignUp.status == SignUpStatus.CONFIRMED)
        else:
            people = sa.select(Attendance.user_id).where(Attendance.proposal_id == proposal.id)
        statement = base.where(Candidate.status == S.ACCEPTED, Candidate.user_id.in_(people))
    elif segment == "waitlist":
        statement = base.where(Candidate.status == S.WAITLISTED)
    elif segment == "unsigned":
        unsigned = agreements.unsigned(event).with_only_columns(Candidate.id).order_by(None)
        statement = base.where(Candidate.id.in_(unsigned))
    elif segment == "unanswered":
        statement = base.where(Candidate.status == S.INVITED)
    elif segment == "speakers":
        speakers = (sa.select(ProposalSpeaker.user_id).join(Proposal, Proposal.id == ProposalSpeaker.proposal_id)
                    .where(Proposal.event_id == event.id, Proposal.status == ProposalStatus.ACCEPTED,
                           ProposalSpeaker.confirmed.is_(True)))
        statement = base.where(Candidate.status == S.ACCEPTED, Candidate.user_id.in_(speakers))
    else:  # the invite list's filter, as the list applies it
        from .invites import search

        if audience.status and audience.status not in {s.value for s in S}:
            raise DomainError("Unknown status filter.", field="status")
        statement = search(base, S(audience.status) if audience.status else None, audience.tag.strip().lower()[:40],
                           audience.q.strip()[:200])
    return statement.order_by(Candidate.name, Candidate.email, Candidate.id)


def accepted_sessions(visible: sa.Select) -> sa.Select:
    """Of the proposals in ``visible`` (what the writer may see), the accepted ones, by title."""
    return visible.where(Proposal.status == ProposalStatus.ACCEPTED).order_by(Proposal.title)


def count(event: Event, audience: Audience) -> int:
    statement = recipients(event, audience).order_by(None).with_only_columns(sa.func.count(Candidate.id))
    return db.session.scalar(statement) or 0


# --- checking a text ---------------------------------------------------------------------------


def validate(audience: Audience, subject: str, body: str) -> tuple[str, str]:
    subject, body = texts.clean_subject_and_body(subject, body, MAX_BODY)
    allowed = placeholders_for(audience.segment)
    texts.check_placeholders(subject, tuple(p for p in allowed if p not in PERSONAL), "subject",
                             " a subject may hold")
    texts.check_placeholders(body, allowed, "body", " for this segment")
    return subject, body


def _sees(candidate: Candidate, proposal: Proposal) -> bool:
    if candidate.user is None:  # an invitee without an account sees what anyone sees
        return policy.is_public_proposal(proposal)
    return policy.can_view_proposal_anywhere(candidate.user, proposal)


def check_named_talks(event: Event, people: list[Candidate], subject: str, body: str) -> None:
    """Refuse a text that names a talk one of ``people`` may not see (its title, in so many words)."""
    words = f"{subject}\n{body}".casefold()
    named = [p for p in db.session.scalars(sa.select(Proposal).where(Proposal.event_id == event.id))
             if len(p.title.strip()) >= SHORTEST_TITLE and p.title.strip().casefold() in words]
    for proposal in named:
        blind = sum(1 for person in people if not _sees(person, proposal))
        if blind:
            raise DomainError(
                f"The message names “{proposal.title}”, which {blind} of its {len(people)} recipients may not "
                "see. Take the title out, or write to people who may see the talk (a session's sign-ups, say).",
                field="body")


# --- filling in a copy ---------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def _md_escape(value: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", value)


def _values(event: Event, candidate: Candidate, proposal: Proposal | None, base: dict[str, str] | None = None
            ) -> dict[str, str]:
    """One recipient's values. ``proposal``: the session of a session segment, named to them only if they
    may see it (pass None when the text does not ask for it: deciding costs a few queries a person)."""
    name = candidate.name or (candidate.user.name if candidate.user is not None else "") or candidate.email
    values = {**base, "name": name} if base is not None else texts.event_values(event, name)
    if proposal is not None:
        values["session"] = f"“{proposal.title}”" if _sees(candidate, proposal) else "a session"
    return values


def _render(values: dict[str, str], links: dict[str, str], subject: str, body: str) -> tuple[str, str, str]:
    """(subject, text, html): the text as written, and the HTML part of the email (its Markdown, with
    values escaped, made safe by the same sanitizer as every page)."""
    text_values = {**values, **links}
    addresses = {k: v for k, v in {**values, **links}.items() if k in LINKS and v.startswith("http")}
    html_values = {**{k: _md_escape(v) for k, v in {**values, **links}.items()},
                   **{k: f"<{v}>" for k, v in addresses.items()}}  # an autolink in Markdown
    text = texts.fill(body, text_values)
    return texts.fill(subject, values), text, render_markdown(texts.fill(body, html_values))


def preview(event: Event, audience: Audience, subject: str, body: str, candidate: Candidate) -> tuple[str, str, str]:
    """The message as ``candidate`` would get it, personal links shown as what they will be: (subject, text,
    the HTML part's body)."""
    subject, body = validate(audience, subject, body)
    stand_ins = {"sign_in_link": "[a personal sign-in link, made when the email is sent]",
                 "invitation_link": "[their own invitation link, made when the email is sent]"}
    return _render(_values(event, candidate, audience.proposal), stand_ins, subject, body)


def write_copy(message: OutboxMessage) -> tuple[str, str, str, list[str]]:
    """For the worker: one recipient's copy, with its personal links minted now (the caller commits).
    Raises ``mail.Cancelled`` when the recipient is no longer one of the event's people."""
    event_message = db.session.get(EventMessage, message.event_message_id) if message.event_message_id else None
    candidate = db.session.get(Candidate, message.candidate_id) if message.candidate_id else None
    if event_message is None or candidate is None or candidate.event_id != event_message.event_id:
        raise mail.Cancelled("The message or its recipient no longer exists.")
    if candidate.status == S.REVOKED:
        raise mail.Cancelled(f"Not sent: {candidate.email} was removed from the event.")
    used = set(texts.placeholders_in(event_message.body)) | set(texts.placeholders_in(event_message.subject))
    proposal = (db.session.get(Proposal, event_message.proposal_id)
                if event_message.proposal_id and "session" in used else None)
    links: dict[str, str] = {}
    if "sign_in_link" in used:
        links["sign_in_link"] = _sign_in_link(candidate)
    if "invitation_link" in used:
        links["invitation_link"] = _invitation_link(candidate)
    subject, text, fragment = _render(_values(event_message.event, candidate, proposal), links,
                                      event_message.subject, event_message.body)
    html = render_template("email/_message.html", body_html=fragment)
    return subject, text, html, [link for link in links.values() if link.startswith("http")]


def _sign_in_link(candidate: Candidate) -> str:
    from .accounts import mint_sign_in_link

    user = candidate.user
    if user is None or user.is_disabled:
        return f"{current_app.config['BASE_URL']}/auth/sign-in"  # no account yet: the sign-in page, no token
    return mint_sign_in_link(user.email)["link"]


def _invitation_link(candidate: Candidate) -> str:
    from .invites import mint_invitation_link

    invitation_id = db.session.scalar(
        sa.select(Invitation.id).where(Invitation.candidate_id == candidate.id, Invitation.used_at.is_(None),
                                       Invitation.superseded.is_(False)).order_by(Invitation.id.desc()).limit(1))
    if invitation_id is None or candidate.status != S.INVITED:
        return "[your invitation is no longer open: ask the organizers]"
    try:
        return mint_invitation_link(invitation_id)["link"]
    except mail.Cancelled:
        return "[your invitation is no longer open: ask the organizers]"


# --- sending -----------------------------------------------------------------------------------


def send(actor: User, event: Event, audience: Audience, subject: str, body: str,
         expected: int | None = None) -> EventMessage:
    """Queue one copy for each person of the segment. Raises DomainError for an empty segment, a text
    with an unknown placeholder or one naming a talk a recipient may not see, or a segment whose size
    changed since the count the organizer saw (``expected``)."""
    if event.status == EventStatus.ARCHIVED:
        raise DomainError("This event is archived; it sends no more messages.")
    subject, body = validate(audience, subject, body)
    people = db.session.scalars(recipients(event, audience).options(selectinload(Candidate.user))
                                .limit(MAX_RECIPIENTS + 1)).all()
    if not people:
        raise DomainError("Nobody is in this segment, so there is no one to write to.", field="segment")
    if len(people) > MAX_RECIPIENTS:
        raise DomainError(f"A message goes to {MAX_RECIPIENTS:,} people at most; narrow the segment.",
                          field="segment")
    if expected is not None and expected != len(people):
        raise DomainError(f"The segment changed since the count: it now holds {len(people)} people, not {expected}. "
                          "Check the preview and send again.", field="segment")
    check_named_talks(event, people, subject, body)
    message = EventMessage(event_id=event.id, segment=audience.segment, audience=describe(event, audience)[:400],
                           proposal_id=audience.proposal.id if audience.proposal is not None else None,
                           subject=subject, body=body, recipient_count=len(people), created_by_id=actor.id)
    db.session.add(message)
    db.session.flush()
    base = texts.event_values(event)
    session = audience.proposal if "session" in texts.placeholders_in(subject) else None
    rows = [{"to_email": person.email, "template": "message", "event_id": event.id,
             "event_message_id": message.id, "candidate_id": person.id,
             "subject": texts.fill(subject, _values(event, person, session, base))} for person in people]
    mail.queue_copies(message.id, rows)
    audit.record(actor, event, "write to people", f"event {event.slug}",
                 f"“{subject[:80]}” to {len(people)}: {message.audience[:120]}")
    return message


def copies(message: EventMessage) -> sa.Select:
    """A message's copies (one per recipient), for its page."""
    return (sa.select(OutboxMessage).where(OutboxMessage.event_message_id == message.id,
                                           OutboxMessage.kind == MessageKind.EVENT_MESSAGE)
            .order_by(OutboxMessage.to_email))


def sent_counts(messages: list[EventMessage]) -> dict[int, dict[str, int]]:
    """For each message: how many copies are sent, waiting, failed; one query."""
    ids = [m.id for m in messages]
    result: dict[int, dict[str, int]] = {i: {"sent": 0, "waiting": 0, "failed": 0, "cancelled": 0} for i in ids}
    if not ids:
        return result
    for message_id, status, n in db.session.execute(
        sa.select(OutboxMessage.event_message_id, OutboxMessage.status, sa.func.count())
        .where(OutboxMessage.event_message_id.in_(ids)).group_by(OutboxMessage.event_message_id, OutboxMessage.status)
    ):
        key = {"sent": "sent", "failed": "failed", "cancelled": "cancelled"}.get(status.value, "waiting")
        result[message_id][key] += n
    return result
