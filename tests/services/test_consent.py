"""Consent before a talk travels wider: requests, answers, emails, the audit trail, and what sets a
request aside."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import TEST_DATABASE_URL, errors, make_event, make_participant, make_user, race
from workshop import policy
from workshop.extensions import db
from workshop.models import (
    AuditEntry,
    Candidate,
    CandidateStatus,
    Proposal,
    ProposalKind,
    Tier,
    TierChange,
    User,
    WideningRequest,
    WideningStatus,
    utcnow,
)
from workshop.services import consent, proposals
from workshop.services.errors import DomainError

W = WideningStatus


class Cast:
    """An open event with its organizer, a talk's lead and two co-speakers, and a listener."""

    def __init__(self):
        self.organizer = make_user("org@example.org", "Olga Organizer")
        self.event = make_event("retreat", organizers=[self.organizer])
        self.lead = make_participant(self.event, "lead@example.org")
        self.co = make_participant(self.event, "co@example.org")
        self.third = make_participant(self.event, "third@example.org")
        self.listener = make_participant(self.event, "listener@cs.lab.org")
        db.session.commit()

    def talk(self, tier: Tier = Tier.RESTRICTED, cospeakers=("co",), confirm=True) -> Proposal:
        emails = " ".join(f"{name}@example.org" for name in cospeakers)
        proposal = proposals.submit(self.lead, self.event, proposals.ProposalData(
            title="Sparse probes", abstract="Early.", kind=ProposalKind.TALK, duration_minutes=30, tier=tier), emails)
        if confirm:
            for name in cospeakers:
                proposals.answer_cospeaking(getattr(self, name), proposal, accept=True)
        db.session.commit()
        policy.forget_memo()
        return proposal


@pytest.fixture
def cast(ctx):
    return Cast()


def deliver(sent):
    db.session.commit()
    return sent.refresh()


def actions(cast) -> list[tuple[str, str]]:
    return [(e.action, e.actor.email if e.actor else "") for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.event_id == cast.event.id,
                                    AuditEntry.action.not_in(["propose", "confirm co-speaker"]))
        .order_by(AuditEntry.id))]


def tier_changes(proposal) -> int:
    return len(db.session.scalars(sa.select(TierChange).where(TierChange.proposal_id == proposal.id)).all())


def test_a_cospeaker_cannot_make_a_talk_public_without_the_proposer(cast, sent):
    """The old hole: a co-speaker widened the talk without a word to the proposer."""
    proposal = cast.talk(Tier.RESTRICTED)
    deliver(sent)
    request = proposals.change_tier(cast.co, proposal, Tier.PUBLIC)
    deliver(sent)
    assert request.pending and proposal.tier == Tier.RESTRICTED and tier_changes(proposal) == 0
    [asked] = sent.to("lead@example.org")
    assert asked["Subject"] == "Your consent is asked: Sparse probes"
    body = asked.get_body(preferencelist=("plain",)).get_content()
    assert "tier restricted → public" in body and f"/proposals/{proposal.public_id}" in body
    assert [m["Subject"] for m in sent.to("co@example.org") if "consent" in m["Subject"]] == []  # nor the asker
    assert actions(cast) == [("request widening", "co@example.org")]


def test_every_other_speaker_consents_then_it_applies_and_everyone_hears(cast, sent):
    proposal = cast.talk(Tier.RESTRICTED, cospeakers=("co", "third"))
    request = proposals.change_tier(cast.co, proposal, Tier.ATTENDEES)
    deliver(sent)
    assert {m["To"] for m in sent} >= {"lead@example.org", "third@example.org"}
    sent.clear(), sent.refresh()
    before = len(sent)
    assert consent.answer(cast.lead, request, accept=True) == W.PENDING
    deliver(sent)
    assert proposal.tier == Tier.RESTRICTED and len(sent) == before  # still waits for the third speaker
    assert [u.email for u in consent.awaited_for(request)] == ["third@example.org"]
    assert consent.answer(cast.third, request, accept=True) == W.APPLIED
    deliver(sent)
    assert proposal.tier == Tier.ATTENDEES and request.closed_at is not None
    told = {m["To"] for m in sent[before:]}
    assert told == {"lead@example.org", "co@example.org"}  # everyone but the one who settled it
    assert "now applies" in sent.to("co@example.org")[-1].get_body(preferencelist=("plain",)).get_content()
    assert actions(cast) == [("request widening", "co@example.org"), ("consent to widening", "lead@example.org"),
                             ("consent to widening", "third@example.org"), ("change tier", "co@example.org"),
                             ("apply widening", "third@example.org")]
    # The tier change is the asker's: the record says who wanted it.
    assert db.session.scalar(sa.select(TierChange.actor_id).where(TierChange.proposal_id == proposal.id)) == cast.co.id


def test_one_decline_ends_it(cast, sent):
    proposal = cast.talk(Tier.RESTRICTED, cospeakers=("co", "third"))
    request = proposals.change_tier(cast.co, proposal, Tier.PUBLIC)
    consent.answer(cast.lead, request, accept=True)
    deliver(sent)
    before = len(sent)
    assert consent.answer(cast.third, request, accept=False) == W.DECLINED
    deliver(sent)
    assert proposal.tier == Tier.RESTRICTED and tier_changes(proposal) == 0
    assert {m["To"] for m in sent[before:]} == {"lead@example.org", "co@example.org"}
    assert "declined" in sent.to("co@example.org")[-1].get_body(preferencelist=("plain",)).get_content()
    assert actions(cast)[-2:] == [("decline widening", "third@example.org"), ("widening declined", "third@example.org")]
    with pytest.raises(DomainError, match="does not wait for your answer"):
        consent.answer(cast.lead, request, accept=True)  # a closed request takes no more answers


@pytest.mark.parametrize("who", ["co", "listener", "organizer"])
def test_only_the_speakers_awaited_answer(cast, who):
    """The asker cannot consent for the others; nor can anyone who is not a speaker."""
    proposal = cast.talk(Tier.RESTRICTED)
    request = proposals.change_tier(cast.co, proposal, Tier.PUBLIC)
    with pytest.raises(DomainError):
        consent.answer(getattr(cast, who), request, accept=True)
    assert request.pending and proposal.tier == Tier.RESTRICTED


def test_nobody_answers_twice(cast):
    proposal = cast.talk(Tier.RESTRICTED, cospeakers=("co", "third"))
    request = proposals.change_tier(cast.co, proposal, Tier.PUBLIC)
    consent.answer(cast.lead, request, accept=True)
    with pytest.raises(DomainError):
        consent.answer(cast.lead, request, accept=False)
    assert request.pending


def test_narrowing_applies_at_once_and_sets_a_waiting_widening_aside(cast, sent):
    """Any speaker narrows at once. A widening asked before would, applied later, undo that narrowing; so it
    is set aside, and its asker is told."""
    proposal = cast.talk(Tier.SESSION)
    request = proposals.change_tier(cast.co, proposal, Tier.ATTENDEES)
    deliver(sent)
    before = len(sent)
    proposals.change_tier(cast.lead, proposal, Tier.RESTRICTED)
    deliver(sent)
    assert proposal.tier == Tier.RESTRICTED and request.status == W.SUPERSEDED
    assert [m["To"] for m in sent[before:]] == ["co@example.org"]
    assert "set aside" in sent[-1].get_body(preferencelist=("plain",)).get_content()
    assert ("widening superseded", "lead@example.org") in actions(cast)


def test_a_newer_request_replaces_the_older(cast):
    proposal = cast.talk(Tier.RESTRICTED)
    first = proposals.change_tier(cast.co, proposal, Tier.SESSION)
    second = proposals.change_tier(cast.co, proposal, Tier.ATTENDEES)
    assert first.status == W.SUPERSEDED and second.pending
    assert [r.public_id for r, _ in consent.open_requests(proposal)] == [second.public_id]


def test_the_asker_withdraws(cast, sent):
    proposal = cast.talk(Tier.RESTRICTED)
    request = proposals.change_tier(cast.co, proposal, Tier.PUBLIC)
    with pytest.raises(DomainError):
        consent.withdraw(cast.lead, request)
    consent.withdraw(cast.co, request)
    deliver(sent)
    assert request.status == W.WITHDRAWN and proposal.tier == Tier.RESTRICTED
    assert "withdrew" in sent.to("lead@example.org")[-1].get_body(preferencelist=("plain",)).get_content()
    assert ("withdraw widening", "co@example.org") in actions(cast)


def test_a_single_speaker_widens_at_once(cast, sent):
    proposal = cast.talk(Tier.RESTRICTED, cospeakers=())
    change = proposals.change_tier(cast.lead, proposal, Tier.PUBLIC)
    assert isinstance(change, TierChange) and proposal.tier == Tier.PUBLIC
    assert db.session.scalar(sa.select(WideningRequest)) is None


def test_an_invited_cospeaker_has_no_say_until_they_confirm_then_is_asked_too(cast, sent):
    proposal = cast.talk(Tier.RESTRICTED, cospeakers=("co", "third"), confirm=False)
    proposals.answer_cospeaking(cast.co, proposal, accept=True)
    request = proposals.change_tier(cast.lead, proposal, Tier.ATTENDEES)
    deliver(sent)
    assert [u.email for u in consent.awaited_for(request)] == ["co@example.org"]
    before = len(sent)
    proposals.answer_cospeaking(cast.third, proposal, accept=True)
    deliver(sent)
    assert [m["To"] for m in sent[before:]] == ["third@example.org"]
    consent.answer(cast.co, request, accept=True)
    assert request.pending and proposal.tier == Tier.RESTRICTED  # the new speaker's word is awaited
    consent.answer(cast.third, request, accept=True)
    assert proposal.tier == Tier.ATTENDEES


def test_a_request_that_waited_only_for_a_speaker_who_left_applies(cast):
    proposal = cast.talk(Tier.RESTRICTED)
    request = proposals.change_tier(cast.lead, proposal, Tier.ATTENDEES)
    proposals.update(cast.lead, proposal, proposals.ProposalData(
        title="Sparse probes", abstract="Early.", kind=ProposalKind.TALK, duration_minutes=30, tier=Tier.RESTRICTED),
        "")  # the co-speaker is taken off the talk
    assert request.status == W.APPLIED and proposal.tier == Tier.ATTENDEES


def test_a_revoked_speaker_is_not_waited_for(cast):
    proposal = cast.talk(Tier.RESTRICTED)
    db.session.scalar(sa.select(Candidate).where(Candidate.user_id == cast.co.id)).status = CandidateStatus.REVOKED
    db.session.commit()
    policy.forget_memo()
    change = proposals.change_tier(cast.lead, proposal, Tier.ATTENDEES)
    assert isinstance(change, TierChange) and proposal.tier == Tier.ATTENDEES


# --- the named list and the exclusions ---------------------------------------------------------------


def test_naming_someone_or_lifting_an_exclusion_waits_but_excluding_applies(cast, sent):
    proposal = cast.talk(Tier.RESTRICTED)
    proposals.set_access(cast.co, proposal, "", "lab.org")  # narrower: at once
    db.session.commit()
    assert proposals.access_lists(proposal) == ([], ["lab.org"])
    request = proposals.set_access(cast.co, proposal, "third@example.org", "")  # names someone, lifts lab.org
    deliver(sent)
    assert isinstance(request, WideningRequest)
    assert request.summary == "names third@example.org; lifts the exclusion of lab.org"
    assert proposals.access_lists(proposal) == ([], ["lab.org"])  # nothing changed yet
    assert sent.to("lead@example.org")
    consent.answer(cast.lead, request, accept=True)
    db.session.commit()
    assert proposals.access_lists(proposal) == (["third@example.org"], [])
    assert [a for a, _ in actions(cast)] == ["set access", "request widening", "consent to widening", "set access",
                                            "apply widening"]


def test_an_invalid_access_change_is_refused_before_anyone_is_asked(cast, sent):
    proposal = cast.talk(Tier.RESTRICTED)
    deliver(sent)
    before = len(sent)
    with pytest.raises(DomainError, match="Not attendees"):
        proposals.set_access(cast.co, proposal, "nobody@example.org", "")
    with pytest.raises(DomainError, match="speaker cannot be excluded"):
        proposals.set_access(cast.co, proposal, "", "lead@example.org")
    deliver(sent)
    assert len(sent) == before and db.session.scalar(sa.select(WideningRequest)) is None


# --- the tier's audit detail ---------------------------------------------------------------------------


def test_cancelling_a_scheduled_release_says_so_in_the_audit(cast):
    proposal = cast.talk(Tier.RESTRICTED, cospeakers=())
    release_at = utcnow() + timedelta(days=3)
    proposals.change_tier(cast.lead, proposal, Tier.RESTRICTED, Tier.ATTENDEES, release_at)
    proposals.change_tier(cast.lead, proposal, Tier.RESTRICTED)
    details = db.session.scalars(sa.select(AuditEntry.detail).where(AuditEntry.action == "change tier")
                                 .order_by(AuditEntry.id)).all()
    assert details[-1] == "restricted → restricted, scheduled release cancelled"
    assert proposal.release_tier is None and proposal.release_at is None


def test_cancelling_a_release_narrows_so_a_cospeaker_does_it_at_once(cast):
    proposal = cast.talk(Tier.RESTRICTED)
    proposal.release_tier, proposal.release_at = Tier.PUBLIC, utcnow() + timedelta(days=3)
    db.session.commit()
    change = proposals.change_tier(cast.co, proposal, Tier.RESTRICTED)
    assert isinstance(change, TierChange) and proposal.release_tier is None


def test_an_organizer_widening_of_a_talk_nobody_can_answer_for_is_refused(cast):
    proposal = cast.talk(Tier.RESTRICTED, cospeakers=())
    db.session.scalar(sa.select(Candidate).where(Candidate.user_id == cast.lead.id)).status = CandidateStatus.REVOKED
    db.session.commit()
    policy.forget_memo()
    with pytest.raises(DomainError, match="None of the talk's speakers can consent"):
        proposals.change_tier(cast.organizer, proposal, Tier.PUBLIC)
    assert proposal.tier == Tier.RESTRICTED


def test_a_request_naming_someone_who_has_left_is_set_aside_when_it_would_apply(cast, sent):
    proposal = cast.talk(Tier.RESTRICTED)
    request = proposals.set_access(cast.co, proposal, "listener@cs.lab.org", "")
    db.session.scalar(sa.select(Candidate).where(Candidate.user_id == cast.listener.id)).status = (
        CandidateStatus.DECLINED)
    db.session.commit()
    policy.forget_memo()
    assert consent.answer(cast.lead, request, accept=True) == W.SUPERSEDED
    assert proposals.access_lists(proposal) == ([], [])


# --- at once, from separate connections (PostgreSQL) ---------------------------------------------------


def _answer_job(user_id: int, request_id: int):
    def job():
        user, request = db.session.get(User, user_id), db.session.get(WideningRequest, request_id)
        return consent.answer(user, request, accept=True).value
    return job


@pytest.mark.postgres
@pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgresql"),
                    reason="concurrency tests need TEST_DATABASE_URL pointing at PostgreSQL")
@pytest.mark.parametrize("round_", range(3))
def test_the_last_two_consents_given_at_once_apply_the_request_once(app, cast, round_):
    """Without the talk's lock each would see only its own consent, and the request would wait forever."""
    proposal = cast.talk(Tier.RESTRICTED, cospeakers=("co", "third"))
    request = proposals.change_tier(cast.lead, proposal, Tier.ATTENDEES)
    db.session.commit()
    request_id, proposal_id = request.id, proposal.id
    results = race(app, [_answer_job(cast.co.id, request_id), _answer_job(cast.third.id, request_id)])
    assert errors(results) == []
    assert sorted(value for _, value in results) == ["applied", "pending"]
    db.session.expire_all()
    assert db.session.get(Proposal, proposal_id).tier == Tier.ATTENDEES
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TierChange)
                             .where(TierChange.proposal_id == proposal_id)) == 1
