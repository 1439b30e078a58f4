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


def enum_column(enum_cls: type[enum.Enum]) -> sa.Enum:
    """A portable column type that stores the enum's value as a short string."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        length=20,
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
