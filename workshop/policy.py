"""Every access decision in Conclave.

Predicates are ``can_<verb>_<noun>(user, obj)`` and answer True or False; list
pages use their query twins (``<nouns>_visible_to``) so that the database only
returns what the person may see. Anything unknown denies. ``user`` may be an
anonymous Flask-Login user, ``None``, or a ``User``.

Who is who, for one event:
- admin: runs the instance and may manage every event;
- organizer: named on the event; manages it and nothing else;
- participant: a person whose invitation is linked to their account. Accepted
  participants who signed the current agreement are *attendees* and see the
  event's content; accepted ones who have not signed yet see only the landing
  page; waitlisted and declined people see the landing page; a revoked person
  sees nothing at all, as if the event did not exist.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask import g, has_app_context

from .extensions import db
from .models import (
    Agreement,
    AgreementAcceptance,
    Attendance,
    Candidate,
    CandidateStatus,
    Event,
    EventStatus,
    Material,
    MaterialState,
    Placement,
    Proposal,
    ProposalAccess,
    ProposalExclusion,
    ProposalSpeaker,
    ProposalStatus,
    ScheduleRelease,
    Slot,
    TermsAcceptance,
    Tier,
    User,
    event_organizers,
    utcnow,
)

# Participants in these states may see the event's landing page.
LANDING_STATUSES = (CandidateStatus.ACCEPTED, CandidateStatus.WAITLISTED, CandidateStatus.DECLINED)
# Statuses in which invitations may be sent, answered and nominations made.
INVITING_STATUSES = (EventStatus.INVITING, EventStatus.OPEN, EventStatus.RUNNING)


def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def _memo(key, compute):
    """Cache a decision's database lookups for the rest of the request."""
    if not has_app_context():
        return compute()
    cache = g.setdefault("_policy_memo", {})
    try:
        return cache[key]
    except KeyError:
        value = cache[key] = compute()
        return value


def forget_memo() -> None:
    """Drop cached lookups after a write that changes them (e.g. signing the agreement)."""
    if has_app_context():
        g.pop("_policy_memo", None)


# --- instance -----------------------------------------------------------------------------


def is_admin(user) -> bool:
    return _signed_in(user) and bool(user.is_admin)


def can_administer(user) -> bool:
    """Admins manage users and create events."""
    return is_admin(user)


def can_create_event(user) -> bool:
    return is_admin(user)


# --- events -------------------------------------------------------------------------------


def is_organizer(user, event: Event) -> bool:
    if not _signed_in(user):
        return False

    def compute():
        return (
            db.session.scalar(
                sa.select(sa.literal(1))
                .select_from(event_organizers)
                .where(event_organizers.c.event_id == event.id, event_organizers.c.user_id == user.id)
            )
            is not None
        )

    return _memo(("organizer", user.id, event.id), compute)


def can_manage_event(user, event: Event) -> bool:
    """Organizers of this event, and admins."""
    return is_admin(user) or is_organizer(user, event)


def can_manage_organizers(user, event: Event) -> bool:
    """The event's organizers add and remove co-organizers of their own event; admins may for any event."""
    return can_manage_event(user, event)


def can_remove_organizer(user, event: Event, organizer: User) -> bool:
    """An organizer (themself included) may be removed, but never the last one: an event always has
    someone to run it."""
    return can_manage_organizers(user, event) and organizer in event.organizers and len(event.organizers) > 1


def is_only_organizer(event: Event, organizer: User) -> bool:
    """Whether ``organizer`` is the one person running the event (and so may not be removed)."""
    return organizer in event.organizers and len(event.organizers) == 1


def can_clone_event(user, event: Event) -> bool:
    """Organizers start the next edition from their event (they run the copy too); admins from any."""
    return can_manage_event(user, event)


def participation(user, event: Event) -> Candidate | None:
    """The invite-list entry that links this user to the event, if any."""
    if not _signed_in(user):
        return None

    def compute():
        return db.session.scalar(
            sa.select(Candidate).where(Candidate.event_id == event.id, Candidate.user_id == user.id)
        )

    return _memo(("participation", user.id, event.id), compute)


def current_agreement(event: Event) -> Agreement | None:
    def compute():
        return db.session.scalar(
            sa.select(Agreement).where(Agreement.event_id == event.id).order_by(Agreement.version.desc()).limit(1)
        )

    return _memo(("agreement", event.id), compute)


def has_signed_current_agreement(user, event: Event) -> bool:
    if not _signed_in(user):
        return False
    agreement = current_agreement(event)
    if agreement is None:  # every event is created with one; without it, nothing opens
        return False

    def compute():
        return (
            db.session.scalar(
                sa.select(sa.literal(1)).where(
                    AgreementAcceptance.agreement_id == agreement.id, AgreementAcceptance.user_id == user.id
                )
            )
            is not None
        )

    return _memo(("signed", user.id, agreement.id), compute)


def _status(user, event: Event) -> CandidateStatus | None:
    entry = participation(user, event)
    return entry.status if entry is not None else None


def can_view_event(user, event: Event) -> bool:
    """May know the event exists and see its landing page (title, dates, their own standing)."""
    if can_manage_event(user, event):
        return True
    return _status(user, event) in LANDING_STATUSES


def can_view_public_page(user, event: Event) -> bool:
    """The optional public page: anyone, once the event has left draft."""
    return event.public_page and event.status != EventStatus.DRAFT


def can_view_event_anywhere(user, event: Event) -> bool:
    """Knows the event: from inside it, or from its public page."""
    return can_view_event(user, event) or can_view_public_page(user, event)


def is_attendee(user, event: Event) -> bool:
    """Accepted, and not revoked. Does not imply the agreement was signed."""
    return _status(user, event) == CandidateStatus.ACCEPTED


def is_waitlisted(user, event: Event) -> bool:
    return _status(user, event) == CandidateStatus.WAITLISTED


def has_declined(user, event: Event) -> bool:
    return _status(user, event) == CandidateStatus.DECLINED


def has_seat(user, event: Event) -> bool:
    """An attendee whose place is settled: accepted, and the current agreement signed."""
    return is_attendee(user, event) and has_signed_current_agreement(user, event)


def must_sign_agreement(user, event: Event) -> bool:
    """An accepted participant who has not signed the current version yet."""
    return is_attendee(user, event) and not has_signed_current_agreement(user, event)


def can_sign_agreement(user, event: Event) -> bool:
    return is_attendee(user, event)


def can_view_agreement(user, event: Event) -> bool:
    """Organizers, attendees, and the waitlisted, who read what they would sign before a seat opens."""
    return can_manage_event(user, event) or _status(user, event) in (CandidateStatus.ACCEPTED,
                                                                       CandidateStatus.WAITLISTED)


def can_view_event_content(user, event: Event) -> bool:
    """Anything past the landing page: organizers, and attendees who signed the current agreement."""
    if can_manage_event(user, event):
        return True
    return is_attendee(user, event) and has_signed_current_agreement(user, event)


def can_nominate(user, event: Event) -> bool:
    """Attendees vouch for people while the event is taking invitations."""
    return (
        is_attendee(user, event)
        and has_signed_current_agreement(user, event)
        and event.status in INVITING_STATUSES
    )


def can_withdraw(user, event: Event) -> bool:
    """A participant gives up their seat or their waitlist place."""
    return _status(user, event) in (CandidateStatus.ACCEPTED, CandidateStatus.WAITLISTED)


def can_answer_invitations(event: Event) -> bool:
    return event.status in INVITING_STATUSES


def _events_where(user, condition) -> sa.Select:
    """Events, newest first: all for admins, none for anonymous users, else those ``condition(user)`` picks."""
    query = sa.select(Event).order_by(Event.starts_on.desc(), Event.id.desc())
    if is_admin(user):
        return query
    if not _signed_in(user):
        return query.where(sa.false())
    return query.where(condition(user))


def _organizes(user):
    return Event.id.in_(sa.select(event_organizers.c.event_id).where(event_organizers.c.user_id == user.id))


def _participates(user):
    return Event.id.in_(sa.select(Candidate.event_id).where(
        Candidate.user_id == user.id, Candidate.status.in_(LANDING_STATUSES)))


def events_visible_to(user) -> sa.Select:
    """Twin of can_view_event: all for admins, their own for organizers and participants."""
    return _events_where(user, lambda u: sa.or_(_organizes(u), _participates(u)))


def content_open_among(user, events) -> set[int]:
    """Set twin of can_view_event_content for a list of ``events`` (from events_visible_to): the ids of those
    whose content this person sees, in two queries whatever their number. Organizers see their events';
    attendees those they are accepted at and whose current agreement they signed."""
    ids = [event.id for event in events]
    if not ids or not _signed_in(user):
        return set()
    if is_admin(user):
        return set(ids)
    organized = set(db.session.scalars(sa.select(event_organizers.c.event_id).where(
        event_organizers.c.user_id == user.id, event_organizers.c.event_id.in_(ids))))
    current = sa.select(Agreement.event_id, sa.func.max(Agreement.version).label("version")).where(
        Agreement.event_id.in_(ids)).group_by(Agreement.event_id).subquery()
    signed = set(db.session.scalars(
        sa.select(Candidate.event_id)
        .join(current, current.c.event_id == Candidate.event_id)
        .join(Agreement, sa.and_(Agreement.event_id == current.c.event_id, Agreement.version == current.c.version))
        .join(AgreementAcceptance, sa.and_(AgreementAcceptance.agreement_id == Agreement.id,
                                           AgreementAcceptance.user_id == user.id))
        .where(Candidate.user_id == user.id, Candidate.status == CandidateStatus.ACCEPTED,
               Candidate.event_id.in_(ids))))
    return organized | signed


def managed_events(user) -> sa.Select:
    """Twin of can_manage_event."""
    return _events_where(user, _organizes)


# --- the invite list ----------------------------------------------------------------------


def can_manage_invites(user, event: Event) -> bool:
    """Organizers curate the list; an event in the archive is read-only."""
    return can_manage_event(user, event) and event.status != EventStatus.ARCHIVED


def can_view_invites(user, event: Event) -> bool:
    return can_manage_event(user, event)


# What organizers may do to a person on the list, by the person's status (anything else is skipped).
CANDIDATE_ACTIONS: dict[str, tuple[CandidateStatus, ...]] = {
    "approve": (CandidateStatus.PROPOSED,),
    "invite": (CandidateStatus.APPROVED, CandidateStatus.EXPIRED),
    "remind": (CandidateStatus.INVITED,),
    "revoke": tuple(s for s in CandidateStatus if s != CandidateStatus.REVOKED),
}


def candidate_ready_for(candidate: Candidate, action: str) -> bool:
    """Whether ``action`` applies to this person now (the services skip everyone else)."""
    return candidate.status in CANDIDATE_ACTIONS.get(action, ())


def is_awaiting_answer(candidate: Candidate) -> bool:
    """Invited, with a link out that has not been answered."""
    return candidate.status == CandidateStatus.INVITED


def candidates_visible_to(user, event: Event) -> sa.Select:
    query = sa.select(Candidate).where(Candidate.event_id == event.id)
    if not can_view_invites(user, event):
        return query.where(sa.false())
    return query


def attendees_visible_to(user, event: Event) -> sa.Select:
    """The attendee directory: accepted people, for those who may see the event's content."""
    query = sa.select(Candidate).where(
        Candidate.event_id == event.id, Candidate.status == CandidateStatus.ACCEPTED
    )
    if not can_view_event_content(user, event):
        return query.where(sa.false())
    return query.order_by(Candidate.name, Candidate.email)


def can_view_audit(user, event: Event) -> bool:
    return can_manage_event(user, event)


def user_may_sign_in(user: User | None) -> bool:
    return user is not None and not user.is_disabled


def can_have_api_tokens(user) -> bool:
    """Anyone signed in makes and revokes their own API tokens; a token then sees what its owner may."""
    return _signed_in(user) and user_may_sign_in(user)


def can_change_account(user, account: User) -> bool:
    """Admins disable, enable, promote and demote other accounts; never their own (no one locks
    themself out, or leaves the instance without an admin by mistake)."""
    return is_admin(user) and account.id != user.id


# --- proposals and their tiers ------------------------------------------------------------
#
# Who sees a proposal's title and abstract (SPEC section 4):
#   public      anyone, on the public page (once accepted)
#   attendees   attendees who signed the agreement
#   session     the same as attendees
#   restricted  only speakers, organizers and the named list; others see a "closed session"
#               placeholder on the schedule and nothing more
# Confirmed speakers always see their own proposal. An exclusion (a person, or an email domain
# and its subdomains) beats every tier and every role but the speakers': an excluded organizer
# sees nothing of the talk either, and the other organizers review it. Otherwise organizers see
# every proposal, so that they can review and schedule it. Everyone else needs the signed
# agreement first; an invited co-speaker then sees the talk they are asked to join. Only
# submitted and accepted proposals are shown to attendees.

LISTED_PROPOSAL_STATUSES = (ProposalStatus.SUBMITTED, ProposalStatus.ACCEPTED)


def email_domains(email: str) -> list[str]:
    """'ada@cs.lab.org' → ['cs.lab.org', 'lab.org', 'org']: the domains an exclusion may name."""
    domain = email.rsplit("@", 1)[-1].lower()
    parts = domain.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def _speaker_row(user, proposal: Proposal) -> ProposalSpeaker | None:
    if not _signed_in(user):
        return None

    def compute():
        return db.session.scalar(sa.select(ProposalSpeaker).where(
            ProposalSpeaker.proposal_id == proposal.id, ProposalSpeaker.user_id == user.id))

    return _memo(("speaker", user.id, proposal.id), compute)


def is_speaker(user, proposal: Proposal) -> bool:
    """A confirmed speaker: the proposer, or a co-speaker who confirmed."""
    row = _speaker_row(user, proposal)
    return row is not None and row.confirmed


def is_invited_cospeaker(user, proposal: Proposal) -> bool:
    row = _speaker_row(user, proposal)
    return row is not None and not row.confirmed


def _exists(key, statement) -> bool:
    """Whether ``statement`` finds a row, remembered for the request under ``key``. ``statement`` may be a
    callable that builds it: building a statement costs more than a remembered answer (the audience of a
    talk asks thousands of them)."""
    def compute():
        built = statement() if callable(statement) else statement
        return db.session.scalar(sa.select(sa.literal(1)).where(sa.exists(built))) is not None

    return _memo(key, compute)


def is_excluded(user, proposal: Proposal) -> bool:
    if not _signed_in(user):
        return False
    return _exists(("excluded", user.id, proposal.id), lambda: sa.select(ProposalExclusion.id).where(
        ProposalExclusion.proposal_id == proposal.id,
        sa.or_(ProposalExclusion.user_id == user.id, ProposalExclusion.domain.in_(email_domains(user.email)))))


def is_named(user, proposal: Proposal) -> bool:
    """On the named list of a restricted talk."""
    if not _signed_in(user):
        return False
    return _exists(("named", user.id, proposal.id), lambda: sa.select(ProposalAccess.user_id).where(
        ProposalAccess.proposal_id == proposal.id, ProposalAccess.user_id == user.id))


def has_attended(user, proposal: Proposal) -> bool:
    if not _signed_in(user):
        return False
    return _exists(("attended", user.id, proposal.id), lambda: sa.select(Attendance.user_id).where(
        Attendance.proposal_id == proposal.id, Attendance.user_id == user.id))


def terms_hash(proposal: Proposal) -> str:
    import hashlib

    return hashlib.sha256(proposal.extra_terms.strip().encode()).hexdigest()


def has_accepted_terms(user, proposal: Proposal) -> bool:
    """No extra terms, or this person accepted them as they read now."""
    if not proposal.extra_terms.strip():
        return True
    if not _signed_in(user):
        return False
    digest = terms_hash(proposal)
    return _exists(("terms", user.id, proposal.id, digest), lambda: sa.select(TermsAcceptance.user_id).where(
        TermsAcceptance.proposal_id == proposal.id, TermsAcceptance.user_id == user.id,
        TermsAcceptance.terms_hash == digest))


def can_view_proposal(user, proposal: Proposal, now=None) -> bool:
    """May see the title and abstract inside the event (the detail page, lists, search, counts)."""
    event = proposal.event
    if not can_view_event(user, event):
        return False
    if is_speaker(user, proposal):
        return True
    if is_excluded(user, proposal):
        return False
    if can_manage_event(user, event):
        return True
    if not can_view_event_content(user, event):
        return False
    if is_invited_cospeaker(user, proposal):
        return True
    if proposal.status not in LISTED_PROPOSAL_STATUSES:
        return False
    tier = proposal.effective_tier(now or utcnow())
    if tier == Tier.RESTRICTED:
        return is_named(user, proposal)
    return tier in (Tier.PUBLIC, Tier.ATTENDEES, Tier.SESSION)


def is_public_proposal(proposal: Proposal, now=None) -> bool:
    """Shown to anyone on the event's public page."""
    return (can_view_public_page(None, proposal.event) and proposal.status == ProposalStatus.ACCEPTED
            and proposal.effective_tier(now or utcnow()) == Tier.PUBLIC)


def can_view_proposal_anywhere(user, proposal: Proposal, now=None) -> bool:
    """Sees the talk inside the event, or on its public page."""
    return can_view_proposal(user, proposal, now) or is_public_proposal(proposal, now)


def proposals_visible_to(user, event: Event, now=None) -> sa.Select:
    """Twin of can_view_proposal: the proposals of ``event`` this person may see."""
    query = sa.select(Proposal).where(Proposal.event_id == event.id)
    if not can_view_event(user, event):
        return query.where(sa.false())

    def speaking(confirmed: bool):
        return Proposal.id.in_(sa.select(ProposalSpeaker.proposal_id).where(
            ProposalSpeaker.user_id == user.id, ProposalSpeaker.confirmed.is_(confirmed)))

    excluded = sa.select(ProposalExclusion.proposal_id).where(sa.or_(
        ProposalExclusion.user_id == user.id, ProposalExclusion.domain.in_(email_domains(user.email))))
    not_excluded = Proposal.id.not_in(excluded)
    if can_manage_event(user, event):
        return query.where(sa.or_(speaking(True), not_excluded))
    if not can_view_event_content(user, event):
        return query.where(speaking(True))
    named = sa.select(ProposalAccess.proposal_id).where(ProposalAccess.user_id == user.id)
    tier = Proposal.effective_tier_sql(now or utcnow())
    return query.where(sa.or_(speaking(True), sa.and_(not_excluded, sa.or_(speaking(False), sa.and_(
        Proposal.status.in_(LISTED_PROPOSAL_STATUSES),
        sa.or_(tier.in_([Tier.PUBLIC, Tier.ATTENDEES, Tier.SESSION]), Proposal.id.in_(named)),
    )))))


def public_proposals(event: Event, now=None) -> sa.Select:
    """Twin of is_public_proposal."""
    query = sa.select(Proposal).where(Proposal.event_id == event.id)
    if not can_view_public_page(None, event):
        return query.where(sa.false())
    return query.where(Proposal.status == ProposalStatus.ACCEPTED,
                       Proposal.effective_tier_sql(now or utcnow()) == Tier.PUBLIC)


def can_propose(user, event: Event) -> bool:
    """Attendees who signed the agreement propose while the event takes proposals."""
    return is_attendee(user, event) and has_signed_current_agreement(user, event) and (
        event.status in INVITING_STATUSES)


def _open_for_change(proposal: Proposal) -> bool:
    return proposal.status in LISTED_PROPOSAL_STATUSES and proposal.event.status != EventStatus.ARCHIVED


def can_edit_proposal(user, proposal: Proposal) -> bool:
    """Speakers edit, withdraw, upload and name who may see their talk."""
    return is_speaker(user, proposal) and not _is_revoked(user, proposal.event) and _open_for_change(proposal)


def can_confirm_cospeaking(user, proposal: Proposal) -> bool:
    return is_invited_cospeaker(user, proposal) and is_attendee(user, proposal.event) and (
        _open_for_change(proposal))


def can_change_tier(user, proposal: Proposal) -> bool:
    """Speakers and organizers change a talk's tier and its scheduled release. Narrowing applies at once;
    widening it waits for the speakers' consent (tier_change_widens, consent_awaited_from below)."""
    return _open_for_change(proposal) and (can_edit_proposal(user, proposal)
                                           or can_manage_event(user, proposal.event))


def uses_named_list(proposal: Proposal, now=None) -> bool:
    """The named people decide who sees the talk: it is restricted now."""
    return proposal.effective_tier(now or utcnow()) == Tier.RESTRICTED


def needs_closed_door(proposal: Proposal, now=None) -> bool:
    """Session-tier and restricted talks, by the tier in force, belong behind a door that closes."""
    return proposal.effective_tier(now or utcnow()) in (Tier.SESSION, Tier.RESTRICTED)


def can_decide_proposal(user, proposal: Proposal) -> bool:
    return can_manage_event(user, proposal.event) and proposal.status != ProposalStatus.WITHDRAWN and (
        proposal.event.status != EventStatus.ARCHIVED)


def _takes_votes(user, event: Event) -> bool:
    return is_attendee(user, event) and can_view_event_content(user, event) and event.status in INVITING_STATUSES


def can_vote(user, proposal: Proposal) -> bool:
    """Attendees mark the proposals they can see and want to attend (not their own)."""
    return (_takes_votes(user, proposal.event) and proposal.status in LISTED_PROPOSAL_STATUSES
            and _speaker_row(user, proposal) is None and can_view_proposal(user, proposal))


def votable_among(user, event: Event, proposals) -> set[int]:
    """Set twin of can_vote for a page of ``proposals`` from proposals_visible_to (so each may be seen):
    the ids this person may vote for, in one query."""
    if not _takes_votes(user, event):
        return set()
    ids = [p.id for p in proposals]
    own = set(db.session.scalars(sa.select(ProposalSpeaker.proposal_id).where(
        ProposalSpeaker.user_id == user.id, ProposalSpeaker.proposal_id.in_(ids))))
    return {p.id for p in proposals if p.status in LISTED_PROPOSAL_STATUSES and p.id not in own}


def can_see_votes(user, proposal: Proposal) -> bool:
    """The talk's speakers and the organizers see how many want to attend it."""
    return can_manage_event(user, proposal.event) or is_speaker(user, proposal)


def can_see_decision(user, proposal: Proposal) -> bool:
    """The review's outcome (the status, the organizers' note) is for the speakers and the organizers."""
    return can_see_votes(user, proposal)


def can_see_scheduled_release(user, proposal: Proposal) -> bool:
    """Who will see the talk later is the speakers' and the organizers' business."""
    return can_see_votes(user, proposal)


def can_see_tier_history(user, proposal: Proposal) -> bool:
    return can_see_votes(user, proposal)


def reviewed_among(user, event: Event, proposal_ids) -> set[int]:
    """Set twin of can_see_votes and can_see_decision: the ids among ``proposal_ids`` whose votes and
    status this person sees (all of them for organizers; their own talks for speakers), in one query."""
    ids = list(proposal_ids)
    if can_manage_event(user, event):
        return set(ids)
    if not _signed_in(user):
        return set()
    return set(db.session.scalars(sa.select(ProposalSpeaker.proposal_id).where(
        ProposalSpeaker.user_id == user.id, ProposalSpeaker.confirmed.is_(True), ProposalSpeaker.proposal_id.in_(ids))))


def can_record_attendance(user, proposal: Proposal) -> bool:
    return can_manage_event(user, proposal.event) and proposal.status == ProposalStatus.ACCEPTED


def can_view_material_log(user, proposal: Proposal) -> bool:
    """Speakers and organizers see who opened a talk's materials."""
    return is_speaker(user, proposal) or can_manage_event(user, proposal.event)


def can_trace_downloads(user, event: Event) -> bool:
    return can_manage_event(user, event)


# --- materials ----------------------------------------------------------------------------


class Reason(enum.StrEnum):
    """Why a request for a material or a seat was answered as it was. The access log stores the value, so
    values never change once released (they read as words in the log)."""

    # allowed
    SPEAKER = "speaker"
    TIER_PUBLIC = "tier public"
    TIER_ATTENDEES = "tier attendees"
    TIER_SESSION = "tier session"
    TIER_RESTRICTED = "tier restricted"
    SEAT_OPEN = "open for sign-up"
    # refused: materials
    DELETED = "deleted"
    REVOKED = "revoked"
    EXCLUDED = "excluded"
    NOT_ACCEPTED = "talk not accepted"
    PUBLIC_PAGE_CLOSED = "public page closed"
    NO_ACCESS = "no access to the event"
    DID_NOT_ATTEND = "did not attend the session"
    NOT_NAMED = "not on the named list"
    UNKNOWN_TIER = "unknown tier"
    TERMS = "extra terms not accepted"
    CANNOT_BE_STAMPED = "cannot be stamped"
    FILE_UNAVAILABLE = "file unavailable"
    PROCESSING = "being prepared"
    REFUSED_AT_UPLOAD = "refused at upload"
    EXPIRED = "access ended"
    NOT_STAMPED = "not watermarked"
    VIEW_ONLY = "view only"
    # refused: sign-ups
    NOT_RELEASED = "not on the published schedule"
    SIGNUPS_CLOSED = "sign-ups closed"
    OWN_SESSION = "speaking in the session"
    SESSION_OVER = "session over"
    NOT_ELIGIBLE = "not an attendee who may see the session"

    @property
    def explanation(self) -> str:
        """The refusal in words the person can act on (for reasons they may be told)."""
        return _EXPLANATIONS.get(self, ("These materials are not available to you.", ""))[0]

    @property
    def short(self) -> str:
        """The same in a few words, where a Download button would be."""
        return _EXPLANATIONS.get(self, ("", "Not available to you"))[1] or "Not available to you"

    @classmethod
    def for_tier(cls, tier: Tier) -> Reason:
        return cls(f"tier {tier.value}")


_EXPLANATIONS: dict[Reason, tuple[str, str]] = {
    Reason.NOT_ACCEPTED: ("This talk has not been accepted yet. Its materials open once it is.",
                          "Opens once the talk is accepted"),
    Reason.DID_NOT_ATTEND: ("The speakers share these materials only with the people who attended the session.",
                            "Only for people who attended"),
    Reason.NOT_NAMED: ("This is a closed session: its materials are only for the people the speakers named.",
                       "Only for the people the speakers named"),
    Reason.TERMS: ("Accept the talk's terms to open its materials.", "Accept the talk's terms to open"),
    Reason.CANNOT_BE_STAMPED: ("Every copy of a PDF is stamped with the name of the person who opens it, and this "
                               "one cannot be stamped. Conclave never hands out an unstamped copy. Ask the speakers "
                               "to upload it again, for example exported afresh to PDF.", ""),
    Reason.FILE_UNAVAILABLE: ("The storage that holds it did not answer. Please try again in a moment.", ""),
    Reason.PROCESSING: ("This file was just uploaded and is still being checked and prepared. It opens in a "
                        "minute or so: reload the page then.", "Being prepared"),
    Reason.REFUSED_AT_UPLOAD: ("This upload was refused when it was checked, and is never served. The speakers "
                               "see why on the talk's page.", "Refused"),
    Reason.EXPIRED: ("The speakers ended access to this file. Only they and the organizers open it now.",
                     "Access ended"),
    Reason.NOT_STAMPED: ("The speakers share only watermarked files of this talk, and this file cannot be "
                         "watermarked (only PDFs and PNG or JPEG images can), so it is not served.",
                         "Not served: not watermarked"),
    Reason.VIEW_ONLY: ("The speakers share this file to read in the browser only, one page at a time, each page "
                       "stamped with your name. It is not downloaded.", "Read in the browser"),
    Reason.NOT_RELEASED: ("This session is not on the published schedule.", ""),
    Reason.SIGNUPS_CLOSED: ("Sign-ups are open only while the event is open or running.", ""),
    Reason.OWN_SESSION: ("You are speaking in this session, so your seat is kept.", ""),
    Reason.SESSION_OVER: ("This session is over.", ""),
    Reason.NOT_ELIGIBLE: ("Sign-ups are for attendees who signed the agreement, for sessions they may see.", ""),
}


class Decision:
    """The answer to a request for a material or a seat. ``visible`` says whether the person may know
    the thing exists (403 when refused) or not (404). ``reason`` goes to the access log."""

    __slots__ = ("allowed", "reason", "visible")

    def __init__(self, allowed: bool, reason: Reason, visible: bool):
        self.allowed, self.reason, self.visible = allowed, reason, visible

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def needs_terms(self) -> bool:
        """Refused only until the person accepts the talk's extra terms."""
        return self.reason == Reason.TERMS

    def __repr__(self) -> str:
        return f"Decision({self.allowed}, {self.reason.value!r}, visible={self.visible})"


def _is_revoked(user, event: Event) -> bool:
    return _status(user, event) == CandidateStatus.REVOKED


def material_decision(user, material: Material, now=None) -> Decision:
    """May this person download this material now? (SPEC sections 4 and 6.)

    Order matters: revocation and exclusion beat everything, the speakers always get their own,
    then the talk must be accepted, then its tier in force at ``now`` decides (a scheduled release
    applies from its date); then, for everyone but the speakers, a file that cannot be watermarked is
    not served when the talk takes only watermarked files, and after the material's end of access only
    the organizers keep what the tier gave them; then the talk's extra terms must have been accepted.
    Whoever may have the file gets it only once it is prepared: a file still processing, or refused
    at upload, is served to nobody.
    """
    decision = _material_rules(user, material, now or utcnow())
    if decision.allowed and material.state != MaterialState.READY:
        reason = Reason.PROCESSING if material.state == MaterialState.PROCESSING else Reason.REFUSED_AT_UPLOAD
        return Decision(False, reason, True)
    return decision


def _material_rules(user, material: Material, now) -> Decision:
    proposal = material.proposal
    event = proposal.event
    now = now or utcnow()
    if material.deleted_at is not None:
        return Decision(False, Reason.DELETED, False)
    if _is_revoked(user, event):
        return Decision(False, Reason.REVOKED, False)
    if is_speaker(user, proposal):
        return Decision(True, Reason.SPEAKER, True)
    if is_excluded(user, proposal):
        return Decision(False, Reason.EXCLUDED, False)
    sees_talk = can_view_proposal_anywhere(user, proposal, now)
    if proposal.status != ProposalStatus.ACCEPTED:
        return Decision(False, Reason.NOT_ACCEPTED, sees_talk)
    tier = proposal.effective_tier(now)
    if tier == Tier.PUBLIC:
        if not (is_public_proposal(proposal, now) or can_view_event_content(user, event)):
            return Decision(False, Reason.PUBLIC_PAGE_CLOSED, False)
    elif not can_view_event_content(user, event):
        return Decision(False, Reason.NO_ACCESS, False)
    elif tier == Tier.SESSION:
        if not has_attended(user, proposal):
            return Decision(False, Reason.DID_NOT_ATTEND, sees_talk)
    elif tier == Tier.RESTRICTED:
        if not is_named(user, proposal):
            return Decision(False, Reason.NOT_NAMED, sees_talk)
    elif tier != Tier.ATTENDEES:
        return Decision(False, Reason.UNKNOWN_TIER, False)
    if refuses_unstamped(proposal) and not material.stamped:
        return Decision(False, Reason.NOT_STAMPED, True)
    if material.expired(now) and not can_manage_event(user, event):
        return Decision(False, Reason.EXPIRED, True)
    if not has_accepted_terms(user, proposal):
        return Decision(False, Reason.TERMS, True)
    return Decision(True, Reason.for_tier(tier), True)


def can_accept_terms(user, proposal: Proposal) -> bool:
    return bool(proposal.extra_terms.strip()) and _signed_in(user) and not is_excluded(user, proposal) and (
        can_view_proposal_anywhere(user, proposal))


# Preparation, watermarking and end of access of materials.

TIERS_TAKING_ONLY_STAMPED = (Tier.SESSION, Tier.RESTRICTED)


def can_see_material_preparation(user, proposal: Proposal) -> bool:
    """Speakers and organizers see the files still being prepared or refused at upload (with the reason) and
    what preparing removed; everyone else sees ready files only (``materials_visible_to``)."""
    return can_view_material_log(user, proposal)


def materials_visible_to(user, proposal: Proposal) -> sa.Select:
    """Query twin of ``can_see_material_preparation``: the talk's files this person sees listed, in
    upload order (whether each opens is ``material_decision``'s answer)."""
    statement = sa.select(Material).where(Material.proposal_id == proposal.id, Material.deleted_at.is_(None))
    if not can_see_material_preparation(user, proposal):
        statement = statement.where(Material.state == MaterialState.READY)
    return statement.order_by(Material.created_at, Material.id)


def can_set_material_expiry(user, proposal: Proposal) -> bool:
    """The speakers end access to a file at a date, or change or remove that date."""
    return can_edit_proposal(user, proposal)


def can_require_stamped(user, proposal: Proposal) -> bool:
    """Speakers of a session or restricted talk may take only watermarked files; once on, the setting stays
    in their hands whatever the tier becomes, so that it can be turned off again."""
    return can_edit_proposal(user, proposal) and (proposal.tier in TIERS_TAKING_ONLY_STAMPED
                                                  or proposal.only_stamped)


def refuses_unstamped(proposal: Proposal) -> bool:
    """Files that cannot be watermarked are refused at upload and not served (but to the speakers)."""
    return bool(proposal.only_stamped)


# View-only materials (SPEC section 6): a speaker may make a PDF view-only. It then opens in the
# in-browser reader, whose every page is decided anew (so revocation, exclusion or the end of access
# stop it at the next page), and the download route refuses it to everyone but the talk's speakers:
# it is their file. Organizers read it in the reader like anyone the tier lets in; a download for
# them would defeat what the speakers chose.


def opens_in_reader(material: Material) -> bool:
    return bool(material.view_only) and material.is_pdf and material.deleted_at is None


def download_decision(user, material: Material, now=None) -> Decision:
    """The download route's answer: ``material_decision``, except that a view-only material is
    refused (``view only``, a known object: 403) to everyone but its speakers."""
    decision = material_decision(user, material, now)
    if decision.allowed and opens_in_reader(material) and decision.reason != Reason.SPEAKER:
        return Decision(False, Reason.VIEW_ONLY, True)
    return decision


def can_download_material(user, material: Material, now=None) -> bool:
    return download_decision(user, material, now).allowed


def reader_decision(user, material: Material, now=None) -> Decision:
    """May this person see a page of this view-only material now? Asked for every page, so the reader
    stops at the next page once access ends. (A material that is not view-only has no reader: the
    views answer 404 before asking, see ``opens_in_reader``.)"""
    return material_decision(user, material, now)


def can_read_material(user, material: Material, now=None) -> bool:
    return opens_in_reader(material) and reader_decision(user, material, now).allowed


def can_set_view_only(user, material: Material) -> bool:
    """The talk's speakers choose whether a PDF of theirs is view-only; only PDFs have pages to show."""
    return material.is_pdf and material.deleted_at is None and can_edit_proposal(user, material.proposal)


def can_view_reading_report(user, proposal: Proposal) -> bool:
    """Who read which pages, and for how long: for those who see who opened the talk's materials."""
    return can_view_material_log(user, proposal)


# --- the schedule -------------------------------------------------------------------------
#
# Organizers work on a draft schedule (placements) and publish it as numbered releases;
# everyone else sees only the latest release. A released session a person may not see
# (restricted and not named, excluded) shows as a "closed session" placeholder: its room and
# time, nothing more.

SIGNUP_STATUSES = (EventStatus.OPEN, EventStatus.RUNNING)


def can_manage_schedule(user, event: Event) -> bool:
    return can_manage_event(user, event) and event.status != EventStatus.ARCHIVED


def can_view_schedule(user, event: Event) -> bool:
    """The published schedule, for attendees who signed the agreement, and organizers."""
    return can_view_event_content(user, event)


def counts_signups(event: Event) -> bool:
    """Rooms are checked against sign-ups once sign-up is open (the event is open or running and a
    schedule is published: released sessions take sign-ups), against votes before. The editor's "room too
    small" and the auto-scheduler's demand both ask this."""
    return event.status in SIGNUP_STATUSES and latest_release(event) is not None


def can_see_session_time(user, proposal: Proposal) -> bool:
    """The talk page's day, time and room: whoever sees the talk and the schedule."""
    return can_view_proposal(user, proposal) and can_view_schedule(user, proposal.event)


def latest_release(event: Event) -> ScheduleRelease | None:
    def compute():
        return db.session.scalar(sa.select(ScheduleRelease).where(ScheduleRelease.event_id == event.id)
                                 .order_by(ScheduleRelease.number.desc()).limit(1))

    return _memo(("release", event.id), compute)


def released_entry(proposal: Proposal) -> dict | None:
    """The proposal's entry in the latest release: {"proposal", "room", "slot", "end_slot", "sequence"}
    ("end_slot", the slot it ends in, is missing from releases published before sessions could span slots)."""
    release = latest_release(proposal.event)
    if release is None:
        return None
    return next((e for e in release.entries if e["proposal"] == proposal.id), None)


def is_speaker_in(user, event: Event) -> bool:
    """Speaks (confirmed) at any accepted talk of the event: may state when they are unavailable."""
    if not _signed_in(user):
        return False
    return _exists(("speaks-in", user.id, event.id), sa.select(ProposalSpeaker.proposal_id).join(
        Proposal, ProposalSpeaker.proposal_id == Proposal.id).where(
        Proposal.event_id == event.id, Proposal.status == ProposalStatus.ACCEPTED,
        ProposalSpeaker.user_id == user.id, ProposalSpeaker.confirmed.is_(True)))


def can_state_availability(user, event: Event) -> bool:
    return is_speaker_in(user, event) and can_view_event_content(user, event) and (
        event.status not in (EventStatus.CLOSED, EventStatus.ARCHIVED))


def signup_decision(user, proposal: Proposal, now=None) -> Decision:
    """May this person take a seat (or a waitlist place) in this session now?

    Attendees who signed the agreement sign up for accepted, released sessions they may see and do
    not speak at, while the event is open or running and until the session ends. The reason says
    which of these failed first, in that order of what the person can do least about.
    """
    event = proposal.event
    entry = released_entry(proposal)
    if entry is None:
        return Decision(False, Reason.NOT_RELEASED, True)
    if event.status not in SIGNUP_STATUSES:
        return Decision(False, Reason.SIGNUPS_CLOSED, True)
    if is_speaker(user, proposal):
        return Decision(False, Reason.OWN_SESSION, True)
    if not (has_seat(user, event) and proposal.status == ProposalStatus.ACCEPTED and can_view_proposal(user, proposal)):
        return Decision(False, Reason.NOT_ELIGIBLE, True)
    if _is_over(entry, now or utcnow()):
        return Decision(False, Reason.SESSION_OVER, True)
    return Decision(True, Reason.SEAT_OPEN, True)


def can_sign_up(user, proposal: Proposal, now=None) -> bool:
    return signup_decision(user, proposal, now).allowed


def _is_over(entry: dict, now) -> bool:
    slot = db.session.get(Slot, entry.get("end_slot", entry["slot"]))
    return slot is None or slot.ends_at <= now


def sessions_open_for_signup(user, event: Event, sessions) -> set[int]:
    """Set twin of can_sign_up: the proposal ids among ``sessions`` this person may sign up for,
    without a query per session.

    ``sessions`` must come from services.schedule.published(user, event): each non-placeholder session is then
    released and visible to ``user`` (proposals_visible_to, the twin of can_view_proposal) and lists its
    confirmed speakers, which settles the per-session terms of can_sign_up; the per-event terms are asked
    of the policy once. tests/sessions checks that this agrees with policy.can_sign_up session by session.
    """
    if not (has_seat(user, event) and event.status in SIGNUP_STATUSES):
        return set()
    now = utcnow()
    return {s.proposal.id for s in sessions
            if s.proposal is not None and s.proposal.status == ProposalStatus.ACCEPTED and s.ends_at > now
            and all(speaker.id != user.id for speaker in s.speakers)}


def can_check_in_attendees(user, proposal: Proposal) -> bool:
    """Organizers tick attendance from a list, and show the room code on the projector."""
    return can_record_attendance(user, proposal) and released_entry(proposal) is not None


def can_check_in_self_at(user, event: Event) -> bool:
    """The room-code form: attendees who signed the agreement (organizers tick people instead)."""
    return is_attendee(user, event) and has_signed_current_agreement(user, event)


def can_check_in_self(user, proposal: Proposal) -> bool:
    """Attendees who may see a released session check themselves in with its room code
    (the service checks the code and that the session is under way)."""
    return (is_attendee(user, proposal.event) and can_view_event_content(user, proposal.event)
            and proposal.status == ProposalStatus.ACCEPTED and can_view_proposal(user, proposal)
            and released_entry(proposal) is not None)


def shows_on_schedule(user, proposal: Proposal, now=None) -> bool:
    """Whether a released session appears on this person's schedule, agenda, feeds and exports at all:
    as itself when they may see the talk, as a closed session when they may not (a restricted talk they
    are not named for), and not at all when they are excluded from it. An exclusion leaves no trace: a
    "closed session" where the others see a talk would tell the person they were left out."""
    return can_view_proposal(user, proposal, now) or not is_excluded(user, proposal)


def sessions_hidden_from(user, event: Event) -> sa.Select:
    """Twin of shows_on_schedule: the ids of the event's proposals this person is excluded from (select
    ``Proposal.id``; narrow it with ``.where``). Those among them the person may still see (a talk they
    speak at) show as themselves; the rest leave no trace. Nothing for anonymous visitors, who cannot be
    matched against a person or a domain."""
    query = sa.select(Proposal.id).where(Proposal.event_id == event.id)
    if not _signed_in(user):
        return query.where(sa.false())
    excluded = sa.select(ProposalExclusion.proposal_id).where(sa.or_(
        ProposalExclusion.user_id == user.id, ProposalExclusion.domain.in_(email_domains(user.email))))
    return query.where(Proposal.id.in_(excluded))


def loses_seat_by_exclusion(user, proposal: Proposal) -> bool:
    """An exclusion takes away the person's seat or waitlist place in the session (its speakers are
    never excluded from their own talk)."""
    return is_excluded(user, proposal) and not is_speaker(user, proposal)


def can_export_schedule(user, event: Event) -> bool:
    """The organizers' CSV of the released schedule, with its seats and check-ins."""
    return can_manage_event(user, event)


def can_read_event_feed(user, event: Event) -> bool:
    """The event's calendar: the whole schedule for whoever may see it, its public sessions for anyone
    while the public page is on."""
    return can_view_schedule(user, event) or can_view_public_page(user, event)


def can_subscribe_calendar(user, event: Event) -> bool:
    """A personal feed: anyone who may see the schedule. Revocation closes it (the feed checks
    this on every request)."""
    return can_view_schedule(user, event)


def placements_of(event: Event) -> sa.Select:
    """The organizers' working schedule (no twin for others: they read releases)."""
    return sa.select(Placement).where(Placement.event_id == event.id)


def feed_carries_details(proposal: Proposal, opted_in: bool, now=None) -> bool:
    """A calendar entry holds a talk's title, time and room; its abstract and speakers leave for a
    calendar app (and whoever syncs or shares that calendar) only for a public talk, or in a person's
    own feed when they asked for them there."""
    return opted_in or proposal.effective_tier(now or utcnow()) == Tier.PUBLIC


# --- messages, their texts and the outbox ----------------------------------------------------


def can_write_to_people(user, event: Event) -> bool:
    """Organizers write to segments of their own event (never to anyone outside it); an archived
    event sends nothing more."""
    return can_manage_event(user, event) and event.status != EventStatus.ARCHIVED


def can_edit_message_texts(user, event: Event) -> bool:
    """Organizers word the messages their event sends, while it is not archived."""
    return can_manage_event(user, event) and event.status != EventStatus.ARCHIVED


def can_view_outbox(user, event: Event) -> bool:
    """An event's outbox (recipients, subjects, errors): its organizers and admins."""
    return can_manage_event(user, event)


def can_retry_mail(user, event: Event) -> bool:
    """Sending a failed message of the event again."""
    return can_view_outbox(user, event)


def can_retry_message(user, message) -> bool:
    """A failed message may be sent again by its event's organizers, or by admins (any message)."""
    from .models import MessageStatus

    if message.status != MessageStatus.FAILED:
        return False
    if is_admin(user):
        return True
    event = db.session.get(Event, message.event_id) if message.event_id is not None else None
    return event is not None and can_retry_mail(user, event)


def can_view_instance_outbox(user) -> bool:
    """Every message of the instance, and whether sending is paused: admins."""
    return is_admin(user)


def outbox_visible_to(user, event: Event | None = None) -> sa.Select:
    """Twin of can_view_outbox: an event's messages for its organizers, the whole outbox (``event``
    None) for admins; nothing for anyone else."""
    from .models import OutboxMessage

    query = sa.select(OutboxMessage)
    if event is None:
        return query if can_view_instance_outbox(user) else query.where(sa.false())
    query = query.where(OutboxMessage.event_id == event.id)
    return query if can_view_outbox(user, event) else query.where(sa.false())


def can_view_waves(user, event: Event) -> bool:
    """How far an invitation wave has got: whoever sees the invite list."""
    return can_view_invites(user, event)


def can_read_event_description(user, event: Event) -> bool:
    """The event's description and agreement, before one decides: organizers, accepted people who have
    not signed yet, and the waitlisted (an invitee reads them on their invitation's page)."""
    return can_manage_event(user, event) or _status(user, event) in (CandidateStatus.ACCEPTED,
                                                                       CandidateStatus.WAITLISTED)


def must_sign_before(user, event: Event) -> bool:
    """Whether the agreement stands between this person and the event's pages: an accepted participant
    who has not signed the current version is led to it (and back) instead of being refused."""
    return must_sign_agreement(user, event)


# --- consent before a talk travels wider, and who sees it ---------------------------------
#
# Any confirmed speaker may narrow a talk at once. Making it wider (a wider tier now, a scheduled
# release, a named person added, an exclusion removed) takes the consent of every confirmed speaker:
# the change waits as a request until the others accept, and any one of them may decline it. An
# organizer's widening waits for the speakers too (they own their talk); organizers narrow at once.
# A speaker who was revoked cannot answer, so nobody waits for them.


def consenting_speakers(proposal: Proposal) -> list[User]:
    """The speakers whose consent a widening needs: every confirmed speaker still in the event (one query)."""
    revoked = sa.select(Candidate.user_id).where(Candidate.event_id == proposal.event_id,
                                                 Candidate.status == CandidateStatus.REVOKED,
                                                 Candidate.user_id.is_not(None))
    return list(db.session.scalars(
        sa.select(User).join(ProposalSpeaker, ProposalSpeaker.user_id == User.id)
        .where(ProposalSpeaker.proposal_id == proposal.id, ProposalSpeaker.confirmed.is_(True),
               User.id.not_in(revoked)).order_by(ProposalSpeaker.id)))


def consent_awaited_from(requester, proposal: Proposal) -> list[User]:
    """Whose consent a widening asked by ``requester`` needs: the consenting speakers but the requester (a
    speaker's own request is their consent). Empty for a talk with one speaker, who widens at once."""
    requester_id = getattr(requester, "id", None)
    return [u for u in consenting_speakers(proposal) if u.id != requester_id]


def expiry_change_widens(before, after) -> bool:
    """Whether moving a file's end of access from ``before`` to ``after`` (None: no end) lets anyone open
    it longer: a later end, or none, where one was set (past or not). Setting an end where there was none,
    or an earlier one, only narrows."""
    if before is None:
        return False
    return after is None or after > before


def _release_pending(proposal: Proposal, now) -> bool:
    return proposal.release_tier is not None and proposal.release_at is not None and proposal.release_at > now


def tier_change_widens(proposal: Proposal, tier: Tier, release_tier: Tier | None, release_at, now=None) -> bool:
    """Whether putting the talk at ``tier`` (with a release to ``release_tier`` at ``release_at``) lets
    anyone see it sooner or wider than now: a tier wider than the one in force, or a release that is not
    already scheduled at least as narrow and at least as late. Cancelling a release, or moving it later or
    narrower, narrows."""
    now = now or utcnow()
    if tier.rank < proposal.effective_tier(now).rank:
        return True
    if release_tier is None:
        return False
    if not _release_pending(proposal, now):
        return True
    return release_tier.rank < proposal.release_tier.rank or release_at < proposal.release_at


def access_change_widens(named_before: set, named_after: set, excluded_before: set, excluded_after: set) -> bool:
    """A named person added, or an exclusion (an address or a domain) removed."""
    return bool(named_after - named_before) or bool(excluded_before - excluded_after)


def widening_waits(user, proposal: Proposal) -> bool:
    """Whether a widening this person asks for would wait for someone's consent (an organizer's always
    does; a speaker's when the talk has other confirmed speakers)."""
    return not is_speaker(user, proposal) or bool(consent_awaited_from(user, proposal))


def can_see_widening_requests(user, proposal: Proposal) -> bool:
    """The talk's speakers and the organizers see what waits for consent, and who has answered."""
    return can_see_votes(user, proposal)


def can_answer_widening(user, request) -> bool:
    """A consenting speaker who has not answered a pending request, and did not make it."""
    if not request.pending or not _signed_in(user) or request.requested_by_id == user.id:
        return False
    if any(consent.user_id == user.id for consent in request.consents):
        return False
    return can_edit_proposal(user, request.proposal)


def can_withdraw_widening(user, request) -> bool:
    """Whoever asked may take a pending request back, while they may still change the talk's tier."""
    return (request.pending and _signed_in(user) and request.requested_by_id == user.id
            and can_change_tier(user, request.proposal))


def can_view_audience(user, proposal: Proposal) -> bool:
    """The talk's speakers and the organizers see exactly who sees the talk, and why."""
    return can_see_votes(user, proposal)


class Why(enum.StrEnum):
    """Why a person sees a talk or opens its materials, as the audience page says it."""

    SPEAKER = "speaker"
    ORGANIZER = "organizer"
    ADMIN = "admin"
    COSPEAKER = "invited co-speaker"
    NAMED = "named"
    ATTENDED = "attended the session"
    ATTENDEE = "attendee"
    PUBLIC = "public page"


class AudienceMember:
    """One person and how far the talk reaches them: why they read its title and abstract and open its
    materials now and after the scheduled release ("" when they do not), the rule that excludes them, and
    what contradicts itself about them."""

    __slots__ = ("user", "reads_now", "opens_now", "reads_later", "opens_later", "excluded_by", "terms_now",
                 "terms_later", "conflicts")

    def __init__(self, user: User):
        self.user = user
        self.reads_now = self.opens_now = self.reads_later = self.opens_later = self.excluded_by = ""
        # Refused the materials now (after the release) only until they accept the talk's terms.
        self.terms_now = self.terms_later = False
        self.conflicts: list[str] = []

    @property
    def needs_terms(self) -> bool:
        return self.terms_now or self.terms_later

    @property
    def reached(self) -> bool:
        return bool(self.reads_now or self.opens_now or self.reads_later or self.opens_later)


class Audience:
    """Who a talk reaches: ``members`` (the people reached now or later, and the excluded), whether anyone
    at all reads it on the public page now or after the release, the release's tier and date, and the
    exclusion rules that match nobody the event knows."""

    def __init__(self, proposal: Proposal, now, members: list[AudienceMember], idle_rules: list[str]):
        self.proposal, self.now, self.members, self.idle_rules = proposal, now, members, idle_rules
        self.release_at = proposal.release_at if _release_pending(proposal, now) else None
        self.release_tier = proposal.release_tier if self.release_at else None
        self.anyone_now = is_public_proposal(proposal, now)
        self.anyone_later = bool(self.release_at) and is_public_proposal(proposal, self.release_at)

    def _count(self, attribute: str) -> int:
        return sum(1 for member in self.members if getattr(member, attribute))

    @property
    def counts(self) -> dict[str, int]:
        return {"reads_now": self._count("reads_now"), "opens_now": self._count("opens_now"),
                "reads_later": self._count("reads_later"), "opens_later": self._count("opens_later"),
                "excluded": self._count("excluded_by"), "conflicts": self._count("conflicts"),
                "needs_terms": self._count("needs_terms")}

    @property
    def reached(self) -> list[AudienceMember]:
        return [member for member in self.members if member.reached]

    @property
    def excluded(self) -> list[AudienceMember]:
        return [member for member in self.members if member.excluded_by]

    @property
    def conflicts(self) -> list[AudienceMember]:
        return [member for member in self.members if member.conflicts]


class _AnyMaterial:
    """A material of the talk, not deleted, prepared, watermarked and without an end of access: what
    material_decision needs to judge who opens the talk's materials (a file's own end of access or type
    narrows that further, and the materials panel says so per file)."""

    deleted_at = None
    stamped = True
    state = MaterialState.READY
    expires_at = None

    def __init__(self, proposal: Proposal):
        self.proposal = proposal

    def expired(self, now) -> bool:
        return False


def _why_reads(user, proposal: Proposal, now) -> Why:
    """The first rule of can_view_proposal that lets this person read the talk (they do)."""
    if is_speaker(user, proposal):
        return Why.SPEAKER
    if is_organizer(user, proposal.event):
        return Why.ORGANIZER
    if is_admin(user):
        return Why.ADMIN
    if is_invited_cospeaker(user, proposal):
        return Why.COSPEAKER
    if proposal.effective_tier(now) == Tier.RESTRICTED:
        return Why.NAMED
    return Why.ATTENDEE


def _why_opens(user, proposal: Proposal, decision: Decision) -> Why:
    """The audience's word for an allowed material_decision."""
    if decision.reason == Reason.SPEAKER:
        return Why.SPEAKER
    if decision.reason == Reason.TIER_SESSION:
        return Why.ATTENDED
    if decision.reason == Reason.TIER_RESTRICTED:
        return Why.NAMED
    if is_organizer(user, proposal.event):
        return Why.ORGANIZER
    if is_admin(user):
        return Why.ADMIN
    if can_view_event_content(user, proposal.event):
        return Why.ATTENDEE
    return Why.PUBLIC


def _exclusion_rule(user: User, rules: list[ProposalExclusion]) -> str:
    domains = set(email_domains(user.email))
    for rule in rules:
        if rule.user_id == user.id:
            return "excluded by name"
    for rule in rules:
        if rule.domain in domains:
            return f"domain {rule.domain}"
    return ""


def talk_audience(proposal: Proposal, now=None) -> Audience:
    """Everyone the event knows whom this talk reaches, and why, now and after a scheduled release.

    The answers are the policy's own: can_view_proposal and material_decision are asked of every person the
    event knows (its participants, organizers, the instance's admins, the talk's speakers, named, attendees
    and excluded). What those predicates would look up one person at a time is loaded first in a fixed
    number of queries and kept for the request, so the count of queries does not grow with the people.
    """
    now = now or utcnow()
    event = proposal.event
    agreement = current_agreement(event)
    candidates = db.session.execute(sa.select(Candidate, User).join(User, Candidate.user_id == User.id)
                                    .where(Candidate.event_id == event.id)).all()
    organizers = db.session.scalars(sa.select(User).join(event_organizers, event_organizers.c.user_id == User.id)
                                    .where(event_organizers.c.event_id == event.id)).all()
    admins = db.session.scalars(sa.select(User).where(User.is_admin.is_(True))).all()
    speakers = db.session.execute(sa.select(ProposalSpeaker, User).join(User, ProposalSpeaker.user_id == User.id)
                                  .where(ProposalSpeaker.proposal_id == proposal.id)).all()
    rules = db.session.execute(sa.select(ProposalExclusion, User).outerjoin(User, ProposalExclusion.user_id == User.id)
                               .where(ProposalExclusion.proposal_id == proposal.id)
                               .order_by(ProposalExclusion.id)).all()
    named = db.session.execute(sa.select(User).join(ProposalAccess, ProposalAccess.user_id == User.id)
                               .where(ProposalAccess.proposal_id == proposal.id)).scalars().all()
    attended = db.session.execute(sa.select(User).join(Attendance, Attendance.user_id == User.id)
                                  .where(Attendance.proposal_id == proposal.id)).scalars().all()
    signed = set(db.session.scalars(sa.select(AgreementAcceptance.user_id).where(
        AgreementAcceptance.agreement_id == agreement.id))) if agreement is not None else set()
    has_terms = bool(proposal.extra_terms.strip())
    accepted_terms = set(db.session.scalars(sa.select(TermsAcceptance.user_id).where(
        TermsAcceptance.proposal_id == proposal.id, TermsAcceptance.terms_hash == terms_hash(proposal)))) \
        if has_terms else set()

    people: dict[int, User] = {}
    for user in [*(u for _c, u in candidates), *organizers, *admins, *(u for _s, u in speakers),
                 *(u for _r, u in rules if u is not None), *named, *attended]:
        people.setdefault(user.id, user)
    by_user = {c.user_id: c for c, _u in candidates}
    speaker_rows = {s.user_id: s for s, _u in speakers}
    organizer_ids = {u.id for u in organizers}
    named_ids, attended_ids = {u.id for u in named}, {u.id for u in attended}
    exclusion_rules = [rule for rule, _u in rules]
    excluded_by = {uid: _exclusion_rule(user, exclusion_rules) for uid, user in people.items()}

    if has_app_context():  # what the predicates would ask one person at a time, answered for all at once
        memo = g.setdefault("_policy_memo", {})
        for uid in people:
            memo[("organizer", uid, event.id)] = uid in organizer_ids
            memo[("participation", uid, event.id)] = by_user.get(uid)
            if agreement is not None:
                memo[("signed", uid, agreement.id)] = uid in signed
            memo[("speaker", uid, proposal.id)] = speaker_rows.get(uid)
            memo[("excluded", uid, proposal.id)] = bool(excluded_by[uid])
            memo[("named", uid, proposal.id)] = uid in named_ids
            memo[("attended", uid, proposal.id)] = uid in attended_ids
            if has_terms:
                memo[("terms", uid, proposal.id, terms_hash(proposal))] = uid in accepted_terms

    material = _AnyMaterial(proposal)
    release_at = proposal.release_at if _release_pending(proposal, now) else None

    def answers(user) -> tuple:
        """What the predicates answer for this person: why they read it and open it now, whether the terms
        hold the materials back, and the same after the release."""
        reads_now = _why_reads(user, proposal, now) if can_view_proposal(user, proposal, now) else ""
        decision = material_decision(user, material, now)
        opens_now = _why_opens(user, proposal, decision) if decision.allowed else ""
        if release_at is None:
            return reads_now, opens_now, decision.needs_terms, "", "", False
        reads_later = _why_reads(user, proposal, release_at) if can_view_proposal(user, proposal, release_at) else ""
        later = material_decision(user, material, release_at)
        return (reads_now, opens_now, decision.needs_terms, reads_later,
                _why_opens(user, proposal, later) if later.allowed else "", later.needs_terms)

    # The predicates read nothing of a person but these facts, so people who share them share the answers:
    # the predicates are asked once per kind of person, not once per person (tests/test_policy_consent.py
    # checks the result against the predicates asked person by person).
    answered: dict[tuple, tuple] = {}
    members: list[AudienceMember] = []
    for user in people.values():
        candidate, row = by_user.get(user.id), speaker_rows.get(user.id)
        facts = (user.is_admin, user.is_disabled, user.id in organizer_ids,
                 candidate.status if candidate is not None else None, user.id in signed,
                 None if row is None else row.confirmed, bool(excluded_by[user.id]), user.id in named_ids,
                 user.id in attended_ids, user.id in accepted_terms)
        if facts not in answered:
            answered[facts] = answers(user)
        member = AudienceMember(user)
        (member.reads_now, member.opens_now, member.terms_now, member.reads_later, member.opens_later,
         member.terms_later) = answered[facts]
        rule = excluded_by[user.id]
        if rule:
            if is_speaker(user, proposal):
                member.conflicts.append(f"{rule} matches a speaker, whom no exclusion keeps from their own talk")
            elif not _is_revoked(user, event):
                member.excluded_by = rule
                if user.id in named_ids:
                    member.conflicts.append(f"named, but {rule} excludes them: the exclusion wins")
                if is_invited_cospeaker(user, proposal):
                    member.conflicts.append(f"invited to co-speak, but {rule} excludes them")
        if member.reached or member.excluded_by or member.conflicts:
            members.append(member)
    order = {Why.SPEAKER: 0, Why.COSPEAKER: 1, Why.ORGANIZER: 2, Why.ADMIN: 3}
    members.sort(key=lambda m: (order.get(m.reads_now, 4), m.user.display_name.lower(), m.user.email))
    matched = {rule.domain for rule in exclusion_rules if rule.domain
               and any(rule.domain in email_domains(u.email) for u in people.values())}
    idle = [f"domain {rule.domain}" for rule in exclusion_rules if rule.domain and rule.domain not in matched]
    return Audience(proposal, now, members, idle)
