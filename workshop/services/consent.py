"""Consent before a talk travels wider: the request, the speakers' answers, and applying what they accepted.

A change that would let more people see a talk or its files (services.proposals.change_tier and
set_access, services.materials.set_expiry and set_only_stamped decide which changes do) waits here as a
WideningRequest while other confirmed speakers must consent. Each of them is emailed; the first decline
closes it, and the last consent applies it. A later change of the same kind, or a newer request, sets it
aside; whoever asked may withdraw it. Every step is in the audit log.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from .. import mail, policy
from ..extensions import db
from ..models import (
    Proposal,
    User,
    WideningConsent,
    WideningKind,
    WideningRequest,
    WideningStatus,
    utcnow,
)
from . import audit
from .errors import DomainError

W = WideningStatus


def lock_talk(proposal: Proposal) -> None:
    """Take the talk's row lock (PostgreSQL ``SELECT … FOR UPDATE``) and read the talk afresh: consents,
    declines and changes of one talk then happen one after another, so two last consents given at once
    still apply the request, and a request is never asked of a tier another request has just changed."""
    db.session.execute(sa.select(Proposal.id).where(Proposal.id == proposal.id).with_for_update())
    db.session.refresh(proposal)


def _lock(request: WideningRequest) -> None:
    lock_talk(request.proposal)
    db.session.refresh(request)
    db.session.expire(request, ["consents"])


def _target(proposal: Proposal) -> str:
    return f"proposal {proposal.public_id}"


def ask(actor: User, proposal: Proposal, awaited: list[User], kind: WideningKind, summary: str,
        **change) -> WideningRequest:
    """Open a request for ``change`` (the columns of ``kind``) and email every speaker in ``awaited``.

    A pending request of the same kind is set aside: the newer one says what is wanted now. Raises
    DomainError when nobody could answer (an organizer's widening of a talk none of whose speakers is
    still in the event)."""
    if not awaited:
        raise DomainError("None of the talk's speakers can consent now, so it cannot be made wider.", field="tier")
    supersede(actor, proposal, kind, change.get("material_id"))
    request = WideningRequest(proposal_id=proposal.id, kind=kind, requested_by_id=actor.id, summary=summary,
                              status=W.PENDING, **change)
    db.session.add(request)
    db.session.flush()
    audit.record(actor, proposal.event, "request widening", _target(proposal), f"{kind.value}: {summary}")
    for speaker in awaited:
        _ask_of(speaker, request, actor)
    return request


def _ask_of(speaker: User, request: WideningRequest, actor: User | None) -> None:
    proposal = request.proposal
    mail.queue(speaker.email, f"Your consent is asked: {proposal.title}", "widening_requested",
               proposal=proposal, request=request, actor=actor, event=proposal.event)


def answer(user: User, request: WideningRequest, accept: bool) -> WideningStatus:
    """A speaker consents to a request or declines it. A decline closes it; the last consent applies it.
    Returns where the request stands afterwards. Raises DomainError when it does not wait for this person."""
    _lock(request)
    if not policy.can_answer_widening(user, request):
        raise DomainError("This request does not wait for your answer.")
    proposal = request.proposal
    request.consents.append(WideningConsent(user_id=user.id, accepted=accept, answered_at=utcnow()))
    db.session.flush()
    audit.record(user, proposal.event, "consent to widening" if accept else "decline widening", _target(proposal),
                 request.summary)
    if not accept:
        _close(user, request, W.DECLINED)
        return request.status
    settle(user, request)
    return request.status


def awaited_for(request: WideningRequest, speakers: list[User] | None = None) -> list[User]:
    """The consenting speakers who have not accepted ``request`` yet (``speakers``: the talk's consenting
    speakers, when the caller has them already)."""
    if speakers is None:
        speakers = policy.consenting_speakers(request.proposal)
    answered = {c.user_id for c in request.consents if c.accepted}
    return [u for u in speakers if u.id != request.requested_by_id and u.id not in answered]


def settle(actor: User | None, request: WideningRequest) -> bool:
    """Apply a pending request once nobody's consent is awaited any more. Returns whether it applied."""
    if not request.pending or awaited_for(request):
        return False
    from . import proposals

    proposal, requester = request.proposal, request.requested_by
    request.status, request.closed_at = W.APPLIED, utcnow()
    db.session.flush()
    if request.kind == WideningKind.TIER:
        proposals.apply_tier(requester, proposal, request.tier, request.release_tier, request.release_at)
    elif request.kind == WideningKind.ACCESS:
        try:
            named, people, domains = proposals._parse_access(proposal, request.named, request.excluded)
        except DomainError:  # someone it names has left the event since: what was asked can no longer be done
            _close(actor, request, W.SUPERSEDED)
            return False
        proposals.apply_access(requester, proposal, named, people, domains)
    else:
        from . import materials

        if request.kind == WideningKind.EXPIRY:
            if request.material is None or request.material.deleted_at is not None:  # the file is gone since
                _close(actor, request, W.SUPERSEDED)
                return False
            materials.apply_expiry(requester, request.material, request.expires_at)
        else:
            materials.apply_only_stamped(requester, proposal, False)
    audit.record(actor, proposal.event, "apply widening", _target(proposal), request.summary)
    _tell_everyone(actor, request)
    return True


def withdraw(user: User, request: WideningRequest) -> None:
    """Whoever asked takes a pending request back."""
    _lock(request)
    if not policy.can_withdraw_widening(user, request):
        raise DomainError("Only whoever asked may withdraw this request, while it waits.")
    _close(user, request, W.WITHDRAWN)


def supersede(actor: User | None, proposal: Proposal, kind: WideningKind, material_id: int | None = None) -> None:
    """Set aside the pending requests of ``kind`` (for one file: ``material_id``): the part of the talk they
    would change has changed since they were asked (applying one of them would undo what was done meanwhile)."""
    for request in db.session.scalars(sa.select(WideningRequest).where(
            WideningRequest.proposal_id == proposal.id, WideningRequest.kind == kind,
            WideningRequest.material_id == material_id if material_id is not None else sa.true(),
            WideningRequest.status == W.PENDING)):
        _close(actor, request, W.SUPERSEDED)


def _close(actor: User | None, request: WideningRequest, status: WideningStatus) -> None:
    request.status, request.closed_at = status, utcnow()
    action = {W.DECLINED: "widening declined", W.WITHDRAWN: "withdraw widening",
              W.SUPERSEDED: "widening superseded"}[status]
    audit.record(actor, request.proposal.event, action, _target(request.proposal), request.summary)
    _tell_everyone(actor, request)


def _tell_everyone(actor: User | None, request: WideningRequest) -> None:
    """Every consenting speaker and whoever asked hear how the request ended (but the person who ended it)."""
    proposal = request.proposal
    people = {u.id: u for u in policy.consenting_speakers(proposal)}
    if request.requested_by is not None:
        people.setdefault(request.requested_by.id, request.requested_by)
    for person in people.values():
        if actor is not None and person.id == actor.id:
            continue
        mail.queue(person.email, f"Request {request.status.label}: {proposal.title}", "widening_closed",
                   proposal=proposal, request=request, actor=actor, event=proposal.event,
                   outcome=_outcome(actor, request))


def _outcome(actor: User | None, request: WideningRequest) -> str:
    """How the request ended, in a sentence for the email."""
    proposal, who = request.proposal, actor.display_name if actor is not None else "A speaker"
    talk = f"“{proposal.title}” at {proposal.event.title}"
    return {
        W.APPLIED: f"Every speaker consented, so this change to {talk} now applies: {request.summary}.",
        W.DECLINED: f"{who} declined this change to {talk}, so it does not happen: {request.summary}.",
        W.WITHDRAWN: f"{who} withdrew the request to change {talk}: {request.summary}.",
        W.SUPERSEDED: f"The request to change {talk} ({request.summary}) was set aside: the talk changed since "
                      "it was asked. Ask again if it is still wanted.",
    }[request.status]


def open_requests(proposal: Proposal) -> list[tuple[WideningRequest, list[User]]]:
    """The talk's pending requests, newest first, each with the speakers it still waits for (two queries)."""
    requests = db.session.scalars(
        sa.select(WideningRequest).where(WideningRequest.proposal_id == proposal.id,
                                         WideningRequest.status == W.PENDING)
        .options(selectinload(WideningRequest.consents).selectinload(WideningConsent.user),
                 selectinload(WideningRequest.requested_by))
        .order_by(WideningRequest.created_at.desc(), WideningRequest.id.desc())).all()
    if not requests:
        return []
    speakers = policy.consenting_speakers(proposal)
    return [(request, awaited_for(request, speakers)) for request in requests]


def speakers_changed(actor: User | None, proposal: Proposal, joined: User | None = None) -> None:
    """After the talk's speakers change: a new co-speaker is asked too, and a request that no longer waits
    for anyone (its last awaited speaker left) applies."""
    for request in db.session.scalars(sa.select(WideningRequest).where(
            WideningRequest.proposal_id == proposal.id, WideningRequest.status == W.PENDING)).all():
        if joined is not None and joined.id != request.requested_by_id:
            _ask_of(joined, request, request.requested_by)
        settle(actor, request)


def request_of(proposal: Proposal, public_id: str) -> WideningRequest | None:
    """One of the talk's requests by its public id (another talk's id finds nothing)."""
    if not public_id or len(public_id) > 24:
        return None
    return db.session.scalar(sa.select(WideningRequest).where(WideningRequest.proposal_id == proposal.id,
                                                              WideningRequest.public_id == public_id))
