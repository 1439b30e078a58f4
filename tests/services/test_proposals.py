"""Proposal services: submit, co-speakers, edit, withdraw, decide, tiers, access lists, votes, attendance, terms."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import make_event, make_participant, make_user
from workshop import policy
from workshop.extensions import db
from workshop.models import (
    Attendance,
    AuditEntry,
    CandidateStatus,
    EventStatus,
    Material,
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
    WideningRequest,
    utcnow,
)
from workshop.services import consent, proposals
from workshop.services.errors import DomainError

S = ProposalStatus


class Cast:
    """An open event with its organizer, two attendees who will speak, a listener, and outsiders."""

    def __init__(self):
        self.organizer = make_user("org@example.org", "Olga Organizer")
        self.event = make_event("retreat", organizers=[self.organizer])
        self.lead = make_participant(self.event, "lead@example.org")
        self.lead.name = "Lena Lead"
        self.co = make_participant(self.event, "co@example.org")
        self.listener = make_participant(self.event, "listener@cs.lab.org")
        self.unsigned = make_participant(self.event, "unsigned@example.org", signed=False)
        self.waitlisted = make_participant(self.event, "wait@example.org", CandidateStatus.WAITLISTED)
        self.revoked = make_participant(self.event, "revoked@example.org", CandidateStatus.REVOKED)
        self.stranger = make_user("stranger@example.org")
        db.session.commit()


@pytest.fixture
def cast(ctx):
    return Cast()


def data(**fields) -> proposals.ProposalData:
    values = {"title": "Sparse probes for deceptive circuits", "abstract": "Early results; do not circulate.",
              "kind": ProposalKind.TALK, "duration_minutes": 30, "tier": Tier.ATTENDEES}
    values.update(fields)
    return proposals.ProposalData(**values)


def submit(cast, cospeakers: str = "", **fields) -> Proposal:
    proposal = proposals.submit(cast.lead, cast.event, data(**fields), cospeakers)
    db.session.commit()
    policy.forget_memo()
    return proposal


def deliver(sent):
    """Commit: the outbox's messages go to the queue, which in tests sends them at once."""
    db.session.commit()
    return sent.refresh()


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def visible_ids(user, event, now=None) -> set[int]:
    return set(db.session.scalars(policy.proposals_visible_to(user, event, now).with_only_columns(Proposal.id)))


def speaker_rows(proposal) -> dict[int, bool]:
    return dict(db.session.execute(sa.select(ProposalSpeaker.user_id, ProposalSpeaker.confirmed).where(
        ProposalSpeaker.proposal_id == proposal.id)).all())


# --- submit -----------------------------------------------------------------------------------


def test_signed_attendee_submits_and_leads_the_talk(cast):
    proposal = submit(cast, title="  Sparse probes  ", extra_terms="  No citing.  ", tier=Tier.RESTRICTED)
    assert proposal.status == S.SUBMITTED
    assert (proposal.title, proposal.extra_terms, proposal.tier) == ("Sparse probes", "No citing.", Tier.RESTRICTED)
    assert speaker_rows(proposal) == {cast.lead.id: True}
    assert policy.is_speaker(cast.lead, proposal)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "propose"))
    assert entry is not None and entry.actor_id == cast.lead.id and entry.detail == "restricted"


@pytest.mark.parametrize("who", ["unsigned", "waitlisted", "revoked", "stranger", "organizer"])
def test_only_signed_attendees_submit(cast, who):
    with pytest.raises(DomainError, match="attendees who signed the agreement"):
        proposals.submit(getattr(cast, who), cast.event, data())
    db.session.rollback()
    assert count(Proposal) == 0


@pytest.mark.parametrize("status, open_", [
    (EventStatus.DRAFT, False), (EventStatus.INVITING, True), (EventStatus.OPEN, True),
    (EventStatus.RUNNING, True), (EventStatus.CLOSED, False), (EventStatus.ARCHIVED, False),
])
def test_proposals_are_taken_only_while_the_event_takes_them(cast, status, open_):
    cast.event.status = status
    db.session.commit()
    if open_:
        assert submit(cast).id is not None
    else:
        with pytest.raises(DomainError):
            proposals.submit(cast.lead, cast.event, data())
        db.session.rollback()
        assert count(Proposal) == 0


@pytest.mark.parametrize("fields, field, message", [
    ({"title": "ab"}, "title", "at least 3 characters"),
    ({"title": "   ab   "}, "title", "at least 3 characters"),  # blanks do not count
    ({"title": "x" * 201}, "title", "under 200 characters"),
    ({"abstract": "x" * 20_001}, "abstract", "under 20,000"),
    ({"duration_minutes": 4}, "duration_minutes", "5 to 240"),
    ({"duration_minutes": 241}, "duration_minutes", "5 to 240"),
    ({"extra_terms": "x" * 5_001}, "extra_terms", "under 5,000"),
])
def test_submission_is_validated_with_a_message_per_field(cast, fields, field, message):
    with pytest.raises(DomainError, match=message) as caught:
        proposals.submit(cast.lead, cast.event, data(**fields))
    assert caught.value.field == field
    db.session.rollback()
    assert count(Proposal) == 0


@pytest.mark.parametrize("fields", [{"title": "abc"}, {"title": "x" * 200}, {"duration_minutes": 5},
                                    {"duration_minutes": 240}, {"abstract": "x" * 20_000}])
def test_the_limits_themselves_are_allowed(cast, fields):
    assert submit(cast, **fields).status == S.SUBMITTED


# --- co-speakers ------------------------------------------------------------------------------


def test_cospeakers_are_emailed_and_unconfirmed_until_they_confirm(cast, sent):
    proposal = proposals.submit(cast.lead, cast.event, data(), "CO@example.org, co@example.org; lead@example.org")
    deliver(sent)
    # Named twice and the lead naming themselves: one invitation, one row each.
    assert speaker_rows(proposal) == {cast.lead.id: True, cast.co.id: False}
    [message] = sent.to("co@example.org")
    assert "Lena Lead named you as a co-speaker" in message["Subject"]
    body = message.get_body(("plain",)).get_content()
    assert proposal.title in body and f"/e/retreat/proposals/{proposal.public_id}" in body
    assert sent.to("lead@example.org") == []

    policy.forget_memo()
    assert policy.is_invited_cospeaker(cast.co, proposal) and not policy.is_speaker(cast.co, proposal)
    assert not policy.can_edit_proposal(cast.co, proposal)  # not a speaker yet
    proposals.answer_cospeaking(cast.co, proposal, accept=True)
    db.session.commit()
    assert speaker_rows(proposal)[cast.co.id] is True
    assert policy.is_speaker(cast.co, proposal) and policy.can_edit_proposal(cast.co, proposal)
    with pytest.raises(DomainError):  # nothing left to answer
        proposals.answer_cospeaking(cast.co, proposal, accept=True)


def test_a_cospeaker_who_declines_is_removed(cast):
    proposal = submit(cast, cospeakers="co@example.org")
    proposals.answer_cospeaking(cast.co, proposal, accept=False)
    db.session.commit()
    assert speaker_rows(proposal) == {cast.lead.id: True}
    with pytest.raises(DomainError):
        proposals.answer_cospeaking(cast.listener, proposal, accept=True)  # was never asked


@pytest.mark.parametrize("who", ["stranger", "waitlisted", "revoked"])
def test_cospeakers_must_be_accepted_attendees(cast, sent, who):
    email = getattr(cast, who).email
    with pytest.raises(DomainError, match=f"Not attendees of this event: {email}") as caught:
        proposals.submit(cast.lead, cast.event, data(), f"co@example.org, {email}")
    assert caught.value.field == "cospeakers"
    db.session.rollback()
    assert count(Proposal) == 0 and deliver(sent) == []


def test_a_malformed_cospeaker_address_is_refused(cast):
    with pytest.raises(DomainError, match="not valid"):
        proposals.submit(cast.lead, cast.event, data(), "co@example.org, not-an-address")
    db.session.rollback()
    assert count(Proposal) == 0


def test_an_excluded_attendee_is_not_invited_to_co_speak(cast, sent):
    """The invitation carries the title: emailing it to someone the speakers excluded would leak it."""
    proposal = submit(cast)
    proposals.set_access(cast.lead, proposal, "", "lab.org")
    deliver(sent)
    with pytest.raises(DomainError):
        proposals.update(cast.lead, proposal, data(), "listener@cs.lab.org")
    db.session.rollback()
    assert sent.to("listener@cs.lab.org") == [] and deliver(sent) == []
    assert cast.listener.id not in speaker_rows(proposal)


# --- update and withdraw ----------------------------------------------------------------------


def test_speakers_edit_but_the_tier_changes_only_through_change_tier(cast, sent):
    """The edit form leaves the tier (and any scheduled release) alone: only change_tier, which records
    every change, moves it."""
    proposal = submit(cast, cospeakers="co@example.org")
    deliver(sent)
    proposals.update(cast.lead, proposal, data(title="Probes, revised", duration_minutes=45, tier=Tier.SESSION,
                                               chatham_house=True), "listener@cs.lab.org")
    deliver(sent)
    assert (proposal.title, proposal.duration_minutes, proposal.tier, proposal.chatham_house) == (
        "Probes, revised", 45, Tier.ATTENDEES, True)
    # The co-speaker left off the list is dropped; the newly named one is invited and emailed.
    assert speaker_rows(proposal) == {cast.lead.id: True, cast.listener.id: False}
    assert len(sent.to("listener@cs.lab.org")) == 1 and len(sent.to("co@example.org")) == 1
    assert db.session.scalars(sa.select(TierChange)).all() == []


@pytest.mark.parametrize("who", ["listener", "organizer", "co"])
def test_only_confirmed_speakers_edit_or_withdraw(cast, who):
    proposal = submit(cast, cospeakers="co@example.org")  # co is invited, not confirmed
    user = getattr(cast, who)
    with pytest.raises(DomainError, match="speakers"):
        proposals.update(user, proposal, data(title="Hijacked"))
    with pytest.raises(DomainError, match="speakers"):
        proposals.withdraw(user, proposal)
    db.session.rollback()
    assert (proposal.title, proposal.status) == ("Sparse probes for deceptive circuits", S.SUBMITTED)


def test_edits_are_validated_like_submissions(cast):
    proposal = submit(cast)
    with pytest.raises(DomainError) as caught:
        proposals.update(cast.lead, proposal, data(duration_minutes=999))
    assert caught.value.field == "duration_minutes"


def test_withdrawn_talks_leave_attendees_lists_and_cannot_be_edited(cast):
    proposal = submit(cast)
    assert proposal.id in visible_ids(cast.listener, cast.event)
    proposals.withdraw(cast.lead, proposal)
    db.session.commit()
    policy.forget_memo()
    assert proposal.status == S.WITHDRAWN
    assert proposal.id not in visible_ids(cast.listener, cast.event)
    assert not policy.can_view_proposal(cast.listener, proposal)
    assert proposal.id in visible_ids(cast.lead, cast.event)  # the speaker still finds their own
    with pytest.raises(DomainError):
        proposals.withdraw(cast.lead, proposal)
    with pytest.raises(DomainError):
        proposals.update(cast.lead, proposal, data())
    with pytest.raises(DomainError, match="not on withdrawn"):
        proposals.decide(cast.organizer, proposal, accept=True)


def test_a_revoked_speaker_can_no_longer_edit(cast):
    proposal = submit(cast)
    policy.participation(cast.lead, cast.event).status = CandidateStatus.REVOKED
    db.session.commit()
    policy.forget_memo()
    with pytest.raises(DomainError):
        proposals.update(cast.lead, proposal, data(title="Still mine?"))


# --- decide -----------------------------------------------------------------------------------


@pytest.mark.parametrize("accept, status, subject", [(True, S.ACCEPTED, "was accepted"),
                                                     (False, S.REJECTED, "was not accepted")])
def test_organizers_decide_with_a_note_and_confirmed_speakers_are_emailed(cast, sent, accept, status, subject):
    proposal = submit(cast, cospeakers="co@example.org, listener@cs.lab.org")
    proposals.answer_cospeaking(cast.co, proposal, accept=True)  # listener stays unconfirmed
    already = len(deliver(sent))  # the co-speaker invitations
    proposals.decide(cast.organizer, proposal, accept, "  Room B, please keep it to 20 minutes.  ")
    messages = deliver(sent)[already:]
    assert proposal.status == status
    assert proposal.decision_note == "Room B, please keep it to 20 minutes."
    assert sorted(m["To"] for m in messages) == ["co@example.org", "lead@example.org"]
    for message in messages:
        assert subject in message["Subject"]
        assert "Room B, please keep it to 20 minutes." in message.get_body(("plain",)).get_content()
    assert db.session.scalar(sa.select(AuditEntry.actor_id).where(AuditEntry.action.like("% proposal"),
                                                                  AuditEntry.action != "propose")) == cast.organizer.id


def test_a_revoked_speaker_is_not_told_the_decision(cast, sent):
    """Revocation removes every access at once: the decision and its note no longer reach them."""
    proposal = submit(cast, cospeakers="co@example.org")
    proposals.answer_cospeaking(cast.co, proposal, accept=True)
    policy.participation(cast.co, cast.event).status = CandidateStatus.REVOKED
    already = len(deliver(sent))
    policy.forget_memo()
    proposals.decide(cast.organizer, proposal, True, "Private note for the speakers.")
    assert [m["To"] for m in deliver(sent)[already:]] == ["lead@example.org"]


@pytest.mark.parametrize("who", ["lead", "listener", "stranger"])
def test_only_organizers_decide(cast, sent, who):
    proposal = submit(cast)
    with pytest.raises(DomainError, match="Only organizers"):
        proposals.decide(getattr(cast, who), proposal, accept=True)
    db.session.rollback()
    assert proposal.status == S.SUBMITTED and deliver(sent) == []


def test_an_admin_may_decide_and_an_overlong_note_is_refused(cast):
    proposal = submit(cast)
    with pytest.raises(DomainError) as caught:
        proposals.decide(cast.organizer, proposal, True, "x" * 5_001)
    assert caught.value.field == "note" and proposal.status == S.SUBMITTED
    admin = make_user("admin@example.org", admin=True)
    proposals.decide(admin, proposal, accept=False)
    assert proposal.status == S.REJECTED


# --- tiers ------------------------------------------------------------------------------------


def changes(proposal) -> list[tuple]:
    return [(c.actor_id, c.from_tier, c.to_tier) for c in db.session.scalars(
        sa.select(TierChange).where(TierChange.proposal_id == proposal.id).order_by(TierChange.id))]


@pytest.mark.parametrize("start, target", [(Tier.RESTRICTED, Tier.PUBLIC), (Tier.RESTRICTED, Tier.ATTENDEES),
                                           (Tier.ATTENDEES, Tier.RESTRICTED), (Tier.PUBLIC, Tier.SESSION)])
def test_speakers_raise_and_lower_their_tier_and_every_change_is_recorded(cast, start, target):
    proposal = submit(cast, tier=start)
    change = proposals.change_tier(cast.lead, proposal, target)
    db.session.commit()
    assert proposal.tier == target
    assert changes(proposal) == [(cast.lead.id, start, target)]
    assert change.created_at is not None and change.effective_at is not None


def test_a_confirmed_cospeaker_may_lower_the_tier_once_the_lead_consents(cast):
    proposal = submit(cast, cospeakers="co@example.org", tier=Tier.RESTRICTED)
    proposals.answer_cospeaking(cast.co, proposal, accept=True)
    request = proposals.change_tier(cast.co, proposal, Tier.ATTENDEES)
    assert isinstance(request, WideningRequest)
    assert proposal.tier == Tier.RESTRICTED and changes(proposal) == []
    consent.answer(cast.lead, request, accept=True)
    assert proposal.tier == Tier.ATTENDEES and changes(proposal) == [(cast.co.id, Tier.RESTRICTED, Tier.ATTENDEES)]


def test_a_confirmed_cospeaker_raises_the_tier_at_once(cast):
    proposal = submit(cast, cospeakers="co@example.org", tier=Tier.ATTENDEES)
    proposals.answer_cospeaking(cast.co, proposal, accept=True)
    proposals.change_tier(cast.co, proposal, Tier.RESTRICTED)
    assert proposal.tier == Tier.RESTRICTED and changes(proposal) == [(cast.co.id, Tier.ATTENDEES, Tier.RESTRICTED)]


@pytest.mark.parametrize("start, target", [(Tier.PUBLIC, Tier.ATTENDEES), (Tier.ATTENDEES, Tier.RESTRICTED),
                                           (Tier.SESSION, Tier.RESTRICTED)])
def test_organizers_may_raise_a_tier(cast, start, target):
    proposal = submit(cast, tier=start)
    proposals.change_tier(cast.organizer, proposal, target)
    assert proposal.tier == target and changes(proposal) == [(cast.organizer.id, start, target)]


@pytest.mark.parametrize("start, target", [(Tier.RESTRICTED, Tier.SESSION), (Tier.RESTRICTED, Tier.PUBLIC),
                                           (Tier.ATTENDEES, Tier.PUBLIC)])
def test_organizers_never_lower_a_tier_themselves_the_speakers_consent_or_not(cast, start, target):
    """Speakers own their talk: an organizer's widening waits for them, and nothing changes meanwhile."""
    proposal = submit(cast, tier=start)
    request = proposals.change_tier(cast.organizer, proposal, target)
    db.session.commit()
    assert isinstance(request, WideningRequest) and request.pending
    assert proposal.tier == start and changes(proposal) == []
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "change tier")) is None
    consent.answer(cast.lead, request, accept=False)
    db.session.commit()
    assert proposal.tier == start and changes(proposal) == []


def test_an_organizers_release_waits_for_the_speakers(cast):
    proposal = submit(cast, tier=Tier.RESTRICTED)
    release_at = utcnow() + timedelta(days=1)
    request = proposals.change_tier(cast.organizer, proposal, Tier.RESTRICTED, Tier.PUBLIC, release_at)
    assert isinstance(request, WideningRequest) and proposal.release_tier is None and changes(proposal) == []
    consent.answer(cast.lead, request, accept=True)
    assert (proposal.release_tier, proposal.release_at) == (Tier.PUBLIC, release_at)
    assert changes(proposal) == [(cast.organizer.id, Tier.RESTRICTED, Tier.RESTRICTED),
                                 (cast.organizer.id, Tier.RESTRICTED, Tier.PUBLIC)]


@pytest.mark.parametrize("who", ["listener", "unsigned", "stranger", "co"])
def test_nobody_else_changes_a_tier(cast, who):
    proposal = submit(cast, cospeakers="co@example.org", tier=Tier.RESTRICTED)  # co has not confirmed
    with pytest.raises(DomainError):
        proposals.change_tier(getattr(cast, who), proposal, Tier.PUBLIC)
    assert proposal.tier == Tier.RESTRICTED and changes(proposal) == []


@pytest.mark.parametrize("tier, release_tier, days, message", [
    (Tier.RESTRICTED, Tier.PUBLIC, None, "both a tier and a date"),
    (Tier.RESTRICTED, None, 2, "both a tier and a date"),
    (Tier.RESTRICTED, Tier.RESTRICTED, 2, "wider tier"),
    (Tier.ATTENDEES, Tier.RESTRICTED, 2, "wider tier"),  # a "release" that narrows is no release
    (Tier.RESTRICTED, Tier.PUBLIC, -1, "in the future"),
])
def test_a_scheduled_release_needs_a_wider_tier_and_a_future_date(cast, tier, release_tier, days, message):
    proposal = submit(cast, tier=Tier.SESSION)
    release_at = utcnow() + timedelta(days=days) if days is not None else None
    with pytest.raises(DomainError, match=message):
        proposals.change_tier(cast.lead, proposal, tier, release_tier, release_at)
    assert (proposal.tier, proposal.release_tier, proposal.release_at) == (Tier.SESSION, None, None)
    assert changes(proposal) == []


def test_a_scheduled_release_takes_effect_at_access_time_without_any_job(cast):
    proposal = submit(cast, tier=Tier.ATTENDEES)
    material = Material(proposal_id=proposal.id, filename="s.pdf", content_type="application/pdf", size=1,
                        sha256="0" * 64, storage_key=secrets.token_hex(16))
    db.session.add(material)
    proposals.decide(cast.organizer, proposal, accept=True)
    cast.event.public_page = True
    release_at = utcnow() + timedelta(days=7)
    proposals.change_tier(cast.lead, proposal, Tier.RESTRICTED, Tier.PUBLIC, release_at)
    db.session.commit()
    policy.forget_memo()
    # Two records: the change now, and the release with the date it applies from.
    assert changes(proposal) == [(cast.lead.id, Tier.ATTENDEES, Tier.RESTRICTED),
                                 (cast.lead.id, Tier.RESTRICTED, Tier.PUBLIC)]
    assert db.session.scalars(sa.select(TierChange.effective_at).order_by(TierChange.id)).all()[1] == release_at
    before, after = release_at - timedelta(minutes=1), release_at + timedelta(minutes=1)
    assert proposal.effective_tier(before) == Tier.RESTRICTED and proposal.effective_tier(after) == Tier.PUBLIC
    # Nothing ran in between: the same stored row answers differently on either side of the date.
    assert not policy.can_view_proposal(cast.listener, proposal, before)
    assert policy.can_view_proposal(cast.listener, proposal, after)
    assert proposal.id not in visible_ids(cast.listener, cast.event, before)
    assert proposal.id in visible_ids(cast.listener, cast.event, after)
    assert not policy.is_public_proposal(proposal, before) and policy.is_public_proposal(proposal, after)
    assert not policy.material_decision(None, material, before).allowed
    assert policy.material_decision(None, material, after).allowed
    assert proposal.tier == Tier.RESTRICTED  # the stored tier itself was never rewritten


def test_an_organizer_raise_is_judged_against_the_tier_in_force(cast):
    """Once a release has passed, the talk is as wide as the release: organizers narrow it from there,
    and the record says what was in force, not the stale stored tier."""
    proposal = submit(cast, tier=Tier.SESSION)
    proposal.tier, proposal.release_tier = Tier.RESTRICTED, Tier.PUBLIC
    proposal.release_at = utcnow() - timedelta(days=1)
    db.session.commit()
    proposals.change_tier(cast.organizer, proposal, Tier.ATTENDEES)
    assert proposal.effective_tier(utcnow()) == Tier.ATTENDEES
    assert changes(proposal) == [(cast.organizer.id, Tier.PUBLIC, Tier.ATTENDEES)]
    assert isinstance(proposals.change_tier(cast.organizer, proposal, Tier.PUBLIC), WideningRequest)
    assert proposal.effective_tier(utcnow()) == Tier.ATTENDEES


def test_a_change_that_changes_nothing_is_refused(cast):
    proposal = submit(cast, tier=Tier.SESSION)
    with pytest.raises(DomainError, match="Nothing changed"):
        proposals.change_tier(cast.lead, proposal, Tier.SESSION)
    assert changes(proposal) == []


# --- who may see it: the named list and exclusions ---------------------------------------------


def access_rows(proposal):
    named = set(db.session.scalars(sa.select(ProposalAccess.user_id).where(ProposalAccess.proposal_id == proposal.id)))
    excluded = db.session.execute(sa.select(ProposalExclusion.user_id, ProposalExclusion.domain).where(
        ProposalExclusion.proposal_id == proposal.id)).all()
    return named, {u for u, _ in excluded if u}, {d for _, d in excluded if d}


def test_speakers_name_attendees_and_exclude_people_and_domains(cast):
    proposal = submit(cast, tier=Tier.RESTRICTED)
    proposals.set_access(cast.lead, proposal, "co@example.org\nCO@example.org",
                         "rival@other.org, @Lab.org lab.org\nrivals.net")
    db.session.commit()
    rival = db.session.scalar(sa.select(User).where(User.email == "rival@other.org"))
    named, people, domains = access_rows(proposal)
    assert named == {cast.co.id}
    assert rival is not None and people == {rival.id}  # excluded before they ever signed up
    assert domains == {"lab.org", "rivals.net"}  # "@lab.org" and "lab.org" are one domain, lower-cased
    # Effects: the named co sees the restricted talk; the listener at cs.lab.org is excluded by the parent domain.
    assert policy.can_view_proposal(cast.co, proposal)
    assert policy.is_excluded(cast.listener, proposal)
    assert not policy.can_view_proposal(cast.listener, proposal)


def test_setting_access_again_replaces_the_lists(cast):
    proposal = submit(cast, tier=Tier.RESTRICTED)
    proposals.set_access(cast.lead, proposal, "co@example.org", "lab.org")
    db.session.commit()
    assert policy.is_excluded(cast.listener, proposal)
    proposals.set_access(cast.lead, proposal, "listener@cs.lab.org", "")
    db.session.commit()
    assert access_rows(proposal) == ({cast.listener.id}, set(), set())
    # The change is seen at once, though the earlier answer was cached for the request.
    assert not policy.is_excluded(cast.listener, proposal) and policy.can_view_proposal(cast.listener, proposal)


@pytest.mark.parametrize("named", ["stranger@example.org", "wait@example.org", "revoked@example.org"])
def test_the_named_list_holds_only_attendees(cast, named):
    proposal = submit(cast, tier=Tier.RESTRICTED)
    with pytest.raises(DomainError, match="Not attendees") as caught:
        proposals.set_access(cast.lead, proposal, named, "")
    assert caught.value.field == "named"


@pytest.mark.parametrize("entry", ["lab", "-lab.org", "lab-.org", "lab..org", "lab.org/evil", "*.lab.org",
                                   "l@b@lab.org", "x" * 64 + ".org"])
def test_bad_exclusions_are_refused(cast, entry):
    proposal = submit(cast)
    with pytest.raises(DomainError) as caught:
        proposals.set_access(cast.lead, proposal, "", f"lab.org {entry}")
    assert caught.value.field in ("excluded", "email")
    db.session.rollback()
    assert access_rows(proposal) == (set(), set(), set())


@pytest.mark.parametrize("entry", ["lead@example.org", "co@example.org"])
def test_a_speaker_cannot_be_excluded(cast, entry):
    proposal = submit(cast, cospeakers="co@example.org")
    with pytest.raises(DomainError, match="speaker cannot be excluded"):
        proposals.set_access(cast.lead, proposal, "", entry)


@pytest.mark.parametrize("who", ["listener", "organizer", "co"])
def test_only_speakers_set_access(cast, who):
    proposal = submit(cast, cospeakers="co@example.org")
    with pytest.raises(DomainError):
        proposals.set_access(getattr(cast, who), proposal, "", getattr(cast, who).email)
    db.session.rollback()
    assert access_rows(proposal) == (set(), set(), set())


# --- votes ------------------------------------------------------------------------------------


def test_an_attendee_toggles_a_vote(cast):
    proposal = submit(cast)
    assert proposals.toggle_vote(cast.listener, proposal) is True
    db.session.commit()
    assert db.session.get(Vote, (proposal.id, cast.listener.id)) is not None
    assert proposals.toggle_vote(cast.listener, proposal) is False
    db.session.commit()
    assert count(Vote) == 0


@pytest.mark.parametrize("who, why", [
    ("lead", "own talk"), ("co", "invited co-speaker: their own talk too"), ("unsigned", "agreement not signed"),
    ("organizer", "not an attendee"), ("stranger", "not an attendee"), ("revoked", "revoked"),
])
def test_who_may_not_vote(cast, who, why):
    proposal = submit(cast, cospeakers="co@example.org")
    with pytest.raises(DomainError, match="cannot vote"):
        proposals.toggle_vote(getattr(cast, who), proposal)
    assert count(Vote) == 0, why


def test_votes_only_for_talks_one_can_see(cast):
    restricted = submit(cast, title="Closed door", tier=Tier.RESTRICTED)
    with pytest.raises(DomainError):
        proposals.toggle_vote(cast.listener, restricted)
    proposals.set_access(cast.lead, restricted, "listener@cs.lab.org", "")
    db.session.commit()
    assert proposals.toggle_vote(cast.listener, restricted) is True

    excluded = submit(cast, title="Not for the lab")
    proposals.set_access(cast.lead, excluded, "", "lab.org")
    db.session.commit()
    with pytest.raises(DomainError):
        proposals.toggle_vote(cast.listener, excluded)

    withdrawn = submit(cast, title="Gone")
    proposals.withdraw(cast.lead, withdrawn)
    with pytest.raises(DomainError):
        proposals.toggle_vote(cast.listener, withdrawn)
    assert count(Vote) == 1


def test_votes_close_with_the_event(cast):
    proposal = submit(cast)
    cast.event.status = EventStatus.CLOSED
    db.session.commit()
    with pytest.raises(DomainError):
        proposals.toggle_vote(cast.listener, proposal)


def test_vote_counts(cast):
    first, second, third = submit(cast, title="First"), submit(cast, title="Second"), submit(cast, title="Third")
    for voter in (cast.listener, cast.co):
        proposals.toggle_vote(voter, first)
    proposals.toggle_vote(cast.listener, second)
    db.session.commit()
    assert proposals.vote_counts([first.id, second.id, third.id]) == {first.id: 2, second.id: 1}
    assert proposals.vote_counts([second.id]) == {second.id: 1}  # only what was asked for
    assert proposals.vote_counts([]) == {}


# --- attendance -------------------------------------------------------------------------------


def accepted_talk(cast, tier=Tier.SESSION) -> Proposal:
    proposal = submit(cast, tier=tier)
    proposals.decide(cast.organizer, proposal, accept=True)
    db.session.commit()
    return proposal


def test_organizers_record_attendance_once(cast):
    proposal = accepted_talk(cast)
    material = Material(proposal_id=proposal.id, filename="s.pdf", content_type="application/pdf", size=1,
                        sha256="0" * 64, storage_key=secrets.token_hex(16))
    db.session.add(material)
    db.session.commit()
    assert not policy.material_decision(cast.listener, material).allowed
    assert proposals.record_attendance(cast.organizer, proposal, cast.listener) is True
    db.session.commit()
    assert proposals.record_attendance(cast.organizer, proposal, cast.listener) is False  # idempotent
    db.session.commit()
    row = db.session.get(Attendance, (proposal.id, cast.listener.id))
    assert (row.source, row.recorded_by_id) == ("organizer", cast.organizer.id)
    assert count(Attendance) == 1
    assert policy.material_decision(cast.listener, material).allowed  # the session tier opens to them


def test_check_in_records_attendance_without_an_actor(cast):
    proposal = accepted_talk(cast)
    assert proposals.record_attendance(None, proposal, cast.listener, source="checkin") is True
    db.session.commit()
    row = db.session.get(Attendance, (proposal.id, cast.listener.id))
    assert (row.source, row.recorded_by_id) == ("checkin", None)
    assert proposals.record_attendance(None, proposal, cast.listener, source="checkin") is False


@pytest.mark.parametrize("who", ["lead", "listener", "stranger"])
def test_only_organizers_record_attendance(cast, who):
    proposal = accepted_talk(cast)
    with pytest.raises(DomainError, match="Only organizers"):
        proposals.record_attendance(getattr(cast, who), proposal, cast.co)
    assert count(Attendance) == 0


def test_attendance_is_for_accepted_talks_only(cast):
    proposal = submit(cast)
    with pytest.raises(DomainError, match="accepted talks"):
        proposals.record_attendance(cast.organizer, proposal, cast.listener)
    assert count(Attendance) == 0


def test_check_in_is_for_accepted_talks_too(cast):
    """Check-in must not become a side door: nobody attends a talk that was never accepted."""
    proposal = submit(cast)
    with pytest.raises(DomainError):
        proposals.record_attendance(None, proposal, cast.listener, source="checkin")
    db.session.rollback()
    assert count(Attendance) == 0


def test_an_unknown_source_does_not_skip_the_check(cast):
    """Anything unknown denies: only the organizer path and check-in are known ways in."""
    proposal = accepted_talk(cast)
    with pytest.raises((DomainError, ValueError)):
        proposals.record_attendance(cast.listener, proposal, cast.listener, source="self-service")
    db.session.rollback()
    assert count(Attendance) == 0


@pytest.mark.parametrize("who", ["stranger", "waitlisted", "revoked"])
def test_only_attendees_are_recorded(cast, who):
    proposal = accepted_talk(cast)
    with pytest.raises(DomainError, match="not an attendee") as caught:
        proposals.record_attendance(cast.organizer, proposal, getattr(cast, who))
    assert caught.value.field == "email" and count(Attendance) == 0


# --- extra terms ------------------------------------------------------------------------------


def test_terms_are_accepted_as_they_read_and_a_change_asks_again(cast):
    proposal = submit(cast, extra_terms="Do not cite before the paper is out.")
    assert not policy.has_accepted_terms(cast.listener, proposal)
    proposals.accept_terms(cast.listener, proposal, "203.0.113.9" + "x" * 100)
    db.session.commit()
    row = db.session.scalar(sa.select(TermsAcceptance))
    assert row.terms_hash == policy.terms_hash(proposal) and len(row.ip) == 64 and row.ip.startswith("203.0.113.9")
    assert policy.has_accepted_terms(cast.listener, proposal)
    with pytest.raises(DomainError, match="already accepted"):
        proposals.accept_terms(cast.listener, proposal, "203.0.113.9")

    proposals.update(cast.lead, proposal, data(extra_terms="Do not cite, and do not share the figures."))
    db.session.commit()
    policy.forget_memo()
    assert not policy.has_accepted_terms(cast.listener, proposal)
    proposals.accept_terms(cast.listener, proposal, "203.0.113.9")
    db.session.commit()
    assert policy.has_accepted_terms(cast.listener, proposal) and count(TermsAcceptance) == 2


def test_there_are_no_terms_to_accept_without_terms_or_without_sight_of_the_talk(cast):
    plain = submit(cast, title="No terms")
    with pytest.raises(DomainError, match="no terms"):
        proposals.accept_terms(cast.listener, plain, "")
    closed = submit(cast, title="Closed", tier=Tier.RESTRICTED, extra_terms="Terms.")
    with pytest.raises(DomainError, match="no terms"):
        proposals.accept_terms(cast.listener, closed, "")  # not named: may not know it exists
    excluded = submit(cast, title="Excluded", extra_terms="Terms.")
    proposals.set_access(cast.lead, excluded, "", "cs.lab.org")
    db.session.commit()
    with pytest.raises(DomainError, match="no terms"):
        proposals.accept_terms(cast.listener, excluded, "")
    assert count(TermsAcceptance) == 0
