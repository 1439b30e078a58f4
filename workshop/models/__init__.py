"""All models, importable from one place."""

from .agreements import Agreement, AgreementAcceptance
from .audit import AuditEntry
from .base import public_id, utcnow
from .enums import CandidateStatus, EventKind, EventStatus
from .events import Event, event_organizers
from .invites import Candidate, CandidateTag, Invitation, InviteWave, Vouch
from .mail import OutboxMessage
from .users import LoginToken, User

__all__ = [
    "Agreement",
    "AgreementAcceptance",
    "AuditEntry",
    "Candidate",
    "CandidateStatus",
    "CandidateTag",
    "Event",
    "EventKind",
    "EventStatus",
    "Invitation",
    "InviteWave",
    "LoginToken",
    "OutboxMessage",
    "User",
    "Vouch",
    "event_organizers",
    "public_id",
    "utcnow",
]
