"""The confidentiality agreement: versions and signatures."""

from __future__ import annotations

from .. import policy
from ..extensions import db
from ..models import Agreement, AgreementAcceptance, Event, User
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
    return version


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
