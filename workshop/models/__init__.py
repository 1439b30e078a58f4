"""All models, importable from one place."""

from .agreements import Agreement, AgreementAcceptance
from .api import ApiToken
from .audit import AuditEntry
from .base import public_id, utcnow
from .enums import (
    AttendanceSource,
    AuditTarget,
    CandidateStatus,
    EventKind,
    EventStatus,
    MaterialState,
    ProposalKind,
    ProposalStatus,
    SignUpStatus,
    Tier,
    WaveKind,
    WideningKind,
    WideningStatus,
)
from .events import Event, event_organizers
from .invites import Candidate, CandidateTag, Invitation, InviteWave, Vouch
from .jobs import Job, JobStatus
from .mail import MailProviderState, MessageKind, MessageStatus, OutboxMessage
from .materials import Material, MaterialAccess
from .messages import EventMessage, MessageText
from .notices import ReleaseNotice, WaveReminder
from .proposals import (
    Attendance,
    Proposal,
    ProposalAccess,
    ProposalExclusion,
    ProposalSpeaker,
    TermsAcceptance,
    TierChange,
    Vote,
    WideningConsent,
    WideningRequest,
)
from .reader import PageView
from .schedule import CalendarFeed, Placement, Room, ScheduleRelease, SignUp, Slot, Unavailability
from .users import LoginToken, User, UserSession

__all__ = [
    "WideningConsent",
    "WideningKind",
    "WideningRequest",
    "WideningStatus",
    "ApiToken",
    "UserSession",
    "AttendanceSource",
    "AuditTarget",
    "SignUpStatus",
    "WaveKind",
    "CalendarFeed",
    "Placement",
    "Room",
    "ScheduleRelease",
    "SignUp",
    "Slot",
    "Unavailability",
    "Attendance",
    "Material",
    "MaterialAccess",
    "MaterialState",
    "PageView",
    "Proposal",
    "ProposalAccess",
    "ProposalExclusion",
    "ProposalKind",
    "ProposalSpeaker",
    "ProposalStatus",
    "TermsAcceptance",
    "Tier",
    "TierChange",
    "Vote",
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
    "Job",
    "JobStatus",
    "MailProviderState",
    "MessageKind",
    "MessageStatus",
    "MessageText",
    "EventMessage",
    "ReleaseNotice",
    "WaveReminder",
    "LoginToken",
    "OutboxMessage",
    "User",
    "Vouch",
    "event_organizers",
    "public_id",
    "utcnow",
]
