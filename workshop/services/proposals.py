"""Proposals: submission, co-speakers, tiers, access lists, decisions, votes, attendance, extra terms."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .. import dates, mail, policy
from ..extensions import db
from ..models import (
    Attendance,
    AttendanceSource,
    Candidate,
    CandidateStatus,
    Event,
    Proposal,
    ProposalAccess,
    ProposalExclusion,
    ProposalKind,
    ProposalSpeaker,
    ProposalStatus,
    TermsAcceptance,
    Tier,
    TierChange,
    User,
    Vote,
    WideningKind,
    WideningRequest,
    utcnow,
)
from ..text import csv_safe
from . import accounts, audit
from .errors import DomainError

P = ProposalStatus
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


@dataclass
class ProposalData:
    title: str
    abstract: str
    kind: ProposalKind
    duration_minutes: int
    tier: Tier
    chatham_house: bool = False
    no_recording: bool = False
    extra_terms: str = ""


def _validate(data: ProposalData) -> None:
    if len(data.title.strip()) < 3:
        raise DomainError("Give the talk a title of at least 3 characters.", field="title")
    if len(data.title) > 200:
        raise DomainError("Keep the title under 200 characters.", field="title")
    if len(data.abstract) > 20_000:
        raise DomainError("Keep the abstract under 20,000 characters.", field="abstract")
    if not 5 <= data.duration_minutes <= 240:
        raise DomainError("A session lasts from 5 to 240 minutes.", field="duration_minutes")
    if len(data.extra_terms) > 5_000:
        raise DomainError("Keep the extra terms under 5,000 characters.", field="extra_terms")


def _split_addresses(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


def _attendees_by_email(event: Event, emails: list[str], field: str) -> list[User]:
    """The accepted attendees with these addresses; a DomainError names any that are not."""
    try:
        wanted = [accounts.normalize_email(e) for e in emails]
    except DomainError as error:
        raise DomainError(error.message, field=field) from error
    found = dict(db.session.execute(
        sa.select(Candidate.email, User).join(User, Candidate.user_id == User.id).where(
            Candidate.event_id == event.id, Candidate.status == CandidateStatus.ACCEPTED,
            Candidate.email.in_(wanted))).all())
    missing = [e for e in wanted if e not in found]
    if missing:
        raise DomainError(f"Not attendees of this event: {', '.join(missing)}.", field=field)
    return [found[e] for e in dict.fromkeys(wanted)]


def _invite_cospeakers(actor: User, proposal: Proposal, people: list[User]) -> None:
    """Name co-speakers; each is emailed, with the talk's title only if they may already see it."""
    current = {s.user_id for s in proposal.speakers}
    excluded = [p.email for p in people if policy.is_excluded(p, proposal)]
    if excluded:
        raise DomainError(f"Excluded from this talk, so they cannot co-speak: {', '.join(excluded)}.",
                          field="cospeakers")
    for person in people:
        if person.id == actor.id or person.id in current:
            continue
        proposal.speakers.append(ProposalSpeaker(user_id=person.id, is_lead=False, confirmed=False))
        db.session.flush()
        policy.forget_memo()
        mail.queue(person.email, f"{actor.display_name} named you as a co-speaker", "cospeaker_invited",
                   proposal=proposal, actor=actor, event=proposal.event,
                   show_title=policy.can_view_proposal(person, proposal))


def submit(actor: User, event: Event, data: ProposalData, cospeaker_emails: str = "") -> Proposal:
    """Attendees who signed the agreement propose a talk; the proposer is its lead speaker."""
    if not policy.can_propose(actor, event):
        raise DomainError("Proposals are open to attendees who signed the agreement, while the event takes them.")
    _validate(data)
    cospeakers = _attendees_by_email(event, _split_addresses(cospeaker_emails), "cospeakers")
    proposal = Proposal(event_id=event.id, title=data.title.strip(), abstract=data.abstract, kind=data.kind,
                        duration_minutes=data.duration_minutes, tier=data.tier, chatham_house=data.chatham_house,
                        no_recording=data.no_recording, extra_terms=data.extra_terms.strip(),
                        created_by_id=actor.id)
    proposal.speakers.append(ProposalSpeaker(user_id=actor.id, is_lead=True, confirmed=True))
    db.session.add(proposal)
    db.session.flush()
    _invite_cospeakers(actor, proposal, cospeakers)
    audit.record(actor, event, "propose", f"proposal {proposal.public_id}", data.tier.value)
    policy.forget_memo()
    return proposal


PROPOSAL_FIELDS = ("title", "abstract", "kind", "duration_minutes", "chatham_house", "no_recording", "extra_terms")


def update(actor: User, proposal: Proposal, data: ProposalData, cospeaker_emails: str = "") -> None:
    """Speakers edit their talk. ``data.tier`` is ignored: the tier changes only through ``change_tier``,
    which records it and keeps or replaces a scheduled release knowingly."""
    if not policy.can_edit_proposal(actor, proposal):
        raise DomainError("Only the talk's speakers may edit it.")
    _validate(data)
    cospeakers = _attendees_by_email(proposal.event, _split_addresses(cospeaker_emails), "cospeakers")
    before = audit.snapshot(proposal, PROPOSAL_FIELDS)
    proposal.title, proposal.abstract, proposal.kind = data.title.strip(), data.abstract, data.kind
    proposal.duration_minutes = data.duration_minutes
    proposal.chatham_house, proposal.no_recording = data.chatham_house, data.no_recording
    proposal.extra_terms = data.extra_terms.strip()
    keep = {u.id for u in cospeakers} | {actor.id}
    for speaker in list(proposal.speakers):
        if not speaker.is_lead and speaker.user_id not in keep:
            proposal.speakers.remove(speaker)
    _invite_cospeakers(actor, proposal, cospeakers)
    audit.record(actor, proposal.event, "edit proposal", f"proposal {proposal.public_id}",
                 audit.changes(before, proposal, {"duration_minutes": "minutes"}))
    policy.forget_memo()
    from . import consent

    consent.speakers_changed(actor, proposal)  # a request may have waited only for a speaker now gone


def answer_cospeaking(user: User, proposal: Proposal, accept: bool) -> None:
    if not policy.can_confirm_cospeaking(user, proposal):
        raise DomainError("There is no co-speaker invitation for you on this talk.")
    row = next(s for s in proposal.speakers if s.user_id == user.id)
    if accept:
        row.confirmed = True
    else:
        proposal.speakers.remove(row)
    audit.record(user, proposal.event, "confirm co-speaker" if accept else "decline co-speaker",
                 f"proposal {proposal.public_id}")
    policy.forget_memo()
    if accept:  # a confirmed speaker's consent is needed for every widening still waiting
        from . import consent

        consent.speakers_changed(user, proposal, joined=user)


def withdraw(actor: User, proposal: Proposal) -> None:
    if not policy.can_edit_proposal(actor, proposal):
        raise DomainError("Only the talk's speakers may withdraw it.")
    proposal.status = P.WITHDRAWN
    audit.record(actor, proposal.event, "withdraw proposal", f"proposal {proposal.public_id}")


def decide(actor: User, proposal: Proposal, accept: bool, note: str = "") -> None:
    """Organizers accept or reject, with a note; the speakers are emailed."""
    if not policy.can_decide_proposal(actor, proposal):
        raise DomainError("Only organizers decide on proposals, and not on withdrawn ones.")
    if len(note) > 5_000:
        raise DomainError("Keep the note under 5,000 characters.", field="note")
    was = proposal.status
    proposal.status = P.ACCEPTED if accept else P.REJECTED
    proposal.decision_note = note.strip()
    audit.record(actor, proposal.event, "accept proposal" if accept else "reject proposal",
                 f"proposal {proposal.public_id}", f"{was} → {proposal.status}")
    for speaker in proposal.speakers:
        if speaker.confirmed and policy.can_view_proposal(speaker.user, proposal):  # a revoked speaker hears nothing
            mail.queue(speaker.user.email,
                       f"Your proposal was {'accepted' if accept else 'not accepted'}: {proposal.title}",
                       "proposal_decided", proposal=proposal, accepted=accept, event=proposal.event)


def change_tier(actor: User, proposal: Proposal, tier: Tier, release_tier: Tier | None = None,
                release_at: datetime | None = None) -> TierChange | WideningRequest:
    """Speakers raise or lower their talk's tier, and may schedule a release to a wider tier at a date;
    organizers raise it. Every change is recorded.

    A change that narrows applies at once. One that widens (a wider tier now, or a release scheduled
    sooner or wider than one already is) applies at once only when nobody else's consent is needed (a
    talk with one speaker, asked by that speaker); otherwise it waits, whole, as a WideningRequest that
    every other confirmed speaker must accept (an organizer's as well: speakers own their talk). Returns
    the TierChange made, or the request. Raises DomainError for a change that may not be made.
    """
    if not policy.can_change_tier(actor, proposal):
        raise DomainError("Only the talk's speakers and the organizers may change its tier.")
    from . import consent

    consent.lock_talk(proposal)
    now = utcnow()
    current = proposal.effective_tier(now)
    if release_tier is not None or release_at is not None:
        if release_tier is None or release_at is None:
            raise DomainError("A scheduled release needs both a tier and a date.", field="release_at")
        if release_tier.rank >= tier.rank:
            raise DomainError("A release opens the talk to a wider tier than it has now.", field="release_tier")
        if release_at <= now:
            raise DomainError("Schedule the release in the future, or change the tier now.", field="release_at")
    if tier == current and release_tier == proposal.release_tier and release_at == proposal.release_at:
        raise DomainError("Nothing changed. The talk already has this tier.", field="tier")
    if policy.tier_change_widens(proposal, tier, release_tier, release_at, now):
        awaited = policy.consent_awaited_from(actor, proposal)
        if awaited or not policy.is_speaker(actor, proposal):
            return consent.ask(actor, proposal, awaited, WideningKind.TIER,
                               _tier_summary(current, tier, release_tier, release_at),
                               tier=tier, release_tier=release_tier, release_at=release_at)
    return apply_tier(actor, proposal, tier, release_tier, release_at)


def _tier_summary(current: Tier, tier: Tier, release_tier: Tier | None, release_at: datetime | None) -> str:
    summary = f"tier {current.value} → {tier.value}" if tier != current else f"tier stays {tier.value}"
    if release_tier is not None:
        summary += f", then {release_tier.value} from {dates.datefmt(release_at, 'stamp')} UTC"
    return summary


def apply_tier(actor: User | None, proposal: Proposal, tier: Tier, release_tier: Tier | None,
               release_at: datetime | None) -> TierChange:
    """Put the talk at ``tier`` with the release given (or none), record it, and set aside any request
    to widen the tier that was waiting (it was asked of the tier as it stood). Callers have decided that
    the change may be made: change_tier, or a request every speaker consented to."""
    now = utcnow()
    current = proposal.effective_tier(now)
    cancelled = policy._release_pending(proposal, now) and release_tier is None
    change = TierChange(proposal_id=proposal.id, actor_id=actor.id if actor else None, from_tier=current,
                        to_tier=tier, effective_at=now)
    db.session.add(change)
    if release_tier is not None:
        db.session.add(TierChange(proposal_id=proposal.id, actor_id=actor.id if actor else None, from_tier=tier,
                                  to_tier=release_tier, effective_at=release_at))
    proposal.tier, proposal.release_tier, proposal.release_at = tier, release_tier, release_at
    detail = f"{current.value} → {tier.value}"
    if release_tier:
        detail += f", {release_tier.value} from {dates.datefmt(release_at, 'stamp')} UTC"
    elif cancelled:
        detail += ", scheduled release cancelled"
    audit.record(actor, proposal.event, "change tier", f"proposal {proposal.public_id}", detail)
    from . import consent

    consent.supersede(actor, proposal, WideningKind.TIER)
    policy.forget_memo()
    return change


def _parse_access(proposal: Proposal, named_emails: str, excluded: str) -> tuple[list[User], list[str], list[str]]:
    """The named attendees, and the excluded addresses and domains (normalized), or a DomainError that
    names the field at fault. Creates nothing."""
    named = _attendees_by_email(proposal.event, _split_addresses(named_emails), "named")
    people, domains = [], []
    for entry in _split_addresses(excluded):
        if "@" in entry.strip("@"):
            try:
                people.append(accounts.normalize_email(entry))
            except DomainError as error:
                raise DomainError(error.message, field="excluded") from error
        else:
            domain = entry.strip("@").lower()
            if not DOMAIN_RE.match(domain):
                raise DomainError(f"“{entry[:80]}” is neither an email address nor a domain.", field="excluded")
            domains.append(domain)
    speaker_emails = {s.user.email for s in proposal.speakers}
    if any(email in speaker_emails for email in people):
        raise DomainError("A speaker cannot be excluded from their own talk.", field="excluded")
    return named, list(dict.fromkeys(people)), list(dict.fromkeys(domains))


def set_access(actor: User, proposal: Proposal, named_emails: str, excluded: str) -> WideningRequest | None:
    """Speakers name who may see a restricted talk, and exclude people or whole email domains.

    ``excluded`` holds addresses (``ada@lab.org``) and domains (``lab.org`` or ``@lab.org``). Naming
    someone new or lifting an exclusion widens the talk: with other confirmed speakers it waits, whole,
    as a WideningRequest (returned) until they all consent; anything else applies at once (None).
    """
    if not policy.can_edit_proposal(actor, proposal):
        raise DomainError("Only the talk's speakers decide who may see it.")
    named, people, domains = _parse_access(proposal, named_emails, excluded)
    from . import consent

    consent.lock_talk(proposal)
    named_before, excluded_before = access_lists(proposal)
    if policy.access_change_widens(set(named_before), {u.email for u in named},
                                   set(excluded_before), set(people) | set(domains)):
        awaited = policy.consent_awaited_from(actor, proposal)
        if awaited:
            summary = _access_summary(named_before, [u.email for u in named], excluded_before, people + domains)
            return consent.ask(actor, proposal, awaited, WideningKind.ACCESS, summary,
                               named="\n".join(u.email for u in named), excluded="\n".join(people + domains))
    apply_access(actor, proposal, named, people, domains)
    return None


def _access_summary(named_before, named_after, excluded_before, excluded_after) -> str:
    parts = []
    if added := [e for e in named_after if e not in named_before]:
        parts.append(f"names {', '.join(added)}")
    if removed := [e for e in named_before if e not in named_after]:
        parts.append(f"no longer names {', '.join(removed)}")
    if lifted := [e for e in excluded_before if e not in excluded_after]:
        parts.append(f"lifts the exclusion of {', '.join(lifted)}")
    if added_ex := [e for e in excluded_after if e not in excluded_before]:
        parts.append(f"excludes {', '.join(added_ex)}")
    return "; ".join(parts)[:1000]


def apply_access(actor: User | None, proposal: Proposal, named: list[User], people: list[str],
                 domains: list[str]) -> None:
    """Replace the named list and the exclusions, record it, drop the newly excluded from the session's
    seats, and set aside any request to widen them that was waiting. Callers have decided that the change
    may be made."""
    excluded_users = [accounts.get_or_create_user(email) for email in people]
    db.session.execute(sa.delete(ProposalAccess).where(ProposalAccess.proposal_id == proposal.id))
    db.session.execute(sa.delete(ProposalExclusion).where(ProposalExclusion.proposal_id == proposal.id))
    for user in named:
        db.session.add(ProposalAccess(proposal_id=proposal.id, user_id=user.id))
    for user in {p.id: p for p in excluded_users}.values():
        db.session.add(ProposalExclusion(proposal_id=proposal.id, user_id=user.id))
    for domain in domains:
        db.session.add(ProposalExclusion(proposal_id=proposal.id, domain=domain))
    audit.record(actor, proposal.event, "set access", f"proposal {proposal.public_id}",
                 f"{len(named)} named, {len(excluded_users)} people and {len(domains)} domains excluded")
    from . import consent

    consent.supersede(actor, proposal, WideningKind.ACCESS)
    policy.forget_memo()
    # An exclusion leaves no trace: the excluded lose their seat (and the waitlist moves up) at once.
    from .signups import drop_excluded

    drop_excluded(proposal)


def access_lists(proposal: Proposal) -> tuple[list[str], list[str]]:
    """Who the speakers named (emails), and who they excluded (emails and domains), as they typed them."""
    named = db.session.scalars(sa.select(User.email).join(ProposalAccess, ProposalAccess.user_id == User.id)
                               .where(ProposalAccess.proposal_id == proposal.id).order_by(ProposalAccess.user_id)).all()
    excluded = db.session.execute(sa.select(ProposalExclusion.domain, User.email).outerjoin(
        User, ProposalExclusion.user_id == User.id).where(ProposalExclusion.proposal_id == proposal.id)
        .order_by(ProposalExclusion.id)).all()
    return list(named), [domain or email for domain, email in excluded]


def search(statement: sa.Select, text: str) -> sa.Select:
    """Proposals whose title or abstract holds ``text``."""
    if not text:
        return statement
    pattern = text.lower()
    return statement.where(sa.or_(sa.func.lower(Proposal.title).contains(pattern, autoescape=True),
                                  sa.func.lower(Proposal.abstract).contains(pattern, autoescape=True)))


def voted_among(user: User, proposal_ids) -> set[int]:
    """The proposals among ``proposal_ids`` this person wants to attend, in one query."""
    return set(db.session.scalars(sa.select(Vote.proposal_id).where(Vote.user_id == user.id,
                                                                   Vote.proposal_id.in_(list(proposal_ids)))))


def toggle_vote(user: User, proposal: Proposal) -> bool:
    """Mark or unmark a proposal one wants to attend; returns whether a vote now stands."""
    if not policy.can_vote(user, proposal):
        raise DomainError("You cannot vote for this proposal.")
    vote = db.session.get(Vote, (proposal.id, user.id))
    if vote is None:
        db.session.add(Vote(proposal_id=proposal.id, user_id=user.id))
        return True
    db.session.delete(vote)
    return False


def export_csv(items: list[Proposal], votes: dict[int, int], now: datetime) -> str:
    """Proposals as CSV for organizers, formula-safe: speakers, tier in force at ``now``, status and votes."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["title", "kind", "minutes", "status", "tier", "scheduled release", "speakers", "votes",
                     "chatham house", "no recording"])
    for p in items:
        release = f"{p.release_tier.value} from {dates.datefmt(p.release_at, 'stamp')} UTC" if p.release_tier else ""
        writer.writerow([csv_safe(v) for v in (
            p.title, p.kind.value, p.duration_minutes, p.status.value, p.effective_tier(now).value, release,
            "; ".join(s.user.email for s in p.speakers if s.confirmed), votes.get(p.id, 0),
            "yes" if p.chatham_house else "", "yes" if p.no_recording else "")])
    return out.getvalue()


def vote_counts(proposal_ids) -> dict[int, int]:
    rows = db.session.execute(sa.select(Vote.proposal_id, sa.func.count()).where(
        Vote.proposal_id.in_(proposal_ids)).group_by(Vote.proposal_id))
    return dict(rows.all())


def record_attendance(actor: User | None, proposal: Proposal, user: User,
                      source: AttendanceSource = AttendanceSource.ORGANIZER) -> bool:
    """Record that ``user`` attended; the session tier's materials open to them. Check-in calls this too.

    Returns False when it was recorded already.
    """
    if source == AttendanceSource.ORGANIZER:
        if not policy.can_record_attendance(actor, proposal):
            raise DomainError("Only organizers record attendance, for accepted talks.")
    elif source == AttendanceSource.CHECKIN:
        if proposal.status != ProposalStatus.ACCEPTED:
            raise DomainError("Only accepted talks take check-ins.")
    else:
        raise DomainError(f"Unknown attendance source “{source}”.")
    if not policy.is_attendee(user, proposal.event):
        raise DomainError(f"{user.email} is not an attendee of this event.", field="email")
    if db.session.get(Attendance, (proposal.id, user.id)) is not None:
        return False
    db.session.add(Attendance(proposal_id=proposal.id, user_id=user.id, source=source,
                              recorded_by_id=actor.id if actor else None))
    audit.record(actor, proposal.event, "record attendance", f"proposal {proposal.public_id}", user.email)
    policy.forget_memo()
    return True


def person_by_email(email: str) -> User:
    """The account behind an address typed on an attendance or check-in form."""
    user = accounts.find_user(accounts.normalize_email(email))
    if user is None:
        raise DomainError("No attendee has that address.", field="email")
    return user


def person_by_id(raw: str) -> User:
    """The account behind a person's button on the check-in list."""
    user = db.session.get(User, int(raw)) if raw.isdigit() and int(raw) < 2**31 else None
    if user is None:
        raise DomainError("No attendee has that id.")
    return user


def remove_attendance(actor: User, proposal: Proposal, user: User) -> None:
    if not policy.can_record_attendance(actor, proposal):
        raise DomainError("Only organizers record attendance, for accepted talks.")
    row = db.session.get(Attendance, (proposal.id, user.id))
    if row is None:
        raise DomainError("That person is not recorded as attending.")
    db.session.delete(row)
    audit.record(actor, proposal.event, "remove attendance", f"proposal {proposal.public_id}", user.email)
    policy.forget_memo()


def accept_terms(user: User, proposal: Proposal, ip: str) -> None:
    """Accept a talk's extra terms as they read now; a change to the terms asks again."""
    if not policy.can_accept_terms(user, proposal):
        raise DomainError("There are no terms for you to accept on this talk.")
    if policy.has_accepted_terms(user, proposal):
        raise DomainError("You have already accepted these terms.")
    db.session.add(TermsAcceptance(proposal_id=proposal.id, user_id=user.id, terms_hash=policy.terms_hash(proposal),
                                   ip=ip[:64]))
    policy.forget_memo()
