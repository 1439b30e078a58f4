"""Statuses and kinds, stored by value."""

from __future__ import annotations

import enum

import sqlalchemy as sa


class EventKind(enum.StrEnum):
    WORKSHOP = "workshop"
    UNCONFERENCE = "unconference"


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    INVITING = "inviting"
    OPEN = "open"
    RUNNING = "running"
    CLOSED = "closed"
    ARCHIVED = "archived"


class CandidateStatus(enum.StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    REVOKED = "revoked"
    WAITLISTED = "waitlisted"


def enum_column(enum_cls: type[enum.Enum], length: int = 20) -> sa.Enum:
    """A portable column type that stores the enum's value as a short string."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        create_constraint=False,
    )


class Tier(enum.StrEnum):
    """How far a talk travels, from widest to narrowest."""

    PUBLIC = "public"
    ATTENDEES = "attendees"
    SESSION = "session"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        """Higher is more restrictive: organizers may only raise it."""
        return list(Tier).index(self)


class MaterialState(enum.StrEnum):
    """Where an upload stands: being checked and prepared by the worker, ready to serve, or refused."""

    PROCESSING = "processing"
    READY = "ready"
    REFUSED = "refused"


class ProposalKind(enum.StrEnum):
    TALK = "talk"
    DISCUSSION = "discussion"
    DEMO = "demo"
    LIGHTNING = "lightning"


class ProposalStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class SignUpStatus(enum.StrEnum):
    """A seat in a session, or a place in its queue."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"

    @property
    def seated(self) -> bool:
        return self is SignUpStatus.CONFIRMED

    @property
    def label(self) -> str:
        """As a list of people says it."""
        return "seat" if self.seated else "waitlist"

    @property
    def badge(self) -> str:
        """The badge style that shows it (the candidates' colours: a seat is accepted, a queue waits)."""
        return "accepted" if self.seated else "waitlisted"


class AttendanceSource(enum.StrEnum):
    """How an attendance was recorded: ticked by an organizer, or by the person with the room code."""

    ORGANIZER = "organizer"
    CHECKIN = "checkin"

    @property
    def label(self) -> str:
        return "room code" if self is AttendanceSource.CHECKIN else "ticked"


class WaveKind(enum.StrEnum):
    """What a wave of emails carried: first invitations, or reminders with a fresh link."""

    INVITATION = "invitation"
    REMINDER = "reminder"


class AuditTarget(enum.StrEnum):
    """What an audit entry is about; its key (an email, a public id, a name) says which one."""

    EVENT = "event"
    CANDIDATE = "candidate"
    USER = "user"
    PROPOSAL = "proposal"
    MATERIAL = "material"
    ROOM = "room"
    SLOT = "slot"
    AGREEMENT = "agreement"
    RELEASE = "release"


class WideningKind(enum.StrEnum):
    """What a request to widen a talk changes: its tier (and scheduled release), its named and excluded, a
    file's end of access, or whether it takes only watermarked files."""

    TIER = "tier change"
    ACCESS = "access change"
    EXPIRY = "end of access later"
    ANY_FILE = "any file type"


class WideningStatus(enum.StrEnum):
    """Where a request to widen a talk stands: waiting for the speakers, or closed one way or another."""

    PENDING = "pending"
    APPLIED = "applied"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"

    @property
    def label(self) -> str:
        return {"pending": "waiting for the speakers", "applied": "applied", "declined": "declined",
                "withdrawn": "withdrawn", "superseded": "replaced by a later change"}[self.value]
