"""The confidentiality agreement: versions and signatures."""

from __future__ import annotations

import sqlalchemy as sa

from .. import mail, policy
from ..extensions import db
from ..models import Agreement, AgreementAcceptance, Candidate, CandidateStatus, Event, User
from . import audit
from .errors import DomainError

MAX_TEXT = 20_000


def publish_version(actor: User, event: Event, text: str) -> Agreement:
    """Organizers publish a new version; every attendee is asked to sign it again."""
    text = (text or "").strip()
    if not text:
        raise DomainError("The agreement cannot be empty.", field="text")
    if len(text) > MAX_TEXT:
        raise DomainError(f"Keep the agreement under {MAX_TEXT:,} characters.", field="text")
    current = policy.current_agreement(event)
    if current is not None and current.text.strip() == text:
        raise DomainError("The text is unchanged, so no new version was made.", field="text")
    version = Agreement(event_id=event.id, version=(current.version + 1 if current else 1), text=text,
                        created_by_id=actor.id)
    db.session.add(version)
    audit.record(actor, event, "new agreement", f"agreement v{version.version}")
    policy.forget_memo()
    if current is not None:
        ask_to_sign_again(event, version)
    return version


def ask_to_sign_again(event: Event, version: Agreement) -> int:
    """Email every accepted participant, who must now sign ``version``. Returns how many were written to."""
    people = db.session.scalars(
        sa.select(Candidate).where(Candidate.event_id == event.id, Candidate.status == CandidateStatus.ACCEPTED,
                                   Candidate.user_id.is_not(None)).order_by(Candidate.id)
    ).all()
    for candidate in people:
        mail.queue(candidate.email, f"Please sign the new agreement for {event.title}", "new_agreement",
                   event=event, candidate=candidate, version=version.version)
    return len(people)


def unsigned(event: Event) -> sa.Select:
    """The accepted participants who have not signed the current version: for the organizers' list."""
    agreement = policy.current_agreement(event)
    signed = sa.select(AgreementAcceptance.user_id).where(
        AgreementAcceptance.agreement_id == (agreement.id if agreement is not None else -1))
    return (sa.select(Candidate).where(Candidate.event_id == event.id, Candidate.status == CandidateStatus.ACCEPTED,
                                       sa.or_(Candidate.user_id.is_(None), Candidate.user_id.not_in(signed)))
            .order_by(Candidate.name, Candidate.email))


def sign(user: User, event: Event, typed_name: str, ip: str) -> AgreementAcceptance:
    """An accepted participant signs the current version with their typed name."""
    if not policy.can_sign_agreement(user, event):
        raise DomainError("Only accepted participants sign this event's agreement.")
    typed_name = " ".join((typed_name or "").split())
    if len(typed_name) < 2:
        raise DomainError("Type your full name to sign.", field="typed_name")
    if len(typed_name) > 200:
        raise DomainError("That name is too long.", field="typed_name")
    agreement = policy.current_agreement(event)
    if agreement is None:
        raise DomainError("This event has no agreement yet.")
    if policy.has_signed_current_agreement(user, event):
        raise DomainError("You have already signed this version.")
    acceptance = AgreementAcceptance(agreement_id=agreement.id, user_id=user.id, typed_name=typed_name, ip=ip[:64])
    db.session.add(acceptance)
    audit.record(user, event, "sign agreement", f"agreement v{agreement.version}", f"signed as “{typed_name}”")
    policy.forget_memo()
    return acceptance
